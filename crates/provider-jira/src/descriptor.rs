//! The Jira provider type's descriptor.

use kradle_sync_core::{AuthMode, Capabilities, Interface, ProviderDescriptor, SignatureScheme};

use crate::PROVIDER;
use crate::signature::DELIVERY_HEADER;

/// The descriptor of the `jira` provider type: issue tracking only, Jira Cloud and Data
/// Center, API-token (basic), OAuth 2.0 and personal-access-token auth, HMAC-SHA256 admin
/// webhooks by default (a binding of an OAuth or Connect app expects `jwt-hs256` instead).
/// The event is named in the body (`webhookEvent`), so there is no event header; a site
/// has no default API URL.
///
/// ```
/// use kradle_sync_core::{Interface, SignatureScheme};
/// let d = kradle_provider_jira::descriptor();
/// assert_eq!(d.kind.as_str(), "jira");
/// assert_eq!(d.interfaces, vec![Interface::IssueTracking]);
/// assert_eq!(d.signature, SignatureScheme::HmacSha256);
/// assert!(d.event_header.is_none() && d.default_api_url.is_none());
/// ```
pub fn descriptor() -> ProviderDescriptor {
    ProviderDescriptor::new(
        PROVIDER,
        &[Interface::IssueTracking],
        SignatureScheme::HmacSha256,
    )
    .with_display_name("Jira")
    .with_hosting(&["cloud", "data-center"])
    .with_auth_modes(&[
        AuthMode::BasicApiToken,
        AuthMode::OauthUser,
        AuthMode::Token,
    ])
    .with_delivery_header(DELIVERY_HEADER)
    .with_capabilities(
        Capabilities::default()
            // The interface deletes comments only; issues are never deleted by a sync
            // (removals become tombstones).
            .with_can_delete(true)
            // No idempotency keys: a create stores its intent as an entity property and
            // is found again by JQL.
            .with_idempotency_keys(false)
            // Jira's REST API sends no ETags for issues or searches.
            .with_conditional_reads(false)
            .with_reviewed_writes(true),
    )
}

//! The GitLab provider type's descriptor.

use kradle_sync_core::{AuthMode, Capabilities, Interface, ProviderDescriptor, SignatureScheme};

use crate::PROVIDER;
use crate::token::{EVENT_HEADER, IDEMPOTENCY_HEADER};

/// The descriptor of the `gitlab` provider type: all three interfaces, GitLab.com and
/// self-managed instances, personal/project/group access tokens and OAuth tokens, webhooks
/// verified by their secret token.
///
/// ```
/// use kradle_sync_core::{AuthMode, Interface, SignatureScheme};
/// let d = kradle_provider_gitlab::descriptor();
/// assert_eq!(d.kind.as_str(), "gitlab");
/// assert!(d.supports(Interface::Cicd));
/// assert_eq!(d.signature, SignatureScheme::Token);
/// assert!(d.accepts(AuthMode::OauthUser));
/// assert_eq!(d.delivery_header.as_deref(), Some("Idempotency-Key"));
/// ```
pub fn descriptor() -> ProviderDescriptor {
    ProviderDescriptor::new(PROVIDER, &Interface::ALL, SignatureScheme::Token)
        .with_display_name("GitLab")
        .with_hosting(&["saas", "self-managed"])
        .with_auth_modes(&[AuthMode::Token, AuthMode::OauthUser])
        // The id the engine stores a delivery under: `Idempotency-Key` on GitLab 17.4 and
        // later; the adapter falls back to the UUID headers on older instances and stores
        // its choice under this name.
        .with_delivery_header(IDEMPOTENCY_HEADER)
        .with_event_header(EVENT_HEADER)
        .with_default_api_url(crate::api::DEFAULT_API_URL)
        .with_capabilities(
            Capabilities::default()
                // The interfaces delete comments but no issues: removals close instead.
                .with_can_delete(false)
                // GitLab's API honours no idempotency key: a retried create finds its own
                // marker.
                .with_idempotency_keys(false)
                // Every read is sent with `If-None-Match` when an ETag was kept for it; a
                // `304` is served from the cache.
                .with_conditional_reads(true)
                // `PUT …/merge_requests/:iid/merge` takes the expected head `sha`.
                .with_merge_with_expected_sha(true)
                // Writes can wait for approval: the engine holds them, GitLab needs nothing.
                .with_reviewed_writes(true),
        )
}

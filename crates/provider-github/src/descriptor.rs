//! The GitHub provider type's descriptor.

use kradle_sync_core::{AuthMode, Capabilities, Interface, ProviderDescriptor, SignatureScheme};

use crate::PROVIDER;
use crate::signature::{DELIVERY_HEADER, EVENT_HEADER};

/// The descriptor of the `github` provider type: all three interfaces, github.com and GitHub
/// Enterprise Server, token and GitHub App auth, HMAC-SHA256 webhook signatures.
///
/// ```
/// use kradle_sync_core::{Interface, SignatureScheme};
/// let d = kradle_provider_github::descriptor();
/// assert_eq!(d.kind.as_str(), "github");
/// assert!(d.supports(Interface::IssueTracking));
/// assert_eq!(d.signature, SignatureScheme::HmacSha256);
/// assert!(!d.capabilities.can_delete);
/// ```
pub fn descriptor() -> ProviderDescriptor {
    ProviderDescriptor::new(PROVIDER, &Interface::ALL, SignatureScheme::HmacSha256)
        .with_display_name("GitHub")
        .with_hosting(&["saas", "ghe"])
        .with_auth_modes(&[AuthMode::Token, AuthMode::GithubApp])
        .with_delivery_header(DELIVERY_HEADER)
        .with_event_header(EVENT_HEADER)
        .with_default_api_url(crate::api::DEFAULT_API_URL)
        .with_capabilities(
            Capabilities::default()
                // GitHub's REST API cannot delete an issue at all: only a repository admin
                // can, in the web UI or through GraphQL's `deleteIssue`. A token or App
                // installation therefore cannot be relied on to delete the object every
                // binding syncs, so removals close instead (state `closed`, reason
                // `not_planned`).
                .with_can_delete(false)
                // GitHub honours no idempotency key: a retried create must find its own
                // marker.
                .with_idempotency_keys(false)
                // Every REST read returns an ETag; `If-None-Match` answers 304 without cost.
                .with_conditional_reads(true)
                // `PUT /pulls/{n}/merge` takes the expected head `sha`.
                .with_merge_with_expected_sha(true)
                // Writes can wait for approval: the engine holds them, GitHub needs nothing.
                .with_reviewed_writes(true),
        )
}

#![doc = include_str!("../README.md")]

#[cfg(not(any(feature = "jwt-aws-lc-rs", feature = "jwt-rust-crypto")))]
compile_error!(
    "kradle-provider-github needs a JWT backend for GitHub App auth: enable the `jwt-aws-lc-rs` (default) or the `jwt-rust-crypto` feature"
);

pub mod api;
mod cicd;
mod delivery;
mod descriptor;
mod emit;
mod error;
mod event_name;
mod forge;
mod hooks;
mod issue_tracking;
mod normalize;
mod ordering;
mod plugin;
mod rest;
mod signature;
mod wire;

use std::sync::OnceLock;

use kradle_sync_core::{
    CanonicalEvent, DeliveryId, Error, NormalizedWebhook, ProviderDescriptor, ResourceKind,
    VerifiedWebhook, WebhookAdapter, WebhookKey, WebhookRequest,
};

pub use api::{GithubApp, GithubAuth, GithubClient, GithubClientBuilder};
pub use descriptor::descriptor;
pub use event_name::GithubEvent;
pub use plugin::GithubPlugin;
pub use signature::sign_webhook;

/// The provider type name under which GitHub is registered.
pub const PROVIDER: &str = "github";

/// GitHub's webhook adapter: verifies `X-Hub-Signature-256`, normalizes deliveries and
/// parses REST objects into canonical events. It holds no state and performs no I/O, so it
/// is free to construct and can be shared across threads.
///
/// ```
/// use kradle_provider_github::GithubWebhooks;
/// use kradle_sync_core::{Headers, WebhookAdapter, WebhookRequest};
///
/// let body = br#"{"zen":"Design for failure.","hook_id":1,"repository":{"id":2,"full_name":"o/r"}}"#;
/// let request = WebhookRequest::new(
///     Headers::from_pairs([
///         ("X-GitHub-Event", "ping"),
///         ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
///     ]),
///     body.to_vec(),
/// );
/// let normalized = GithubWebhooks::new().normalize_webhook(&request)?;
/// assert_eq!(normalized.target.map(|t| t.path).as_deref(), Some("o/r"));
/// assert_eq!(normalized.events.len(), 1);
/// # Ok::<(), kradle_sync_core::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct GithubWebhooks {
    _private: (),
}

impl GithubWebhooks {
    /// The adapter.
    pub fn new() -> Self {
        Self::default()
    }
}

impl GithubWebhooks {
    /// The descriptor, built once.
    pub(crate) fn descriptor_static(&self) -> &'static ProviderDescriptor {
        static DESCRIPTOR: OnceLock<ProviderDescriptor> = OnceLock::new();
        DESCRIPTOR.get_or_init(descriptor)
    }
}

impl WebhookAdapter for GithubWebhooks {
    fn descriptor(&self) -> &ProviderDescriptor {
        self.descriptor_static()
    }

    fn verify_webhook(
        &self,
        request: &WebhookRequest,
        key: &WebhookKey<'_>,
    ) -> Result<VerifiedWebhook, Error> {
        Ok(signature::verify(request, key)?)
    }

    fn normalize_webhook(&self, request: &WebhookRequest) -> Result<NormalizedWebhook, Error> {
        Ok(normalize::normalize(request)?)
    }

    fn ordering_key(&self, request: &WebhookRequest) -> Option<String> {
        let event = request.headers.get("X-GitHub-Event")?;
        ordering::ordering_key(event, &request.body)
    }

    fn parse_rest_object(
        &self,
        kind: ResourceKind,
        object: &serde_json::Value,
        read_id: &DeliveryId,
    ) -> Result<Option<CanonicalEvent>, Error> {
        Ok(rest::parse(kind, object, read_id)?)
    }
}

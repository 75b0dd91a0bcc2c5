#![doc = include_str!("../README.md")]

pub mod api;
mod cicd;
mod delivery;
mod descriptor;
mod emit;
mod error;
mod forge;
mod hook;
mod issue_tracking;
mod normalize;
mod ordering;
mod plugin;
mod rest;
mod token;
mod wire;

use std::sync::OnceLock;

use kradle_sync_core::{
    CanonicalEvent, DeliveryId, Error, NormalizedWebhook, ProviderDescriptor, ResourceKind,
    VerifiedWebhook, WebhookAdapter, WebhookKey, WebhookRequest,
};

pub use api::{GitlabAuth, GitlabClient, GitlabClientBuilder};
pub use descriptor::descriptor;
pub use hook::GitlabHook;
pub use plugin::GitlabPlugin;

/// The provider type name under which GitLab is registered.
pub const PROVIDER: &str = "gitlab";

/// GitLab's webhook adapter: verifies `X-Gitlab-Token`, normalizes deliveries and parses
/// REST objects into canonical events. It holds no state and performs no I/O, so it is free
/// to construct and can be shared across threads.
///
/// ```
/// use kradle_provider_gitlab::GitlabWebhooks;
/// use kradle_sync_core::{Headers, WebhookAdapter, WebhookRequest};
///
/// let body = br#"{"object_kind":"push","ref":"refs/heads/main","after":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7","project":{"id":15,"path_with_namespace":"mike/diaspora"},"commits":[]}"#;
/// let request = WebhookRequest::new(
///     Headers::from_pairs([
///         ("X-Gitlab-Event", "Push Hook"),
///         ("Idempotency-Key", "f5e5f430-f57b-4e6e-9fac-d9128cd7232f"),
///     ]),
///     body.to_vec(),
/// );
/// let normalized = GitlabWebhooks::new().normalize_webhook(&request)?;
/// assert_eq!(normalized.target.map(|t| t.path).as_deref(), Some("mike/diaspora"));
/// assert_eq!(normalized.events[0].native_id.as_str(), "refs/heads/main");
/// # Ok::<(), kradle_sync_core::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct GitlabWebhooks {
    _private: (),
}

impl GitlabWebhooks {
    /// The adapter.
    pub fn new() -> Self {
        Self::default()
    }

    /// The descriptor, built once.
    pub(crate) fn descriptor_static(&self) -> &'static ProviderDescriptor {
        static DESCRIPTOR: OnceLock<ProviderDescriptor> = OnceLock::new();
        DESCRIPTOR.get_or_init(descriptor)
    }
}

impl WebhookAdapter for GitlabWebhooks {
    fn descriptor(&self) -> &ProviderDescriptor {
        self.descriptor_static()
    }

    fn verify_webhook(
        &self,
        request: &WebhookRequest,
        key: &WebhookKey<'_>,
    ) -> Result<VerifiedWebhook, Error> {
        Ok(token::verify(request, key)?)
    }

    fn normalize_webhook(&self, request: &WebhookRequest) -> Result<NormalizedWebhook, Error> {
        Ok(normalize::normalize(request)?)
    }

    fn ordering_key(&self, request: &WebhookRequest) -> Option<String> {
        let event = request.headers.get(token::EVENT_HEADER)?;
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

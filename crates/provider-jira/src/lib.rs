#![doc = include_str!("../README.md")]

pub mod api;
mod delivery;
mod descriptor;
mod emit;
mod error;
mod event_name;
mod issue_tracking;
pub mod markup;
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

pub use api::{Flavor, JiraAuth, JiraClient, JiraClientBuilder};
pub use descriptor::descriptor;
pub use error::JiraError;
pub use event_name::JiraEvent;
pub use plugin::JiraPlugin;
pub use signature::{app_token, sign_webhook};

/// The provider type name under which Jira is registered.
pub const PROVIDER: &str = "jira";

/// The header that carries a delivery's id, stable across Jira's retries.
pub const DELIVERY_HEADER: &str = signature::DELIVERY_HEADER;

/// The header that counts Jira's retries of a delivery (informational: the delivery id
/// already deduplicates them).
pub const RETRY_HEADER: &str = signature::RETRY_HEADER;

/// Jira's webhook adapter: verifies `X-Hub-Signature` (admin webhooks) or the app JWT
/// (OAuth 2.0 and Connect app webhooks), normalizes deliveries and parses REST objects
/// into canonical events. It holds no state and performs no I/O, so it is free to
/// construct and can be shared across threads.
///
/// ```
/// use kradle_provider_jira::JiraWebhooks;
/// use kradle_sync_core::{Headers, WebhookAdapter, WebhookRequest};
///
/// let body = br#"{"timestamp":1570513345538,"webhookEvent":"comment_deleted",
///   "comment":{"self":"https://example.atlassian.net/rest/api/2/issue/10357/comment/10757",
///   "id":"10757","body":"wd","updated":"2019-10-07T22:42:01.801-0700"},
///   "issue":{"id":"10357","self":"https://example.atlassian.net/rest/api/2/issue/10357",
///   "key":"KT-7","fields":{}}}"#;
/// let request = WebhookRequest::new(
///     Headers::from_pairs([("X-Atlassian-Webhook-Identifier", "b8f5e1a0")]),
///     body.to_vec(),
/// );
/// let normalized = JiraWebhooks::new().normalize_webhook(&request)?;
/// assert_eq!(normalized.target.map(|t| t.path).as_deref(), Some("example.atlassian.net/KT"));
/// assert_eq!(normalized.events[0].native_id.as_str(), "10757");
/// # Ok::<(), kradle_sync_core::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct JiraWebhooks {
    _private: (),
}

impl JiraWebhooks {
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

impl WebhookAdapter for JiraWebhooks {
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
        ordering::ordering_key(&request.body)
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

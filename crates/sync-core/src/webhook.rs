//! Webhook requests, verification and normalization: the part of a provider that needs no
//! network.

use serde::{Deserialize, Serialize};

use crate::{
    CanonicalEvent, DeliveryId, Error, ExternalTarget, ProviderDescriptor, ResourceKind, Secret,
};

/// HTTP headers of a webhook request, looked up case-insensitively.
///
/// ```
/// use kradle_sync_core::Headers;
/// let h = Headers::from_pairs([("X-GitHub-Event", "issues")]);
/// assert_eq!(h.get("x-github-event"), Some("issues"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// Headers from name/value pairs, as the sender sent them.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// The first value of a header, ignoring the name's case.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Adds a header.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    /// All headers in the order given.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// One webhook request as received: headers and the raw body bytes that were signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    /// Request headers.
    pub headers: Headers,
    /// The raw body.
    pub body: Vec<u8>,
}

/// What verification established about a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedWebhook {
    /// The provider's delivery id.
    pub delivery_id: DeliveryId,
    /// The provider's event name (`issues`, `Issue Hook`, `jira:issue_updated`).
    pub event: String,
    /// The signature scheme that verified it (`hmac-sha256`, `token`).
    pub algorithm: String,
}

/// The result of normalizing one delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NormalizedWebhook {
    /// The provider's event name.
    pub event: String,
    /// The payload's action, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The repository or project the payload is about, if it names one. The engine rejects
    /// a delivery whose target is not its binding's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<ExternalTarget>,
    /// Canonical events, possibly none.
    pub events: Vec<CanonicalEvent>,
    /// Set when the event type or action is out of scope: why nothing was produced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
}

/// A provider's webhook and payload translation. It does no I/O: a host can verify,
/// normalize and parse REST objects without any network, which is what `replay` and
/// `normalize` use.
pub trait WebhookAdapter: Send + Sync {
    /// The provider's descriptor.
    fn descriptor(&self) -> &ProviderDescriptor;

    /// Checks the request's signature (or token) with the binding's secret, in constant
    /// time. A missing or wrong signature is [`Error::Signature`].
    fn verify_webhook(
        &self,
        request: &WebhookRequest,
        secret: &Secret,
    ) -> Result<VerifiedWebhook, Error>;

    /// Translates a verified request into canonical events. Unknown event types are
    /// reported through [`NormalizedWebhook::ignored`], never as errors.
    fn normalize_webhook(&self, request: &WebhookRequest) -> Result<NormalizedWebhook, Error>;

    /// The key that orders this delivery among others (its primary object, e.g.
    /// `issue:444500041`), computed cheaply at receive time so workers never process two
    /// deliveries about one object at once. `None` (the default) leaves ordering to the
    /// store's per-binding key.
    fn ordering_key(&self, request: &WebhookRequest) -> Option<String> {
        let _ = request;
        None
    }

    /// Parses one object as the provider's REST API returns it into an authoritative
    /// event (used by backfill and hydrate). `read_id` names the read, and becomes the
    /// event's delivery id. `Ok(None)` means the item is listed under `kind` but is not
    /// one (GitHub lists pull requests among issues).
    fn parse_rest_object(
        &self,
        kind: ResourceKind,
        object: &serde_json::Value,
        read_id: &DeliveryId,
    ) -> Result<Option<CanonicalEvent>, Error>;
}

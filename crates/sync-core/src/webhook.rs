//! Webhook requests, verification and normalization: the part of a provider that needs no
//! network.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    CanonicalEvent, DeliveryId, Error, ExternalTarget, ProviderDescriptor, ResourceKind, Secret,
    SignatureScheme,
};

/// HTTP headers of a webhook request, looked up case-insensitively.
///
/// ```
/// use kradle_sync_core::Headers;
/// let h = Headers::from_pairs([("X-GitHub-Event", "issues")]);
/// assert_eq!(h.get("x-github-event"), Some("issues"));
/// ```
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Headers(Vec<(String, String)>);

/// Whether a header carries a credential (`Authorization`, GitLab's `X-Gitlab-Token`,
/// cookies, any `…token…` or `…secret…` name): `Debug` shows it as `[redacted]`.
fn holds_credential(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "authorization" || name == "cookie" || name.contains("token") || name.contains("secret")
}

impl std::fmt::Debug for Headers {
    /// The headers with credential values redacted.
    ///
    /// ```
    /// use kradle_sync_core::Headers;
    /// let h = Headers::from_pairs([("X-Gitlab-Event", "Issue Hook"), ("X-Gitlab-Token", "s3cr3t")]);
    /// let shown = format!("{h:?}");
    /// assert!(shown.contains("Issue Hook") && !shown.contains("s3cr3t"));
    /// ```
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut list = f.debug_list();
        for (name, value) in &self.0 {
            if holds_credential(name) {
                list.entry(&(name, "[redacted]"));
            } else {
                list.entry(&(name, value));
            }
        }
        list.finish()
    }
}

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
///
/// ```
/// use kradle_sync_core::{Headers, WebhookRequest};
/// let r = WebhookRequest::new(Headers::from_pairs([("X-GitHub-Event", "ping")]), b"{}".to_vec());
/// assert_eq!(r.headers.get("x-github-event"), Some("ping"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookRequest {
    /// Request headers.
    pub headers: Headers,
    /// The raw body.
    pub body: Vec<u8>,
}

impl WebhookRequest {
    /// A request with these headers and raw body.
    pub fn new(headers: Headers, body: Vec<u8>) -> Self {
        Self { headers, body }
    }
}

/// What verification established about a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VerifiedWebhook {
    /// The provider's delivery id.
    pub delivery_id: DeliveryId,
    /// The provider's event name (`issues`, `Issue Hook`, `jira:issue_updated`).
    pub event: String,
    /// The signature scheme that verified it (`hmac-sha256`, `token`).
    pub algorithm: String,
}

impl VerifiedWebhook {
    /// What verification established: the delivery id, the event name and the scheme.
    pub fn new(
        delivery_id: impl Into<DeliveryId>,
        event: impl Into<String>,
        algorithm: impl Into<String>,
    ) -> Self {
        Self {
            delivery_id: delivery_id.into(),
            event: event.into(),
            algorithm: algorithm.into(),
        }
    }
}

/// What a webhook is verified with: the binding's secret, the scheme it expects, and
/// what a time-limited signature (a JWT) is checked against.
///
/// ```
/// use chrono::Utc;
/// use kradle_sync_core::{Secret, SignatureScheme, WebhookKey};
/// let secret = Secret::new("s");
/// let key = WebhookKey::new(&secret, SignatureScheme::HmacSha256, Utc::now());
/// assert_eq!(key.scheme, SignatureScheme::HmacSha256);
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct WebhookKey<'a> {
    /// The shared secret.
    pub secret: &'a Secret,
    /// The scheme the binding expects (its provider's, unless the binding says otherwise:
    /// a Jira binding may expect app-signed JWTs instead of HMAC signatures).
    pub scheme: SignatureScheme,
    /// The issuer a signed token must name (a JWT's `iss`), where the binding sets one.
    pub issuer: Option<&'a str>,
    /// The receiver's clock, for expiry checks.
    pub now: DateTime<Utc>,
}

impl<'a> WebhookKey<'a> {
    /// A key with this secret and scheme, checked at `now`.
    pub fn new(secret: &'a Secret, scheme: SignatureScheme, now: DateTime<Utc>) -> Self {
        Self {
            secret,
            scheme,
            issuer: None,
            now,
        }
    }

    /// Sets the issuer a signed token must name.
    pub fn with_issuer(mut self, issuer: Option<&'a str>) -> Self {
        self.issuer = issuer;
        self
    }
}

/// The result of normalizing one delivery.
///
/// ```
/// use kradle_sync_core::NormalizedWebhook;
/// let n = NormalizedWebhook::ignored("deploy_key", "deploy keys are not synced").with_action(Some("created".into()));
/// assert!(n.events.is_empty() && n.ignored.is_some());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
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

impl NormalizedWebhook {
    /// A delivery of `event` that produced these events.
    pub fn events(event: impl Into<String>, events: Vec<CanonicalEvent>) -> Self {
        Self {
            event: event.into(),
            action: None,
            target: None,
            events,
            ignored: None,
        }
    }

    /// A delivery of `event` that is out of scope, and why.
    pub fn ignored(event: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            event: event.into(),
            action: None,
            target: None,
            events: Vec::new(),
            ignored: Some(reason.into()),
        }
    }

    /// Sets the payload's action.
    pub fn with_action(mut self, action: Option<String>) -> Self {
        self.action = action;
        self
    }

    /// Sets the repository or project the payload is about.
    pub fn with_target(mut self, target: Option<ExternalTarget>) -> Self {
        self.target = target;
        self
    }
}

/// A provider's webhook and payload translation. It does no I/O: a host can verify,
/// normalize and parse REST objects without any network, which is what `replay` and
/// `normalize` use.
pub trait WebhookAdapter: Send + Sync {
    /// The provider's descriptor.
    fn descriptor(&self) -> &ProviderDescriptor;

    /// Checks the request's signature (or token) with the binding's key, in constant time.
    /// A missing or wrong signature, an expired or foreign token, or a scheme the adapter
    /// does not implement is [`Error::Signature`]; a request without a delivery id is
    /// [`Error::MissingHeader`].
    fn verify_webhook(
        &self,
        request: &WebhookRequest,
        key: &WebhookKey<'_>,
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

//! A simulated provider: its webhooks carry canonical-looking JSON, verified with a shared
//! token. Property tests drive the engine through it, and a third-party provider author can
//! read it as the smallest complete [`WebhookAdapter`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    Authority, CanonicalEvent, Capabilities, Change, DeliveryId, Error, ExternalTarget,
    ExternalVersion, Fields, Interface, LinkInfo, NativeId, NormalizedWebhook, ProviderDescriptor,
    Removal, ResourceKind, Secret, SignatureScheme, VerifiedWebhook, WebhookAdapter,
    WebhookRequest,
};

/// The simulated provider's kind.
pub const KIND: &str = "simulated";
/// Header carrying the delivery id.
pub const DELIVERY_HEADER: &str = "X-Sim-Delivery";
/// Header carrying the shared token.
pub const TOKEN_HEADER: &str = "X-Sim-Token";

/// One object as the simulated provider's API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimObject {
    /// Kind.
    pub kind: ResourceKind,
    /// Native id.
    pub native_id: String,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Fields (possibly partial in webhooks, complete in reads).
    pub fields: Fields,
}

/// One change a simulated webhook reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SimChange {
    /// The object was seen like this.
    Observed(SimObject),
    /// The object was deleted at this time.
    Deleted {
        /// Kind.
        kind: ResourceKind,
        /// Native id.
        native_id: String,
        /// Deletion time.
        updated_at: DateTime<Utc>,
    },
}

/// One simulated delivery: an id, the target and one change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimDelivery {
    /// Delivery id.
    pub id: String,
    /// Target path (`owner/repo`).
    pub target: String,
    /// The change.
    pub change: SimChange,
}

impl SimDelivery {
    /// The delivery as a signed request.
    pub fn request(&self, token: &str) -> WebhookRequest {
        let body = serde_json::to_vec(self).unwrap_or_default();
        let mut headers = crate::Headers::default();
        headers.insert(DELIVERY_HEADER, self.id.clone());
        headers.insert("X-Sim-Event", "change");
        headers.insert(TOKEN_HEADER, token);
        WebhookRequest { headers, body }
    }
}

/// The simulated provider's adapter.
#[derive(Debug, Clone)]
pub struct SimulatedProvider {
    descriptor: ProviderDescriptor,
}

impl Default for SimulatedProvider {
    fn default() -> Self {
        Self::new()
    }
}

impl SimulatedProvider {
    /// The adapter, declaring all three interfaces.
    pub fn new() -> Self {
        Self {
            descriptor: ProviderDescriptor {
                kind: KIND.into(),
                interfaces: Interface::ALL.to_vec(),
                hosting: vec!["test".into()],
                auth_modes: vec![crate::AuthMode::Token],
                signature: SignatureScheme::Token,
                delivery_header: Some(DELIVERY_HEADER.into()),
                event_header: Some("X-Sim-Event".into()),
                capabilities: Capabilities {
                    can_delete: true,
                    idempotency_keys: true,
                    conditional_reads: true,
                    merge_with_expected_sha: true,
                    reviewed_writes: true,
                },
            },
        }
    }

    fn event(
        delivery: &DeliveryId,
        target: &str,
        change: SimChange,
        authority: Authority,
    ) -> CanonicalEvent {
        let (kind, native_id, updated_at, change, action) = match change {
            SimChange::Observed(o) => {
                let version = ExternalVersion::at(o.updated_at);
                (
                    o.kind,
                    o.native_id,
                    o.updated_at,
                    Change::Observed {
                        version,
                        fields: o.fields,
                    },
                    "observed",
                )
            }
            SimChange::Deleted {
                kind,
                native_id,
                updated_at,
            } => {
                let version = ExternalVersion::at(updated_at);
                (
                    kind,
                    native_id,
                    updated_at,
                    Change::Removed {
                        version,
                        removal: Removal::Deleted,
                    },
                    "deleted",
                )
            }
        };
        CanonicalEvent {
            provider: KIND.into(),
            delivery_id: delivery.clone(),
            interface: kind.interface(),
            kind,
            native_id: NativeId::new(native_id),
            action: action.into(),
            event_time: Some(updated_at),
            target: Some(ExternalTarget::from_path(target)),
            link: LinkInfo::default(),
            authority,
            change,
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl WebhookAdapter for SimulatedProvider {
    fn descriptor(&self) -> &ProviderDescriptor {
        &self.descriptor
    }

    fn verify_webhook(
        &self,
        request: &WebhookRequest,
        secret: &Secret,
    ) -> Result<VerifiedWebhook, Error> {
        let delivery = request
            .headers
            .get(DELIVERY_HEADER)
            .ok_or(Error::MissingHeader {
                provider: KIND.into(),
                header: DELIVERY_HEADER,
            })?;
        let token = request
            .headers
            .get(TOKEN_HEADER)
            .ok_or_else(|| Error::Signature {
                provider: KIND.into(),
                reason: format!("no {TOKEN_HEADER} header"),
            })?;
        if !constant_time_eq(token.as_bytes(), secret.expose().as_bytes()) {
            return Err(Error::Signature {
                provider: KIND.into(),
                reason: "token does not match".into(),
            });
        }
        Ok(VerifiedWebhook {
            delivery_id: delivery.into(),
            event: "change".into(),
            algorithm: "token".into(),
        })
    }

    fn normalize_webhook(&self, request: &WebhookRequest) -> Result<NormalizedWebhook, Error> {
        let delivery: SimDelivery =
            serde_json::from_slice(&request.body).map_err(|e| Error::MalformedPayload {
                provider: KIND.into(),
                reason: e.to_string(),
            })?;
        let id = DeliveryId::new(delivery.id.clone());
        let target = ExternalTarget::from_path(delivery.target.clone());
        let event = Self::event(&id, &delivery.target, delivery.change, Authority::Webhook);
        Ok(NormalizedWebhook {
            event: "change".into(),
            action: Some(event.action.clone()),
            target: Some(target),
            events: vec![event],
            ignored: None,
        })
    }

    fn parse_rest_object(
        &self,
        kind: ResourceKind,
        object: &serde_json::Value,
        read_id: &DeliveryId,
    ) -> Result<Option<CanonicalEvent>, Error> {
        let o: SimObject =
            serde_json::from_value(object.clone()).map_err(|e| Error::MalformedPayload {
                provider: KIND.into(),
                reason: e.to_string(),
            })?;
        if o.kind != kind {
            return Ok(None);
        }
        let mut event = Self::event(
            read_id,
            "",
            SimChange::Observed(o),
            Authority::Authoritative,
        );
        event.target = None;
        event.action = "backfill".into();
        Ok(Some(event))
    }
}

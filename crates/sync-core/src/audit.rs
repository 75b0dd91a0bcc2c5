//! Audit records (invariant 10): every received delivery, applied event and write-intent
//! transition leaves one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{BindingId, OrgId, ProviderKind};

/// What an audit record is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "id")]
#[non_exhaustive]
pub enum AuditSubject {
    /// A webhook delivery (by delivery id).
    Delivery(String),
    /// An object (by its key as text).
    Object(String),
    /// A write intent (by id).
    WriteIntent(String),
    /// A conflict (by id).
    Conflict(String),
    /// A binding.
    Binding(String),
}

/// One audit record. It never carries a secret or a whole payload: payloads are named by
/// digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditRecord {
    /// When it happened, by the engine's clock.
    pub at: DateTime<Utc>,
    /// Org.
    pub org: OrgId,
    /// Provider type.
    pub provider: ProviderKind,
    /// Binding.
    pub binding: BindingId,
    /// What it is about.
    pub subject: AuditSubject,
    /// What happened (`delivery.accepted`, `event.applied`, `write_intent.confirmed`, …).
    pub action: String,
    /// Who caused it (`provider:github`, `user:alice`, `engine`).
    pub actor: String,
    /// Details.
    #[serde(default)]
    pub detail: serde_json::Value,
}

impl AuditRecord {
    /// A record of `action` on `subject` by `actor` at `at`, in one binding of an org; its
    /// detail is `null` until given.
    pub fn new(
        at: DateTime<Utc>,
        org: impl Into<OrgId>,
        provider: impl Into<ProviderKind>,
        binding: impl Into<BindingId>,
        subject: AuditSubject,
        action: impl Into<String>,
        actor: impl Into<String>,
    ) -> Self {
        Self {
            at,
            org: org.into(),
            provider: provider.into(),
            binding: binding.into(),
            subject,
            action: action.into(),
            actor: actor.into(),
            detail: serde_json::Value::Null,
        }
    }

    /// Sets the details.
    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }
}

//! Conflict records (invariant 5): nothing is silently overwritten.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Fields, ObjectKey, OrgId, ResolutionPolicy};

/// Why a conflict was raised. These are the seed's conflict rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConflictReason {
    /// Both sides changed a field to different values since the last synced base.
    BothChanged,
    /// The provider rejected a write because its precondition no longer holds.
    PreconditionFailed,
    /// The provider has a value the host cannot represent losslessly.
    Unrepresentable,
    /// The object is external-owned (mirror) and the host changed it.
    LocalMutationOfExternalOwned,
    /// A local-owned object drifted and the policy says raise, not revert.
    ExternalDrift,
    /// An applied write was not confirmed before its deadline.
    UnconfirmedWrite,
    /// The host's value would drop what the provider's format holds and the host's cannot
    /// (a Jira panel, mention or merged table cell in Markdown): the write is not sent.
    LossyFormat,
    /// The provider's workflow has no transition from the object's current state to the
    /// one asked for (a Jira status).
    NoTransition,
}

/// One field in conflict, with its three values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldConflict {
    /// Field name.
    pub field: String,
    /// The last synced value.
    pub base: serde_json::Value,
    /// The host's value.
    pub local: serde_json::Value,
    /// The provider's value.
    pub external: serde_json::Value,
}

/// What a person decides for a conflict ([`Engine::resolve_conflict`](crate::Engine::resolve_conflict)).
///
/// ```
/// use kradle_sync_core::conflict::ConflictDecision;
/// let merged = ConflictDecision::Value([("title".to_owned(), "Both words".into())].into());
/// assert_eq!(serde_json::to_value(&merged).unwrap()["take"], "value");
/// assert_eq!(serde_json::to_value(ConflictDecision::TakeLocal).unwrap()["take"], "local");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "take", content = "fields", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConflictDecision {
    /// The host's values win: they are written to the provider (a new write intent based on
    /// the provider's current values).
    #[serde(rename = "local")]
    TakeLocal,
    /// The provider's values win: the host's values are dropped and nothing is written.
    #[serde(rename = "external")]
    TakeExternal,
    /// These values win (a merge): written to the provider where they differ from its
    /// values. Only fields of the conflict; a field of the conflict not named takes the
    /// provider's value.
    Value(Fields),
}

/// How a conflict ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Resolution {
    /// The policy that resolved it ([`ResolutionPolicy::Manual`] when a person decided).
    pub policy: ResolutionPolicy,
    /// Who resolved it (`policy` when automatic, else `user:NAME` and the like).
    pub by: String,
    /// Notes, e.g. the warning of an ignored field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// What a person decided (none for a policy's automatic resolution).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<ConflictDecision>,
    /// The write intent the decision created, if it writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_intent: Option<String>,
}

impl Resolution {
    /// A resolution by `policy`, automatic.
    pub fn by_policy(policy: ResolutionPolicy, note: Option<String>) -> Self {
        Self {
            policy,
            by: "policy".into(),
            note,
            decision: None,
            write_intent: None,
        }
    }
}

/// The seed's `ExternalSyncConflict`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConflictRecord {
    /// Stable id.
    pub id: String,
    /// Org.
    pub org: OrgId,
    /// The object.
    pub object: ObjectKey,
    /// Fields in conflict, sorted by name (empty for whole-object conflicts).
    pub fields: Vec<FieldConflict>,
    /// Why.
    pub reason: ConflictReason,
    /// The provider's message, for precondition failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The policy that applies.
    pub policy: ResolutionPolicy,
    /// The write intent involved, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_intent: Option<String>,
    /// How it ended; `None` while open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
    /// When it was detected, by the engine's clock.
    pub detected_at: DateTime<Utc>,
}

impl ConflictRecord {
    /// Whether the conflict still waits for a resolution.
    pub fn is_open(&self) -> bool {
        self.resolution.is_none()
    }
}

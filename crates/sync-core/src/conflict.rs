//! Conflict records (invariant 5): nothing is silently overwritten.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{ObjectKey, OrgId, ResolutionPolicy};

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

/// How a conflict ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    /// The policy that resolved it.
    pub policy: ResolutionPolicy,
    /// Who resolved it (`policy` when automatic).
    pub by: String,
    /// Notes, e.g. the warning of an ignored field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
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

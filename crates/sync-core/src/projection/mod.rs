//! The object projection: what the provider says an object is, what the host wants it to
//! be, and the pure step that merges observations and local changes.
//!
//! External state is kept per field as a register ranked by [`Rank`]: a newer observation
//! replaces an older one, an older one is stale, and two observations of equal rank with
//! different values are ambiguous. Ambiguity is settled deterministically (the larger
//! canonical JSON wins) and the object is marked as awaiting a hydrate, so the projection
//! never depends on arrival order. Merging registers is commutative, associative and
//! idempotent: any permutation or duplication of the same observations gives the same state.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

mod conflict;
mod local;
mod observe;

use local::{local_change, local_delete};
use observe::observe;

use crate::conflict::ConflictRecord;
use crate::write_intent::{Actor, IntentReason, WriteOperation};
use crate::{
    CanonicalEvent, Error, ExternalTarget, ExternalVersion, Fields, LinkInfo, ObjectKey, OrgId,
    OwnershipMode, Rank, Removal, SyncPolicy,
};

/// The provider's value of one field, with the rank of the observation it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldRegister {
    /// Rank of the observation.
    pub rank: Rank,
    /// The value.
    pub value: Value,
    /// Whether observations of equal rank disagreed on the value.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ambiguous: bool,
}

/// The strongest removal seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemovalRegister {
    /// Rank of the removal.
    pub rank: Rank,
    /// Why it is gone.
    pub removal: Removal,
}

/// A field the host changed: its base (the provider's value when the host changed it) and
/// the desired value, with the intent that writes it and any open conflict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalField {
    /// The last synced value the change was based on.
    pub base: Value,
    /// The host's value.
    pub desired: Value,
    /// The write intent carrying it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    /// The open conflict about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict: Option<String>,
}

/// Everything the engine knows about one object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ObjectState {
    /// Identity.
    pub key: ObjectKey,
    /// Org.
    pub org: OrgId,
    /// Links.
    #[serde(default)]
    pub link: LinkInfo,
    /// Where it lives at the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<ExternalTarget>,
    /// The provider's state, per field.
    #[serde(default)]
    pub external: BTreeMap<String, FieldRegister>,
    /// The strongest removal seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<RemovalRegister>,
    /// The entity tag of the highest-ranked authoritative read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<(Rank, String)>,
    /// The host's changed or owned fields.
    #[serde(default)]
    pub local: BTreeMap<String, LocalField>,
    /// The host deleted its copy.
    #[serde(default)]
    pub local_deleted: bool,
    /// The write intent that deletes or closes the object at the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_delete: Option<String>,
    /// For an object the host created: the native id the provider gave it. The object
    /// itself is then observed under that id; this one stays as the host's local ref.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_as: Option<crate::NativeId>,
    /// Count of local changes (names intents deterministically).
    #[serde(default)]
    pub local_seq: u64,
    /// Store revision, for optimistic concurrency.
    #[serde(default)]
    pub revision: u64,
}

impl ObjectState {
    /// A new, empty state.
    pub fn new(key: ObjectKey, org: OrgId) -> Self {
        Self {
            key,
            org,
            link: LinkInfo::default(),
            target: None,
            external: BTreeMap::new(),
            removed: None,
            etag: None,
            local: BTreeMap::new(),
            local_deleted: false,
            pending_delete: None,
            created_as: None,
            local_seq: 0,
            revision: 0,
        }
    }

    /// The provider's field values.
    pub fn fields(&self) -> Fields {
        self.external
            .iter()
            .map(|(k, r)| (k.clone(), r.value.clone()))
            .collect()
    }

    /// The provider's value of one field.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.external.get(name).map(|r| &r.value)
    }

    /// The highest rank of any field.
    fn max_rank(&self) -> Option<Rank> {
        self.external.values().map(|r| r.rank).max()
    }

    /// The newest external version seen, with the etag of the latest authoritative read.
    pub fn version(&self) -> ExternalVersion {
        let rank = self
            .max_rank()
            .into_iter()
            .chain(self.removed.as_ref().map(|r| r.rank))
            .max();
        ExternalVersion {
            updated_at: rank.and_then(|r| r.at),
            sequence: rank.and_then(|r| r.sequence),
            etag: self.etag.as_ref().map(|(_, e)| e.clone()),
        }
    }

    /// Whether the object is gone at the provider: a removal ranks at least as high as
    /// every observed field.
    pub fn is_tombstone(&self) -> bool {
        match (&self.removed, self.max_rank()) {
            (Some(r), Some(max)) => r.rank >= max,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// Whether observations disagreed at equal rank and an authoritative read is needed.
    pub fn awaiting_hydrate(&self) -> bool {
        !self.is_tombstone() && self.external.values().any(|r| r.ambiguous)
    }

    /// Whether the provider has ever shown the object.
    pub fn exists_externally(&self) -> bool {
        !self.external.is_empty()
    }

    /// Fields the host wants different from the provider's state.
    pub fn pending(&self) -> Fields {
        self.local
            .iter()
            .filter(|(f, l)| self.field(f) != Some(&l.desired))
            .map(|(f, l)| (f.clone(), l.desired.clone()))
            .collect()
    }
}

/// What drives a projection step.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ProjectionInput {
    /// An observation, removal or hint from the provider.
    Observe(Box<CanonicalEvent>),
    /// The host changed fields.
    LocalChange {
        /// New values.
        fields: Fields,
        /// Who changed them.
        actor: Actor,
    },
    /// The host deleted its copy.
    LocalDelete {
        /// Who deleted it.
        actor: Actor,
    },
    /// The host asks for a command on the object that changes none of its desired fields
    /// (rerun or cancel a pipeline or job, merge a pull request): a write intent with this
    /// operation, in any ownership mode.
    Action {
        /// The command.
        operation: WriteOperation,
        /// Its arguments.
        fields: Fields,
        /// Who asked.
        actor: Actor,
    },
    /// The provider accepted a write whose values it reads back in another shape (a branch
    /// protection's rules): the write is settled by the provider's answer, and the
    /// intent's local fields are dropped so the read-back is the object's state.
    Settled {
        /// The intent.
        intent: String,
    },
    /// A person decided an open conflict about this object: the host's values are written
    /// (a new intent), dropped for the provider's, or replaced by given values.
    Resolve {
        /// The conflict, as recorded.
        conflict: Box<ConflictRecord>,
        /// What was decided.
        decision: crate::conflict::ConflictDecision,
        /// Who decided.
        actor: Actor,
    },
    /// The provider created the object a create intent asked for, under this native id.
    Created {
        /// The create intent.
        intent: String,
        /// The new object's native id.
        native_id: crate::NativeId,
    },
}

/// What a step may consult: ownership, policy, provider capability and the time.
#[derive(Debug, Clone, Copy)]
pub struct ProjectionContext<'a> {
    /// Ownership of the object's kind in its binding.
    pub mode: OwnershipMode,
    /// The binding's sync policy.
    pub policy: &'a SyncPolicy,
    /// Whether the provider can delete objects of this kind (otherwise: close).
    pub can_delete: bool,
    /// The engine's clock.
    pub now: DateTime<Utc>,
}

/// A write the step wants made.
#[derive(Debug, Clone, PartialEq)]
pub struct IntentDraft {
    /// Deterministic id.
    pub id: String,
    /// Operation.
    pub operation: WriteOperation,
    /// Desired values.
    pub fields: Fields,
    /// Base values.
    pub base: Fields,
    /// Why.
    pub reason: IntentReason,
    /// Who asked.
    pub actor: Actor,
}

/// What a projection step asks its driver to do.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ProjectionEffect {
    /// Create a write intent.
    CreateIntent(IntentDraft),
    /// The provider now shows every field of this intent.
    IntentConfirmed(String),
    /// A conflict involves this intent.
    IntentConflicted {
        /// Intent id.
        intent: String,
        /// Conflict id.
        conflict: String,
    },
    /// A later local change replaced every field of this intent.
    IntentSuperseded(String),
    /// Record a conflict.
    RaiseConflict(ConflictRecord),
    /// Read the object authoritatively.
    ScheduleHydrate,
}

/// How a step changed the projection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// State changed.
    Applied,
    /// The observation was older than what is known; nothing changed.
    Stale,
    /// Nothing new.
    Unchanged,
}

/// The canonical text of a value; its order settles equal-rank disagreements.
pub(super) fn canonical(value: &Value) -> String {
    value.to_string()
}

pub(super) fn deterministic_id(parts: &[&str]) -> String {
    let name = parts.join("\u{1f}");
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).to_string()
}

/// The projection state machine: a pure function of the state, the input and the context.
pub fn step_projection(
    mut state: ObjectState,
    input: ProjectionInput,
    ctx: &ProjectionContext<'_>,
) -> Result<(ObjectState, Outcome, Vec<ProjectionEffect>), Error> {
    let mut effects = Vec::new();
    let outcome = match input {
        ProjectionInput::Observe(event) => observe(&mut state, *event, ctx, &mut effects),
        ProjectionInput::LocalChange { fields, actor } => {
            local_change(&mut state, fields, actor, ctx, &mut effects)?
        }
        ProjectionInput::Created { intent, native_id } => {
            // The fields the create carried now live on the created object.
            state
                .local
                .retain(|_, l| l.intent.as_deref() != Some(intent.as_str()));
            let changed = state.created_as.as_ref() != Some(&native_id);
            state.created_as = Some(native_id);
            if changed {
                Outcome::Applied
            } else {
                Outcome::Unchanged
            }
        }
        ProjectionInput::LocalDelete { actor } => {
            local_delete(&mut state, actor, ctx, &mut effects)
        }
        ProjectionInput::Resolve {
            conflict,
            decision,
            actor,
        } => conflict::resolve(&mut state, &conflict, &decision, actor, ctx, &mut effects)?,
        ProjectionInput::Settled { intent } => {
            let before = state.local.len();
            state
                .local
                .retain(|_, l| l.intent.as_deref() != Some(intent.as_str()));
            if state.local.len() == before {
                Outcome::Unchanged
            } else {
                Outcome::Applied
            }
        }
        ProjectionInput::Action {
            operation,
            fields,
            actor,
        } => {
            state.local_seq += 1;
            let id = deterministic_id(&[
                &state.key.to_string(),
                "action",
                &state.local_seq.to_string(),
            ]);
            effects.push(ProjectionEffect::CreateIntent(IntentDraft {
                id,
                operation,
                fields,
                base: Fields::new(),
                reason: crate::write_intent::IntentReason::LocalChange,
                actor,
            }));
            Outcome::Applied
        }
    };
    Ok((state, outcome, effects))
}

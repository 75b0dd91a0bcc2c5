//! The object projection: what the provider says an object is, what the host wants it to
//! be, and the pure step that merges observations and local changes.
//!
//! External state is kept per field as a register ranked by [`Rank`]: a newer observation
//! replaces an older one, an older one is stale, and two observations of equal rank with
//! different values are ambiguous. Ambiguity is settled deterministically (the larger
//! canonical JSON wins) and the object is marked as awaiting a hydrate, so the projection
//! never depends on arrival order. Merging registers is commutative, associative and
//! idempotent: any permutation or duplication of the same observations gives the same state.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::conflict::{ConflictReason, ConflictRecord, FieldConflict, Resolution};
use crate::write_intent::{Actor, IntentReason, WriteOperation};
use crate::{
    CanonicalEvent, Change, DriftPolicy, Error, ExternalTarget, ExternalVersion, Fields, LinkInfo,
    ObjectKey, OrgId, OwnershipMode, Rank, Removal, ResolutionPolicy, SyncPolicy,
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
fn canonical(value: &Value) -> String {
    value.to_string()
}

fn deterministic_id(parts: &[&str]) -> String {
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
    };
    Ok((state, outcome, effects))
}

fn fill_link(link: &mut LinkInfo, from: LinkInfo) {
    link.number = link.number.or(from.number);
    if link.node_id.is_none() {
        link.node_id = from.node_id;
    }
    if link.url.is_none() {
        link.url = from.url;
    }
    if link.api_url.is_none() {
        link.api_url = from.api_url;
    }
}

fn observe(
    state: &mut ObjectState,
    event: CanonicalEvent,
    ctx: &ProjectionContext<'_>,
    effects: &mut Vec<ProjectionEffect>,
) -> Outcome {
    let was_awaiting = state.awaiting_hydrate();
    let was_tombstone = state.is_tombstone();
    fill_link(&mut state.link, event.link);
    if state.target.is_none() {
        state.target = event.target;
    }
    let (changed, fresh) = match event.change {
        Change::Observed { version, fields } => {
            let rank = Rank::of(&version, event.authority);
            if let Some(etag) = version
                .etag
                .filter(|_| state.etag.as_ref().is_none_or(|(r, _)| rank >= *r))
            {
                state.etag = Some((rank, etag));
            }
            merge_fields(state, rank, fields)
        }
        Change::Removed { version, removal } => {
            let rank = Rank::of(&version, event.authority);
            match &mut state.removed {
                None => {
                    state.removed = Some(RemovalRegister { rank, removal });
                    (true, true)
                }
                Some(r) if rank > r.rank => {
                    *r = RemovalRegister { rank, removal };
                    (true, true)
                }
                Some(r) if rank == r.rank => {
                    let replace = r.removal != removal
                        && canonical(&serde_json::to_value(&removal).unwrap_or_default())
                            > canonical(&serde_json::to_value(&r.removal).unwrap_or_default());
                    if replace {
                        r.removal = removal;
                    }
                    (replace, true)
                }
                Some(_) => (false, false),
            }
        }
        Change::Hint => {
            effects.push(ProjectionEffect::ScheduleHydrate);
            return Outcome::Unchanged;
        }
        Change::Condition { .. } => return Outcome::Unchanged,
    };
    if !fresh {
        return Outcome::Stale;
    }
    if !changed {
        return Outcome::Unchanged;
    }
    if state.awaiting_hydrate() && !was_awaiting {
        effects.push(ProjectionEffect::ScheduleHydrate);
    }
    if state.is_tombstone() {
        if !was_tombstone {
            if let Some(intent) = state.pending_delete.take() {
                effects.push(ProjectionEffect::IntentConfirmed(intent));
            }
            tombstoned_with_pending(state, ctx, effects);
        }
    } else {
        reconcile(state, ctx, effects);
    }
    Outcome::Applied
}

/// Merges observed fields into the registers. Returns (changed, fresh): whether any
/// register changed, and whether any field was not older than what is known.
fn merge_fields(state: &mut ObjectState, rank: Rank, fields: Fields) -> (bool, bool) {
    use std::cmp::Ordering::*;
    let mut changed = false;
    let mut fresh = fields.is_empty();
    for (name, value) in fields {
        match state.external.get_mut(&name) {
            None => {
                state.external.insert(
                    name,
                    FieldRegister {
                        rank,
                        value,
                        ambiguous: false,
                    },
                );
                changed = true;
                fresh = true;
            }
            Some(r) => match rank.cmp(&r.rank) {
                Greater => {
                    // A newer rank is a change even with the same value: the register must
                    // remember it, or an older observation would later win.
                    fresh = true;
                    changed = true;
                    *r = FieldRegister {
                        rank,
                        value,
                        ambiguous: false,
                    };
                }
                Equal => {
                    fresh = true;
                    if r.value != value {
                        changed |= !r.ambiguous;
                        r.ambiguous = true;
                        if canonical(&value) > canonical(&r.value) {
                            r.value = value;
                            changed = true;
                        }
                    }
                }
                Less => {}
            },
        }
    }
    (changed, fresh)
}

/// The three-way merge of local fields against the new external state, and drift
/// detection for local-owned objects.
fn reconcile(
    state: &mut ObjectState,
    ctx: &ProjectionContext<'_>,
    effects: &mut Vec<ProjectionEffect>,
) {
    if ctx.mode == OwnershipMode::LocalOwned && !state.local_deleted {
        for field in state.key.kind.writable_fields() {
            if let Some(value) = state.field(field).cloned() {
                state
                    .local
                    .entry((*field).to_owned())
                    .or_insert(LocalField {
                        base: value.clone(),
                        desired: value,
                        intent: None,
                        conflict: None,
                    });
            }
        }
    }
    let mut touched: BTreeSet<String> = BTreeSet::new();
    let mut conflicts: Vec<FieldConflict> = Vec::new();
    let mut drift: Vec<String> = Vec::new();
    let names: Vec<String> = state.local.keys().cloned().collect();
    for name in names {
        let external = state.field(&name).cloned().unwrap_or(Value::Null);
        let Some(local) = state.local.get_mut(&name) else {
            continue;
        };
        if external == local.desired {
            touched.extend(local.intent.clone());
            if ctx.mode == OwnershipMode::LocalOwned {
                local.base = external;
                local.intent = None;
                local.conflict = None;
            } else {
                state.local.remove(&name);
            }
        } else if ctx.mode == OwnershipMode::LocalOwned {
            if local.intent.is_none() && local.conflict.is_none() {
                drift.push(name);
            }
        } else if local.conflict.is_none() && external != local.base {
            conflicts.push(FieldConflict {
                field: name,
                base: local.base.clone(),
                local: local.desired.clone(),
                external,
            });
        }
    }
    for intent in touched {
        if !state
            .local
            .values()
            .any(|l| l.intent.as_deref() == Some(&intent))
        {
            effects.push(ProjectionEffect::IntentConfirmed(intent));
        }
    }
    if !conflicts.is_empty() {
        raise(
            state,
            conflicts,
            ConflictReason::BothChanged,
            None,
            ctx,
            effects,
        );
    }
    if !drift.is_empty() {
        match ctx.policy.drift {
            DriftPolicy::Revert => {
                state.local_seq += 1;
                let id = deterministic_id(&[
                    &state.key.to_string(),
                    "revert",
                    &state.local_seq.to_string(),
                ]);
                let mut fields = Fields::new();
                let mut base = Fields::new();
                for name in &drift {
                    if let Some(local) = state.local.get_mut(name) {
                        local.intent = Some(id.clone());
                        local.base = state
                            .external
                            .get(name)
                            .map(|r| r.value.clone())
                            .unwrap_or(Value::Null);
                        fields.insert(name.clone(), local.desired.clone());
                        base.insert(name.clone(), local.base.clone());
                    }
                }
                effects.push(ProjectionEffect::CreateIntent(IntentDraft {
                    id,
                    operation: WriteOperation::Update,
                    fields,
                    base,
                    reason: IntentReason::DriftRevert,
                    actor: Actor::system(),
                }));
            }
            DriftPolicy::Raise => {
                let fields = drift
                    .iter()
                    .filter_map(|name| {
                        let local = state.local.get(name)?;
                        Some(FieldConflict {
                            field: name.clone(),
                            base: local.base.clone(),
                            local: local.desired.clone(),
                            external: state.field(name).cloned().unwrap_or(Value::Null),
                        })
                    })
                    .collect();
                raise(
                    state,
                    fields,
                    ConflictReason::ExternalDrift,
                    None,
                    ctx,
                    effects,
                );
            }
        }
    }
}

/// Records a conflict over `fields` and applies the binding's resolution policy.
fn raise(
    state: &mut ObjectState,
    fields: Vec<FieldConflict>,
    reason: ConflictReason,
    message: Option<String>,
    ctx: &ProjectionContext<'_>,
    effects: &mut Vec<ProjectionEffect>,
) {
    let digest: Vec<String> = fields
        .iter()
        .map(|f| format!("{}={}", f.field, canonical(&f.external)))
        .collect();
    let id = deterministic_id(&[
        &state.key.to_string(),
        "conflict",
        &format!("{reason:?}"),
        &state.local_seq.to_string(),
        &digest.join(","),
    ]);
    let policy = if reason == ConflictReason::LocalMutationOfExternalOwned {
        // The provider owns a mirrored object: the local change can only be reviewed or
        // dropped, never written.
        match ctx.policy.conflict_resolution {
            ResolutionPolicy::PreferLocal => ResolutionPolicy::Manual,
            other => other,
        }
    } else {
        ctx.policy.conflict_resolution
    };
    let intents: BTreeSet<String> = fields
        .iter()
        .filter_map(|f| state.local.get(&f.field).and_then(|l| l.intent.clone()))
        .collect();
    let mut resolution = None;
    match policy {
        ResolutionPolicy::Manual | ResolutionPolicy::ReviewedProviderChange => {
            for f in &fields {
                if let Some(local) = state.local.get_mut(&f.field) {
                    local.conflict = Some(id.clone());
                }
            }
        }
        ResolutionPolicy::PreferExternal | ResolutionPolicy::IgnoreUnsupportedField => {
            for f in &fields {
                state.local.remove(&f.field);
            }
            let note = (policy == ResolutionPolicy::IgnoreUnsupportedField)
                .then(|| "local value dropped; the provider's value is kept".to_owned());
            resolution = Some(Resolution {
                policy,
                by: "policy".into(),
                note,
            });
        }
        ResolutionPolicy::PreferLocal => {
            state.local_seq += 1;
            let intent = deterministic_id(&[
                &state.key.to_string(),
                "resolve",
                &state.local_seq.to_string(),
            ]);
            let mut desired = Fields::new();
            let mut base = Fields::new();
            for f in &fields {
                if let Some(local) = state.local.get_mut(&f.field) {
                    local.base = f.external.clone();
                    local.intent = Some(intent.clone());
                    desired.insert(f.field.clone(), local.desired.clone());
                    base.insert(f.field.clone(), f.external.clone());
                }
            }
            effects.push(ProjectionEffect::CreateIntent(IntentDraft {
                id: intent,
                operation: WriteOperation::Update,
                fields: desired,
                base,
                reason: IntentReason::ConflictResolution,
                actor: Actor::system(),
            }));
            resolution = Some(Resolution {
                policy,
                by: "policy".into(),
                note: None,
            });
        }
    }
    let intent_of_record = intents.iter().next().cloned();
    for intent in intents {
        effects.push(ProjectionEffect::IntentConflicted {
            intent,
            conflict: id.clone(),
        });
    }
    effects.push(ProjectionEffect::RaiseConflict(ConflictRecord {
        id,
        org: state.org.clone(),
        object: state.key.clone(),
        fields,
        reason,
        message,
        policy,
        write_intent: intent_of_record,
        resolution,
        detected_at: ctx.now,
    }));
}

fn tombstoned_with_pending(
    state: &mut ObjectState,
    ctx: &ProjectionContext<'_>,
    effects: &mut Vec<ProjectionEffect>,
) {
    let fields: Vec<FieldConflict> = state
        .local
        .iter()
        .filter(|(_, l)| l.intent.is_some() && l.conflict.is_none())
        .map(|(f, l)| FieldConflict {
            field: f.clone(),
            base: l.base.clone(),
            local: l.desired.clone(),
            external: Value::Null,
        })
        .collect();
    if !fields.is_empty() {
        let message = Some(
            "the object was removed at the provider while a local change was pending".to_owned(),
        );
        raise(
            state,
            fields,
            ConflictReason::BothChanged,
            message,
            ctx,
            effects,
        );
    }
}

fn local_change(
    state: &mut ObjectState,
    fields: Fields,
    actor: Actor,
    ctx: &ProjectionContext<'_>,
    effects: &mut Vec<ProjectionEffect>,
) -> Result<Outcome, Error> {
    let writable = state.key.kind.writable_fields();
    if let Some(name) = fields.keys().find(|f| !writable.contains(&f.as_str())) {
        return Err(Error::Validation {
            rule: "writable-field",
            detail: format!(
                "field `{name}` of {} is read-only; writable fields are {}",
                state.key.kind,
                writable.join(", ")
            ),
        });
    }
    let current = |state: &ObjectState, name: &str| -> Value {
        state
            .local
            .get(name)
            .map(|l| l.desired.clone())
            .or_else(|| state.field(name).cloned())
            .unwrap_or(Value::Null)
    };
    let changed: Fields = fields
        .into_iter()
        .filter(|(f, v)| current(state, f) != *v)
        .collect();
    if changed.is_empty() {
        return Ok(Outcome::Unchanged);
    }
    if ctx.mode == OwnershipMode::Mirror || state.is_tombstone() {
        let (reason, message) = if state.is_tombstone() {
            (
                ConflictReason::BothChanged,
                Some("the object was removed at the provider".to_owned()),
            )
        } else {
            (ConflictReason::LocalMutationOfExternalOwned, None)
        };
        state.local_seq += 1;
        let conflicts = changed
            .into_iter()
            .map(|(field, local)| {
                let external = state.field(&field).cloned().unwrap_or(Value::Null);
                FieldConflict {
                    field,
                    base: external.clone(),
                    local,
                    external,
                }
            })
            .collect();
        raise(state, conflicts, reason, message, ctx, effects);
        return Ok(Outcome::Applied);
    }
    state.local_seq += 1;
    let id = deterministic_id(&[
        &state.key.to_string(),
        "local",
        &state.local_seq.to_string(),
    ]);
    let mut replaced: BTreeSet<String> = BTreeSet::new();
    let mut base = Fields::new();
    for (name, desired) in &changed {
        let external = state.field(name).cloned().unwrap_or(Value::Null);
        let previous = state.local.remove(name);
        if let Some(old) = previous.as_ref().and_then(|l| l.intent.clone()) {
            replaced.insert(old);
        }
        let field_base = previous.map(|l| l.base).unwrap_or(external);
        base.insert(name.clone(), field_base.clone());
        state.local.insert(
            name.clone(),
            LocalField {
                base: field_base,
                desired: desired.clone(),
                intent: Some(id.clone()),
                conflict: None,
            },
        );
    }
    for old in replaced {
        if !state
            .local
            .values()
            .any(|l| l.intent.as_deref() == Some(&old))
        {
            effects.push(ProjectionEffect::IntentSuperseded(old));
        }
    }
    let operation = if state.exists_externally() {
        WriteOperation::Update
    } else {
        WriteOperation::Create
    };
    effects.push(ProjectionEffect::CreateIntent(IntentDraft {
        id,
        operation,
        fields: changed,
        base,
        reason: IntentReason::LocalChange,
        actor,
    }));
    Ok(Outcome::Applied)
}

fn local_delete(
    state: &mut ObjectState,
    actor: Actor,
    ctx: &ProjectionContext<'_>,
    effects: &mut Vec<ProjectionEffect>,
) -> Outcome {
    if state.local_deleted {
        return Outcome::Unchanged;
    }
    state.local_deleted = true;
    if ctx.mode == OwnershipMode::Mirror || state.is_tombstone() || !state.exists_externally() {
        // Mirror: the provider owns the object; a local deletion only drops the local copy.
        return Outcome::Applied;
    }
    state.local_seq += 1;
    let id = deterministic_id(&[
        &state.key.to_string(),
        "delete",
        &state.local_seq.to_string(),
    ]);
    let (operation, fields) =
        if ctx.can_delete || !state.key.kind.writable_fields().contains(&"state") {
            state.pending_delete = Some(id.clone());
            (WriteOperation::Delete, Fields::new())
        } else {
            // Providers that cannot delete close instead; the echo of `state: closed`
            // confirms the intent like any other field write.
            let closed = Value::from("closed");
            let base = state.field("state").cloned().unwrap_or(Value::Null);
            state.local.insert(
                "state".to_owned(),
                LocalField {
                    base,
                    desired: closed.clone(),
                    intent: Some(id.clone()),
                    conflict: None,
                },
            );
            let fields: Fields = [("state".to_owned(), closed)].into_iter().collect();
            (WriteOperation::Close, fields)
        };
    let base = fields
        .keys()
        .map(|f| (f.clone(), state.field(f).cloned().unwrap_or(Value::Null)))
        .collect();
    effects.push(ProjectionEffect::CreateIntent(IntentDraft {
        id,
        operation,
        fields,
        base,
        reason: IntentReason::LocalChange,
        actor,
    }));
    Outcome::Applied
}

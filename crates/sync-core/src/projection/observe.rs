//! Observations: merging ranked registers, the three-way merge and drift detection.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::conflict::{ConflictReason, FieldConflict};
use crate::write_intent::{Actor, IntentReason, WriteOperation};
use crate::{CanonicalEvent, Change, DriftPolicy, Fields, LinkInfo, OwnershipMode, Rank};

use super::conflict::raise;
use super::{
    FieldRegister, IntentDraft, LocalField, ObjectState, Outcome, ProjectionContext,
    ProjectionEffect, RemovalRegister, canonical, deterministic_id,
};

pub(super) fn fill_link(link: &mut LinkInfo, from: LinkInfo) {
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

pub(super) fn observe(
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
pub(super) fn merge_fields(state: &mut ObjectState, rank: Rank, fields: Fields) -> (bool, bool) {
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
pub(super) fn reconcile(
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

pub(super) fn tombstoned_with_pending(
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

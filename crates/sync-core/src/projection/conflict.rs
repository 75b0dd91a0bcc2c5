//! Raising conflicts and applying the binding's resolution policy.

use std::collections::BTreeSet;

use crate::conflict::{
    ConflictDecision, ConflictReason, ConflictRecord, FieldConflict, Resolution,
};
use crate::write_intent::{Actor, IntentReason, WriteOperation};
use crate::{Error, Fields, OwnershipMode, ResolutionPolicy};

use super::{
    IntentDraft, LocalField, ObjectState, Outcome, ProjectionContext, ProjectionEffect, canonical,
    deterministic_id,
};

/// Records a conflict over `fields` and applies the binding's resolution policy.
pub(super) fn raise(
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
            resolution = Some(Resolution::by_policy(policy, note));
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
            resolution = Some(Resolution::by_policy(policy, None));
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

/// Applies a person's decision on an open conflict about this object. The conflict's fields
/// leave conflict: taken from the provider (the host's values dropped), or written with the
/// host's or the given values (a new write intent, based on the provider's current values,
/// so the same pair of values never raises the conflict again). Returns the id of the
/// intent it creates, in the effects.
pub(super) fn resolve(
    state: &mut ObjectState,
    conflict: &ConflictRecord,
    decision: &ConflictDecision,
    actor: Actor,
    ctx: &ProjectionContext<'_>,
    effects: &mut Vec<ProjectionEffect>,
) -> Result<Outcome, Error> {
    let refuse = |rule: &'static str, detail: String| Error::Validation { rule, detail };
    let names: BTreeSet<&str> = conflict.fields.iter().map(|f| f.field.as_str()).collect();
    // A field the host changed again since (a later change, an earlier decision) is no
    // longer this conflict's to decide.
    let moved_on = names.iter().find(|name| {
        state.local.get(**name).is_some_and(|l| {
            l.conflict.as_deref() != Some(conflict.id.as_str())
                && (l.intent.is_none() || l.intent != conflict.write_intent)
        })
    });
    if let Some(name) = moved_on {
        return Err(refuse(
            "conflict-decided",
            format!(
                "field `{name}` of {} changed since conflict {} was raised (a later change or decision); list conflicts again",
                state.key, conflict.id
            ),
        ));
    }
    let writes = !matches!(decision, ConflictDecision::TakeExternal);
    if writes && ctx.mode == OwnershipMode::Mirror {
        return Err(refuse(
            "conflict-decision",
            format!(
                "{} is mirrored from the provider, which owns it: only --take external resolves conflict {}",
                state.key, conflict.id
            ),
        ));
    }
    if matches!(decision, ConflictDecision::TakeLocal)
        && matches!(
            conflict.reason,
            ConflictReason::LossyFormat | ConflictReason::NoTransition
        )
    {
        return Err(refuse(
            "conflict-decision",
            format!(
                "the provider cannot take the host's value as it is ({:?}), so writing it again would end the same way: take external, or give a value it can take",
                conflict.reason
            ),
        ));
    }
    let wanted: Fields = match decision {
        ConflictDecision::TakeExternal => Fields::new(),
        ConflictDecision::TakeLocal => conflict
            .fields
            .iter()
            .map(|f| {
                let desired = state
                    .local
                    .get(&f.field)
                    .map_or_else(|| f.local.clone(), |l| l.desired.clone());
                (f.field.clone(), desired)
            })
            .collect(),
        ConflictDecision::Value(values) => {
            if let Some(other) = values.keys().find(|k| !names.contains(k.as_str())) {
                return Err(refuse(
                    "conflict-decision",
                    format!(
                        "field `{other}` is not in conflict {}; its fields are {}",
                        conflict.id,
                        names.iter().copied().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            values.clone()
        }
    };
    // Every field of the conflict leaves it; only values that differ from the provider's
    // are written.
    for name in &names {
        state.local.remove(*name);
    }
    let external = |state: &ObjectState, name: &str| {
        state
            .field(name)
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    };
    let to_write: Fields = wanted
        .into_iter()
        .filter(|(name, value)| state.field(name) != Some(value) || !state.exists_externally())
        .collect();
    if !to_write.is_empty() {
        state.local_seq += 1;
        let intent = deterministic_id(&[
            &state.key.to_string(),
            "resolve",
            &state.local_seq.to_string(),
        ]);
        let mut base = Fields::new();
        for (name, value) in &to_write {
            let was = external(state, name);
            base.insert(name.clone(), was.clone());
            state.local.insert(
                name.clone(),
                LocalField {
                    base: was,
                    desired: value.clone(),
                    intent: Some(intent.clone()),
                    conflict: None,
                },
            );
        }
        let operation = if state.exists_externally() || state.created_as.is_some() {
            WriteOperation::Update
        } else {
            WriteOperation::Create
        };
        effects.push(ProjectionEffect::CreateIntent(IntentDraft {
            id: intent,
            operation,
            fields: to_write,
            base,
            reason: IntentReason::ConflictResolution,
            actor,
        }));
    }
    Ok(Outcome::Applied)
}

//! Raising conflicts and applying the binding's resolution policy.

use std::collections::BTreeSet;

use crate::conflict::{ConflictReason, ConflictRecord, FieldConflict, Resolution};
use crate::write_intent::{Actor, IntentReason, WriteOperation};
use crate::{Fields, ResolutionPolicy};

use super::{
    IntentDraft, ObjectState, ProjectionContext, ProjectionEffect, canonical, deterministic_id,
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

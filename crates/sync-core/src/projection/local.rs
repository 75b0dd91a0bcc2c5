//! Changes made in the host: local edits and deletions.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::conflict::{ConflictReason, FieldConflict};
use crate::write_intent::{Actor, IntentReason, WriteOperation};
use crate::{Error, Fields, OwnershipMode};

use super::conflict::raise;
use super::{
    IntentDraft, LocalField, ObjectState, Outcome, ProjectionContext, ProjectionEffect,
    deterministic_id,
};

pub(super) fn local_change(
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

pub(super) fn local_delete(
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

//! Applying events and local changes: projection steps turned into transitions.

use chrono::{DateTime, Utc};

use crate::audit::AuditSubject;
use crate::conflict::{ConflictReason, ConflictRecord};
use crate::projection::{
    ObjectState, Outcome, ProjectionContext, ProjectionEffect, ProjectionInput, step_projection,
};
use crate::store::{CommitOutcome, Condition, SyncScope, SyncState, Transition};
use crate::write_intent::{
    Actor, IntentEffect, IntentInput, WriteIntent, WriteOperation, WritePhase, step_intent,
};
use crate::{
    Binding, BindingId, CanonicalEvent, Change, Error, Fields, NativeId, ObjectKey, ResourceKind,
    WriteMode,
};

use super::stage::Stage;
use super::{Engine, EventOutcome, key_of};

impl Engine {
    /// Applies one canonical event in a binding: the common path of webhooks, backfills
    /// and hydrates.
    pub async fn apply_event(
        &self,
        binding: &Binding,
        event: CanonicalEvent,
        now: DateTime<Utc>,
    ) -> Result<EventOutcome, Error> {
        self.check_scope(binding, &event)?;
        // Conditions are about the binding, whichever interfaces it syncs.
        if let Change::Condition {
            condition,
            status,
            reason,
        } = &event.change
        {
            if self.store.event_applied(&event.key()).await? {
                return Ok(EventOutcome::Duplicate);
            }
            return self
                .apply_condition(binding, &event, condition, *status, reason, now)
                .await;
        }
        for _ in 0..self.config.max_contention_retries {
            let mut stage = Stage::default();
            let (outcome, transition) = self.stage_event(binding, &event, now, &mut stage).await?;
            let Some(transition) = transition else {
                return Ok(outcome);
            };
            match self.store.commit(transition).await? {
                CommitOutcome::Committed => return Ok(outcome),
                CommitOutcome::AlreadyApplied => return Ok(EventOutcome::Duplicate),
                CommitOutcome::RevisionConflict => continue,
            }
        }
        Err(Error::Contention {
            key: key_of(binding, &event),
        })
    }

    fn check_scope(&self, binding: &Binding, event: &CanonicalEvent) -> Result<(), Error> {
        match event
            .target
            .as_ref()
            .filter(|t| !t.same_as(&binding.target))
        {
            Some(target) => Err(Error::CrossOrg {
                binding: binding.id.clone(),
                org: binding.org.clone(),
                expected: binding.target.to_string(),
                actual: target.to_string(),
            }),
            None => Ok(()),
        }
    }

    /// Computes the transition that applies `event`, against the store and whatever
    /// `stage` already holds, and records it in `stage`. `None` when there is nothing to
    /// commit (the event was applied before, or the binding does not sync its kind).
    /// Binding conditions are not staged: use [`apply_event`](Self::apply_event).
    pub(super) async fn stage_event(
        &self,
        binding: &Binding,
        event: &CanonicalEvent,
        now: DateTime<Utc>,
        stage: &mut Stage,
    ) -> Result<(EventOutcome, Option<Transition>), Error> {
        self.check_scope(binding, event)?;
        let event_key = event.key();
        let applied = match stage.stored_event(&event_key) {
            _ if stage.has_event(&event_key) => true,
            Some(applied) => applied,
            None => self.store.event_applied(&event_key).await?,
        };
        if applied {
            return Ok((EventOutcome::Duplicate, None));
        }
        let Some(mode) = binding.ownership(event.kind) else {
            return Ok((EventOutcome::Skipped, None));
        };
        let key = key_of(binding, event);
        let can_delete = self
            .registry
            .get(&binding.provider)
            .map(|d| d.capabilities.can_delete)
            .unwrap_or(false);
        let loaded = match (stage.object(&key), stage.stored_object(&key)) {
            (Some(state), _) => Some(state.clone()),
            (None, Some(stored)) => stored.cloned(),
            (None, None) => self.store.load_object(&key).await?,
        };
        let expected = loaded.as_ref().map(|s| s.revision);
        let state = loaded.unwrap_or_else(|| ObjectState::new(key.clone(), binding.org.clone()));
        let ctx = ProjectionContext {
            mode,
            policy: &binding.policy,
            can_delete,
            now,
        };
        let (state, outcome, effects) = step_projection(
            state,
            ProjectionInput::Observe(Box::new(event.clone())),
            &ctx,
        )?;
        let mut transition = Transition {
            events: vec![event_key],
            ..Transition::default()
        };
        let detail = serde_json::json!({
            "delivery_id": event.delivery_id, "action": event.action, "kind": event.kind,
            "native_id": event.native_id, "authority": event.authority, "outcome": EventOutcome::from(outcome),
        });
        let actor = format!("provider:{}", binding.provider);
        transition.audit.push(Self::audit(
            binding,
            now,
            AuditSubject::Object(key.to_string()),
            "event.applied",
            &actor,
            detail,
        ));
        self.effects(
            binding,
            &state,
            effects,
            Actor::system(),
            now,
            &mut transition,
            stage,
        )
        .await?;
        if outcome == Outcome::Applied {
            transition.object = Some((state, expected));
        }
        stage.record(&transition);
        Ok((outcome.into(), Some(transition)))
    }

    async fn apply_condition(
        &self,
        binding: &Binding,
        event: &CanonicalEvent,
        condition: &str,
        status: bool,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<EventOutcome, Error> {
        let scope = SyncScope {
            provider: binding.provider.clone(),
            binding: binding.id.clone(),
            interface: None,
            kind: None,
        };
        let mut state = self
            .store
            .get_sync_state(&scope)
            .await?
            .unwrap_or_else(|| SyncState::new(scope));
        let changed = state
            .conditions
            .get(condition)
            .is_none_or(|c| c.status != status);
        if changed {
            state.conditions.insert(
                condition.to_owned(),
                Condition {
                    status,
                    reason: reason.to_owned(),
                    since: now,
                },
            );
        }
        state.last_delivery_id = Some(event.delivery_id.clone());
        let detail =
            serde_json::json!({ "condition": condition, "status": status, "reason": reason });
        let audit = Self::audit(
            binding,
            now,
            AuditSubject::Binding(binding.id.to_string()),
            "binding.condition",
            &format!("provider:{}", binding.provider),
            detail,
        );
        let transition = Transition {
            events: vec![event.key()],
            sync_states: vec![state],
            audit: vec![audit],
            ..Transition::default()
        };
        Ok(match self.store.commit(transition).await? {
            CommitOutcome::AlreadyApplied => EventOutcome::Duplicate,
            _ if changed => EventOutcome::Applied,
            _ => EventOutcome::Unchanged,
        })
    }

    /// Turns projection effects into write intents, conflicts and audit records.
    // The step's inputs are all distinct and short-lived; bundling them would only rename.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn effects(
        &self,
        binding: &Binding,
        state: &ObjectState,
        effects: Vec<ProjectionEffect>,
        actor: Actor,
        now: DateTime<Utc>,
        t: &mut Transition,
        stage: &Stage,
    ) -> Result<(), Error> {
        for effect in effects {
            match effect {
                ProjectionEffect::CreateIntent(draft) => {
                    let approval_required = binding.policy.write_mode == WriteMode::ReviewedWrite
                        || (draft.actor.kind == "agent"
                            && binding.policy.agent_write_requires_approval);
                    let intent = WriteIntent {
                        org: binding.org.clone(),
                        interface: state.key.kind.interface(),
                        target: state.key.clone(),
                        request_digest: WriteIntent::digest_of(
                            &draft.operation,
                            &state.key,
                            &draft.fields,
                        ),
                        idempotency_key: format!("kradle:{}", draft.id),
                        id: draft.id,
                        operation: draft.operation,
                        fields: draft.fields,
                        base: draft.base,
                        source: draft.actor,
                        reason: draft.reason,
                        approval_required,
                        approved_by: None,
                        phase: if approval_required {
                            WritePhase::AwaitingApproval
                        } else {
                            WritePhase::Pending
                        },
                        attempts: 0,
                        last_error: None,
                        next_attempt_at: None,
                        confirm_by: None,
                        result_native_id: None,
                        conflict: None,
                        created_at: now,
                        updated_at: now,
                    };
                    intent.validate()?;
                    let detail = serde_json::json!({ "operation": intent.operation, "request_digest": intent.request_digest, "reason": intent.reason, "phase": intent.phase });
                    t.audit.push(Self::audit(
                        binding,
                        now,
                        AuditSubject::WriteIntent(intent.id.clone()),
                        "write_intent.created",
                        &format!("{}:{}", intent.source.kind, intent.source.name),
                        detail,
                    ));
                    t.write_intents.push(intent);
                }
                ProjectionEffect::IntentConfirmed(id) => {
                    self.intent_input(binding, &id, IntentInput::Confirmed, now, t, stage)
                        .await?
                }
                ProjectionEffect::IntentConflicted { intent, conflict } => {
                    self.intent_input(
                        binding,
                        &intent,
                        IntentInput::Conflicted { conflict },
                        now,
                        t,
                        stage,
                    )
                    .await?
                }
                ProjectionEffect::IntentSuperseded(id) => {
                    self.intent_input(binding, &id, IntentInput::Superseded, now, t, stage)
                        .await?
                }
                ProjectionEffect::RaiseConflict(conflict) => {
                    let detail = serde_json::json!({ "reason": conflict.reason, "fields": conflict.fields.iter().map(|f| &f.field).collect::<Vec<_>>(), "policy": conflict.policy, "resolved": !conflict.is_open() });
                    let who = format!("{}:{}", actor.kind, actor.name);
                    t.audit.push(Self::audit(
                        binding,
                        now,
                        AuditSubject::Conflict(conflict.id.clone()),
                        "conflict.raised",
                        &who,
                        detail,
                    ));
                    t.conflicts.retain(|c| c.id != conflict.id);
                    t.conflicts.push(conflict);
                }
                ProjectionEffect::ScheduleHydrate => {
                    let detail = serde_json::json!({ "object": state.key.to_string() });
                    t.audit.push(Self::audit(
                        binding,
                        now,
                        AuditSubject::Object(state.key.to_string()),
                        "hydrate.scheduled",
                        "engine",
                        detail,
                    ));
                }
            }
        }
        Ok(())
    }

    /// Steps one write intent (found in the transition or the store) and records it.
    pub(super) async fn intent_input(
        &self,
        binding: &Binding,
        id: &str,
        input: IntentInput,
        now: DateTime<Utc>,
        t: &mut Transition,
        stage: &Stage,
    ) -> Result<(), Error> {
        let current = match t.write_intents.iter().position(|i| i.id == id) {
            Some(pos) => Some(t.write_intents.remove(pos)),
            None => match stage.intent(id) {
                Some(intent) => Some(intent.clone()),
                None => self.store.get_write_intent(id).await?,
            },
        };
        let Some(intent) = current else { return Ok(()) };
        let before = intent.phase;
        let (intent, effects) = step_intent(intent, input, now, &self.config.intents);
        if intent.phase != before {
            let detail = serde_json::json!({ "from": before, "to": intent.phase, "conflict": intent.conflict });
            t.audit.push(Self::audit(
                binding,
                now,
                AuditSubject::WriteIntent(intent.id.clone()),
                &format!("write_intent.{}", intent.phase.as_str()),
                "engine",
                detail,
            ));
        }
        let raise = effects.contains(&IntentEffect::RaiseUnconfirmed);
        let intent_id = intent.id.clone();
        let target = intent.target.clone();
        let fields = intent.fields.clone();
        t.write_intents.push(intent);
        if raise {
            let conflict = ConflictRecord {
                id: uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("{intent_id}\u{1f}unconfirmed").as_bytes()).to_string(),
                org: binding.org.clone(),
                object: target,
                fields: fields
                    .into_iter()
                    .map(|(field, local)| crate::conflict::FieldConflict { field, base: serde_json::Value::Null, local, external: serde_json::Value::Null })
                    .collect(),
                reason: ConflictReason::UnconfirmedWrite,
                message: Some("the provider accepted the write but never showed it before the confirmation deadline".into()),
                policy: binding.policy.conflict_resolution,
                write_intent: Some(intent_id.clone()),
                resolution: None,
                detected_at: now,
            };
            let conflict_id = conflict.id.clone();
            t.conflicts.push(conflict);
            Box::pin(self.intent_input(
                binding,
                &intent_id,
                IntentInput::Conflicted {
                    conflict: conflict_id,
                },
                now,
                t,
                stage,
            ))
            .await?;
        }
        Ok(())
    }

    /// Records a change the host made to an object. Depending on ownership it becomes a
    /// write intent (bidirectional, local-owned) or a conflict (mirror).
    pub async fn local_change(
        &self,
        binding: &BindingId,
        kind: ResourceKind,
        native_id: &NativeId,
        fields: Fields,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Outcome, Error> {
        self.local(
            binding,
            kind,
            native_id,
            ProjectionInput::LocalChange {
                fields,
                actor: actor.clone(),
            },
            actor,
            now,
        )
        .await
    }

    /// Asks for a command on an object that changes none of its fields: rerun or cancel a
    /// pipeline or a job ([`WriteOperation::Rerun`], [`WriteOperation::Cancel`]), merge a
    /// pull request only if its head is still the commit it was reviewed at
    /// ([`WriteOperation::Merge`]). It becomes a write intent like a local change (approval
    /// rules included), whatever the object's ownership mode.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use kradle_sync_core::{Engine, Error, NativeId, ResourceKind, write_intent::{Actor, WriteOperation}};
    /// # async fn rerun(engine: &Engine) -> Result<(), Error> {
    /// engine.request_action(&"octo/repo".into(), ResourceKind::Pipeline, &NativeId::new("30433642"),
    ///     WriteOperation::Rerun, Default::default(), Actor::user("alice"), chrono::Utc::now()).await?;
    /// # Ok(()) }
    /// ```
    // The request's parts are all distinct and short-lived; bundling them would only rename.
    #[allow(clippy::too_many_arguments)]
    pub async fn request_action(
        &self,
        binding: &BindingId,
        kind: ResourceKind,
        native_id: &NativeId,
        operation: WriteOperation,
        fields: Fields,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Outcome, Error> {
        let valid = match &operation {
            WriteOperation::Merge { .. } => kind == ResourceKind::PullRequest,
            WriteOperation::Rerun | WriteOperation::Cancel => {
                matches!(kind, ResourceKind::Pipeline | ResourceKind::Job)
            }
            _ => false,
        };
        if !valid {
            return Err(Error::Validation {
                rule: "action-kind",
                detail: format!(
                    "{operation:?} is not a command on a {kind}: merge a pull_request, rerun or cancel a pipeline or job; other writes are local changes"
                ),
            });
        }
        self.local(
            binding,
            kind,
            native_id,
            ProjectionInput::Action {
                operation,
                fields,
                actor: actor.clone(),
            },
            actor,
            now,
        )
        .await
    }

    /// Records that the host deleted its copy of an object. A mirrored object is never
    /// deleted at the provider; otherwise a delete (or close) intent is created.
    pub async fn local_delete(
        &self,
        binding: &BindingId,
        kind: ResourceKind,
        native_id: &NativeId,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Outcome, Error> {
        self.local(
            binding,
            kind,
            native_id,
            ProjectionInput::LocalDelete {
                actor: actor.clone(),
            },
            actor,
            now,
        )
        .await
    }

    pub(crate) async fn local(
        &self,
        binding: &BindingId,
        kind: ResourceKind,
        native_id: &NativeId,
        input: ProjectionInput,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Outcome, Error> {
        self.local_with(binding, kind, native_id, input, actor, now, &|_, _, _| {})
            .await
    }

    /// [`local`](Self::local), and `extend` adds to the step's transition what belongs in
    /// the same commit (it sees the step's effects before they are applied).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn local_with(
        &self,
        binding: &BindingId,
        kind: ResourceKind,
        native_id: &NativeId,
        input: ProjectionInput,
        actor: Actor,
        now: DateTime<Utc>,
        extend: &(dyn Fn(&Binding, &[ProjectionEffect], &mut Transition) + Sync),
    ) -> Result<Outcome, Error> {
        let binding = self.binding(binding)?;
        let mode = binding
            .ownership(kind)
            .ok_or_else(|| Error::UnsupportedInterface {
                provider: binding.provider.clone(),
                interface: kind.interface(),
            })?;
        let key = ObjectKey {
            provider: binding.provider.clone(),
            binding: binding.id.clone(),
            kind,
            native_id: native_id.clone(),
        };
        let can_delete = self
            .registry
            .get(&binding.provider)
            .map(|d| d.capabilities.can_delete)
            .unwrap_or(false);
        for _ in 0..self.config.max_contention_retries {
            let loaded = self.store.load_object(&key).await?;
            let expected = loaded.as_ref().map(|s| s.revision);
            let state =
                loaded.unwrap_or_else(|| ObjectState::new(key.clone(), binding.org.clone()));
            let ctx = ProjectionContext {
                mode,
                policy: &binding.policy,
                can_delete,
                now,
            };
            let (state, outcome, effects) = step_projection(state, input.clone(), &ctx)?;
            let mut transition = Transition::default();
            let action = match input {
                ProjectionInput::LocalDelete { .. } => "local.deleted",
                ProjectionInput::Created { .. } => "local.created",
                ProjectionInput::Action { .. } => "local.action_requested",
                ProjectionInput::Settled { .. } => "local.write_settled",
                ProjectionInput::Resolve { .. } => "local.conflict_decided",
                _ => "local.changed",
            };
            let detail = serde_json::json!({ "outcome": outcome, "mode": mode });
            transition.audit.push(Self::audit(
                binding,
                now,
                AuditSubject::Object(key.to_string()),
                action,
                &format!("{}:{}", actor.kind, actor.name),
                detail,
            ));
            extend(binding, &effects, &mut transition);
            self.effects(
                binding,
                &state,
                effects,
                actor.clone(),
                now,
                &mut transition,
                &Stage::default(),
            )
            .await?;
            if outcome == Outcome::Applied {
                transition.object = Some((state, expected));
            }
            match self.store.commit(transition).await? {
                CommitOutcome::RevisionConflict => continue,
                _ => return Ok(outcome),
            }
        }
        Err(Error::Contention { key })
    }
}

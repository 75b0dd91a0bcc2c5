//! The write-intent lifecycle driven by whoever calls the provider.

use chrono::{DateTime, Duration as ChronoDuration, Utc};

use crate::audit::AuditSubject;
use crate::conflict::{ConflictReason, ConflictRecord};
use crate::projection::ProjectionInput;
use crate::store::Transition;
use crate::write_intent::{Actor, IntentInput, WriteIntent, WriteOperation, WritePhase};
use crate::{BindingId, Error, ExternalVersion, NativeId};

use super::Engine;
use super::deliveries::jitter_for;
use super::stage::Stage;

/// How a write attempt went, as reported by whoever called the provider.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum WriteResult {
    /// The provider accepted the write.
    Succeeded {
        /// The created object's native id, for creates.
        native_id: Option<NativeId>,
        /// The version in the provider's response.
        version: ExternalVersion,
    },
    /// The attempt failed.
    Failed {
        /// What failed (never a secret).
        error: String,
        /// Whether retrying may succeed.
        retryable: bool,
        /// The server's `Retry-After`, if any.
        retry_after: Option<std::time::Duration>,
    },
    /// The provider refused the write's precondition (409/412/422, stale head SHA).
    PreconditionFailed {
        /// The provider's message.
        message: String,
    },
    /// The provider cannot perform the write as asked: a conflict with this reason, and the
    /// provider's form of the fields.
    Conflicted {
        /// Why.
        reason: ConflictReason,
        /// The provider's message.
        message: String,
        /// The provider's form of the fields the write touches.
        external: crate::Fields,
    },
}

impl Engine {
    /// Approves a write intent that awaits approval.
    pub async fn approve_write(
        &self,
        id: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<WriteIntent, Error> {
        self.write_step(id, IntentInput::Approve { by: by.to_owned() }, now)
            .await
    }

    /// Asks `provider` for a self-hosted runner registration token for the binding's target
    /// and hands it to the caller. It is a write the engine routes but never queues: the
    /// token is short-lived and is never stored; the request is audited without it.
    pub async fn register_runner(
        &self,
        binding: &BindingId,
        provider: &dyn crate::Provider,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<crate::RunnerRegistration, Error> {
        let binding = self.binding(binding)?;
        let cicd = provider.cicd().ok_or_else(|| Error::UnsupportedInterface {
            provider: binding.provider.clone(),
            interface: crate::Interface::Cicd,
        })?;
        let registration = cicd.register_runner(&binding.target).await?;
        let detail = serde_json::json!({ "expires_at": registration.expires_at });
        self.commit_audit(Self::audit(
            binding,
            now,
            AuditSubject::Binding(binding.id.to_string()),
            "runner.registration_issued",
            &format!("{}:{}", actor.kind, actor.name),
            detail,
        ))
        .await?;
        Ok(registration)
    }

    /// Rejects a write intent that awaits approval: it is dead-lettered with the reason, and
    /// never sent.
    pub async fn reject_write(
        &self,
        id: &str,
        by: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<WriteIntent, Error> {
        let input = IntentInput::Reject {
            by: by.to_owned(),
            reason: reason.to_owned(),
        };
        self.write_step(id, input, now).await
    }

    /// Marks a write intent as being applied by the caller; it must be `pending`,
    /// `approved` or `failed` (and due).
    pub async fn start_write(&self, id: &str, now: DateTime<Utc>) -> Result<WriteIntent, Error> {
        self.write_step(id, IntentInput::Start, now).await
    }

    /// Records how a write attempt went. A precondition failure becomes a conflict record
    /// with the provider's message; retryable failures are scheduled with backoff and end
    /// dead-lettered after the bounded attempts.
    pub async fn finish_write(
        &self,
        id: &str,
        result: WriteResult,
        now: DateTime<Utc>,
    ) -> Result<WriteIntent, Error> {
        let input = match result {
            WriteResult::Succeeded { native_id, version } => {
                let intent = self.store.get_write_intent(id).await?;
                // A created object is observed under its new native id; the host's local
                // ref records it and drops the fields the create carried.
                if let (Some(intent), Some(created)) = (&intent, &native_id)
                    && intent.operation == WriteOperation::Create
                    && *created != intent.target.native_id
                {
                    let input = ProjectionInput::Created {
                        intent: intent.id.clone(),
                        native_id: created.clone(),
                    };
                    self.local(
                        &intent.target.binding,
                        intent.target.kind,
                        &intent.target.native_id,
                        input,
                        Actor::system(),
                        now,
                    )
                    .await?;
                }
                IntentInput::Succeeded { native_id, version }
            }
            WriteResult::Failed {
                error,
                retryable,
                retry_after,
            } => {
                let attempts = self
                    .store
                    .get_write_intent(id)
                    .await?
                    .map_or(0, |i| i.attempts);
                IntentInput::Failed {
                    error,
                    retryable,
                    retry_after,
                    jitter: jitter_for(id, attempts),
                }
            }
            WriteResult::PreconditionFailed { message } => {
                return self
                    .conflicted_write(
                        id,
                        ConflictReason::PreconditionFailed,
                        message,
                        crate::Fields::new(),
                        now,
                    )
                    .await;
            }
            WriteResult::Conflicted {
                reason,
                message,
                external,
            } => {
                return self
                    .conflicted_write(id, reason, message, external, now)
                    .await;
            }
        };
        self.write_step(id, input, now).await
    }

    /// A write the provider refused for `reason`: a conflict record with the host's and the
    /// provider's values, audited, and the intent conflicted.
    async fn conflicted_write(
        &self,
        id: &str,
        reason: ConflictReason,
        message: String,
        external: crate::Fields,
        now: DateTime<Utc>,
    ) -> Result<WriteIntent, Error> {
        {
            {
                let intent =
                    self.store
                        .get_write_intent(id)
                        .await?
                        .ok_or_else(|| Error::Store {
                            store: "engine",
                            message: format!("write intent {id} is not stored"),
                            source: None,
                        })?;
                let binding = self.binding(&intent.target.binding)?;
                let conflict = ConflictRecord {
                    id: uuid::Uuid::new_v5(
                        &uuid::Uuid::NAMESPACE_OID,
                        format!(
                            "{id}\u{1f}{}\u{1f}{}",
                            conflict_tag(reason),
                            intent.attempts
                        )
                        .as_bytes(),
                    )
                    .to_string(),
                    org: intent.org.clone(),
                    object: intent.target.clone(),
                    fields: intent
                        .fields
                        .iter()
                        .map(|(f, v)| crate::conflict::FieldConflict {
                            field: f.clone(),
                            base: intent.base.get(f).cloned().unwrap_or_default(),
                            local: v.clone(),
                            external: external.get(f).cloned().unwrap_or_default(),
                        })
                        .collect(),
                    reason,
                    message: Some(message.clone()),
                    policy: binding.policy.conflict_resolution,
                    write_intent: Some(id.to_owned()),
                    resolution: None,
                    detected_at: now,
                };
                let mut t = Transition::default();
                let detail = serde_json::json!({ "reason": conflict.reason, "message": message });
                t.audit.push(Self::audit(
                    binding,
                    now,
                    AuditSubject::Conflict(conflict.id.clone()),
                    "conflict.raised",
                    &format!("provider:{}", binding.provider),
                    detail,
                ));
                let input = IntentInput::PreconditionFailed {
                    message,
                    conflict: conflict.id.clone(),
                };
                t.conflicts.push(conflict);
                self.intent_input(binding, id, input, now, &mut t, &Stage::default())
                    .await?;
                let intent = t.write_intents.last().cloned();
                self.store.commit(t).await?;
                intent.ok_or_else(|| Error::Store {
                    store: "engine",
                    message: format!("write intent {id} vanished"),
                    source: None,
                })
            }
        }
    }

    pub(super) async fn write_step(
        &self,
        id: &str,
        input: IntentInput,
        now: DateTime<Utc>,
    ) -> Result<WriteIntent, Error> {
        let intent = self
            .store
            .get_write_intent(id)
            .await?
            .ok_or_else(|| Error::Store {
                store: "engine",
                message: format!("write intent {id} is not stored; list intents to find its id"),
                source: None,
            })?;
        let binding = self.binding(&intent.target.binding)?;
        let mut t = Transition::default();
        self.intent_input(binding, id, input, now, &mut t, &Stage::default())
            .await?;
        let intent = t.write_intents.iter().find(|i| i.id == id).cloned();
        self.store.commit(t).await?;
        intent.ok_or_else(|| Error::Store {
            store: "engine",
            message: format!("write intent {id} vanished"),
            source: None,
        })
    }

    /// Confirms a write whose provider response already shows every field it wrote (a
    /// create has no earlier object to be observed through).
    pub(crate) async fn confirm_write(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<WriteIntent, Error> {
        self.write_step(id, IntentInput::Confirmed, now).await
    }

    /// Lets time pass: applied writes still unconfirmed past their deadline become
    /// conflicts (invariant 5). Returns how many were raised.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<u32, Error> {
        let mut raised = 0;
        for intent in self
            .store
            .list_write_intents(&crate::store::Filter::all(), Some(WritePhase::Applied))
            .await?
        {
            if intent.confirm_by.is_some_and(|d| now >= d) {
                let binding = self.binding(&intent.target.binding)?;
                let mut t = Transition::default();
                self.intent_input(
                    binding,
                    &intent.id,
                    IntentInput::Tick,
                    now,
                    &mut t,
                    &Stage::default(),
                )
                .await?;
                raised += u32::from(!t.conflicts.is_empty());
                self.store.commit(t).await?;
            }
        }
        Ok(raised)
    }

    /// Seconds until `at`, or zero when it has passed.
    pub fn until(now: DateTime<Utc>, at: DateTime<Utc>) -> std::time::Duration {
        (at - now)
            .max(ChronoDuration::zero())
            .to_std()
            .unwrap_or_default()
    }
}

/// The part of a conflict id that names why (stable: ids of precondition conflicts predate
/// the other reasons).
fn conflict_tag(reason: ConflictReason) -> String {
    match reason {
        ConflictReason::PreconditionFailed => "precondition".to_owned(),
        other => serde_json::to_value(other)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("{other:?}")),
    }
}

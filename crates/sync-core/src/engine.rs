//! The engine: drives the pure state machines over a [`SyncStore`] without owning a
//! runtime. Every method is an `async fn` that any executor can poll; time comes in as an
//! argument.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::audit::{AuditRecord, AuditSubject};
use crate::conflict::{ConflictReason, ConflictRecord};
use crate::delivery::{
    DeliveryInput, DeliveryPhase, DeliveryRecord, payload_digest, step_delivery,
};
use crate::projection::{
    ObjectState, Outcome, ProjectionContext, ProjectionEffect, ProjectionInput, step_projection,
};
use crate::store::{
    CommitOutcome, Condition, Inserted, SyncScope, SyncState, SyncStore, Transition,
};
use crate::write_intent::{
    Actor, IntentEffect, IntentInput, IntentSettings, WriteIntent, WritePhase, step_intent,
};
use crate::{
    Authority, Binding, BindingId, CanonicalEvent, Change, DeliveryId, Error, ExternalVersion,
    Fields, NativeId, ObjectKey, ProviderKind, ProviderRegistry, Removal, ResourceKind,
    RetryPolicy, WebhookAdapter, WebhookRequest, WriteMode,
};

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Largest webhook body accepted, in bytes (GitHub caps payloads at 25 MB).
    pub max_body_bytes: usize,
    /// Retries of delivery processing.
    pub retry: RetryPolicy,
    /// Write-intent retries and confirmation timeout.
    pub intents: IntentSettings,
    /// How often a step is retried when the object changes concurrently.
    pub max_contention_retries: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 25 * 1024 * 1024,
            retry: RetryPolicy::default(),
            intents: IntentSettings::default(),
            max_contention_retries: 16,
        }
    }
}

/// What happened to a received webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receipt {
    /// Verified and stored; process it next.
    Accepted(DeliveryId),
    /// Already stored: nothing changes (invariant 1).
    Duplicate(DeliveryId),
}

/// What processing one event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventOutcome {
    /// The projection changed.
    Applied,
    /// Older than what is known.
    Stale,
    /// Nothing new.
    Unchanged,
    /// This event key was applied before.
    Duplicate,
    /// The binding does not sync this kind's interface.
    Skipped,
}

impl From<Outcome> for EventOutcome {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Applied => EventOutcome::Applied,
            Outcome::Stale => EventOutcome::Stale,
            Outcome::Unchanged => EventOutcome::Unchanged,
        }
    }
}

/// What processing one delivery did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProcessReport {
    /// The delivery's phase afterwards.
    pub phase: Option<DeliveryPhase>,
    /// Events normalized.
    pub events: u32,
    /// Events that changed the projection.
    pub applied: u32,
    /// Events older than the projection.
    pub stale: u32,
    /// Why nothing was produced, for out-of-scope events.
    pub ignored: Option<String>,
    /// The error that failed, rejected or dead-lettered it.
    pub error: Option<String>,
}

/// What a backfill pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BackfillReport {
    /// Objects read.
    pub objects: u32,
    /// Objects skipped (listed under the kind but not of it).
    pub skipped: u32,
    /// Events that changed the projection.
    pub applied: u32,
    /// Events older than the projection.
    pub stale: u32,
    /// Objects tombstoned because a complete listing no longer has them.
    pub tombstoned: u32,
}

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
}

/// Keeps a delivery to its binding's target. A delivery about one repository or project
/// (`target` set) must be the binding's, or it is foreign as a whole. A delivery with no
/// such target (an installation naming several repositories) keeps only the events for the
/// binding's target, and is foreign only when none is.
fn scope_to_binding(
    mut n: crate::NormalizedWebhook,
    binding: &Binding,
) -> (crate::NormalizedWebhook, Option<crate::ExternalTarget>) {
    let ours = |t: &crate::ExternalTarget| t.same_as(&binding.target);
    if let Some(target) = &n.target {
        let foreign = (!ours(target)).then(|| target.clone());
        return (n, foreign);
    }
    let before = n.events.len();
    let first_foreign = n
        .events
        .iter()
        .filter_map(|e| e.target.clone())
        .find(|t| !ours(t));
    n.events.retain(|e| e.target.as_ref().is_none_or(ours));
    let foreign = if before > 0 && n.events.is_empty() {
        first_foreign
    } else {
        None
    };
    (n, foreign)
}

/// A deterministic jitter draw in `[0, 1]` for retry number `attempt` of `id`: retries
/// of different work spread out, and a run can be reproduced.
pub fn jitter_for(id: &str, attempt: u32) -> f64 {
    let hash = Sha256::digest(format!("{id}#{attempt}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&hash[..8]);
    u64::from_be_bytes(bytes) as f64 / u64::MAX as f64
}

/// Builds an [`Engine`].
pub struct EngineBuilder {
    store: Arc<dyn SyncStore>,
    registry: ProviderRegistry,
    adapters: BTreeMap<ProviderKind, Arc<dyn WebhookAdapter>>,
    bindings: Vec<Binding>,
    config: EngineConfig,
}

impl EngineBuilder {
    /// Registers a provider's webhook adapter and its descriptor.
    pub fn adapter(mut self, adapter: Arc<dyn WebhookAdapter>) -> Self {
        let descriptor = adapter.descriptor().clone();
        self.adapters.insert(descriptor.kind.clone(), adapter);
        self.registry.register(descriptor);
        self
    }

    /// Adds a binding (validated by [`build`](Self::build)).
    pub fn binding(mut self, binding: Binding) -> Self {
        self.bindings.push(binding);
        self
    }

    /// Sets the configuration.
    pub fn config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }

    /// Validates every binding against the registry and builds the engine.
    pub fn build(self) -> Result<Engine, Error> {
        let mut bindings = BTreeMap::new();
        for binding in self.bindings {
            binding.validate(&self.registry)?;
            bindings.insert(binding.id.clone(), binding);
        }
        Ok(Engine {
            store: self.store,
            registry: self.registry,
            adapters: self.adapters,
            bindings,
            config: self.config,
        })
    }
}

/// The sync engine.
///
/// ```
/// # use std::sync::Arc;
/// # use kradle_sync_core::{Engine, SyncStore};
/// # fn wire(store: Arc<dyn SyncStore>) -> Result<Engine, kradle_sync_core::Error> {
/// let engine = Engine::builder(store).build()?;
/// assert_eq!(engine.bindings().count(), 0);
/// # Ok(engine) }
/// ```
pub struct Engine {
    store: Arc<dyn SyncStore>,
    registry: ProviderRegistry,
    adapters: BTreeMap<ProviderKind, Arc<dyn WebhookAdapter>>,
    bindings: BTreeMap<BindingId, Binding>,
    config: EngineConfig,
}

fn key_of(binding: &Binding, event: &CanonicalEvent) -> ObjectKey {
    ObjectKey {
        provider: event.provider.clone(),
        binding: binding.id.clone(),
        kind: event.kind,
        native_id: event.native_id.clone(),
    }
}

impl Engine {
    /// Starts building an engine over a store.
    pub fn builder(store: Arc<dyn SyncStore>) -> EngineBuilder {
        EngineBuilder {
            store,
            registry: ProviderRegistry::default(),
            adapters: BTreeMap::new(),
            bindings: Vec::new(),
            config: EngineConfig::default(),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn SyncStore> {
        &self.store
    }

    /// The provider registry.
    pub fn registry(&self) -> &ProviderRegistry {
        &self.registry
    }

    /// Bindings, sorted by id.
    pub fn bindings(&self) -> impl Iterator<Item = &Binding> {
        self.bindings.values()
    }

    /// A binding by id.
    pub fn binding(&self, id: &BindingId) -> Result<&Binding, Error> {
        self.bindings.get(id).ok_or_else(|| Error::UnknownBinding {
            binding: id.clone(),
        })
    }

    /// Adds a binding after validating it.
    pub fn add_binding(&mut self, binding: Binding) -> Result<(), Error> {
        binding.validate(&self.registry)?;
        self.bindings.insert(binding.id.clone(), binding);
        Ok(())
    }

    fn adapter(&self, provider: &ProviderKind) -> Result<&Arc<dyn WebhookAdapter>, Error> {
        self.adapters
            .get(provider)
            .ok_or_else(|| Error::UnknownProvider {
                provider: provider.clone(),
            })
    }

    fn audit(
        binding: &Binding,
        now: DateTime<Utc>,
        subject: AuditSubject,
        action: &str,
        actor: &str,
        detail: serde_json::Value,
    ) -> AuditRecord {
        AuditRecord {
            at: now,
            org: binding.org.clone(),
            provider: binding.provider.clone(),
            binding: binding.id.clone(),
            subject,
            action: action.to_owned(),
            actor: actor.to_owned(),
            detail,
        }
    }

    async fn commit_audit(&self, record: AuditRecord) -> Result<(), Error> {
        self.store
            .commit(Transition {
                audit: vec![record],
                ..Transition::default()
            })
            .await
            .map(|_| ())
    }

    /// Verifies and stores a webhook for `binding` (the receiver's half). A request that
    /// fails verification, is too large or names no binding is refused with a typed error,
    /// audited, and never stored; a repeated delivery id is a [`Receipt::Duplicate`].
    pub async fn receive(
        &self,
        binding: &BindingId,
        request: WebhookRequest,
        now: DateTime<Utc>,
    ) -> Result<Receipt, Error> {
        let binding = self.binding(binding)?;
        let adapter = self.adapter(&binding.provider)?;
        let verified = self.verify(binding, adapter.as_ref(), &request);
        let verified = match verified {
            Ok(v) => v,
            Err(err) => {
                let detail = serde_json::json!({ "error": err.to_string(), "payload_digest": payload_digest(&request.body) });
                let subject = AuditSubject::Delivery(
                    request
                        .headers
                        .get(
                            adapter
                                .descriptor()
                                .delivery_header
                                .as_deref()
                                .unwrap_or(""),
                        )
                        .unwrap_or("unknown")
                        .to_owned(),
                );
                self.commit_audit(Self::audit(
                    binding,
                    now,
                    subject,
                    "delivery.rejected",
                    "engine",
                    detail,
                ))
                .await?;
                return Err(err);
            }
        };
        let record = DeliveryRecord {
            provider: binding.provider.clone(),
            delivery_id: verified.delivery_id.clone(),
            binding: binding.id.clone(),
            org: binding.org.clone(),
            event: verified.event,
            action: None,
            received_at: now,
            signature_algorithm: verified.algorithm,
            verified: false,
            payload_digest: payload_digest(&request.body),
            body: request.body,
            phase: DeliveryPhase::Received,
            attempts: 0,
            last_error: None,
            note: None,
            next_attempt_at: None,
            events: 0,
        };
        let (record, _) = step_delivery(record, DeliveryInput::Verified, now, &self.config.retry);
        let (record, _) = step_delivery(record, DeliveryInput::Enqueue, now, &self.config.retry);
        match self.store.insert_delivery(&record).await? {
            Inserted::New => {
                let detail = serde_json::json!({ "event": record.event, "payload_digest": record.payload_digest });
                let subject = AuditSubject::Delivery(record.delivery_id.to_string());
                self.commit_audit(Self::audit(
                    binding,
                    now,
                    subject,
                    "delivery.accepted",
                    &format!("provider:{}", binding.provider),
                    detail,
                ))
                .await?;
                Ok(Receipt::Accepted(record.delivery_id))
            }
            Inserted::Duplicate(_) => Ok(Receipt::Duplicate(record.delivery_id)),
        }
    }

    fn verify(
        &self,
        binding: &Binding,
        adapter: &dyn WebhookAdapter,
        request: &WebhookRequest,
    ) -> Result<crate::VerifiedWebhook, Error> {
        if request.body.len() > self.config.max_body_bytes {
            return Err(Error::PayloadTooLarge {
                size: request.body.len(),
                limit: self.config.max_body_bytes,
            });
        }
        let descriptor = adapter.descriptor();
        match &binding.webhook_secret {
            Some(secret) => adapter.verify_webhook(request, secret),
            None if descriptor.signature.needs_secret() => Err(Error::Validation {
                rule: "webhook-secret",
                detail: format!(
                    "binding {} has no webhook secret; configure one to accept {} webhooks",
                    binding.id, binding.provider
                ),
            }),
            None => adapter.verify_webhook(request, &crate::Secret::new("")),
        }
    }

    /// Processes a stored delivery (the worker's half): normalizes it, checks that it
    /// belongs to its binding's target, applies its events and records the outcome.
    /// Malformed payloads are dead-lettered at once; other failures are retried with
    /// backoff until the retry policy dead-letters them.
    pub async fn process(
        &self,
        provider: &ProviderKind,
        id: &DeliveryId,
        now: DateTime<Utc>,
    ) -> Result<ProcessReport, Error> {
        let record = self
            .store
            .get_delivery(provider, id)
            .await?
            .ok_or_else(|| Error::Store {
                store: "engine",
                message: format!("delivery {id} of {provider} is not stored"),
                source: None,
            })?;
        let binding = self.binding(&record.binding)?;
        let adapter = self.adapter(provider)?;
        let (mut record, _) = step_delivery(record, DeliveryInput::Claim, now, &self.config.retry);
        if record.phase != DeliveryPhase::Processing {
            return Ok(ProcessReport {
                phase: Some(record.phase),
                ..ProcessReport::default()
            });
        }
        let request = WebhookRequest {
            headers: crate::Headers::from_pairs(
                [
                    adapter
                        .descriptor()
                        .event_header
                        .clone()
                        .map(|h| (h, record.event.clone())),
                    adapter
                        .descriptor()
                        .delivery_header
                        .clone()
                        .map(|h| (h, record.delivery_id.to_string())),
                ]
                .into_iter()
                .flatten(),
            ),
            body: std::mem::take(&mut record.body),
        };
        let normalized = adapter.normalize_webhook(&request);
        record.body = request.body;
        let mut report = ProcessReport::default();
        let input = match normalized {
            Err(err) => {
                report.error = Some(err.to_string());
                DeliveryInput::Failed {
                    error: err.to_string(),
                    retryable: err.is_retryable(),
                    jitter: jitter_for(id.as_str(), record.attempts),
                }
            }
            Ok(n) => {
                record.action = n.action.clone();
                let (n, foreign) = scope_to_binding(n, binding);
                if let Some(target) = foreign {
                    let err = Error::CrossOrg {
                        binding: binding.id.clone(),
                        org: binding.org.clone(),
                        expected: binding.target.to_string(),
                        actual: target.to_string(),
                    };
                    report.error = Some(err.to_string());
                    DeliveryInput::Rejected {
                        reason: err.to_string(),
                    }
                } else {
                    report.events = u32::try_from(n.events.len()).unwrap_or(u32::MAX);
                    report.ignored = n.ignored.clone();
                    let mut failure = None;
                    for event in n.events {
                        match self.apply_event(binding, event, now).await {
                            Ok(EventOutcome::Applied) => report.applied += 1,
                            Ok(EventOutcome::Stale) => report.stale += 1,
                            Ok(_) => {}
                            Err(err) => {
                                failure = Some(err);
                                break;
                            }
                        }
                    }
                    match failure {
                        None => DeliveryInput::Processed {
                            events: report.events,
                            note: n.ignored,
                        },
                        Some(err) => {
                            report.error = Some(err.to_string());
                            DeliveryInput::Failed {
                                error: err.to_string(),
                                retryable: err.is_retryable(),
                                jitter: jitter_for(id.as_str(), record.attempts),
                            }
                        }
                    }
                }
            }
        };
        let (record, _) = step_delivery(record, input, now, &self.config.retry);
        report.phase = Some(record.phase);
        let detail = serde_json::json!({ "phase": record.phase, "events": report.events, "applied": report.applied, "error": report.error, "ignored": report.ignored });
        let audit = Self::audit(
            binding,
            now,
            AuditSubject::Delivery(id.to_string()),
            "delivery.processed",
            "engine",
            detail,
        );
        self.store
            .commit(Transition {
                deliveries: vec![record],
                audit: vec![audit],
                ..Transition::default()
            })
            .await?;
        Ok(report)
    }

    /// Receives and, when new, processes a webhook: what a single-process host calls per
    /// request. Returns the receipt and, for an accepted delivery, the processing report.
    pub async fn ingest(
        &self,
        binding: &BindingId,
        request: WebhookRequest,
        now: DateTime<Utc>,
    ) -> Result<(Receipt, Option<ProcessReport>), Error> {
        let provider = self.binding(binding)?.provider.clone();
        match self.receive(binding, request, now).await? {
            Receipt::Accepted(id) => {
                let report = self.process(&provider, &id, now).await?;
                Ok((Receipt::Accepted(id), Some(report)))
            }
            duplicate => Ok((duplicate, None)),
        }
    }

    /// Replays a stored delivery: a new processing attempt of the same delivery (events
    /// already applied are not applied again).
    pub async fn replay_delivery(
        &self,
        provider: &ProviderKind,
        id: &DeliveryId,
        now: DateTime<Utc>,
    ) -> Result<ProcessReport, Error> {
        let record = self
            .store
            .get_delivery(provider, id)
            .await?
            .ok_or_else(|| Error::Store {
                store: "engine",
                message: format!("delivery {id} of {provider} is not stored"),
                source: None,
            })?;
        let (record, _) = step_delivery(record, DeliveryInput::Replay, now, &self.config.retry);
        self.store
            .commit(Transition {
                deliveries: vec![record],
                ..Transition::default()
            })
            .await?;
        self.process(provider, id, now).await
    }

    /// Applies one canonical event in a binding: the common path of webhooks, backfills
    /// and hydrates.
    pub async fn apply_event(
        &self,
        binding: &Binding,
        event: CanonicalEvent,
        now: DateTime<Utc>,
    ) -> Result<EventOutcome, Error> {
        if let Some(target) = event
            .target
            .as_ref()
            .filter(|t| !t.same_as(&binding.target))
        {
            return Err(Error::CrossOrg {
                binding: binding.id.clone(),
                org: binding.org.clone(),
                expected: binding.target.to_string(),
                actual: target.to_string(),
            });
        }
        let event_key = event.key();
        if self.store.event_applied(&event_key).await? {
            return Ok(EventOutcome::Duplicate);
        }
        // Conditions are about the binding, whichever interfaces it syncs.
        if let Change::Condition {
            condition,
            status,
            reason,
        } = &event.change
        {
            return self
                .apply_condition(binding, &event, condition, *status, reason, now)
                .await;
        }
        let Some(mode) = binding.ownership(event.kind) else {
            return Ok(EventOutcome::Skipped);
        };
        let key = key_of(binding, &event);
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
            let (state, outcome, effects) = step_projection(
                state,
                ProjectionInput::Observe(Box::new(event.clone())),
                &ctx,
            )?;
            let mut transition = Transition {
                events: vec![event_key.clone()],
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
            )
            .await?;
            if outcome == Outcome::Applied {
                transition.object = Some((state, expected));
            }
            match self.store.commit(transition).await? {
                CommitOutcome::Committed => return Ok(outcome.into()),
                CommitOutcome::AlreadyApplied => return Ok(EventOutcome::Duplicate),
                CommitOutcome::RevisionConflict => continue,
            }
        }
        Err(Error::Contention { key })
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
    async fn effects(
        &self,
        binding: &Binding,
        state: &ObjectState,
        effects: Vec<ProjectionEffect>,
        actor: Actor,
        now: DateTime<Utc>,
        t: &mut Transition,
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
                    self.intent_input(binding, &id, IntentInput::Confirmed, now, t)
                        .await?
                }
                ProjectionEffect::IntentConflicted { intent, conflict } => {
                    self.intent_input(
                        binding,
                        &intent,
                        IntentInput::Conflicted { conflict },
                        now,
                        t,
                    )
                    .await?
                }
                ProjectionEffect::IntentSuperseded(id) => {
                    self.intent_input(binding, &id, IntentInput::Superseded, now, t)
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
    async fn intent_input(
        &self,
        binding: &Binding,
        id: &str,
        input: IntentInput,
        now: DateTime<Utc>,
        t: &mut Transition,
    ) -> Result<(), Error> {
        let current = match t.write_intents.iter().position(|i| i.id == id) {
            Some(pos) => Some(t.write_intents.remove(pos)),
            None => self.store.get_write_intent(id).await?,
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

    async fn local(
        &self,
        binding: &BindingId,
        kind: ResourceKind,
        native_id: &NativeId,
        input: ProjectionInput,
        actor: Actor,
        now: DateTime<Utc>,
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
            self.effects(
                binding,
                &state,
                effects,
                actor.clone(),
                now,
                &mut transition,
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

    /// Applies objects as the provider's REST API listed them: authoritative observations
    /// that settle ambiguous fields. With `complete`, the listing is the whole set of the
    /// kind, and known objects missing from it become tombstones.
    pub async fn backfill(
        &self,
        binding: &BindingId,
        kind: ResourceKind,
        objects: &[serde_json::Value],
        complete: bool,
        now: DateTime<Utc>,
    ) -> Result<BackfillReport, Error> {
        let binding = self.binding(binding)?;
        let adapter = self.adapter(&binding.provider)?;
        let read_id = DeliveryId::new(format!(
            "backfill:{}",
            payload_digest(
                serde_json::to_string(objects)
                    .unwrap_or_default()
                    .as_bytes()
            )
        ));
        let mut report = BackfillReport::default();
        let mut seen = std::collections::BTreeSet::new();
        let mut high_watermark = None;
        for object in objects {
            report.objects += 1;
            let Some(event) = adapter.parse_rest_object(kind, object, &read_id)? else {
                report.skipped += 1;
                continue;
            };
            seen.insert(event.native_id.clone());
            if let Change::Observed { version, .. } = &event.change {
                high_watermark = high_watermark.max(version.updated_at);
            }
            match self.apply_event(binding, event, now).await? {
                EventOutcome::Applied => report.applied += 1,
                EventOutcome::Stale => report.stale += 1,
                _ => {}
            }
        }
        if complete {
            let filter = crate::store::Filter {
                binding: Some(binding.id.clone()),
                kind: Some(kind),
                ..Default::default()
            };
            for state in self.store.list_objects(&filter).await? {
                if seen.contains(&state.key.native_id)
                    || state.is_tombstone()
                    || !state.exists_externally()
                {
                    continue;
                }
                let event = CanonicalEvent {
                    provider: binding.provider.clone(),
                    delivery_id: read_id.clone(),
                    interface: kind.interface(),
                    kind,
                    native_id: state.key.native_id.clone(),
                    action: "missing".into(),
                    event_time: None,
                    target: None,
                    link: Default::default(),
                    authority: Authority::Authoritative,
                    change: Change::Removed {
                        version: ExternalVersion {
                            etag: None,
                            ..state.version()
                        },
                        removal: Removal::Missing,
                    },
                };
                if self.apply_event(binding, event, now).await? == EventOutcome::Applied {
                    report.tombstoned += 1;
                }
            }
        }
        let scope = SyncScope {
            provider: binding.provider.clone(),
            binding: binding.id.clone(),
            interface: Some(kind.interface()),
            kind: Some(kind),
        };
        let mut state = self
            .store
            .get_sync_state(&scope)
            .await?
            .unwrap_or_else(|| SyncState::new(scope));
        state.high_watermark = state.high_watermark.max(high_watermark);
        if complete {
            state.last_full_backfill_at = Some(now);
        }
        self.store
            .commit(Transition {
                sync_states: vec![state],
                ..Transition::default()
            })
            .await?;
        Ok(report)
    }

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
                        format!("{id}\u{1f}precondition\u{1f}{}", intent.attempts).as_bytes(),
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
                            external: serde_json::Value::Null,
                        })
                        .collect(),
                    reason: ConflictReason::PreconditionFailed,
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
                self.intent_input(binding, id, input, now, &mut t).await?;
                let intent = t.write_intents.last().cloned();
                self.store.commit(t).await?;
                return intent.ok_or_else(|| Error::Store {
                    store: "engine",
                    message: format!("write intent {id} vanished"),
                    source: None,
                });
            }
        };
        self.write_step(id, input, now).await
    }

    async fn write_step(
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
        self.intent_input(binding, id, input, now, &mut t).await?;
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
                self.intent_input(binding, &intent.id, IntentInput::Tick, now, &mut t)
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

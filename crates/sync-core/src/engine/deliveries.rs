//! Receiving, verifying and processing webhook deliveries.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::audit::AuditSubject;
use crate::delivery::{
    DeliveryInput, DeliveryPhase, DeliveryRecord, payload_digest, step_delivery,
};
use crate::store::{CommitOutcome, Inserted, Transition};
use crate::{
    Binding, BindingId, Change, DeliveryId, Error, ProviderKind, WebhookAdapter, WebhookRequest,
};

use super::stage::Stage;
use super::{Engine, EventOutcome, ProcessReport, Receipt, key_of};

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

impl Engine {
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
        let verified = self.verify(binding, adapter.as_ref(), &request, now);
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
        let ordering_key = adapter
            .ordering_key(&request)
            .map(|k| format!("{}/{}/{k}", binding.provider, binding.id));
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
            ordering_key,
        };
        let (record, _) = step_delivery(record, DeliveryInput::Verified, now, &self.config.retry);
        let (record, _) = step_delivery(record, DeliveryInput::Enqueue, now, &self.config.retry);
        let detail =
            serde_json::json!({ "event": record.event, "payload_digest": record.payload_digest });
        let accepted = Self::audit(
            binding,
            now,
            AuditSubject::Delivery(record.delivery_id.to_string()),
            "delivery.accepted",
            &format!("provider:{}", binding.provider),
            detail,
        );
        // The delivery and its audit record are stored together (one transaction where
        // the store can), and a duplicate stores neither.
        match self
            .store
            .insert_delivery_audited(&record, accepted)
            .await?
        {
            Inserted::New => Ok(Receipt::Accepted(record.delivery_id)),
            Inserted::Duplicate(_) => Ok(Receipt::Duplicate(record.delivery_id)),
        }
    }

    fn verify(
        &self,
        binding: &Binding,
        adapter: &dyn WebhookAdapter,
        request: &WebhookRequest,
        now: DateTime<Utc>,
    ) -> Result<crate::VerifiedWebhook, Error> {
        if request.body.len() > self.config.max_body_bytes {
            return Err(Error::PayloadTooLarge {
                size: request.body.len(),
                limit: self.config.max_body_bytes,
            });
        }
        let descriptor = adapter.descriptor();
        let scheme = binding.signature_scheme(descriptor);
        let key = |secret| {
            crate::WebhookKey::new(secret, scheme, now)
                .with_issuer(binding.webhook_issuer.as_deref())
        };
        match &binding.webhook_secret {
            Some(secret) => adapter.verify_webhook(request, &key(secret)),
            None if scheme.needs_secret() => Err(Error::Validation {
                rule: "webhook-secret",
                detail: format!(
                    "binding {} has no webhook secret; configure one to accept {} webhooks",
                    binding.id, binding.provider
                ),
            }),
            None => adapter.verify_webhook(request, &key(&crate::Secret::default())),
        }
    }

    /// Claims a stored delivery in memory, normalizes it and checks its scope. Nothing is
    /// written yet.
    async fn prepare(
        &self,
        provider: &ProviderKind,
        id: &DeliveryId,
        now: DateTime<Utc>,
    ) -> Result<Prepared, Error> {
        let record = self.store.get_delivery(provider, id).await?;
        self.prepare_record(provider, id, record, now)
    }

    /// [`prepare`](Self::prepare) of a delivery already read from the store (`None`: it
    /// is not stored, an error).
    fn prepare_record(
        &self,
        provider: &ProviderKind,
        id: &DeliveryId,
        record: Option<DeliveryRecord>,
        now: DateTime<Utc>,
    ) -> Result<Prepared, Error> {
        let record = record.ok_or_else(|| Error::Store {
            store: "engine",
            message: format!("delivery {id} of {provider} is not stored"),
            source: None,
        })?;
        let binding = self.binding(&record.binding)?;
        let adapter = self.adapter(provider)?;
        let (mut record, _) = step_delivery(record, DeliveryInput::Claim, now, &self.config.retry);
        if record.phase != DeliveryPhase::Processing {
            return Ok(Prepared::NotClaimable(ProcessReport {
                phase: Some(record.phase),
                ..ProcessReport::default()
            }));
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
        match normalized {
            Err(err) => {
                report.error = Some(err.to_string());
                let input = DeliveryInput::Failed {
                    error: err.to_string(),
                    retryable: err.is_retryable(),
                    jitter: jitter_for(id.as_str(), record.attempts),
                };
                Ok(Prepared::Finished {
                    record,
                    report,
                    input,
                })
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
                    let input = DeliveryInput::Rejected {
                        reason: err.to_string(),
                    };
                    return Ok(Prepared::Finished {
                        record,
                        report,
                        input,
                    });
                }
                report.events = u32::try_from(n.events.len()).unwrap_or(u32::MAX);
                report.ignored = n.ignored.clone();
                Ok(Prepared::Events {
                    record,
                    report,
                    events: n.events,
                    note: n.ignored,
                })
            }
        }
    }

    /// The final record and audit of a processed delivery.
    fn finish(
        &self,
        record: DeliveryRecord,
        mut report: ProcessReport,
        input: DeliveryInput,
        now: DateTime<Utc>,
    ) -> Result<(Transition, ProcessReport), Error> {
        let binding = self.binding(&record.binding)?;
        let id = record.delivery_id.to_string();
        let (record, _) = step_delivery(record, input, now, &self.config.retry);
        report.phase = Some(record.phase);
        let detail = serde_json::json!({ "phase": record.phase, "events": report.events, "applied": report.applied, "error": report.error, "ignored": report.ignored });
        let audit = Self::audit(
            binding,
            now,
            AuditSubject::Delivery(id),
            "delivery.processed",
            "engine",
            detail,
        );
        let transition = Transition {
            deliveries: vec![record],
            audit: vec![audit],
            ..Transition::default()
        };
        Ok((transition, report))
    }

    fn failed(record: &DeliveryRecord, report: &mut ProcessReport, err: &Error) -> DeliveryInput {
        report.error = Some(err.to_string());
        DeliveryInput::Failed {
            error: err.to_string(),
            retryable: err.is_retryable(),
            jitter: jitter_for(record.delivery_id.as_str(), record.attempts),
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
        let (record, report, input) = match self.prepare(provider, id, now).await? {
            Prepared::NotClaimable(report) => return Ok(report),
            Prepared::Finished {
                record,
                report,
                input,
            } => (record, report, input),
            Prepared::Events {
                record,
                mut report,
                events,
                note,
            } => {
                let binding = self.binding(&record.binding)?;
                let mut failure = None;
                for event in events {
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
                let input = match failure {
                    None => DeliveryInput::Processed {
                        events: report.events,
                        note,
                    },
                    Some(err) => Self::failed(&record, &mut report, &err),
                };
                (record, report, input)
            }
        };
        let (transition, report) = self.finish(record, report, input, now)?;
        self.store.commit(transition).await?;
        Ok(report)
    }

    /// Processes several stored deliveries (a worker's claimed batch) with batched reads
    /// and commits, with the outcome [`process`](Self::process) would give each one by
    /// one. The deliveries, their events' keys and their objects are read with one call
    /// each ([`SyncStore::get_deliveries`](crate::SyncStore::get_deliveries),
    /// [`events_applied`](crate::SyncStore::events_applied),
    /// [`load_objects`](crate::SyncStore::load_objects)); every event's transition is
    /// staged against those reads and the batch, then all are committed with one
    /// [`SyncStore::commit_many`](crate::SyncStore::commit_many). A delivery with a single
    /// transition (most are: one event) finishes in it, its final record and audit
    /// committed atomically with its event; the others' final records follow in a second
    /// `commit_many`. A delivery whose staged transitions did not all commit (another
    /// worker changed one of its objects meanwhile) is processed again on its own, where
    /// its objects are read afresh and applied events are skipped by their keys.
    pub async fn process_batch(
        &self,
        deliveries: &[(ProviderKind, DeliveryId)],
        now: DateTime<Utc>,
    ) -> Result<Vec<ProcessReport>, Error> {
        struct Pending {
            record: DeliveryRecord,
            report: ProcessReport,
            note: Option<String>,
            staged: Vec<(usize, EventOutcome)>,
            failure: Option<Error>,
            /// The report when the delivery's final record rides in the transition of
            /// its only event (and that transition commits).
            attached: Option<ProcessReport>,
        }
        let mut reports: Vec<Option<ProcessReport>> = vec![None; deliveries.len()];
        let mut finals: Vec<(usize, Transition)> = Vec::new();
        let mut pending: Vec<(usize, Pending)> = Vec::new();
        let records = self.store.get_deliveries(deliveries).await?;
        if records.len() != deliveries.len() {
            return Err(Error::Store {
                store: "engine",
                message: format!(
                    "the store returned {} deliveries for {} ids; its get_deliveries must answer every id, in order",
                    records.len(),
                    deliveries.len()
                ),
                source: None,
            });
        }
        let prepared = deliveries
            .iter()
            .zip(records)
            .map(|((provider, id), record)| self.prepare_record(provider, id, record, now))
            .collect::<Result<Vec<_>, Error>>()?;
        let mut stage = Stage::default();
        self.read_ahead(&prepared, &mut stage).await;
        let mut transitions: Vec<Transition> = Vec::new();
        for (n, prepared) in prepared.into_iter().enumerate() {
            match prepared {
                Prepared::NotClaimable(report) => reports[n] = Some(report),
                Prepared::Finished {
                    record,
                    report,
                    input,
                } => {
                    let (t, report) = self.finish(record, report, input, now)?;
                    finals.push((n, t));
                    reports[n] = Some(report);
                }
                Prepared::Events {
                    record,
                    report,
                    events,
                    note,
                } => {
                    let binding = self.binding(&record.binding)?;
                    let mut p = Pending {
                        record,
                        report,
                        note,
                        staged: Vec::new(),
                        failure: None,
                        attached: None,
                    };
                    for event in events {
                        if matches!(event.change, Change::Condition { .. }) {
                            // Binding conditions are rare and read-modify-write one state:
                            // they are applied at once rather than staged.
                            match self.apply_event(binding, event, now).await {
                                Ok(outcome) => p.staged.push((usize::MAX, outcome)),
                                Err(err) => {
                                    p.failure = Some(err);
                                    break;
                                }
                            }
                            continue;
                        }
                        match self.stage_event(binding, &event, now, &mut stage).await {
                            Ok((outcome, Some(t))) => {
                                p.staged.push((transitions.len(), outcome));
                                transitions.push(t);
                            }
                            Ok((outcome, None)) => p.staged.push((usize::MAX, outcome)),
                            Err(err) => {
                                p.failure = Some(err);
                                break;
                            }
                        }
                    }
                    // A delivery whose events staged one transition finishes in it: its
                    // record and audit commit with its event, atomically, or not at all
                    // (then it is finished below, or processed again, as the outcome says).
                    let mut only = p.staged.iter().filter(|(i, _)| *i != usize::MAX);
                    if let (Some(&(i, _)), None, None) = (only.next(), only.next(), &p.failure)
                        && let Some(t) = transitions.get_mut(i)
                    {
                        let mut report = p.report.clone();
                        tally(&mut report, &p.staged, |_| true);
                        let input = DeliveryInput::Processed {
                            events: report.events,
                            note: p.note.clone(),
                        };
                        let (fin, report) = self.finish(p.record.clone(), report, input, now)?;
                        t.deliveries.extend(fin.deliveries);
                        t.audit.extend(fin.audit);
                        p.attached = Some(report);
                    }
                    pending.push((n, p));
                }
            }
        }
        let outcomes = self.store.commit_many(transitions).await?;
        let mut retry: Vec<usize> = Vec::new();
        for (n, mut p) in pending {
            if let Some(report) = p.attached.take()
                && p.staged.iter().all(|(i, _)| {
                    *i == usize::MAX || outcomes.get(*i) == Some(&CommitOutcome::Committed)
                })
            {
                reports[n] = Some(report);
                continue;
            }
            let all_committed = p.staged.iter().all(|(i, _)| {
                *i == usize::MAX
                    || matches!(
                        outcomes.get(*i),
                        Some(CommitOutcome::Committed | CommitOutcome::AlreadyApplied)
                    )
            });
            if !all_committed && p.failure.is_none() {
                retry.push(n);
                continue;
            }
            tally(&mut p.report, &p.staged, |i| {
                outcomes.get(i) == Some(&CommitOutcome::Committed)
            });
            let input = match p.failure.take() {
                None => DeliveryInput::Processed {
                    events: p.report.events,
                    note: p.note,
                },
                Some(err) => Self::failed(&p.record, &mut p.report, &err),
            };
            let (t, report) = self.finish(p.record, p.report, input, now)?;
            finals.push((n, t));
            reports[n] = Some(report);
        }
        finals.sort_by_key(|(n, _)| *n);
        self.store
            .commit_many(finals.into_iter().map(|(_, t)| t).collect())
            .await?;
        for n in retry {
            if let Some((provider, id)) = deliveries.get(n) {
                reports[n] = Some(self.process(provider, id, now).await?);
            }
        }
        Ok(reports.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// Reads ahead, in one round trip each, what staging a batch's events asks the store:
    /// whether each event key was applied, and each object's state. A read that fails is
    /// left out: staging then asks the store itself, and a failure there fails only the
    /// delivery it belongs to, as it does without the read-ahead.
    async fn read_ahead(&self, prepared: &[Prepared], stage: &mut Stage) {
        let mut event_keys = Vec::new();
        let mut object_keys = Vec::new();
        let (mut seen_events, mut seen_objects) = (HashSet::new(), HashSet::new());
        for p in prepared {
            let Prepared::Events { record, events, .. } = p else {
                continue;
            };
            let Ok(binding) = self.binding(&record.binding) else {
                continue;
            };
            for event in events {
                if matches!(event.change, Change::Condition { .. }) {
                    continue;
                }
                let key = event.key();
                if seen_events.insert(key.clone()) {
                    event_keys.push(key);
                }
                let key = key_of(binding, event);
                if seen_objects.insert(key.clone()) {
                    object_keys.push(key);
                }
            }
        }
        if event_keys.is_empty() {
            return;
        }
        let (applied, objects) = futures::join!(
            self.store.events_applied(&event_keys),
            self.store.load_objects(&object_keys)
        );
        if let Ok(applied) = applied
            && applied.len() == event_keys.len()
        {
            stage.read_ahead_events(event_keys, applied);
        }
        if let Ok(objects) = objects
            && objects.len() == object_keys.len()
        {
            stage.read_ahead_objects(object_keys, objects);
        }
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
}

/// Counts a delivery's applied and stale events into its report: those applied at once
/// (index `usize::MAX`) and those whose transition (by index) `committed`.
fn tally(
    report: &mut ProcessReport,
    staged: &[(usize, EventOutcome)],
    committed: impl Fn(usize) -> bool,
) {
    for (i, outcome) in staged {
        if *i != usize::MAX && !committed(*i) {
            continue;
        }
        match outcome {
            EventOutcome::Applied => report.applied += 1,
            EventOutcome::Stale => report.stale += 1,
            _ => {}
        }
    }
}

/// A delivery claimed and normalized, before anything is written.
enum Prepared {
    /// Someone else has it, or it is finished.
    NotClaimable(ProcessReport),
    /// Nothing to apply: it failed or was rejected.
    Finished {
        record: DeliveryRecord,
        report: ProcessReport,
        input: DeliveryInput,
    },
    /// Its events, to apply.
    Events {
        record: DeliveryRecord,
        report: ProcessReport,
        events: Vec<crate::CanonicalEvent>,
        note: Option<String>,
    },
}

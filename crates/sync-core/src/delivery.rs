//! Webhook delivery records and their lifecycle: Received → Verified → Queued → Processing
//! → Processed | Failed → (retry) | DeadLettered. Replay starts a new processing attempt
//! of the same delivery; it never creates a new delivery.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{BindingId, DeliveryId, OrgId, ProviderKind, RetryPolicy};

/// Phase of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryPhase {
    /// Received, not yet verified.
    Received,
    /// Signature verified.
    Verified,
    /// Waiting for a worker.
    Queued,
    /// A worker is processing it.
    Processing,
    /// Done: its events are applied (or it was out of scope, see `note`).
    Processed,
    /// The last attempt failed; it will be retried.
    Failed,
    /// Out of attempts, or failed permanently (malformed payload).
    DeadLettered,
    /// Refused after acceptance: its payload belongs to another binding's target.
    Rejected,
}

impl DeliveryPhase {
    /// The phase's name in output.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryPhase::Received => "received",
            DeliveryPhase::Verified => "verified",
            DeliveryPhase::Queued => "queued",
            DeliveryPhase::Processing => "processing",
            DeliveryPhase::Processed => "processed",
            DeliveryPhase::Failed => "failed",
            DeliveryPhase::DeadLettered => "dead_lettered",
            DeliveryPhase::Rejected => "rejected",
        }
    }
}

/// The seed's `ExternalWebhookDelivery`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeliveryRecord {
    /// Provider type.
    pub provider: ProviderKind,
    /// The provider's delivery id.
    pub delivery_id: DeliveryId,
    /// Binding it arrived for.
    pub binding: BindingId,
    /// Org.
    pub org: OrgId,
    /// The provider's event name.
    pub event: String,
    /// The payload's action, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Arrival time.
    pub received_at: DateTime<Utc>,
    /// The signature scheme that verified it.
    pub signature_algorithm: String,
    /// Whether the signature verified.
    pub verified: bool,
    /// `sha256:` digest of the raw body.
    pub payload_digest: String,
    /// The raw body, kept for processing and replay.
    #[serde(skip)]
    pub body: Vec<u8>,
    /// Phase.
    pub phase: DeliveryPhase,
    /// Processing attempts.
    pub attempts: u32,
    /// The last error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Why it produced nothing (out-of-scope event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// When a failed delivery is retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Canonical events it produced.
    pub events: u32,
    /// Deliveries with the same key are processed one at a time, in arrival order (the
    /// provider's primary object of the payload, scoped to the binding). `None`: the
    /// store's default (the binding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering_key: Option<String>,
}

impl DeliveryRecord {
    /// A delivery of `event` from `provider` for `binding` in `org`, received at
    /// `received_at` with this raw body: phase `received`, not yet verified, no attempts.
    pub fn new(
        provider: impl Into<ProviderKind>,
        delivery_id: impl Into<DeliveryId>,
        binding: impl Into<BindingId>,
        org: impl Into<OrgId>,
        event: impl Into<String>,
        received_at: DateTime<Utc>,
        body: Vec<u8>,
    ) -> Self {
        Self {
            provider: provider.into(),
            delivery_id: delivery_id.into(),
            binding: binding.into(),
            org: org.into(),
            event: event.into(),
            action: None,
            received_at,
            signature_algorithm: String::new(),
            verified: false,
            payload_digest: payload_digest(&body),
            body,
            phase: DeliveryPhase::Received,
            attempts: 0,
            last_error: None,
            note: None,
            next_attempt_at: None,
            events: 0,
            ordering_key: None,
        }
    }
}

/// The `sha256:<hex>` digest of a payload.
pub fn payload_digest(body: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(body)))
}

/// An input to the delivery state machine.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DeliveryInput {
    /// The signature verified.
    Verified,
    /// Put it on the queue.
    Enqueue,
    /// A worker claims it.
    Claim,
    /// Processing finished.
    Processed {
        /// Events produced.
        events: u32,
        /// Why nothing was produced, for out-of-scope events.
        note: Option<String>,
    },
    /// Processing failed.
    Failed {
        /// What failed.
        error: String,
        /// Whether retrying may succeed.
        retryable: bool,
        /// The random draw in `[0, 1]` for jitter.
        jitter: f64,
    },
    /// The payload belongs to another target.
    Rejected {
        /// Why.
        reason: String,
    },
    /// Process it again (manual replay): a new attempt of the same delivery.
    Replay,
}

/// What the delivery state machine asks its driver to do.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryEffect {
    /// Hand it to a worker.
    Process,
    /// Try again at this time.
    RetryAt(DateTime<Utc>),
    /// It is dead-lettered.
    DeadLetter,
}

/// The delivery state machine: a pure function of the record, the input and the time.
/// Inputs that make no sense in the current phase leave the record as it is.
pub fn step_delivery(
    mut record: DeliveryRecord,
    input: DeliveryInput,
    now: DateTime<Utc>,
    retry: &RetryPolicy,
) -> (DeliveryRecord, Vec<DeliveryEffect>) {
    use DeliveryPhase::*;
    let mut effects = Vec::new();
    match input {
        DeliveryInput::Verified if record.phase == Received => {
            record.verified = true;
            record.phase = Verified;
        }
        DeliveryInput::Enqueue if matches!(record.phase, Verified | Failed) => {
            record.phase = Queued;
            effects.push(DeliveryEffect::Process);
        }
        DeliveryInput::Claim if matches!(record.phase, Queued | Failed) => {
            record.phase = Processing;
            record.attempts += 1;
            record.next_attempt_at = None;
        }
        DeliveryInput::Processed { events, note } if record.phase == Processing => {
            record.phase = Processed;
            record.events = events;
            record.note = note;
            record.last_error = None;
        }
        DeliveryInput::Failed {
            error,
            retryable,
            jitter,
        } if record.phase == Processing => {
            record.last_error = Some(error);
            if retryable && retry.may_retry(record.attempts) {
                let wait = retry.delay(record.attempts, jitter);
                let at = now + ChronoDuration::from_std(wait).unwrap_or(ChronoDuration::MAX);
                record.phase = Failed;
                record.next_attempt_at = Some(at);
                effects.push(DeliveryEffect::RetryAt(at));
            } else {
                record.phase = DeadLettered;
                effects.push(DeliveryEffect::DeadLetter);
            }
        }
        DeliveryInput::Rejected { reason } if record.phase == Processing => {
            record.phase = Rejected;
            record.last_error = Some(reason);
        }
        DeliveryInput::Replay
            if matches!(record.phase, Processed | Failed | DeadLettered | Rejected) =>
        {
            record.phase = Queued;
            record.next_attempt_at = None;
            effects.push(DeliveryEffect::Process);
        }
        _ => {}
    }
    (record, effects)
}

/// The transition that dead-letters a delivery no worker finishes: claimed `claims` times
/// without any outcome recorded (each worker that took it crashed, was killed, or lost its
/// lease). A new attempt that failed permanently, through [`step_delivery`], and its audit
/// record `delivery.dead_lettered` by `worker`. Queues call it when a claim would hand
/// such a poison message out once more.
pub fn dead_letter_unfinished(
    delivery: DeliveryRecord,
    claims: u32,
    worker: &str,
    now: DateTime<Utc>,
) -> crate::Transition {
    let previous = delivery
        .last_error
        .as_deref()
        .map(|e| format!("; the last recorded error was: {e}"))
        .unwrap_or_default();
    let error = format!(
        "claimed {claims} times without an outcome: every worker that took it stopped before finishing (crashed, killed, or lost its lease){previous}; fix the cause, then replay it (`kradle-sync deliveries replay`)"
    );
    let policy = RetryPolicy::default();
    let (record, _) = step_delivery(delivery, DeliveryInput::Claim, now, &policy);
    let (record, _) = step_delivery(
        record,
        DeliveryInput::Failed {
            error: error.clone(),
            retryable: false,
            jitter: 0.0,
        },
        now,
        &policy,
    );
    let audit = crate::audit::AuditRecord {
        at: now,
        org: record.org.clone(),
        provider: record.provider.clone(),
        binding: record.binding.clone(),
        subject: crate::audit::AuditSubject::Delivery(record.delivery_id.to_string()),
        action: "delivery.dead_lettered".into(),
        actor: format!("worker:{worker}"),
        detail: serde_json::json!({ "phase": record.phase, "claims": claims, "error": error }),
    };
    let mut transition = crate::Transition::default();
    transition.deliveries.push(record);
    transition.audit.push(audit);
    transition
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> DeliveryRecord {
        DeliveryRecord {
            provider: "github".into(),
            delivery_id: "d1".into(),
            binding: "acme/repo".into(),
            org: "acme".into(),
            event: "issues".into(),
            action: None,
            received_at: DateTime::UNIX_EPOCH,
            signature_algorithm: "hmac-sha256".into(),
            verified: false,
            payload_digest: payload_digest(b"{}"),
            body: b"{}".to_vec(),
            phase: DeliveryPhase::Received,
            attempts: 0,
            last_error: None,
            note: None,
            next_attempt_at: None,
            events: 0,
            ordering_key: None,
        }
    }

    fn run(r: DeliveryRecord, inputs: Vec<DeliveryInput>) -> DeliveryRecord {
        inputs.into_iter().fold(r, |r, i| {
            step_delivery(r, i, DateTime::UNIX_EPOCH, &RetryPolicy::default()).0
        })
    }

    #[test]
    fn happy_path_and_replay_is_a_new_attempt() {
        use DeliveryInput::*;
        let r = run(
            record(),
            vec![
                Verified,
                Enqueue,
                Claim,
                Processed {
                    events: 2,
                    note: None,
                },
            ],
        );
        assert_eq!(
            (r.phase, r.attempts, r.events),
            (DeliveryPhase::Processed, 1, 2)
        );
        let r = run(r, vec![Replay, Claim]);
        assert_eq!(
            (r.phase, r.attempts, r.delivery_id.as_str()),
            (DeliveryPhase::Processing, 2, "d1")
        );
    }

    #[test]
    fn permanent_failure_dead_letters_at_once() {
        use DeliveryInput::*;
        let r = run(
            record(),
            vec![
                Verified,
                Enqueue,
                Claim,
                Failed {
                    error: "malformed".into(),
                    retryable: false,
                    jitter: 0.5,
                },
            ],
        );
        assert_eq!(r.phase, DeliveryPhase::DeadLettered);
        assert_eq!(r.last_error.as_deref(), Some("malformed"));
    }

    #[test]
    fn out_of_phase_inputs_change_nothing() {
        let r = record();
        let (after, effects) = step_delivery(
            r.clone(),
            DeliveryInput::Processed {
                events: 1,
                note: None,
            },
            DateTime::UNIX_EPOCH,
            &RetryPolicy::default(),
        );
        assert_eq!((after, effects.len()), (r, 0));
    }
}

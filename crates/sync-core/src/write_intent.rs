//! Write intents and their lifecycle: Pending → AwaitingApproval → Approved → Applying →
//! Applied (awaiting confirmation) → Confirmed | Conflicted | Failed → DeadLettered.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Error, ExternalVersion, Fields, Interface, NativeId, ObjectKey, OrgId, RetryPolicy};

/// What a write does at the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
#[non_exhaustive]
pub enum WriteOperation {
    /// Create the object with `fields`.
    Create,
    /// Set `fields` on the object.
    Update,
    /// Delete the object.
    Delete,
    /// Close or archive the object (for providers that cannot delete).
    Close,
    /// Merge a pull request, only if its head is still this commit.
    Merge {
        /// The head SHA the merge was reviewed at.
        expected_head_sha: String,
    },
    /// Rerun a pipeline or a job.
    Rerun,
    /// Cancel a pipeline or a job.
    Cancel,
}

/// Why an intent exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentReason {
    /// A change made in the host.
    LocalChange,
    /// Reverting external drift of a local-owned object.
    DriftRevert,
    /// Applying a conflict resolution that prefers the local value.
    ConflictResolution,
}

/// Phase of a write intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WritePhase {
    /// Created, not yet applied.
    Pending,
    /// Waits for an approval.
    AwaitingApproval,
    /// Approved, not yet applied.
    Approved,
    /// A worker is applying it.
    Applying,
    /// The provider accepted it; waiting for a webhook or read-back to confirm.
    Applied,
    /// The provider's state shows the write.
    Confirmed,
    /// It met a conflict; see its conflict record.
    Conflicted,
    /// The last attempt failed; it will be retried.
    Failed,
    /// Out of attempts, rejected, or failed permanently.
    DeadLettered,
    /// A later local change replaced all its fields before it was confirmed.
    Superseded,
}

impl WritePhase {
    /// Whether the intent is finished.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            WritePhase::Confirmed
                | WritePhase::Conflicted
                | WritePhase::DeadLettered
                | WritePhase::Superseded
        )
    }

    /// The phase's name in output.
    pub fn as_str(self) -> &'static str {
        match self {
            WritePhase::Pending => "pending",
            WritePhase::AwaitingApproval => "awaiting_approval",
            WritePhase::Approved => "approved",
            WritePhase::Applying => "applying",
            WritePhase::Applied => "applied",
            WritePhase::Confirmed => "confirmed",
            WritePhase::Conflicted => "conflicted",
            WritePhase::Failed => "failed",
            WritePhase::DeadLettered => "dead_lettered",
            WritePhase::Superseded => "superseded",
        }
    }
}

/// Who asked for a write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// `user`, `agent` or `system`.
    pub kind: String,
    /// Name.
    pub name: String,
}

impl Actor {
    /// A person.
    pub fn user(name: impl Into<String>) -> Self {
        Self {
            kind: "user".into(),
            name: name.into(),
        }
    }

    /// An automated agent (its writes may need approval).
    pub fn agent(name: impl Into<String>) -> Self {
        Self {
            kind: "agent".into(),
            name: name.into(),
        }
    }

    /// The engine itself.
    pub fn system() -> Self {
        Self {
            kind: "system".into(),
            name: "kradle-sync".into(),
        }
    }
}

/// The seed's `ExternalWriteIntent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WriteIntent {
    /// Stable id.
    pub id: String,
    /// Org.
    pub org: OrgId,
    /// Interface.
    pub interface: Interface,
    /// The object written.
    pub target: ObjectKey,
    /// What to do.
    pub operation: WriteOperation,
    /// Desired values.
    pub fields: Fields,
    /// The values the change was based on.
    pub base: Fields,
    /// Who asked.
    pub source: Actor,
    /// Why it exists.
    pub reason: IntentReason,
    /// `sha256:` digest of the request (operation, target, fields).
    pub request_digest: String,
    /// Key embedded in created objects so a retried create finds its first attempt.
    pub idempotency_key: String,
    /// Whether approval is required.
    pub approval_required: bool,
    /// Who approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// Phase.
    pub phase: WritePhase,
    /// Attempts made.
    pub attempts: u32,
    /// The last error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When to try again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When an applied write becomes a conflict if still unconfirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_by: Option<DateTime<Utc>>,
    /// The native id the provider gave a created object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_native_id: Option<NativeId>,
    /// The conflict it ended in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last transition time.
    pub updated_at: DateTime<Utc>,
}

impl WriteIntent {
    /// The digest of (operation, target, fields) in `sha256:<hex>` form.
    pub fn digest_of(operation: &WriteOperation, target: &ObjectKey, fields: &Fields) -> String {
        let doc = serde_json::json!({ "operation": operation, "target": target, "fields": fields });
        let hash = Sha256::digest(doc.to_string().as_bytes());
        format!("sha256:{}", hex::encode(hash))
    }

    /// The seed's rule that a write intent never carries a raw secret: field names that
    /// name credentials and values that look like provider tokens or private keys are
    /// refused.
    pub fn validate(&self) -> Result<(), Error> {
        const NAMES: [&str; 5] = ["token", "password", "secret", "private_key", "api_key"];
        const PREFIXES: [&str; 8] = [
            "ghp_",
            "gho_",
            "ghs_",
            "ghu_",
            "github_pat_",
            "glpat-",
            "xoxb-",
            "-----BEGIN",
        ];
        for (name, value) in &self.fields {
            let lower = name.to_ascii_lowercase();
            let bad_name = NAMES.iter().any(|n| lower.contains(n));
            let bad_value = value.as_str().is_some_and(|s| {
                PREFIXES.iter().any(|p| s.trim_start().starts_with(p))
                    || s.contains("PRIVATE KEY-----")
            });
            if bad_name || bad_value {
                return Err(Error::Validation {
                    rule: "no-raw-secret",
                    detail: format!(
                        "write intent field `{name}` carries what looks like a credential; reference the secret by name instead"
                    ),
                });
            }
        }
        Ok(())
    }
}

/// An input to the write-intent state machine.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum IntentInput {
    /// A person or policy approved the write.
    Approve {
        /// Who.
        by: String,
    },
    /// A person rejected it.
    Reject {
        /// Who.
        by: String,
        /// Why.
        reason: String,
    },
    /// A worker starts applying it.
    Start,
    /// The provider accepted the write.
    Succeeded {
        /// The created object's native id, for creates.
        native_id: Option<NativeId>,
        /// The version in the provider's response.
        version: ExternalVersion,
    },
    /// The attempt failed.
    Failed {
        /// What failed.
        error: String,
        /// Whether retrying may succeed.
        retryable: bool,
        /// The server's `Retry-After`, if any.
        retry_after: Option<std::time::Duration>,
        /// The random draw in `[0, 1]` for jitter.
        jitter: f64,
    },
    /// The provider rejected the write's precondition (409/412/422, stale head SHA).
    PreconditionFailed {
        /// The provider's message.
        message: String,
        /// The conflict raised for it.
        conflict: String,
    },
    /// The provider's state now shows every field of the write.
    Confirmed,
    /// A conflict involves the intent.
    Conflicted {
        /// The conflict's id.
        conflict: String,
    },
    /// A later local change replaced all its fields.
    Superseded,
    /// Time passes: check the confirmation deadline.
    Tick,
}

/// What the write-intent state machine asks its driver to do.
#[derive(Debug, Clone, PartialEq)]
pub enum IntentEffect {
    /// Call the provider now.
    Apply,
    /// Try again at this time.
    RetryAt(DateTime<Utc>),
    /// The write is unconfirmed past its deadline: raise a conflict.
    RaiseUnconfirmed,
    /// The write is dead-lettered.
    DeadLetter {
        /// The last error.
        error: String,
    },
}

/// Settings the write-intent machine needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntentSettings {
    /// Retry policy.
    pub retry: RetryPolicy,
    /// How long an applied write may wait for confirmation.
    pub confirmation_timeout: ChronoDuration,
}

impl Default for IntentSettings {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            confirmation_timeout: ChronoDuration::minutes(15),
        }
    }
}

/// The write-intent state machine: a pure function of the intent, the input and the time.
/// Inputs that make no sense in the current phase leave the intent as it is.
pub fn step_intent(
    mut intent: WriteIntent,
    input: IntentInput,
    now: DateTime<Utc>,
    settings: &IntentSettings,
) -> (WriteIntent, Vec<IntentEffect>) {
    use WritePhase::*;
    let mut effects = Vec::new();
    let phase = intent.phase;
    match input {
        IntentInput::Approve { by } if phase == AwaitingApproval => {
            intent.approved_by = Some(by);
            intent.phase = Approved;
            effects.push(IntentEffect::Apply);
        }
        IntentInput::Reject { reason, .. } if phase == AwaitingApproval => {
            intent.phase = DeadLettered;
            intent.last_error = Some(format!("rejected: {reason}"));
            effects.push(IntentEffect::DeadLetter {
                error: format!("rejected: {reason}"),
            });
        }
        // `Applying` again: the worker of the last attempt stopped before recording how it
        // went (its claim ran out), so the outcome is unknown; the attempt count tells the
        // driver to look for what that attempt may have done before writing again. When every
        // attempt ended so, the write is a poison: it is dead-lettered instead of tried again.
        IntentInput::Start if phase == Applying && !settings.retry.may_retry(intent.attempts) => {
            let error = format!(
                "{} attempts stopped before recording how they went (the worker running each died or lost its claim); look at the provider before writing again",
                intent.attempts
            );
            intent.phase = DeadLettered;
            intent.last_error = Some(error.clone());
            effects.push(IntentEffect::DeadLetter { error });
        }
        IntentInput::Start if matches!(phase, Pending | Approved | Failed | Applying) => {
            intent.phase = Applying;
            intent.attempts += 1;
            intent.next_attempt_at = None;
        }
        IntentInput::Succeeded { native_id, .. } if phase == Applying => {
            intent.phase = Applied;
            intent.result_native_id = native_id.or(intent.result_native_id);
            intent.last_error = None;
            intent.confirm_by = Some(now + settings.confirmation_timeout);
        }
        IntentInput::Failed {
            error,
            retryable,
            retry_after,
            jitter,
        } if phase == Applying => {
            intent.last_error = Some(error.clone());
            if retryable && settings.retry.may_retry(intent.attempts) {
                let backoff = settings.retry.delay(intent.attempts, jitter);
                let wait = retry_after.map_or(backoff, |r| r.max(backoff));
                let at = now + ChronoDuration::from_std(wait).unwrap_or(ChronoDuration::MAX);
                intent.phase = Failed;
                intent.next_attempt_at = Some(at);
                effects.push(IntentEffect::RetryAt(at));
            } else {
                intent.phase = DeadLettered;
                effects.push(IntentEffect::DeadLetter { error });
            }
        }
        IntentInput::PreconditionFailed { message, conflict } if !phase.is_terminal() => {
            intent.phase = Conflicted;
            intent.last_error = Some(message);
            intent.conflict = Some(conflict);
        }
        IntentInput::Confirmed if !phase.is_terminal() => {
            intent.phase = Confirmed;
            intent.confirm_by = None;
            intent.next_attempt_at = None;
        }
        IntentInput::Conflicted { conflict } if !phase.is_terminal() => {
            intent.phase = Conflicted;
            intent.conflict = Some(conflict);
        }
        IntentInput::Superseded if !phase.is_terminal() && phase != Applying => {
            intent.phase = Superseded;
        }
        IntentInput::Tick if phase == Applied && intent.confirm_by.is_some_and(|d| now >= d) => {
            effects.push(IntentEffect::RaiseUnconfirmed);
        }
        _ => return (intent, effects),
    }
    intent.updated_at = now;
    (intent, effects)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ObjectKey, ResourceKind};

    fn intent() -> WriteIntent {
        let target = ObjectKey::new("github", "acme/repo", ResourceKind::Issue, "1");
        let fields: Fields = [("title".to_owned(), serde_json::json!("t"))]
            .into_iter()
            .collect();
        WriteIntent {
            id: "i".into(),
            org: OrgId::new("acme"),
            interface: Interface::IssueTracking,
            request_digest: WriteIntent::digest_of(&WriteOperation::Update, &target, &fields),
            target,
            operation: WriteOperation::Update,
            fields,
            base: Fields::new(),
            source: Actor::user("alice"),
            reason: IntentReason::LocalChange,
            idempotency_key: "k".into(),
            approval_required: false,
            approved_by: None,
            phase: WritePhase::Pending,
            attempts: 0,
            last_error: None,
            next_attempt_at: None,
            confirm_by: None,
            result_native_id: None,
            conflict: None,
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
        }
    }

    fn fail(retry_after: Option<std::time::Duration>) -> IntentInput {
        IntentInput::Failed {
            error: "503".into(),
            retryable: true,
            retry_after,
            jitter: 1.0,
        }
    }

    #[test]
    fn retries_then_dead_letters_after_the_bounded_attempts() {
        let settings = IntentSettings::default();
        let now = DateTime::UNIX_EPOCH;
        let mut i = intent();
        for attempt in 1..=settings.retry.max_attempts {
            (i, _) = step_intent(i, IntentInput::Start, now, &settings);
            assert_eq!(i.attempts, attempt);
            let effects;
            (i, effects) = step_intent(i, fail(None), now, &settings);
            if attempt < settings.retry.max_attempts {
                assert_eq!(i.phase, WritePhase::Failed);
                assert!(matches!(effects[..], [IntentEffect::RetryAt(_)]));
            } else {
                assert_eq!(i.phase, WritePhase::DeadLettered);
                assert!(matches!(effects[..], [IntentEffect::DeadLetter { .. }]));
            }
        }
    }

    #[test]
    fn a_write_whose_every_attempt_died_is_dead_lettered() {
        let settings = IntentSettings::default();
        let now = DateTime::UNIX_EPOCH;
        let mut i = intent();
        // Each attempt's worker dies: the next Start finds the intent still applying.
        for attempt in 1..=settings.retry.max_attempts {
            (i, _) = step_intent(i, IntentInput::Start, now, &settings);
            assert_eq!((i.phase, i.attempts), (WritePhase::Applying, attempt));
        }
        let (i, effects) = step_intent(i, IntentInput::Start, now, &settings);
        assert_eq!(i.phase, WritePhase::DeadLettered);
        assert_eq!(i.attempts, settings.retry.max_attempts);
        assert!(matches!(effects[..], [IntentEffect::DeadLetter { .. }]));
        assert!(
            i.last_error
                .as_deref()
                .unwrap_or_default()
                .contains("stopped before recording"),
            "{:?}",
            i.last_error
        );
    }

    #[test]
    fn retry_after_is_honoured_when_longer_than_backoff() {
        let settings = IntentSettings::default();
        let now = DateTime::UNIX_EPOCH;
        let (i, _) = step_intent(intent(), IntentInput::Start, now, &settings);
        let (_, effects) = step_intent(
            i,
            fail(Some(std::time::Duration::from_secs(60))),
            now,
            &settings,
        );
        assert_eq!(
            effects,
            vec![IntentEffect::RetryAt(now + ChronoDuration::seconds(60))]
        );
    }

    #[test]
    fn unconfirmed_write_past_deadline_raises() {
        let settings = IntentSettings::default();
        let now = DateTime::UNIX_EPOCH;
        let (i, _) = step_intent(intent(), IntentInput::Start, now, &settings);
        let (i, _) = step_intent(
            i,
            IntentInput::Succeeded {
                native_id: None,
                version: Default::default(),
            },
            now,
            &settings,
        );
        assert_eq!(i.phase, WritePhase::Applied);
        let (i, effects) = step_intent(
            i,
            IntentInput::Tick,
            now + ChronoDuration::minutes(1),
            &settings,
        );
        assert!(effects.is_empty());
        let (_, effects) = step_intent(
            i,
            IntentInput::Tick,
            now + ChronoDuration::minutes(16),
            &settings,
        );
        assert_eq!(effects, vec![IntentEffect::RaiseUnconfirmed]);
    }

    #[test]
    fn approval_gates_the_write() {
        let settings = IntentSettings::default();
        let now = DateTime::UNIX_EPOCH;
        let mut i = intent();
        i.phase = WritePhase::AwaitingApproval;
        let (i, effects) = step_intent(i, IntentInput::Start, now, &settings);
        assert_eq!((i.phase, effects.len()), (WritePhase::AwaitingApproval, 0));
        let (i, effects) =
            step_intent(i, IntentInput::Approve { by: "bob".into() }, now, &settings);
        assert_eq!(
            (i.phase, effects),
            (WritePhase::Approved, vec![IntentEffect::Apply])
        );
    }

    #[test]
    fn raw_secrets_are_refused() {
        let mut i = intent();
        assert!(i.validate().is_ok());
        i.fields
            .insert("body".into(), serde_json::json!("ghp_0123456789abcdef"));
        assert!(matches!(
            i.validate(),
            Err(Error::Validation {
                rule: "no-raw-secret",
                ..
            })
        ));
    }
}

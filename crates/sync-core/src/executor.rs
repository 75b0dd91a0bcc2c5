//! The write controller: applies write intents through a provider's interfaces, with the
//! lookups that keep a retried create from creating twice (invariant 4).

use chrono::{DateTime, Utc};

use crate::object::Canonical;
use crate::store::Filter;
use crate::write_intent::{WriteIntent, WriteOperation, WritePhase};
use crate::{
    Authority, Binding, CanonicalEvent, Change, DeliveryId, Engine, Error, IssuePatch,
    IssueTracking, NativeId, Observed, Provider, ResourceKind, WriteResult,
};

/// Applies write intents through a [`Provider`].
///
/// A write whose provider response arrives is `applied`, and the response is applied as an
/// authoritative read-back, which confirms the intent when the provider shows every field.
/// A create whose earlier attempt ended with an unknown outcome first asks the provider for
/// an object carrying its idempotency marker and adopts it instead of creating another.
pub struct WriteExecutor<'a> {
    engine: &'a Engine,
    provider: &'a dyn Provider,
}

fn patch_of(intent: &WriteIntent) -> IssuePatch {
    let text = |name: &str| {
        intent
            .fields
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let list = |name: &str| {
        intent.fields.get(name).and_then(|v| v.as_array()).map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
    };
    IssuePatch {
        title: text("title"),
        body: text("body"),
        state: text("state"),
        state_reason: text("state_reason"),
        labels: list("labels"),
        assignees: list("assignees"),
        milestone: intent.fields.get("milestone").map(|v| v.as_u64()),
    }
}

fn event_of<T: Canonical>(
    binding: &Binding,
    intent: &WriteIntent,
    observed: &Observed<T>,
) -> CanonicalEvent {
    CanonicalEvent {
        provider: binding.provider.clone(),
        delivery_id: DeliveryId::new(format!("write:{}:{}", intent.id, intent.attempts)),
        interface: T::KIND.interface(),
        kind: T::KIND,
        native_id: observed.native_id.clone(),
        action: "write".into(),
        event_time: observed.version.updated_at,
        target: None,
        link: observed.link.clone(),
        authority: Authority::Authoritative,
        change: Change::Observed {
            version: observed.version.clone(),
            fields: observed.object.to_fields(),
        },
    }
}

enum Applied {
    Object(Box<CanonicalEvent>),
    Done,
}

impl<'a> WriteExecutor<'a> {
    /// An executor over an engine and a connected provider.
    pub fn new(engine: &'a Engine, provider: &'a dyn Provider) -> Self {
        Self { engine, provider }
    }

    /// Applies every intent that is due: pending, approved, or failed with its retry time
    /// passed. Intents awaiting approval wait.
    pub async fn run_due(&self, now: DateTime<Utc>) -> Result<Vec<WriteIntent>, Error> {
        let mut done = Vec::new();
        for phase in [
            WritePhase::Pending,
            WritePhase::Approved,
            WritePhase::Failed,
        ] {
            for intent in self
                .engine
                .store()
                .list_write_intents(&Filter::all(), Some(phase))
                .await?
            {
                if intent.target.provider != self.provider.descriptor().kind {
                    continue;
                }
                if intent.next_attempt_at.is_some_and(|at| at > now) {
                    continue;
                }
                done.push(self.execute(&intent.id, now).await?);
            }
        }
        Ok(done)
    }

    /// Applies one intent now and returns it as it ended.
    pub async fn execute(&self, id: &str, now: DateTime<Utc>) -> Result<WriteIntent, Error> {
        let before = self.engine.store().get_write_intent(id).await?;
        let retried = before.as_ref().is_some_and(|i| i.attempts > 0);
        let intent = self.engine.start_write(id, now).await?;
        if intent.phase != WritePhase::Applying {
            return Ok(intent);
        }
        let binding = self.engine.binding(&intent.target.binding)?.clone();
        let outcome = self.apply(&binding, &intent, retried).await;
        let result = match &outcome {
            Ok(Applied::Object(event)) => WriteResult::Succeeded {
                native_id: Some(event.native_id.clone()),
                version: match &event.change {
                    Change::Observed { version, .. } => version.clone(),
                    _ => Default::default(),
                },
            },
            Ok(Applied::Done) => WriteResult::Succeeded {
                native_id: None,
                version: Default::default(),
            },
            Err(Error::Precondition { message, .. }) => WriteResult::PreconditionFailed {
                message: message.clone(),
            },
            Err(Error::WriteConflict {
                reason,
                message,
                external,
                ..
            }) => WriteResult::Conflicted {
                reason: *reason,
                message: message.clone(),
                external: external.clone(),
            },
            Err(err) => WriteResult::Failed {
                error: err.to_string(),
                retryable: err.is_retryable(),
                retry_after: None,
            },
        };
        let mut finished = self.engine.finish_write(id, result, now).await?;
        if let Ok(Applied::Object(event)) = outcome {
            let shows_all = match &event.change {
                Change::Observed { fields, .. } => {
                    intent.fields.iter().all(|(k, v)| fields.get(k) == Some(v))
                }
                _ => false,
            };
            self.engine.apply_event(&binding, *event, now).await?;
            finished = self
                .engine
                .store()
                .get_write_intent(id)
                .await?
                .unwrap_or(finished);
            if intent.operation == WriteOperation::Create
                && shows_all
                && finished.phase == WritePhase::Applied
            {
                finished = self.engine.confirm_write(id, now).await?;
            }
        } else if matches!(outcome, Ok(Applied::Done)) && finished.phase == WritePhase::Applied {
            finished = self.engine.confirm_write(id, now).await?;
        }
        Ok(finished)
    }

    fn issues(&self) -> Result<&dyn IssueTracking, Error> {
        self.provider
            .issue_tracking()
            .ok_or_else(|| Error::UnsupportedInterface {
                provider: self.provider.descriptor().kind.clone(),
                interface: crate::Interface::IssueTracking,
            })
    }

    async fn number(&self, intent: &WriteIntent) -> Result<u64, Error> {
        let object = self.engine.store().load_object(&intent.target).await?;
        object
            .and_then(|o| {
                o.link
                    .number
                    .or_else(|| o.field("number").and_then(|n| n.as_u64()))
            })
            .ok_or_else(|| Error::NotFound {
                key: intent.target.clone(),
            })
    }

    async fn apply(
        &self,
        binding: &Binding,
        intent: &WriteIntent,
        retried: bool,
    ) -> Result<Applied, Error> {
        let target = &binding.target;
        let key = intent.idempotency_key.as_str();
        let unsupported = || Error::Unsupported {
            kind: intent.target.kind,
            detail: format!("{:?} through the write executor", intent.operation),
        };
        match (intent.target.kind, &intent.operation) {
            (ResourceKind::Issue, WriteOperation::Create) => {
                let issues = self.issues()?;
                if retried && let Some(found) = issues.find_issue_by_key(target, key).await? {
                    return Ok(Applied::Object(Box::new(event_of(binding, intent, &found))));
                }
                let created = issues.create_issue(target, &patch_of(intent), key).await?;
                Ok(Applied::Object(Box::new(event_of(
                    binding, intent, &created,
                ))))
            }
            (ResourceKind::Issue, WriteOperation::Update | WriteOperation::Close) => {
                let number = self.number(intent).await?;
                let updated = self
                    .issues()?
                    .update_issue(target, number, &patch_of(intent))
                    .await?;
                Ok(Applied::Object(Box::new(event_of(
                    binding, intent, &updated,
                ))))
            }
            (ResourceKind::Comment, WriteOperation::Create) => {
                let issues = self.issues()?;
                let number = intent
                    .fields
                    .get("issue_number")
                    .and_then(|n| n.as_u64())
                    .ok_or_else(|| Error::Validation {
                        rule: "comment-needs-issue",
                        detail: "a comment to create needs `issue_number` among its fields".into(),
                    })?;
                if retried
                    && let Some(found) = issues.find_comment_by_key(target, number, key).await?
                {
                    return Ok(Applied::Object(Box::new(event_of(binding, intent, &found))));
                }
                let body = intent
                    .fields
                    .get("body")
                    .and_then(|b| b.as_str())
                    .unwrap_or_default();
                let created = issues.create_comment(target, number, body, key).await?;
                Ok(Applied::Object(Box::new(event_of(
                    binding, intent, &created,
                ))))
            }
            (ResourceKind::Comment, WriteOperation::Update) => {
                let body = intent
                    .fields
                    .get("body")
                    .and_then(|b| b.as_str())
                    .unwrap_or_default();
                let updated = self
                    .issues()?
                    .update_comment(target, &intent.target.native_id, body)
                    .await?;
                Ok(Applied::Object(Box::new(event_of(
                    binding, intent, &updated,
                ))))
            }
            (ResourceKind::Comment, WriteOperation::Delete) => {
                self.issues()?
                    .delete_comment(target, &NativeId::new(intent.target.native_id.as_str()))
                    .await?;
                Ok(Applied::Done)
            }
            _ => Err(unsupported()),
        }
    }
}

//! Webhook normalization: from the event header and the raw body to canonical events.

use kradle_sync_core::{DeliveryId, NormalizedWebhook, WebhookRequest};
use serde::de::IgnoredAny;

use crate::cicd::{actions, checks, deployment};
use crate::delivery::{Delivery, Normalized, Outcome};
use crate::error::GithubError;
use crate::event_name::GithubEvent;
use crate::forge::{git_ref, pull_request, repository};
use crate::signature::{DELIVERY_HEADER, EVENT_HEADER, required_header};
use crate::wire::{Envelope, RepoRef};
use crate::{hooks, issue_tracking};

/// Normalizes one request.
pub(crate) fn normalize(request: &WebhookRequest) -> Result<NormalizedWebhook, GithubError> {
    let event = required_header(&request.headers, EVENT_HEADER)?;
    let delivery_id = DeliveryId::new(required_header(&request.headers, DELIVERY_HEADER)?);
    let delivery = Delivery {
        id: &delivery_id,
        event,
    };
    let body = request.body.as_slice();
    expect_object(body, event)?;
    let normalized = match GithubEvent::from_name(event) {
        GithubEvent::Issues => issue_tracking::issue::normalize(delivery, body)?,
        GithubEvent::IssueComment => issue_tracking::comment::normalize(delivery, body)?,
        GithubEvent::Label => issue_tracking::label::normalize(delivery, body)?,
        GithubEvent::Milestone => issue_tracking::milestone::normalize(delivery, body)?,
        GithubEvent::Ping => hooks::normalize_ping(delivery, body)?,
        GithubEvent::PullRequest => pull_request::normalize(delivery, body)?,
        GithubEvent::PullRequestReview => pull_request::normalize_review(delivery, body)?,
        GithubEvent::PullRequestReviewComment => {
            pull_request::normalize_review_comment(delivery, body)?
        }
        GithubEvent::Push => git_ref::normalize_push(delivery, body)?,
        GithubEvent::Create => git_ref::normalize_create_delete(delivery, body, false)?,
        GithubEvent::Delete => git_ref::normalize_create_delete(delivery, body, true)?,
        GithubEvent::WorkflowRun => actions::normalize_run(delivery, body)?,
        GithubEvent::WorkflowJob => actions::normalize_job(delivery, body)?,
        GithubEvent::CheckRun => checks::normalize_check_run(delivery, body)?,
        GithubEvent::CheckSuite => checks::normalize_check_suite(delivery, body)?,
        GithubEvent::Status => checks::normalize_status(delivery, body)?,
        GithubEvent::Repository => repository::normalize(delivery, body)?,
        GithubEvent::Member => repository::normalize_member(delivery, body)?,
        GithubEvent::Deployment => deployment::normalize_deployment(delivery, body)?,
        GithubEvent::DeploymentStatus => deployment::normalize_deployment_status(delivery, body)?,
        GithubEvent::DeployKey => repository::normalize_deploy_key(delivery, body)?,
        GithubEvent::BranchProtectionRule => {
            repository::normalize_branch_protection(delivery, body)?
        }
        GithubEvent::Installation => hooks::normalize_installation(delivery, body)?,
        GithubEvent::InstallationRepositories => {
            hooks::normalize_installation_repositories(delivery, body)?
        }
        GithubEvent::Other => {
            let envelope: Envelope = delivery.parse(body)?;
            Normalized {
                action: envelope.action,
                target: envelope.repository.as_ref().map(RepoRef::target),
                outcome: Outcome::Ignored(format!(
                    "`{event}` events are not synced by kradle-sync's GitHub provider; the \
                     delivery was accepted and produced no events"
                )),
            }
        }
    };
    let (events, ignored) = match normalized.outcome {
        Outcome::Events(events) => (events, None),
        Outcome::Ignored(reason) => (Vec::new(), Some(reason)),
    };
    let mut out = NormalizedWebhook::events(event, events)
        .with_action(normalized.action)
        .with_target(normalized.target);
    out.ignored = ignored;
    Ok(out)
}

/// Rejects a body that is not a JSON object before any typed parsing (serde would read a
/// JSON array into a struct field by field).
fn expect_object(body: &[u8], event: &str) -> Result<(), GithubError> {
    let first = body
        .iter()
        .enumerate()
        .find(|(_, byte)| !byte.is_ascii_whitespace());
    match first {
        Some((_, b'{')) => Ok(()),
        Some((offset, _)) => {
            // Report serde's own error when the body is not JSON at all; otherwise say that
            // the JSON is not an object, at serde's line/column convention.
            if let Err(source) = serde_json::from_slice::<IgnoredAny>(body) {
                return Err(GithubError::Json {
                    context: context(event),
                    source,
                });
            }
            let (line, column) = position(body, offset);
            Err(GithubError::Shape {
                context: context(event),
                detail: format!(
                    "expected a JSON object, found another JSON value at line {line} column \
                     {column}"
                ),
            })
        }
        None => match serde_json::from_slice::<IgnoredAny>(body) {
            Err(source) => Err(GithubError::Json {
                context: context(event),
                source,
            }),
            Ok(_) => Err(GithubError::Shape {
                context: context(event),
                detail: "the body is empty; expected a JSON object".to_owned(),
            }),
        },
    }
}

fn context(event: &str) -> String {
    format!("`{event}` webhook body")
}

/// The 1-based line and column of byte `offset`, as serde_json reports positions.
fn position(body: &[u8], offset: usize) -> (usize, usize) {
    let before = body.get(..offset).unwrap_or(body);
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = match before.iter().rposition(|&b| b == b'\n') {
        Some(newline) => offset - newline,
        None => offset + 1,
    };
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_follow_serde() {
        assert_eq!(position(b"[1]", 0), (1, 1));
        assert_eq!(position(b"\n  [1]", 3), (2, 3));
    }
}

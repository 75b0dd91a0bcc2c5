//! Webhook normalization: from the hook header and the raw body to canonical events.

use kradle_sync_core::{NormalizedWebhook, WebhookRequest};
use serde::de::IgnoredAny;

use crate::cicd::{deployment, job, pipeline};
use crate::delivery::{Delivery, Normalized, Outcome};
use crate::error::GitlabError;
use crate::forge::{git_ref, member, merge_request};
use crate::hook::GitlabHook;
use crate::issue_tracking::{issue, note};
use crate::token::{EVENT_HEADER, delivery_id, required_header};
use crate::wire::Envelope;

/// Normalizes one request.
pub(crate) fn normalize(request: &WebhookRequest) -> Result<NormalizedWebhook, GitlabError> {
    let event = required_header(&request.headers, EVENT_HEADER)?;
    let body = request.body.as_slice();
    let delivery_id = delivery_id(&request.headers, event, body)?;
    let delivery = Delivery {
        id: &delivery_id,
        event,
    };
    expect_object(body, event)?;
    let hook = GitlabHook::from_header(event);
    let normalized = match hook {
        GitlabHook::Issue | GitlabHook::ConfidentialIssue => issue::normalize(delivery, body)?,
        GitlabHook::Note | GitlabHook::ConfidentialNote => note::normalize(delivery, body)?,
        GitlabHook::MergeRequest => merge_request::normalize(delivery, body)?,
        GitlabHook::Pipeline => pipeline::normalize(delivery, body)?,
        GitlabHook::Job => job::normalize(delivery, body)?,
        GitlabHook::Push => git_ref::normalize_push(delivery, body, "push")?,
        GitlabHook::TagPush => git_ref::normalize_push(delivery, body, "tag_push")?,
        GitlabHook::Deployment => deployment::normalize(delivery, body)?,
        GitlabHook::Release => git_ref::normalize_release(delivery, body)?,
        GitlabHook::Member => member::normalize(delivery, body)?,
        GitlabHook::System => {
            let envelope: Envelope = delivery.parse(body)?;
            Normalized::ignored(
                None,
                envelope.project.as_ref().and_then(|p| p.target()),
                "system hooks report events of a whole GitLab instance to its administrators; \
                 kradle-sync syncs project and group webhooks. The delivery was accepted and \
                 produced no events",
            )
        }
        GitlabHook::Other => {
            let envelope: Envelope = delivery.parse(body)?;
            Normalized::ignored(
                None,
                envelope.project.as_ref().and_then(|p| p.target()),
                format!(
                    "`{event}` deliveries are not synced by kradle-sync's GitLab provider; the \
                     delivery was accepted and produced no events"
                ),
            )
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
fn expect_object(body: &[u8], event: &str) -> Result<(), GitlabError> {
    let context = || format!("`{event}` webhook body");
    let first = body
        .iter()
        .enumerate()
        .find(|(_, byte)| !byte.is_ascii_whitespace());
    match first {
        Some((_, b'{')) => Ok(()),
        Some((offset, _)) => {
            if let Err(source) = serde_json::from_slice::<IgnoredAny>(body) {
                return Err(GitlabError::Json {
                    context: context(),
                    source,
                });
            }
            let (line, column) = position(body, offset);
            Err(GitlabError::Shape {
                context: context(),
                detail: format!(
                    "expected a JSON object, found another JSON value at line {line} column \
                     {column}"
                ),
            })
        }
        None => match serde_json::from_slice::<IgnoredAny>(body) {
            Err(source) => Err(GitlabError::Json {
                context: context(),
                source,
            }),
            Ok(_) => Err(GitlabError::Shape {
                context: context(),
                detail: "the body is empty; expected a JSON object".to_owned(),
            }),
        },
    }
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

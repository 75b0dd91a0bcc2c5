//! Webhook normalization: from the raw body (which names its event in `webhookEvent`) to
//! canonical events.

use chrono::{DateTime, Utc};
use kradle_sync_core::{DeliveryId, NormalizedWebhook, Removal, WebhookRequest};
use serde_json::Value;

use crate::delivery::{Delivery, Normalized, Outcome};
use crate::emit::Origin;
use crate::error::JiraError;
use crate::event_name::{JiraEvent, ignored_reason};
use crate::issue_tracking::issue::{self, IssueRef};
use crate::issue_tracking::{changelog, comment};
use crate::signature::{DELIVERY_HEADER, required_header};
use crate::wire::time;

const CONTEXT: &str = "Jira webhook body";

/// Normalizes one request.
pub(crate) fn normalize(request: &WebhookRequest) -> Result<NormalizedWebhook, JiraError> {
    let delivery_id = DeliveryId::new(required_header(&request.headers, DELIVERY_HEADER)?);
    let body = parse(&request.body)?;
    let event = body
        .get("webhookEvent")
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())
        .ok_or_else(|| JiraError::Shape {
            context: CONTEXT.into(),
            detail: "the body names no event (`webhookEvent`); Jira puts it in every webhook \
                     body"
                .into(),
        })?;
    let delivery = Delivery {
        id: &delivery_id,
        event,
        timestamp: body.get("timestamp").and_then(time),
    };
    let kind = JiraEvent::from_name(event);
    let normalized = match kind {
        JiraEvent::IssueCreated | JiraEvent::IssueUpdated | JiraEvent::IssueDeleted => {
            issue_event(delivery, &body, kind)?
        }
        JiraEvent::CommentCreated | JiraEvent::CommentUpdated | JiraEvent::CommentDeleted => {
            comment_event(delivery, &body, kind)?
        }
        JiraEvent::Other => Normalized {
            action: None,
            target: body
                .get("issue")
                .and_then(|i| IssueRef::read(i, CONTEXT).ok())
                .and_then(|i| i.target),
            outcome: Outcome::Ignored(ignored_reason(event)),
        },
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

/// The body as JSON, which must be an object.
pub(crate) fn parse(body: &[u8]) -> Result<Value, JiraError> {
    let value: Value = serde_json::from_slice(body).map_err(|source| JiraError::Json {
        context: CONTEXT.into(),
        source,
    })?;
    if !value.is_object() {
        return Err(JiraError::Shape {
            context: CONTEXT.into(),
            detail: format!(
                "expected a JSON object, found {}",
                crate::markup::json_type(&value)
            ),
        });
    }
    Ok(value)
}

fn action_of<'a>(body: &'a Value, event: &'a str) -> &'a str {
    body.get("issue_event_type_name")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| JiraEvent::default_action(event))
}

fn later(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    a.max(b)
}

fn issue_event(
    delivery: Delivery<'_>,
    body: &Value,
    kind: JiraEvent,
) -> Result<Normalized, JiraError> {
    let context = format!("`{}` webhook body", delivery.event);
    let issue_value = body.get("issue").ok_or_else(|| JiraError::Shape {
        context: context.clone(),
        detail: "no `issue`; Jira sends the issue with every issue event".into(),
    })?;
    let issue = IssueRef::read(issue_value, &context)?;
    let action = action_of(body, delivery.event);
    let origin = Origin::webhook(delivery.id, action, delivery.timestamp);
    let updated = issue::updated(issue_value);
    let mut events = Vec::new();
    if kind == JiraEvent::IssueDeleted {
        // Deleted when the event was sent, after its last update.
        events.push(
            issue
                .subject(later(updated, delivery.timestamp))
                .removed(origin, Removal::Deleted),
        );
    } else {
        let raw = issue::fields_of(issue_value);
        let mut fields = issue::fields(&issue, raw);
        changelog::supplement(&mut fields, body.get("changelog"), &|id| {
            raw.is_some_and(|r| r.contains_key(id))
        });
        // A payload without `updated` (a partial issue) shows the issue as it was when the
        // event was sent.
        events.push(
            issue
                .subject(updated.or(delivery.timestamp))
                .observed(origin, fields),
        );
        if let Some(comment_value) = body.get("comment").filter(|c| c.is_object()) {
            let view = comment::read(comment_value, Some(&issue), &context)?;
            events.push(view.subject.observed(origin, view.fields));
        }
    }
    Ok(Normalized {
        action: Some(action.to_owned()),
        target: issue.target.clone(),
        outcome: Outcome::Events(events),
    })
}

fn comment_event(
    delivery: Delivery<'_>,
    body: &Value,
    kind: JiraEvent,
) -> Result<Normalized, JiraError> {
    let context = format!("`{}` webhook body", delivery.event);
    let comment_value = body.get("comment").ok_or_else(|| JiraError::Shape {
        context: context.clone(),
        detail: "no `comment`; Jira sends the comment with every comment event".into(),
    })?;
    // Jira Cloud sends the issue (a few of its fields) with comment events; Data Center
    // sends the comment alone, naming its issue only by id in the comment's `self`.
    let issue = body
        .get("issue")
        .map(|i| IssueRef::read(i, &context))
        .transpose()?;
    let action = action_of(body, delivery.event);
    let origin = Origin::webhook(delivery.id, action, delivery.timestamp);
    let view = comment::read(comment_value, issue.as_ref(), &context)?;
    let event = if kind == JiraEvent::CommentDeleted {
        view.subject.removed(origin, Removal::Deleted)
    } else {
        view.subject.observed(origin, view.fields)
    };
    Ok(Normalized {
        action: Some(action.to_owned()),
        target: issue.and_then(|i| i.target),
        outcome: Outcome::Events(vec![event]),
    })
}

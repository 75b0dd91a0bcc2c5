//! REST objects (backfill and hydrate reads) as authoritative events: issues (REST v2 with
//! wiki markup, or v3 with ADF), comments, labels and fix versions.

use kradle_sync_core::{CanonicalEvent, DeliveryId, ResourceKind};
use serde_json::Value;

use crate::emit::Origin;
use crate::error::JiraError;
use crate::issue_tracking::issue::{self, IssueRef};
use crate::issue_tracking::{comment, label, version};

/// The kinds [`parse`] reads.
const SUPPORTED: &str = "issue, comment, label, milestone (fix version)";

fn expect_object(kind: ResourceKind, value: &Value) -> Result<(), JiraError> {
    if value.is_object() || (kind == ResourceKind::Label && value.is_string()) {
        return Ok(());
    }
    let found = match value {
        Value::Array(_) => "an array (pass the items of a list one by one)",
        other => crate::markup::json_type(other),
    };
    Err(JiraError::Shape {
        context: format!("REST {kind} object"),
        detail: format!("expected a JSON object, found {found}"),
    })
}

/// Parses one REST object of `kind` into an authoritative observation.
pub(crate) fn parse(
    kind: ResourceKind,
    value: &Value,
    read_id: &DeliveryId,
) -> Result<Option<CanonicalEvent>, JiraError> {
    expect_object(kind, value)?;
    let origin = Origin::rest(read_id);
    let context = format!("REST {kind} object");
    let event = match kind {
        ResourceKind::Issue => {
            let issue = IssueRef::read(value, &context)?;
            let fields = issue::fields(&issue, issue::fields_of(value));
            issue
                .subject(issue::updated(value))
                .observed(origin, fields)
        }
        ResourceKind::Comment => {
            let view = comment::read(value, None, &context)?;
            view.subject.observed(origin, view.fields)
        }
        ResourceKind::Label => {
            let (subject, fields) = label::read(value, &context)?;
            subject.observed(origin, fields)
        }
        ResourceKind::Milestone => {
            let (subject, fields) = version::read(value, &context)?;
            subject.observed(origin, fields)
        }
        other => {
            return Err(JiraError::Unsupported {
                kind: other,
                detail: format!(
                    "parsing from Jira REST objects; Jira implements issue tracking only, and \
                     its provider parses {SUPPORTED}"
                ),
            });
        }
    };
    Ok(Some(event))
}

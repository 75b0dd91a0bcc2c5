//! Fix versions as milestones: `GET /rest/api/{2,3}/project/{key}/versions` objects.
//!
//! Fields: `number` (the version's id), `title` (name), `description`, `state` (`closed`
//! once released or archived, else `open`), `due_on` (`releaseDate`, midnight UTC),
//! `released`, `archived`. Versions have no last-modified time: observations carry no
//! version.

use kradle_sync_core::{Fields, LinkInfo, NativeId, ResourceKind};
use serde_json::{Value, json};

use crate::emit::Subject;
use crate::error::JiraError;
use crate::wire::{id_text, parse_time, text};

/// A version object.
pub(crate) fn read(value: &Value, context: &str) -> Result<(Subject, Fields), JiraError> {
    let id = value
        .get("id")
        .and_then(id_text)
        .and_then(|id| id.parse::<u64>().ok())
        .ok_or_else(|| JiraError::Shape {
            context: context.to_owned(),
            detail: "a version has a numeric `id`; Jira always sends it".into(),
        })?;
    let flag = |name: &str| value.get(name).and_then(Value::as_bool);
    let mut fields = Fields::new();
    fields.insert("number".into(), json!(id));
    if let Some(name) = text(value, "name") {
        fields.insert("title".into(), json!(name));
    }
    fields.insert(
        "description".into(),
        json!(text(value, "description").filter(|d| !d.is_empty())),
    );
    let closed = flag("released").unwrap_or(false) || flag("archived").unwrap_or(false);
    fields.insert(
        "state".into(),
        json!(if closed { "closed" } else { "open" }),
    );
    fields.insert(
        "due_on".into(),
        json!(text(value, "releaseDate").and_then(parse_time)),
    );
    fields.insert("open_issues".into(), Value::Null);
    fields.insert("closed_issues".into(), Value::Null);
    for name in ["released", "archived"] {
        if let Some(v) = flag(name) {
            fields.insert(name.into(), json!(v));
        }
    }
    let subject = Subject {
        kind: ResourceKind::Milestone,
        native_id: NativeId::new(id.to_string()),
        updated_at: None,
        target: None,
        link: LinkInfo::default()
            .with_number(id)
            .with_api_url(text(value, "self").map(str::to_owned)),
    };
    Ok((subject, fields))
}

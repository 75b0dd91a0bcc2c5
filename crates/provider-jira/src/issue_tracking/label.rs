//! Labels. Jira has no label objects: a label is a name on issues, listed site-wide by
//! Jira Cloud's `GET /rest/api/{2,3}/label` as bare strings. The canonical label's native
//! id and `name` are that name; `color` and `description` are `null` (Jira has neither).

use kradle_sync_core::{Fields, LinkInfo, NativeId, ResourceKind};
use serde_json::{Value, json};

use crate::emit::Subject;
use crate::error::JiraError;

/// A label from a listing item: a string, or an object with a `name`.
pub(crate) fn read(value: &Value, context: &str) -> Result<(Subject, Fields), JiraError> {
    let name = match value {
        Value::String(name) => Some(name.as_str()),
        Value::Object(_) => value.get("name").and_then(Value::as_str),
        _ => None,
    }
    .filter(|n| !n.is_empty())
    .ok_or_else(|| JiraError::Shape {
        context: context.to_owned(),
        detail: "a label is a non-empty string (or an object with a `name`)".into(),
    })?;
    let mut fields = Fields::new();
    fields.insert("name".into(), json!(name));
    fields.insert("color".into(), Value::Null);
    fields.insert("description".into(), Value::Null);
    let subject = Subject {
        kind: ResourceKind::Label,
        native_id: NativeId::new(name),
        updated_at: None,
        target: None,
        link: LinkInfo::default(),
    };
    Ok((subject, fields))
}

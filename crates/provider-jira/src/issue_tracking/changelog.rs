//! A webhook's `changelog`: which fields an update changed (`items[]` with `field`,
//! `fieldId`, `from`, `fromString`, `to`, `toString`).
//!
//! When the payload's issue carries a field, the value is used. When it does not
//! (Jira may send a partial issue), the changelog's new value stands in for the fields whose
//! whole value an item states: summary, description, assignee, labels, priority, issue type,
//! status name and resolution. Fields an item states only in part (one fix version or
//! component added or removed, a custom field's display text) are left out, never guessed.

use kradle_sync_core::Fields;
use serde_json::{Value, json};

use super::body;
use crate::wire::text;

/// One changelog item's field id: `fieldId` where Jira sends it, else `field` (older Data
/// Center payloads), lower-cased for the names Jira spells in several ways.
fn field_id(item: &Value) -> Option<String> {
    text(item, "fieldId")
        .or_else(|| text(item, "field"))
        .map(|f| match f {
            "Status" => "status".to_owned(),
            "Fix Version" => "fixVersions".to_owned(),
            "Component" => "components".to_owned(),
            other => other.to_owned(),
        })
}

/// Adds to `fields` the values the changelog states whole for fields the issue did not
/// carry (`present` tells which raw Jira fields it did).
pub(crate) fn supplement(
    fields: &mut Fields,
    changelog: Option<&Value>,
    present: &dyn Fn(&str) -> bool,
) {
    let Some(items) = changelog
        .and_then(|c| c.get("items"))
        .and_then(Value::as_array)
    else {
        return;
    };
    for item in items {
        let Some(id) = field_id(item) else {
            continue;
        };
        if present(&id) {
            continue;
        }
        let to_string = item.get("toString").unwrap_or(&Value::Null);
        match id.as_str() {
            "summary" => {
                if let Some(title) = to_string.as_str() {
                    fields.insert("title".into(), json!(title));
                }
            }
            "description" => body::insert(fields, to_string),
            "assignee" => {
                // Cloud names the account in `tmpToAccountId` (or `to`); Data Center names
                // the user in `to`.
                let to = text(item, "tmpToAccountId")
                    .or_else(|| text(item, "to"))
                    .filter(|s| !s.is_empty());
                let assignees: Vec<&str> = to.into_iter().collect();
                fields.insert("assignees".into(), json!(assignees));
            }
            "labels" => {
                let mut labels: Vec<&str> = to_string
                    .as_str()
                    .map(|s| s.split_whitespace().collect())
                    .unwrap_or_default();
                labels.sort_unstable();
                labels.dedup();
                fields.insert("labels".into(), json!(labels));
            }
            "priority" => {
                fields.insert("priority".into(), to_string.clone());
            }
            "issuetype" => {
                fields.insert("issue_type".into(), to_string.clone());
            }
            // The status's name only: its category (and so `state`) is not in the item.
            "status" if to_string.is_string() => {
                fields.insert("status".into(), to_string.clone());
            }
            "resolution" => {
                fields.insert("state_reason".into(), to_string.clone());
            }
            _ => {}
        }
    }
}

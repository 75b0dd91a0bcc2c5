//! Snapshots of every Jira fixture's canonical events: every webhook body (Cloud and Data
//! Center, old payloads without `issue_event_type_name` and new ones) normalized, and every
//! REST issue, comment and search body parsed. Review a changed snapshot by eye before
//! accepting it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::signed;
use kradle_provider_jira::JiraWebhooks;
use kradle_sync_core::{DeliveryId, ResourceKind, WebhookAdapter};
use serde_json::Value;

#[test]
fn webhook_fixtures() {
    let adapter = JiraWebhooks::new();
    insta::glob!("../../../fixtures/jira/webhooks", "**/*.json", |path| {
        let body = std::fs::read(path).unwrap();
        let normalized = adapter
            .normalize_webhook(&signed(body))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        insta::assert_json_snapshot!(normalized);
    });
}

/// The items of a REST body: a search page's `issues`, a comment page's `comments` (or `values`), or the
/// body itself.
fn items(body: &Value) -> Vec<Value> {
    for key in ["issues", "comments", "values"] {
        if let Some(Value::Array(items)) = body.get(key) {
            return items.clone();
        }
    }
    vec![body.clone()]
}

#[test]
fn rest_fixtures() {
    let adapter = JiraWebhooks::new();
    for (folder, kind) in [
        ("issues", ResourceKind::Issue),
        ("search", ResourceKind::Issue),
        ("comments", ResourceKind::Comment),
    ] {
        insta::glob!(
            "../../../fixtures/jira/rest",
            &format!("{folder}/*.json"),
            |path| {
                let body: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
                // A create's answer (`{id, key, self}`) and an error body are not objects
                // of the kind; they are exercised by the adapter's tests.
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                if name.starts_with("openapi-createIssue")
                    || name.starts_with("openapi-getEditIssueMeta")
                {
                    return;
                }
                let read = DeliveryId::new(format!("rest:{name}"));
                let events: Vec<_> = items(&body)
                    .iter()
                    .map(|item| {
                        adapter
                            .parse_rest_object(kind, item, &read)
                            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                    })
                    .collect();
                insta::assert_json_snapshot!(events);
            }
        );
    }
}

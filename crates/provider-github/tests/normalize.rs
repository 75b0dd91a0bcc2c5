//! `normalize_webhook`: bad bodies, events and actions out of scope, huge and partial
//! payloads, and the issue tracking mapping.

// A test states its expectation by failing loudly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::{fixture, fixture_json, signed};
use kradle_provider_github::GithubWebhooks;
use kradle_sync_core::{
    Authority, CanonicalEvent, Change, Error, Fields, Interface, NormalizedWebhook, Removal,
    ResourceKind, WebhookAdapter, WebhookRequest,
};
use serde_json::{Value, json};

fn normalize(request: &WebhookRequest) -> Result<NormalizedWebhook, Error> {
    GithubWebhooks::new().normalize_webhook(request)
}

fn normalize_fixture(event: &str, file: &str) -> NormalizedWebhook {
    normalize(&signed(
        event,
        fixture(&format!("webhooks/{event}/{file}.json")),
    ))
    .expect("real payloads normalize")
}

fn normalize_value(event: &str, value: &Value) -> NormalizedWebhook {
    normalize(&signed(
        event,
        serde_json::to_vec(value).expect("serializable"),
    ))
    .expect("normalizes")
}

/// The reason of a malformed-payload error; fails the test on any other outcome.
fn malformed(result: Result<NormalizedWebhook, Error>) -> String {
    match result {
        Err(Error::MalformedPayload { provider, reason }) => {
            assert_eq!(provider.as_str(), "github");
            reason
        }
        other => panic!("expected MalformedPayload, got {other:?}"),
    }
}

fn fields(event: &CanonicalEvent) -> &Fields {
    match &event.change {
        Change::Observed { fields, .. } => fields,
        other => panic!("expected an observation, got {other:?}"),
    }
}

fn keys(fields: &Fields) -> BTreeSet<&str> {
    fields.keys().map(String::as_str).collect()
}

fn only_event(normalized: &NormalizedWebhook) -> &CanonicalEvent {
    assert_eq!(normalized.events.len(), 1, "{normalized:#?}");
    &normalized.events[0]
}

// --- bad bodies -------------------------------------------------------------------------

#[test]
fn truncated_json_that_is_correctly_signed_is_malformed_with_a_position() {
    let body = fixture("webhooks/issues/opened.json");
    let truncated = body[..body.len() / 2].to_vec();
    let request = signed("issues", truncated);
    // The signature is over exactly these bytes, so verification passes ...
    GithubWebhooks::new()
        .verify_webhook(
            &request,
            &kradle_sync_core::WebhookKey::new(
                &kradle_sync_core::Secret::new(common::SECRET),
                kradle_sync_core::SignatureScheme::HmacSha256,
                chrono::Utc::now(),
            ),
        )
        .expect("correctly signed");
    // ... and normalization reports where the JSON ends.
    let reason = malformed(normalize(&request));
    assert!(reason.contains("EOF while parsing"), "{reason}");
    assert!(
        reason.contains("line") && reason.contains("column"),
        "{reason}"
    );
    assert!(reason.contains("`issues` webhook body"), "{reason}");
}

#[test]
fn a_non_json_body_is_malformed() {
    let reason = malformed(normalize(&signed(
        "issues",
        b"payload=%7B%22action%22".to_vec(),
    )));
    assert!(reason.contains("line 1 column 1"), "{reason}");
}

#[test]
fn an_empty_body_is_malformed() {
    for body in [&b""[..], b"  \n "] {
        let reason = malformed(normalize(&signed("issues", body.to_vec())));
        assert!(reason.contains("EOF while parsing a value"), "{reason}");
    }
}

#[test]
fn json_that_is_not_an_object_is_malformed() {
    for (body, at) in [
        ("[1, 2]", "line 1 column 1"),
        ("\n  \"issues\"", "line 2 column 3"),
        ("null", "line 1 column 1"),
    ] {
        let reason = malformed(normalize(&signed("issues", body.as_bytes().to_vec())));
        assert!(
            reason.contains("expected a JSON object"),
            "{body}: {reason}"
        );
        assert!(reason.contains(at), "{body}: {reason}");
    }
}

#[test]
fn an_object_missing_required_parts_is_malformed_and_names_them() {
    let reason = malformed(normalize(&signed(
        "issues",
        br#"{"action":"opened"}"#.to_vec(),
    )));
    assert!(reason.contains("missing field `issue`"), "{reason}");
    let mut opened = fixture_json("webhooks/issues/opened.json");
    opened["issue"]["id"] = json!("not a number");
    let reason = malformed(normalize(&signed(
        "issues",
        serde_json::to_vec(&opened).unwrap(),
    )));
    assert!(reason.contains("invalid type"), "{reason}");
}

#[test]
fn trailing_garbage_after_the_object_is_malformed() {
    let mut body = fixture("webhooks/ping/event.json");
    body.extend_from_slice(b" {}");
    let reason = malformed(normalize(&signed("ping", body)));
    assert!(reason.contains("trailing characters"), "{reason}");
}

#[test]
fn deeply_nested_hostile_json_neither_overflows_the_stack_nor_panics() {
    // Derived from a real payload: a field kradle-sync skips holds 100,000 nested arrays.
    let depth = 100_000;
    let opened = String::from_utf8(fixture("webhooks/issues/opened.json")).unwrap();
    let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let body = opened.replacen("\"zen\"", &format!("\"deep\": {nested}, \"zen\""), 1);
    let body = if body == opened {
        opened.replacen('{', &format!("{{\"deep\": {nested},"), 1)
    } else {
        body
    };
    let normalized = normalize(&signed("issues", body.clone().into_bytes())).expect("skipped");
    assert_eq!(normalized.events.len(), 1);
    let ignored = normalize(&signed("star", body.into_bytes())).expect("skipped");
    assert!(ignored.ignored.is_some());
    // Where the nesting sits in a field that is read, the parser stops with an error.
    let hostile =
        format!(r#"{{"action":"opened","issue":{{"id":1,"number":1,"labels":{nested}}}}}"#);
    malformed(normalize(&signed("issues", hostile.into_bytes())));
}

// --- scope ------------------------------------------------------------------------------

#[test]
fn an_unknown_event_is_ignored_with_a_reason_and_keeps_action_and_target() {
    // A real `issues` body delivered under an event name kradle-sync does not sync.
    let normalized = normalize(&signed("star", fixture("webhooks/issues/opened.json")))
        .expect("unknown events are not errors");
    assert!(normalized.events.is_empty());
    let reason = normalized.ignored.expect("a reason");
    assert!(reason.contains("`star`"), "{reason}");
    assert_eq!(normalized.event, "star");
    assert_eq!(normalized.action.as_deref(), Some("opened"));
    assert_eq!(
        normalized.target.map(|t| t.path).as_deref(),
        Some("Codertocat/Hello-World")
    );
}

#[test]
fn an_unknown_event_with_a_malformed_body_is_still_malformed() {
    malformed(normalize(&signed("star", b"{\"action\":".to_vec())));
}

#[test]
fn an_out_of_scope_action_is_ignored_with_a_reason() {
    // Derived from a real payload: `label` `created` with an action GitHub does not send.
    let mut label = fixture_json("webhooks/label/created.json");
    label["action"] = json!("archived");
    let normalized = normalize_value("label", &label);
    assert!(normalized.events.is_empty());
    let reason = normalized.ignored.expect("a reason");
    assert!(
        reason.contains("`archived`") && reason.contains("`label`"),
        "{reason}"
    );
    assert_eq!(normalized.action.as_deref(), Some("archived"));
}

#[test]
fn issues_events_about_pull_requests_project_their_issue_side() {
    let normalized = normalize_fixture("issues", "milestoned");
    assert!(normalized.ignored.is_none());
    let event = only_event(&normalized);
    assert_eq!(event.link.number, Some(2));
    let Change::Observed { fields, .. } = &event.change else {
        panic!("an observation");
    };
    assert_eq!(fields["pull_request"], json!(true));
    assert_eq!(fields["milestone"], json!(1));
    let opened = normalize_fixture("issues", "opened");
    let Change::Observed { fields, .. } = &only_event(&opened).change else {
        panic!("an observation");
    };
    assert_eq!(fields["pull_request"], json!(false));
    let pinned = normalize_fixture("issues", "pinned");
    let Change::Observed { fields, .. } = &only_event(&pinned).change else {
        panic!("an observation");
    };
    assert!(
        !fields.contains_key("pull_request"),
        "a partial payload says nothing about it"
    );
}

// --- size and partial payloads ----------------------------------------------------------

#[test]
fn a_body_of_several_megabytes_still_normalizes() {
    let mut opened = fixture_json("webhooks/issues/opened.json");
    let big = "x".repeat(5 * 1024 * 1024);
    opened["issue"]["body"] = json!(big);
    let body = serde_json::to_vec(&opened).unwrap();
    assert!(body.len() > 5 * 1024 * 1024);
    let request = signed("issues", body);
    GithubWebhooks::new()
        .verify_webhook(
            &request,
            &kradle_sync_core::WebhookKey::new(
                &kradle_sync_core::Secret::new(common::SECRET),
                kradle_sync_core::SignatureScheme::HmacSha256,
                chrono::Utc::now(),
            ),
        )
        .expect("verifies");
    let normalized = normalize(&request).expect("normalizes");
    let body_field = fields(only_event(&normalized))["body"]
        .as_str()
        .expect("body");
    assert_eq!(body_field.len(), 5 * 1024 * 1024);
}

#[test]
fn the_partial_pinned_payload_yields_only_the_fields_it_carries() {
    for action in ["pinned", "unpinned"] {
        let normalized = normalize_fixture("issues", action);
        let event = only_event(&normalized);
        let got = keys(fields(event));
        let expected: BTreeSet<&str> = [
            "assignees",
            "author",
            "body",
            "closed_at",
            "created_at",
            "html_url",
            "milestone",
            "number",
            "title",
        ]
        .into();
        assert_eq!(got, expected, "{action}");
        // Absent from the payload, so absent from the fields: never defaulted.
        for absent in ["state", "state_reason", "labels", "locked"] {
            assert!(!fields(event).contains_key(absent), "{action}: {absent}");
        }
    }
}

#[test]
fn a_null_is_a_value_but_a_missing_key_is_absent() {
    let mut opened = fixture_json("webhooks/issues/opened.json");
    let issue = opened["issue"].as_object_mut().unwrap();
    issue.insert("milestone".into(), Value::Null);
    issue.remove("labels");
    let normalized = normalize_value("issues", &opened);
    let fields = fields(only_event(&normalized));
    assert_eq!(fields.get("milestone"), Some(&Value::Null));
    assert!(!fields.contains_key("labels"));
}

#[test]
fn assignees_fall_back_to_the_single_assignee_and_are_sorted() {
    let mut opened = fixture_json("webhooks/issues/opened.json");
    let issue = opened["issue"].as_object_mut().unwrap();
    issue.remove("assignees");
    let normalized = normalize_value("issues", &opened);
    assert_eq!(
        fields(only_event(&normalized))["assignees"],
        json!(["Codertocat"])
    );

    let mut opened = fixture_json("webhooks/issues/opened.json");
    let user = opened["issue"]["user"].clone();
    let mut other = user.clone();
    other["login"] = json!("Another");
    opened["issue"]["assignees"] = json!([user, other, user]);
    opened["issue"]["labels"] = json!([{"name": "zeta"}, {"name": "bug"}, "alpha"]);
    let normalized = normalize_value("issues", &opened);
    let fields = fields(only_event(&normalized));
    assert_eq!(fields["assignees"], json!(["Another", "Codertocat"]));
    assert_eq!(fields["labels"], json!(["alpha", "bug", "zeta"]));
}

// --- the issue tracking mapping -----------------------------------------------------------

#[test]
fn every_issues_fixture_is_one_issue_event_with_the_mapped_identity() {
    let dir = common::fixtures().join("webhooks/issues");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let action = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let value: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let normalized = normalize_value("issues", &value);
        assert_eq!(normalized.action.as_deref(), Some(action.as_str()));
        assert_eq!(
            normalized.target.as_ref().map(|t| t.path.as_str()),
            value["repository"]["full_name"].as_str()
        );
        let event = only_event(&normalized);
        assert_eq!(event.kind, ResourceKind::Issue, "{action}");
        assert_eq!(event.interface, Interface::IssueTracking);
        assert_eq!(event.authority, Authority::Webhook);
        assert_eq!(event.action, action);
        assert_eq!(event.native_id.as_str(), value["issue"]["id"].to_string());
        assert_eq!(event.link.number, value["issue"]["number"].as_u64());
        assert_eq!(
            event.link.node_id.as_deref(),
            value["issue"]["node_id"].as_str()
        );
        assert_eq!(
            event.link.url.as_deref(),
            value["issue"]["html_url"].as_str()
        );
        assert_eq!(
            event.link.api_url.as_deref(),
            value["issue"]["url"].as_str()
        );
        assert_eq!(
            event
                .event_time
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            value["issue"]["updated_at"].as_str().map(str::to_owned)
        );
        match (&event.change, action.as_str()) {
            (
                Change::Removed {
                    removal: Removal::Deleted,
                    ..
                },
                "deleted",
            ) => {}
            (
                Change::Removed {
                    removal: Removal::Transferred { .. },
                    ..
                },
                "transferred",
            ) => {}
            (Change::Observed { version, .. }, _) => {
                assert_eq!(version.updated_at, event.event_time);
            }
            (other, _) => panic!("{action}: unexpected {other:?}"),
        }
    }
}

#[test]
fn a_transfer_names_the_new_issue_and_repository() {
    let normalized = normalize_fixture("issues", "transferred");
    match &only_event(&normalized).change {
        Change::Removed {
            removal:
                Removal::Transferred {
                    new_native_id,
                    new_target,
                },
            ..
        } => {
            assert_eq!(
                new_native_id.as_ref().map(|id| id.as_str()),
                Some("444500041")
            );
            assert_eq!(
                new_target.as_ref().map(|t| t.path.as_str()),
                Some("Codertocat/Hello-World")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_issue_comment_yields_the_comment_and_its_issue() {
    let normalized = normalize_fixture("issue_comment", "created");
    assert_eq!(normalized.events.len(), 2);
    let comment = &normalized.events[0];
    assert_eq!(comment.kind, ResourceKind::Comment);
    assert_eq!(comment.native_id.as_str(), "492700400");
    let expected = json!({
        "issue_native_id": "444500041",
        "issue_number": 1,
        "body": "You are totally right! I'll get this fixed right away.",
        "author": "Codertocat",
        "created_at": "2019-05-15T15:20:21Z",
        "html_url": "https://github.com/Codertocat/Hello-World/issues/1#issuecomment-492700400",
    });
    assert_eq!(json!(fields(comment)), expected);
    let issue = &normalized.events[1];
    assert_eq!(issue.kind, ResourceKind::Issue);
    assert_eq!(issue.native_id.as_str(), "444500041");

    let deleted = normalize_fixture("issue_comment", "deleted");
    assert!(matches!(
        deleted.events[0].change,
        Change::Removed {
            removal: Removal::Deleted,
            ..
        }
    ));
    assert_eq!(deleted.events[1].kind, ResourceKind::Issue);
}

#[test]
fn a_comment_on_a_pull_request_yields_the_comment_and_the_pull_requests_issue_side() {
    // Derived from a real payload: the same delivery about a pull request's conversation.
    let mut created = fixture_json("webhooks/issue_comment/created.json");
    created["issue"]["pull_request"] =
        fixture_json("webhooks/issues/milestoned.json")["issue"]["pull_request"].clone();
    let normalized = normalize_value("issue_comment", &created);
    assert_eq!(normalized.events.len(), 2);
    assert_eq!(normalized.events[0].kind, ResourceKind::Comment);
    assert_eq!(normalized.events[1].kind, ResourceKind::Issue);
    assert_eq!(fields(&normalized.events[1])["pull_request"], json!(true));
}

#[test]
fn labels_and_milestones_map_and_deletions_remove() {
    let created = normalize_fixture("label", "created");
    let label = only_event(&created);
    assert_eq!(label.kind, ResourceKind::Label);
    assert_eq!(label.event_time, None, "labels have no updated_at");
    assert_eq!(
        json!(fields(label)),
        json!({"name": ":bug: Bugfix", "color": "cb1f00", "description": "Fixes a bug"})
    );
    for (event, file) in [("label", "deleted"), ("milestone", "deleted")] {
        let normalized = normalize_fixture(event, file);
        assert!(matches!(
            only_event(&normalized).change,
            Change::Removed {
                removal: Removal::Deleted,
                ..
            }
        ));
    }
    let closed = normalize_fixture("milestone", "closed");
    let milestone = only_event(&closed);
    assert_eq!(milestone.kind, ResourceKind::Milestone);
    assert_eq!(fields(milestone)["state"], "closed");
    assert_eq!(milestone.link.number, Some(1));
}

#[test]
fn a_ping_marks_the_webhook_ready() {
    let normalized = normalize_fixture("ping", "event");
    assert_eq!(normalized.action, None);
    let event = only_event(&normalized);
    assert_eq!(event.kind, ResourceKind::Repository);
    assert_eq!(event.interface, Interface::GitForge);
    assert_eq!(event.native_id.as_str(), "186853261");
    assert_eq!(event.action, "ping");
    assert_eq!(
        event.change,
        Change::Condition {
            condition: "WebhookReady".into(),
            status: true,
            reason: "ping received for hook 109948940".into(),
        }
    );
    // An organization hook's ping names no repository: the hook is the subject.
    let mut ping = fixture_json("webhooks/ping/event.json");
    ping.as_object_mut().unwrap().remove("repository");
    let normalized = normalize_value("ping", &ping);
    assert_eq!(normalized.target, None);
    assert_eq!(only_event(&normalized).native_id.as_str(), "109948940");
}

#[test]
fn the_adapter_is_cheap_send_sync_and_describes_github() {
    fn assert_send_sync<T: Send + Sync + Default>() {}
    assert_send_sync::<GithubWebhooks>();
    let adapter = GithubWebhooks::default();
    let descriptor = adapter.descriptor();
    assert_eq!(descriptor, &kradle_provider_github::descriptor());
    assert_eq!(descriptor.kind.as_str(), kradle_provider_github::PROVIDER);
    assert_eq!(descriptor.interfaces, Interface::ALL.to_vec());
    assert_eq!(descriptor.hosting, vec!["saas", "ghe"]);
    assert_eq!(
        descriptor.delivery_header.as_deref(),
        Some("X-GitHub-Delivery")
    );
    assert_eq!(descriptor.event_header.as_deref(), Some("X-GitHub-Event"));
    let caps = &descriptor.capabilities;
    assert!(!caps.can_delete && !caps.idempotency_keys);
    assert!(caps.conditional_reads && caps.merge_with_expected_sha && caps.reviewed_writes);
    // One adapter serves any number of threads.
    let shared = std::sync::Arc::new(adapter);
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let shared = shared.clone();
            std::thread::spawn(move || {
                shared
                    .normalize_webhook(&signed("ping", fixture("webhooks/ping/event.json")))
                    .map(|n| n.events.len())
                    .ok()
            })
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.join().unwrap(), Some(1));
    }
}

#[test]
fn the_idempotency_marker_is_not_part_of_a_body() {
    // Derived from a real payload: the issue as a create by kradle-sync leaves it.
    let mut opened = fixture_json("webhooks/issues/opened.json");
    let body = opened["issue"]["body"].as_str().unwrap().to_owned();
    opened["issue"]["body"] = json!(kradle_sync_core::marker::embed(&body, "kradle:1234"));
    let normalized = normalize_value("issues", &opened);
    assert_eq!(fields(only_event(&normalized))["body"], json!(body));
    let mut comment = fixture_json("webhooks/issue_comment/created.json");
    let text = comment["comment"]["body"].as_str().unwrap().to_owned();
    comment["comment"]["body"] = json!(kradle_sync_core::marker::embed(&text, "kradle:5678"));
    let normalized = normalize_value("issue_comment", &comment);
    assert_eq!(fields(&normalized.events[0])["body"], json!(text));
}

#[test]
fn ordering_keys_name_the_primary_object() {
    use kradle_sync_core::WebhookAdapter;
    let key = |event: &str, path: &str| {
        let body = serde_json::to_vec(&fixture_json(path)).unwrap();
        GithubWebhooks::new().ordering_key(&signed(event, body))
    };
    // A comment orders with its issue.
    assert_eq!(
        key("issues", "webhooks/issues/opened.json").as_deref(),
        Some("issue:444500041")
    );
    assert_eq!(
        key("issue_comment", "webhooks/issue_comment/created.json").as_deref(),
        Some("issue:444500041")
    );
    assert_eq!(
        key("label", "webhooks/label/created.json").as_deref(),
        Some("label:1362937026")
    );
    let job = key("workflow_job", "webhooks/workflow_job/queued.json").unwrap();
    let run_id = fixture_json("webhooks/workflow_job/queued.json")["workflow_job"]["run_id"]
        .as_u64()
        .unwrap();
    assert_eq!(job, format!("pipeline:{run_id}"));
    assert_eq!(key("ping", "webhooks/ping/event.json"), None);
}

//! `parse_rest_object`: REST objects as authoritative events whose fields are identical to
//! the webhook ones, so the two paths converge.

// A test states its expectation by failing loudly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::{fixture_json, signed};
use kradle_provider_github::GithubWebhooks;
use kradle_sync_core::{
    Authority, CanonicalEvent, Change, DeliveryId, Error, Fields, ResourceKind, WebhookAdapter,
};
use serde_json::{Value, json};

fn rest(kind: ResourceKind, value: &Value) -> Result<Option<CanonicalEvent>, Error> {
    GithubWebhooks::new().parse_rest_object(kind, value, &DeliveryId::new("read-42"))
}

fn rest_event(kind: ResourceKind, value: &Value) -> CanonicalEvent {
    rest(kind, value)
        .expect("parses")
        .expect("is an object of the kind")
}

fn webhook_events(event: &str, body: &Value) -> Vec<CanonicalEvent> {
    let request = signed(event, serde_json::to_vec(body).unwrap());
    GithubWebhooks::new()
        .normalize_webhook(&request)
        .expect("normalizes")
        .events
}

fn fields(event: &CanonicalEvent) -> &Fields {
    match &event.change {
        Change::Observed { fields, .. } => fields,
        other => panic!("expected an observation, got {other:?}"),
    }
}

fn keys(fields: &Fields) -> BTreeSet<String> {
    fields.keys().cloned().collect()
}

/// A real REST issue that is not a pull request (recorded from api.github.com).
fn recorded_issue() -> Value {
    let session = fixture_json("recorded/paginate-issues.json");
    session[0]["response"][0].clone()
}

#[test]
fn rest_events_are_authoritative_backfills_named_by_the_read() {
    let event = rest_event(ResourceKind::Issue, &recorded_issue());
    assert_eq!(event.authority, Authority::Authoritative);
    assert_eq!(event.action, "backfill");
    assert_eq!(event.delivery_id.as_str(), "read-42");
    assert_eq!(event.native_id.as_str(), "1000");
    assert_eq!(event.link.number, Some(13));
    assert_eq!(
        event.target.map(|t| t.path).as_deref(),
        Some("octokit-fixture-org/paginate-issues")
    );
}

#[test]
fn webhook_and_rest_issue_fields_have_the_same_keys() {
    let webhook = &webhook_events("issues", &fixture_json("webhooks/issues/opened.json"))[0];
    let rest = rest_event(ResourceKind::Issue, &recorded_issue());
    let webhook_keys = keys(fields(webhook));
    let rest_keys = keys(fields(&rest));
    // The 2019 `opened` example predates GitHub's `state_reason`; the payload lacks the key,
    // so the webhook leaves the field out rather than inventing a value.
    assert!(
        fixture_json("webhooks/issues/opened.json")["issue"]
            .get("state_reason")
            .is_none()
    );
    let mut expected = webhook_keys.clone();
    expected.insert("state_reason".to_owned());
    assert_eq!(rest_keys, expected);
    // The complete REST issue carries every field of the canonical issue.
    let canonical: BTreeSet<String> = [
        "number",
        "title",
        "body",
        "state",
        "state_reason",
        "labels",
        "assignees",
        "milestone",
        "locked",
        "author",
        "created_at",
        "closed_at",
        "html_url",
        "pull_request",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    assert_eq!(rest_keys, canonical);
}

#[test]
fn the_same_issue_yields_identical_fields_from_a_webhook_and_from_rest() {
    // GitHub's REST example issue, without its `pull_request` key (so it is a plain issue),
    // delivered both ways: as the `issue` of a real `opened` webhook and as a REST object.
    let mut issue = fixture_json("rest/issues/issue.json");
    issue.as_object_mut().unwrap().remove("pull_request");
    let mut delivery = fixture_json("webhooks/issues/opened.json");
    delivery["issue"] = issue.clone();

    let webhook = &webhook_events("issues", &delivery)[0];
    let rest = rest_event(ResourceKind::Issue, &issue);
    assert_eq!(fields(webhook), fields(&rest));
    assert_eq!(webhook.native_id, rest.native_id);
    assert_eq!(webhook.link, rest.link);
    assert_eq!(webhook.event_time, rest.event_time);
    match (&webhook.change, &rest.change) {
        (Change::Observed { version: a, .. }, Change::Observed { version: b, .. }) => {
            assert_eq!(a, b);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn comments_labels_and_milestones_converge_too() {
    // The webhook's comment object has the REST shape; read it both ways.
    let delivery = fixture_json("webhooks/issue_comment/edited.json");
    let webhook = &webhook_events("issue_comment", &delivery)[0];
    let rest = rest_event(ResourceKind::Comment, &delivery["comment"]);
    let mut webhook_fields = fields(webhook).clone();
    // A REST comment names its issue only by URL: the number, not the native id.
    assert_eq!(
        webhook_fields.remove("issue_native_id"),
        Some(json!("444500041"))
    );
    assert_eq!(&webhook_fields, fields(&rest));

    for (event, file, kind, object) in [
        ("label", "created", ResourceKind::Label, "label"),
        ("label", "edited", ResourceKind::Label, "label"),
        ("milestone", "created", ResourceKind::Milestone, "milestone"),
        ("milestone", "closed", ResourceKind::Milestone, "milestone"),
    ] {
        let delivery = fixture_json(&format!("webhooks/{event}/{file}.json"));
        let webhook = &webhook_events(event, &delivery)[0];
        let rest = rest_event(kind, &delivery[object]);
        assert_eq!(fields(webhook), fields(&rest), "{event}/{file}");
        assert_eq!(webhook.link, rest.link, "{event}/{file}");
    }
}

#[test]
fn rest_comment_fields() {
    let event = rest_event(
        ResourceKind::Comment,
        &fixture_json("rest/issues/issue-comment.json"),
    );
    assert_eq!(event.kind, ResourceKind::Comment);
    assert_eq!(
        json!(fields(&event)),
        json!({
            "issue_number": 1347,
            "body": "Me too",
            "author": "octocat",
            "created_at": "2011-04-14T16:00:49Z",
            "html_url": "https://github.com/octocat/Hello-World/issues/1347#issuecomment-1",
        })
    );
}

#[test]
fn pull_requests_listed_among_issues_project_their_issue_side() {
    let event = rest(ResourceKind::Issue, &fixture_json("rest/issues/issue.json"))
        .unwrap()
        .expect("the issue side of a pull request");
    let Change::Observed { fields, .. } = &event.change else {
        panic!("an observation");
    };
    assert_eq!(fields["pull_request"], json!(true));
    let items = fixture_json("rest/issues/issue-items.json");
    for item in items.as_array().unwrap() {
        assert!(rest(ResourceKind::Issue, item).unwrap().is_some());
    }
}

#[test]
fn every_recorded_issue_page_parses() {
    let session = fixture_json("recorded/paginate-issues.json");
    let mut numbers = Vec::new();
    for entry in session.as_array().unwrap() {
        for item in entry["response"].as_array().unwrap() {
            numbers.push(rest_event(ResourceKind::Issue, item).link.number.unwrap());
        }
    }
    assert_eq!(numbers, (1..=13).rev().collect::<Vec<u64>>());
}

#[test]
fn kinds_the_provider_does_not_read_are_unsupported() {
    for (kind, file) in [
        (ResourceKind::LogRef, "rest/actions/job.json"),
        (
            ResourceKind::BranchProtection,
            "rest/forge/branch-protection.json",
        ),
    ] {
        match rest(kind, &fixture_json(file)) {
            Err(Error::Unsupported {
                kind: unsupported,
                detail,
            }) => {
                assert_eq!(unsupported, kind);
                assert!(detail.contains("pull_request"), "{detail}");
            }
            other => panic!("{kind}: {other:?}"),
        }
    }
}

#[test]
fn bad_shapes_are_malformed() {
    for (value, needle) in [
        (fixture_json("rest/issues/issue-items.json"), "an array"),
        (json!("issue"), "a string"),
        (json!({"number": 1, "title": "no id"}), "missing field `id`"),
        (
            json!({"id": 1, "number": 1, "state": "merged"}),
            "unknown variant `merged`",
        ),
    ] {
        match rest(ResourceKind::Issue, &value) {
            Err(Error::MalformedPayload { reason, .. }) => {
                assert!(reason.contains(needle), "{reason}");
                assert!(reason.contains("REST issue object"), "{reason}");
            }
            other => panic!("{value}: {other:?}"),
        }
    }
}

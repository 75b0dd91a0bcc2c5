//! The git forge and CI/CD mapping: pull requests, reviews, refs, repositories, checks,
//! statuses, Actions, deployments and installations.

// A test states its expectation by failing loudly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{fixture_json, signed};
use kradle_provider_github::GithubWebhooks;
use kradle_sync_core::{
    CanonicalEvent, Change, DeliveryId, Fields, Interface, NormalizedWebhook, Removal,
    ResourceKind, WebhookAdapter,
};
use serde_json::{Value, json};

fn normalize_value(event: &str, value: &Value) -> NormalizedWebhook {
    let request = signed(event, serde_json::to_vec(value).unwrap());
    GithubWebhooks::new()
        .normalize_webhook(&request)
        .expect("normalizes")
}

fn normalize_fixture(event: &str, file: &str) -> NormalizedWebhook {
    normalize_value(
        event,
        &fixture_json(&format!("webhooks/{event}/{file}.json")),
    )
}

fn rest_event(kind: ResourceKind, value: &Value) -> CanonicalEvent {
    GithubWebhooks::new()
        .parse_rest_object(kind, value, &DeliveryId::new("read-1"))
        .expect("parses")
        .expect("is an object of the kind")
}

fn fields(event: &CanonicalEvent) -> &Fields {
    match &event.change {
        Change::Observed { fields, .. } => fields,
        other => panic!("expected an observation, got {other:?}"),
    }
}

fn condition(event: &CanonicalEvent) -> (&str, bool, &str) {
    match &event.change {
        Change::Condition {
            condition,
            status,
            reason,
        } => (condition, *status, reason),
        other => panic!("expected a condition, got {other:?}"),
    }
}

fn is_deleted(event: &CanonicalEvent) -> bool {
    matches!(
        event.change,
        Change::Removed {
            removal: Removal::Deleted,
            ..
        }
    )
}

#[test]
fn every_fixture_maps_to_the_expected_kinds() {
    let expected: &[(&str, &[ResourceKind])] = &[
        ("pull_request", &[ResourceKind::PullRequest]),
        (
            "pull_request_review",
            &[ResourceKind::Review, ResourceKind::PullRequest],
        ),
        (
            "pull_request_review_comment",
            &[ResourceKind::ReviewComment, ResourceKind::PullRequest],
        ),
        ("push", &[ResourceKind::Ref]),
        ("create", &[ResourceKind::Ref]),
        ("delete", &[ResourceKind::Ref]),
        ("workflow_run", &[ResourceKind::Pipeline]),
        ("workflow_job", &[ResourceKind::Job]),
        ("check_suite", &[ResourceKind::CheckSuite]),
        ("status", &[ResourceKind::CommitStatus]),
        ("repository", &[ResourceKind::Repository]),
        ("member", &[ResourceKind::Collaborator]),
        ("deployment", &[ResourceKind::Deployment]),
        ("deployment_status", &[ResourceKind::Deployment]),
        ("deploy_key", &[ResourceKind::DeployKey]),
        ("branch_protection_rule", &[ResourceKind::BranchProtection]),
        ("installation", &[ResourceKind::Repository]),
        ("installation_repositories", &[ResourceKind::Repository]),
    ];
    for (event, kinds) in expected {
        let dir = common::fixtures().join("webhooks").join(event);
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let value: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let normalized = normalize_value(event, &value);
            let got: Vec<ResourceKind> = normalized.events.iter().map(|e| e.kind).collect();
            assert_eq!(&got, kinds, "{}", path.display());
            assert_eq!(normalized.ignored, None, "{}", path.display());
            for e in &normalized.events {
                assert_eq!(e.interface, e.kind.interface());
            }
        }
    }
}

#[test]
fn a_check_runs_requested_action_is_out_of_scope() {
    let normalized = normalize_fixture("check_run", "requested_action");
    assert!(normalized.events.is_empty());
    assert!(normalized.ignored.unwrap().contains("requested_action"));
    assert_eq!(normalized.target.unwrap().path, "electron/electron");
    let completed = normalize_fixture("check_run", "completed");
    assert_eq!(completed.events[0].kind, ResourceKind::CheckRun);
    assert_eq!(completed.events[0].interface, Interface::Cicd);
}

#[test]
fn a_push_observes_its_ref_and_a_deleting_push_removes_it() {
    let normalized = normalize_fixture("push", "event");
    let event = &normalized.events[0];
    assert_eq!(event.native_id.as_str(), "refs/tags/simple-tag");
    assert_eq!(event.action, "push");
    assert_eq!(
        json!(fields(event)),
        json!({
            "name": "refs/tags/simple-tag",
            "sha": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
            "ref_type": "tag",
            "forced": false,
        })
    );
    // The version is the repository's `pushed_at`, sent as Unix seconds in push payloads.
    assert_eq!(
        event.event_time.unwrap().to_rfc3339(),
        "2019-05-15T15:20:57+00:00"
    );

    // Derived from the real payload: the same push deleting the ref.
    let mut push = fixture_json("webhooks/push/event.json");
    push["deleted"] = json!(true);
    push["after"] = json!("0000000000000000000000000000000000000000");
    assert!(is_deleted(&normalize_value("push", &push).events[0]));

    let mut forced = fixture_json("webhooks/push/event.json");
    forced["forced"] = json!(true);
    assert_eq!(
        fields(&normalize_value("push", &forced).events[0])["forced"],
        true
    );
}

#[test]
fn create_observes_what_it_knows_and_delete_removes() {
    let created = normalize_fixture("create", "event");
    assert_eq!(created.events[0].native_id.as_str(), "refs/tags/simple-tag");
    // The payload names no commit: `sha` and `forced` stay absent, never guessed.
    assert_eq!(
        json!(fields(&created.events[0])),
        json!({"name": "refs/tags/simple-tag", "ref_type": "tag"})
    );
    let deleted = normalize_fixture("delete", "event");
    assert_eq!(deleted.events[0].native_id, created.events[0].native_id);
    assert!(is_deleted(&deleted.events[0]));
}

#[test]
fn a_status_is_keyed_by_its_own_id() {
    let normalized = normalize_fixture("status", "event");
    let event = &normalized.events[0];
    assert_eq!(event.kind, ResourceKind::CommitStatus);
    assert_eq!(event.native_id.as_str(), "6805126730");
    assert_eq!(event.action, "status");
    assert_eq!(normalized.action, None);
    assert_eq!(
        fields(event)["sha"],
        "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    );
    assert_eq!(fields(event)["state"], "success");
}

#[test]
fn installation_events_set_installation_ready() {
    for (file, status) in [
        ("created", true),
        ("unsuspend", true),
        ("new_permissions_accepted", true),
        ("deleted", false),
        ("suspend", false),
    ] {
        let normalized = normalize_fixture("installation", file);
        assert_eq!(normalized.target, None);
        let event = &normalized.events[0];
        let (name, got, reason) = condition(event);
        assert_eq!((name, got), ("InstallationReady", status), "{file}");
        assert!(reason.contains("installation"), "{reason}");
    }
    let removed = normalize_fixture("installation_repositories", "removed");
    let event = &removed.events[0];
    assert!(!condition(event).1);
    assert_eq!(event.native_id.as_str(), "1296269");
    assert_eq!(event.target.as_ref().unwrap().path, "octocat/Hello-World");
    let added = normalize_fixture("installation_repositories", "added");
    assert!(condition(&added.events[0]).1);
    assert_eq!(
        added.events[0].target.as_ref().unwrap().path,
        "Codertocat/Space"
    );
}

#[test]
fn repository_deletion_removes_and_renames_keep_the_previous_target() {
    // Derived from a real payload: the `created` delivery with action `deleted`.
    let mut deleted = fixture_json("webhooks/repository/created.json");
    deleted["action"] = json!("deleted");
    let normalized = normalize_value("repository", &deleted);
    assert!(is_deleted(&normalized.events[0]));

    let transferred = normalize_fixture("repository", "transferred");
    // Known to its binding by the previous owner; the new path is in the fields.
    assert_eq!(
        transferred.target.as_ref().unwrap().path,
        "octocat/Hello-World"
    );
    assert_eq!(
        fields(&transferred.events[0])["full_name"],
        "Octocoders/Hello-World"
    );

    let mut renamed = fixture_json("webhooks/repository/renamed.json");
    renamed["changes"]["repository"]["name"]["from"] = json!("Old-Name");
    let normalized = normalize_value("repository", &renamed);
    assert_eq!(normalized.target.unwrap().path, "Octocoders/Old-Name");
    assert!(matches!(
        normalized.events[0].change,
        Change::Observed { .. }
    ));
}

#[test]
fn pull_requests_keep_merge_commits_only_once_merged() {
    let assigned = normalize_fixture("pull_request", "assigned");
    let pr = fields(&assigned.events[0]);
    // The payload has a test-merge sha, but the pull request is not merged.
    assert_eq!(pr["merged"], false);
    assert_eq!(pr["merge_commit_sha"], Value::Null);

    let mut merged = fixture_json("webhooks/pull_request/closed.json");
    merged["pull_request"]["merged"] = json!(true);
    let normalized = normalize_value("pull_request", &merged);
    assert_eq!(
        fields(&normalized.events[0])["merge_commit_sha"],
        merged["pull_request"]["merge_commit_sha"]
    );
}

#[test]
fn deployments_take_their_state_from_statuses_only() {
    let created = normalize_fixture("deployment", "created");
    assert!(!fields(&created.events[0]).contains_key("state"));
    let status = normalize_fixture("deployment_status", "created");
    assert_eq!(fields(&status.events[0])["state"], "success");
    assert_eq!(status.events[0].native_id, created.events[0].native_id);
}

#[test]
fn removals_of_collaborators_keys_rules_and_review_comments() {
    let mut member = fixture_json("webhooks/member/added.json");
    member["action"] = json!("removed");
    assert!(is_deleted(&normalize_value("member", &member).events[0]));
    let mut key = fixture_json("webhooks/deploy_key/created.json");
    key["action"] = json!("deleted");
    assert!(is_deleted(&normalize_value("deploy_key", &key).events[0]));
    assert!(is_deleted(
        &normalize_fixture("branch_protection_rule", "deleted").events[0]
    ));
    assert!(is_deleted(
        &normalize_fixture("pull_request_review_comment", "deleted").events[0]
    ));
}

#[test]
fn a_member_permission_comes_from_the_change_when_given() {
    let mut edited = fixture_json("webhooks/member/edited.json");
    edited["changes"]["permission"] = json!({"from": "write", "to": "admin"});
    let normalized = normalize_value("member", &edited);
    assert_eq!(
        json!(fields(&normalized.events[0])),
        json!({"login": "octocat", "permission": "admin"})
    );
    // Without it the permission is unknown, so absent.
    let plain = normalize_fixture("member", "edited");
    assert!(!fields(&plain.events[0]).contains_key("permission"));
}

/// The same object read from a webhook payload and as a REST object gives the same fields.
#[test]
fn webhook_and_rest_objects_converge() {
    let cases: &[(&str, &str, &str, ResourceKind)] = &[
        (
            "pull_request",
            "opened",
            "pull_request",
            ResourceKind::PullRequest,
        ),
        (
            "pull_request",
            "closed",
            "pull_request",
            ResourceKind::PullRequest,
        ),
        (
            "workflow_run",
            "completed",
            "workflow_run",
            ResourceKind::Pipeline,
        ),
        (
            "workflow_job",
            "completed",
            "workflow_job",
            ResourceKind::Job,
        ),
        (
            "check_run",
            "completed",
            "check_run",
            ResourceKind::CheckRun,
        ),
        (
            "check_suite",
            "completed",
            "check_suite",
            ResourceKind::CheckSuite,
        ),
        (
            "repository",
            "edited",
            "repository",
            ResourceKind::Repository,
        ),
        ("deploy_key", "created", "key", ResourceKind::DeployKey),
    ];
    for (event, file, object, kind) in cases {
        let delivery = fixture_json(&format!("webhooks/{event}/{file}.json"));
        let webhook = &normalize_value(event, &delivery).events[0];
        let rest = rest_event(*kind, &delivery[*object]);
        assert_eq!(fields(webhook), fields(&rest), "{event}/{file}");
        assert_eq!(webhook.native_id, rest.native_id, "{event}/{file}");
        assert_eq!(webhook.event_time, rest.event_time, "{event}/{file}");
    }
}

#[test]
fn review_states_are_lower_case_from_either_source() {
    let rest = rest_event(
        ResourceKind::Review,
        &fixture_json("rest/forge/pull-request-review.json"),
    );
    assert_eq!(fields(&rest)["state"], "changes_requested");
    assert_eq!(fields(&rest)["pull_number"], 12);
    let submitted = normalize_fixture("pull_request_review", "submitted");
    assert_eq!(fields(&submitted.events[0])["state"], "commented");
    assert_eq!(fields(&submitted.events[0])["pull_number"], 2);
}

#[test]
fn rest_statuses_name_their_commit_by_url() {
    let status = rest_event(
        ResourceKind::CommitStatus,
        &fixture_json("rest/checks/status.json"),
    );
    assert_eq!(
        fields(&status)["sha"],
        "6dcb09b5b57875f334f61aebed695e2e4193db5e"
    );
}

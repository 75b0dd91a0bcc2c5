//! Snapshots of the normalized output of every GitHub webhook fixture and of the REST
//! objects the provider parses. Review a changed snapshot by eye before accepting it.

// A test states its expectation by failing loudly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use kradle_provider_github::GithubWebhooks;
use kradle_sync_core::{CanonicalEvent, DeliveryId, ResourceKind, WebhookAdapter};
use serde::Serialize;
use serde_json::Value;

/// Every file `fixtures/github/webhooks/<event>/<action>.json`, delivered with
/// `X-GitHub-Event: <event>`.
#[test]
fn webhook_fixtures() {
    let adapter = GithubWebhooks::new();
    insta::glob!("../../../fixtures/github/webhooks", "*/*.json", |path| {
        let event = path
            .parent()
            .and_then(|dir| dir.file_name())
            .and_then(|name| name.to_str())
            .expect("fixture folder named for its event");
        let body = std::fs::read(path).expect("fixture readable");
        let request = common::signed(event, body);
        let normalized = adapter
            .normalize_webhook(&request)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        insta::assert_json_snapshot!(normalized);
    });
}

/// The events of a REST fixture: one object, or a list of them.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Parsed {
    One(Box<Option<CanonicalEvent>>),
    List(Vec<Option<CanonicalEvent>>),
}

/// Parses a REST fixture (one object, or a list of them) as `kind`.
fn parse(kind: ResourceKind, value: &Value) -> Parsed {
    let adapter = GithubWebhooks::new();
    let read_id = DeliveryId::new("backfill-1");
    let one = |object: &Value| match adapter.parse_rest_object(kind, object, &read_id) {
        Ok(event) => event,
        Err(e) => panic!("{kind}: {e}"),
    };
    match value {
        Value::Array(items) => Parsed::List(items.iter().map(one).collect()),
        object => Parsed::One(Box::new(one(object))),
    }
}

/// The `response` bodies of a recorded session whose path matches `path_contains`.
fn recorded(scenario: &str, path_contains: &str) -> Vec<Value> {
    let session = common::fixture_json(&format!("recorded/{scenario}.json"));
    let entries = session
        .as_array()
        .expect("a recorded session is an array of entries");
    entries
        .iter()
        .filter(|entry| {
            entry["method"] == "get"
                && entry["status"] == 200
                && entry["path"]
                    .as_str()
                    .is_some_and(|p| p.contains(path_contains))
        })
        .map(|entry| entry["response"].clone())
        .collect()
}

/// One snapshot test per REST fixture: `name: Kind, "path under rest/";`.
macro_rules! rest_snapshots {
    ($($name:ident: $kind:ident, $file:literal;)*) => {
        $(
            #[test]
            fn $name() {
                let value = common::fixture_json(concat!("rest/", $file));
                insta::assert_json_snapshot!(parse(ResourceKind::$kind, &value));
            }
        )*
    };
}

rest_snapshots! {
    rest_issue: Issue, "issues/issue.json";
    rest_issue_items: Issue, "issues/issue-items.json";
    rest_issue_comment: Comment, "issues/issue-comment.json";
    rest_issue_comment_items: Comment, "issues/issue-comment-items.json";
    rest_label: Label, "issues/label.json";
    rest_label_items: Label, "issues/label-items.json";
    rest_milestone: Milestone, "issues/milestone.json";
    rest_milestone_items: Milestone, "issues/milestone-items.json";
    rest_pull_request: PullRequest, "forge/pull-request.json";
    rest_pull_request_simple_items: PullRequest, "forge/pull-request-simple-items.json";
    rest_review: Review, "forge/pull-request-review.json";
    rest_review_items: Review, "forge/pull-request-review-items.json";
    rest_review_comment: ReviewComment, "forge/pull-request-review-comment.json";
    rest_review_comment_items: ReviewComment, "forge/pull-request-review-comment-items.json";
    rest_repository: Repository, "forge/full-repository.json";
    rest_minimal_repository_items: Repository, "forge/minimal-repository-items.json";
    rest_git_ref: Ref, "forge/git-ref.json";
    rest_git_ref_items: Ref, "forge/git-ref-items.json";
    rest_deploy_key: DeployKey, "forge/deploy-key.json";
    rest_deploy_key_items: DeployKey, "forge/deploy-key-items.json";
    rest_collaborator_items: Collaborator, "forge/collaborator-items.json";
    rest_workflow_run: Pipeline, "actions/workflow-run.json";
    rest_job: Job, "actions/job.json";
    rest_runner: Runner, "actions/runner.json";
    rest_artifact: Artifact, "actions/artifact.json";
    rest_check_run: CheckRun, "checks/check-run.json";
    rest_check_suite: CheckSuite, "checks/check-suite.json";
    rest_status: CommitStatus, "checks/status.json";
    rest_status_items: CommitStatus, "checks/status-items.json";
}

/// One snapshot test per paginated REST wrapper (`{"total_count": n, "<key>": [...]}`),
/// of its items: `name: Kind, "path under rest/", "key";`.
macro_rules! rest_page_snapshots {
    ($($name:ident: $kind:ident, $file:literal, $key:literal;)*) => {
        $(
            #[test]
            fn $name() {
                let page = common::fixture_json(concat!("rest/", $file));
                assert!(page[$key].is_array(), "{} has `{}`", $file, $key);
                insta::assert_json_snapshot!(parse(ResourceKind::$kind, &page[$key]));
            }
        )*
    };
}

rest_page_snapshots! {
    rest_workflow_run_page: Pipeline, "actions/workflow-run-paginated.json", "workflow_runs";
    rest_job_page: Job, "actions/job-paginated.json", "jobs";
    rest_runner_page: Runner, "actions/runner-paginated.json", "runners";
    rest_artifact_page: Artifact, "actions/artifact-paginated.json", "artifacts";
    rest_check_run_page: CheckRun, "checks/check-run-paginated.json", "check_runs";
    rest_check_suite_page: CheckSuite, "checks/check-suite-paginated.json", "check_suites";
}

/// Real commit statuses created and listed against api.github.com.
#[test]
fn recorded_statuses() {
    let session = common::fixture_json("recorded/create-status.json");
    let reads: Vec<Parsed> = session
        .as_array()
        .expect("entries")
        .iter()
        .filter(|entry| {
            entry["path"]
                .as_str()
                .is_some_and(|p| p.contains("/statuses"))
        })
        .map(|entry| parse(ResourceKind::CommitStatus, &entry["response"]))
        .collect();
    assert_eq!(reads.len(), 3, "two creates and one listing");
    insta::assert_json_snapshot!(reads);
}

/// GitHub's REST issue example is a pull request (it has a `pull_request` key), so it parses
/// to nothing (see `rest_issue`). This derives a plain issue from it in code, by removing
/// that key, to show how a complete REST issue maps.
#[test]
fn rest_issue_without_pull_request_key() {
    let mut value = common::fixture_json("rest/issues/issue.json");
    value
        .as_object_mut()
        .and_then(|issue| issue.remove("pull_request"));
    insta::assert_json_snapshot!(parse(ResourceKind::Issue, &value));
}

/// Real issue listings (three pages and a last one) recorded against api.github.com.
#[test]
fn recorded_paginate_issues() {
    let pages: Vec<Parsed> = recorded("paginate-issues", "/issues")
        .iter()
        .map(|page| parse(ResourceKind::Issue, page))
        .collect();
    assert_eq!(pages.len(), 5, "the recorded session has five pages");
    insta::assert_json_snapshot!(pages);
}

/// A real label listing and single-label reads recorded against api.github.com.
#[test]
fn recorded_labels() {
    let reads: Vec<Parsed> = recorded("labels", "/labels")
        .iter()
        .map(|read| parse(ResourceKind::Label, read))
        .collect();
    assert_eq!(reads.len(), 2, "a listing and one single read");
    insta::assert_json_snapshot!(reads);
}

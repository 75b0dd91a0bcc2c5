//! Snapshots of the normalized output of every GitLab webhook fixture and of the REST
//! objects the provider parses. Review a changed snapshot by eye before accepting it.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use kradle_provider_gitlab::GitlabWebhooks;
use kradle_sync_core::{CanonicalEvent, DeliveryId, ResourceKind, WebhookAdapter};
use serde::Serialize;
use serde_json::Value;

/// Every file `fixtures/gitlab/webhooks/<object_kind>/<source>-<name>.json`, delivered with
/// the `X-Gitlab-Event` GitLab sends for that kind.
#[test]
fn webhook_fixtures() {
    let adapter = GitlabWebhooks::new();
    insta::glob!("../../../fixtures/gitlab/webhooks", "*/*.json", |path| {
        let kind = path
            .parent()
            .and_then(|dir| dir.file_name())
            .and_then(|name| name.to_str())
            .expect("fixture folder named for its kind");
        let body = std::fs::read(path).expect("fixture readable");
        let request = common::delivery(common::hook_of(kind), body);
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
    let adapter = GitlabWebhooks::new();
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
    rest_issue_moved: Issue, "issues/go-gitlab-issue_move.json";
    rest_group_issues: Issue, "issues/narkoz-group_issues.json";
    rest_issue_notes_system: Comment, "notes/gitlab-docs-list_issue_notes.json";
    rest_issue_notes_search: Comment, "notes/gitlab-docs-search_notes.json";
    rest_issue_notes_trimmed: Comment, "notes/narkoz-notes.json";
    rest_merge_request_notes_search: ReviewComment, "notes/gitlab-docs-search_notes.json";
    rest_merge_request_diff_note: ReviewComment, "notes/narkoz-merge_request_discussion_note.json";
    rest_labels: Label, "labels/gitlab-docs-list_labels.json";
    rest_milestones: Milestone, "milestones/gitlab-docs-list_milestones.json";
    rest_merge_request: PullRequest, "merge_requests/go-gitlab-get_merge_request.json";
    rest_merge_requests: PullRequest, "merge_requests/go-gitlab-get_merge_requests.json";
    rest_merge_request_0_73_1: PullRequest, "merge_requests/go-gitlab-0.73.1-get_merge_request.json";
    rest_merge_requests_0_73_1: PullRequest, "merge_requests/go-gitlab-0.73.1-get_merge_requests.json";
    rest_pipeline: Pipeline, "pipelines/narkoz-pipeline.json";
    rest_pipelines: Pipeline, "pipelines/narkoz-pipelines.json";
    rest_pipeline_cancel: Pipeline, "pipelines/narkoz-pipeline_cancel.json";
    rest_pipeline_retry: Pipeline, "pipelines/narkoz-pipeline_retry.json";
    rest_pipeline_jobs: Job, "pipelines/narkoz-pipeline_jobs.json";
    rest_job: Job, "jobs/narkoz-job.json";
    rest_jobs: Job, "jobs/narkoz-builds.json";
    rest_job_retry: Job, "jobs/narkoz-build_retry.json";
    rest_job_cancel: Job, "jobs/narkoz-build_cancel.json";
    rest_job_artifacts: Artifact, "jobs/narkoz-builds.json";
    rest_pipeline_job_artifacts: Artifact, "pipelines/narkoz-pipeline_jobs.json";
    rest_runner: Runner, "runners/narkoz-runner.json";
    rest_project_runners: Runner, "runners/narkoz-project_runners.json";
    rest_commit_statuses: CommitStatus, "commit_statuses/narkoz-project_commit_status.json";
    rest_commit_status_set: CommitStatus, "commit_statuses/narkoz-project_update_commit_status.json";
    rest_project: Repository, "projects/gitlab-docs-get_project.json";
    rest_branch: Ref, "branches/go-gitlab-get_branch.json";
    rest_branches: Ref, "branches/go-gitlab-list_branches.json";
    rest_protected_branch: BranchProtection, "protected_branches/narkoz-protected_branch.json";
    rest_protected_branches: BranchProtection, "protected_branches/narkoz-protected_branches.json";
    rest_deploy_key: DeployKey, "deploy_keys/narkoz-project_key.json";
    rest_deploy_keys: DeployKey, "deploy_keys/narkoz-project_keys.json";
    rest_member: Collaborator, "members/narkoz-team_member.json";
    rest_members_all: Collaborator, "members/gitlab-docs-list_all_members.json";
}

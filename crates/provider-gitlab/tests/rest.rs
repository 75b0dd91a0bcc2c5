//! `parse_rest_object`: REST v4 objects as authoritative events with the same field names
//! as the hooks', and the objects a listing holds that are not of the kind asked for.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;

use common::{delivery, fixture, fixture_json};
use kradle_provider_gitlab::GitlabWebhooks;
use kradle_sync_core::{
    Authority, CanonicalEvent, Change, DeliveryId, Error, Fields, ResourceKind, WebhookAdapter,
};
use serde_json::{Value, json};

fn parse(kind: ResourceKind, value: &Value) -> Result<Option<CanonicalEvent>, Error> {
    GitlabWebhooks::new().parse_rest_object(kind, value, &DeliveryId::new("read-1"))
}

fn parsed(kind: ResourceKind, value: &Value) -> CanonicalEvent {
    parse(kind, value).unwrap().expect("an object of the kind")
}

fn fields(event: &CanonicalEvent) -> &Fields {
    match &event.change {
        Change::Observed { fields, .. } => fields,
        other => panic!("expected an observation, got {other:?}"),
    }
}

fn keys(event: &CanonicalEvent) -> BTreeSet<String> {
    fields(event).keys().cloned().collect()
}

fn first(path: &str) -> Value {
    match fixture_json(path) {
        Value::Array(mut items) => items.remove(0),
        one => one,
    }
}

fn hook_event(hook: &str, path: &str, index: usize) -> CanonicalEvent {
    let normalized = GitlabWebhooks::new()
        .normalize_webhook(&delivery(hook, fixture(path)))
        .unwrap();
    normalized.events.into_iter().nth(index).unwrap()
}

#[test]
fn a_rest_issue_has_every_field_its_hook_has() {
    let rest = parsed(
        ResourceKind::Issue,
        &first("rest/issues/go-gitlab-issue_move.json"),
    );
    assert_eq!(rest.authority, Authority::Authoritative);
    let hook = hook_event("Issue Hook", "webhooks/issue/go-gitlab-issue.json", 0);
    let missing: Vec<_> = keys(&hook).difference(&keys(&rest)).cloned().collect();
    assert!(missing.is_empty(), "REST lacks {missing:?}");
    let f = fields(&rest);
    assert_eq!(f["number"], json!(11));
    assert_eq!(f["state"], json!("open"));
    assert_eq!(f["author"], json!("solon.cremin"));
    assert_eq!(f["assignees"], json!(["axel.block"]));
}

#[test]
fn a_rest_issue_names_its_milestone_by_number() {
    // narkoz's group issues: the milestone `{"id": 11, "iid": 3, …}`.
    let rest = parsed(
        ResourceKind::Issue,
        &first("rest/issues/narkoz-group_issues.json"),
    );
    assert_eq!(fields(&rest)["milestone"], json!(3));
    assert_eq!(fields(&rest)["state"], json!("closed"));
}

#[test]
fn a_rest_merge_request_has_every_field_its_hook_has() {
    let rest = parsed(
        ResourceKind::PullRequest,
        &first("rest/merge_requests/go-gitlab-get_merge_request.json"),
    );
    let hook = hook_event(
        "Merge Request Hook",
        "webhooks/merge_request/go-gitlab-merge_request.json",
        0,
    );
    let missing: Vec<_> = keys(&hook).difference(&keys(&rest)).cloned().collect();
    assert!(missing.is_empty(), "REST lacks {missing:?}");
    assert_eq!(rest.link.number, Some(14656));
    assert_eq!(fields(&rest)["draft"], json!(true));
}

#[test]
fn a_rest_note_has_every_field_its_hook_has() {
    let rest = parsed(
        ResourceKind::Comment,
        &first("rest/notes/gitlab-docs-search_notes.json"),
    );
    let hook = hook_event("Note Hook", "webhooks/note/pydantic-issue-comment.json", 0);
    let missing: Vec<_> = keys(&hook)
        .difference(&keys(&rest))
        .filter(|k| k.as_str() != "html_url")
        .cloned()
        .collect();
    assert!(missing.is_empty(), "REST lacks {missing:?}");
    let f = fields(&rest);
    assert_eq!(f["issue_number"], json!(2));
    assert_eq!(f["issue_native_id"], json!("22"));
    assert_eq!(f["author"], json!("user1"));
}

#[test]
fn system_notes_and_notes_on_other_objects_are_not_comments() {
    for note in fixture_json("rest/notes/gitlab-docs-list_issue_notes.json")
        .as_array()
        .unwrap()
    {
        assert!(parse(ResourceKind::Comment, note).unwrap().is_none());
    }
    let issue_note = first("rest/notes/gitlab-docs-search_notes.json");
    assert!(
        parse(ResourceKind::ReviewComment, &issue_note)
            .unwrap()
            .is_none()
    );
    let diff_note = first("rest/notes/narkoz-merge_request_discussion_note.json");
    assert!(parse(ResourceKind::Comment, &diff_note).unwrap().is_none());
    let review = parsed(ResourceKind::ReviewComment, &diff_note);
    assert_eq!(fields(&review)["path"], json!("spec/omniauth/form_spec.rb"));
    assert_eq!(
        fields(&review)["commit_id"],
        json!("7d938cb8ac15788d71f4b67c035515a160ea76d8")
    );
}

#[test]
fn a_job_without_an_archive_is_no_artifact() {
    let jobs = fixture_json("rest/pipelines/narkoz-pipeline_jobs.json");
    let jobs = jobs.as_array().unwrap();
    let with = parsed(ResourceKind::Artifact, &jobs[0]);
    assert_eq!(fields(&with)["name"], json!("artifacts.zip"));
    assert!(parse(ResourceKind::Artifact, &jobs[1]).unwrap().is_none());
}

#[test]
fn labels_milestones_and_members_map_to_github_names() {
    let label = parsed(
        ResourceKind::Label,
        &first("rest/labels/gitlab-docs-list_labels.json"),
    );
    assert_eq!(fields(&label)["name"], json!("bug"));
    assert_eq!(fields(&label)["color"], json!("d9534f"), "without the `#`");
    let milestone = parsed(
        ResourceKind::Milestone,
        &first("rest/milestones/gitlab-docs-list_milestones.json"),
    );
    assert_eq!(milestone.native_id.as_str(), "12");
    assert_eq!(fields(&milestone)["number"], json!(3));
    assert_eq!(
        fields(&milestone)["state"],
        json!("open"),
        "`active` is open"
    );
    assert_eq!(fields(&milestone)["due_on"], json!("2013-11-29T00:00:00Z"));
    let member = parsed(
        ResourceKind::Collaborator,
        &first("rest/members/narkoz-team_member.json"),
    );
    assert_eq!(fields(&member)["login"], json!("john_smith"));
    assert_eq!(
        fields(&member)["permission"],
        json!("maintainer"),
        "access level 40"
    );
}

#[test]
fn a_project_is_the_repository_named_by_its_path() {
    let project = parsed(
        ResourceKind::Repository,
        &fixture_json("rest/projects/gitlab-docs-get_project.json"),
    );
    let f = fields(&project);
    assert_eq!(f["full_name"], json!("diaspora/diaspora-project-site"));
    assert_eq!(f["private"], json!(true));
    assert_eq!(f["default_branch"], json!("master"));
    assert_eq!(
        project.target.as_ref().map(|t| t.path.as_str()),
        Some("diaspora/diaspora-project-site")
    );
}

#[test]
fn anything_but_an_object_is_malformed() {
    for value in [json!([]), json!(null), json!("issue"), json!(7)] {
        match parse(ResourceKind::Issue, &value) {
            Err(Error::MalformedPayload { reason, .. }) => {
                assert!(reason.contains("JSON object"), "{reason}");
            }
            other => panic!("expected a malformed payload, got {other:?}"),
        }
    }
    match parse(ResourceKind::Issue, &json!({"title": "no id"})) {
        Err(Error::MalformedPayload { reason, .. }) => assert!(reason.contains("id"), "{reason}"),
        other => panic!("expected a malformed payload, got {other:?}"),
    }
}

#[test]
fn kinds_gitlab_has_no_object_for_are_unsupported() {
    let value = fixture_json("rest/merge_requests/gitlab-docs-get_approvals.json");
    for kind in [
        ResourceKind::Review,
        ResourceKind::CheckRun,
        ResourceKind::Deployment,
    ] {
        match parse(kind, &value) {
            Err(Error::Unsupported { .. }) => {}
            other => panic!("{kind}: expected unsupported, got {other:?}"),
        }
    }
}

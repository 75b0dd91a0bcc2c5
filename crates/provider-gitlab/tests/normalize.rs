//! `normalize_webhook`: every bad-input class, hooks and actions out of scope, the hooks'
//! mapping onto the canonical objects, versions from both of GitLab's time formats, and
//! ordering keys. Bodies are real fixtures; a test that needs another body derives it from
//! one in code and says how.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;

use common::{SECRET, delivery, fixture, fixture_json};
use kradle_provider_gitlab::GitlabWebhooks;
use kradle_sync_core::{
    Authority, CanonicalEvent, Change, Error, Fields, Interface, NormalizedWebhook, Removal,
    ResourceKind, Secret, SignatureScheme, WebhookAdapter, WebhookKey, WebhookRequest,
};
use serde_json::{Value, json};

const ISSUE: &str = "webhooks/issue/go-gitlab-issue.json";
const NOTE_ISSUE: &str = "webhooks/note/go-gitlab-note_issue.json";
const MR: &str = "webhooks/merge_request/go-gitlab-merge_request.json";

fn normalize(request: &WebhookRequest) -> Result<NormalizedWebhook, Error> {
    GitlabWebhooks::new().normalize_webhook(request)
}

fn normalize_fixture(hook: &str, path: &str) -> NormalizedWebhook {
    normalize(&delivery(hook, fixture(path))).expect("real payloads normalize")
}

fn normalize_value(hook: &str, value: &Value) -> NormalizedWebhook {
    normalize(&delivery(hook, serde_json::to_vec(value).unwrap())).expect("normalizes")
}

/// The reason of a malformed-payload error; fails the test on any other outcome.
fn malformed(result: Result<NormalizedWebhook, Error>) -> String {
    match result {
        Err(Error::MalformedPayload { provider, reason }) => {
            assert_eq!(provider.as_str(), "gitlab");
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

fn ignored(normalized: &NormalizedWebhook) -> &str {
    assert!(normalized.events.is_empty(), "{normalized:#?}");
    normalized.ignored.as_deref().expect("a reason")
}

// --- bad bodies -------------------------------------------------------------------------

#[test]
fn truncated_json_with_the_right_token_is_malformed_with_a_position() {
    let body = fixture(ISSUE);
    let request = delivery("Issue Hook", body[..body.len() / 2].to_vec());
    // The token does not cover the body, so verification passes ...
    GitlabWebhooks::new()
        .verify_webhook(
            &request,
            &WebhookKey::new(
                &Secret::new(SECRET),
                SignatureScheme::Token,
                chrono::Utc::now(),
            ),
        )
        .expect("the token is right");
    // ... and normalization says where the body ends.
    let reason = malformed(normalize(&request));
    assert!(reason.contains("Issue Hook"), "{reason}");
    assert!(reason.contains("line"), "{reason}");
}

#[test]
fn a_non_json_body_is_malformed() {
    let reason = malformed(normalize(&delivery(
        "Push Hook",
        b"object_kind=push&ref=refs/heads/main".to_vec(),
    )));
    assert!(reason.contains("Push Hook"), "{reason}");
}

#[test]
fn an_empty_body_is_malformed() {
    for body in [&b""[..], b"   \n"] {
        malformed(normalize(&delivery("Issue Hook", body.to_vec())));
    }
}

#[test]
fn json_that_is_not_an_object_is_malformed() {
    for body in [
        "[]",
        "[{\"object_kind\":\"issue\"}]",
        "\"issue\"",
        "null",
        "42",
    ] {
        let reason = malformed(normalize(&delivery("Issue Hook", body.as_bytes().to_vec())));
        assert!(reason.contains("JSON object"), "{body}: {reason}");
    }
}

#[test]
fn trailing_garbage_after_the_object_is_malformed() {
    let mut body = fixture(ISSUE);
    body.extend_from_slice(b"{}");
    malformed(normalize(&delivery("Issue Hook", body)));
}

#[test]
fn an_object_missing_what_the_hook_needs_is_malformed_and_names_it() {
    // Derived from the issue fixture: `object_attributes` removed.
    let mut value = fixture_json(ISSUE);
    value.as_object_mut().unwrap().remove("object_attributes");
    let reason = malformed(normalize(&delivery(
        "Issue Hook",
        serde_json::to_vec(&value).unwrap(),
    )));
    assert!(reason.contains("object_attributes"), "{reason}");
}

#[test]
fn a_wrongly_typed_field_is_malformed_and_names_it() {
    // Derived from the issue fixture: `iid` as an object.
    let mut value = fixture_json(ISSUE);
    value["object_attributes"]["iid"] = json!({"not": "a number"});
    let reason = malformed(normalize(&delivery(
        "Issue Hook",
        serde_json::to_vec(&value).unwrap(),
    )));
    assert!(reason.contains("Issue Hook"), "{reason}");
}

#[test]
fn deeply_nested_hostile_json_neither_overflows_the_stack_nor_panics() {
    let depth = 100_000;
    let mut body = b"{\"object_kind\":\"issue\",\"object_attributes\":".to_vec();
    body.extend(std::iter::repeat_n(b'[', depth));
    body.extend(std::iter::repeat_n(b']', depth));
    body.push(b'}');
    malformed(normalize(&delivery("Issue Hook", body)));
}

#[test]
fn the_header_and_the_body_must_agree_on_the_hook() {
    let reason = malformed(normalize(&delivery("Issue Hook", fixture(NOTE_ISSUE))));
    assert!(reason.contains("object_kind"), "{reason}");
    assert!(reason.contains("note"), "{reason}");
}

#[test]
fn a_body_of_several_megabytes_still_normalizes() {
    // Derived from the issue fixture: a 4 MiB description.
    let mut value = fixture_json(ISSUE);
    let big = "x".repeat(4 * 1024 * 1024);
    value["object_attributes"]["description"] = json!(big);
    let normalized = normalize_value("Issue Hook", &value);
    assert_eq!(fields(only_event(&normalized))["body"], json!(big));
}

// --- hooks and actions out of scope ------------------------------------------------------

#[test]
fn an_unknown_hook_is_ignored_with_a_reason_and_keeps_the_target() {
    let normalized = normalize_fixture("Wiki Page Hook", ISSUE);
    assert!(ignored(&normalized).contains("Wiki Page Hook"));
    assert_eq!(normalized.event, "Wiki Page Hook");
    assert_eq!(
        normalized.target.as_ref().map(|t| t.path.as_str()),
        Some("gitlabhq/gitlab-test")
    );
}

#[test]
fn an_unknown_hook_with_a_malformed_body_is_still_malformed() {
    malformed(normalize(&delivery(
        "Wiki Page Hook",
        b"{\"truncated".to_vec(),
    )));
}

#[test]
fn system_hooks_are_ignored_with_a_reason() {
    let normalized = normalize_fixture("System Hook", "webhooks/push/go-gitlab-push.json");
    assert!(ignored(&normalized).contains("system hooks"));
}

#[test]
fn notes_on_commits_and_snippets_are_ignored_with_a_reason() {
    for (path, what) in [
        ("webhooks/note/go-gitlab-note_commit.json", "Commit"),
        ("webhooks/note/go-gitlab-note_snippet.json", "Snippet"),
        ("webhooks/note/pydantic-commit-comment.json", "Commit"),
        ("webhooks/note/pydantic-snippet-comment.json", "Snippet"),
    ] {
        let normalized = normalize_fixture("Note Hook", path);
        assert!(ignored(&normalized).contains(what), "{path}");
        assert!(normalized.target.is_some(), "{path}");
    }
}

#[test]
fn system_notes_are_not_user_comments() {
    // Derived from the issue note fixture: `system: true`, as GitLab marks the notes it
    // writes itself ("changed the description", "closed").
    let mut value = fixture_json(NOTE_ISSUE);
    value["object_attributes"]["system"] = json!(true);
    let normalized = normalize_value("Note Hook", &value);
    assert!(ignored(&normalized).contains("system notes"));
}

#[test]
fn work_items_other_than_issues_are_ignored() {
    // Derived from the issue fixture: `object_kind: work_item`, as GitLab sends for tasks
    // and other work item types under the Issue Hook.
    let mut value = fixture_json(ISSUE);
    value["object_kind"] = json!("work_item");
    let normalized = normalize_value("Issue Hook", &value);
    assert!(ignored(&normalized).contains("work_item"));
}

#[test]
fn a_deleted_release_and_a_deployment_without_an_id_are_ignored() {
    // Derived from the release fixture: `action: delete`.
    let mut value = fixture_json("webhooks/release/go-gitlab-release.json");
    value["action"] = json!("delete");
    let normalized = normalize_value("Release Hook", &value);
    assert!(!ignored(&normalized).is_empty());
    let old = normalize_fixture(
        "Deployment Hook",
        "webhooks/deployment/go-gitlab-0.73.1-deployment.json",
    );
    assert!(ignored(&old).contains("deployment_id"));
}

#[test]
fn access_requests_to_a_group_change_no_collaborator() {
    // Derived from the group member fixture: the event GitLab sends when a user asks to
    // join.
    let mut value = fixture_json("webhooks/member/pydantic-group-add-member.json");
    value["event_name"] = json!("user_access_request_to_group");
    let normalized = normalize_value("Member Hook", &value);
    assert!(!ignored(&normalized).is_empty());
}

// --- confidential and renamed hooks ------------------------------------------------------

#[test]
fn confidential_hooks_normalize_as_their_public_counterparts() {
    let public = normalize_fixture("Issue Hook", ISSUE);
    let confidential = normalize_fixture("Confidential Issue Hook", ISSUE);
    assert_eq!(public.events, confidential.events);
    assert_eq!(confidential.event, "Confidential Issue Hook");
    let public = normalize_fixture("Note Hook", NOTE_ISSUE);
    let confidential = normalize_fixture("Confidential Note Hook", NOTE_ISSUE);
    assert_eq!(public.events, confidential.events);
}

#[test]
fn the_old_build_hook_name_is_the_job_hook() {
    let path = "webhooks/build/go-gitlab-build.json";
    let job = normalize_fixture("Job Hook", path);
    let build = normalize_fixture("Build Hook", path);
    assert_eq!(job.events, build.events);
    assert_eq!(only_event(&build).kind, ResourceKind::Job);
}

// --- identity, target and mapping ---------------------------------------------------------

#[test]
fn an_issue_is_its_rest_id_with_its_iid_as_number() {
    let normalized = normalize_fixture("Issue Hook", ISSUE);
    let event = only_event(&normalized);
    assert_eq!(event.kind, ResourceKind::Issue);
    assert_eq!(event.interface, Interface::IssueTracking);
    assert_eq!(event.authority, Authority::Webhook);
    assert_eq!(event.native_id.as_str(), "301");
    assert_eq!(event.link.number, Some(23));
    let f = fields(event);
    assert_eq!(f["number"], json!(23));
    assert_eq!(f["state"], json!("open"), "GitLab's `opened` is `open`");
    assert_eq!(
        f["labels"],
        json!(["API"]),
        "label objects become sorted names"
    );
    assert_eq!(f["assignees"], json!(["user1"]));
    assert_eq!(f["milestone"], json!(null));
    assert_eq!(normalized.action.as_deref(), Some("open"));
}

#[test]
fn the_target_is_the_project_path_and_the_org_its_top_level_group() {
    let normalized = normalize_fixture("Issue Hook", ISSUE);
    let target = normalized.target.as_ref().unwrap();
    assert_eq!(target.path, "gitlabhq/gitlab-test");
    assert_eq!(target.owner.as_deref(), Some("gitlabhq"));
    // Derived: the same project under subgroups, as GitLab names it.
    let mut value = fixture_json(ISSUE);
    value["project"]["path_with_namespace"] = json!("gitlabhq/platform/backend/gitlab-test");
    let normalized = normalize_value("Issue Hook", &value);
    let target = normalized.target.as_ref().unwrap();
    assert_eq!(target.path, "gitlabhq/platform/backend/gitlab-test");
    assert_eq!(target.owner.as_deref(), Some("gitlabhq"));
    assert_eq!(only_event(&normalized).target.as_ref(), Some(target));
}

#[test]
fn a_closed_and_reopened_issue_maps_its_state() {
    // Derived from the issue fixture: the state and action GitLab sends on close and
    // reopen.
    let mut value = fixture_json(ISSUE);
    value["object_attributes"]["state"] = json!("closed");
    value["object_attributes"]["action"] = json!("close");
    let normalized = normalize_value("Issue Hook", &value);
    assert_eq!(fields(only_event(&normalized))["state"], json!("closed"));
    assert_eq!(normalized.action.as_deref(), Some("close"));
    value["object_attributes"]["state"] = json!("opened");
    value["object_attributes"]["action"] = json!("reopen");
    let normalized = normalize_value("Issue Hook", &value);
    assert_eq!(fields(only_event(&normalized))["state"], json!("open"));
}

#[test]
fn labels_come_from_the_changes_when_the_hook_lists_none() {
    // Derived from the issue fixture: without the top-level and attribute label lists,
    // `changes.labels.current` is the issue's labels.
    let mut value = fixture_json(ISSUE);
    value.as_object_mut().unwrap().remove("labels");
    value["object_attributes"]
        .as_object_mut()
        .unwrap()
        .remove("labels");
    let normalized = normalize_value("Issue Hook", &value);
    assert_eq!(
        fields(only_event(&normalized))["labels"],
        json!(["Platform"])
    );
}

#[test]
fn the_author_is_known_only_when_the_actor_is_the_author() {
    // go-gitlab's issue: `user` (id 1) is not the author (author_id 51).
    let normalized = normalize_fixture("Issue Hook", ISSUE);
    assert!(!keys(fields(only_event(&normalized))).contains("author"));
    // pydantic's issue comment: the commenter (id 1) wrote the note (author_id 1).
    let normalized = normalize_fixture("Note Hook", "webhooks/note/pydantic-issue-comment.json");
    assert_eq!(fields(&normalized.events[0])["author"], json!("root"));
}

#[test]
fn a_note_on_an_issue_yields_the_comment_and_its_issue() {
    let normalized = normalize_fixture("Note Hook", NOTE_ISSUE);
    assert_eq!(normalized.events.len(), 2);
    let comment = &normalized.events[0];
    assert_eq!(comment.kind, ResourceKind::Comment);
    assert_eq!(comment.native_id.as_str(), "1241");
    let f = fields(comment);
    assert_eq!(f["issue_native_id"], json!("92"));
    assert_eq!(f["issue_number"], json!(17));
    assert_eq!(f["body"], json!("Hello world"));
    let issue = &normalized.events[1];
    assert_eq!(issue.kind, ResourceKind::Issue);
    assert_eq!(issue.native_id.as_str(), "92");
    assert_eq!(fields(issue)["state"], json!("closed"));
}

#[test]
fn a_note_on_a_merge_request_is_a_review_comment_with_the_merge_request() {
    let normalized = normalize_fixture(
        "Note Hook",
        "webhooks/note/go-gitlab-note_merge_request.json",
    );
    assert_eq!(normalized.events.len(), 2);
    assert_eq!(normalized.events[0].kind, ResourceKind::ReviewComment);
    assert_eq!(fields(&normalized.events[0])["pull_number"], json!(1));
    assert_eq!(normalized.events[1].kind, ResourceKind::PullRequest);
    assert_eq!(normalized.events[1].native_id.as_str(), "7");
}

#[test]
fn a_merge_request_is_a_pull_request_with_github_field_names() {
    let normalized = normalize_fixture("Merge Request Hook", MR);
    let event = only_event(&normalized);
    assert_eq!(event.kind, ResourceKind::PullRequest);
    assert_eq!(event.interface, Interface::GitForge);
    assert_eq!(event.native_id.as_str(), "99");
    let f = fields(event);
    assert_eq!(f["number"], json!(1));
    assert_eq!(f["head"], json!("ms-viewport"));
    assert_eq!(f["base"], json!("master"));
    assert_eq!(f["state"], json!("open"));
    assert_eq!(f["merged"], json!(false));
    assert_eq!(f["draft"], json!(false));
    assert_eq!(f["labels"], json!(["API"]));
}

#[test]
fn a_merged_merge_request_is_closed_and_merged() {
    // Derived from the merge request fixture: the state and action GitLab sends on merge.
    let mut value = fixture_json(MR);
    value["object_attributes"]["state"] = json!("merged");
    value["object_attributes"]["action"] = json!("merge");
    value["object_attributes"]["merge_commit_sha"] =
        json!("da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
    let normalized = normalize_value("Merge Request Hook", &value);
    let f = fields(only_event(&normalized));
    assert_eq!(f["state"], json!("closed"));
    assert_eq!(f["merged"], json!(true));
    assert_eq!(
        f["merge_commit_sha"],
        json!("da1560886d4f094c3e6c9ef40349f7d38b5d27d7")
    );
}

#[test]
fn approvals_are_reviews_and_unapprovals_remove_them() {
    // Derived from the merge request fixture: the actions GitLab sends when the acting
    // user approves and revokes an approval.
    let mut value = fixture_json(MR);
    let user_id = value["user"]["id"].as_u64().unwrap();
    for action in ["approved", "approval"] {
        value["object_attributes"]["action"] = json!(action);
        let normalized = normalize_value("Merge Request Hook", &value);
        assert_eq!(normalized.events.len(), 2, "{action}");
        let review = &normalized.events[0];
        assert_eq!(review.kind, ResourceKind::Review);
        assert_eq!(review.native_id.as_str(), format!("99:{user_id}"));
        let f = fields(review);
        assert_eq!(f["state"], json!("approved"));
        assert_eq!(f["pull_number"], json!(1));
        assert_eq!(normalized.events[1].kind, ResourceKind::PullRequest);
    }
    for action in ["unapproved", "unapproval"] {
        value["object_attributes"]["action"] = json!(action);
        let normalized = normalize_value("Merge Request Hook", &value);
        let review = &normalized.events[0];
        assert_eq!(review.kind, ResourceKind::Review);
        assert!(matches!(review.change, Change::Removed { .. }), "{action}");
    }
}

#[test]
fn a_pipeline_carries_its_jobs_and_a_status_sequence() {
    let normalized = normalize_fixture("Pipeline Hook", "webhooks/pipeline/pydantic-pipeline.json");
    let pipeline = &normalized.events[0];
    assert_eq!(pipeline.kind, ResourceKind::Pipeline);
    assert_eq!(pipeline.native_id.as_str(), "31");
    let Change::Observed { version, fields: f } = &pipeline.change else {
        panic!("an observation");
    };
    assert!(version.sequence.is_some(), "status transitions are ordered");
    assert_eq!(f["status"], json!("completed"));
    assert_eq!(f["conclusion"], json!("success"));
    let jobs: Vec<_> = normalized.events[1..].iter().collect();
    assert_eq!(jobs.len(), 5);
    for job in jobs {
        assert_eq!(job.kind, ResourceKind::Job);
        assert_eq!(fields(job)["pipeline_native_id"], json!("31"));
    }
}

#[test]
fn a_later_job_status_outranks_an_earlier_one_at_the_same_time() {
    // Derived from the job fixture: the same job `running` and then `success` with the
    // same `build_created_at`/`build_started_at` and no finish time yet on the first.
    let mut running = fixture_json("webhooks/build/pydantic-job.json");
    running["build_status"] = json!("running");
    running["build_finished_at"] = json!(null);
    let mut success = running.clone();
    success["build_status"] = json!("success");
    let version = |value: &Value| match &only_event(&normalize_value("Job Hook", value)).change {
        Change::Observed { version, .. } => version.clone(),
        other => panic!("{other:?}"),
    };
    let (a, b) = (version(&running), version(&success));
    assert_eq!(a.updated_at, b.updated_at);
    assert!(a.order(&b).is_lt(), "{a:?} < {b:?}");
}

#[test]
fn both_gitlab_time_formats_give_the_same_instant() {
    // pydantic's issue comment writes `2015-05-17 17:06:40 UTC`; go-gitlab's
    // `2015-05-17T17:06:40Z` style appears in the issue hook.
    let utc = normalize_fixture("Note Hook", "webhooks/note/pydantic-issue-comment.json");
    assert_eq!(
        utc.events[0].event_time.map(|t| t.to_rfc3339()),
        Some("2015-05-17T17:06:40+00:00".to_owned())
    );
    let iso = normalize_fixture("Issue Hook", ISSUE);
    assert_eq!(
        only_event(&iso).event_time.map(|t| t.to_rfc3339()),
        Some("2013-12-03T17:15:43+00:00".to_owned())
    );
    // The deployment hook's `2021-04-28 21:50:00 +0200` offset form.
    let deployment = normalize_fixture(
        "Deployment Hook",
        "webhooks/deployment/go-gitlab-deployment.json",
    );
    assert_eq!(
        only_event(&deployment).event_time.map(|t| t.to_rfc3339()),
        Some("2021-04-28T19:50:00+00:00".to_owned())
    );
}

#[test]
fn a_push_observes_the_branch_and_a_branch_deletion_removes_it() {
    let normalized = normalize_fixture("Push Hook", "webhooks/push/go-gitlab-push.json");
    let event = only_event(&normalized);
    assert_eq!(event.kind, ResourceKind::Ref);
    assert_eq!(event.native_id.as_str(), "refs/heads/master");
    assert_eq!(fields(event)["ref_type"], json!("branch"));
    // Derived: the push GitLab sends when a branch is deleted (`after` all zeros, no
    // commits, no checkout sha).
    let mut value = fixture_json("webhooks/push/go-gitlab-push.json");
    value["after"] = json!("0000000000000000000000000000000000000000");
    value["checkout_sha"] = json!(null);
    value["commits"] = json!([]);
    value["total_commits_count"] = json!(0);
    let normalized = normalize_value("Push Hook", &value);
    match &only_event(&normalized).change {
        Change::Removed { removal, .. } => assert_eq!(*removal, Removal::Deleted),
        other => panic!("expected a removal, got {other:?}"),
    }
}

#[test]
fn group_member_hooks_change_collaborators() {
    let added = normalize_fixture(
        "Member Hook",
        "webhooks/member/pydantic-group-add-member.json",
    );
    let event = only_event(&added);
    assert_eq!(event.kind, ResourceKind::Collaborator);
    assert_eq!(fields(event)["permission"], json!("guest"));
    let removed = normalize_fixture(
        "Member Hook",
        "webhooks/member/pydantic-group-remove-member.json",
    );
    assert!(matches!(
        only_event(&removed).change,
        Change::Removed { .. }
    ));
}

#[test]
fn the_idempotency_marker_is_not_part_of_a_body() {
    // Derived from real payloads: the issue and the note as a create by kradle-sync leaves
    // them.
    let mut value = fixture_json(ISSUE);
    let text = value["object_attributes"]["description"]
        .as_str()
        .unwrap()
        .to_owned();
    value["object_attributes"]["description"] =
        json!(kradle_sync_core::marker::embed(&text, "kradle:1234"));
    let normalized = normalize_value("Issue Hook", &value);
    assert_eq!(fields(only_event(&normalized))["body"], json!(text));
    let mut value = fixture_json(NOTE_ISSUE);
    let text = value["object_attributes"]["note"]
        .as_str()
        .unwrap()
        .to_owned();
    value["object_attributes"]["note"] =
        json!(kradle_sync_core::marker::embed(&text, "kradle:5678"));
    let normalized = normalize_value("Note Hook", &value);
    assert_eq!(fields(&normalized.events[0])["body"], json!(text));
}

#[test]
fn ordering_keys_name_the_primary_object() {
    let key =
        |hook: &str, path: &str| GitlabWebhooks::new().ordering_key(&delivery(hook, fixture(path)));
    assert_eq!(key("Issue Hook", ISSUE).as_deref(), Some("issue:301"));
    // A note orders with its issue or merge request.
    assert_eq!(key("Note Hook", NOTE_ISSUE).as_deref(), Some("issue:92"));
    assert_eq!(
        key(
            "Note Hook",
            "webhooks/note/go-gitlab-note_merge_request.json"
        )
        .as_deref(),
        Some("pull_request:7")
    );
    assert_eq!(
        key("Merge Request Hook", MR).as_deref(),
        Some("pull_request:99")
    );
    // A job orders with its pipeline.
    assert_eq!(
        key("Pipeline Hook", "webhooks/pipeline/pydantic-pipeline.json").as_deref(),
        Some("pipeline:31")
    );
    assert_eq!(
        key("Job Hook", "webhooks/build/pydantic-job.json").as_deref(),
        Some("pipeline:2366")
    );
    assert_eq!(
        key("Push Hook", "webhooks/push/go-gitlab-push.json").as_deref(),
        Some("ref:refs/heads/master")
    );
    assert_eq!(key("Wiki Page Hook", ISSUE), None);
    let broken = delivery("Issue Hook", b"{\"object_attributes\":".to_vec());
    assert_eq!(GitlabWebhooks::new().ordering_key(&broken), None);
}

#[test]
fn the_adapter_is_cheap_send_sync_and_describes_gitlab() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<GitlabWebhooks>();
    let adapter = GitlabWebhooks::new();
    let descriptor = adapter.descriptor();
    assert_eq!(descriptor.kind.as_str(), "gitlab");
    assert_eq!(descriptor.signature, SignatureScheme::Token);
    assert_eq!(
        descriptor.delivery_header.as_deref(),
        Some("Idempotency-Key")
    );
    assert_eq!(descriptor.event_header.as_deref(), Some("X-Gitlab-Event"));
    assert_eq!(
        descriptor.default_api_url.as_deref(),
        Some("https://gitlab.com/api/v4")
    );
    assert!(descriptor.capabilities.merge_with_expected_sha);
    assert!(!descriptor.capabilities.idempotency_keys);
}

#[test]
fn every_fixture_that_yields_events_has_an_ordering_key() {
    let adapter = GitlabWebhooks::new();
    let root = common::fixtures().join("webhooks");
    for kind in std::fs::read_dir(&root).unwrap() {
        let kind = kind.unwrap().path();
        if !kind.is_dir() {
            continue;
        }
        let name = kind.file_name().unwrap().to_string_lossy().into_owned();
        for file in std::fs::read_dir(&kind).unwrap() {
            let path = file.unwrap().path();
            let request = delivery(common::hook_of(&name), std::fs::read(&path).unwrap());
            let normalized = adapter.normalize_webhook(&request).unwrap();
            if !normalized.events.is_empty() {
                assert!(
                    adapter.ordering_key(&request).is_some(),
                    "{}",
                    path.display()
                );
            }
        }
    }
}

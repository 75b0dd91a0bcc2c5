//! Writes: what each sends, creates that never duplicate (an unknown outcome is looked up
//! by the idempotency marker before anything is sent again), merges that name the expected
//! head, and GitLab's refusals as typed errors.

use kradle_sync_core::object::DeployKey;
use kradle_sync_core::{
    Cicd, CommitStatusInput, Error, GitForge, IssuePatch, IssueTracking, NativeId,
    PullRequestInput, ReviewInput, marker,
};
use kradle_test_support::recorded::{Exchange, received, received_of};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path, query_param};
use wiremock::{Mock, MockServer};

use crate::common::{self, PROJECT, answer, get, items, rest, target};

const KEY: &str = "kradle:3f1c2a7e-intent";

/// GitLab's JSON error body (`{"message": "<status> <reason>"}`, as the narkoz error
/// fixtures show) for a `5xx`.
fn server_error(method_: &str, p: &str) -> Exchange {
    answer(
        method_,
        p,
        500,
        json!({ "message": "500 Internal Server Error" }),
    )
    .without_header("etag")
}

fn body_of(request: &wiremock::Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

/// go-gitlab's moved issue as the create left it: its description carries `key`'s marker
/// (derived).
fn created_issue(key: &str) -> Value {
    let mut issue = rest("issues/go-gitlab-issue_move.json");
    let text = issue["description"].as_str().unwrap().to_owned();
    issue["description"] = json!(marker::embed(&text, key));
    issue
}

#[tokio::test]
async fn a_created_issue_carries_the_marker_and_gitlabs_ids() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let users = rest("users/narkoz-users.json");
    Mock::given(method("GET"))
        .and(path("/api/v4/users"))
        .and(query_param("username", "jack.smith"))
        .respond_with(get("/api/v4/users", json!([users[1]])).respond(&server))
        .mount(&server)
        .await;
    let milestones = format!("{PROJECT}/milestones");
    Mock::given(method("GET"))
        .and(path(&milestones))
        .and(query_param("iids[]", "3"))
        .respond_with(
            get(
                &milestones,
                rest("milestones/gitlab-docs-list_milestones.json"),
            )
            .respond(&server),
        )
        .mount(&server)
        .await;
    let issues = format!("{PROJECT}/issues");
    Mock::given(method("POST"))
        .and(path(&issues))
        .respond_with(answer("POST", &issues, 201, created_issue(KEY)).respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    let gitlab = common::client(&server, &clock);
    let mut patch = IssuePatch::default();
    patch.title = Some("Sit voluptas tempora quisquam aut doloribus et.".into());
    patch.body = Some("Repellat voluptas quibusdam voluptatem exercitationem.".into());
    patch.labels = Some(vec!["bug".into(), "backend".into()]);
    patch.assignees = Some(vec!["jack.smith".into()]);
    patch.milestone = Some(Some(3));

    let created = gitlab.create_issue(&target(), &patch, KEY).await.unwrap();
    assert_eq!(created.native_id.as_str(), "92");
    assert_eq!(created.object.number, 11);
    assert_eq!(
        created.object.body.as_deref(),
        Some("Repellat voluptas quibusdam voluptatem exercitationem."),
        "the marker is not part of the body read back"
    );
    let posts = received_of(&server, "POST").await;
    let sent = body_of(&posts[0]);
    assert_eq!(
        sent["title"],
        json!("Sit voluptas tempora quisquam aut doloribus et.")
    );
    assert_eq!(
        marker::find(sent["description"].as_str().unwrap()),
        Some(KEY),
        "{sent}"
    );
    assert_eq!(sent["labels"], json!("bug,backend"));
    assert_eq!(sent["assignee_ids"], json!([2]));
    assert_eq!(
        sent["milestone_id"],
        json!(12),
        "the milestone's id, not its number"
    );
    assert!(sent.get("state_event").is_none());
}

#[tokio::test]
async fn an_unknown_create_is_adopted_by_its_marker_and_never_sent_twice() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let issues = format!("{PROJECT}/issues");
    Mock::given(method("POST"))
        .and(path(&issues))
        .respond_with(server_error("POST", &issues).respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    // The lookup: the project's issues newest created first; the created one among them.
    let mut listed = items("issues/narkoz-group_issues.json");
    listed.insert(0, created_issue(KEY));
    Mock::given(method("GET"))
        .and(path(&issues))
        .and(query_param("order_by", "created_at"))
        .and(query_param("sort", "desc"))
        .respond_with(get(&issues, json!(listed)).respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    let gitlab = common::client(&server, &clock);
    let mut patch = IssuePatch::default();
    patch.title = Some("Sit voluptas tempora quisquam aut doloribus et.".into());

    let adopted = gitlab.create_issue(&target(), &patch, KEY).await.unwrap();
    assert_eq!(adopted.native_id.as_str(), "92");
    assert_eq!(received_of(&server, "POST").await.len(), 1);
}

#[tokio::test]
async fn an_unknown_create_not_found_fails_retryable_without_a_second_post() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let issues = format!("{PROJECT}/issues");
    Mock::given(method("POST"))
        .and(path(&issues))
        .respond_with(server_error("POST", &issues).respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(&issues))
        .respond_with(get(&issues, rest("issues/narkoz-group_issues.json")).respond(&server))
        .mount(&server)
        .await;
    let gitlab = common::client(&server, &clock);
    let mut patch = IssuePatch::default();
    patch.title = Some("t".into());

    let err = gitlab
        .create_issue(&target(), &patch, KEY)
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(!matches!(err, Error::Precondition { .. }), "{err}");
    assert_eq!(received_of(&server, "POST").await.len(), 1);
}

#[tokio::test]
async fn a_refused_create_is_a_precondition_and_is_not_looked_up() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let labels = format!("{PROJECT}/issues");
    Mock::given(method("POST"))
        .and(path(&labels))
        .respond_with(
            answer(
                "POST",
                &labels,
                409,
                rest("errors/narkoz-error_already_exists.json"),
            )
            .without_header("etag")
            .respond(&server),
        )
        .mount(&server)
        .await;
    let gitlab = common::client(&server, &clock);
    let mut patch = IssuePatch::default();
    patch.title = Some("t".into());
    match gitlab.create_issue(&target(), &patch, KEY).await {
        Err(Error::Precondition { message, .. }) => assert!(message.contains("Already exists")),
        other => panic!("expected a precondition, got {other:?}"),
    }
    assert_eq!(
        received(&server).await.len(),
        1,
        "no lookup, no second POST"
    );
}

#[tokio::test]
async fn an_issue_update_closes_and_clears_the_milestone() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let issue = format!("{PROJECT}/issues/11");
    let mut closed = rest("issues/go-gitlab-issue_move.json");
    closed["state"] = json!("closed");
    Mock::given(method("PUT"))
        .and(path(&issue))
        .and(body_partial_json(
            json!({ "state_event": "close", "milestone_id": 0 }),
        ))
        .respond_with(answer("PUT", &issue, 200, closed).respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    let gitlab = common::client(&server, &clock);
    let mut patch = IssuePatch::default();
    patch.state = Some("closed".into());
    patch.milestone = Some(None);
    let updated = gitlab.update_issue(&target(), 11, &patch).await.unwrap();
    assert_eq!(
        updated.object.state,
        kradle_sync_core::object::IssueState::Closed
    );
}

#[tokio::test]
async fn notes_are_created_with_the_marker_and_edited_through_their_issue() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let notes = format!("{PROJECT}/issues/2/notes");
    let mut note = items("notes/gitlab-docs-search_notes.json").remove(0);
    let text = note["body"].as_str().unwrap().to_owned();
    note["body"] = json!(marker::embed(&text, KEY));
    Mock::given(method("POST"))
        .and(path(&notes))
        .respond_with(answer("POST", &notes, 201, note.clone()).respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    let one = format!("{notes}/191");
    let mut edited = note.clone();
    edited["body"] = json!("edited");
    Mock::given(method("PUT"))
        .and(path(&one))
        .and(body_partial_json(json!({ "body": "edited" })))
        .respond_with(answer("PUT", &one, 200, edited).respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(&one))
        .respond_with(
            answer("DELETE", &one, 404, json!({ "message": "404 Not found" })).respond(&server),
        )
        .expect(1)
        .mount(&server)
        .await;
    let gitlab = common::client(&server, &clock);

    let created = gitlab
        .create_comment(&target(), 2, &text, KEY)
        .await
        .unwrap();
    assert_eq!(created.native_id.as_str(), "191");
    assert_eq!(created.object.body, text);
    let sent = body_of(&received_of(&server, "POST").await[0]);
    assert_eq!(marker::find(sent["body"].as_str().unwrap()), Some(KEY));
    // The note id alone: the client remembers its issue from the create.
    let id = NativeId::new("191");
    let updated = gitlab
        .update_comment(&target(), &id, "edited")
        .await
        .unwrap();
    assert_eq!(updated.object.body, "edited");
    gitlab
        .delete_comment(&target(), &id)
        .await
        .expect("a note already gone is deleted");
}

#[tokio::test]
async fn a_note_not_read_before_is_found_among_the_projects_comment_events() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let events = format!("{PROJECT}/events");
    Mock::given(method("GET"))
        .and(path(&events))
        .and(query_param("target_type", "note"))
        .respond_with(get(&events, rest("projects/narkoz-project_events.json")).respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    let one = format!("{PROJECT}/issues/377/notes/1312");
    Mock::given(method("DELETE"))
        .and(path(&one))
        .respond_with(answer("DELETE", &one, 204, Value::Null).respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    let gitlab = common::client(&server, &clock);
    gitlab
        .delete_comment(&target(), &NativeId::new("1312"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_merge_names_the_expected_head_and_a_moved_head_is_a_precondition() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let merge = format!("{PROJECT}/merge_requests/14656/merge");
    let sha = "8e0b45049b6253b8984cde9241830d2851168142";
    let mut merged = rest("merge_requests/go-gitlab-get_merge_request.json");
    merged["state"] = json!("merged");
    Mock::given(method("PUT"))
        .and(path(&merge))
        .and(body_partial_json(json!({ "sha": sha })))
        .respond_with(answer("PUT", &merge, 200, merged).respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    // GitLab's answers to a merge it refuses (lib/api/merge_requests.rb): a stale `sha`
    // (409), a merge request that cannot be merged now (405), a conflict (406).
    let stale = "0000000000000000000000000000000000000001";
    Mock::given(method("PUT"))
        .and(path(&merge))
        .and(body_partial_json(json!({ "sha": stale })))
        .respond_with(
            answer(
                "PUT",
                &merge,
                409,
                json!({ "message": format!("SHA does not match HEAD of source branch: {sha}") }),
            )
            .respond(&server),
        )
        .mount(&server)
        .await;
    let gitlab = common::client(&server, &clock);

    gitlab
        .merge_pull_request(&target(), 14656, sha)
        .await
        .unwrap();
    match gitlab.merge_pull_request(&target(), 14656, stale).await {
        Err(Error::Precondition { message, .. }) => {
            assert!(message.contains("SHA does not match"), "{message}");
        }
        other => panic!("a moved head must be a precondition failure, got {other:?}"),
    }
    for (status, message) in [
        (405, "405 Method Not Allowed"),
        (406, "Branch cannot be merged"),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("PUT"))
            .and(path(&merge))
            .respond_with(
                answer("PUT", &merge, status, json!({ "message": message })).respond(&server),
            )
            .mount(&server)
            .await;
        let gitlab = common::client(&server, &clock);
        match gitlab.merge_pull_request(&target(), 14656, sha).await {
            Err(Error::Precondition { message: m, .. }) => assert_eq!(m, message),
            other => panic!("{status}: expected a precondition, got {other:?}"),
        }
        assert_eq!(received(&server).await.len(), 1, "{status} is not retried");
    }
}

#[tokio::test]
async fn an_approval_is_the_tokens_users_review() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let approve = format!("{PROJECT}/merge_requests/5/approve");
    let sha = "8e0b45049b6253b8984cde9241830d2851168142";
    Mock::given(method("POST"))
        .and(path(&approve))
        .and(body_partial_json(json!({ "sha": sha })))
        .respond_with(
            answer(
                "POST",
                &approve,
                201,
                rest("merge_requests/gitlab-docs-approve_merge_request.json"),
            )
            .respond(&server),
        )
        .mount(&server)
        .await;
    // Derived: go-gitlab's user with the id of the documented approver `root` (1).
    Mock::given(method("GET"))
        .and(path("/api/v4/user"))
        .respond_with(get("/api/v4/user", rest("users/go-gitlab-get_user.json")).respond(&server))
        .mount(&server)
        .await;
    let gitlab = common::client(&server, &clock);
    let mut review = ReviewInput::new("APPROVE");
    review.commit_id = Some(sha.into());
    let approval = gitlab.create_review(&target(), 5, &review).await.unwrap();
    assert_eq!(approval.native_id.as_str(), "5:1");
    assert_eq!(approval.object.state, "approved");
    assert_eq!(approval.object.commit_id.as_deref(), Some(sha));
    match gitlab
        .create_review(&target(), 5, &ReviewInput::new("REQUEST_CHANGES"))
        .await
    {
        Err(Error::Unsupported { .. }) => {}
        other => panic!("GitLab cannot request changes, got {other:?}"),
    }
}

#[tokio::test]
async fn merge_requests_are_opened_with_the_marker_and_draft_title() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let mrs = format!("{PROJECT}/merge_requests");
    let mut created = rest("merge_requests/go-gitlab-get_merge_request.json");
    let text = created["description"].as_str().unwrap().to_owned();
    created["description"] = json!(marker::embed(&text, KEY));
    Mock::given(method("POST"))
        .and(path(&mrs))
        .respond_with(answer("POST", &mrs, 201, created).respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    let gitlab = common::client(&server, &clock);
    let mut input = PullRequestInput::default();
    input.title = Some("Add deletion support for designs".into());
    input.body = Some(text.clone());
    input.head = Some("delete-designs-v2".into());
    input.base = Some("master".into());
    input.draft = Some(true);
    let mr = gitlab
        .create_pull_request(&target(), &input, KEY)
        .await
        .unwrap();
    assert_eq!(mr.object.number, 14656);
    assert_eq!(mr.object.body.as_deref(), Some(text.as_str()));
    let sent = body_of(&received_of(&server, "POST").await[0]);
    assert_eq!(
        sent["title"],
        json!("Draft: Add deletion support for designs")
    );
    assert_eq!(sent["source_branch"], json!("delete-designs-v2"));
    assert_eq!(sent["target_branch"], json!("master"));
    assert_eq!(
        marker::find(sent["description"].as_str().unwrap()),
        Some(KEY)
    );
}

#[tokio::test]
async fn ci_writes_retry_cancel_and_set_commit_statuses() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let ok = |m: &'static str, p: String, body: Value| {
        let server = &server;
        async move {
            Mock::given(method(m))
                .and(path(&p))
                .respond_with(answer(m, &p, 201, body).respond(server))
                .expect(1)
                .mount(server)
                .await;
        }
    };
    ok(
        "POST",
        format!("{PROJECT}/pipelines/46/retry"),
        rest("pipelines/narkoz-pipeline_retry.json"),
    )
    .await;
    ok(
        "POST",
        format!("{PROJECT}/pipelines/46/cancel"),
        rest("pipelines/narkoz-pipeline_cancel.json"),
    )
    .await;
    ok(
        "POST",
        format!("{PROJECT}/jobs/69/retry"),
        rest("jobs/narkoz-build_retry.json"),
    )
    .await;
    ok(
        "POST",
        format!("{PROJECT}/jobs/69/cancel"),
        rest("jobs/narkoz-build_cancel.json"),
    )
    .await;
    let sha = "7d938cb8ac15788d71f4b67c035515a160ea76d8";
    ok(
        "POST",
        format!("{PROJECT}/statuses/{sha}"),
        rest("commit_statuses/narkoz-project_update_commit_status.json"),
    )
    .await;
    let gitlab = common::client(&server, &clock);
    gitlab
        .rerun_pipeline(&target(), &NativeId::new("46"))
        .await
        .unwrap();
    gitlab
        .cancel_pipeline(&target(), &NativeId::new("46"))
        .await
        .unwrap();
    gitlab
        .rerun_job(&target(), &NativeId::new("69"))
        .await
        .unwrap();
    gitlab
        .cancel_job(&target(), &NativeId::new("69"))
        .await
        .unwrap();
    let status = gitlab
        .set_commit_status(
            &target(),
            sha,
            &CommitStatusInput::new("failure").with_context("test"),
        )
        .await
        .unwrap();
    assert_eq!(status.native_id.as_str(), "498");
    assert_eq!(status.object.state, "failure");
    let posts = received_of(&server, "POST").await;
    let sent = body_of(posts.last().unwrap());
    assert_eq!(sent, json!({ "state": "failed", "name": "test" }));
}

#[tokio::test]
async fn forge_writes_protect_branches_keys_and_members() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let protected = format!("{PROJECT}/protected_branches");
    // Already protected: GitLab's 409, then unprotect and protect again.
    Mock::given(method("POST"))
        .and(path(&protected))
        .respond_with(
            answer(
                "POST",
                &protected,
                409,
                json!({ "message": "Protected branch 'master' already exists" }),
            )
            .respond(&server),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(&protected))
        .respond_with(
            answer(
                "POST",
                &protected,
                201,
                rest("protected_branches/narkoz-protected_branch.json"),
            )
            .respond(&server),
        )
        .mount(&server)
        .await;
    let one = format!("{protected}/master");
    Mock::given(method("DELETE"))
        .and(path(&one))
        .respond_with(answer("DELETE", &one, 204, Value::Null).respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    let keys = format!("{PROJECT}/deploy_keys");
    Mock::given(method("POST"))
        .and(path(&keys))
        .and(body_partial_json(json!({ "can_push": false })))
        .respond_with(
            answer(
                "POST",
                &keys,
                201,
                rest("deploy_keys/narkoz-project_key.json"),
            )
            .respond(&server),
        )
        .expect(1)
        .mount(&server)
        .await;
    let key = format!("{keys}/2");
    Mock::given(method("DELETE"))
        .and(path(&key))
        .respond_with(answer("DELETE", &key, 204, Value::Null).respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v4/users"))
        .and(query_param("username", "john_smith"))
        .respond_with(
            get(
                "/api/v4/users",
                json!([rest("members/narkoz-team_member.json")]),
            )
            .respond(&server),
        )
        .mount(&server)
        .await;
    let member = format!("{PROJECT}/members/1");
    Mock::given(method("PUT"))
        .and(path(&member))
        .respond_with(
            answer("PUT", &member, 404, json!({ "message": "404 Not found" })).respond(&server),
        )
        .expect(1)
        .mount(&server)
        .await;
    let members = format!("{PROJECT}/members");
    Mock::given(method("POST"))
        .and(path(&members))
        .and(body_partial_json(
            json!({ "user_id": 1, "access_level": 40 }),
        ))
        .respond_with(
            answer(
                "POST",
                &members,
                201,
                rest("members/narkoz-team_member.json"),
            )
            .respond(&server),
        )
        .expect(1)
        .mount(&server)
        .await;
    let gitlab = common::client(&server, &clock);

    let protection = gitlab
        .set_branch_protection(&target(), "master", &json!({ "push_access_level": 40 }))
        .await
        .unwrap();
    assert_eq!(protection.object.pattern, "master");
    let mut deploy = DeployKey::default();
    deploy.title = "Key Title".into();
    deploy.key = "ssh-rsa ...".into();
    deploy.read_only = true;
    let added = gitlab.add_deploy_key(&target(), &deploy).await.unwrap();
    assert_eq!(added.native_id.as_str(), "2");
    gitlab
        .remove_deploy_key(&target(), &NativeId::new("2"))
        .await
        .unwrap();
    gitlab
        .set_permission(&target(), "john_smith", "maintain")
        .await
        .unwrap();
    assert!(
        gitlab
            .set_permission(&target(), "john_smith", "superuser")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_runner_is_registered_for_the_project() {
    let server = MockServer::start().await;
    let clock = common::clock();
    Mock::given(method("GET"))
        .and(path(PROJECT))
        .respond_with(get(PROJECT, rest("projects/gitlab-docs-get_project.json")).respond(&server))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v4/user/runners"))
        .and(body_partial_json(
            json!({ "runner_type": "project_type", "project_id": 3 }),
        ))
        .respond_with(
            answer(
                "POST",
                "/api/v4/user/runners",
                201,
                rest("runners/narkoz-create_project_runner_response.json"),
            )
            .respond(&server),
        )
        .expect(1)
        .mount(&server)
        .await;
    let gitlab = common::client(&server, &clock);
    let registration = gitlab.register_runner(&target()).await.unwrap();
    assert_eq!(registration.token.expose(), "glrt-kyahzxLaj4Dc1jQf4xjX");
    assert!(!format!("{registration:?}").contains("glrt-kyahzxLaj4Dc1jQf4xjX"));
}

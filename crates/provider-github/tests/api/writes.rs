//! Writes that never duplicate, and preconditions that become conflicts: a create whose
//! response is lost is found by its idempotency marker and adopted (one `POST`), a stale
//! merge and a validation failure are `Error::Precondition` with GitHub's message and are
//! never retried.

use std::time::Duration;

use kradle_sync_core::{CheckRunInput, Cicd, Error, GitForge, IssuePatch, IssueTracking, marker};
use kradle_test_support::recorded::{Exchange, query_of, received_of};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

use crate::common::{self, target};

const KEY: &str = "kradle:9f0c2a3e-intent";

/// The recorded create (`POST …/add-labels-to-issue/issues`, 201).
fn created_issue() -> Exchange {
    common::session("add-labels-to-issue").remove(0)
}

fn body_of(r: &wiremock::Request) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

/// A client whose requests time out after 500 ms.
fn impatient(
    server: &MockServer,
    clock: &kradle_http::testing::ManualClock,
) -> kradle_provider_github::GithubClient {
    common::builder(server, clock)
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_create_that_timed_out_but_happened_is_adopted_with_one_post() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let created = created_issue();
    // GitHub creates the issue but the answer comes after the client gave up.
    Mock::given(method("POST"))
        .and(path(&created.path))
        .respond_with(created.respond(&server).set_delay(Duration::from_secs(3)))
        .expect(1)
        .mount(&server)
        .await;
    // The lookup (newest first) finds it, its body as the create sent it: derived from the
    // recorded issue and the listing headers of the recorded last page of issues.
    let sent_body = marker::embed("", KEY);
    let mut found = created.body.clone();
    found["body"] = json!(sent_body);
    let listing = common::session("paginate-issues")
        .remove(4)
        .with_status(200, Value::Array(vec![found]))
        .without_header("link");
    Mock::given(method("GET"))
        .and(path(&created.path))
        .respond_with(listing.respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    let github = impatient(&server, &clock);
    let mut patch = IssuePatch::default();
    patch.title = Some("Issue without a label".into());

    let adopted = github
        .create_issue(&target("add-labels-to-issue"), &patch, KEY)
        .await
        .unwrap();

    assert_eq!(adopted.native_id.as_str(), "1000");
    assert_eq!(adopted.object.number, 1);
    assert_eq!(
        adopted.object.body.as_deref(),
        Some(""),
        "the marker is stripped"
    );
    let posts = received_of(&server, "POST").await;
    assert_eq!(posts.len(), 1, "never created twice");
    assert_eq!(body_of(&posts[0])["body"], sent_body.as_str());
    let lookup = &received_of(&server, "GET").await[0];
    assert_eq!(query_of(lookup, "sort").as_deref(), Some("created"));
    assert_eq!(query_of(lookup, "direction").as_deref(), Some("desc"));
}

#[tokio::test]
async fn a_create_with_an_unknown_outcome_and_no_marker_found_fails_retryable_after_one_post() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let created = created_issue();
    let bad_gateway = created
        .clone()
        .with_status(502, json!({ "message": "Server Error" }))
        .without_header("etag");
    Mock::given(method("POST"))
        .and(path(&created.path))
        .respond_with(bad_gateway.respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    // The newest issues (the recorded last page) carry no marker of this intent.
    let listing = common::session("paginate-issues")
        .remove(4)
        .without_header("link");
    Mock::given(method("GET"))
        .and(path(&created.path))
        .respond_with(listing.respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    let github = common::client(&server, &clock);
    let mut patch = IssuePatch::default();
    patch.title = Some("Issue without a label".into());

    let err = github
        .create_issue(&target("add-labels-to-issue"), &patch, KEY)
        .await
        .unwrap_err();

    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().contains("outcome unknown"), "{err}");
    assert_eq!(received_of(&server, "POST").await.len(), 1);
    assert!(clock.sleeps().is_empty(), "a create is not retried blindly");
}

#[tokio::test]
async fn a_comment_and_a_check_run_are_adopted_by_marker_and_external_id() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let repo = "/repos/octokit-fixture-org/hello-world";
    // The comment is created, its answer lost.
    let mut comment = common::rest("issues/issue-comment.json");
    comment["body"] = json!(marker::embed("Me too", KEY));
    Mock::given(method("POST"))
        .and(path(format!("{repo}/issues/1347/comments")))
        .respond_with(
            common::example(201, comment.clone())
                .respond(&server)
                .set_delay(Duration::from_secs(3)),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{repo}/issues/1347/comments")))
        .respond_with(common::example(200, json!([comment])).respond(&server))
        .mount(&server)
        .await;
    // The check run too: its key is its `external_id`.
    let sha = "ce587453ced02b1526dfb4cb910479d431683101";
    let mut runs = common::rest("checks/check-run-paginated.json");
    runs["check_runs"][0]["external_id"] = json!(KEY);
    Mock::given(method("POST"))
        .and(path(format!("{repo}/check-runs")))
        .respond_with(
            common::example(201, common::rest("checks/check-run.json"))
                .respond(&server)
                .set_delay(Duration::from_secs(3)),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{repo}/commits/{sha}/check-runs")))
        .respond_with(common::example(200, runs).respond(&server))
        .mount(&server)
        .await;
    let github = impatient(&server, &clock);
    let hello = target("hello-world");

    let c = github
        .create_comment(&hello, 1347, "Me too", KEY)
        .await
        .unwrap();
    assert_eq!(c.object.body, "Me too");
    assert_eq!(c.native_id.as_str(), "1");
    let mut check = CheckRunInput::default();
    check.name = Some("mighty_readme".into());
    check.head_sha = Some(sha.into());
    check.external_id = Some(KEY.into());
    check.status = Some("in_progress".into());
    let run = github.create_check(&hello, &check).await.unwrap();
    assert_eq!(run.native_id.as_str(), "4");

    let posts = received_of(&server, "POST").await;
    assert_eq!(posts.len(), 2, "one POST each");
    assert_eq!(
        body_of(&posts[0])["body"],
        marker::embed("Me too", KEY).as_str()
    );
    assert_eq!(body_of(&posts[1])["external_id"], KEY);
}

#[tokio::test]
async fn merging_with_a_stale_head_sha_is_a_precondition_never_retried() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let merge = "/repos/octokit-fixture-org/hello-world/pulls/1347/merge";
    let conflict = common::example(
        409,
        common::rest("forge/pull-request-merge-409-head-modified.json"),
    )
    .without_header("etag")
    .without_header("last-modified");
    Mock::given(method("PUT"))
        .and(path(merge))
        .respond_with(conflict.respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    let github = common::client(&server, &clock);
    let stale = "6dcb09b5b57875f334f61aebed695e2e4193db5e";

    let err = github
        .merge_pull_request(&target("hello-world"), 1347, stale)
        .await
        .unwrap_err();

    match &err {
        Error::Precondition { message, .. } => {
            assert_eq!(
                message,
                "Head branch was modified. Review and try the merge again."
            );
        }
        other => panic!("expected a precondition failure, got {other:?}"),
    }
    assert!(!err.is_retryable());
    let puts = received_of(&server, "PUT").await;
    assert_eq!(puts.len(), 1);
    assert_eq!(body_of(&puts[0]), json!({ "sha": stale }));
    assert!(clock.sleeps().is_empty());

    // Not mergeable at all (405) is a refused precondition too.
    server.reset().await;
    let refused = common::example(
        405,
        common::rest("forge/pull-request-merge-405-not-mergeable.json"),
    )
    .without_header("etag");
    Mock::given(method("PUT"))
        .and(path(merge))
        .respond_with(refused.respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    let err = github
        .merge_pull_request(&target("hello-world"), 1347, stale)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Precondition { message, .. } if message == "Pull Request is not mergeable"),
        "{err:?}"
    );
}

/// The recorded `422` (a label with an invalid color) served to an issue create: the
/// adapter reads GitHub's validation errors the same way whatever the endpoint.
#[tokio::test]
async fn a_validation_failure_is_a_precondition_with_githubs_message() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let invalid = common::session("errors").remove(0);
    assert_eq!(invalid.status, 422);
    Mock::given(method("POST"))
        .and(path("/repos/octokit-fixture-org/errors/issues"))
        .respond_with(invalid.respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    let github = common::client(&server, &clock);
    let mut patch = IssuePatch::default();
    patch.title = Some("x".into());

    let err = github
        .create_issue(&target("errors"), &patch, KEY)
        .await
        .unwrap_err();

    assert!(
        matches!(&err, Error::Precondition { message, .. } if message == "Validation Failed: Label color invalid"),
        "{err:?}"
    );
    assert_eq!(
        received_of(&server, "GET").await.len(),
        0,
        "a refusal needs no lookup"
    );
}

#[tokio::test]
async fn a_runner_registration_token_goes_to_the_caller_redacted() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let body = common::rest("actions/authentication-token.json");
    let token = body["token"].as_str().unwrap().to_owned();
    Mock::given(method("POST"))
        .and(path(
            "/repos/octokit-fixture-org/ci/actions/runners/registration-token",
        ))
        .respond_with(common::example(201, body).respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    let github = common::client(&server, &clock);

    let registration = github.register_runner(&target("ci")).await.unwrap();

    assert_eq!(registration.token.expose(), token);
    assert_eq!(
        registration.expires_at,
        Some(common::at("2020-01-22T20:13:35.123Z"))
    );
    assert!(!format!("{registration:?}").contains(&token));
}

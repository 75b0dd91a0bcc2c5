//! Rate limits and retries through the adapter: `403` secondary limits and `429` wait as
//! GitHub says, `5xx` backs off with full jitter and then fails as a retryable
//! `Error::Provider`, and a backfill pauses (nothing sent) while the budget is below its
//! reserve. Every wait is read off the manual clock; nothing sleeps.

use kradle_http::{BudgetPolicy, Clock, Reserve};
use kradle_provider_github::api::{is_paused, retry_at};
use kradle_sync_core::{Error, GitForge, IssueTracking, PageRequest};
use kradle_test_support::recorded::{Exchange, received};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

use crate::common::{self, at, secs, target};

/// The recorded `GET …/repos/octokit-fixture-org/hello-world` (200 with rate-limit headers).
fn repository() -> Exchange {
    common::session("get-repository").remove(0)
}

/// GitHub's secondary-limit answer derived from a recorded response: status `403` (or
/// `429`), `retry-after`, no ETag, and the message GitHub sends for secondary limits.
fn secondary_limit(base: &Exchange, status: u16, retry_after: &str) -> Exchange {
    base.clone()
        .with_status(
            status,
            json!({
                "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
            }),
        )
        .without_header("etag")
        .without_header("last-modified")
        .with_header("retry-after", retry_after)
}

/// A `5xx` derived from a recorded response, with the body GitHub sends.
fn server_error(base: &Exchange, status: u16) -> Exchange {
    base.clone()
        .with_status(status, json!({ "message": "Server Error" }))
        .without_header("etag")
        .without_header("last-modified")
}

/// `first` for the first `n` requests to the recorded path, then the recorded response.
async fn then_ok(server: &MockServer, ok: &Exchange, first: &Exchange, n: u64) {
    Mock::given(method(ok.method.as_str()))
        .and(path(&ok.path))
        .respond_with(first.respond(server))
        .up_to_n_times(n)
        .expect(n)
        .mount(server)
        .await;
    Mock::given(method(ok.method.as_str()))
        .and(path(&ok.path))
        .respond_with(ok.respond(server))
        .mount(server)
        .await;
}

#[tokio::test]
async fn secondary_limit_403_waits_its_retry_after() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let ok = repository();
    then_ok(&server, &ok, &secondary_limit(&ok, 403, "60"), 1).await;
    let github = common::client(&server, &clock);

    let repo = github.get_repository(&target("hello-world")).await.unwrap();

    assert_eq!(repo.object.full_name, "octokit-fixture-org/hello-world");
    assert_eq!(
        clock.sleeps(),
        [secs(60)],
        "the retry-after, not the 1 s backoff"
    );
    assert_eq!(received(&server).await.len(), 2);
}

#[tokio::test]
async fn too_many_requests_429_waits_its_retry_after() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let ok = repository();
    then_ok(&server, &ok, &secondary_limit(&ok, 429, "30"), 1).await;
    let github = common::client(&server, &clock);

    github.get_repository(&target("hello-world")).await.unwrap();

    assert_eq!(clock.sleeps(), [secs(30)]);
    assert_eq!(received(&server).await.len(), 2);
}

#[tokio::test]
async fn server_error_then_success_backs_off_once() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let ok = repository();
    then_ok(&server, &ok, &server_error(&ok, 502), 1).await;
    let github = common::client(&server, &clock);

    github.get_repository(&target("hello-world")).await.unwrap();

    assert_eq!(clock.sleeps(), [secs(1)]);
    assert_eq!(received(&server).await.len(), 2);
}

#[tokio::test]
async fn server_errors_until_give_up_fail_retryable_after_bounded_attempts() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let ok = repository();
    Mock::given(method("GET"))
        .and(path(&ok.path))
        .respond_with(server_error(&ok, 500).respond(&server))
        .expect(3)
        .mount(&server)
        .await;
    let github = common::client(&server, &clock);

    let err = github
        .get_repository(&target("hello-world"))
        .await
        .unwrap_err();

    match &err {
        Error::Provider {
            retryable, message, ..
        } => {
            assert!(*retryable, "{err}");
            assert!(
                message.contains("500") && message.contains("3 attempt"),
                "{message}"
            );
        }
        other => panic!("expected Error::Provider, got {other:?}"),
    }
    assert!(err.is_retryable());
    assert_eq!(
        clock.sleeps(),
        [secs(1), secs(2)],
        "full jitter at draw 1.0"
    );
    assert_eq!(received(&server).await.len(), 3);
}

#[tokio::test]
async fn backfill_pauses_below_its_reserve_while_hydrates_and_writes_go() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let page = common::session("labels").remove(0);
    Mock::given(method("GET"))
        .and(path(&page.path))
        .respond_with(page.respond(&server))
        .mount(&server)
        .await;
    // The recorded budget says 4999 left: a backfill reserve of 5000 is not met.
    let github = common::builder(&server, &clock)
        .budget_policy(BudgetPolicy {
            backfill_reserve: Reserve::Requests(5000),
            ..BudgetPolicy::default()
        })
        .build()
        .unwrap();
    let backfill = github.for_backfill();
    let first = PageRequest::first(100);

    backfill
        .list_labels(&target("labels"), &first)
        .await
        .unwrap();
    let err = backfill
        .list_labels(&target("labels"), &first)
        .await
        .unwrap_err();

    assert!(is_paused(&err), "{err}");
    assert!(err.is_retryable());
    assert_eq!(
        retry_at(&err),
        Some(at("2017-10-10T16:00:00Z")),
        "the recorded reset"
    );
    assert_eq!(
        received(&server).await.len(),
        1,
        "a paused read sends nothing"
    );
    assert!(clock.sleeps().is_empty());
    // A hydrate of the same budget still goes.
    github.list_labels(&target("labels"), &first).await.unwrap();
    assert_eq!(received(&server).await.len(), 2);
    assert!(!github.budget().unwrap().is_limited(clock.now()));
}

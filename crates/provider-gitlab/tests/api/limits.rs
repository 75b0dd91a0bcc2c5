//! Rate limits and retries through the adapter: GitLab's `429` waits its `Retry-After`,
//! `RateLimit-*` headers feed the budget, `5xx` backs off with full jitter and then fails as
//! a retryable `Error::Provider`, and a backfill pauses (nothing sent) while the budget is
//! below its reserve. Every wait is read off the manual clock; nothing sleeps.

use kradle_http::Clock;
use kradle_provider_gitlab::api::{is_paused, retry_at};
use kradle_sync_core::{Error, IssueTracking, PageRequest, Provider};
use kradle_test_support::recorded::{Exchange, received};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

use crate::common::{self, PROJECT, at, get, rest, secs, target, throttled};

fn labels() -> Exchange {
    get(
        &format!("{PROJECT}/labels"),
        rest("labels/gitlab-docs-list_labels.json"),
    )
}

/// `first` for the first `n` requests, then `ok`.
async fn then_ok(server: &MockServer, ok: &Exchange, first: &Exchange, n: u64) {
    Mock::given(method(ok.method.as_str()))
        .and(path(&ok.path))
        .respond_with(first.respond(server))
        .up_to_n_times(n)
        .expect(n)
        .mount(server)
        .await;
    always(server, ok).await;
}

/// `ok` for every request.
async fn always(server: &MockServer, ok: &Exchange) {
    Mock::given(method(ok.method.as_str()))
        .and(path(&ok.path))
        .respond_with(ok.respond(server))
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_429_waits_its_retry_after_and_the_read_succeeds() {
    let server = MockServer::start().await;
    // The documented throttled response resets at 11:00:00 and says `Retry-After: 30`:
    // it was sent at 10:59:30.
    let clock = kradle_http::testing::ManualClock::new(at("2021-01-05T10:59:30Z"));
    let ok = labels();
    then_ok(&server, &ok, &throttled(&ok.path), 1).await;
    let gitlab = common::client(&server, &clock);

    let page = gitlab
        .list_labels(&target(), &PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 5);
    assert_eq!(
        clock.sleeps(),
        [secs(30)],
        "GitLab's Retry-After, not a backoff"
    );
    assert_eq!(received(&server).await.len(), 2);
}

#[tokio::test]
async fn rate_limit_headers_feed_the_budget() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let ok = labels();
    always(&server, &ok).await;
    let gitlab = common::client(&server, &clock);
    gitlab
        .list_labels(&target(), &PageRequest::first(100))
        .await
        .unwrap();
    let budget = gitlab.budget().expect("a budget from RateLimit-*");
    assert_eq!(budget.limit, Some(60));
    assert_eq!(budget.remaining, Some(33));
    assert_eq!(budget.reset_at, Some(at("2021-01-05T11:00:00Z")));
    let status = gitlab.rate_limit().unwrap();
    assert_eq!(status.remaining, Some(33));
}

#[tokio::test]
async fn server_errors_back_off_then_fail_retryable() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let ok = labels();
    let failing = ok
        .clone()
        .with_status(500, json!({ "message": "500 Internal Server Error" }))
        .without_header("etag");
    Mock::given(method("GET"))
        .and(path(&ok.path))
        .respond_with(failing.respond(&server))
        .expect(3)
        .mount(&server)
        .await;
    let gitlab = common::client(&server, &clock);
    let err = gitlab
        .list_labels(&target(), &PageRequest::first(100))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(matches!(err, Error::Provider { .. }), "{err:?}");
    assert_eq!(
        clock.sleeps(),
        [secs(1), secs(2)],
        "full jitter drawn at 1.0"
    );
}

#[tokio::test]
async fn a_backfill_pauses_below_its_reserve_while_hydrates_go() {
    let server = MockServer::start().await;
    let clock = common::clock();
    // Derived: the documented headers with 5 of 60 requests left (8 %: below the
    // backfill reserve of 20 %, above the hydrate reserve of 5 %).
    let low = labels()
        .with_header("ratelimit-observed", "55")
        .with_header("ratelimit-remaining", "5");
    always(&server, &low).await;
    let gitlab = common::client(&server, &clock);
    gitlab
        .list_labels(&target(), &PageRequest::first(100))
        .await
        .unwrap();
    let backfill = gitlab.for_backfill();
    let err = backfill
        .list_labels(&target(), &PageRequest::first(100))
        .await
        .unwrap_err();
    assert!(is_paused(&err), "{err}");
    assert_eq!(retry_at(&err), Some(at("2021-01-05T11:00:00Z")));
    assert_eq!(
        received(&server).await.len(),
        1,
        "the paused read sent nothing"
    );
    // A hydrate still goes.
    gitlab
        .list_labels(&target(), &PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(received(&server).await.len(), 2);
    assert_eq!(clock.now(), at("2021-01-05T10:30:00Z"), "nothing slept");
}

#[tokio::test]
async fn a_throttle_longer_than_the_kit_waits_ends_the_call_with_its_resume_time() {
    let server = MockServer::start().await;
    // Half an hour before the documented reset: longer than the kit sleeps through.
    let clock = common::clock();
    let ok = labels();
    then_ok(&server, &ok, &throttled(&ok.path), 1).await;
    let gitlab = common::client(&server, &clock);
    let err = gitlab
        .list_labels(&target(), &PageRequest::first(100))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(retry_at(&err), Some(at("2021-01-05T11:00:00Z")));
    assert!(
        clock.slept() < secs(31),
        "no half-hour sleep: {:?}",
        clock.sleeps()
    );
    assert_eq!(received(&server).await.len(), 1);
}

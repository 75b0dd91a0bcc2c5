//! Rate limits and retries: `403` secondary limits and `429` honour `retry-after`, an
//! exhausted budget waits for `x-ratelimit-reset`, `5xx` and timeouts back off with full
//! jitter until the bounded attempts are spent, and a create whose outcome is unknown is
//! never repeated. Every wait goes through the manual clock, which records it.

use std::time::Duration;

use kradle_http::{ApiRequest, BudgetPolicy, Clock, HttpError, TransportKind};
use kradle_test_support::recorded::{Exchange, received};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

use crate::common::{self, at, secs};

/// The recorded `GET …/labels/test-label` (200, ETag, rate-limit headers).
fn label() -> Exchange {
    common::session("labels").remove(2)
}

/// The recorded `POST …/issues` create (201).
fn create_issue() -> Exchange {
    common::session("add-labels-to-issue").remove(0)
}

/// GitHub's secondary-limit answer: the recorded headers, status `403`, `retry-after`,
/// and the message GitHub sends (see PROVENANCE.md).
fn secondary_limit(base: &Exchange, retry_after: &str) -> Exchange {
    base.clone()
        .with_status(
            403,
            json!({
                "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
            }),
        )
        .without_header("etag")
        .without_header("last-modified")
        .with_header("retry-after", retry_after)
}

/// GitHub's primary-limit answer as documented: `403`, `x-ratelimit-remaining: 0`, the
/// recorded `x-ratelimit-reset`.
fn primary_limit(base: &Exchange) -> Exchange {
    base.clone()
        .with_status(
            403,
            json!({
                "message": "API rate limit exceeded for xxx.xxx.xxx.xxx. (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)",
                "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"
            }),
        )
        .without_header("etag")
        .without_header("last-modified")
        .with_header("x-ratelimit-remaining", "0")
        .with_header("x-ratelimit-used", "5000")
}

fn server_error(base: &Exchange, status: u16) -> Exchange {
    base.clone()
        .with_status(status, json!({ "message": "Server Error" }))
        .without_header("etag")
        .without_header("last-modified")
}

/// Mounts `first` for the first `n` requests to the recorded path, then the recorded
/// response.
async fn then_ok(server: &MockServer, recorded: &Exchange, first: &Exchange, n: u64) {
    Mock::given(method(recorded.method.as_str()))
        .and(path(&recorded.path))
        .respond_with(first.respond(server))
        .up_to_n_times(n)
        .expect(n)
        .mount(server)
        .await;
    Mock::given(method(recorded.method.as_str()))
        .and(path(&recorded.path))
        .respond_with(recorded.respond(server))
        .mount(server)
        .await;
}

#[tokio::test]
async fn secondary_limit_403_honours_retry_after() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let ok = label();
    then_ok(&server, &ok, &secondary_limit(&ok, "60"), 1).await;
    let client = common::client(&server, &clock);

    let r = client.send(ApiRequest::get(&ok.path)).await.unwrap();

    assert_eq!(r.status.as_u16(), 200);
    assert_eq!(
        clock.sleeps(),
        [secs(60)],
        "the retry-after, not the 1 s backoff"
    );
    assert_eq!(received(&server).await.len(), 2);
    assert!(!client.budget().unwrap().is_limited(clock.now()));
}

#[tokio::test]
async fn exhausted_budget_403_waits_until_the_reset() {
    let server = MockServer::start().await;
    let clock = common::clock();
    clock.set(at("2017-10-10T15:58:00Z"));
    let ok = label();
    then_ok(&server, &ok, &primary_limit(&ok), 1).await;
    let client = common::client(&server, &clock);

    let r = client.send(ApiRequest::get(&ok.path)).await.unwrap();

    assert_eq!(r.status.as_u16(), 200);
    // x-ratelimit-reset 2017-10-10T16:00:00Z, two minutes after the 403.
    assert_eq!(clock.sleeps(), [secs(120)]);
    assert_eq!(received(&server).await.len(), 2);
}

#[tokio::test]
async fn too_many_requests_429_honours_retry_after() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let ok = label();
    let limited = secondary_limit(&ok, "30").with_status(
        429,
        json!({"message": "You have exceeded a secondary rate limit."}),
    );
    then_ok(&server, &ok, &limited, 1).await;
    let client = common::client(&server, &clock);

    client.send(ApiRequest::get(&ok.path)).await.unwrap();

    assert_eq!(clock.sleeps(), [secs(30)]);
    assert_eq!(received(&server).await.len(), 2);
}

#[tokio::test]
async fn a_wait_longer_than_the_maximum_ends_the_call_and_holds_back_the_next() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let ok = label();
    let limited = secondary_limit(&ok, "3600").with_status(
        429,
        json!({"message": "You have exceeded a secondary rate limit."}),
    );
    then_ok(&server, &ok, &limited, 1).await;
    let client = common::builder(&server, &clock)
        .budget_policy(BudgetPolicy {
            max_wait: Duration::from_secs(900),
            ..BudgetPolicy::default()
        })
        .build()
        .unwrap();

    let err = client.send(ApiRequest::get(&ok.path)).await.unwrap_err();
    match &err {
        HttpError::RateLimited {
            status,
            retry_at,
            attempts,
            ..
        } => {
            assert_eq!(*status, 429);
            assert_eq!(*retry_at, Some(at("2017-10-10T16:00:00Z")));
            assert_eq!(*attempts, 1);
        }
        other => panic!("expected RateLimited, got {other}"),
    }
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(clock.now()), Some(secs(3600)));
    assert!(clock.sleeps().is_empty());

    // Every class is held back until then, writes included, without a request.
    let write = client
        .send(ApiRequest::post(&create_issue().path).json(json!({"title": "x"})))
        .await
        .unwrap_err();
    assert!(
        matches!(write, HttpError::RateLimited { status: 0, .. }),
        "{write}"
    );
    assert_eq!(received(&server).await.len(), 1);
    let budget = client.budget().unwrap();
    assert_eq!(
        budget.resumes_at(clock.now()),
        Some(at("2017-10-10T16:00:00Z"))
    );

    let core: kradle_sync_core::Error = err.into();
    assert!(core.is_retryable());
}

#[tokio::test]
async fn server_error_then_success() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let ok = label();
    then_ok(&server, &ok, &server_error(&ok, 502), 1).await;
    let client = common::client(&server, &clock);

    let r = client.send(ApiRequest::get(&ok.path)).await.unwrap();

    assert_eq!(r.json::<Value>().unwrap()["name"], "test-label");
    assert_eq!(clock.sleeps(), [secs(1)]);
    assert_eq!(received(&server).await.len(), 2);
}

#[tokio::test]
async fn server_errors_until_the_attempts_are_spent() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let ok = label();
    Mock::given(method("GET"))
        .respond_with(server_error(&ok, 500).respond(&server))
        .expect(3)
        .mount(&server)
        .await;
    let client = common::client(&server, &clock);

    let err = client.send(ApiRequest::get(&ok.path)).await.unwrap_err();

    assert!(
        matches!(err, HttpError::Server { status: 500, attempts: 3, ref message, .. } if message == "Server Error"),
        "{err}"
    );
    // Full jitter drawn at 1.0: the exponential delays themselves.
    assert_eq!(clock.sleeps(), [secs(1), secs(2)]);
    let core: kradle_sync_core::Error = err.into();
    assert!(
        matches!(
            core,
            kradle_sync_core::Error::Provider {
                retryable: true,
                ..
            }
        ),
        "{core}"
    );
}

#[tokio::test]
async fn a_get_that_times_out_is_retried() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let ok = label();
    Mock::given(method("GET"))
        .respond_with(ok.respond(&server).set_delay(Duration::from_secs(10)))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ok.respond(&server))
        .mount(&server)
        .await;
    let client = common::builder(&server, &clock)
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();

    let r = client.send(ApiRequest::get(&ok.path)).await.unwrap();

    assert_eq!(r.status.as_u16(), 200);
    assert_eq!(clock.sleeps(), [secs(1)]);
    assert_eq!(received(&server).await.len(), 2);
}

#[tokio::test]
async fn a_get_that_keeps_timing_out_fails_retryable() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let ok = label();
    Mock::given(method("GET"))
        .respond_with(ok.respond(&server).set_delay(Duration::from_secs(10)))
        .expect(3)
        .mount(&server)
        .await;
    let client = common::builder(&server, &clock)
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let err = client.send(ApiRequest::get(&ok.path)).await.unwrap_err();
    assert!(
        matches!(
            err,
            HttpError::Transport {
                kind: TransportKind::Timeout,
                attempts: 3,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_create_that_times_out_is_not_repeated() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let create = create_issue();
    assert_eq!((create.method.as_str(), create.status), ("POST", 201));
    Mock::given(method("POST"))
        .and(path(&create.path))
        .respond_with(create.respond(&server).set_delay(Duration::from_secs(10)))
        .expect(1)
        .mount(&server)
        .await;
    let client = common::builder(&server, &clock)
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();

    let err = client
        .send(ApiRequest::post(&create.path).json(json!({"title": "Issue with labels"})))
        .await
        .unwrap_err();

    assert!(err.is_outcome_unknown(), "{err}");
    assert!(err.to_string().contains("idempotency marker"), "{err}");
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn a_create_answered_with_5xx_is_not_repeated_but_an_idempotent_patch_is() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let create = create_issue();
    Mock::given(method("POST"))
        .respond_with(server_error(&create, 502).respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .respond_with(server_error(&create, 502).respond(&server))
        .expect(3)
        .mount(&server)
        .await;
    let client = common::client(&server, &clock);

    let err = client
        .send(ApiRequest::post(&create.path).json(json!({"title": "x"})))
        .await
        .unwrap_err();
    assert!(
        matches!(err, HttpError::OutcomeUnknown { ref cause, .. } if cause.contains("502")),
        "{err}"
    );

    let err = client
        .send(
            ApiRequest::patch(format!("{}/1", create.path))
                .json(json!({"state": "closed"}))
                .idempotent(true),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, HttpError::Server { attempts: 3, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn a_refused_connection_is_retried_even_for_a_create() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let clock = common::clock();
    let client = kradle_http::ApiClient::builder(
        reqwest::Client::new(),
        "github",
        format!("http://127.0.0.1:{port}"),
    )
    .clock(std::sync::Arc::new(clock.clone()))
    .sleeper(std::sync::Arc::new(clock.clone()))
    .jitter(kradle_http::Jitter::Fixed(1.0))
    .retry(kradle_sync_core::RetryPolicy {
        max_attempts: 3,
        base_delay: secs(1),
        max_delay: secs(60),
    })
    .build()
    .unwrap();
    let err = client
        .send(ApiRequest::post("/repos/o/r/issues").json(json!({"title": "x"})))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            HttpError::Transport {
                kind: TransportKind::Connect,
                attempts: 3,
                ..
            }
        ),
        "never sent, so safe to repeat: {err}"
    );
    assert_eq!(clock.sleeps(), [secs(1), secs(2)]);
}

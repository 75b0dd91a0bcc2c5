//! The token never reaches an error (Display, Debug, source chain, the core error it
//! becomes) or a log line, at any level, even when the provider echoes it back.
//!
//! A test binary of its own: it installs a capturing subscriber, and `tracing` caches
//! per-callsite interest across the threads of one process, so tests running beside it
//! without a subscriber would hide events from it.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

#[path = "kit/common.rs"]
#[allow(dead_code)]
mod common;

use std::time::Duration;

use kradle_http::{ApiRequest, HttpError, LinkPagination};
use kradle_test_support::recorded::received;
use kradle_test_support::traces::{TraceCapture, error_chain};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

use common::TOKEN;

/// Everything an error shows: Display, Debug, every source, and the core error.
fn everything(err: HttpError) -> String {
    let mut out = error_chain(&err);
    let core: kradle_sync_core::Error = err.into();
    out.push_str(&format!("{core}\n{core:?}\n"));
    out
}

fn assert_clean(text: &str) {
    let token_part = TOKEN.trim_start_matches("ghp_");
    assert!(!text.contains(TOKEN), "token leaked:\n{text}");
    assert!(!text.contains(token_part), "token leaked:\n{text}");
}

#[tokio::test(flavor = "current_thread")]
async fn the_token_never_reaches_errors_or_logs() {
    let logs = TraceCapture::on_this_thread();

    let server = MockServer::start().await;
    let clock = common::clock();
    let label = common::session("labels").remove(2);
    let echo = format!("Bad credentials: token Bearer {TOKEN} was revoked");
    Mock::given(method("GET"))
        .and(path("/echo"))
        .respond_with(
            label
                .clone()
                .with_status(401, json!({"message": echo}))
                .respond(&server),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/broken"))
        .respond_with(
            label
                .clone()
                .with_status(500, json!({"message": echo}))
                .respond(&server),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/slow"))
        .respond_with(label.respond(&server).set_delay(Duration::from_secs(10)))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/invalid"))
        .respond_with(
            label
                .clone()
                .with_status(422, json!({"message": echo}))
                .respond(&server),
        )
        .mount(&server)
        .await;
    let client = common::builder(&server, &clock)
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();

    let mut shown = String::new();
    for request in [
        ApiRequest::get("/echo"),
        ApiRequest::get("/broken"),
        ApiRequest::post("/slow").json(json!({"title": "x"})),
        ApiRequest::post("/invalid").json(json!({"title": "x"})),
    ] {
        let err = client.send(request).await.unwrap_err();
        shown.push_str(&everything(err));
    }
    let err = client
        .fetch_all(ApiRequest::get("/broken"), &LinkPagination::new(), 100)
        .await
        .unwrap_err();
    shown.push_str(&everything(err));
    shown.push_str(&format!("{client:?}"));

    assert!(
        shown.contains("Bad credentials: token [redacted] was revoked"),
        "{shown}"
    );
    assert!(shown.contains("outcome unknown"), "{shown}");
    assert_clean(&shown);

    // The token was really sent.
    let sent = received(&server).await;
    assert!(sent.iter().all(|r| {
        r.headers
            .get("authorization")
            .is_some_and(|v| v.to_str().unwrap_or_default() == format!("Bearer {TOKEN}"))
    }));

    // Spans name the provider, binding, method and path; nothing carries the token.
    let logs = logs.text();
    assert!(logs.contains("kradle_http.request"), "{logs}");
    assert!(logs.contains("provider=github"), "{logs}");
    assert!(
        logs.contains("binding=octokit-fixture-org/paginate-issues"),
        "{logs}"
    );
    assert!(
        logs.contains("method=GET") && logs.contains("path=/broken"),
        "{logs}"
    );
    assert!(logs.contains("retrying"), "{logs}");
    assert_clean(&logs);
    assert!(
        !logs.to_ascii_lowercase().contains("authorization"),
        "{logs}"
    );
}

/// A provider's own credential header (GitLab's `PRIVATE-TOKEN`) is sent instead of
/// `Authorization`, and scrubbed the same way when echoed back.
#[tokio::test(flavor = "current_thread")]
async fn a_token_in_a_providers_own_header_is_sent_and_scrubbed_alike() {
    let logs = TraceCapture::on_this_thread();
    let server = MockServer::start().await;
    let clock = common::clock();
    let label = common::session("labels").remove(2);
    let echo = format!("401 Unauthorized: {TOKEN} is not a valid token");
    Mock::given(method("GET"))
        .and(path("/echo"))
        .respond_with(
            label
                .with_status(401, json!({"message": echo}))
                .respond(&server),
        )
        .mount(&server)
        .await;
    let header = reqwest::header::HeaderName::from_static("private-token");
    let client = common::builder(&server, &clock)
        .credentials(std::sync::Arc::new(kradle_http::StaticToken::in_header(
            header.clone(),
            TOKEN,
        )))
        .build()
        .unwrap();
    let err = client.send(ApiRequest::get("/echo")).await.unwrap_err();
    let shown = format!("{}{client:?}", everything(err));
    assert!(shown.contains("[redacted] is not a valid token"), "{shown}");
    assert_clean(&shown);
    assert_clean(&logs.text());
    let sent = received(&server).await;
    assert!(sent.iter().all(|r| {
        r.headers.get("authorization").is_none()
            && r.headers
                .get("private-token")
                .is_some_and(|v| v.to_str().unwrap_or_default() == TOKEN)
    }));
    // The same header as a default header is refused: it would not be scrubbed.
    let refused = common::builder(&server, &clock)
        .credentials(std::sync::Arc::new(kradle_http::StaticToken::in_header(
            header, TOKEN,
        )))
        .default_header("PRIVATE-TOKEN", "other")
        .build();
    assert!(refused.is_err());
}

//! Tokens, the app's private key and its JWTs never reach Debug output, errors or log
//! lines, at any level, even when GitHub echoes a token back.
//!
//! A test binary of its own: it installs a process-wide capturing subscriber.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "api/common.rs"]
mod common;

use kradle_http::testing::ManualClock;
use kradle_provider_github::api::{GithubApp, GithubAuth};
use kradle_sync_core::{Cicd, GitForge, IssuePatch, IssueTracking, Provider};
use kradle_test_support::traces::{TraceCapture, error_chain};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

use common::{TOKEN, at, target};

/// The secrets, and recognisable parts of them.
fn secrets() -> Vec<String> {
    let installation = common::rest("apps/installation-token.json")["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let runner = common::rest("actions/authentication-token.json")["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = common::app_key();
    let key_lines: Vec<String> = key
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .take(3)
        .map(str::to_owned)
        .collect();
    let mut all = vec![
        TOKEN.to_owned(),
        TOKEN.trim_start_matches("ghp_").to_owned(),
        installation.clone(),
        installation.trim_start_matches("ghs_").to_owned(),
        runner,
        // Every JWT starts with the base64 of `{"`.
        "eyJ".to_owned(),
    ];
    all.extend(key_lines);
    all
}

fn assert_clean(what: &str, text: &str) {
    for secret in secrets() {
        assert!(!text.contains(&secret), "{what} leaked {secret:?}:\n{text}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn tokens_keys_and_jwts_never_reach_debug_errors_or_logs() {
    let logs = TraceCapture::process_wide();

    let server = MockServer::start().await;
    let clock = ManualClock::new(at("2016-07-11T21:14:10Z"));
    let installation = common::rest("apps/installation-token.json");
    let echoed = installation["token"].as_str().unwrap().to_owned();
    Mock::given(method("POST"))
        .and(path("/app/installations/42/access_tokens"))
        .respond_with(common::example(201, installation).respond(&server))
        .mount(&server)
        .await;
    let repo = common::session("get-repository").remove(0);
    // Deliberately hostile: GitHub echoing the token it rejected.
    let hostile = |status: u16, secret: &str| {
        repo.clone()
            .with_status(
                status,
                json!({ "message": format!("Bad credentials: Bearer {secret}") }),
            )
            .without_header("etag")
    };
    Mock::given(method("GET"))
        .and(path(&repo.path))
        .respond_with(hostile(401, &echoed).respond(&server))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/octokit-fixture-org/hello-world/issues"))
        .respond_with(hostile(502, &echoed).respond(&server))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/octokit-fixture-org/hello-world/issues"))
        .respond_with(hostile(422, &echoed).respond(&server))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(
            "/repos/octokit-fixture-org/hello-world/actions/runners/registration-token",
        ))
        .respond_with(
            common::example(201, common::rest("actions/authentication-token.json"))
                .respond(&server),
        )
        .mount(&server)
        .await;

    let app = GithubApp::new("12345", common::app_key(), 42);
    let auth = GithubAuth::app(app.clone());
    let builder = common::bare(&server, &clock).auth(auth.clone());
    let mut shown = format!("{app:?}\n{auth:?}\n{builder:?}\n");
    let github = builder.build().unwrap();
    let hello = target("hello-world");

    let read = github.get_repository(&hello).await.unwrap_err();
    let mut patch = IssuePatch::default();
    patch.title = Some("x".into());
    patch.body = Some("y".into());
    let create = github
        .create_issue(&hello, &patch, "kradle:k")
        .await
        .unwrap_err();
    let registration = github.register_runner(&hello).await.unwrap();
    let health = github.health().await;
    shown.push_str(&format!(
        "{github:?}\n{:?}\n{registration:?}\n{health:?}\n",
        github.installation()
    ));
    shown.push_str(&error_chain(&read));
    shown.push_str(&error_chain(&create));

    // A personal access token, echoed back on a 401.
    let pat_server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(&repo.path))
        .respond_with(hostile(401, TOKEN).respond(&pat_server))
        .mount(&pat_server)
        .await;
    let pat = common::client(&pat_server, &common::clock());
    let pat_err = pat.get_repository(&hello).await.unwrap_err();
    shown.push_str(&format!("{pat:?}\n{:?}\n", GithubAuth::token(TOKEN)));
    shown.push_str(&error_chain(&pat_err));

    // The calls really failed the way this test means.
    assert!(error_chain(&read).contains("401"), "{read}");
    // The marker lookup failed (422): the create stays unknown and retryable.
    assert!(error_chain(&create).contains("outcome unknown"), "{create}");
    assert!(create.is_retryable());
    assert!(error_chain(&pat_err).contains("[redacted]"), "{pat_err}");
    let text = logs.text();
    assert!(
        text.contains("installation token refreshed"),
        "logs were captured:\n{text}"
    );
    assert!(text.contains("kradle_http.request"), "{text}");
    assert_clean("Debug output and errors", &shown);
    assert_clean("logs", &text);
}

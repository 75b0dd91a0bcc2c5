//! Tokens never reach `Debug` output, errors or log lines, at any level, even when GitLab
//! echoes one back: a personal/project/group access token (sent as `PRIVATE-TOKEN`) and an
//! OAuth token (sent as `Authorization: Bearer`), a runner's authentication token, and the
//! webhook secret token.
//!
//! A test binary of its own: it installs a process-wide capturing subscriber.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "api/common.rs"]
mod common;

use kradle_provider_gitlab::{GitlabAuth, GitlabPlugin, GitlabWebhooks};
use kradle_sync_core::{
    Cicd, ConnectOptions, Credentials, ExternalTarget, GitForge, Headers, IssuePatch,
    IssueTracking, Provider, ProviderPlugin, Secret, SignatureScheme, WebhookAdapter, WebhookKey,
    WebhookRequest,
};
use kradle_test_support::traces::{TraceCapture, error_chain};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

use common::{PROJECT, TOKEN, answer, get, rest, target};

const OAUTH: &str = "oauth-kradleTestToken9876543210SECRET";
const WEBHOOK_SECRET: &str = "webhook-secret-token-kradle-SECRET";
const RUNNER: &str = "glrt-kyahzxLaj4Dc1jQf4xjX";

fn secrets() -> Vec<&'static str> {
    vec![
        TOKEN,
        TOKEN.trim_start_matches("glpat-"),
        OAUTH,
        WEBHOOK_SECRET,
        RUNNER,
    ]
}

fn assert_clean(what: &str, text: &str) {
    for secret in secrets() {
        assert!(!text.contains(secret), "{what} leaked {secret:?}:\n{text}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn tokens_never_reach_debug_errors_or_logs() {
    let logs = TraceCapture::process_wide();
    let clock = common::clock();

    // Deliberately hostile: GitLab echoing the token it rejected.
    let server = MockServer::start().await;
    let hostile = |m: &str, p: &str, status: u16, secret: &str| {
        answer(
            m,
            p,
            status,
            json!({ "message": format!("401 Unauthorized: {secret}") }),
        )
        .without_header("etag")
    };
    Mock::given(method("GET"))
        .and(path(PROJECT))
        .respond_with(hostile("GET", PROJECT, 401, TOKEN).respond(&server))
        .mount(&server)
        .await;
    let issues = format!("{PROJECT}/issues");
    Mock::given(method("POST"))
        .and(path(&issues))
        .respond_with(hostile("POST", &issues, 502, TOKEN).respond(&server))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(&issues))
        .respond_with(hostile("GET", &issues, 422, TOKEN).respond(&server))
        .mount(&server)
        .await;
    let labels = format!("{PROJECT}/labels");
    Mock::given(method("GET"))
        .and(path(&labels))
        .respond_with(hostile("GET", &labels, 500, TOKEN).respond(&server))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v4/user"))
        .respond_with(hostile("GET", "/api/v4/user", 401, TOKEN).respond(&server))
        .mount(&server)
        .await;

    let builder = common::builder(&server, &clock);
    let mut shown = format!("{builder:?}\n{:?}\n", GitlabAuth::private_token(TOKEN));
    let gitlab = builder.build().unwrap();
    let read = gitlab.get_repository(&target()).await.unwrap_err();
    let mut patch = IssuePatch::default();
    patch.title = Some("x".into());
    let create = gitlab
        .create_issue(&target(), &patch, "kradle:k")
        .await
        .unwrap_err();
    let server_error = gitlab
        .list_labels(&target(), &kradle_sync_core::PageRequest::first(100))
        .await
        .unwrap_err();
    let health = gitlab.health().await;
    shown.push_str(&format!("{gitlab:?}\n{health:?}\n"));
    for err in [&read, &create, &server_error] {
        shown.push_str(&error_chain(err));
        shown.push_str(&format!("{err:?}\n"));
    }

    // An OAuth token, echoed back on a 401.
    let oauth_server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(PROJECT))
        .respond_with(hostile("GET", PROJECT, 401, OAUTH).respond(&oauth_server))
        .mount(&oauth_server)
        .await;
    let oauth = common::bare(&oauth_server, &clock)
        .auth(GitlabAuth::oauth(OAUTH))
        .build()
        .unwrap();
    let oauth_err = oauth.get_repository(&target()).await.unwrap_err();
    shown.push_str(&format!("{oauth:?}\n{:?}\n", GitlabAuth::oauth(OAUTH)));
    shown.push_str(&error_chain(&oauth_err));

    // A runner's token: returned to the caller, shown nowhere.
    let runner_server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(PROJECT))
        .respond_with(
            get(PROJECT, rest("projects/gitlab-docs-get_project.json")).respond(&runner_server),
        )
        .mount(&runner_server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v4/user/runners"))
        .respond_with(
            answer(
                "POST",
                "/api/v4/user/runners",
                201,
                rest("runners/narkoz-create_project_runner_response.json"),
            )
            .respond(&runner_server),
        )
        .mount(&runner_server)
        .await;
    let runner_client = common::client(&runner_server, &clock);
    let registration = runner_client.register_runner(&target()).await.unwrap();
    assert_eq!(registration.token.expose(), RUNNER);
    shown.push_str(&format!("{registration:?}\n"));

    // The webhook secret: a wrong token, a connect with it, the plugin.
    let request = WebhookRequest::new(
        Headers::from_pairs([
            ("X-Gitlab-Event", "Issue Hook"),
            ("X-Gitlab-Token", WEBHOOK_SECRET),
            ("Idempotency-Key", "f5e5f430-f57b-4e6e-9fac-d9128cd7232f"),
        ]),
        b"{}".to_vec(),
    );
    let secret = Secret::new(format!("{WEBHOOK_SECRET}-other"));
    let rejected = GitlabWebhooks::new()
        .verify_webhook(
            &request,
            &WebhookKey::new(&secret, SignatureScheme::Token, chrono::Utc::now()),
        )
        .unwrap_err();
    // (The request itself is the core's `WebhookRequest`, whose `Debug` prints its
    // headers, the token among them: a host must not log it.)
    shown.push_str(&format!("{rejected} {rejected:?}\n"));
    let options = ConnectOptions::new(ExternalTarget::from_path(common::PATH))
        .with_api_url(server.uri())
        .with_credentials(Credentials::Token(Secret::new(TOKEN)));
    let plugin = GitlabPlugin::new();
    let connected = plugin.connect(options.clone()).map(|_| ());
    shown.push_str(&format!("{options:?}\n{plugin:?}\n{connected:?}\n"));

    // The calls really failed the way this test means.
    assert!(error_chain(&read).contains("401"), "{read}");
    assert!(error_chain(&create).contains("outcome unknown"), "{create}");
    assert!(create.is_retryable());
    assert!(error_chain(&read).contains("[redacted]"), "{read}");
    assert!(
        error_chain(&oauth_err).contains("[redacted]"),
        "{oauth_err}"
    );
    let text = logs.text();
    assert!(
        text.contains("kradle_http.request"),
        "logs were captured:\n{text}"
    );
    assert_clean("Debug output and errors", &shown);
    assert_clean("logs", &text);
}

//! Tokens and webhook secrets never reach logs, `Debug` output or errors: every request of
//! a session (a read, a 401 that echoes the credential, a refused write, a rejected
//! delivery) runs under a process-wide trace capture, and the captured text, the errors and
//! the `Debug` of everything holding a secret are searched for it. A test binary of its own
//! (the capture is process-wide).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use base64::Engine as _;
use chrono::Utc;
use common::{SECRET, fixture, fixture_json, signed};
use kradle_http::testing::ManualClock;
use kradle_provider_jira::{Flavor, JiraAuth, JiraClient, JiraPlugin, JiraWebhooks};
use kradle_sync_core::{
    ConnectOptions, Credentials, ExternalTarget, IssuePatch, IssueTracking, PageRequest,
    ProviderPlugin, Secret, SignatureScheme, WebhookAdapter, WebhookKey,
};
use kradle_test_support::traces::{TraceCapture, error_chain};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "ATATT3xFfGF0kradleSecretsTestToken0123456789SECRET";
const PAT: &str = "NjQ2kradleDataCenterPersonalAccessTokenSECRET";

#[tokio::test(flavor = "current_thread")]
async fn credentials_and_webhook_secrets_never_show() {
    let capture = TraceCapture::process_wide();
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("mia@example.com:{TOKEN}"));
    let server = MockServer::start().await;
    // A 401 whose body echoes the credential back (a proxy's error page might).
    Mock::given(method("GET"))
        .and(path("/rest/api/3/myself"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"errorMessages": [format!("Basic {basic} is not valid")]})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/search/jql"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issues": fixture_json("rest/search/openapi-searchForIssuesUsingJql.200.json")["issues"],
            "isLast": true
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(fixture_json("rest/issues/openapi-createIssue.400.json")),
        )
        .mount(&server)
        .await;
    let clock = ManualClock::new(Utc::now());
    let jira = JiraClient::builder(reqwest::Client::new(), server.uri())
        .flavor(Flavor::Cloud)
        .auth(JiraAuth::basic("mia@example.com", TOKEN))
        .clock(Arc::new(clock.clone()))
        .sleeper(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let target = ExternalTarget::from_path("your-domain.atlassian.net/EX");
    let mut shown = Vec::new();
    let health = kradle_sync_core::Provider::health(&jira).await.unwrap();
    shown.push(format!("{health:?}"));
    jira.list_issues(&target, None, &PageRequest::first(10))
        .await
        .unwrap();
    let mut patch = IssuePatch::default();
    patch.title = Some("t".into());
    let err = jira.create_issue(&target, &patch, "k").await.unwrap_err();
    shown.push(error_chain(&err));
    shown.push(format!("{err:?}"));
    // Data Center with a personal access token, unreachable.
    let dc = JiraClient::builder(reqwest::Client::new(), "http://127.0.0.1:9")
        .auth(JiraAuth::token(PAT))
        .retry(kradle_sync_core::RetryPolicy {
            max_attempts: 1,
            ..Default::default()
        })
        .build()
        .unwrap();
    let err = dc
        .list_issues(
            &ExternalTarget::from_path("127.0.0.1:9/EX"),
            None,
            &PageRequest::first(1),
        )
        .await
        .unwrap_err();
    shown.push(error_chain(&err));
    shown.push(format!("{jira:?} {dc:?}"));
    // The plugin and its options.
    let options = ConnectOptions::new(target.clone())
        .with_api_url(server.uri())
        .with_credentials(Credentials::OAuth(Secret::new(TOKEN)));
    shown.push(format!("{options:?}"));
    shown.push(format!(
        "{:?}",
        JiraPlugin::new().connect(options).map(|_| ())
    ));
    // A delivery that fails verification, with the webhook secret.
    let secret = Secret::new(SECRET);
    let mut request = signed(fixture(
        "webhooks/jira_issue_updated/mattermost-issue-updated-assigned.json",
    ));
    request.body.push(b' ');
    let err = JiraWebhooks::new()
        .verify_webhook(
            &request,
            &WebhookKey::new(&secret, SignatureScheme::HmacSha256, Utc::now()),
        )
        .unwrap_err();
    shown.push(error_chain(&err));
    let text = format!("{}\n{}", capture.text(), shown.join("\n"));
    for secret in [TOKEN, PAT, basic.as_str(), SECRET] {
        assert!(!text.contains(secret), "a secret shows:\n{text}");
    }
    // The capture did record the session (so the check is not vacuous).
    assert!(
        text.contains("kradle_http.request") || text.contains("/rest/api/3/"),
        "{text}"
    );
}

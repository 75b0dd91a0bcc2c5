//! Status codes that are not retried: `422` (recorded) is a precondition with GitHub's
//! message, `404` (recorded) a typed not-found, `401` an auth error (repeated once only
//! for credentials that can refresh), a plain `403` a permission error.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use kradle_http::{ApiRequest, Credentials, HttpError};
use kradle_sync_core::Secret;
use kradle_test_support::recorded::received;
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer};

use crate::common;

#[tokio::test]
async fn validation_422_is_a_precondition_with_the_providers_message() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let recorded = common::session("errors").remove(0);
    assert_eq!(recorded.status, 422);
    Mock::given(method("POST"))
        .and(path(&recorded.path))
        .respond_with(recorded.respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    let client = common::client(&server, &clock);

    let err = client
        .send(ApiRequest::post(&recorded.path).json(recorded.body.clone()))
        .await
        .unwrap_err();

    assert!(
        matches!(err, HttpError::Precondition { status: 422, ref message, .. }
            if message == "Validation Failed: Label color invalid"),
        "{err}"
    );
    assert!(!err.is_retryable());
    let core: kradle_sync_core::Error = err.into();
    match core {
        kradle_sync_core::Error::Precondition { provider, message } => {
            assert_eq!(provider.as_str(), "github");
            assert!(message.starts_with("Validation Failed"), "{message}");
        }
        other => panic!("expected Precondition, got {other}"),
    }
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn not_found_404_is_typed_and_not_retried() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let recorded = common::session("branch-protection").remove(0);
    assert_eq!((recorded.method.as_str(), recorded.status), ("GET", 404));
    Mock::given(method("GET"))
        .and(path(&recorded.path))
        .respond_with(recorded.respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    let client = common::client(&server, &clock);

    let err = client
        .send(ApiRequest::get(&recorded.path))
        .await
        .unwrap_err();

    assert!(err.is_not_found(), "{err}");
    assert!(
        matches!(err, HttpError::NotFound { status: 404, ref request } if request.path == recorded.path)
    );
    assert!(!err.is_retryable());
    // The budget was still read from the 404's headers.
    assert_eq!(client.budget().unwrap().remaining, Some(4999));
}

#[tokio::test]
async fn unauthorized_401_is_not_retried() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let recorded = common::session("labels").remove(2);
    Mock::given(method("GET"))
        .respond_with(
            recorded
                .clone()
                .with_status(
                    401,
                    json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}),
                )
                .without_header("etag")
                .respond(&server),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = common::client(&server, &clock);
    let err = client
        .send(ApiRequest::get(&recorded.path))
        .await
        .unwrap_err();
    assert!(
        matches!(err, HttpError::Unauthorized { ref message, .. } if message == "Bad credentials"),
        "{err}"
    );
    assert!(!err.is_retryable());
}

/// Credentials that hand out a new token after `invalidate` (as a GitHub App
/// installation token does when it expired early).
struct Rotating {
    generation: AtomicU32,
}

#[async_trait]
impl Credentials for Rotating {
    async fn authorization(&self) -> Result<Secret, HttpError> {
        Ok(Secret::new(format!(
            "Bearer ghs_generation{}",
            self.generation.load(Ordering::SeqCst)
        )))
    }

    async fn invalidate(&self) -> bool {
        self.generation.fetch_add(1, Ordering::SeqCst);
        true
    }
}

#[tokio::test]
async fn refreshable_credentials_repeat_a_401_once_with_the_new_token() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let recorded = common::session("labels").remove(2);
    let unauthorized = recorded
        .clone()
        .with_status(401, json!({"message": "Bad credentials"}))
        .without_header("etag");
    Mock::given(method("GET"))
        .and(header("authorization", "Bearer ghs_generation0"))
        .respond_with(unauthorized.respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(header("authorization", "Bearer ghs_generation1"))
        .respond_with(recorded.respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    let client = common::builder(&server, &clock)
        .credentials(Arc::new(Rotating {
            generation: AtomicU32::new(0),
        }))
        .build()
        .unwrap();
    let r = client.send(ApiRequest::get(&recorded.path)).await.unwrap();
    assert_eq!(r.status.as_u16(), 200);
    assert!(clock.sleeps().is_empty(), "a refresh is not a backoff");

    // A token that stays bad is refreshed once, then the 401 stands.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(unauthorized.respond(&server))
        .expect(2)
        .mount(&server)
        .await;
    let client = common::builder(&server, &clock)
        .credentials(Arc::new(Rotating {
            generation: AtomicU32::new(0),
        }))
        .build()
        .unwrap();
    let err = client
        .send(ApiRequest::get(&recorded.path))
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::Unauthorized { .. }), "{err}");
}

#[tokio::test]
async fn a_plain_403_is_a_permission_error() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let recorded = common::session("labels").remove(2);
    Mock::given(method("GET"))
        .respond_with(
            recorded
                .clone()
                .with_status(
                    403,
                    json!({
                        "message": "Resource not accessible by integration",
                        "documentation_url": "https://docs.github.com/rest/issues/labels#get-a-label"
                    }),
                )
                .without_header("etag")
                .respond(&server),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = common::client(&server, &clock);
    let err = client
        .send(ApiRequest::get(&recorded.path))
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::Forbidden { .. }), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(received(&server).await.len(), 1);
}

#[tokio::test]
async fn jira_404_message_is_read() {
    let server = MockServer::start().await;
    let body = common::fixture("jira/error-404.json");
    Mock::given(method("GET"))
        .respond_with(wiremock::ResponseTemplate::new(404).set_body_json(body))
        .mount(&server)
        .await;
    let client = kradle_http::ApiClient::builder(reqwest::Client::new(), "jira", server.uri())
        .build()
        .unwrap();
    let err = client
        .send(ApiRequest::get("/rest/api/3/issue/ED-404"))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(err.provider().as_str(), "jira");
}

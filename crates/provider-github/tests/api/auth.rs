//! GitHub App authentication: the RS256 JWT, the installation token exchange, its cache
//! and refresh (before expiry, after a `401`, once for concurrent callers).

use std::collections::BTreeSet;
use std::time::Duration;

use kradle_http::testing::ManualClock;
use kradle_provider_github::GithubClient;
use kradle_provider_github::api::{GithubApp, GithubAuth};
use kradle_sync_core::{Error, GitForge, IssueTracking, PageRequest};
use kradle_test_support::recorded::{received, received_of};
use serde::Deserialize;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

use crate::common::{self, at, target};

const APP_ID: &str = "12345";
const INSTALLATION: u64 = 42;
const EXCHANGE: &str = "/app/installations/42/access_tokens";

/// The documented installation token (`apps/installation-token.json`): `ghs_16C7e42F…`,
/// expiring 2016-07-11T22:14:10Z.
fn token_body() -> serde_json::Value {
    common::rest("apps/installation-token.json")
}

fn installation_token() -> String {
    token_body()["token"].as_str().unwrap().to_owned()
}

/// An hour before the documented token expires.
fn app_clock() -> ManualClock {
    ManualClock::new(at("2016-07-11T21:14:10Z"))
}

fn app_client(server: &MockServer, clock: &ManualClock) -> GithubClient {
    common::bare(server, clock)
        .auth(GithubAuth::app(GithubApp::new(
            APP_ID,
            common::app_key(),
            INSTALLATION,
        )))
        .build()
        .unwrap()
}

/// Mounts the token exchange: the documented `201` body, served `times` times (with the
/// recorded read headers), then, if `renewed`, the same token expiring an hour later (a
/// derivation: GitHub hands out a new expiry on each exchange).
async fn mount_exchange(server: &MockServer, times: u64, renewed: bool, delay: Option<Duration>) {
    let mut first = common::example(201, token_body()).respond(server);
    if let Some(d) = delay {
        first = first.set_delay(d);
    }
    Mock::given(method("POST"))
        .and(path(EXCHANGE))
        .respond_with(first)
        .up_to_n_times(times)
        .mount(server)
        .await;
    if renewed {
        let mut later = token_body();
        later["expires_at"] = json!("2016-07-11T23:14:10Z");
        Mock::given(method("POST"))
            .and(path(EXCHANGE))
            .respond_with(common::example(201, later).respond(server))
            .mount(server)
            .await;
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    iat: i64,
    exp: i64,
    iss: String,
}

#[tokio::test]
async fn the_app_jwt_is_rs256_from_the_app_key_and_buys_an_installation_token() {
    let server = MockServer::start().await;
    let clock = app_clock();
    mount_exchange(&server, 1, false, None).await;
    let repo = common::session("get-repository").remove(0);
    Mock::given(method("GET"))
        .and(path(&repo.path))
        .respond_with(repo.respond(&server))
        .mount(&server)
        .await;
    let github = app_client(&server, &clock);

    github.get_repository(&target("hello-world")).await.unwrap();
    github.get_repository(&target("hello-world")).await.unwrap();

    let exchanges = received_of(&server, "POST").await;
    assert_eq!(exchanges.len(), 1, "the token is cached");
    let jwt = exchanges[0]
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap()
        .strip_prefix("Bearer ")
        .unwrap()
        .to_owned();
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(&common::app_public_key()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    // The test clock is in 2016: check the times against it, not the wall clock.
    validation.validate_exp = false;
    validation.required_spec_claims = Default::default();
    let claims = jsonwebtoken::decode::<Claims>(&jwt, &key, &validation)
        .unwrap()
        .claims;
    let now = at("2016-07-11T21:14:10Z").timestamp();
    assert_eq!(claims.iss, APP_ID);
    assert_eq!(claims.iat, now - 60);
    assert!(
        claims.exp > now && claims.exp - claims.iat <= 600,
        "{claims:?}"
    );
    let reads = received_of(&server, "GET").await;
    assert!(reads.iter().all(|r| r.headers.get("authorization").unwrap()
        == format!("Bearer {}", installation_token()).as_str()));
}

#[tokio::test]
async fn a_token_expiring_mid_listing_is_refreshed_once_and_the_listing_continues() {
    let server = MockServer::start().await;
    let clock = app_clock();
    mount_exchange(&server, 1, true, None).await;
    for page in common::session("paginate-issues") {
        page.given("", &["page"])
            .respond_with(page.respond(&server))
            .expect(1)
            .mount(&server)
            .await;
    }
    let github = app_client(&server, &clock).for_backfill();
    let installation = github.installation().unwrap().clone();

    let mut page = PageRequest::first(3);
    let mut items = 0;
    let mut pages = 0;
    loop {
        let got = github
            .list_issues(&target("paginate-issues"), None, &page)
            .await
            .unwrap();
        items += got.items.len();
        pages += 1;
        if pages == 2 {
            // Past the documented expiry: the next request needs a new token.
            clock.set(at("2016-07-11T22:15:00Z"));
        }
        match got.next {
            Some(next) => page.cursor = Some(next),
            None => break,
        }
    }

    assert_eq!(items, 13);
    assert_eq!(
        received_of(&server, "POST").await.len(),
        2,
        "exactly one refresh"
    );
    assert_eq!(installation.exchanges(), 2);
    assert_eq!(
        installation.expires_at().await,
        Some(at("2016-07-11T23:14:10Z"))
    );
    assert_eq!(received_of(&server, "GET").await.len(), 5);
}

#[tokio::test]
async fn concurrent_callers_share_one_token_exchange() {
    let server = MockServer::start().await;
    let clock = app_clock();
    // A slow exchange, so every caller arrives while it runs.
    mount_exchange(&server, 1, true, Some(Duration::from_millis(300))).await;
    let repo = common::session("get-repository").remove(0);
    Mock::given(method("GET"))
        .and(path(&repo.path))
        .respond_with(repo.respond(&server))
        .expect(8)
        .mount(&server)
        .await;
    let github = app_client(&server, &clock);
    let hello = target("hello-world");

    let calls = (0..8).map(|_| github.get_repository(&hello));
    let results = futures::future::join_all(calls).await;

    assert!(results.iter().all(Result::is_ok));
    assert_eq!(
        received_of(&server, "POST").await.len(),
        1,
        "one refresh for all"
    );
    assert_eq!(github.installation().unwrap().exchanges(), 1);
}

#[tokio::test]
async fn a_401_on_the_installation_token_refreshes_once_and_repeats_once() {
    let server = MockServer::start().await;
    let clock = app_clock();
    mount_exchange(&server, 1, true, None).await;
    let repo = common::session("get-repository").remove(0);
    // GitHub's answer to a revoked token, derived from the recorded response.
    let rejected = repo.clone().with_status(
        401,
        json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}),
    );
    Mock::given(method("GET"))
        .and(path(&repo.path))
        .respond_with(rejected.respond(&server))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(&repo.path))
        .respond_with(repo.respond(&server))
        .mount(&server)
        .await;
    let github = app_client(&server, &clock);

    github.get_repository(&target("hello-world")).await.unwrap();

    assert_eq!(received_of(&server, "POST").await.len(), 2);
    assert_eq!(received_of(&server, "GET").await.len(), 2);

    // A 401 that persists is not retried again: one refresh, one repeat, then the error.
    server.reset().await;
    mount_exchange(&server, 10, false, None).await;
    Mock::given(method("GET"))
        .and(path(&repo.path))
        .respond_with(rejected.respond(&server))
        .mount(&server)
        .await;
    let err = github
        .get_repository(&target("hello-world"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Provider {
                retryable: false,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("Bad credentials"), "{err}");
    assert_eq!(received_of(&server, "GET").await.len(), 2);
    assert_eq!(received_of(&server, "POST").await.len(), 1);
}

#[tokio::test]
async fn a_key_that_is_not_rsa_pem_fails_to_build_without_echoing_it() {
    let clock = app_clock();
    let server = MockServer::start().await;
    let not_a_key =
        "-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----\n";
    let err = common::bare(&server, &clock)
        .auth(GithubAuth::app(GithubApp::new(
            APP_ID,
            not_a_key,
            INSTALLATION,
        )))
        .build()
        .unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("private key"), "{shown}");
    assert!(!shown.contains("bm90IGEga2V5"), "{shown}");
    assert!(received(&server).await.is_empty());
}

#[tokio::test]
async fn a_personal_token_and_an_installation_have_separate_budgets() {
    let a = GithubAuth::token(common::TOKEN).account();
    let b = GithubAuth::token("another token").account();
    let app = GithubAuth::app(GithubApp::new(APP_ID, common::app_key(), INSTALLATION)).account();
    let all: BTreeSet<&str> = [a.as_str(), b.as_str(), app.as_str()].into();
    assert_eq!(all.len(), 3);
    assert_eq!(app, "installation-42");
    assert!(a.starts_with("token-") && !a.contains(common::TOKEN));
}

//! Shared setup of the HTTP adapter's tests: recorded GitHub sessions and REST examples
//! (`fixtures/github/`) served by wiremock with their real headers, and clients on a
//! manual clock so no test sleeps. Every derivation from a fixture is named where it is
//! made and listed in `tests/api/DERIVED.md`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kradle_http::Jitter;
use kradle_http::testing::ManualClock;
use kradle_provider_github::GithubClient;
use kradle_provider_github::api::{GithubAuth, GithubClientBuilder};
use kradle_sync_core::{ExternalTarget, RetryPolicy};
use kradle_test_support::recorded::{Exchange, load_session, read_json};
use serde_json::Value;
use wiremock::MockServer;

/// The personal access token of the token tests. It must never show in output.
pub const TOKEN: &str = "ghp_kradleAdapterTestToken0123456789SECRET";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/github")
}

/// A file of the shared GitHub fixtures (`fixtures/github/<relative>`).
pub fn fixture(relative: &str) -> Value {
    read_json(fixtures().join(relative))
}

/// A REST example body (`fixtures/github/rest/<path>`).
pub fn rest(path: &str) -> Value {
    fixture(&format!("rest/{path}"))
}

/// A recorded session (`fixtures/github/recorded/<name>.json`).
pub fn session(name: &str) -> Vec<Exchange> {
    load_session(fixtures().join(format!("recorded/{name}.json")))
}

/// The recorded `GET …/labels` (200, ETag, rate-limit headers): the headers a REST
/// example body is served with, since the examples come without headers.
pub fn read_headers() -> Exchange {
    session("labels").remove(0)
}

/// A REST example served as a recorded read would be: status `status`, the headers of
/// [`read_headers`].
pub fn example(status: u16, body: Value) -> Exchange {
    read_headers().with_status(status, body)
}

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// An hour before the recorded `x-ratelimit-reset` (2017-10-10T16:00:00Z).
pub fn clock() -> ManualClock {
    ManualClock::new(at("2017-10-10T15:00:00Z"))
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub fn target(repo: &str) -> ExternalTarget {
    ExternalTarget::from_path(format!("octokit-fixture-org/{repo}"))
}

/// A client of `server` on `clock`, without credentials: full-jitter draw 1.0 (each
/// backoff is the full delay: 1 s, 2 s, …), 3 attempts, 5 s timeout.
pub fn bare(server: &MockServer, clock: &ManualClock) -> GithubClientBuilder {
    GithubClient::builder(reqwest::Client::new())
        .base_url(server.uri())
        .org("octokit-fixture-org")
        .clock(Arc::new(clock.clone()))
        .sleeper(Arc::new(clock.clone()))
        .jitter(Jitter::Fixed(1.0))
        .timeout(secs(5))
        .retry(RetryPolicy {
            max_attempts: 3,
            base_delay: secs(1),
            max_delay: secs(60),
        })
}

/// [`bare`] with the test token.
pub fn builder(server: &MockServer, clock: &ManualClock) -> GithubClientBuilder {
    bare(server, clock).auth(GithubAuth::token(TOKEN))
}

pub fn client(server: &MockServer, clock: &ManualClock) -> GithubClient {
    builder(server, clock).build().unwrap()
}

/// The test GitHub App's private key (a throwaway generated for these tests).
pub fn app_key() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/test-only-github-app-key.pem"),
    )
    .unwrap()
}

pub fn app_public_key() -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/test-only-github-app-key.pub.pem"),
    )
    .unwrap()
}

//! Shared test setup: recorded sessions served by wiremock with their real headers
//! (`kradle_test_support::recorded`), a client on a manual clock, and the few derivations
//! documented in `tests/fixtures/PROVENANCE.md`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kradle_http::testing::ManualClock;
use kradle_http::{ApiClient, ApiClientBuilder, Jitter, RateLimitScope, StaticToken};
use kradle_sync_core::RetryPolicy;
use kradle_test_support::recorded::{Exchange, load_session, read_json};
use serde_json::Value;
use wiremock::MockServer;

/// The token every test client sends. It must never show up in an error or a log line.
pub const TOKEN: &str = "ghp_kradleTestToken0123456789abcdefSECRET";

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

/// A fixture file (`tests/fixtures/<path>`).
pub fn fixture(path: &str) -> Value {
    read_json(fixtures().join(path))
}

/// A recorded GitHub session of `@octokit/fixtures` (`tests/fixtures/github/<name>.json`).
pub fn session(name: &str) -> Vec<Exchange> {
    load_session(fixtures().join(format!("github/{name}.json")))
}

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&Utc)
}

/// An hour before the recorded `x-ratelimit-reset` (2017-10-10T16:00:00Z).
pub fn clock() -> ManualClock {
    ManualClock::new(at("2017-10-10T15:00:00Z"))
}

pub fn scope() -> RateLimitScope {
    RateLimitScope::new("github", "installation-1").org("octokit-fixture-org")
}

/// A GitHub client of `server` on `clock`: static token, full-jitter draw 1.0 (so each
/// backoff is the full exponential delay: 1 s, 2 s, …), 3 attempts.
pub fn builder(server: &MockServer, clock: &ManualClock) -> ApiClientBuilder {
    ApiClient::builder(reqwest::Client::new(), "github", server.uri())
        .binding("octokit-fixture-org/paginate-issues")
        .scope(scope())
        .credentials(Arc::new(StaticToken::bearer(TOKEN)))
        .accept("application/vnd.github+json")
        .clock(Arc::new(clock.clone()))
        .sleeper(Arc::new(clock.clone()))
        .jitter(Jitter::Fixed(1.0))
        .timeout(Duration::from_secs(5))
        .retry(RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
        })
}

pub fn client(server: &MockServer, clock: &ManualClock) -> ApiClient {
    builder(server, clock)
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

//! Shared setup of the HTTP adapter's tests: real GitLab REST bodies (`fixtures/gitlab/rest/`)
//! served by wiremock with the headers GitLab documents for its REST API, and clients on a
//! manual clock so no test sleeps. Every header set and every body changed here is listed in
//! `tests/DERIVED.md` with its source.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kradle_http::Jitter;
use kradle_http::testing::ManualClock;
use kradle_provider_gitlab::{GitlabAuth, GitlabClient, GitlabClientBuilder};
use kradle_sync_core::{ExternalTarget, HttpCache, RetryPolicy};
use kradle_test_support::recorded::{Exchange, read_json};
use serde_json::Value;
use sha2::{Digest, Sha256};
use wiremock::MockServer;

/// The personal access token of the tests. It must never show in output.
pub const TOKEN: &str = "glpat-kradleAdapterTestToken0123456789SECRET";

/// The instance the documented headers name (GitLab's documentation uses it).
pub const ORIGIN: &str = "https://gitlab.example.com";

/// The bound project, two levels of groups deep.
pub const PATH: &str = "gitlab-org/platform/gitlab-test";

/// Its API path (`/api/v4/projects/<url-encoded path>`).
pub const PROJECT: &str = "/api/v4/projects/gitlab-org%2Fplatform%2Fgitlab-test";

pub fn target() -> ExternalTarget {
    ExternalTarget::from_path(PATH)
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/gitlab")
}

/// A REST body (`fixtures/gitlab/rest/<path>`).
pub fn rest(path: &str) -> Value {
    read_json(fixtures().join(format!("rest/{path}")))
}

/// The items of a REST list body.
pub fn items(path: &str) -> Vec<Value> {
    match rest(path) {
        Value::Array(items) => items,
        other => panic!("{path} is not a list: {other}"),
    }
}

/// GitLab's weak ETag of a body (`W/"<32 hex>"`, the form Rack::ETag gives every GitLab
/// JSON response; GitLab issue 371991 quotes one): here a digest of the body, so equal
/// bodies have equal ETags.
pub fn etag_of(body: &Value) -> String {
    let digest = hex::encode(Sha256::digest(serde_json::to_vec(body).unwrap()));
    format!("W/\"{}\"", &digest[..32])
}

/// The headers of a GitLab REST response: those of the documented example response
/// (`doc/api/rest/_index.md`, "Pagination Link header": `cache-control`, `content-type`,
/// `vary`, `x-request-id`, `x-runtime`), the documented rate-limit headers of every
/// response (`doc/administration/settings/user_and_ip_rate_limits.md`: limit 60, observed
/// 67, remaining 33, reset 1609844400 = 2021-01-05T11:00:00Z), and the body's ETag.
pub fn documented_headers(body: &Value) -> Vec<(String, String)> {
    [
        ("cache-control", "no-cache".to_owned()),
        ("content-type", "application/json".to_owned()),
        ("vary", "Origin".to_owned()),
        (
            "x-request-id",
            "732ad4ee-9870-4866-a199-a9db0cde3c86".to_owned(),
        ),
        ("x-runtime", "0.108688".to_owned()),
        ("etag", etag_of(body)),
        ("ratelimit-limit", "60".to_owned()),
        ("ratelimit-name", "throttle_authenticated_api".to_owned()),
        ("ratelimit-observed", "67".to_owned()),
        ("ratelimit-remaining", "33".to_owned()),
        ("ratelimit-reset", "1609844400".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// `GET <path>` answered `200` with `body` and the documented headers.
pub fn get(path: &str, body: Value) -> Exchange {
    answer("GET", path, 200, body)
}

/// `<method> <path>` answered `status` with `body` and the documented headers.
pub fn answer(method: &str, path: &str, status: u16, body: Value) -> Exchange {
    Exchange {
        origin: Some(ORIGIN.to_owned()),
        method: method.to_owned(),
        path: path.to_owned(),
        query: None,
        status,
        headers: documented_headers(&body),
        body,
    }
}

/// `exchange` as page `page` of `pages` of an offset-paginated listing whose request had
/// `query` (without `page`): the documented `link` (prev, next, first, last) and `x-*`
/// headers with this listing's values; `x-next-page` is empty on the last page, as
/// documented.
pub fn offset_page(exchange: Exchange, query: &str, page: u32, pages: u32, total: u32) -> Exchange {
    let url = |n: u32| format!("<{ORIGIN}{}?{query}&page={n}>", exchange.path);
    let mut links = Vec::new();
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", url(page - 1)));
    }
    if page < pages {
        links.push(format!("{}; rel=\"next\"", url(page + 1)));
    }
    links.push(format!("{}; rel=\"first\"", url(1)));
    links.push(format!("{}; rel=\"last\"", url(pages)));
    let per_page = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("per_page="))
        .unwrap_or("20")
        .to_owned();
    let next = if page < pages {
        (page + 1).to_string()
    } else {
        String::new()
    };
    let prev = if page > 1 {
        (page - 1).to_string()
    } else {
        String::new()
    };
    exchange
        .with_header("link", &links.join(", "))
        .with_header("x-next-page", &next)
        .with_header("x-page", &page.to_string())
        .with_header("x-per-page", &per_page)
        .with_header("x-prev-page", &prev)
        .with_header("x-total", &total.to_string())
        .with_header("x-total-pages", &pages.to_string())
}

/// GitLab's answer to a client over its rate limit: status `429`, the plain-text body
/// `Retry later`, and the documented headers of a throttled request (`RateLimit-*` with
/// nothing remaining, `RateLimit-ResetTime`, `Retry-After: 30`).
pub fn throttled(path: &str) -> Exchange {
    let mut exchange = answer("GET", path, 429, Value::String("Retry later".into()));
    exchange.headers = vec![
        ("content-type".into(), "text/plain".into()),
        ("ratelimit-limit".into(), "60".into()),
        ("ratelimit-name".into(), "throttle_authenticated_api".into()),
        ("ratelimit-observed".into(), "67".into()),
        ("ratelimit-remaining".into(), "0".into()),
        ("ratelimit-reset".into(), "1609844400".into()),
        (
            "ratelimit-resettime".into(),
            "Tue, 05 Jan 2021 11:00:00 GMT".into(),
        ),
        ("retry-after".into(), "30".into()),
    ];
    exchange
}

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Half an hour before the documented `RateLimit-Reset` (2021-01-05T11:00:00Z).
pub fn clock() -> ManualClock {
    ManualClock::new(at("2021-01-05T10:30:00Z"))
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A client of `server` (as a self-managed instance: `<server>/api/v4`) on `clock`,
/// without credentials: jitter draw 1.0 (each backoff is the full delay: 1 s, 2 s, …),
/// 3 attempts, 5 s timeout.
pub fn bare(server: &MockServer, clock: &ManualClock) -> GitlabClientBuilder {
    GitlabClient::builder(reqwest::Client::new())
        .base_url(server.uri())
        .org("gitlab-org")
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
pub fn builder(server: &MockServer, clock: &ManualClock) -> GitlabClientBuilder {
    bare(server, clock).auth(GitlabAuth::private_token(TOKEN))
}

pub fn client(server: &MockServer, clock: &ManualClock) -> GitlabClient {
    builder(server, clock).build().unwrap()
}

/// [`client`] keeping ETags in `cache`.
pub fn cached(server: &MockServer, clock: &ManualClock, cache: Arc<dyn HttpCache>) -> GitlabClient {
    builder(server, clock).cache(cache).build().unwrap()
}

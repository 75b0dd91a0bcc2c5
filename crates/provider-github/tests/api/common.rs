//! Shared setup of the HTTP adapter's tests: recorded GitHub sessions and REST examples
//! (`fixtures/github/`) served by wiremock with their real headers, and clients on a
//! manual clock so no test sleeps. Every derivation from a fixture is named where it is
//! made and listed in `tests/api/DERIVED.md`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kradle_http::Jitter;
use kradle_http::testing::ManualClock;
use kradle_provider_github::GithubClient;
use kradle_provider_github::api::{GithubAuth, GithubClientBuilder};
use kradle_sync_core::{ExternalTarget, RetryPolicy};
use serde_json::Value;
use wiremock::{MockServer, Request, ResponseTemplate};

/// The personal access token of the token tests. It must never show in output.
pub const TOKEN: &str = "ghp_kradleAdapterTestToken0123456789SECRET";

/// The origin the recorded headers (`link`) point at.
const RECORDED_ORIGIN: &str = "https://api.github.com";

/// Headers a replay must not copy: the server computes them for the body it sends.
const COMPUTED: &[&str] = &["content-length", "connection", "transfer-encoding"];

pub fn fixture(relative: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/github")
        .join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A REST example body (`fixtures/github/rest/<path>`).
pub fn rest(path: &str) -> Value {
    fixture(&format!("rest/{path}"))
}

/// One exchange of a recorded session.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: String,
    /// Path and query as recorded.
    pub path: String,
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(String, String)>,
}

impl Exchange {
    pub fn path_only(&self) -> &str {
        self.path.split('?').next().unwrap_or_default()
    }

    /// A query parameter of the recorded request.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.path
            .split_once('?')?
            .1
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A derivation: another header value.
    pub fn set_header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// A derivation: without a header.
    pub fn drop_header(mut self, name: &str) -> Self {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self
    }

    /// A derivation: another status and body, the recorded headers kept.
    pub fn with(mut self, status: u16, body: Value) -> Self {
        self.status = status;
        self.body = body;
        self
    }

    /// GitHub's `304` to this `200`: the same headers (ETag, rate limit), no body, no
    /// `content-type`, no `link` (a `304` need not repeat it).
    pub fn not_modified(&self) -> Self {
        self.clone()
            .with(304, Value::Null)
            .drop_header("content-type")
            .drop_header("link")
    }

    /// The response with its recorded headers, links pointing at `server`.
    pub fn respond(&self, server: &MockServer) -> ResponseTemplate {
        self.respond_under(server, "")
    }

    /// The response with its recorded headers, links pointing at `server` under a path
    /// prefix (GitHub Enterprise Server's `/api/v3`).
    pub fn respond_under(&self, server: &MockServer, prefix: &str) -> ResponseTemplate {
        let origin = format!("{}{prefix}", server.uri());
        let mut t = ResponseTemplate::new(self.status);
        for (k, v) in &self.headers {
            if !COMPUTED.contains(&k.to_ascii_lowercase().as_str()) {
                t = t.append_header(k.as_str(), v.replace(RECORDED_ORIGIN, &origin).as_str());
            }
        }
        match &self.body {
            Value::Null => t,
            Value::String(s) if s.is_empty() => t,
            body => t.set_body_bytes(serde_json::to_vec(body).unwrap()),
        }
    }
}

/// A recorded session (`fixtures/github/recorded/<name>.json`).
pub fn session(name: &str) -> Vec<Exchange> {
    let raw = fixture(&format!("recorded/{name}.json"));
    raw.as_array()
        .unwrap()
        .iter()
        .map(|e| Exchange {
            method: e["method"].as_str().unwrap().to_ascii_uppercase(),
            path: e["path"].as_str().unwrap().to_owned(),
            status: u16::try_from(e["status"].as_u64().unwrap()).unwrap(),
            body: e["response"].clone(),
            headers: e["headers"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| {
                    let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                    (k.clone(), v)
                })
                .collect(),
        })
        .collect()
}

/// The recorded `GET …/labels` (200, ETag, rate-limit headers): the headers a REST
/// example body is served with, since the examples come without headers.
pub fn read_headers() -> Exchange {
    session("labels").remove(0)
}

/// A REST example served as a recorded read would be: status `status`, the headers of
/// [`read_headers`].
pub fn example(status: u16, body: Value) -> Exchange {
    read_headers().with(status, body)
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

pub async fn received(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap_or_default()
}

/// Requests of one method received so far.
pub async fn received_of(server: &MockServer, method: &str) -> Vec<Request> {
    received(server)
        .await
        .into_iter()
        .filter(|r| r.method.as_str() == method)
        .collect()
}

pub fn query_of(r: &Request, name: &str) -> Option<String> {
    r.url
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
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

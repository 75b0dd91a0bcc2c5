//! Shared test setup: recorded sessions served by wiremock with their real headers, a
//! client on a manual clock, and the few derivations documented in
//! `tests/fixtures/PROVENANCE.md`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kradle_http::testing::ManualClock;
use kradle_http::{ApiClient, ApiClientBuilder, Jitter, RateLimitScope, StaticToken};
use kradle_sync_core::RetryPolicy;
use serde_json::Value;
use wiremock::{MockServer, ResponseTemplate};

/// The token every test client sends. It must never show up in an error or a log line.
pub const TOKEN: &str = "ghp_kradleTestToken0123456789abcdefSECRET";

/// The host the recorded `link` headers point at.
const RECORDED_ORIGIN: &str = "https://api.github.com";

/// Response headers the recording has but a replay must not copy: the server computes
/// them for the body it actually sends (re-indented by the fixture set).
const HOP_BY_HOP: &[&str] = &["content-length", "connection", "transfer-encoding"];

pub fn fixture(path: &str) -> Value {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// One recorded exchange of an `@octokit/fixtures` session.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path with query, as recorded.
    pub path: String,
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(String, String)>,
}

impl Recorded {
    /// The path without the query.
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

    /// A recorded header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Sets (or adds) a header: the documented derivations of a scenario.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Drops a header.
    pub fn without_header(mut self, name: &str) -> Self {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self
    }

    /// Another status and body, keeping the recorded headers.
    pub fn with_status(mut self, status: u16, body: Value) -> Self {
        self.status = status;
        self.body = body;
        self
    }

    /// The recorded response with its real headers, links pointing at `server` (`prefix`
    /// is a path prefix such as GitHub Enterprise's `/api/v3`).
    pub fn respond(&self, server: &MockServer, prefix: &str) -> ResponseTemplate {
        let origin = format!("{}{prefix}", server.uri());
        let mut t = ResponseTemplate::new(self.status);
        for (k, v) in &self.headers {
            if HOP_BY_HOP.contains(&k.to_ascii_lowercase().as_str()) {
                continue;
            }
            t = t.append_header(k.as_str(), v.replace(RECORDED_ORIGIN, &origin).as_str());
        }
        match &self.body {
            Value::String(s) if s.is_empty() => t,
            Value::Null => t,
            body => t.set_body_bytes(serde_json::to_vec(body).unwrap_or_default()),
        }
    }

    /// The recorded response, `link` headers left as recorded (pointing at
    /// api.github.com).
    pub fn respond_verbatim(&self) -> ResponseTemplate {
        let mut t = ResponseTemplate::new(self.status);
        for (k, v) in &self.headers {
            if !HOP_BY_HOP.contains(&k.to_ascii_lowercase().as_str()) {
                t = t.append_header(k.as_str(), v.as_str());
            }
        }
        t.set_body_bytes(serde_json::to_vec(&self.body).unwrap_or_default())
    }
}

/// A recorded GitHub session (`tests/fixtures/github/<name>.json`).
pub fn session(name: &str) -> Vec<Recorded> {
    let raw = fixture(&format!("github/{name}.json"));
    raw.as_array()
        .into_iter()
        .flatten()
        .map(|e| Recorded {
            method: e["method"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_uppercase(),
            path: e["path"].as_str().unwrap_or_default().to_owned(),
            status: u16::try_from(e["status"].as_u64().unwrap_or_default()).unwrap_or_default(),
            body: e["response"].clone(),
            headers: e["headers"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), v)
                })
                .collect(),
        })
        .collect()
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

/// Requests the server received.
pub async fn received(server: &MockServer) -> Vec<wiremock::Request> {
    server.received_requests().await.unwrap_or_default()
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

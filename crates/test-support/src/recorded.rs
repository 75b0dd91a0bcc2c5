//! Recorded HTTP sessions replayed by `wiremock`: real responses with their real headers
//! (`link`, `etag`, rate limits), and the requests the server received, to count them.
//!
//! A session is a JSON array of exchanges in the normalized form of `@octokit/fixtures`:
//! `scope` (the recorded origin), `method`, `path` (with its query), `status`, `headers`
//! (an object) and `response` (the body). Nothing here knows a provider: which files a
//! test reads, and which derivations it makes, stay in that test.

use std::path::Path;

use serde_json::Value;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockBuilder, MockServer, Request, ResponseTemplate};

/// Response headers a replay does not copy: the server computes them for the body it
/// actually sends (a fixture may be re-indented).
const COMPUTED: &[&str] = &["content-length", "connection", "transfer-encoding"];

/// A JSON file, read and parsed; panics naming the file when it cannot be.
pub fn read_json(file: impl AsRef<Path>) -> Value {
    let file = file.as_ref();
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// The exchanges of a recorded session file, in order; panics naming the file and the
/// entry when one lacks a field.
pub fn load_session(file: impl AsRef<Path>) -> Vec<Exchange> {
    let file = file.as_ref();
    let Value::Array(entries) = read_json(file) else {
        panic!("{}: a recorded session is a JSON array", file.display())
    };
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            Exchange::from_recorded(e)
                .unwrap_or_else(|what| panic!("{} entry {i}: {what}", file.display()))
        })
        .collect()
}

/// One recorded exchange: the request's method, path and query, the response's status,
/// headers and body.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    /// The origin it was recorded against (`https://api.github.com`; a default port is
    /// dropped), if the recording says: replaced by the mock server's in header values.
    pub origin: Option<String>,
    /// The method, upper case.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query as recorded, without `?`.
    pub query: Option<String>,
    /// The response status.
    pub status: u16,
    /// The response headers, as recorded (numbers as their JSON text).
    pub headers: Vec<(String, String)>,
    /// The response body; `null` or `""` for none.
    pub body: Value,
}

impl Exchange {
    fn from_recorded(e: &Value) -> Result<Exchange, String> {
        let text = |field: &str| {
            e[field]
                .as_str()
                .ok_or_else(|| format!("no string `{field}`"))
        };
        let recorded_path = text("path")?;
        let (path, query) = match recorded_path.split_once('?') {
            Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
            None => (recorded_path.to_owned(), None),
        };
        let status = e["status"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .ok_or("no HTTP `status`")?;
        let headers = e["headers"]
            .as_object()
            .ok_or("no `headers` object")?
            .iter()
            .map(|(k, v)| {
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                (k.clone(), v)
            })
            .collect();
        Ok(Exchange {
            origin: e["scope"].as_str().map(origin_of),
            method: text("method")?.to_ascii_uppercase(),
            path,
            query,
            status,
            headers,
            body: e["response"].clone(),
        })
    }

    /// A query parameter of the recorded request, as recorded (not decoded).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .as_deref()?
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// A recorded response header (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A derivation: the header set to `value` (added if absent).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// A derivation: without the header.
    pub fn without_header(mut self, name: &str) -> Self {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self
    }

    /// A derivation: another status and body, the recorded headers kept.
    pub fn with_status(mut self, status: u16, body: Value) -> Self {
        self.status = status;
        self.body = body;
        self
    }

    /// The `304 Not Modified` answering a conditional repeat of this `200`: the same
    /// headers (validators, rate limits), no body, no `content-type`, no `link` (RFC 9110
    /// §15.4.5: a `304` repeats validators and caching headers, not `link`).
    pub fn not_modified(&self) -> Self {
        self.clone()
            .with_status(304, Value::Null)
            .without_header("content-type")
            .without_header("link")
    }

    /// A mock for this request on a server: its method, its path under `path_prefix`
    /// (`""`, or a base path such as GitHub Enterprise's `/api/v3`), and for each of
    /// `query_keys` the recorded value of that parameter, or its absence where the
    /// recording has none.
    pub fn given(&self, path_prefix: &str, query_keys: &[&str]) -> MockBuilder {
        let mut mock = Mock::given(method(self.method.as_str()))
            .and(path(format!("{path_prefix}{}", self.path)));
        for &key in query_keys {
            mock = match self.query_param(key) {
                Some(value) => mock.and(query_param(key, value)),
                None => mock.and(query_param_is_missing(key)),
            };
        }
        mock
    }

    /// The recorded response with its recorded headers (but `content-length`, `connection`
    /// and `transfer-encoding`, which the server computes for the body it sends), the
    /// recorded origin in them pointing at `server`.
    pub fn respond(&self, server: &MockServer) -> ResponseTemplate {
        self.respond_under(server, "")
    }

    /// [`respond`](Self::respond), the recorded origin pointing at `server` under a path
    /// prefix (GitHub Enterprise Server's `/api/v3`).
    pub fn respond_under(&self, server: &MockServer, prefix: &str) -> ResponseTemplate {
        self.template(Some(&format!("{}{prefix}", server.uri())))
    }

    /// The recorded response as [`respond`](Self::respond) serves it, but with the
    /// recorded origin left in the header values: links still point at the recorded host.
    pub fn respond_verbatim(&self) -> ResponseTemplate {
        self.template(None)
    }

    fn template(&self, origin: Option<&str>) -> ResponseTemplate {
        let mut t = ResponseTemplate::new(self.status);
        for (k, v) in &self.headers {
            if COMPUTED.contains(&k.to_ascii_lowercase().as_str()) {
                continue;
            }
            let v = match (self.origin.as_deref(), origin) {
                (Some(recorded), Some(served)) if !recorded.is_empty() => {
                    v.replace(recorded, served)
                }
                _ => v.clone(),
            };
            t = t.append_header(k.as_str(), v.as_str());
        }
        match &self.body {
            Value::Null => t,
            Value::String(s) if s.is_empty() => t,
            body => t.set_body_bytes(serde_json::to_vec(body).unwrap_or_default()),
        }
    }
}

/// `https://host:443` as `https://host` (and `http://host:80` as `http://host`): the form
/// header values use.
fn origin_of(scope: &str) -> String {
    let default_port = if scope.starts_with("https://") {
        ":443"
    } else {
        ":80"
    };
    scope.strip_suffix(default_port).unwrap_or(scope).to_owned()
}

/// The requests `server` received so far (none if it does not record requests).
pub async fn received(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap_or_default()
}

/// The requests of one method (`"GET"`) `server` received so far.
pub async fn received_of(server: &MockServer, method: &str) -> Vec<Request> {
    received(server)
        .await
        .into_iter()
        .filter(|r| r.method.as_str() == method)
        .collect()
}

/// A query parameter of a received request, decoded.
pub fn query_of(request: &Request, name: &str) -> Option<String> {
    request
        .url
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn recorded() -> Value {
        json!({
            "scope": "https://api.example.com:443",
            "method": "get",
            "path": "/items?per_page=3&page=2",
            "body": "",
            "status": 200,
            "response": [{"id": 1}],
            "headers": {
                "content-length": "12",
                "etag": "W/\"abc\"",
                "link": "<https://api.example.com/items?per_page=3&page=3>; rel=\"next\"",
                "x-ratelimit-remaining": 4999
            }
        })
    }

    #[test]
    fn an_entry_splits_path_and_query_and_keeps_every_header() {
        let e = Exchange::from_recorded(&recorded()).unwrap();
        assert_eq!(e.origin.as_deref(), Some("https://api.example.com"));
        assert_eq!((e.method.as_str(), e.path.as_str()), ("GET", "/items"));
        assert_eq!(e.query.as_deref(), Some("per_page=3&page=2"));
        assert_eq!(e.query_param("page"), Some("2"));
        assert_eq!(e.query_param("since"), None);
        assert_eq!(e.header("X-RateLimit-Remaining"), Some("4999"));
        assert_eq!(e.headers.len(), 4);
        assert_eq!(e.body, json!([{"id": 1}]));
    }

    #[test]
    fn an_entry_without_a_field_is_refused() {
        let mut entry = recorded();
        entry["status"] = json!("200");
        assert!(Exchange::from_recorded(&entry).is_err());
    }

    #[test]
    fn a_304_keeps_the_validators_and_drops_body_type_and_link() {
        let e = Exchange::from_recorded(&recorded())
            .unwrap()
            .with_header("content-type", "application/json")
            .not_modified();
        assert_eq!((e.status, &e.body), (304, &Value::Null));
        assert_eq!(e.header("etag"), Some("W/\"abc\""));
        assert_eq!(e.header("content-type"), None);
        assert_eq!(e.header("link"), None);
    }

    #[tokio::test]
    async fn a_replay_points_links_at_the_server_and_matches_the_recorded_query() {
        let server = MockServer::start().await;
        let e = Exchange::from_recorded(&recorded()).unwrap();
        e.given("/api", &["page", "since"])
            .respond_with(e.respond_under(&server, "/api"))
            .expect(1)
            .mount(&server)
            .await;
        let response = reqwest::get(format!("{}/api/items?page=2", server.uri()))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers().get("content-length").unwrap(), "10");
        let link = response.headers().get("link").unwrap().to_str().unwrap();
        assert_eq!(
            link,
            format!(
                "<{}/api/items?per_page=3&page=3>; rel=\"next\"",
                server.uri()
            )
        );
        assert_eq!(response.text().await.unwrap(), "[{\"id\":1}]");
        assert_eq!(received_of(&server, "GET").await.len(), 1);
        let got = received(&server).await;
        assert_eq!(query_of(&got[0], "page").as_deref(), Some("2"));
    }
}

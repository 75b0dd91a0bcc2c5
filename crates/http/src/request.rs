//! One provider call as data ([`ApiRequest`]) and its answer ([`ApiResponse`]).

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;

use crate::error::{HttpError, RequestInfo};
use crate::ratelimit::Priority;

/// Where a request goes: a path under the binding's base URL, or an absolute URL (a
/// pagination cursor) that must lie under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Path(String),
    Url(String),
}

/// A provider call: method, path, query, JSON body, and how the kit treats it (priority
/// class, idempotency, conditional read, timeout).
///
/// ```
/// use kradle_http::{ApiRequest, Priority};
/// let req = ApiRequest::get("/repos/octo-org/octo-repo/issues")
///     .query("state", "all")
///     .priority(Priority::Backfill);
/// assert_eq!(req.method().as_str(), "GET");
/// ```
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub(crate) method: Method,
    pub(crate) target: Target,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) body: Option<serde_json::Value>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) priority: Priority,
    pub(crate) idempotent: Option<bool>,
    pub(crate) conditional: bool,
    pub(crate) resource: Option<String>,
    pub(crate) timeout: Option<Duration>,
}

impl ApiRequest {
    /// A request of any method to a path under the base URL.
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        let priority = if method == Method::GET || method == Method::HEAD {
            Priority::Hydrate
        } else {
            Priority::Write
        };
        Self {
            method,
            target: Target::Path(path.into()),
            query: Vec::new(),
            body: None,
            headers: Vec::new(),
            priority,
            idempotent: None,
            conditional: true,
            resource: None,
            timeout: None,
        }
    }

    /// `GET` (priority [`Priority::Hydrate`] unless set).
    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path)
    }

    /// `POST` (a create: not idempotent, priority [`Priority::Write`]).
    pub fn post(path: impl Into<String>) -> Self {
        Self::new(Method::POST, path)
    }

    /// `PATCH` (not idempotent unless marked, priority [`Priority::Write`]).
    pub fn patch(path: impl Into<String>) -> Self {
        Self::new(Method::PATCH, path)
    }

    /// `PUT` (idempotent, priority [`Priority::Write`]).
    pub fn put(path: impl Into<String>) -> Self {
        Self::new(Method::PUT, path)
    }

    /// `DELETE` (idempotent, priority [`Priority::Write`]).
    pub fn delete(path: impl Into<String>) -> Self {
        Self::new(Method::DELETE, path)
    }

    /// Sends to an absolute URL instead (it must lie under the base URL). Clears the query:
    /// the URL carries it.
    pub fn at_url(mut self, url: impl Into<String>) -> Self {
        self.target = Target::Url(url.into());
        self.query.clear();
        self
    }

    /// Adds a query parameter.
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// Sets a query parameter, replacing any of the same name.
    pub fn set_query(mut self, name: &str, value: impl Into<String>) -> Self {
        self.query.retain(|(k, _)| k != name);
        self.query.push((name.to_owned(), value.into()));
        self
    }

    /// The JSON body.
    pub fn json(mut self, body: serde_json::Value) -> Self {
        self.body = Some(body);
        self
    }

    /// Adds a header (e.g. a media type for one endpoint). Never put credentials here: use
    /// [`Credentials`](crate::Credentials).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The priority class (budget reserve) of the request.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Whether repeating the request is harmless. Defaults to RFC 9110: `POST` and `PATCH`
    /// are not, everything else is. A non-idempotent request whose outcome is unknown
    /// (timeout, `5xx`, broken connection) is not retried: it ends in
    /// [`HttpError::OutcomeUnknown`]. Mark a `PATCH` that sets absolute values idempotent.
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = Some(idempotent);
        self
    }

    /// Whether a `GET` uses the ETag cache (`If-None-Match`); on by default.
    pub fn conditional(mut self, conditional: bool) -> Self {
        self.conditional = conditional;
        self
    }

    /// The rate-limit resource the request spends (GitHub: `search` for search
    /// endpoints); defaults to the client's default resource.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// A timeout for this request instead of the client's.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The JSON body, if any.
    pub fn body(&self) -> Option<&serde_json::Value> {
        self.body.as_ref()
    }

    /// Sets a field of the JSON body (pagination in the body); a body that is not an
    /// object is replaced by one.
    pub(crate) fn set_body_field(&mut self, name: &str, value: serde_json::Value) {
        let mut map = match self.body.take() {
            Some(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        map.insert(name.to_owned(), value);
        self.body = Some(serde_json::Value::Object(map));
    }

    pub(crate) fn is_idempotent(&self) -> bool {
        self.idempotent
            .unwrap_or(!(self.method == Method::POST || self.method == Method::PATCH))
    }

    pub(crate) fn extra_headers(&self) -> Result<HeaderMap, String> {
        let mut map = HeaderMap::new();
        for (k, v) in &self.headers {
            let name = HeaderName::try_from(k.as_str()).map_err(|e| format!("header {k}: {e}"))?;
            if name == AUTHORIZATION {
                return Err(
                    "set Authorization through Credentials, not as a request header".into(),
                );
            }
            let value =
                HeaderValue::try_from(v.as_str()).map_err(|e| format!("header {k}: {e}"))?;
            map.append(name, value);
        }
        Ok(map)
    }
}

/// A provider's answer. A `304` answered from the ETag cache has `not_modified` set, the
/// cached body, and the cached pagination headers merged under the `304`'s.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// The status (`304` when answered from the cache).
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
    /// The URL that answered (after redirects); relative links resolve against it.
    pub url: Url,
    /// Whether the provider said "not modified" and the body came from the cache.
    pub not_modified: bool,
    pub(crate) info: RequestInfo,
}

impl ApiResponse {
    /// The body as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body).map_err(|e| HttpError::Decode {
            request: self.info.clone(),
            message: format!("not the expected JSON: {e}"),
        })
    }

    /// The `ETag` header.
    pub fn etag(&self) -> Option<&str> {
        self.header("etag")
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Which call this answers.
    pub fn request_info(&self) -> &RequestInfo {
        &self.info
    }
}

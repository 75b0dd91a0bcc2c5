//! Pagination: one trait, one implementation per scheme the providers use.
//!
//! | scheme | providers | cursor |
//! | --- | --- | --- |
//! | [`LinkPagination`] | GitHub; GitLab offset and keyset (`id_after`, `cursor`) | the `rel="next"` URL |
//! | [`PageNumberPagination`] | GitLab `x-next-page` | the next page number |
//! | [`TokenPagination`] | Jira Cloud `nextPageToken` / `isLast` | the token |
//! | [`OffsetPagination`] | Jira classic `startAt` / `maxResults` / `total` | the next `startAt` |
//!
//! Cursors are opaque strings, so a backfill can store one as its checkpoint
//! (`SyncState::cursor`) and resume from it.

use std::fmt;

use kradle_sync_core::{Page, PageRequest};
use serde_json::Value;

use crate::error::HttpError;
use crate::link::find_link;
use crate::request::{ApiRequest, ApiResponse};

/// A pagination scheme: how to ask for a page, and how to read items and the next cursor
/// from the answer.
pub trait Pagination: Send + Sync + fmt::Debug {
    /// The request for `page` (the first page when its cursor is `None`).
    fn apply(&self, request: ApiRequest, page: &PageRequest) -> ApiRequest;

    /// The items and the next cursor of a response to that request.
    fn read(&self, response: &ApiResponse, page: &PageRequest) -> Result<Page<Value>, HttpError>;
}

/// Where the items are in a response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemsAt {
    /// The body is the array (GitHub issues, GitLab lists).
    Body,
    /// A JSON pointer to the array (`/workflow_runs`, `/issues`, `/values`).
    Pointer(String),
}

impl ItemsAt {
    fn take(&self, response: &ApiResponse, body: &mut Value) -> Result<Vec<Value>, HttpError> {
        let found = match self {
            ItemsAt::Body => Some(body),
            ItemsAt::Pointer(p) => body.pointer_mut(p),
        };
        match found.map(Value::take) {
            Some(Value::Array(items)) => Ok(items),
            _ => Err(HttpError::Decode {
                request: response.info.clone(),
                message: match self {
                    ItemsAt::Body => "the body is not a JSON array of items".to_owned(),
                    ItemsAt::Pointer(p) => format!("no JSON array of items at {p}"),
                },
            }),
        }
    }
}

/// Where paging parameters go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamsIn {
    /// The query string (`GET`).
    Query,
    /// The JSON body (Jira's `POST /search`).
    Body,
}

fn set_param(request: ApiRequest, at: ParamsIn, name: &str, value: Value) -> ApiRequest {
    match at {
        ParamsIn::Query => {
            let text = match &value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            request.set_query(name, text)
        }
        ParamsIn::Body => {
            let mut request = request;
            request.set_body_field(name, value);
            request
        }
    }
}

fn body(response: &ApiResponse) -> Result<Value, HttpError> {
    response.json::<Value>()
}

/// RFC 8288 `Link` pagination: follow `rel="next"` until there is none. GitHub, GitLab
/// offset pagination, and GitLab keyset pagination (ask for the first page with
/// `pagination=keyset&order_by=…&sort=…`; the next links carry `id_after`/`cursor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkPagination {
    per_page_param: String,
    items: ItemsAt,
}

impl Default for LinkPagination {
    fn default() -> Self {
        Self::new()
    }
}

impl LinkPagination {
    /// `per_page` on the first request, the body is the items array.
    pub fn new() -> Self {
        Self {
            per_page_param: "per_page".to_owned(),
            items: ItemsAt::Body,
        }
    }

    /// Items under a JSON pointer (GitHub Actions: `/workflow_runs`, `/jobs`, …).
    pub fn items_at(mut self, pointer: impl Into<String>) -> Self {
        self.items = ItemsAt::Pointer(pointer.into());
        self
    }

    /// Another name for the page-size parameter.
    pub fn per_page_param(mut self, name: impl Into<String>) -> Self {
        self.per_page_param = name.into();
        self
    }
}

impl Pagination for LinkPagination {
    fn apply(&self, request: ApiRequest, page: &PageRequest) -> ApiRequest {
        match &page.cursor {
            Some(url) => request.at_url(url.clone()),
            None if page.per_page > 0 => {
                request.set_query(&self.per_page_param, page.per_page.to_string())
            }
            None => request,
        }
    }

    fn read(&self, response: &ApiResponse, _: &PageRequest) -> Result<Page<Value>, HttpError> {
        let mut value = body(response)?;
        let items = self.items.take(response, &mut value)?;
        let next = find_link(&response.headers, "next")
            .map(|target| response.url.join(&target).map_or(target, |u| u.to_string()));
        Ok(Page::new(items, next).with_not_modified(response.not_modified))
    }
}

/// GitLab's page-number headers: `page`/`per_page` in the query, the next page in
/// `x-next-page` (empty on the last page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageNumberPagination {
    page_param: String,
    per_page_param: String,
    next_header: String,
    items: ItemsAt,
}

impl Default for PageNumberPagination {
    fn default() -> Self {
        Self::new()
    }
}

impl PageNumberPagination {
    /// `page`, `per_page`, `x-next-page`; the body is the items array.
    pub fn new() -> Self {
        Self {
            page_param: "page".to_owned(),
            per_page_param: "per_page".to_owned(),
            next_header: "x-next-page".to_owned(),
            items: ItemsAt::Body,
        }
    }

    /// Items under a JSON pointer.
    pub fn items_at(mut self, pointer: impl Into<String>) -> Self {
        self.items = ItemsAt::Pointer(pointer.into());
        self
    }
}

impl Pagination for PageNumberPagination {
    fn apply(&self, request: ApiRequest, page: &PageRequest) -> ApiRequest {
        let mut request = request;
        if page.per_page > 0 {
            request = request.set_query(&self.per_page_param, page.per_page.to_string());
        }
        match &page.cursor {
            Some(n) => request.set_query(&self.page_param, n.clone()),
            None => request,
        }
    }

    fn read(&self, response: &ApiResponse, _: &PageRequest) -> Result<Page<Value>, HttpError> {
        let mut value = body(response)?;
        let items = self.items.take(response, &mut value)?;
        let next = response
            .header(&self.next_header)
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned);
        Ok(Page::new(items, next).with_not_modified(response.not_modified))
    }
}

/// Jira Cloud's token pagination (`/rest/api/3/search/jql`): `nextPageToken` and
/// `maxResults` in, `issues`, `nextPageToken` and `isLast` out. The last page has
/// `isLast: true` and may omit the token altogether.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPagination {
    token_param: String,
    size_param: String,
    token_field: String,
    last_field: String,
    items: ItemsAt,
    params: ParamsIn,
}

impl Default for TokenPagination {
    fn default() -> Self {
        Self::new()
    }
}

impl TokenPagination {
    /// Jira's names, items at `/issues`, parameters in the query.
    pub fn new() -> Self {
        Self {
            token_param: "nextPageToken".to_owned(),
            size_param: "maxResults".to_owned(),
            token_field: "/nextPageToken".to_owned(),
            last_field: "/isLast".to_owned(),
            items: ItemsAt::Pointer("/issues".to_owned()),
            params: ParamsIn::Query,
        }
    }

    /// Items under another JSON pointer.
    pub fn items_at(mut self, pointer: impl Into<String>) -> Self {
        self.items = ItemsAt::Pointer(pointer.into());
        self
    }

    /// Parameters in the JSON body (`POST /rest/api/3/search/jql`).
    pub fn params_in(mut self, at: ParamsIn) -> Self {
        self.params = at;
        self
    }
}

impl Pagination for TokenPagination {
    fn apply(&self, request: ApiRequest, page: &PageRequest) -> ApiRequest {
        let mut request = request;
        if page.per_page > 0 {
            request = set_param(
                request,
                self.params,
                &self.size_param,
                Value::from(page.per_page),
            );
        }
        match &page.cursor {
            Some(token) => set_param(
                request,
                self.params,
                &self.token_param,
                Value::from(token.clone()),
            ),
            None => request,
        }
    }

    fn read(&self, response: &ApiResponse, _: &PageRequest) -> Result<Page<Value>, HttpError> {
        let mut value = body(response)?;
        let is_last = value.pointer(&self.last_field).and_then(Value::as_bool);
        let token = value
            .pointer(&self.token_field)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        let items = self.items.take(response, &mut value)?;
        Ok(
            Page::new(items, if is_last == Some(true) { None } else { token })
                .with_not_modified(response.not_modified),
        )
    }
}

/// Jira's classic offset pagination: `startAt` and `maxResults` in; `startAt`, `total`
/// (and on newer endpoints `isLast`) out. The next `startAt` counts the items actually
/// returned, since Jira may return fewer than asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetPagination {
    start_param: String,
    size_param: String,
    items: ItemsAt,
    params: ParamsIn,
}

impl Default for OffsetPagination {
    fn default() -> Self {
        Self::new()
    }
}

impl OffsetPagination {
    /// Jira's names, items at `/issues`, parameters in the query.
    pub fn new() -> Self {
        Self {
            start_param: "startAt".to_owned(),
            size_param: "maxResults".to_owned(),
            items: ItemsAt::Pointer("/issues".to_owned()),
            params: ParamsIn::Query,
        }
    }

    /// Items under another JSON pointer (`/values`, `/comments`).
    pub fn items_at(mut self, pointer: impl Into<String>) -> Self {
        self.items = ItemsAt::Pointer(pointer.into());
        self
    }

    /// Parameters in the JSON body (`POST /rest/api/3/search`).
    pub fn params_in(mut self, at: ParamsIn) -> Self {
        self.params = at;
        self
    }
}

impl Pagination for OffsetPagination {
    fn apply(&self, request: ApiRequest, page: &PageRequest) -> ApiRequest {
        let start = page
            .cursor
            .as_deref()
            .and_then(|c| c.parse::<u64>().ok())
            .unwrap_or(0);
        let mut request = set_param(request, self.params, &self.start_param, Value::from(start));
        if page.per_page > 0 {
            request = set_param(
                request,
                self.params,
                &self.size_param,
                Value::from(page.per_page),
            );
        }
        request
    }

    fn read(&self, response: &ApiResponse, page: &PageRequest) -> Result<Page<Value>, HttpError> {
        let mut value = body(response)?;
        let start = value
            .get("startAt")
            .and_then(Value::as_u64)
            .or_else(|| page.cursor.as_deref().and_then(|c| c.parse().ok()))
            .unwrap_or(0);
        let total = value.get("total").and_then(Value::as_u64);
        let is_last = value.get("isLast").and_then(Value::as_bool);
        let items = self.items.take(response, &mut value)?;
        let after = start.saturating_add(items.len() as u64);
        let done = items.is_empty()
            || is_last == Some(true)
            || total.is_some_and(|t| after >= t)
            || (is_last.is_none()
                && total.is_none()
                && (items.len() as u64) < u64::from(page.per_page));
        Ok(Page::new(items, (!done).then(|| after.to_string()))
            .with_not_modified(response.not_modified))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use reqwest::header::{HeaderMap, HeaderValue};
    use reqwest::{StatusCode, Url};
    use serde_json::json;

    use super::*;
    use crate::error::RequestInfo;

    fn response(body: Value, headers: &[(&'static str, &str)]) -> ApiResponse {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        ApiResponse {
            status: StatusCode::OK,
            headers: map,
            body: serde_json::to_vec(&body).unwrap(),
            url: Url::parse("https://gitlab.example.com/api/v4/projects/8/issues?page=2").unwrap(),
            not_modified: false,
            info: RequestInfo {
                provider: "test".into(),
                method: "GET".into(),
                path: "/".into(),
            },
        }
    }

    #[test]
    fn link_targets_resolve_against_the_response_url() {
        let r = response(
            json!([1]),
            &[("link", "</api/v4/projects/8/issues?page=3>; rel=\"next\"")],
        );
        let page = LinkPagination::new()
            .read(&r, &PageRequest::first(1))
            .unwrap();
        assert_eq!(
            page.next.as_deref(),
            Some("https://gitlab.example.com/api/v4/projects/8/issues?page=3")
        );
        let err = LinkPagination::new()
            .read(&response(json!({"items": []}), &[]), &PageRequest::first(1))
            .unwrap_err();
        assert!(matches!(err, HttpError::Decode { .. }), "{err}");
        let nested = LinkPagination::new()
            .items_at("/workflow_runs")
            .read(
                &response(json!({"total_count": 1, "workflow_runs": [{"id": 1}]}), &[]),
                &PageRequest::first(1),
            )
            .unwrap();
        assert_eq!(nested.items.len(), 1);
    }

    #[test]
    fn x_next_page_empty_is_the_end() {
        let p = PageNumberPagination::new();
        let last = p
            .read(
                &response(json!([1]), &[("x-next-page", "")]),
                &PageRequest::first(1),
            )
            .unwrap();
        assert_eq!(last.next, None);
        let more = p
            .read(
                &response(json!([1]), &[("x-next-page", " 3 ")]),
                &PageRequest::first(1),
            )
            .unwrap();
        assert_eq!(more.next.as_deref(), Some("3"));
    }

    #[test]
    fn token_and_offset_ends() {
        let t = TokenPagination::new();
        let first = PageRequest::first(50);
        let r = |b: Value| response(b, &[]);
        // isLast wins over a token; a missing or empty token ends the walk too.
        assert_eq!(
            t.read(
                &r(json!({"issues": [], "nextPageToken": "x", "isLast": true})),
                &first
            )
            .unwrap()
            .next,
            None
        );
        assert_eq!(
            t.read(&r(json!({"issues": [], "nextPageToken": null})), &first)
                .unwrap()
                .next,
            None
        );
        assert_eq!(
            t.read(&r(json!({"issues": [], "nextPageToken": ""})), &first)
                .unwrap()
                .next,
            None
        );
        assert_eq!(
            t.read(&r(json!({"issues": [1], "nextPageToken": "n"})), &first)
                .unwrap()
                .next
                .as_deref(),
            Some("n")
        );
        let o = OffsetPagination::new();
        // Jira may return fewer than asked for: the next start counts what came back.
        let page = o
            .read(
                &r(json!({"startAt": 0, "maxResults": 50, "total": 120, "issues": [1, 2, 3]})),
                &first,
            )
            .unwrap();
        assert_eq!(page.next.as_deref(), Some("3"));
        assert_eq!(
            o.read(
                &r(json!({"startAt": 3, "total": 120, "issues": []})),
                &first
            )
            .unwrap()
            .next,
            None
        );
        assert_eq!(
            o.items_at("/values")
                .read(
                    &r(json!({"startAt": 0, "isLast": true, "values": [1]})),
                    &first
                )
                .unwrap()
                .next,
            None
        );
        // Parameters in the body stay JSON numbers.
        let req = OffsetPagination::new().params_in(ParamsIn::Body).apply(
            ApiRequest::post("/rest/api/3/search").json(json!({"jql": "x"})),
            &PageRequest::after("50", 50),
        );
        assert_eq!(
            req.body(),
            Some(&json!({"jql": "x", "startAt": 50, "maxResults": 50}))
        );
    }
}

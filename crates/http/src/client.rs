//! [`ApiClient`]: one binding's way to a provider's REST API. The layers every request
//! passes through are in `send.rs`; this file holds the public surface: sending, paging
//! and the budgets.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::Stream;
use kradle_sync_core::{BindingId, HttpCache, Page, PageRequest, ProviderKind, RetryPolicy};
use reqwest::Url;
use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::Instrument;

use crate::auth::Credentials;
use crate::error::{HttpError, RequestInfo};
use crate::pagination::Pagination;
use crate::ratelimit::{BudgetPolicy, BudgetSnapshot, RateLimitScope, RateLimits};
use crate::request::{ApiRequest, ApiResponse, Target};
use crate::retry::Jitter;
use crate::time::{Clock, Sleeper};

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) provider: ProviderKind,
    pub(crate) base: Url,
    pub(crate) base_path: String,
    pub(crate) binding: Option<BindingId>,
    pub(crate) binding_label: String,
    pub(crate) scope: RateLimitScope,
    pub(crate) credentials: Option<Arc<dyn Credentials>>,
    pub(crate) headers: HeaderMap,
    pub(crate) timeout: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) budget: BudgetPolicy,
    pub(crate) rate_limits: Arc<RateLimits>,
    pub(crate) cache: Option<Arc<dyn HttpCache>>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) sleeper: Arc<dyn Sleeper>,
    pub(crate) jitter: Jitter,
    pub(crate) default_resource: String,
    pub(crate) max_body_bytes: usize,
    pub(crate) sequence: AtomicU64,
}

/// One binding's client of a provider's REST API. Cheap to clone (shared inside).
///
/// Every request goes through the same layers: the budget of its priority class, the
/// credentials, `If-None-Match` from the ETag cache, the timeout, retries with backoff and
/// full jitter (honouring `Retry-After` and rate-limit resets), a budget update from the
/// response's headers, and a typed error.
#[derive(Clone)]
pub struct ApiClient {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("provider", &self.inner.provider)
            .field("base_url", &self.inner.base.as_str())
            .field("binding", &self.inner.binding)
            .field("scope", &self.inner.scope)
            .field(
                "credentials",
                &self.inner.credentials.as_ref().map(|_| "[redacted]"),
            )
            .field("cache", &self.inner.cache.is_some())
            .finish_non_exhaustive()
    }
}

impl ApiClient {
    /// The provider type.
    pub fn provider(&self) -> &ProviderKind {
        &self.inner.provider
    }

    /// The base URL.
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// The rate-limit scope.
    pub fn scope(&self) -> &RateLimitScope {
        &self.inner.scope
    }

    /// The shared budget registry.
    pub fn rate_limits(&self) -> &Arc<RateLimits> {
        &self.inner.rate_limits
    }

    /// The budgets of this client's scope, one per resource.
    pub fn budgets(&self) -> Vec<BudgetSnapshot> {
        self.inner.rate_limits.snapshot(&self.inner.scope)
    }

    /// The budget of the default resource, if a response has reported it.
    pub fn budget(&self) -> Option<BudgetSnapshot> {
        self.inner
            .rate_limits
            .get(&self.inner.scope, &self.inner.default_resource)
    }

    /// The clock the client reads.
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// Sends a request through every layer and returns a success (`2xx`, or a `304`
    /// answered from the cache) or a typed error.
    pub async fn send(&self, request: ApiRequest) -> Result<ApiResponse, HttpError> {
        let url = self.url_of(&request)?;
        let info = RequestInfo {
            provider: self.inner.provider.clone(),
            method: request.method.to_string(),
            path: url.path().to_owned(),
        };
        let span = tracing::info_span!(
            "kradle_http.request",
            provider = %self.inner.provider,
            binding = %self.inner.binding_label,
            method = %request.method,
            path = %url.path(),
            priority = %request.priority,
            status = tracing::field::Empty,
            attempts = tracing::field::Empty,
            not_modified = tracing::field::Empty,
        );
        self.send_in_span(&request, &url, &info)
            .instrument(span)
            .await
    }

    /// Sends and decodes the JSON body.
    pub async fn json<T: DeserializeOwned>(&self, request: ApiRequest) -> Result<T, HttpError> {
        self.send(request).await?.json()
    }

    /// One page of a listing: `request` with `page` applied by `pagination`, its items
    /// and the next cursor.
    pub async fn fetch_page(
        &self,
        request: &ApiRequest,
        pagination: &dyn Pagination,
        page: &PageRequest,
    ) -> Result<Page<Value>, HttpError> {
        let response = self.send(pagination.apply(request.clone(), page)).await?;
        pagination.read(&response, page)
    }

    /// Every page from `start` on, as a stream: store each page's `next` as the
    /// checkpoint after processing it, and a stopped walk resumes from there. Stops with
    /// [`HttpError::PaginationLoop`] if a cursor comes back.
    pub fn pages<'a>(
        &'a self,
        request: ApiRequest,
        pagination: &'a dyn Pagination,
        start: PageRequest,
    ) -> impl Stream<Item = Result<Page<Value>, HttpError>> + Send + 'a {
        let seen = start.cursor.iter().cloned().collect::<HashSet<String>>();
        futures::stream::try_unfold((Some(start), seen), move |(page, mut seen)| {
            let request = request.clone();
            async move {
                let Some(page) = page else {
                    return Ok(None);
                };
                let got = self.fetch_page(&request, pagination, &page).await?;
                let next = match &got.next {
                    Some(cursor) if !seen.insert(cursor.clone()) => {
                        return Err(HttpError::PaginationLoop {
                            request: self.info_of(&request),
                            cursor: cursor.clone(),
                        });
                    }
                    Some(cursor) => Some(PageRequest::after(cursor.clone(), page.per_page)),
                    None => None,
                };
                Ok(Some((got, (next, seen))))
            }
        })
    }

    /// Every item of a listing, walking all pages. The result's `not_modified` is set when
    /// every page was answered from the ETag cache.
    pub async fn fetch_all(
        &self,
        request: ApiRequest,
        pagination: &dyn Pagination,
        per_page: u32,
    ) -> Result<Page<Value>, HttpError> {
        use futures::TryStreamExt;
        let mut all = Page::last(Vec::new()).with_not_modified(true);
        let mut pages =
            std::pin::pin!(self.pages(request, pagination, PageRequest::first(per_page)));
        while let Some(page) = pages.try_next().await? {
            all.items.extend(page.items);
            all.not_modified &= page.not_modified;
        }
        Ok(all)
    }

    fn info_of(&self, request: &ApiRequest) -> RequestInfo {
        RequestInfo {
            provider: self.inner.provider.clone(),
            method: request.method.to_string(),
            path: match self.url_of(request) {
                Ok(url) => url.path().to_owned(),
                Err(_) => String::from("?"),
            },
        }
    }

    /// The URL of a request: a path joined under the base URL (keeping a GitHub Enterprise
    /// `/api/v3` prefix), or an absolute URL that must lie under it.
    fn url_of(&self, request: &ApiRequest) -> Result<Url, HttpError> {
        let base = &self.inner.base;
        let mut url = match &request.target {
            Target::Path(path) => {
                let joined = format!(
                    "{}/{}",
                    base.as_str().trim_end_matches('/'),
                    path.trim_start_matches('/')
                );
                Url::parse(&joined).map_err(|e| HttpError::Config {
                    provider: self.inner.provider.clone(),
                    message: format!("path {path:?}: {e}"),
                })?
            }
            Target::Url(raw) => {
                let url = base.join(raw).map_err(|e| HttpError::Config {
                    provider: self.inner.provider.clone(),
                    message: format!("URL {raw:?}: {e}"),
                })?;
                let prefix = &self.inner.base_path;
                let inside = url.scheme() == base.scheme()
                    && url.host_str() == base.host_str()
                    && url.port_or_known_default() == base.port_or_known_default()
                    && (prefix.is_empty()
                        || url.path() == prefix
                        || url.path().starts_with(&format!("{prefix}/")));
                if !inside {
                    return Err(HttpError::ForeignUrl {
                        provider: self.inner.provider.clone(),
                        url: url.to_string(),
                        base: base.to_string(),
                    });
                }
                url
            }
        };
        if !request.query.is_empty() {
            let names: HashSet<&str> = request.query.iter().map(|(k, _)| k.as_str()).collect();
            let kept: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, _)| !names.contains(k.as_ref()))
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let mut pairs = url.query_pairs_mut();
            pairs.clear();
            pairs.extend_pairs(kept);
            pairs.extend_pairs(request.query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        }
        Ok(url)
    }
}

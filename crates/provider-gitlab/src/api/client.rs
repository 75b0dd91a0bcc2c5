//! [`GitlabClient`] and its builder: what the host injects (HTTP client, store, clock,
//! sleeper, budgets) and what it configures (base URL, credentials, timeouts, retries), and
//! the helpers every interface uses (pagination, conversion, creates that never duplicate).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use kradle_http::{
    ApiClient, ApiClientBuilder, ApiRequest, ApiResponse, BudgetPolicy, BudgetSnapshot, Clock,
    HttpError, Jitter, LinkPagination, Pagination, Priority, RateLimitScope, RateLimits, Sleeper,
    SystemClock, TokioSleeper, Url,
};
use kradle_sync_core::object::Canonical;
use kradle_sync_core::{
    BindingId, Error, ExternalTarget, HttpCache, Observed, Page, PageRequest, ProviderDescriptor,
    ResourceKind, RetryPolicy, Secret,
};
use serde_json::Value;

use super::auth::GitlabAuth;
use super::convert;
use super::walk::Memo;
use crate::PROVIDER;

/// The API of GitLab.com.
pub const DEFAULT_API_URL: &str = "https://gitlab.com/api/v4";

/// GitLab's page-size ceiling.
pub(crate) const MAX_PER_PAGE: u32 = 100;

/// The API root of a GitLab URL: `https://gitlab.example.com` and
/// `https://gitlab.example.com/api/v4` both give `https://gitlab.example.com/api/v4`; an
/// instance under a path (`https://example.com/gitlab`) keeps it.
///
/// ```
/// use kradle_provider_gitlab::api::api_base_url;
/// assert_eq!(api_base_url("https://gitlab.example.com"), "https://gitlab.example.com/api/v4");
/// assert_eq!(api_base_url("https://gitlab.example.com/api/v4/"), "https://gitlab.example.com/api/v4");
/// assert_eq!(api_base_url("https://example.com/gitlab"), "https://example.com/gitlab/api/v4");
/// ```
pub fn api_base_url(url: &str) -> String {
    let trimmed = url.trim().trim_end_matches('/');
    if trimmed.ends_with("/api/v4") {
        trimmed.to_owned()
    } else {
        format!("{trimmed}/api/v4")
    }
}

/// Who the token belongs to (approvals name their approver by user id).
#[derive(Debug, Clone)]
pub(crate) struct Me {
    pub id: u64,
    pub username: Option<String>,
}

/// Where a note lives: GitLab addresses a note through its issue or merge request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoteParent {
    Issue(u64),
    MergeRequest(u64),
}

pub(crate) struct Settings {
    pub(crate) descriptor: ProviderDescriptor,
    pub(crate) lookup_pages: u32,
    pub(crate) create_attempts: u32,
    pub(crate) keyset: bool,
    /// The credential, to scrub from any text GitLab echoes.
    pub(crate) token: Option<Secret>,
    /// Note id → parent, learnt from every note read or created.
    pub(crate) note_parents: Mutex<HashMap<u64, NoteParent>>,
    /// Notes read by the comment walk, by walk.
    pub(crate) memo: Mutex<Memo>,
    pub(crate) walks: AtomicU64,
    pub(crate) me: Mutex<Option<Me>>,
    pub(crate) project_ids: Mutex<HashMap<String, u64>>,
}

/// Locks a mutex, taking over a poisoned one (the data are caches: a panic elsewhere
/// leaves them usable).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The most note parents remembered.
const MAX_NOTE_PARENTS: usize = 100_000;

/// GitLab's REST API v4 as the three kradle-sync interfaces ([`IssueTracking`], [`Cicd`],
/// [`GitForge`]) and a [`Provider`], over the shared HTTP kit: pagination (`Link`, and
/// `x-next-page` where a response has no `Link`) with `per_page=100`, `If-None-Match` from
/// the ETag cache, rate-limit budgets with priority classes, retries with full-jitter
/// backoff, and creates that never duplicate.
///
/// Cheap to clone. Reads run at the client's read priority ([`Priority::Hydrate`] unless
/// [`with_read_priority`](Self::with_read_priority) or [`for_backfill`](Self::for_backfill)
/// says otherwise); writes, and the lookups that guard a create, always run as
/// [`Priority::Write`].
///
/// [`IssueTracking`]: kradle_sync_core::IssueTracking
/// [`Cicd`]: kradle_sync_core::Cicd
/// [`GitForge`]: kradle_sync_core::GitForge
/// [`Provider`]: kradle_sync_core::Provider
#[derive(Clone)]
pub struct GitlabClient {
    pub(crate) api: ApiClient,
    pub(crate) read_priority: Priority,
    pub(crate) settings: Arc<Settings>,
}

impl fmt::Debug for GitlabClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitlabClient")
            .field("api", &self.api)
            .field("read_priority", &self.read_priority)
            .field(
                "credentials",
                &self.settings.token.as_ref().map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

impl GitlabClient {
    /// A builder over the host's HTTP client.
    ///
    /// ```
    /// use kradle_provider_gitlab::{GitlabAuth, GitlabClient};
    /// let gitlab = GitlabClient::builder(reqwest::Client::new())
    ///     .base_url("https://gitlab.example.com")
    ///     .auth(GitlabAuth::private_token("glpat-example"))
    ///     .build()?;
    /// assert_eq!(gitlab.base_url(), "https://gitlab.example.com/api/v4");
    /// assert!(!format!("{gitlab:?}").contains("glpat-example"));
    /// # Ok::<(), kradle_sync_core::Error>(())
    /// ```
    pub fn builder(http: reqwest::Client) -> GitlabClientBuilder {
        GitlabClientBuilder::new(http)
    }

    /// The same client, its reads at `priority`.
    pub fn with_read_priority(&self, priority: Priority) -> Self {
        let mut client = self.clone();
        client.read_priority = priority;
        client
    }

    /// The same client for a backfill: its reads are held back first when the budget runs
    /// low.
    pub fn for_backfill(&self) -> Self {
        self.with_read_priority(Priority::Backfill)
    }

    /// The API root (`https://gitlab.com/api/v4`).
    pub fn base_url(&self) -> &str {
        self.api.base_url().as_str().trim_end_matches('/')
    }

    /// The budget, once a response has reported GitLab's `RateLimit-*` headers.
    pub fn budget(&self) -> Option<BudgetSnapshot> {
        self.api.budget()
    }

    pub(crate) fn get(&self, path: impl Into<String>) -> ApiRequest {
        ApiRequest::get(path).priority(self.read_priority)
    }

    /// Sends through the kit; the token is scrubbed from any text GitLab echoed.
    pub(crate) async fn send(&self, request: ApiRequest) -> Result<ApiResponse, HttpError> {
        self.api
            .send(request)
            .await
            .map_err(|e| scrub(e, self.settings.token.as_ref()))
    }

    /// One raw page (`per_page` capped at 100; `0` means 100).
    pub(crate) async fn page(
        &self,
        request: ApiRequest,
        pagination: &dyn Pagination,
        page: &PageRequest,
    ) -> Result<Page<Value>, Error> {
        let per_page = match page.per_page {
            0 => MAX_PER_PAGE,
            n => n.min(MAX_PER_PAGE),
        };
        let page = match &page.cursor {
            Some(cursor) => PageRequest::after(cursor.clone(), per_page),
            None => PageRequest::first(per_page),
        };
        Ok(self
            .api
            .fetch_page(&request, pagination, &page)
            .await
            .map_err(|e| scrub(e, self.settings.token.as_ref()))?)
    }

    /// One page of a listing, converted.
    pub(crate) async fn list<T: Canonical>(
        &self,
        kind: ResourceKind,
        request: ApiRequest,
        page: &PageRequest,
    ) -> Result<Page<Observed<T>>, Error> {
        let raw = self.page(request, &Self::pages(), page).await?;
        convert::observe_page(kind, raw)
    }

    /// One object by a `GET`, with the response's ETag as its version tag.
    pub(crate) async fn fetch<T: Canonical>(
        &self,
        kind: ResourceKind,
        request: ApiRequest,
    ) -> Result<Observed<T>, Error> {
        let response = self.send(request).await?;
        convert::observe_tagged(kind, &response.json::<Value>()?, response.etag())
    }

    /// A write's response, converted.
    pub(crate) async fn write<T: Canonical>(
        &self,
        kind: ResourceKind,
        request: ApiRequest,
    ) -> Result<Observed<T>, Error> {
        self.fetch(kind, request.priority(Priority::Write)).await
    }

    /// A write whose response body is not needed.
    pub(crate) async fn write_only(&self, request: ApiRequest) -> Result<(), Error> {
        self.send(request.priority(Priority::Write)).await?;
        Ok(())
    }

    /// The first item, among the first `max_pages` pages of a listing read as a write's
    /// lookup, that `matches` accepts.
    pub(crate) async fn scan(
        &self,
        request: ApiRequest,
        max_pages: u32,
        matches: impl Fn(&Value) -> bool + Send,
    ) -> Result<Option<Value>, Error> {
        let request = request.priority(Priority::Write);
        let mut page = PageRequest::first(MAX_PER_PAGE);
        for _ in 0..max_pages.max(1) {
            let got = self.page(request.clone(), &Self::pages(), &page).await?;
            if let Some(found) = got.items.into_iter().find(|item| matches(item)) {
                return Ok(Some(found));
            }
            match got.next {
                Some(cursor) => page.cursor = Some(cursor),
                None => break,
            }
        }
        Ok(None)
    }

    /// Sends a create; if its outcome is unknown (timeout, `5xx`, connection lost after
    /// sending), looks for the object by its idempotency marker with `find` and adopts it.
    /// Only when the lookup finds nothing is the create sent again, up to the configured
    /// attempts (default one: the engine retries later, looking first).
    pub(crate) async fn create_adopting<T, F, Fut>(
        &self,
        kind: ResourceKind,
        request: ApiRequest,
        find: F,
    ) -> Result<Observed<T>, Error>
    where
        T: Canonical,
        F: Fn() -> Fut + Send + Sync,
        Fut: Future<Output = Result<Option<Observed<T>>, Error>> + Send,
    {
        let request = request.priority(Priority::Write).idempotent(false);
        let attempts = self.settings.create_attempts.max(1);
        let mut sent = 0;
        loop {
            sent += 1;
            match self.send(request.clone()).await {
                Ok(response) => {
                    return convert::observe_tagged(
                        kind,
                        &response.json::<Value>()?,
                        response.etag(),
                    );
                }
                Err(e) if e.is_outcome_unknown() => {
                    tracing::warn!(%kind, error = %e, "create outcome unknown; looking for its idempotency marker");
                    match find().await {
                        Ok(Some(found)) => {
                            tracing::info!(%kind, native_id = %found.native_id.as_str(), "adopted the object an earlier attempt created");
                            return Ok(found);
                        }
                        Ok(None) => {}
                        // The lookup failing says nothing about the create: it stays
                        // unknown (retryable), never a conflict or a permanent failure.
                        Err(lookup) => {
                            tracing::warn!(%kind, error = %lookup, "looking for the idempotency marker failed");
                            return Err(e.into());
                        }
                    }
                    if sent >= attempts {
                        return Err(e.into());
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// GitLab's pagination.
    pub(crate) fn pages() -> GitlabPagination {
        GitlabPagination::default()
    }

    /// Remembers where notes live, so an update or delete of one of them by id alone finds
    /// its issue or merge request.
    pub(crate) fn remember_notes(&self, parents: impl IntoIterator<Item = (u64, NoteParent)>) {
        let mut known = lock(&self.settings.note_parents);
        for (note, parent) in parents {
            if known.len() >= MAX_NOTE_PARENTS && !known.contains_key(&note) {
                known.clear();
            }
            known.insert(note, parent);
        }
    }
}

/// GitLab's pagination: follow `Link: <…>; rel="next"` (offset and keyset pagination alike,
/// read by the kit's parser); a response without `Link` but with `x-next-page` continues at
/// that page of the same URL. The cursor is always the next page's URL.
#[derive(Debug, Clone, Default)]
pub(crate) struct GitlabPagination {
    link: LinkPagination,
}

impl Pagination for GitlabPagination {
    fn apply(&self, request: ApiRequest, page: &PageRequest) -> ApiRequest {
        self.link.apply(request, page)
    }

    fn read(&self, response: &ApiResponse, page: &PageRequest) -> Result<Page<Value>, HttpError> {
        let mut read = self.link.read(response, page)?;
        if read.next.is_none()
            && let Some(next) = response
                .header("x-next-page")
                .map(str::trim)
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        {
            let mut url: Url = response.url.clone();
            let kept: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, _)| k != "page")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            url.query_pairs_mut()
                .clear()
                .extend_pairs(kept)
                .append_pair("page", next);
            read.next = Some(url.to_string());
        }
        Ok(read)
    }
}

/// `error` with `token` replaced by `[redacted]` in every text GitLab may have echoed.
pub(crate) fn scrub(error: HttpError, token: Option<&Secret>) -> HttpError {
    let Some(token) = token.map(Secret::expose).filter(|t| !t.is_empty()) else {
        return error;
    };
    let clean = |text: String| {
        if text.contains(token) {
            text.replace(token, "[redacted]")
        } else {
            text
        }
    };
    match error {
        HttpError::Unauthorized { request, message } => HttpError::Unauthorized {
            request,
            message: clean(message),
        },
        HttpError::Forbidden { request, message } => HttpError::Forbidden {
            request,
            message: clean(message),
        },
        HttpError::Precondition {
            request,
            status,
            message,
        } => HttpError::Precondition {
            request,
            status,
            message: clean(message),
        },
        HttpError::Client {
            request,
            status,
            message,
        } => HttpError::Client {
            request,
            status,
            message: clean(message),
        },
        HttpError::Server {
            request,
            status,
            attempts,
            message,
        } => HttpError::Server {
            request,
            status,
            attempts,
            message: clean(message),
        },
        HttpError::OutcomeUnknown {
            request,
            cause,
            source,
        } => HttpError::OutcomeUnknown {
            request,
            cause: clean(cause),
            source,
        },
        HttpError::Decode { request, message } => HttpError::Decode {
            request,
            message: clean(message),
        },
        other => other,
    }
}

/// When a failed call may be tried again, if GitLab or the budget said: the reset of a
/// budget below its class's reserve ([`HttpError::Paused`], a backfill checkpoints and
/// resumes then), or the end of a rate-limit wait longer than the kit sleeps through.
///
/// ```
/// use kradle_sync_core::Error;
/// let other = Error::Validation { rule: "x", detail: "y".into() };
/// assert_eq!(kradle_provider_gitlab::api::retry_at(&other), None);
/// ```
pub fn retry_at(error: &Error) -> Option<DateTime<Utc>> {
    http_error(error)?.retry_at()
}

/// Whether a failed call was held back because the rate-limit budget is below the reserve
/// of its priority class (nothing was sent).
pub fn is_paused(error: &Error) -> bool {
    matches!(http_error(error), Some(HttpError::Paused { .. }))
}

pub(crate) fn http_error(error: &Error) -> Option<&HttpError> {
    match error {
        Error::Provider {
            source: Some(source),
            ..
        } => source.downcast_ref::<HttpError>(),
        _ => None,
    }
}

/// Builds a [`GitlabClient`]. Only the HTTP client is required; everything else has a
/// default (GitLab.com, anonymous, no ETag cache, system clock, tokio sleeper).
pub struct GitlabClientBuilder {
    http: reqwest::Client,
    base_url: String,
    auth: Option<GitlabAuth>,
    binding: Option<BindingId>,
    account: Option<String>,
    org: Option<String>,
    cache: Option<Arc<dyn HttpCache>>,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
    rate_limits: Option<Arc<RateLimits>>,
    timeout: Duration,
    retry: Option<RetryPolicy>,
    budget: Option<BudgetPolicy>,
    jitter: Option<Jitter>,
    user_agent: Option<String>,
    read_priority: Priority,
    lookup_pages: u32,
    create_attempts: u32,
    keyset: bool,
}

impl fmt::Debug for GitlabClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitlabClientBuilder")
            .field("base_url", &self.base_url)
            .field("auth", &self.auth)
            .field("binding", &self.binding)
            .finish_non_exhaustive()
    }
}

impl GitlabClientBuilder {
    fn new(http: reqwest::Client) -> Self {
        Self {
            http,
            base_url: DEFAULT_API_URL.to_owned(),
            auth: None,
            binding: None,
            account: None,
            org: None,
            cache: None,
            clock: Arc::new(SystemClock),
            sleeper: Arc::new(TokioSleeper),
            rate_limits: None,
            timeout: Duration::from_secs(30),
            retry: None,
            budget: None,
            jitter: None,
            user_agent: None,
            read_priority: Priority::Hydrate,
            lookup_pages: 3,
            create_attempts: 1,
            keyset: false,
        }
    }

    /// The instance: `https://gitlab.com/api/v4` (default), a self-managed
    /// `https://gitlab.example.com` or `https://gitlab.example.com/api/v4` (see
    /// [`api_base_url`]), or a local test server.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = api_base_url(&url.into());
        self
    }

    /// How to authenticate. Without it requests are anonymous (public projects only).
    pub fn auth(mut self, auth: GitlabAuth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// The binding this client serves (named in spans).
    pub fn binding(mut self, binding: impl Into<BindingId>) -> Self {
        self.binding = Some(binding.into());
        self
    }

    /// The account the budget and the ETag cache are kept under. Default: the instance's
    /// host and a digest of the credentials ([`GitlabAuth::account`]), or `anonymous`.
    pub fn account(mut self, account: impl Into<String>) -> Self {
        self.account = Some(account.into());
        self
    }

    /// The org (top-level group) the budget is narrowed to.
    pub fn org(mut self, org: impl Into<String>) -> Self {
        self.org = Some(org.into());
        self
    }

    /// Where the ETags are kept (a store implementing [`HttpCache`], or your own): a read
    /// GitLab answers with an ETag is repeated with `If-None-Match`.
    pub fn cache(mut self, cache: Arc<dyn HttpCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// The clock (budgets). Default: the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The sleeper every wait goes through. Default: tokio's timer.
    pub fn sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// Budgets shared with other clients of the same account.
    pub fn rate_limits(mut self, rate_limits: Arc<RateLimits>) -> Self {
        self.rate_limits = Some(rate_limits);
        self
    }

    /// The timeout of each attempt. Default 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Attempts and backoff of each request. Default: the kit's (5 attempts, 1 s base,
    /// 60 s cap, full jitter).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Reserves of the priority classes and the longest wait. Default: the kit's.
    pub fn budget_policy(mut self, policy: BudgetPolicy) -> Self {
        self.budget = Some(policy);
        self
    }

    /// The jitter draw (fix it for reproducible tests). Default: random.
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = Some(jitter);
        self
    }

    /// The `User-Agent`. Default: `kradle-sync/<version>`.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// The priority of reads. Default [`Priority::Hydrate`].
    pub fn read_priority(mut self, priority: Priority) -> Self {
        self.read_priority = priority;
        self
    }

    /// How many pages (of 100, newest first) a lookup by idempotency marker reads for
    /// issues and merge requests. Default 3.
    pub fn lookup_pages(mut self, pages: u32) -> Self {
        self.lookup_pages = pages.max(1);
        self
    }

    /// How many times one create call sends its `POST` when the outcome stays unknown and
    /// the lookup finds nothing. Default 1: the call fails as retryable and the engine's
    /// next attempt looks again first.
    pub fn create_attempts(mut self, attempts: u32) -> Self {
        self.create_attempts = attempts.max(1);
        self
    }

    /// List issues with keyset pagination (`pagination=keyset`, GitLab 18.3 and later),
    /// which pages stay stable while issues change. Default: offset pagination, which every
    /// GitLab from 15.x on answers.
    pub fn keyset_pagination(mut self, keyset: bool) -> Self {
        self.keyset = keyset;
        self
    }

    fn config_error(message: String) -> Error {
        Error::Validation {
            rule: "gitlab-api-url",
            detail: message,
        }
    }

    /// The client. Fails if the base URL is not an http(s) URL.
    pub fn build(self) -> Result<GitlabClient, Error> {
        let base = Url::parse(&self.base_url).map_err(|e| {
            Self::config_error(format!(
                "GitLab API URL {:?} is not a URL ({e}); give the instance's address, e.g. https://gitlab.example.com",
                self.base_url
            ))
        })?;
        let host = base.host_str().unwrap_or("gitlab").to_owned();
        let rate_limits = self.rate_limits.clone().unwrap_or_default();
        let account = self.account.clone().unwrap_or_else(|| match &self.auth {
            Some(auth) => format!("{host}:{}", auth.account()),
            None => format!("{host}:anonymous"),
        });
        let mut scope = RateLimitScope::new(PROVIDER, account);
        if let Some(org) = &self.org {
            scope = scope.org(org.clone());
        }
        let mut kit: ApiClientBuilder =
            ApiClient::builder(self.http.clone(), PROVIDER, self.base_url.clone())
                .scope(scope)
                .accept("application/json")
                .clock(self.clock.clone())
                .sleeper(self.sleeper.clone())
                .rate_limits(rate_limits)
                .timeout(self.timeout);
        if let Some(retry) = self.retry {
            kit = kit.retry(retry);
        }
        if let Some(policy) = self.budget {
            kit = kit.budget_policy(policy);
        }
        if let Some(jitter) = self.jitter {
            kit = kit.jitter(jitter);
        }
        if let Some(ua) = &self.user_agent {
            kit = kit.user_agent(ua.clone());
        }
        if let Some(binding) = &self.binding {
            kit = kit.binding(binding.clone());
        }
        if let Some(store) = &self.cache {
            kit = kit.cache(store.clone());
        }
        // `PRIVATE-TOKEN` or `Authorization: Bearer`: the kit marks either sensitive and
        // scrubs the token from every message (see `GitlabAuth`).
        if let Some(auth) = &self.auth {
            kit = kit.credentials(Arc::new(auth.credentials()));
        }
        Ok(GitlabClient {
            api: kit.build()?,
            read_priority: self.read_priority,
            settings: Arc::new(Settings {
                descriptor: crate::descriptor(),
                lookup_pages: self.lookup_pages,
                create_attempts: self.create_attempts,
                keyset: self.keyset,
                token: self.auth.as_ref().map(|a| a.secret().clone()),
                note_parents: Mutex::new(HashMap::new()),
                memo: Mutex::new(Memo::default()),
                walks: AtomicU64::new(0),
                me: Mutex::new(None),
                project_ids: Mutex::new(HashMap::new()),
            }),
        })
    }
}

/// A target's project path, `/projects/<group%2Fsub%2Fproject>`. The path must be
/// `group/…/project` (any depth of subgroups) of segments GitLab allows (letters, digits,
/// `_`, `-`, `.`); anything else is refused before a request is made.
pub(crate) fn project_path(target: &ExternalTarget) -> Result<String, Error> {
    let invalid = || Error::Validation {
        rule: "gitlab-target-is-group-project",
        detail: format!(
            "GitLab target {:?} is not `group/…/project`; bind the project by its full path \
             (path_with_namespace)",
            target.path
        ),
    };
    let segments: Vec<&str> = target.path.split('/').collect();
    if segments.len() < 2 {
        return Err(invalid());
    }
    let fine = |part: &str| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    };
    if !segments.iter().all(|s| fine(s)) {
        return Err(invalid());
    }
    Ok(format!("/projects/{}", segments.join("%2F")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_paths_encode_every_subgroup() {
        let deep = ExternalTarget::from_path("group/sub/sub2/project");
        assert_eq!(
            project_path(&deep).ok().as_deref(),
            Some("/projects/group%2Fsub%2Fsub2%2Fproject")
        );
        for bad in [
            "project", "a//b", "../x/y", "a/..", "a/b c", "a/b?x=1", "a/b#c", "/a/b",
        ] {
            assert!(
                project_path(&ExternalTarget::from_path(bad)).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn base_urls() {
        assert_eq!(api_base_url("https://gitlab.com"), DEFAULT_API_URL);
        assert_eq!(api_base_url(" https://gitlab.com/api/v4 "), DEFAULT_API_URL);
    }
}

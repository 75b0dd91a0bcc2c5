//! [`GithubClient`] and its builder: what the host injects (HTTP client, store, clock,
//! sleeper, budgets) and what it configures (base URL, credentials, timeouts, retries).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kradle_http::{
    ApiClient, ApiClientBuilder, ApiRequest, BudgetPolicy, BudgetSnapshot, Clock, HttpError,
    Jitter, LinkPagination, Pagination, Priority, RateLimitScope, RateLimits, Sleeper, StaticToken,
    SystemClock, TokioSleeper,
};
use kradle_sync_core::object::Canonical;
use kradle_sync_core::{
    BindingId, Error, HttpCache, Observed, Page, PageRequest, ProviderDescriptor, ResourceKind,
    RetryPolicy,
};
use serde_json::Value;

use super::auth::{GithubAuth, InstallationToken};
use super::convert;
use crate::PROVIDER;

/// The API of github.com.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// The REST API version every request asks for.
pub const API_VERSION: &str = "2022-11-28";

/// GitHub's page-size ceiling.
pub(crate) const MAX_PER_PAGE: u32 = 100;

pub(crate) struct Settings {
    pub(crate) descriptor: ProviderDescriptor,
    pub(crate) lookup_pages: u32,
    pub(crate) create_attempts: u32,
    pub(crate) installation: Option<Arc<InstallationToken>>,
}

/// GitHub's REST API as the three kradle-sync interfaces ([`IssueTracking`], [`Cicd`],
/// [`GitForge`]) and a [`Provider`], over the shared HTTP kit: Link pagination with
/// `per_page=100`, `If-None-Match` from the ETag cache, rate-limit budgets with priority
/// classes, retries with full-jitter backoff, and creates that never duplicate.
///
/// Cheap to clone. Reads run at the client's read priority
/// ([`Priority::Hydrate`] unless [`with_read_priority`](Self::with_read_priority) or
/// [`for_backfill`](Self::for_backfill) says otherwise); writes, and the lookups that
/// guard a create, always run as [`Priority::Write`].
///
/// [`IssueTracking`]: kradle_sync_core::IssueTracking
/// [`Cicd`]: kradle_sync_core::Cicd
/// [`GitForge`]: kradle_sync_core::GitForge
/// [`Provider`]: kradle_sync_core::Provider
#[derive(Clone)]
pub struct GithubClient {
    pub(crate) api: ApiClient,
    pub(crate) read_priority: Priority,
    pub(crate) settings: Arc<Settings>,
}

impl fmt::Debug for GithubClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubClient")
            .field("api", &self.api)
            .field("read_priority", &self.read_priority)
            .field("installation", &self.settings.installation)
            .finish_non_exhaustive()
    }
}

impl GithubClient {
    /// A builder over the host's `reqwest::Client` (its TLS, proxy and pool settings).
    pub fn builder(http: reqwest::Client) -> GithubClientBuilder {
        GithubClientBuilder::new(http)
    }

    /// A client over an [`ApiClient`] the host built itself (its credentials, scope,
    /// cache, clock). Its base URL must be GitHub's API root.
    pub fn from_api(api: ApiClient) -> Self {
        Self {
            api,
            read_priority: Priority::Hydrate,
            settings: Arc::new(Settings {
                descriptor: crate::descriptor(),
                lookup_pages: 3,
                create_attempts: 1,
                installation: None,
            }),
        }
    }

    /// The same client, reading at `priority` (writes stay [`Priority::Write`]).
    pub fn with_read_priority(&self, priority: Priority) -> Self {
        Self {
            read_priority: priority,
            ..self.clone()
        }
    }

    /// The same client for a backfill: reads are [`Priority::Backfill`], held back (as
    /// [`HttpError::Paused`], see [`retry_at`]) while the budget is below the backfill
    /// reserve.
    pub fn for_backfill(&self) -> Self {
        self.with_read_priority(Priority::Backfill)
    }

    /// The read priority.
    pub fn read_priority(&self) -> Priority {
        self.read_priority
    }

    /// The kit client underneath.
    pub fn api(&self) -> &ApiClient {
        &self.api
    }

    /// The rate-limit budgets of this client's scope, one per resource (`core`,
    /// `search`, …).
    pub fn budgets(&self) -> Vec<BudgetSnapshot> {
        self.api.budgets()
    }

    /// The `core` budget, once a response has reported it.
    pub fn budget(&self) -> Option<BudgetSnapshot> {
        self.api.budget()
    }

    /// The GitHub App installation credentials, if the client authenticates as one.
    pub fn installation(&self) -> Option<&Arc<InstallationToken>> {
        self.settings.installation.as_ref()
    }

    pub(crate) fn get(&self, path: impl Into<String>) -> ApiRequest {
        ApiRequest::get(path).priority(self.read_priority)
    }

    /// One page of a listing, converted.
    pub(crate) async fn list<T: Canonical>(
        &self,
        kind: ResourceKind,
        request: ApiRequest,
        pagination: &dyn Pagination,
        page: &PageRequest,
    ) -> Result<Page<Observed<T>>, Error> {
        let raw = self.page(request, pagination, page).await?;
        convert::observe_page(kind, raw)
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
        Ok(self.api.fetch_page(&request, pagination, &page).await?)
    }

    /// One object by a `GET`, with the response's ETag as its version tag.
    pub(crate) async fn fetch<T: Canonical>(
        &self,
        kind: ResourceKind,
        request: ApiRequest,
    ) -> Result<Observed<T>, Error> {
        let response = self.api.send(request).await?;
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
        self.api.send(request.priority(Priority::Write)).await?;
        Ok(())
    }

    /// The first item, among the first `max_pages` pages of a listing read as a write's
    /// lookup, that `matches` accepts.
    pub(crate) async fn scan(
        &self,
        request: ApiRequest,
        pagination: &dyn Pagination,
        max_pages: u32,
        matches: impl Fn(&Value) -> bool + Send,
    ) -> Result<Option<Value>, Error> {
        let request = request.priority(Priority::Write);
        let mut page = PageRequest::first(MAX_PER_PAGE);
        for _ in 0..max_pages.max(1) {
            let got = self.api.fetch_page(&request, pagination, &page).await?;
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
            match self.api.send(request.clone()).await {
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

    pub(crate) fn link() -> LinkPagination {
        LinkPagination::new()
    }
}

/// When a failed call may be tried again, if GitHub or the budget said: the reset of a
/// budget below its class's reserve ([`HttpError::Paused`], a backfill checkpoints and
/// resumes then), or the end of a rate-limit wait longer than the kit sleeps through.
///
/// ```
/// use kradle_sync_core::Error;
/// let other = Error::Validation { rule: "x", detail: "y".into() };
/// assert_eq!(kradle_provider_github::api::retry_at(&other), None);
/// ```
pub fn retry_at(error: &Error) -> Option<DateTime<Utc>> {
    http_error(error)?.retry_at()
}

/// Whether a failed call was held back because the rate-limit budget is below the reserve
/// of its priority class (nothing was sent).
pub fn is_paused(error: &Error) -> bool {
    matches!(http_error(error), Some(HttpError::Paused { .. }))
}

fn http_error(error: &Error) -> Option<&HttpError> {
    match error {
        Error::Provider {
            source: Some(source),
            ..
        } => source.downcast_ref::<HttpError>(),
        _ => None,
    }
}

/// Builds a [`GithubClient`]. Only the HTTP client is required; everything else has a
/// default (github.com, anonymous, no ETag cache, system clock, tokio sleeper).
pub struct GithubClientBuilder {
    http: reqwest::Client,
    base_url: String,
    auth: Option<GithubAuth>,
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
}

impl fmt::Debug for GithubClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubClientBuilder")
            .field("base_url", &self.base_url)
            .field("auth", &self.auth)
            .field("binding", &self.binding)
            .finish_non_exhaustive()
    }
}

impl GithubClientBuilder {
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
        }
    }

    /// The API root: `https://api.github.com` (default), a GitHub Enterprise Server
    /// `https://HOST/api/v3`, or a local test server.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// How to authenticate. Without it requests are anonymous (60 requests an hour).
    pub fn auth(mut self, auth: GithubAuth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// The binding this client serves (named in spans).
    pub fn binding(mut self, binding: impl Into<BindingId>) -> Self {
        self.binding = Some(binding.into());
        self
    }

    /// The account the budget and the ETag cache are kept under. Default: from the
    /// credentials ([`GithubAuth::account`]), or `anonymous`.
    pub fn account(mut self, account: impl Into<String>) -> Self {
        self.account = Some(account.into());
        self
    }

    /// The org (owner) the budget is narrowed to.
    pub fn org(mut self, org: impl Into<String>) -> Self {
        self.org = Some(org.into());
        self
    }

    /// Where the ETags are kept (a store implementing [`HttpCache`], or your own): unchanged
    /// resources are re-read with `If-None-Match` and cost no budget.
    pub fn cache(mut self, cache: Arc<dyn HttpCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// The clock (JWT times, token expiry, budgets). Default: the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The sleeper every wait goes through. Default: tokio's timer.
    pub fn sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// Budgets shared with other clients of the same installation or account.
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

    /// The `User-Agent` GitHub requires. Default: `kradle-sync/<version>`.
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
    /// issues, pull requests and check runs. Default 3.
    pub fn lookup_pages(mut self, pages: u32) -> Self {
        self.lookup_pages = pages.max(1);
        self
    }

    /// How many times one create call sends its `POST` when the outcome stays unknown and
    /// the lookup finds nothing. Default 1: the call fails as retryable and the engine's
    /// next attempt looks again first, after a backoff that lets GitHub's listings catch up.
    pub fn create_attempts(mut self, attempts: u32) -> Self {
        self.create_attempts = attempts.max(1);
        self
    }

    fn kit(&self, scope: RateLimitScope, rate_limits: &Arc<RateLimits>) -> ApiClientBuilder {
        let mut b = ApiClient::builder(self.http.clone(), PROVIDER, self.base_url.clone())
            .scope(scope)
            .accept("application/vnd.github+json")
            .default_header("X-GitHub-Api-Version", API_VERSION)
            .clock(self.clock.clone())
            .sleeper(self.sleeper.clone())
            .rate_limits(rate_limits.clone())
            .timeout(self.timeout);
        if let Some(retry) = self.retry {
            b = b.retry(retry);
        }
        if let Some(policy) = self.budget {
            b = b.budget_policy(policy);
        }
        if let Some(jitter) = self.jitter {
            b = b.jitter(jitter);
        }
        if let Some(ua) = &self.user_agent {
            b = b.user_agent(ua.clone());
        }
        if let Some(binding) = &self.binding {
            b = b.binding(binding.clone());
        }
        b
    }

    /// The client. Fails if the base URL is unusable or a GitHub App key is not an RSA
    /// PEM key.
    pub fn build(self) -> Result<GithubClient, Error> {
        let rate_limits = self.rate_limits.clone().unwrap_or_default();
        let account = self
            .account
            .clone()
            .or_else(|| self.auth.as_ref().map(GithubAuth::account))
            .unwrap_or_else(|| "anonymous".to_owned());
        let mut scope = RateLimitScope::new(PROVIDER, account);
        if let Some(org) = &self.org {
            scope = scope.org(org.clone());
        }
        let mut main = self.kit(scope, &rate_limits);
        if let Some(store) = &self.cache {
            main = main.cache(store.clone());
        }
        let mut installation = None;
        match &self.auth {
            Some(GithubAuth::Token(token)) => {
                main = main.credentials(Arc::new(StaticToken::bearer(token.clone())));
            }
            Some(GithubAuth::App(app)) => {
                let exchange = self.kit(
                    RateLimitScope::new(PROVIDER, format!("app-{}", app.app_id())),
                    &rate_limits,
                );
                let token = Arc::new(InstallationToken::new(app, exchange, self.clock.clone())?);
                main = main.credentials(token.clone());
                installation = Some(token);
            }
            None => {}
        }
        Ok(GithubClient {
            api: main.build()?,
            read_priority: self.read_priority,
            settings: Arc::new(Settings {
                descriptor: crate::descriptor(),
                lookup_pages: self.lookup_pages,
                create_attempts: self.create_attempts,
                installation,
            }),
        })
    }
}

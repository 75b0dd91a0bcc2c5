//! [`JiraClient`] and its builder: what the host injects (HTTP client, store, clock,
//! sleeper, budgets) and what it configures (site, flavor, credentials, timeouts, retries).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Offset, Utc};
use kradle_http::{
    ApiClient, ApiClientBuilder, ApiRequest, BudgetPolicy, BudgetSnapshot, Clock, HttpError,
    Jitter, Pagination, Priority, RateLimitScope, RateLimits, Sleeper, SystemClock, TokioSleeper,
};
use kradle_sync_core::{
    BindingId, Error, HttpCache, Page, PageRequest, ProviderDescriptor, RetryPolicy,
};
use serde_json::Value;

use super::auth::JiraAuth;
use crate::PROVIDER;

/// Jira's page-size ceiling for the reads the adapter makes.
pub(crate) const MAX_PER_PAGE: u32 = 100;

/// Which Jira the client talks to: the REST version and the text format differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Flavor {
    /// Jira Cloud: REST v3, ADF rich text, `POST /rest/api/3/search/jql` with
    /// `nextPageToken`/`isLast`, account ids.
    Cloud,
    /// Jira Data Center (and Server): REST v2, wiki markup, `GET /rest/api/2/search` with
    /// `startAt`/`maxResults`/`total`, user names.
    DataCenter,
}

impl Flavor {
    /// The REST root of the flavor (`/rest/api/3` or `/rest/api/2`).
    pub fn rest_root(self) -> &'static str {
        match self {
            Flavor::Cloud => "/rest/api/3",
            Flavor::DataCenter => "/rest/api/2",
        }
    }

    /// The flavor a base URL names: a base ending in `/rest/api/3` or `/rest/api/2` names
    /// it outright (and is cut there); otherwise Atlassian's hosts (`*.atlassian.net`,
    /// `*.jira.com`, `api.atlassian.com`) are Cloud and every other host is Data Center.
    ///
    /// ```
    /// use kradle_provider_jira::Flavor;
    /// assert_eq!(Flavor::of_url("https://example.atlassian.net").0, Flavor::Cloud);
    /// assert_eq!(Flavor::of_url("https://jira.example.com/jira").0, Flavor::DataCenter);
    /// let (flavor, base) = Flavor::of_url("http://127.0.0.1:8080/rest/api/3");
    /// assert_eq!((flavor, base.as_str()), (Flavor::Cloud, "http://127.0.0.1:8080"));
    /// ```
    pub fn of_url(url: &str) -> (Flavor, String) {
        let trimmed = url.trim_end_matches('/');
        if let Some(base) = trimmed.strip_suffix("/rest/api/3") {
            return (Flavor::Cloud, base.to_owned());
        }
        if let Some(base) = trimmed.strip_suffix("/rest/api/2") {
            return (Flavor::DataCenter, base.to_owned());
        }
        let host = crate::wire::site_of(trimmed).unwrap_or_default();
        let host = host.split(':').next().unwrap_or_default();
        let cloud = host == "api.atlassian.com"
            || [".atlassian.net", ".jira.com", ".jira-dev.com"]
                .iter()
                .any(|suffix| host.ends_with(suffix));
        let flavor = if cloud {
            Flavor::Cloud
        } else {
            Flavor::DataCenter
        };
        (flavor, trimmed.to_owned())
    }
}

pub(crate) struct Settings {
    pub(crate) descriptor: ProviderDescriptor,
    pub(crate) flavor: Flavor,
    pub(crate) issue_type: String,
    pub(crate) lookup_pages: u32,
    pub(crate) create_attempts: u32,
    /// The site's UTC offset for JQL dates, once read.
    pub(crate) offset: Mutex<Option<FixedOffset>>,
    /// Comment id → issue id, for Data Center (which addresses a comment through its issue).
    pub(crate) comment_issues: Mutex<HashMap<String, String>>,
}

/// Jira's REST API as kradle-sync's [`IssueTracking`](kradle_sync_core::IssueTracking) and
/// a [`Provider`](kradle_sync_core::Provider), over the shared HTTP kit: token or offset
/// pagination, rate-limit budgets with priority classes, `Retry-After`, retries with
/// full-jitter backoff, and creates that never duplicate.
///
/// Cheap to clone. Reads run at the client's read priority ([`Priority::Hydrate`] unless
/// [`for_backfill`](Self::for_backfill) says otherwise); writes, and the lookups that guard
/// a create, always run as [`Priority::Write`].
#[derive(Clone)]
pub struct JiraClient {
    pub(crate) api: ApiClient,
    pub(crate) read_priority: Priority,
    pub(crate) settings: Arc<Settings>,
}

impl fmt::Debug for JiraClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JiraClient")
            .field("api", &self.api)
            .field("flavor", &self.settings.flavor)
            .field("read_priority", &self.read_priority)
            .finish_non_exhaustive()
    }
}

impl JiraClient {
    /// A builder over the host's `reqwest::Client` for the site at `base_url`
    /// (`https://example.atlassian.net`, `https://api.atlassian.com/ex/jira/{cloudId}`,
    /// a Data Center `https://jira.example.com`, or a local test server).
    pub fn builder(http: reqwest::Client, base_url: impl Into<String>) -> JiraClientBuilder {
        JiraClientBuilder::new(http, base_url.into())
    }

    /// The same client, reading at `priority` (writes stay [`Priority::Write`]).
    pub fn with_read_priority(&self, priority: Priority) -> Self {
        Self {
            read_priority: priority,
            ..self.clone()
        }
    }

    /// The same client for a backfill: reads are [`Priority::Backfill`], held back while the
    /// budget is below the backfill reserve.
    pub fn for_backfill(&self) -> Self {
        self.with_read_priority(Priority::Backfill)
    }

    /// The flavor (Cloud or Data Center).
    pub fn flavor(&self) -> Flavor {
        self.settings.flavor
    }

    /// The kit client underneath.
    pub fn api(&self) -> &ApiClient {
        &self.api
    }

    /// The rate-limit budget, once a response has reported one.
    pub fn budget(&self) -> Option<BudgetSnapshot> {
        self.api.budget()
    }

    /// A path under the flavor's REST root.
    pub(crate) fn path(&self, rest: &str) -> String {
        format!("{}{rest}", self.settings.flavor.rest_root())
    }

    pub(crate) fn get(&self, rest: &str) -> ApiRequest {
        ApiRequest::get(self.path(rest)).priority(self.read_priority)
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

    /// A request's JSON body.
    pub(crate) async fn json(&self, request: ApiRequest) -> Result<Value, Error> {
        let response = self.api.send(request).await?;
        if response.body.is_empty() {
            return Ok(Value::Null);
        }
        Ok(response.json::<Value>()?)
    }

    /// The site's UTC offset for JQL dates: read once from `/serverInfo`'s `serverTime`
    /// (UTC when the site does not say).
    pub(crate) async fn site_offset(&self) -> FixedOffset {
        let cached = *self
            .settings
            .offset
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(offset) = cached {
            return offset;
        }
        let utc = Utc.fix();
        let read = self
            .json(self.get("/serverInfo").priority(self.read_priority))
            .await
            .ok()
            .and_then(|v| {
                v.get("serverTime")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .and_then(|t| DateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M:%S%.f%z").ok())
            .map(|t| *t.offset());
        let offset = read.unwrap_or(utc);
        *self
            .settings
            .offset
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(offset);
        offset
    }

    pub(crate) fn remember_comment(&self, comment: &str, issue: &str) {
        self.settings
            .comment_issues
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(comment.to_owned(), issue.to_owned());
    }

    pub(crate) fn known_comment_issue(&self, comment: &str) -> Option<String> {
        self.settings
            .comment_issues
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(comment)
            .cloned()
    }
}

/// When a failed call may be tried again, if Jira or the budget said.
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

/// Builds a [`JiraClient`]. Only the HTTP client and the site are required.
pub struct JiraClientBuilder {
    http: reqwest::Client,
    base_url: String,
    flavor: Option<Flavor>,
    auth: Option<JiraAuth>,
    binding: Option<BindingId>,
    org: Option<String>,
    cache: Option<Arc<dyn HttpCache>>,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
    rate_limits: Option<Arc<RateLimits>>,
    timeout: Duration,
    retry: Option<RetryPolicy>,
    budget: Option<BudgetPolicy>,
    jitter: Option<Jitter>,
    read_priority: Priority,
    issue_type: String,
    lookup_pages: u32,
    create_attempts: u32,
}

impl fmt::Debug for JiraClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JiraClientBuilder")
            .field("base_url", &self.base_url)
            .field("flavor", &self.flavor)
            .field("auth", &self.auth)
            .field("binding", &self.binding)
            .finish_non_exhaustive()
    }
}

impl JiraClientBuilder {
    fn new(http: reqwest::Client, base_url: String) -> Self {
        Self {
            http,
            base_url,
            flavor: None,
            auth: None,
            binding: None,
            org: None,
            cache: None,
            clock: Arc::new(SystemClock),
            sleeper: Arc::new(TokioSleeper),
            rate_limits: None,
            timeout: Duration::from_secs(30),
            retry: None,
            budget: None,
            jitter: None,
            read_priority: Priority::Hydrate,
            issue_type: "Task".to_owned(),
            lookup_pages: 3,
            create_attempts: 1,
        }
    }

    /// Cloud or Data Center. Default: from the base URL ([`Flavor::of_url`]).
    pub fn flavor(mut self, flavor: Flavor) -> Self {
        self.flavor = Some(flavor);
        self
    }

    /// How to authenticate. Without it requests are anonymous.
    pub fn auth(mut self, auth: JiraAuth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// The binding this client serves (named in spans).
    pub fn binding(mut self, binding: impl Into<BindingId>) -> Self {
        self.binding = Some(binding.into());
        self
    }

    /// The org (the site) the budget is narrowed to.
    pub fn org(mut self, org: impl Into<String>) -> Self {
        self.org = Some(org.into());
        self
    }

    /// Where conditional-read responses would be kept. Jira sends no ETags for the reads
    /// the adapter makes, so this only matters for proxies that add them.
    pub fn cache(mut self, cache: Arc<dyn HttpCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// The clock (budgets, waits). Default: the system clock.
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

    /// Attempts and backoff of each request. Default: the kit's.
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

    /// The priority of reads. Default [`Priority::Hydrate`].
    pub fn read_priority(mut self, priority: Priority) -> Self {
        self.read_priority = priority;
        self
    }

    /// The issue type new issues get (Jira requires one). Default `Task`.
    pub fn issue_type(mut self, name: impl Into<String>) -> Self {
        self.issue_type = name.into();
        self
    }

    /// How many pages (of 100, newest first) a lookup by intent key scans when the JQL
    /// property search finds nothing. Default 3.
    pub fn lookup_pages(mut self, pages: u32) -> Self {
        self.lookup_pages = pages.max(1);
        self
    }

    /// How many times one create call sends its `POST` when the outcome stays unknown and
    /// the lookup finds nothing. Default 1: the engine's next attempt looks again first.
    pub fn create_attempts(mut self, attempts: u32) -> Self {
        self.create_attempts = attempts.max(1);
        self
    }

    fn kit(&self, base: String, scope: RateLimitScope) -> ApiClientBuilder {
        let mut b = ApiClient::builder(self.http.clone(), PROVIDER, base)
            .scope(scope)
            .accept("application/json")
            .clock(self.clock.clone())
            .sleeper(self.sleeper.clone())
            .rate_limits(self.rate_limits.clone().unwrap_or_default())
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
        if let Some(binding) = &self.binding {
            b = b.binding(binding.clone());
        }
        if let Some(cache) = &self.cache {
            b = b.cache(cache.clone());
        }
        b
    }

    /// The client. Fails if the base URL is unusable.
    pub fn build(self) -> Result<JiraClient, Error> {
        let (detected, base) = Flavor::of_url(&self.base_url);
        let flavor = self.flavor.unwrap_or(detected);
        let account = self
            .auth
            .as_ref()
            .map_or_else(|| "anonymous".to_owned(), JiraAuth::account);
        let mut scope = RateLimitScope::new(PROVIDER, account);
        if let Some(org) = &self.org {
            scope = scope.org(org.clone());
        }
        let mut kit = self.kit(base, scope);
        if let Some(auth) = &self.auth {
            kit = kit.credentials(auth.credentials());
        }
        Ok(JiraClient {
            api: kit.build()?,
            read_priority: self.read_priority,
            settings: Arc::new(Settings {
                descriptor: crate::descriptor(),
                flavor,
                issue_type: self.issue_type,
                lookup_pages: self.lookup_pages,
                create_attempts: self.create_attempts,
                offset: Mutex::new(None),
                comment_issues: Mutex::new(HashMap::new()),
            }),
        })
    }
}

//! [`ApiClientBuilder`]: what a host injects into an [`ApiClient`] (its reqwest client,
//! clock, sleeper, store, budgets) and what it configures (base URL, credentials, headers,
//! timeouts, retries, reserves).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use kradle_sync_core::{BindingId, HttpCache, ProviderKind, RetryPolicy};
use reqwest::Url;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, USER_AGENT};

use crate::auth::Credentials;
use crate::client::{ApiClient, Inner};
use crate::error::HttpError;
use crate::ratelimit::{BudgetPolicy, RateLimitScope, RateLimits};
use crate::retry::Jitter;
use crate::time::{Clock, Sleeper, SystemClock, TokioSleeper};

/// The `User-Agent` sent unless the builder sets another.
pub const DEFAULT_USER_AGENT: &str = concat!("kradle-sync/", env!("CARGO_PKG_VERSION"));

/// A `reqwest::Client` with explicit connect and overall timeouts (10 s, 60 s), for hosts
/// that do not bring their own. Hosts that do keep control of TLS, proxies and pools.
pub fn default_http_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .user_agent(DEFAULT_USER_AGENT)
        .build()
}

/// Builds an [`ApiClient`]. Everything but the HTTP client, the provider and the base
/// URL has a default.
pub struct ApiClientBuilder {
    http: reqwest::Client,
    provider: ProviderKind,
    base_url: String,
    binding: Option<BindingId>,
    scope: Option<RateLimitScope>,
    credentials: Option<Arc<dyn Credentials>>,
    headers: Vec<(String, String)>,
    user_agent: String,
    accept: String,
    timeout: Duration,
    retry: RetryPolicy,
    budget: BudgetPolicy,
    rate_limits: Option<Arc<RateLimits>>,
    cache: Option<Arc<dyn HttpCache>>,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
    jitter: Jitter,
    default_resource: String,
    max_body_bytes: usize,
}

impl ApiClient {
    /// A builder for a client of `provider` at `base_url` (`https://api.github.com`, a
    /// GitHub Enterprise `https://HOST/api/v3`, a GitLab `https://HOST/api/v4`, a Jira site,
    /// a local test server) over the host's `http` client.
    pub fn builder(
        http: reqwest::Client,
        provider: impl Into<ProviderKind>,
        base_url: impl Into<String>,
    ) -> ApiClientBuilder {
        ApiClientBuilder::new(http, provider.into(), base_url.into())
    }
}

impl ApiClientBuilder {
    /// The binding this client serves (named in spans).
    pub fn binding(mut self, binding: impl Into<BindingId>) -> Self {
        self.binding = Some(binding.into());
        self
    }

    /// Whose rate-limit budget the client spends, and the account its ETag cache entries
    /// belong to. Defaults to (provider, `anonymous`).
    pub fn scope(mut self, scope: RateLimitScope) -> Self {
        self.scope = Some(scope);
        self
    }

    /// Where the `Authorization` header comes from. Without credentials requests are
    /// anonymous.
    pub fn credentials(mut self, credentials: Arc<dyn Credentials>) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// A header sent with every request (e.g. `X-GitHub-Api-Version`).
    pub fn default_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The `User-Agent` (GitHub rejects requests without one).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// The `Accept` header (`application/vnd.github+json` for GitHub). Default:
    /// `application/json`.
    pub fn accept(mut self, accept: impl Into<String>) -> Self {
        self.accept = accept.into();
        self
    }

    /// The timeout of each attempt, from sending to the end of the body. Default 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Attempts and backoff. Default: 5 attempts, 1 s base, 60 s cap.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Reserves of the priority classes and the longest wait.
    pub fn budget_policy(mut self, policy: BudgetPolicy) -> Self {
        self.budget = policy;
        self
    }

    /// The budgets shared with other clients of the same account. Default: a registry of
    /// this client's own.
    pub fn rate_limits(mut self, rate_limits: Arc<RateLimits>) -> Self {
        self.rate_limits = Some(rate_limits);
        self
    }

    /// Where ETags and the bodies they name are kept (a store implementing
    /// [`HttpCache`], or your own). Without one, reads are
    /// unconditional.
    pub fn cache(mut self, cache: Arc<dyn HttpCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// The clock. Default: the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The sleeper of every wait. Default: tokio's timer.
    pub fn sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// The jitter draw. Default: random.
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The budget a response without `x-ratelimit-resource` updates, and a request without
    /// [`ApiRequest::resource`](crate::ApiRequest::resource) spends. Default `core`.
    pub fn default_resource(mut self, resource: impl Into<String>) -> Self {
        self.default_resource = resource.into();
        self
    }

    /// The largest body read. Default 32 MiB.
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// The client.
    pub fn build(self) -> Result<ApiClient, HttpError> {
        let config = |message: String| HttpError::Config {
            provider: self.provider.clone(),
            message,
        };
        let base = Url::parse(&self.base_url)
            .map_err(|e| config(format!("base URL {:?}: {e}", self.base_url)))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(config(format!("base URL {base} is not an http(s) URL")));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(config(format!("base URL {base} has a query or fragment")));
        }
        let mut headers = HeaderMap::new();
        let value = |v: &str| {
            HeaderValue::try_from(v).map_err(|e| config(format!("header value {v:?}: {e}")))
        };
        headers.insert(USER_AGENT, value(&self.user_agent)?);
        headers.insert(ACCEPT, value(&self.accept)?);
        for (k, v) in &self.headers {
            let name = HeaderName::try_from(k.as_str())
                .map_err(|e| config(format!("header {k:?}: {e}")))?;
            let credential = self.credentials.as_ref().map(|c| c.header());
            if name == AUTHORIZATION || credential.as_ref() == Some(&name) {
                return Err(config(format!(
                    "set {name} through credentials, not as a default header: credentials are marked sensitive and scrubbed from messages"
                )));
            }
            headers.insert(name, value(v)?);
        }
        let scope = self
            .scope
            .clone()
            .unwrap_or_else(|| RateLimitScope::new(self.provider.clone(), "anonymous"));
        Ok(ApiClient {
            inner: Arc::new(Inner {
                base_path: base.path().trim_end_matches('/').to_owned(),
                http: self.http,
                binding_label: self
                    .binding
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), ToString::to_string),
                binding: self.binding,
                provider: self.provider,
                base,
                scope,
                credentials: self.credentials,
                headers,
                timeout: self.timeout,
                retry: self.retry,
                budget: self.budget,
                rate_limits: self.rate_limits.unwrap_or_default(),
                cache: self.cache,
                clock: self.clock,
                sleeper: self.sleeper,
                jitter: self.jitter,
                default_resource: self.default_resource,
                max_body_bytes: self.max_body_bytes,
                sequence: AtomicU64::new(0),
            }),
        })
    }
}

impl ApiClientBuilder {
    pub(crate) fn new(http: reqwest::Client, provider: ProviderKind, base_url: String) -> Self {
        Self {
            http,
            provider,
            base_url,
            binding: None,
            scope: None,
            credentials: None,
            headers: Vec::new(),
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            accept: "application/json".to_owned(),
            timeout: Duration::from_secs(30),
            retry: RetryPolicy {
                max_attempts: 5,
                base_delay: Duration::from_secs(1),
                max_delay: Duration::from_secs(60),
            },
            budget: BudgetPolicy::default(),
            rate_limits: None,
            cache: None,
            clock: Arc::new(SystemClock),
            sleeper: Arc::new(TokioSleeper),
            jitter: Jitter::Random,
            default_resource: "core".to_owned(),
            max_body_bytes: 32 * 1024 * 1024,
        }
    }
}

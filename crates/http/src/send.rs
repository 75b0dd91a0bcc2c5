//! The layers around one provider call, in order: budget admission (pause, wait or go),
//! credentials (one refresh after a `401`), `If-None-Match` from the ETag cache, the
//! timeout, the response's rate-limit headers into the budget, classification into a
//! success or a typed error, and retries through `backon` with full-jitter backoff that
//! honours `Retry-After` and rate-limit resets.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use backon::Retryable;
use chrono::{DateTime, Utc};
use kradle_sync_core::Secret;
use kradle_sync_core::store::CacheEntry;
use reqwest::header::{HeaderMap, HeaderValue, IF_NONE_MATCH};
use reqwest::{Method, StatusCode, Url};

use crate::cache;
use crate::client::ApiClient;
use crate::error::{HttpError, RequestInfo, TransportKind};
use crate::outcome::{mentions_rate_limit, provider_message, scrub};
use crate::ratelimit::{Admission, LowBudget, RateLimitHeaders};
use crate::request::{ApiRequest, ApiResponse};
use crate::retry::{Failed, FullJitter, RetryHint};
use crate::time::BackonSleeper;

/// What one `send` shares between its attempts.
struct Call<'a> {
    request: &'a ApiRequest,
    url: &'a Url,
    info: &'a RequestInfo,
    resource: &'a str,
    extra: &'a HeaderMap,
    cache_key: Option<String>,
    cached: Option<CacheEntry>,
    sent: AtomicU32,
}

impl ApiClient {
    pub(crate) async fn send_in_span(
        &self,
        request: &ApiRequest,
        url: &Url,
        info: &RequestInfo,
    ) -> Result<ApiResponse, HttpError> {
        let inner = &self.inner;
        let resource = request
            .resource
            .clone()
            .unwrap_or_else(|| inner.default_resource.clone());
        let extra = request
            .extra_headers()
            .map_err(|message| HttpError::Config {
                provider: inner.provider.clone(),
                message,
            })?;
        let cache_key =
            match &inner.cache {
                Some(_) if request.conditional && request.method == Method::GET => Some(
                    cache::key(request.method.as_str(), url.as_str(), &inner.scope.account),
                ),
                _ => None,
            };
        let cached = match (&inner.cache, &cache_key) {
            (Some(store), Some(key)) => match store.cache_get(key).await {
                Ok(entry) => entry,
                Err(e) => {
                    tracing::warn!(error = %e, "ETag cache read failed; reading unconditionally");
                    None
                }
            },
            _ => None,
        };
        let call = Call {
            request,
            url,
            info,
            resource: &resource,
            extra: &extra,
            cache_key,
            cached,
            sent: AtomicU32::new(0),
        };
        let seed = format!(
            "{} {} #{}",
            inner.scope,
            url,
            inner.sequence.fetch_add(1, Ordering::Relaxed)
        );
        let max_wait = inner.budget.max_wait;
        let result = (|| self.attempt(&call))
            .retry(FullJitter::new(inner.retry, inner.jitter, seed))
            .sleep(BackonSleeper(inner.sleeper.clone()))
            .when(|f: &Failed| f.retry.is_some())
            .adjust(|f: &Failed, backoff| f.delay(backoff, max_wait))
            .notify(|f: &Failed, wait: Duration| {
                tracing::warn!(
                    error = %f.error,
                    wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    "retrying"
                );
            })
            .await;
        let sent = call.sent.load(Ordering::Relaxed);
        let span = tracing::Span::current();
        span.record("attempts", sent);
        match result {
            Ok(response) => {
                span.record("status", response.status.as_u16());
                span.record("not_modified", response.not_modified);
                Ok(response)
            }
            Err(failed) => {
                let error = failed.error.with_attempts(sent);
                tracing::debug!(error = %error, "request failed");
                Err(error)
            }
        }
    }

    /// Holds a request back while the provider asked for a pause, or while its class's
    /// reserve is not met: waits through the sleeper, or returns `Paused`/`RateLimited`.
    async fn admit(&self, call: &Call<'_>) -> Result<(), HttpError> {
        let inner = &self.inner;
        let policy = &inner.budget;
        for _ in 0..3 {
            let now = inner.clock.now();
            let (until, low) = match inner.rate_limits.admit(
                &inner.scope,
                call.resource,
                call.request.priority,
                policy,
                now,
            ) {
                Admission::Go => return Ok(()),
                Admission::Blocked { until } => (until, None),
                Admission::Low { until, budget } => (until, Some(budget)),
            };
            let wait = (until - now).to_std().unwrap_or(Duration::ZERO);
            match low {
                Some(budget)
                    if policy.on_low_budget == LowBudget::Pause || wait > policy.max_wait =>
                {
                    return Err(HttpError::Paused {
                        request: call.info.clone(),
                        priority: call.request.priority,
                        until,
                        budget: Some(budget),
                    });
                }
                None if wait > policy.max_wait => {
                    return Err(HttpError::RateLimited {
                        request: call.info.clone(),
                        status: 0,
                        retry_at: Some(until),
                        attempts: 0,
                    });
                }
                _ => {
                    tracing::info!(
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        until = %until,
                        "waiting for the rate-limit budget"
                    );
                    inner.sleeper.sleep(wait).await;
                }
            }
        }
        Ok(())
    }

    async fn attempt(&self, call: &Call<'_>) -> Result<ApiResponse, Failed> {
        let inner = &self.inner;
        self.admit(call).await.map_err(Failed::fatal)?;
        let mut refreshed = false;
        loop {
            let auth = match &inner.credentials {
                Some(c) => Some((c.header(), c.authorization().await.map_err(Failed::fatal)?)),
                None => None,
            };
            let mut headers = inner.headers.clone();
            for name in call.extra.keys() {
                headers.remove(name);
            }
            for (name, value) in call.extra {
                headers.append(name.clone(), value.clone());
            }
            if let Some((name, secret)) = &auth {
                let mut value = HeaderValue::try_from(secret.expose()).map_err(|_| {
                    Failed::fatal(HttpError::Credentials {
                        provider: inner.provider.clone(),
                        message: format!("the {name} value is not a valid header value"),
                        retryable: false,
                        source: None,
                    })
                })?;
                value.set_sensitive(true);
                headers.insert(name.clone(), value);
            }
            if let Some(etag) = call
                .cached
                .as_ref()
                .and_then(|e| HeaderValue::try_from(e.etag.as_str()).ok())
            {
                headers.insert(IF_NONE_MATCH, etag);
            }
            let mut builder = inner
                .http
                .request(call.request.method.clone(), call.url.clone())
                .headers(headers)
                .timeout(call.request.timeout.unwrap_or(inner.timeout));
            if let Some(body) = &call.request.body {
                builder = builder.json(body);
            }
            let n = call.sent.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::debug!(attempt = n, conditional = call.cached.is_some(), "sending");
            let response = builder
                .send()
                .await
                .map_err(|e| self.transport_failure(call, e))?;
            let status = response.status();
            let headers = response.headers().clone();
            let url = response.url().clone();
            let now = inner.clock.now();
            let limits = RateLimitHeaders::parse(&headers, now);
            inner
                .rate_limits
                .observe(&inner.scope, call.resource, &limits, now);
            let body = self.read_body(call, response).await?;
            tracing::debug!(
                attempt = n,
                status = status.as_u16(),
                bytes = body.len(),
                "response"
            );
            if status == StatusCode::UNAUTHORIZED
                && !refreshed
                && let (Some(c), Some((_, sent))) = (&inner.credentials, &auth)
                && c.rejected(sent).await
            {
                refreshed = true;
                continue;
            }
            return self
                .outcome(
                    call,
                    status,
                    headers,
                    body,
                    url,
                    &limits,
                    now,
                    auth.as_ref().map(|(_, secret)| secret),
                )
                .await;
        }
    }

    async fn read_body(
        &self,
        call: &Call<'_>,
        mut response: reqwest::Response,
    ) -> Result<Vec<u8>, Failed> {
        let limit = self.inner.max_body_bytes;
        let too_large = || {
            Failed::fatal(HttpError::BodyTooLarge {
                request: call.info.clone(),
                limit,
            })
        };
        if response
            .content_length()
            .is_some_and(|len| len > limit as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_failure(call, e))?
        {
            if body.len().saturating_add(chunk.len()) > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// A timeout or connection error: retried when repeating is harmless (an idempotent
    /// request, or one that never left because the connection failed), otherwise the
    /// outcome is unknown.
    fn transport_failure(&self, call: &Call<'_>, err: reqwest::Error) -> Failed {
        let kind = if err.is_connect() {
            TransportKind::Connect
        } else if err.is_timeout() {
            TransportKind::Timeout
        } else {
            TransportKind::Other
        };
        let err = err.without_url();
        if kind == TransportKind::Connect || call.request.is_idempotent() {
            Failed {
                error: HttpError::Transport {
                    request: call.info.clone(),
                    kind,
                    attempts: 0,
                    source: err,
                },
                retry: Some(RetryHint::Backoff),
            }
        } else {
            Failed::fatal(HttpError::OutcomeUnknown {
                request: call.info.clone(),
                cause: kind.to_string(),
                source: Some(Box::new(err)),
            })
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn outcome(
        &self,
        call: &Call<'_>,
        status: StatusCode,
        headers: HeaderMap,
        body: Vec<u8>,
        url: Url,
        limits: &RateLimitHeaders,
        now: DateTime<Utc>,
        auth: Option<&Secret>,
    ) -> Result<ApiResponse, Failed> {
        let inner = &self.inner;
        let request = call.info.clone();
        if status.is_success() {
            if let (Some(store), Some(key), true) =
                (&inner.cache, &call.cache_key, status == StatusCode::OK)
                && let Some(entry) = cache::entry(&headers, &body)
                && let Err(e) = store.cache_put(key, entry).await
            {
                tracing::warn!(error = %e, "ETag cache write failed");
            }
            return Ok(ApiResponse {
                status,
                headers,
                body,
                url,
                not_modified: false,
                info: request,
            });
        }
        if status == StatusCode::NOT_MODIFIED {
            let Some(entry) = &call.cached else {
                return Err(Failed::fatal(HttpError::Client {
                    request,
                    status: status.as_u16(),
                    message: "304 Not Modified to a request that was not conditional".into(),
                }));
            };
            let (mut merged, cached_body) = cache::unframe(entry);
            for name in headers.keys() {
                merged.remove(name);
            }
            for (name, value) in &headers {
                merged.append(name.clone(), value.clone());
            }
            return Ok(ApiResponse {
                status,
                headers: merged,
                body: cached_body,
                url,
                not_modified: true,
                info: request,
            });
        }
        let message = scrub(
            &provider_message(&body)
                .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_owned()),
            auth,
        );
        let code = status.as_u16();
        let error = match code {
            401 => HttpError::Unauthorized { request, message },
            403 if limits.retry_after.is_some()
                || limits.remaining == Some(0)
                || mentions_rate_limit(&message) =>
            {
                return Err(self.rate_limited(call, code, limits, now));
            }
            429 => return Err(self.rate_limited(call, code, limits, now)),
            403 => HttpError::Forbidden { request, message },
            404 | 410 => HttpError::NotFound {
                request,
                status: code,
            },
            409 | 412 | 422 => HttpError::Precondition {
                request,
                status: code,
                message,
            },
            500..=599 if code != 501 && code != 505 => {
                if call.request.is_idempotent() {
                    return Err(Failed {
                        error: HttpError::Server {
                            request,
                            status: code,
                            attempts: 0,
                            message,
                        },
                        retry: Some(RetryHint::Backoff),
                    });
                }
                HttpError::OutcomeUnknown {
                    request,
                    cause: format!("server error {code}: {message}"),
                    source: None,
                }
            }
            _ => HttpError::Client {
                request,
                status: code,
                message,
            },
        };
        Err(Failed::fatal(error))
    }

    /// A `429`, or a `403` that is a rate limit: wait for `retry-after`; else, with no
    /// budget left, for the reset; else (a secondary limit without hints) a minute, as
    /// GitHub documents; a `429` without hints backs off. The wait blocks the budget for
    /// every request that spends it.
    fn rate_limited(
        &self,
        call: &Call<'_>,
        status: u16,
        limits: &RateLimitHeaders,
        now: DateTime<Utc>,
    ) -> Failed {
        let wait = limits
            .retry_after
            .or_else(|| {
                limits
                    .reset_at
                    .filter(|_| limits.remaining == Some(0))
                    .map(|reset| (reset - now).to_std().unwrap_or(Duration::ZERO))
            })
            .or((status == 403).then_some(Duration::from_secs(60)));
        let retry_at = wait.map(|w| later(now, w));
        if let Some(until) = retry_at {
            self.inner.rate_limits.block(
                &self.inner.scope,
                limits.resource.as_deref().unwrap_or(call.resource),
                until,
                now,
            );
        }
        tracing::info!(status, wait_s = wait.map(|w| w.as_secs()), "rate limited");
        Failed {
            error: HttpError::RateLimited {
                request: call.info.clone(),
                status,
                retry_at,
                attempts: 0,
            },
            retry: Some(wait.map_or(RetryHint::Backoff, RetryHint::After)),
        }
    }
}

/// `now + wait`, saturating instead of overflowing on an absurd wait.
fn later(now: DateTime<Utc>, wait: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(wait)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

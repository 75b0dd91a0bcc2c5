//! The one error type of the kit, and how it becomes a [`kradle_sync_core::Error`].

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kradle_sync_core::{BoxError, ProviderKind};

use crate::ratelimit::{BudgetSnapshot, Priority};

/// Which call failed: provider, method and path (never the query, headers or body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    /// Provider type.
    pub provider: ProviderKind,
    /// HTTP method.
    pub method: String,
    /// URL path, without the query.
    pub path: String,
}

impl fmt::Display for RequestInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.provider, self.method, self.path)
    }
}

/// How a request failed below HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// No response within the request's timeout.
    Timeout,
    /// The connection could not be opened; the request was certainly not sent.
    Connect,
    /// The connection broke while sending or receiving.
    Other,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Timeout => "timed out",
            TransportKind::Connect => "could not connect",
            TransportKind::Other => "connection failed",
        })
    }
}

/// Everything a provider call through the kit can end in. Messages name the call and say
/// what to do; they never contain a token (the kit also scrubs the credential it sent
/// from any text a provider echoes back).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The client was configured with something unusable.
    #[error("{provider} HTTP client misconfigured: {message}")]
    Config {
        /// Provider type.
        provider: ProviderKind,
        /// What is wrong.
        message: String,
    },
    /// A URL (a pagination cursor, an absolute request URL) points outside the binding's
    /// base URL; the kit refuses to send credentials there.
    #[error(
        "{provider} URL {url} is outside the base URL {base}; refusing to send credentials to it"
    )]
    ForeignUrl {
        /// Provider type.
        provider: ProviderKind,
        /// The refused URL.
        url: String,
        /// The binding's base URL.
        base: String,
    },
    /// The credentials could not produce an `Authorization` value.
    #[error("{provider} credentials unavailable: {message}")]
    Credentials {
        /// Provider type.
        provider: ProviderKind,
        /// What failed (never the secret).
        message: String,
        /// Whether trying again later may succeed (e.g. a token exchange that timed out).
        retryable: bool,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
    /// `401`: the provider did not accept the credentials. Not retried.
    #[error("{request}: authentication failed (401): {message}; check or rotate the token")]
    Unauthorized {
        /// The call.
        request: RequestInfo,
        /// The provider's message.
        message: String,
    },
    /// `403` that is not a rate limit: the credentials lack a permission.
    #[error("{request}: forbidden (403): {message}; grant the token the needed permission")]
    Forbidden {
        /// The call.
        request: RequestInfo,
        /// The provider's message.
        message: String,
    },
    /// `404`/`410`: the object does not exist, or the credentials cannot see it.
    #[error("{request}: not found ({status}); the object was deleted or is not visible")]
    NotFound {
        /// The call.
        request: RequestInfo,
        /// `404` or `410`.
        status: u16,
    },
    /// `409`/`412`/`422`: the provider refused a precondition of the write. Not retried;
    /// the engine turns it into a conflict record with this message.
    #[error("{request}: precondition failed ({status}): {message}")]
    Precondition {
        /// The call.
        request: RequestInfo,
        /// `409`, `412` or `422`.
        status: u16,
        /// The provider's message.
        message: String,
    },
    /// Another `4xx`: the request itself is wrong. Not retried.
    #[error("{request}: rejected ({status}): {message}")]
    Client {
        /// The call.
        request: RequestInfo,
        /// The status.
        status: u16,
        /// The provider's message.
        message: String,
    },
    /// A rate limit (`429`, or `403` with `retry-after` / exhausted budget / a secondary
    /// limit message) asked for a wait longer than the configured maximum, or persisted
    /// through every attempt. Retry at `retry_at`.
    #[error("{request}: rate limited ({status}) after {attempts} attempt(s); retry after {}", show_time(.retry_at))]
    RateLimited {
        /// The call.
        request: RequestInfo,
        /// `429` or `403` (or `0` when the kit held the request back before sending it).
        status: u16,
        /// When the provider allows the next request, if it said.
        retry_at: Option<DateTime<Utc>>,
        /// Attempts made.
        attempts: u32,
    },
    /// The rate-limit budget is below the reserve of this request's priority class: the
    /// request was not sent. Resume at `until` (the budget's reset).
    #[error("{request}: {priority} paused until {until}: rate-limit budget below its reserve")]
    Paused {
        /// The call.
        request: RequestInfo,
        /// The request's priority class.
        priority: Priority,
        /// When the budget resets.
        until: DateTime<Utc>,
        /// The budget that paused it.
        budget: Option<Box<BudgetSnapshot>>,
    },
    /// `5xx` on every attempt. Retryable later; dead-letter when the caller's bounded
    /// attempts are spent.
    #[error("{request}: server error ({status}) after {attempts} attempt(s): {message}")]
    Server {
        /// The call.
        request: RequestInfo,
        /// The last status.
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// The provider's message, if any.
        message: String,
    },
    /// Timeout or connection failure on every attempt.
    #[error("{request}: {kind} after {attempts} attempt(s)")]
    Transport {
        /// The call.
        request: RequestInfo,
        /// What went wrong.
        kind: TransportKind,
        /// Attempts made.
        attempts: u32,
        /// The underlying error (its URL removed).
        #[source]
        source: reqwest::Error,
    },
    /// A non-idempotent request (a create) was sent but no answer came back (timeout,
    /// `5xx`, connection reset): it may or may not have been applied. The kit does not
    /// retry it. Look for the write's idempotency marker first, then create again only if
    /// it is absent.
    #[error(
        "{request}: outcome unknown ({cause}); the write may have been applied: look for its idempotency marker before retrying"
    )]
    OutcomeUnknown {
        /// The call.
        request: RequestInfo,
        /// What happened (`timed out`, `server error 502`, …).
        cause: String,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// The body is not what the call expects (not JSON, no items array, …).
    #[error("{request}: unexpected response body: {message}")]
    Decode {
        /// The call.
        request: RequestInfo,
        /// What was wrong.
        message: String,
    },
    /// The body exceeds the configured limit.
    #[error("{request}: response body exceeds {limit} bytes; raise the limit or page smaller")]
    BodyTooLarge {
        /// The call.
        request: RequestInfo,
        /// The limit.
        limit: usize,
    },
    /// A paginated listing returned the cursor it was called with.
    #[error("{request}: pagination returned the same cursor twice ({cursor}); stopped")]
    PaginationLoop {
        /// The call.
        request: RequestInfo,
        /// The repeated cursor.
        cursor: String,
    },
}

fn show_time(t: &Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "a backoff".to_owned(), |t| t.to_rfc3339())
}

impl HttpError {
    /// Whether the same call may succeed later. `OutcomeUnknown` is retryable only after
    /// the caller has looked for the write's marker.
    pub fn is_retryable(&self) -> bool {
        match self {
            HttpError::RateLimited { .. }
            | HttpError::Paused { .. }
            | HttpError::Server { .. }
            | HttpError::Transport { .. }
            | HttpError::OutcomeUnknown { .. } => true,
            HttpError::Credentials { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// When to try again, if the provider (or the budget) said.
    pub fn retry_at(&self) -> Option<DateTime<Utc>> {
        match self {
            HttpError::RateLimited { retry_at, .. } => *retry_at,
            HttpError::Paused { until, .. } => Some(*until),
            _ => None,
        }
    }

    /// How long to wait from `now` before trying again, if known (for
    /// `WriteResult::Failed { retry_after }`).
    pub fn retry_after(&self, now: DateTime<Utc>) -> Option<Duration> {
        self.retry_at()
            .map(|t| (t - now).to_std().unwrap_or(Duration::ZERO))
    }

    /// Whether this is [`HttpError::OutcomeUnknown`].
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, HttpError::OutcomeUnknown { .. })
    }

    /// Whether this is [`HttpError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, HttpError::NotFound { .. })
    }

    /// The provider type of the failed call.
    pub fn provider(&self) -> &ProviderKind {
        match self {
            HttpError::Config { provider, .. }
            | HttpError::ForeignUrl { provider, .. }
            | HttpError::Credentials { provider, .. } => provider,
            HttpError::Unauthorized { request, .. }
            | HttpError::Forbidden { request, .. }
            | HttpError::NotFound { request, .. }
            | HttpError::Precondition { request, .. }
            | HttpError::Client { request, .. }
            | HttpError::RateLimited { request, .. }
            | HttpError::Paused { request, .. }
            | HttpError::Server { request, .. }
            | HttpError::Transport { request, .. }
            | HttpError::OutcomeUnknown { request, .. }
            | HttpError::Decode { request, .. }
            | HttpError::BodyTooLarge { request, .. }
            | HttpError::PaginationLoop { request, .. } => &request.provider,
        }
    }

    pub(crate) fn with_attempts(mut self, n: u32) -> Self {
        match &mut self {
            HttpError::RateLimited { attempts, .. }
            | HttpError::Server { attempts, .. }
            | HttpError::Transport { attempts, .. } => *attempts = n,
            _ => {}
        }
        self
    }
}

/// `Precondition` becomes [`Error::Precondition`](kradle_sync_core::Error::Precondition)
/// (a conflict record), `Decode` becomes `MalformedPayload`, everything else
/// `Error::Provider` with [`HttpError::is_retryable`] and this error as its source.
impl From<HttpError> for kradle_sync_core::Error {
    fn from(err: HttpError) -> Self {
        match err {
            HttpError::Precondition {
                request, message, ..
            } => kradle_sync_core::Error::Precondition {
                provider: request.provider,
                message,
            },
            HttpError::Decode { request, message } => kradle_sync_core::Error::MalformedPayload {
                provider: request.provider.clone(),
                reason: format!("{request}: {message}"),
            },
            other => kradle_sync_core::Error::Provider {
                provider: other.provider().clone(),
                message: other.to_string(),
                retryable: other.is_retryable(),
                source: Some(Box::new(other)),
            },
        }
    }
}

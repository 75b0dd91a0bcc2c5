//! Credentials: where the `Authorization` header value comes from.

use async_trait::async_trait;
use kradle_sync_core::Secret;

use crate::error::HttpError;

/// Produces the `Authorization` header value of each request. A static token is
/// [`StaticToken`]; a GitHub App installation token (exchanged from a JWT, cached until
/// shortly before expiry, refreshed one at a time) is another implementation.
///
/// The value never leaves the kit other than in that header, which is marked sensitive.
#[async_trait]
pub trait Credentials: Send + Sync {
    /// The full header value, scheme included (`Bearer …`, `token …`, `Basic …`).
    async fn authorization(&self) -> Result<Secret, HttpError>;

    /// Called after a `401`. Drop any cached token and return `true` if a fresh one may
    /// succeed: the kit then repeats the request once. The default (a static token)
    /// returns `false`, so a `401` is not retried.
    async fn invalidate(&self) -> bool {
        false
    }

    /// Called after a `401` with the `Authorization` value the provider rejected. Return
    /// `true` if a request repeated with a fresh value may succeed. Credentials that cache a
    /// token override this to drop the cached token only if it is still the rejected one:
    /// when several requests fail with the same token at once, the first refreshes it and
    /// the others repeat with the new one instead of refreshing again. The default calls
    /// [`invalidate`](Self::invalidate).
    async fn rejected(&self, authorization: &Secret) -> bool {
        let _ = authorization;
        self.invalidate().await
    }
}

/// A fixed token (a personal access token, a GitLab project token, a Jira API token).
///
/// ```
/// use kradle_http::StaticToken;
/// let t = StaticToken::bearer("ghp_example");
/// assert_eq!(format!("{t:?}"), "StaticToken { value: [redacted] }");
/// ```
#[derive(Debug, Clone)]
pub struct StaticToken {
    value: Secret,
}

impl StaticToken {
    /// `Authorization: Bearer <token>` (GitHub, GitLab, Jira Data Center PATs).
    pub fn bearer(token: impl Into<Secret>) -> Self {
        Self::with_scheme("Bearer", token)
    }

    /// `Authorization: <scheme> <token>` (e.g. GitHub's older `token` scheme).
    pub fn with_scheme(scheme: &str, token: impl Into<Secret>) -> Self {
        let token = token.into();
        Self {
            value: Secret::new(format!("{scheme} {}", token.expose())),
        }
    }

    /// The header value exactly as given (e.g. a precomputed `Basic …` for Jira Cloud).
    pub fn header_value(value: impl Into<Secret>) -> Self {
        Self {
            value: value.into(),
        }
    }
}

#[async_trait]
impl Credentials for StaticToken {
    async fn authorization(&self) -> Result<Secret, HttpError> {
        Ok(self.value.clone())
    }
}

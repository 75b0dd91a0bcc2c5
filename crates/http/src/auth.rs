//! Credentials: where the `Authorization` header value (or a provider's own credential
//! header, such as GitLab's `PRIVATE-TOKEN`) comes from.

use async_trait::async_trait;
use kradle_sync_core::Secret;
use reqwest::header::{AUTHORIZATION, HeaderName};

use crate::error::HttpError;

/// Produces the `Authorization` header value of each request. A static token is
/// [`StaticToken`]; a GitHub App installation token (exchanged from a JWT, cached until
/// shortly before expiry, refreshed one at a time) is another implementation.
///
/// The value never leaves the kit other than in that header, which is marked sensitive,
/// and is scrubbed from every message the kit logs or returns.
#[async_trait]
pub trait Credentials: Send + Sync {
    /// The full header value, scheme included (`Bearer …`, `token …`, `Basic …`).
    async fn authorization(&self) -> Result<Secret, HttpError>;

    /// The header the value is sent in: `Authorization` unless the provider names another
    /// (GitLab's `PRIVATE-TOKEN`).
    fn header(&self) -> HeaderName {
        AUTHORIZATION
    }

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
#[derive(Clone)]
pub struct StaticToken {
    value: Secret,
    header: HeaderName,
}

impl std::fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("StaticToken");
        d.field("value", &self.value);
        if self.header != AUTHORIZATION {
            d.field("header", &self.header);
        }
        d.finish()
    }
}

impl StaticToken {
    /// `Authorization: Bearer <token>` (GitHub, GitLab OAuth, Jira Data Center PATs).
    pub fn bearer(token: impl Into<Secret>) -> Self {
        Self::with_scheme("Bearer", token)
    }

    /// `Authorization: <scheme> <token>` (e.g. GitHub's older `token` scheme).
    pub fn with_scheme(scheme: &str, token: impl Into<Secret>) -> Self {
        let token = token.into();
        Self {
            value: Secret::new(format!("{scheme} {}", token.expose())),
            header: AUTHORIZATION,
        }
    }

    /// The header value exactly as given (e.g. a precomputed `Basic …` for Jira Cloud).
    pub fn header_value(value: impl Into<Secret>) -> Self {
        Self {
            value: value.into(),
            header: AUTHORIZATION,
        }
    }

    /// The token alone in a provider's own header (GitLab's `PRIVATE-TOKEN`), marked
    /// sensitive and scrubbed like `Authorization`.
    ///
    /// ```
    /// use kradle_http::StaticToken;
    /// use reqwest::header::HeaderName;
    /// let t = StaticToken::in_header(HeaderName::from_static("private-token"), "glpat-example");
    /// assert_eq!(format!("{t:?}"), "StaticToken { value: [redacted], header: \"private-token\" }");
    /// ```
    pub fn in_header(header: HeaderName, token: impl Into<Secret>) -> Self {
        Self {
            value: token.into(),
            header,
        }
    }
}

#[async_trait]
impl Credentials for StaticToken {
    async fn authorization(&self) -> Result<Secret, HttpError> {
        Ok(self.value.clone())
    }

    fn header(&self) -> HeaderName {
        self.header.clone()
    }
}

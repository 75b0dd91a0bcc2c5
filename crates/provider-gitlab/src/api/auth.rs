//! GitLab credentials: a personal, project or group access token, sent in GitLab's
//! `PRIVATE-TOKEN` header, or an OAuth 2.0 access token, sent as `Authorization: Bearer`.
//! The HTTP kit marks either header sensitive and scrubs the token from every message it
//! logs or returns.

use std::fmt;

use kradle_sync_core::Secret;
use sha2::{Digest, Sha256};

/// How the adapter authenticates to GitLab. The token inside is a [`Secret`]: it never shows
/// in `Debug` output, errors or logs.
///
/// ```
/// use kradle_provider_gitlab::GitlabAuth;
/// let auth = GitlabAuth::private_token("glpat-example");
/// assert_eq!(format!("{auth:?}"), "PrivateToken([redacted])");
/// assert!(auth.account().starts_with("token-"));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub enum GitlabAuth {
    /// A personal, project or group access token (`glpat-…`), sent as `PRIVATE-TOKEN`.
    PrivateToken(Secret),
    /// An OAuth 2.0 access token, sent as `Authorization: Bearer`.
    OAuth(Secret),
}

impl fmt::Debug for GitlabAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GitlabAuth::PrivateToken(_) => f.write_str("PrivateToken([redacted])"),
            GitlabAuth::OAuth(_) => f.write_str("OAuth([redacted])"),
        }
    }
}

impl GitlabAuth {
    /// A personal, project or group access token.
    pub fn private_token(token: impl Into<Secret>) -> Self {
        GitlabAuth::PrivateToken(token.into())
    }

    /// An OAuth 2.0 access token.
    pub fn oauth(token: impl Into<Secret>) -> Self {
        GitlabAuth::OAuth(token.into())
    }

    /// The kit's credentials: the header the token goes in, and the token.
    pub(crate) fn credentials(&self) -> kradle_http::StaticToken {
        match self {
            GitlabAuth::PrivateToken(token) => kradle_http::StaticToken::in_header(
                reqwest::header::HeaderName::from_static("private-token"),
                token.clone(),
            ),
            GitlabAuth::OAuth(token) => kradle_http::StaticToken::bearer(token.clone()),
        }
    }

    /// The token.
    pub(crate) fn secret(&self) -> &Secret {
        match self {
            GitlabAuth::PrivateToken(token) | GitlabAuth::OAuth(token) => token,
        }
    }

    /// The account the rate-limit budget and the ETag cache are kept under: a short digest
    /// of the token (`token-<12 hex>` or `oauth-<12 hex>`), which names it without
    /// revealing it.
    pub fn account(&self) -> String {
        let digest = hex::encode(Sha256::digest(self.secret().expose().as_bytes()));
        let short = digest.get(..12).unwrap_or_default();
        match self {
            GitlabAuth::PrivateToken(_) => format!("token-{short}"),
            GitlabAuth::OAuth(_) => format!("oauth-{short}"),
        }
    }
}

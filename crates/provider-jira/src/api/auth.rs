//! Jira credentials: a Cloud API token (basic auth with the account's e-mail), an OAuth 2.0
//! (3LO) access token, or a Data Center personal access token. Every secret stays in a
//! [`Secret`]: never in `Debug` output, errors or logs.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kradle_http::{Credentials, StaticToken};
use kradle_sync_core::Secret;
use sha2::{Digest, Sha256};

/// How the adapter authenticates to Jira.
///
/// ```
/// use kradle_provider_jira::JiraAuth;
/// let auth = JiraAuth::basic("me@example.com", "ATATT3xFfGF0-example");
/// assert!(!format!("{auth:?}").contains("ATATT3x"));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub enum JiraAuth {
    /// Jira Cloud: the account's e-mail address and an API token, sent as HTTP basic auth.
    Basic {
        /// The account's e-mail address.
        email: String,
        /// The API token.
        token: Secret,
    },
    /// An OAuth 2.0 (3LO) access token, sent as `Bearer`; the base URL is then
    /// `https://api.atlassian.com/ex/jira/{cloudId}`.
    OAuth(Secret),
    /// A Jira Data Center personal access token, sent as `Bearer`.
    Token(Secret),
}

impl fmt::Debug for JiraAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JiraAuth::Basic { email, .. } => f
                .debug_struct("Basic")
                .field("email", email)
                .field("token", &"[redacted]")
                .finish(),
            JiraAuth::OAuth(_) => f.write_str("OAuth([redacted])"),
            JiraAuth::Token(_) => f.write_str("Token([redacted])"),
        }
    }
}

impl JiraAuth {
    /// A Jira Cloud API token of the account with this e-mail address.
    pub fn basic(email: impl Into<String>, token: impl Into<Secret>) -> Self {
        JiraAuth::Basic {
            email: email.into(),
            token: token.into(),
        }
    }

    /// An OAuth 2.0 access token.
    pub fn oauth(token: impl Into<Secret>) -> Self {
        JiraAuth::OAuth(token.into())
    }

    /// A Data Center personal access token.
    pub fn token(token: impl Into<Secret>) -> Self {
        JiraAuth::Token(token.into())
    }

    /// The account the rate-limit budget is kept under: a short digest of the credential
    /// (`basic-…`, `oauth-…`, `token-…`), which names it without revealing it.
    pub fn account(&self) -> String {
        let (kind, material) = match self {
            JiraAuth::Basic { email, token } => ("basic", format!("{email}:{}", token.expose())),
            JiraAuth::OAuth(token) => ("oauth", token.expose().to_owned()),
            JiraAuth::Token(token) => ("token", token.expose().to_owned()),
        };
        let digest = hex::encode(Sha256::digest(material.as_bytes()));
        format!("{kind}-{}", digest.get(..12).unwrap_or_default())
    }

    /// The credentials the HTTP kit sends (`Authorization: Basic …` or `Bearer …`).
    pub(crate) fn credentials(&self) -> Arc<dyn Credentials> {
        match self {
            JiraAuth::Basic { email, token } => {
                let encoded = STANDARD.encode(format!("{email}:{}", token.expose()));
                Arc::new(StaticToken::header_value(Secret::new(format!(
                    "Basic {encoded}"
                ))))
            }
            JiraAuth::OAuth(token) | JiraAuth::Token(token) => {
                Arc::new(StaticToken::bearer(token.clone()))
            }
        }
    }
}

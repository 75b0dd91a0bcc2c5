//! GitHub credentials: a personal access token, or a GitHub App installation whose
//! short-lived token is exchanged from an RS256 JWT, cached until shortly before it
//! expires, and refreshed by one caller at a time.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kradle_http::{ApiClient, ApiRequest, Clock, Credentials, HttpError, Priority};
use kradle_sync_core::{ProviderKind, Secret};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::PROVIDER;

/// How the adapter authenticates to GitHub. The secrets inside are [`Secret`]s: they never
/// show in `Debug` output, errors or logs.
#[derive(Clone)]
pub enum GithubAuth {
    /// A personal access token (classic or fine-grained), sent as `Bearer`.
    Token(Secret),
    /// A GitHub App installation.
    App(GithubApp),
}

impl fmt::Debug for GithubAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GithubAuth::Token(_) => f.write_str("Token([redacted])"),
            GithubAuth::App(app) => f.debug_tuple("App").field(app).finish(),
        }
    }
}

impl GithubAuth {
    /// A personal access token.
    pub fn token(token: impl Into<Secret>) -> Self {
        GithubAuth::Token(token.into())
    }

    /// A GitHub App installation.
    pub fn app(app: GithubApp) -> Self {
        GithubAuth::App(app)
    }

    /// The account the rate-limit budget and the ETag cache are kept under: the
    /// installation (`installation-<id>`), or for a token a short digest of it
    /// (`token-<12 hex>`), which names it without revealing it.
    pub fn account(&self) -> String {
        match self {
            GithubAuth::Token(token) => {
                let digest = Sha256::digest(token.expose().as_bytes());
                format!(
                    "token-{}",
                    hex::encode(digest).get(..12).unwrap_or_default()
                )
            }
            GithubAuth::App(app) => format!("installation-{}", app.installation_id),
        }
    }
}

/// A GitHub App installation: the app's id, its PEM private key and the installation id.
///
/// ```
/// use kradle_provider_github::api::GithubApp;
/// let app = GithubApp::new("12345", "-----BEGIN RSA PRIVATE KEY-----\n…", 42);
/// assert!(!format!("{app:?}").contains("PRIVATE KEY"));
/// ```
#[derive(Clone)]
pub struct GithubApp {
    app_id: String,
    private_key: Secret,
    installation_id: u64,
    refresh_before: Duration,
}

impl fmt::Debug for GithubApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubApp")
            .field("app_id", &self.app_id)
            .field("private_key", &self.private_key)
            .field("installation_id", &self.installation_id)
            .finish()
    }
}

impl GithubApp {
    /// An app by its id (or client id: GitHub accepts either as the JWT's issuer), its
    /// private key (PEM, PKCS#1 or PKCS#8, as GitHub hands it out) and the installation id.
    pub fn new(
        app_id: impl Into<String>,
        private_key: impl Into<Secret>,
        installation_id: u64,
    ) -> Self {
        Self {
            app_id: app_id.into(),
            private_key: private_key.into(),
            installation_id,
            refresh_before: Duration::from_secs(5 * 60),
        }
    }

    /// How long before `expires_at` a cached installation token is replaced. Default 5
    /// minutes (tokens live an hour).
    pub fn refresh_before(mut self, margin: Duration) -> Self {
        self.refresh_before = margin;
        self
    }

    /// The installation id.
    pub fn installation_id(&self) -> u64 {
        self.installation_id
    }

    /// The app's id.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }
}

fn provider() -> ProviderKind {
    ProviderKind::new(PROVIDER)
}

fn credentials_error(message: impl Into<String>, retryable: bool) -> HttpError {
    HttpError::Credentials {
        provider: provider(),
        message: message.into(),
        retryable,
        source: None,
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iat: i64,
    exp: i64,
    iss: &'a str,
}

/// The app's JWT (RS256; issued 60 s in the past against clock drift, valid 9 minutes,
/// under GitHub's 10-minute limit). Signed fresh for each exchange.
struct AppJwt {
    app_id: String,
    key: jsonwebtoken::EncodingKey,
    clock: Arc<dyn Clock>,
}

impl AppJwt {
    fn new(app: &GithubApp, clock: Arc<dyn Clock>) -> Result<Self, HttpError> {
        // Selects the backend the crate's features name for this process, unless the host
        // installed one first.
        #[cfg(feature = "jwt-aws-lc-rs")]
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
        #[cfg(all(feature = "jwt-rust-crypto", not(feature = "jwt-aws-lc-rs")))]
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(app.private_key.expose().as_bytes())
            .map_err(|e| {
                credentials_error(
                    format!(
                        "the GitHub App private key is not an RSA key in PEM form ({}); use the .pem file GitHub generated for app {}",
                        e.kind_name(),
                        app.app_id
                    ),
                    false,
                )
            })?;
        Ok(Self {
            app_id: app.app_id.clone(),
            key,
            clock,
        })
    }

    fn sign(&self) -> Result<Secret, HttpError> {
        let now = self.clock.now().timestamp();
        let claims = Claims {
            iat: now - 60,
            exp: now + 9 * 60,
            iss: &self.app_id,
        };
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map(|jwt| Secret::new(format!("Bearer {jwt}")))
            .map_err(|e| {
                credentials_error(
                    format!("signing the GitHub App JWT failed ({})", e.kind_name()),
                    false,
                )
            })
    }
}

trait KindName {
    fn kind_name(&self) -> String;
}

impl KindName for jsonwebtoken::errors::Error {
    /// The error's kind without any key material.
    fn kind_name(&self) -> String {
        let debug = format!("{:?}", self.kind());
        debug
            .split(|c: char| !c.is_ascii_alphanumeric())
            .next()
            .unwrap_or("error")
            .to_owned()
    }
}

#[async_trait]
impl Credentials for AppJwt {
    async fn authorization(&self) -> Result<Secret, HttpError> {
        self.sign()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    token: Secret,
    expires_at: DateTime<Utc>,
}

#[derive(Clone)]
struct Cached {
    authorization: Secret,
    expires_at: DateTime<Utc>,
}

/// [`Credentials`] of a GitHub App installation: `Bearer <installation token>`, exchanged
/// at `POST /app/installations/{id}/access_tokens` with the app's JWT, cached until
/// `refresh_before` ahead of its `expires_at`. Concurrent callers share one exchange (they
/// wait on one lock while it runs), and a `401` drops the rejected token so the request is
/// repeated once with a fresh one.
pub struct InstallationToken {
    exchange: ApiClient,
    installation_id: u64,
    refresh_before: chrono::Duration,
    clock: Arc<dyn Clock>,
    cached: tokio::sync::Mutex<Option<Cached>>,
    exchanges: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for InstallationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstallationToken")
            .field("installation_id", &self.installation_id)
            .field("token", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl InstallationToken {
    /// Credentials of `app`, exchanging through `exchange`: a client of the same GitHub
    /// (base URL, HTTP client, clock, sleeper) *without* credentials of its own; the app's
    /// JWT is set here.
    pub(crate) fn new(
        app: &GithubApp,
        exchange: kradle_http::ApiClientBuilder,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, HttpError> {
        let jwt = AppJwt::new(app, clock.clone())?;
        let exchange = exchange.credentials(Arc::new(jwt)).build()?;
        Ok(Self {
            exchange,
            installation_id: app.installation_id,
            refresh_before: chrono::Duration::from_std(app.refresh_before)
                .unwrap_or(chrono::Duration::minutes(5)),
            clock,
            cached: tokio::sync::Mutex::new(None),
            exchanges: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// How many token exchanges this credential has made (for metrics and tests).
    pub fn exchanges(&self) -> u64 {
        self.exchanges.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// When the cached token expires, if one is cached.
    pub async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.cached.lock().await.as_ref().map(|c| c.expires_at)
    }

    async fn exchange(&self) -> Result<Cached, HttpError> {
        self.exchanges
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let request = ApiRequest::post(format!(
            "/app/installations/{}/access_tokens",
            self.installation_id
        ))
        .priority(Priority::Write)
        // Another token is harmless: an exchange that timed out may be repeated.
        .idempotent(true);
        let response = self.exchange.send(request).await.map_err(|e| {
            let retryable = e.is_retryable();
            HttpError::Credentials {
                provider: provider(),
                message: format!(
                    "exchanging the app JWT for an installation token of installation {} failed; check the app id, its private key and that the app is installed",
                    self.installation_id
                ),
                retryable,
                source: Some(Box::new(e)),
            }
        })?;
        // Never surface serde's message here: it could quote the token.
        let parsed: TokenResponse = serde_json::from_slice(&response.body).map_err(|_| {
            credentials_error(
                "the installation token response has no `token` and `expires_at`",
                false,
            )
        })?;
        tracing::debug!(
            installation = self.installation_id,
            expires_at = %parsed.expires_at,
            "installation token refreshed"
        );
        Ok(Cached {
            authorization: Secret::new(format!("Bearer {}", parsed.token.expose())),
            expires_at: parsed.expires_at,
        })
    }

    fn fresh(&self, cached: &Cached) -> bool {
        self.clock.now() + self.refresh_before < cached.expires_at
    }
}

#[async_trait]
impl Credentials for InstallationToken {
    async fn authorization(&self) -> Result<Secret, HttpError> {
        // Held across the exchange: concurrent callers wait for the one refresh.
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| self.fresh(c)) {
            return Ok(c.authorization.clone());
        }
        let fresh = self.exchange().await?;
        let authorization = fresh.authorization.clone();
        *cached = Some(fresh);
        Ok(authorization)
    }

    async fn invalidate(&self) -> bool {
        *self.cached.lock().await = None;
        true
    }

    async fn rejected(&self, authorization: &Secret) -> bool {
        let mut cached = self.cached.lock().await;
        if cached
            .as_ref()
            .is_some_and(|c| c.authorization == *authorization)
        {
            *cached = None;
        }
        true
    }
}

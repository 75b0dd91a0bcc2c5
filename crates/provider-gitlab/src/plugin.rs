//! GitLab as a provider plugin: what a registry needs to receive GitLab webhooks and to
//! reach GitLab's API for a binding.

use std::sync::{Arc, OnceLock};

use kradle_sync_core::{
    ConnectOptions, Credentials, Error, ExternalTarget, Headers, Provider, ProviderDescriptor,
    ProviderPlugin, ReadPurpose, WebhookAdapter, WebhookRequest,
};
use sha2::{Digest, Sha256};

use crate::api::{DEFAULT_API_URL, GitlabAuth, GitlabClient};
use crate::token::{EVENT_HEADER, IDEMPOTENCY_HEADER};
use crate::{GitlabHook, GitlabWebhooks, PROVIDER};

/// The `gitlab` provider type for a [`ProviderRegistry`](kradle_sync_core::ProviderRegistry):
/// its descriptor, [`GitlabWebhooks`], and [`GitlabClient`]s built from a binding's API URL
/// (GitLab.com or a self-managed instance) and credentials (an access token or an OAuth
/// token).
///
/// ```
/// use std::sync::Arc;
/// use kradle_provider_gitlab::GitlabPlugin;
/// use kradle_sync_core::{ConnectOptions, Credentials, ExternalTarget, ProviderKind,
///     ProviderRegistry, Secret};
///
/// let registry = ProviderRegistry::new().with(Arc::new(GitlabPlugin::new()));
/// let plugin = registry.plugin(&ProviderKind::new("gitlab"))?;
/// plugin.validate_target(&ExternalTarget::from_path("group/sub/project"))?;
/// let client = plugin.connect(
///     ConnectOptions::new(ExternalTarget::from_path("group/sub/project"))
///         .with_api_url("https://gitlab.example.com")
///         .with_credentials(Credentials::Token(Secret::new("glpat-example"))),
/// )?;
/// assert!(client.git_forge().is_some());
/// # Ok::<(), kradle_sync_core::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct GitlabPlugin {
    http: Option<reqwest::Client>,
    shared: Arc<OnceLock<reqwest::Client>>,
}

impl std::fmt::Debug for GitlabPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitlabPlugin")
            .field("host_http_client", &self.http.is_some())
            .finish()
    }
}

impl GitlabPlugin {
    /// The plugin; clients it connects share one HTTP client made on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// The plugin with the host's HTTP client (its pool, proxy and TLS settings).
    pub fn with_http_client(http: reqwest::Client) -> Self {
        Self {
            http: Some(http),
            shared: Arc::default(),
        }
    }

    fn http(&self) -> Result<reqwest::Client, Error> {
        if let Some(http) = &self.http {
            return Ok(http.clone());
        }
        if let Some(http) = self.shared.get() {
            return Ok(http.clone());
        }
        let http = kradle_http::default_http_client().map_err(|e| Error::Provider {
            provider: PROVIDER.into(),
            message: format!("cannot set up the HTTP client: {e}"),
            retryable: false,
            source: None,
        })?;
        Ok(self.shared.get_or_init(|| http).clone())
    }
}

impl ProviderPlugin for GitlabPlugin {
    fn descriptor(&self) -> &ProviderDescriptor {
        GitlabWebhooks::new().descriptor_static()
    }

    fn webhooks(&self) -> Arc<dyn WebhookAdapter> {
        Arc::new(GitlabWebhooks::new())
    }

    /// A [`GitlabClient`]: `api_url` as given (`https://gitlab.example.com` or
    /// `…/api/v4`), or GitLab.com; a `Token` (personal, project or group access token) goes
    /// in `PRIVATE-TOKEN`, an `OAuth` token in `Authorization: Bearer` (see
    /// [`GitlabAuth`]); the org (or the target's top-level group) narrows the budget;
    /// `ReadPurpose::Backfill` makes reads backfill priority.
    fn connect(&self, options: ConnectOptions) -> Result<Arc<dyn Provider>, Error> {
        let auth = match options.credentials {
            Credentials::None => None,
            Credentials::Token(token) => Some(GitlabAuth::private_token(token)),
            Credentials::OAuth(token) => Some(GitlabAuth::oauth(token)),
            other => {
                return Err(Error::Validation {
                    rule: "credentials-supported",
                    detail: format!(
                        "GitLab does not accept {} credentials; give a personal, project or \
                         group access token (token_env) or an OAuth token (token_type = \
                         \"oauth\")",
                        other
                            .mode()
                            .map(|m| format!("{m:?}"))
                            .unwrap_or_else(|| "these".to_owned())
                    ),
                });
            }
        };
        let mut builder = GitlabClient::builder(self.http()?).base_url(
            options
                .api_url
                .unwrap_or_else(|| DEFAULT_API_URL.to_owned()),
        );
        if let Some(auth) = auth {
            builder = builder.auth(auth);
        }
        if let Some(binding) = options.binding {
            builder = builder.binding(binding);
        }
        let org = options
            .org
            .map(|o| o.to_string())
            .unwrap_or_else(|| options.target.top_level().to_owned());
        builder = builder.org(org);
        if let Some(cache) = options.cache {
            builder = builder.cache(cache);
        }
        if let Some(retry) = options.retry {
            builder = builder.retry(retry);
        }
        let client = builder.build()?;
        let client = match options.purpose {
            ReadPurpose::Backfill => client.for_backfill(),
            _ => client,
        };
        Ok(Arc::new(client))
    }

    /// A GitLab project is `group/…/project`: a top-level group, any depth of subgroups,
    /// and the project, each segment of letters, digits, `_`, `-` and `.`.
    fn validate_target(&self, target: &ExternalTarget) -> Result<(), Error> {
        crate::api::project_path_of(target)
            .map(|_| ())
            .map_err(|_| Error::Validation {
                rule: "target-shape",
                detail: format!(
                    "a GitLab project is named GROUP/…/PROJECT by its path_with_namespace (e.g. \
                 gitlab-org/gitlab or group/sub/project), not `{}`",
                    target.path
                ),
            })
    }

    /// `X-Gitlab-Event` from `event` (a header value such as `Issue Hook`, or an
    /// `object_kind` such as `issue`) or from the body's `object_kind`, and an
    /// `Idempotency-Key` derived from the body.
    fn unsigned_request(
        &self,
        event: Option<&str>,
        body: Vec<u8>,
    ) -> Result<WebhookRequest, Error> {
        let unknown = || Error::Validation {
            rule: "event-known",
            detail: "cannot tell the GitLab hook from the payload; pass the X-Gitlab-Event \
                     header's value (--event \"Issue Hook\")"
                .into(),
        };
        let hook = match event {
            Some(event) => match GitlabHook::from_object_kind(event.trim()) {
                Some(hook) => hook.header().unwrap_or(event).to_owned(),
                None => event.to_owned(),
            },
            None => serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .as_ref()
                .and_then(GitlabHook::guess)
                .and_then(GitlabHook::header)
                .map(str::to_owned)
                .ok_or_else(unknown)?,
        };
        let digest = hex::encode(Sha256::digest(&body));
        let headers = Headers::from_pairs([
            (EVENT_HEADER.to_owned(), hook),
            (
                IDEMPOTENCY_HEADER.to_owned(),
                format!("normalize-{}", digest.get(..16).unwrap_or("")),
            ),
        ]);
        Ok(WebhookRequest::new(headers, body))
    }
}

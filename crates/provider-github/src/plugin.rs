//! GitHub as a provider plugin: what a registry needs to receive GitHub webhooks and to
//! reach GitHub's API for a binding.

use std::sync::{Arc, OnceLock};

use kradle_sync_core::{
    ConnectOptions, Credentials, DeliveryId, Error, ExternalTarget, Headers, Provider,
    ProviderDescriptor, ProviderPlugin, ReadPurpose, WebhookAdapter, WebhookRequest,
};
use sha2::{Digest, Sha256};

use crate::api::{DEFAULT_API_URL, GithubApp, GithubAuth, GithubClient};
use crate::signature::{DELIVERY_HEADER, EVENT_HEADER};
use crate::{GithubEvent, GithubWebhooks, PROVIDER};

/// The `github` provider type for a [`ProviderRegistry`](kradle_sync_core::ProviderRegistry):
/// its descriptor, [`GithubWebhooks`], and [`GithubClient`]s built from a binding's API URL
/// (github.com or GitHub Enterprise Server) and credentials (a token, or a GitHub App
/// installation).
///
/// ```
/// use std::sync::Arc;
/// use kradle_provider_github::GithubPlugin;
/// use kradle_sync_core::{ConnectOptions, Credentials, ExternalTarget, ProviderKind,
///     ProviderRegistry, Secret};
///
/// let registry = ProviderRegistry::new().with(Arc::new(GithubPlugin::new()));
/// let plugin = registry.plugin(&ProviderKind::new("github"))?;
/// let client = plugin.connect(
///     ConnectOptions::new(ExternalTarget::from_path("octo/repo"))
///         .with_credentials(Credentials::Token(Secret::new("ghp_example"))),
/// )?;
/// assert!(client.issue_tracking().is_some());
/// # Ok::<(), kradle_sync_core::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct GithubPlugin {
    http: Option<reqwest::Client>,
    shared: Arc<OnceLock<reqwest::Client>>,
}

impl std::fmt::Debug for GithubPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubPlugin")
            .field("host_http_client", &self.http.is_some())
            .finish()
    }
}

impl GithubPlugin {
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

impl ProviderPlugin for GithubPlugin {
    fn descriptor(&self) -> &ProviderDescriptor {
        GithubWebhooks::new().descriptor_static()
    }

    fn webhooks(&self) -> Arc<dyn WebhookAdapter> {
        Arc::new(GithubWebhooks::new())
    }

    fn connect(&self, options: ConnectOptions) -> Result<Arc<dyn Provider>, Error> {
        let auth = match options.credentials {
            Credentials::None => None,
            Credentials::Token(token) | Credentials::OAuth(token) => Some(GithubAuth::token(token)),
            Credentials::App {
                app_id,
                installation_id,
                private_key,
            } => Some(GithubAuth::app(GithubApp::new(
                app_id,
                private_key,
                installation_id,
            ))),
            Credentials::Basic { .. } => {
                return Err(Error::Validation {
                    rule: "credentials-supported",
                    detail: "GitHub does not accept a user name and password; give a token \
                             (token_env) or a GitHub App (app_id, installation_id, \
                             private_key_file)"
                        .into(),
                });
            }
            other => {
                return Err(Error::Validation {
                    rule: "credentials-supported",
                    detail: format!(
                        "GitHub does not accept {:?} credentials; give a token or a GitHub App",
                        other.mode()
                    ),
                });
            }
        };
        let mut builder = GithubClient::builder(self.http()?).base_url(
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
            .or_else(|| options.target.owner.clone());
        if let Some(org) = org {
            builder = builder.org(org);
        }
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

    fn validate_target(&self, target: &ExternalTarget) -> Result<(), Error> {
        match target.path.split_once('/') {
            Some((owner, name))
                if !owner.trim().is_empty() && !name.trim().is_empty() && !name.contains('/') =>
            {
                Ok(())
            }
            _ => Err(Error::Validation {
                rule: "target-shape",
                detail: format!(
                    "a GitHub repository is named OWNER/NAME (e.g. octocat/Hello-World), not `{}`",
                    target.path
                ),
            }),
        }
    }

    fn unsigned_request(
        &self,
        event: Option<&str>,
        body: Vec<u8>,
    ) -> Result<WebhookRequest, Error> {
        let event = match event {
            Some(event) => event.to_owned(),
            None => serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .as_ref()
                .and_then(GithubEvent::guess)
                .and_then(GithubEvent::as_str)
                .map(str::to_owned)
                .ok_or_else(|| Error::Validation {
                    rule: "event-known",
                    detail: "cannot tell the GitHub event from the payload; pass the \
                             X-GitHub-Event header's value (--event)"
                        .into(),
                })?,
        };
        let digest = hex::encode(Sha256::digest(&body));
        let delivery = DeliveryId::new(format!("normalize-{}", digest.get(..16).unwrap_or("")));
        let headers = Headers::from_pairs([
            (EVENT_HEADER, event),
            (DELIVERY_HEADER, delivery.to_string()),
        ]);
        Ok(WebhookRequest::new(headers, body))
    }
}

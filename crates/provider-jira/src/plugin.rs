//! Jira as a provider plugin: what a registry needs to receive Jira webhooks and to reach a
//! Jira site's API for a binding.

use std::sync::{Arc, OnceLock};

use kradle_sync_core::{
    ConnectOptions, Credentials, Error, ExternalTarget, Headers, Provider, ProviderDescriptor,
    ProviderPlugin, ReadPurpose, WebhookAdapter, WebhookRequest,
};
use sha2::{Digest, Sha256};

use crate::api::{JiraAuth, JiraClient, convert_target};
use crate::signature::DELIVERY_HEADER;
use crate::{JiraWebhooks, PROVIDER};

/// The `jira` provider type for a [`ProviderRegistry`](kradle_sync_core::ProviderRegistry):
/// its descriptor, [`JiraWebhooks`], and [`JiraClient`]s built from a binding's API URL (a
/// site has no default: it must be given) and credentials (basic auth with an API token,
/// an OAuth 2.0 token, or a Data Center personal access token).
///
/// ```
/// use std::sync::Arc;
/// use kradle_provider_jira::JiraPlugin;
/// use kradle_sync_core::{ConnectOptions, Credentials, ExternalTarget, ProviderKind,
///     ProviderRegistry, Secret};
///
/// let registry = ProviderRegistry::new().with(Arc::new(JiraPlugin::new()));
/// let plugin = registry.plugin(&ProviderKind::new("jira"))?;
/// let target = ExternalTarget::from_path("example.atlassian.net/KRADLE");
/// plugin.validate_target(&target)?;
/// let client = plugin.connect(
///     ConnectOptions::new(target)
///         .with_api_url("https://example.atlassian.net")
///         .with_credentials(Credentials::Basic {
///             username: "me@example.com".into(),
///             token: Secret::new("api-token"),
///         }),
/// )?;
/// assert!(client.issue_tracking().is_some());
/// assert!(client.cicd().is_none() && client.git_forge().is_none());
/// # Ok::<(), kradle_sync_core::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct JiraPlugin {
    http: Option<reqwest::Client>,
    shared: Arc<OnceLock<reqwest::Client>>,
}

impl std::fmt::Debug for JiraPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JiraPlugin")
            .field("host_http_client", &self.http.is_some())
            .finish()
    }
}

impl JiraPlugin {
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

impl ProviderPlugin for JiraPlugin {
    fn descriptor(&self) -> &ProviderDescriptor {
        JiraWebhooks::new().descriptor_static()
    }

    fn webhooks(&self) -> Arc<dyn WebhookAdapter> {
        Arc::new(JiraWebhooks::new())
    }

    fn connect(&self, options: ConnectOptions) -> Result<Arc<dyn Provider>, Error> {
        let api_url = options.api_url.clone().ok_or_else(|| Error::Validation {
            rule: "api-url-required",
            detail: format!(
                "a Jira site has no default API URL: give the binding of {} an `api_url` \
                 (https://SITE.atlassian.net, https://api.atlassian.com/ex/jira/CLOUD_ID for \
                 OAuth 2.0, or the Data Center's base URL; --api-url on the command line)",
                options.target
            ),
        })?;
        let auth = match options.credentials {
            Credentials::None => None,
            Credentials::Basic { username, token } => Some(JiraAuth::basic(username, token)),
            Credentials::OAuth(token) => Some(JiraAuth::oauth(token)),
            Credentials::Token(token) => Some(JiraAuth::token(token)),
            other => {
                return Err(Error::Validation {
                    rule: "credentials-supported",
                    detail: format!(
                        "Jira does not accept {:?} credentials; give an API token with the \
                         account's e-mail (token_env and username), an OAuth 2.0 token \
                         (token_type = \"oauth\") or a Data Center personal access token",
                        other.mode()
                    ),
                });
            }
        };
        let mut builder = JiraClient::builder(self.http()?, api_url);
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

    /// `SITE/KEY`: the site's host (with its port, if any) and a project key
    /// (`[A-Z][A-Z0-9_]+`).
    fn validate_target(&self, target: &ExternalTarget) -> Result<(), Error> {
        convert_target(&target.path)
            .map(|_| ())
            .map_err(Error::from)
    }

    /// The body names its event (`webhookEvent`), so `event` is not needed; the delivery id
    /// is derived from the body's digest.
    fn unsigned_request(
        &self,
        _event: Option<&str>,
        body: Vec<u8>,
    ) -> Result<WebhookRequest, Error> {
        let digest = hex::encode(Sha256::digest(&body));
        let delivery = format!("normalize-{}", digest.get(..16).unwrap_or(""));
        let headers = Headers::from_pairs([(DELIVERY_HEADER, delivery)]);
        Ok(WebhookRequest::new(headers, body))
    }
}

//! The provider registry: every provider type a host knows, by name, with what it takes to
//! receive its webhooks and to reach its API. Adding a provider is adding an entry; nothing
//! else in a host (or in the `kradle-sync` binary) needs to name it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::store::HttpCache;
use crate::{
    AuthMode, Binding, BindingId, Error, ExternalTarget, OrgId, Provider, ProviderDescriptor,
    ProviderKind, RetryPolicy, Secret, WebhookAdapter, WebhookRequest,
};

/// The credentials a binding reaches its provider with. Secrets stay inside [`Secret`]:
/// printing credentials shows `[redacted]` for each.
///
/// ```
/// use kradle_sync_core::{Credentials, Secret};
/// let c = Credentials::Basic { username: "me@example.com".into(), token: Secret::new("api-token") };
/// assert!(!format!("{c:?}").contains("api-token"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// No credentials: public reads only, where the provider allows them.
    #[default]
    None,
    /// A personal, project or group access token (GitHub, GitLab `PRIVATE-TOKEN`, Jira
    /// Data Center personal access token).
    Token(Secret),
    /// An OAuth 2.0 bearer token (GitLab OAuth, Jira Cloud 3LO).
    OAuth(Secret),
    /// A user name and API token sent as HTTP basic auth (Jira Cloud: e-mail + API token).
    Basic {
        /// The user name (Jira Cloud: the account's e-mail address).
        username: String,
        /// The API token.
        token: Secret,
    },
    /// A GitHub App installation: the app signs a JWT with its private key and exchanges
    /// it for installation tokens.
    App {
        /// The app's id (or its client id, which GitHub also accepts as the JWT issuer).
        app_id: String,
        /// The installation's id.
        installation_id: u64,
        /// The app's private key (PEM).
        private_key: Secret,
    },
}

impl Credentials {
    /// The auth mode these credentials use (`None` for no credentials).
    pub fn mode(&self) -> Option<AuthMode> {
        match self {
            Credentials::None => None,
            Credentials::Token(_) => Some(AuthMode::Token),
            Credentials::OAuth(_) => Some(AuthMode::OauthUser),
            Credentials::Basic { .. } => Some(AuthMode::BasicApiToken),
            Credentials::App { .. } => Some(AuthMode::GithubApp),
        }
    }
}

/// What a connected provider's reads are for, which decides their rate-limit priority:
/// writes outrank hydrates, which outrank backfill, and backfill pauses when the budget
/// runs low.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadPurpose {
    /// Reads a webhook asked for, or a person waits on (hydrate priority).
    #[default]
    Hydrate,
    /// Backfill and reconciliation passes (lowest priority; pauses on a low budget).
    Backfill,
}

/// What a plugin needs to connect to a provider for one binding.
///
/// ```
/// use kradle_sync_core::{ConnectOptions, Credentials, ExternalTarget, Secret};
/// let options = ConnectOptions::new(ExternalTarget::from_path("octo/repo"))
///     .with_api_url("https://ghe.example.com/api/v3")
///     .with_credentials(Credentials::Token(Secret::new("t")));
/// assert_eq!(options.api_url.as_deref(), Some("https://ghe.example.com/api/v3"));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// The binding's target (repository, project, site and project key).
    pub target: ExternalTarget,
    /// The API's base URL; `None` for the provider's default (its SaaS instance).
    pub api_url: Option<String>,
    /// How to authenticate.
    pub credentials: Credentials,
    /// Where conditional-read responses are kept (ETags), so unchanged listings cost no
    /// rate-limit point; `None` keeps none.
    pub cache: Option<Arc<dyn HttpCache>>,
    /// The binding the client works for (its rate-limit budget and logs name it).
    pub binding: Option<BindingId>,
    /// The org the binding belongs to (budgets are kept per org too).
    pub org: Option<OrgId>,
    /// Retries of failed requests; `None` for the provider's default.
    pub retry: Option<RetryPolicy>,
    /// What the reads are for.
    pub purpose: ReadPurpose,
}

impl fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("target", &self.target)
            .field("api_url", &self.api_url)
            .field("credentials", &self.credentials)
            .field("cache", &self.cache.is_some())
            .field("binding", &self.binding)
            .field("org", &self.org)
            .field("retry", &self.retry)
            .field("purpose", &self.purpose)
            .finish()
    }
}

impl ConnectOptions {
    /// Options for `target`, with the provider's default API URL, no credentials and no
    /// cache.
    pub fn new(target: ExternalTarget) -> Self {
        Self {
            target,
            api_url: None,
            credentials: Credentials::None,
            cache: None,
            binding: None,
            org: None,
            retry: None,
            purpose: ReadPurpose::Hydrate,
        }
    }

    /// Options for a binding: its target, name and org.
    pub fn for_binding(binding: &Binding) -> Self {
        let mut options = Self::new(binding.target.clone());
        options.binding = Some(binding.id.clone());
        options.org = Some(binding.org.clone());
        options
    }

    /// Sets the retries of failed requests.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Sets what the reads are for.
    pub fn with_purpose(mut self, purpose: ReadPurpose) -> Self {
        self.purpose = purpose;
        self
    }

    /// Sets the API's base URL.
    pub fn with_api_url(mut self, url: impl Into<String>) -> Self {
        self.api_url = Some(url.into());
        self
    }

    /// Sets the credentials.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self
    }

    /// Sets the conditional-read cache.
    pub fn with_cache(mut self, cache: Arc<dyn HttpCache>) -> Self {
        self.cache = Some(cache);
        self
    }
}

/// One provider type, complete: its descriptor, its webhook adapter, and how to build a
/// connected [`Provider`] from a binding's API URL and credentials. Provider crates export
/// one (`kradle_provider_github::GithubPlugin`); a host registers the ones it uses.
pub trait ProviderPlugin: Send + Sync {
    /// The descriptor.
    fn descriptor(&self) -> &ProviderDescriptor;

    /// The webhook adapter (verify, normalize, parse REST objects; no I/O).
    fn webhooks(&self) -> Arc<dyn WebhookAdapter>;

    /// A connected provider for one binding. Fails with a typed error when the
    /// credentials are of a kind the provider does not accept, or the URL is not valid.
    fn connect(&self, options: ConnectOptions) -> Result<Arc<dyn Provider>, Error>;

    /// Checks that `target` names something this provider has (GitHub: `OWNER/NAME`).
    /// The default accepts any target.
    fn validate_target(&self, target: &ExternalTarget) -> Result<(), Error> {
        let _ = target;
        Ok(())
    }

    /// A webhook request as this provider would send `body` (its event and delivery
    /// headers, no signature), for looking at a bare payload (`kradle-sync normalize`).
    /// `event` names the event where the provider sends it outside the body; without it
    /// the plugin guesses from the payload, or fails saying what to pass.
    fn unsigned_request(&self, event: Option<&str>, body: Vec<u8>)
    -> Result<WebhookRequest, Error>;
}

#[derive(Clone)]
struct Entry {
    descriptor: ProviderDescriptor,
    webhooks: Option<Arc<dyn WebhookAdapter>>,
    plugin: Option<Arc<dyn ProviderPlugin>>,
}

/// The provider types a host knows, by name: a descriptor each, and where registered, a
/// webhook adapter and a plugin that connects to the API. Adding a provider is adding an
/// entry.
///
/// ```
/// use kradle_sync_core::{Interface, ProviderDescriptor, ProviderKind, ProviderRegistry,
///     SignatureScheme};
/// let mut registry = ProviderRegistry::new();
/// registry.register(ProviderDescriptor::new("acme-ci", &[Interface::Cicd], SignatureScheme::HmacSha256));
/// assert!(registry.get(&ProviderKind::new("acme-ci")).is_ok());
/// assert!(registry.webhooks(&ProviderKind::new("acme-ci")).is_err());
/// ```
#[derive(Clone, Default)]
pub struct ProviderRegistry {
    entries: BTreeMap<ProviderKind, Entry>,
}

impl fmt::Debug for ProviderRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries.keys()).finish()
    }
}

impl ProviderRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a provider type known by its descriptor alone (bindings of it can
    /// be validated; nothing can be received or read).
    pub fn register(&mut self, descriptor: ProviderDescriptor) {
        let kind = descriptor.kind.clone();
        self.entries.insert(
            kind,
            Entry {
                descriptor,
                webhooks: None,
                plugin: None,
            },
        );
    }

    /// Adds or replaces a provider type by its webhook adapter (and the adapter's
    /// descriptor): its webhooks can be received; its API is not reachable.
    pub fn register_webhooks(&mut self, adapter: Arc<dyn WebhookAdapter>) {
        let descriptor = adapter.descriptor().clone();
        self.entries.insert(
            descriptor.kind.clone(),
            Entry {
                descriptor,
                webhooks: Some(adapter),
                plugin: None,
            },
        );
    }

    /// Adds or replaces a provider type by its plugin: webhooks and API both.
    pub fn register_plugin(&mut self, plugin: Arc<dyn ProviderPlugin>) {
        let descriptor = plugin.descriptor().clone();
        self.entries.insert(
            descriptor.kind.clone(),
            Entry {
                descriptor,
                webhooks: Some(plugin.webhooks()),
                plugin: Some(plugin),
            },
        );
    }

    /// [`register_plugin`](Self::register_plugin), for chaining.
    pub fn with(mut self, plugin: Arc<dyn ProviderPlugin>) -> Self {
        self.register_plugin(plugin);
        self
    }

    /// Adds (or replaces) every entry of `other`.
    pub fn extend(&mut self, other: &ProviderRegistry) {
        for (kind, entry) in &other.entries {
            self.entries.insert(kind.clone(), entry.clone());
        }
    }

    fn entry(&self, kind: &ProviderKind) -> Result<&Entry, Error> {
        self.entries
            .get(kind)
            .ok_or_else(|| Error::UnknownProvider {
                provider: kind.clone(),
            })
    }

    /// The descriptor of a provider type.
    pub fn get(&self, kind: &ProviderKind) -> Result<&ProviderDescriptor, Error> {
        self.entry(kind).map(|e| &e.descriptor)
    }

    /// The webhook adapter of a provider type.
    pub fn webhooks(&self, kind: &ProviderKind) -> Result<&Arc<dyn WebhookAdapter>, Error> {
        self.entry(kind)?
            .webhooks
            .as_ref()
            .ok_or_else(|| Error::Validation {
                rule: "provider-webhooks",
                detail: format!(
                    "provider {kind} is known by its descriptor only; register its webhook adapter or plugin to receive its webhooks"
                ),
            })
    }

    /// The plugin of a provider type.
    pub fn plugin(&self, kind: &ProviderKind) -> Result<&Arc<dyn ProviderPlugin>, Error> {
        self.entry(kind)?
            .plugin
            .as_ref()
            .ok_or_else(|| Error::Validation {
                rule: "provider-plugin",
                detail: format!(
                    "provider {kind} has no plugin registered; register one to reach its API"
                ),
            })
    }

    /// All registered descriptors, sorted by kind.
    pub fn iter(&self) -> impl Iterator<Item = &ProviderDescriptor> {
        self.entries.values().map(|e| &e.descriptor)
    }

    /// The registered provider types' names, sorted, joined with `, ` (for messages).
    pub fn names(&self) -> String {
        self.entries
            .keys()
            .map(ProviderKind::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Whether no provider is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

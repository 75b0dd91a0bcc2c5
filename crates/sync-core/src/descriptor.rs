//! Provider descriptors and the data-driven provider type registry.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Error, Interface, ProviderKind};

/// How a provider authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum AuthMode {
    /// A personal or project access token.
    Token,
    /// A GitHub App installation (JWT exchanged for installation tokens).
    GithubApp,
    /// An OAuth user token.
    OauthUser,
    /// HTTP basic auth with an API token (Jira Cloud).
    BasicApiToken,
}

/// How a provider signs its webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum SignatureScheme {
    /// HMAC-SHA256 over the raw body with a shared secret.
    HmacSha256,
    /// A shared token echoed in a header, compared in constant time.
    Token,
    /// The provider signs with an asymmetric key of its own: no shared secret needed.
    ProviderSigned,
    /// No signature.
    None,
}

impl SignatureScheme {
    /// Whether a shared secret must be configured for webhooks of this scheme.
    pub fn needs_secret(self) -> bool {
        matches!(self, SignatureScheme::HmacSha256 | SignatureScheme::Token)
    }
}

/// What a provider type can do, declared as data so callers check instead of guessing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Objects can be deleted (otherwise removals close or archive).
    pub can_delete: bool,
    /// Writes can carry an idempotency key the provider honours.
    pub idempotency_keys: bool,
    /// Reads support conditional requests (`If-None-Match`).
    pub conditional_reads: bool,
    /// Merges can be guarded by an expected head SHA.
    pub merge_with_expected_sha: bool,
    /// Reviewed writes (approval before apply) can be performed.
    pub reviewed_writes: bool,
}

/// A provider type's descriptor (the seed's provider type registry entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderDescriptor {
    /// Provider type.
    pub kind: ProviderKind,
    /// Interfaces implemented.
    pub interfaces: Vec<Interface>,
    /// Hosting variants (`saas`, `ghe`, `self-managed`).
    pub hosting: Vec<String>,
    /// Auth modes accepted.
    pub auth_modes: Vec<AuthMode>,
    /// Webhook signature scheme.
    pub signature: SignatureScheme,
    /// The header that carries the delivery id.
    pub delivery_header: Option<String>,
    /// The header that carries the event name.
    pub event_header: Option<String>,
    /// Capabilities.
    pub capabilities: Capabilities,
}

impl ProviderDescriptor {
    /// Whether the provider implements `interface`.
    pub fn supports(&self, interface: Interface) -> bool {
        self.interfaces.contains(&interface)
    }
}

/// The provider types a host knows, by name. Adding a provider is adding a descriptor.
///
/// ```
/// use kradle_sync_core::{ProviderRegistry, ProviderDescriptor, ProviderKind, Interface,
///     SignatureScheme, Capabilities};
/// let mut registry = ProviderRegistry::default();
/// registry.register(ProviderDescriptor {
///     kind: ProviderKind::new("acme-ci"),
///     interfaces: vec![Interface::Cicd],
///     hosting: vec!["saas".into()],
///     auth_modes: vec![],
///     signature: SignatureScheme::HmacSha256,
///     delivery_header: Some("X-Acme-Delivery".into()),
///     event_header: Some("X-Acme-Event".into()),
///     capabilities: Capabilities { can_delete: false, idempotency_keys: true,
///         conditional_reads: false, merge_with_expected_sha: false, reviewed_writes: true },
/// });
/// assert!(registry.get(&ProviderKind::new("acme-ci")).is_ok());
/// ```
#[derive(Debug, Clone, Default)]
pub struct ProviderRegistry {
    descriptors: BTreeMap<ProviderKind, ProviderDescriptor>,
}

impl ProviderRegistry {
    /// Adds or replaces a descriptor.
    pub fn register(&mut self, descriptor: ProviderDescriptor) {
        self.descriptors.insert(descriptor.kind.clone(), descriptor);
    }

    /// The descriptor of a provider type.
    pub fn get(&self, kind: &ProviderKind) -> Result<&ProviderDescriptor, Error> {
        self.descriptors
            .get(kind)
            .ok_or_else(|| Error::UnknownProvider {
                provider: kind.clone(),
            })
    }

    /// All registered descriptors, sorted by kind.
    pub fn iter(&self) -> impl Iterator<Item = &ProviderDescriptor> {
        self.descriptors.values()
    }
}

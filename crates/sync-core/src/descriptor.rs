//! Provider descriptors: what a provider type is and can do, as data.

use serde::{Deserialize, Serialize};

use crate::{Interface, ProviderKind};

/// How a provider authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum AuthMode {
    /// A personal, project or group access token.
    Token,
    /// A GitHub App installation (JWT exchanged for installation tokens).
    GithubApp,
    /// An OAuth bearer token.
    OauthUser,
    /// HTTP basic auth with a user name and an API token (Jira Cloud).
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
    /// A JWT signed HS256 with a shared secret (an app's client secret), carrying its
    /// issuer and expiry (Jira OAuth 2.0 and Connect apps).
    JwtHs256,
    /// The provider signs with an asymmetric key of its own: no shared secret needed.
    ProviderSigned,
    /// No signature.
    None,
}

impl SignatureScheme {
    /// Whether a shared secret must be configured for webhooks of this scheme.
    pub fn needs_secret(self) -> bool {
        matches!(
            self,
            SignatureScheme::HmacSha256 | SignatureScheme::Token | SignatureScheme::JwtHs256
        )
    }

    /// The scheme's name in configuration and audit records (`hmac-sha256`, `token`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureScheme::HmacSha256 => "hmac-sha256",
            SignatureScheme::Token => "token",
            SignatureScheme::JwtHs256 => "jwt-hs256",
            SignatureScheme::ProviderSigned => "provider-signed",
            SignatureScheme::None => "none",
        }
    }
}

/// What a provider type can do, declared as data so callers check instead of guessing.
/// Every capability is off by default.
///
/// ```
/// use kradle_sync_core::Capabilities;
/// let c = Capabilities::default().with_can_delete(true).with_conditional_reads(true);
/// assert!(c.can_delete && c.conditional_reads && !c.idempotency_keys);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
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

impl Capabilities {
    /// Sets [`can_delete`](Self::can_delete).
    pub fn with_can_delete(mut self, value: bool) -> Self {
        self.can_delete = value;
        self
    }

    /// Sets [`idempotency_keys`](Self::idempotency_keys).
    pub fn with_idempotency_keys(mut self, value: bool) -> Self {
        self.idempotency_keys = value;
        self
    }

    /// Sets [`conditional_reads`](Self::conditional_reads).
    pub fn with_conditional_reads(mut self, value: bool) -> Self {
        self.conditional_reads = value;
        self
    }

    /// Sets [`merge_with_expected_sha`](Self::merge_with_expected_sha).
    pub fn with_merge_with_expected_sha(mut self, value: bool) -> Self {
        self.merge_with_expected_sha = value;
        self
    }

    /// Sets [`reviewed_writes`](Self::reviewed_writes).
    pub fn with_reviewed_writes(mut self, value: bool) -> Self {
        self.reviewed_writes = value;
        self
    }
}

/// A provider type's descriptor (the seed's provider type registry entry).
///
/// ```
/// use kradle_sync_core::{Capabilities, Interface, ProviderDescriptor, SignatureScheme};
/// let d = ProviderDescriptor::new("acme-ci", &[Interface::Cicd], SignatureScheme::HmacSha256)
///     .with_display_name("Acme CI")
///     .with_delivery_header("X-Acme-Delivery")
///     .with_event_header("X-Acme-Event")
///     .with_capabilities(Capabilities::default().with_reviewed_writes(true));
/// assert!(d.supports(Interface::Cicd) && !d.supports(Interface::GitForge));
/// assert_eq!(d.display_name, "Acme CI");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProviderDescriptor {
    /// Provider type.
    pub kind: ProviderKind,
    /// The name people know it by (`GitHub`), for messages.
    pub display_name: String,
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
    /// The API's base URL when a binding names none (the SaaS instance), if there is one.
    pub default_api_url: Option<String>,
    /// Capabilities.
    pub capabilities: Capabilities,
}

impl ProviderDescriptor {
    /// A descriptor of provider type `kind` implementing `interfaces`, whose webhooks are
    /// verified with `signature`. Everything else is empty until set; the display name is
    /// the kind.
    pub fn new(
        kind: impl Into<ProviderKind>,
        interfaces: &[Interface],
        signature: SignatureScheme,
    ) -> Self {
        let kind = kind.into();
        Self {
            display_name: kind.to_string(),
            kind,
            interfaces: interfaces.to_vec(),
            hosting: Vec::new(),
            auth_modes: Vec::new(),
            signature,
            delivery_header: None,
            event_header: None,
            default_api_url: None,
            capabilities: Capabilities::default(),
        }
    }

    /// Sets the name people know the provider by.
    pub fn with_display_name(mut self, name: impl Into<String>) -> Self {
        self.display_name = name.into();
        self
    }

    /// Sets the hosting variants.
    pub fn with_hosting(mut self, hosting: &[&str]) -> Self {
        self.hosting = hosting.iter().map(|h| (*h).to_owned()).collect();
        self
    }

    /// Sets the auth modes accepted.
    pub fn with_auth_modes(mut self, modes: &[AuthMode]) -> Self {
        self.auth_modes = modes.to_vec();
        self
    }

    /// Sets the header that carries the delivery id.
    pub fn with_delivery_header(mut self, header: impl Into<String>) -> Self {
        self.delivery_header = Some(header.into());
        self
    }

    /// Sets the header that carries the event name.
    pub fn with_event_header(mut self, header: impl Into<String>) -> Self {
        self.event_header = Some(header.into());
        self
    }

    /// Sets the API's default base URL.
    pub fn with_default_api_url(mut self, url: impl Into<String>) -> Self {
        self.default_api_url = Some(url.into());
        self
    }

    /// Sets the capabilities.
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// Whether the provider implements `interface`.
    pub fn supports(&self, interface: Interface) -> bool {
        self.interfaces.contains(&interface)
    }

    /// Whether the provider accepts credentials of this mode.
    pub fn accepts(&self, mode: AuthMode) -> bool {
        self.auth_modes.contains(&mode)
    }
}

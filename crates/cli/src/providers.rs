//! The providers this build knows: the one place the binary names them. Every command and
//! the service look providers up here; adding one is adding an entry.

use std::sync::Arc;

use kradle_sync_core::{Interface, ProviderKind, ProviderRegistry};

/// Every provider type of this build, by name.
pub fn registry() -> ProviderRegistry {
    ProviderRegistry::new()
        .with(Arc::new(kradle_provider_github::GithubPlugin::new()))
        .with(Arc::new(kradle_provider_gitlab::GitlabPlugin::new()))
        .with(Arc::new(kradle_provider_jira::JiraPlugin::new()))
}

/// The interfaces a provider of this build supports (none for an unknown one: the
/// binding's validation then names the problem).
pub fn supported(registry: &ProviderRegistry, provider: &str) -> Vec<Interface> {
    registry
        .get(&ProviderKind::new(provider))
        .map(|d| d.interfaces.clone())
        .unwrap_or_default()
}

/// "unknown provider `x`; this build knows a, b".
pub fn unknown(registry: &ProviderRegistry, provider: &str) -> String {
    format!(
        "unknown provider `{provider}`; this build knows {}",
        registry.names()
    )
}

//! Provider configurations, bindings, sync policies and ownership modes, with the seed's
//! validation rules.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{
    BindingId, Error, ExternalTarget, Interface, OrgId, ProviderDescriptor, ProviderKind,
    ProviderRegistry, ResourceKind, Secret, SignatureScheme,
};

/// Who owns an object's truth (invariant 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OwnershipMode {
    /// External-owned: the provider is authoritative. Local changes raise conflicts; local
    /// deletions never delete provider objects.
    Mirror,
    /// Both sides write; changes merge field by field against the last synced base.
    Bidirectional,
    /// The host is authoritative: external drift is reverted by a write intent (or raised
    /// as a conflict, per [`DriftPolicy`]).
    LocalOwned,
}

/// What to do when an external change drifts from a local-owned object's desired state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriftPolicy {
    /// Write the desired state back.
    #[default]
    Revert,
    /// Raise a conflict and wait for a person.
    Raise,
}

/// How a conflict is resolved (invariant 5).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum ResolutionPolicy {
    /// Take the provider's value.
    PreferExternal,
    /// Write the local value to the provider.
    PreferLocal,
    /// Wait for a person.
    #[default]
    Manual,
    /// Propose the local value as a provider change that needs approval.
    ReviewedProviderChange,
    /// Keep going without the field, with a warning.
    IgnoreUnsupportedField,
}

/// One interface of a binding: whether it is synced and who owns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InterfaceBinding {
    /// Whether the interface is synced.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Default ownership of its objects.
    pub mode: OwnershipMode,
    /// Ownership per resource kind, overriding `mode`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kinds: BTreeMap<ResourceKind, OwnershipMode>,
}

impl InterfaceBinding {
    /// An enabled interface of this ownership mode, with no per-kind overrides.
    pub fn new(mode: OwnershipMode) -> Self {
        Self {
            enabled: true,
            mode,
            kinds: BTreeMap::new(),
        }
    }
}

fn enabled_by_default() -> bool {
    true
}

/// How writes reach the provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WriteMode {
    /// Apply writes directly.
    #[default]
    Direct,
    /// Writes wait for approval before they are applied.
    ReviewedWrite,
}

/// The seed's `ExternalBackendSyncPolicy`. Missing fields take their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct SyncPolicy {
    /// Webhooks are the primary freshness source; backfill repairs.
    pub webhook_first: bool,
    /// Seconds between incremental backfills.
    pub backfill_interval_secs: u64,
    /// Seconds between full resyncs.
    pub full_resync_interval_secs: u64,
    /// Write mode.
    pub write_mode: WriteMode,
    /// Writes by agents need approval even in direct mode.
    pub agent_write_requires_approval: bool,
    /// Default conflict resolution.
    pub conflict_resolution: ResolutionPolicy,
    /// What to do with drift of local-owned objects.
    pub drift: DriftPolicy,
    /// Seconds an applied write may wait for confirmation before it becomes a conflict.
    pub confirmation_timeout_secs: u64,
}

impl Default for SyncPolicy {
    fn default() -> Self {
        Self {
            webhook_first: true,
            backfill_interval_secs: 15 * 60,
            full_resync_interval_secs: 24 * 3600,
            write_mode: WriteMode::Direct,
            agent_write_requires_approval: true,
            conflict_resolution: ResolutionPolicy::Manual,
            drift: DriftPolicy::Revert,
            confirmation_timeout_secs: 15 * 60,
        }
    }
}

/// The seed's `ExternalBackendBinding`: one provider target synced into one org.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Binding {
    /// The binding's name.
    pub id: BindingId,
    /// The org it belongs to.
    pub org: OrgId,
    /// The provider type.
    pub provider: ProviderKind,
    /// The provider target (`owner/repo`, `group/project`, Jira project key).
    pub target: ExternalTarget,
    /// The GitHub App installation id, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installation_id: Option<u64>,
    /// Interfaces, with their ownership.
    pub interfaces: BTreeMap<Interface, InterfaceBinding>,
    /// Sync policy.
    #[serde(default)]
    pub policy: SyncPolicy,
    /// The webhook secret (redacted everywhere it is printed).
    #[serde(default, skip_serializing)]
    pub webhook_secret: Option<Secret>,
    /// The signature scheme the binding's webhooks use, where it differs from its
    /// provider's (a Jira binding of an OAuth or Connect app expects JWTs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_scheme: Option<SignatureScheme>,
    /// The issuer a signed webhook token must name (a JWT's `iss`), if the scheme has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_issuer: Option<String>,
}

impl Binding {
    /// A binding of every interface the provider supports, bidirectional, with the default
    /// policy. The org is the target's top-level segment (a GitHub owner, a GitLab top-level
    /// group, a Jira site), or the path itself for a bare project key.
    ///
    /// ```
    /// use kradle_sync_core::{Binding, ExternalTarget, Interface, OwnershipMode, ResourceKind};
    /// let b = Binding::new("Codertocat/Hello-World", "github",
    ///     ExternalTarget::from_path("Codertocat/Hello-World"), &[Interface::IssueTracking]);
    /// assert_eq!(b.org.as_str(), "Codertocat");
    /// assert_eq!(b.ownership(ResourceKind::Issue), Some(OwnershipMode::Bidirectional));
    /// ```
    pub fn new(
        id: impl Into<BindingId>,
        provider: impl Into<ProviderKind>,
        target: ExternalTarget,
        interfaces: &[Interface],
    ) -> Self {
        let org = OrgId::new(target.top_level());
        let interfaces = interfaces
            .iter()
            .map(|i| {
                let b = InterfaceBinding {
                    enabled: true,
                    mode: OwnershipMode::Bidirectional,
                    kinds: BTreeMap::new(),
                };
                (*i, b)
            })
            .collect();
        Self {
            id: id.into(),
            org,
            provider: provider.into(),
            target,
            installation_id: None,
            interfaces,
            policy: SyncPolicy::default(),
            webhook_secret: None,
            webhook_scheme: None,
            webhook_issuer: None,
        }
    }

    /// Sets the org (by default the target's top-level segment).
    pub fn with_org(mut self, org: impl Into<OrgId>) -> Self {
        self.org = org.into();
        self
    }

    /// Sets the GitHub App installation id.
    pub fn with_installation_id(mut self, installation_id: Option<u64>) -> Self {
        self.installation_id = installation_id;
        self
    }

    /// Sets the sync policy.
    pub fn with_policy(mut self, policy: SyncPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sets the webhook signature scheme the binding expects, and the issuer a signed
    /// token must name.
    pub fn with_webhook_scheme(mut self, scheme: SignatureScheme, issuer: Option<String>) -> Self {
        self.webhook_scheme = Some(scheme);
        self.webhook_issuer = issuer;
        self
    }

    /// The signature scheme the binding's webhooks are verified with: its own, else its
    /// provider's.
    pub fn signature_scheme(&self, descriptor: &ProviderDescriptor) -> SignatureScheme {
        self.webhook_scheme.unwrap_or(descriptor.signature)
    }

    /// Sets the ownership mode of a whole interface.
    pub fn with_mode(mut self, interface: Interface, mode: OwnershipMode) -> Self {
        if let Some(i) = self.interfaces.get_mut(&interface) {
            i.mode = mode;
        }
        self
    }

    /// Sets the ownership mode of one resource kind.
    pub fn with_kind_mode(mut self, kind: ResourceKind, mode: OwnershipMode) -> Self {
        if let Some(i) = self.interfaces.get_mut(&kind.interface()) {
            i.kinds.insert(kind, mode);
        }
        self
    }

    /// Sets the webhook secret.
    pub fn with_secret(mut self, secret: Secret) -> Self {
        self.webhook_secret = Some(secret);
        self
    }

    /// The ownership mode of a kind, or `None` when its interface is not enabled.
    pub fn ownership(&self, kind: ResourceKind) -> Option<OwnershipMode> {
        let i = self
            .interfaces
            .get(&kind.interface())
            .filter(|i| i.enabled)?;
        Some(i.kinds.get(&kind).copied().unwrap_or(i.mode))
    }

    /// Checks the seed's validation rules against the provider registry: the provider type
    /// exists, every enabled interface is supported, the target is in the binding's org,
    /// a signed webhook has a secret, and the write mode can be performed.
    pub fn validate(&self, registry: &ProviderRegistry) -> Result<(), Error> {
        let descriptor = registry.get(&self.provider)?;
        for (interface, b) in &self.interfaces {
            if b.enabled && !descriptor.supports(*interface) {
                return Err(Error::Validation {
                    rule: "interface-supported",
                    detail: format!(
                        "binding {} enables {interface}, which provider {} does not implement; disable it",
                        self.id, self.provider
                    ),
                });
            }
        }
        if let Some(owner) = self
            .target
            .owner
            .is_some()
            .then(|| self.target.top_level())
            .filter(|o| !o.eq_ignore_ascii_case(self.org.as_str()))
        {
            return Err(Error::Validation {
                rule: "target-in-org",
                detail: format!(
                    "binding {} is in org {} but its target {} belongs to {owner}",
                    self.id, self.org, self.target
                ),
            });
        }
        if self.signature_scheme(descriptor).needs_secret()
            && self.webhook_secret.as_ref().is_none_or(Secret::is_empty)
        {
            return Err(Error::Validation {
                rule: "webhook-secret",
                detail: format!(
                    "binding {} receives {} webhooks, which are verified with a shared secret: configure one",
                    self.id, self.provider
                ),
            });
        }
        if self.policy.write_mode == WriteMode::ReviewedWrite
            && !descriptor.capabilities.reviewed_writes
        {
            return Err(Error::Validation {
                rule: "write-mode",
                detail: format!("provider {} cannot perform reviewed writes", self.provider),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Capabilities;

    fn registry() -> ProviderRegistry {
        let mut r = ProviderRegistry::default();
        r.register(
            ProviderDescriptor::new(
                "github",
                &[Interface::IssueTracking],
                SignatureScheme::HmacSha256,
            )
            .with_capabilities(
                Capabilities::default()
                    .with_conditional_reads(true)
                    .with_merge_with_expected_sha(true)
                    .with_reviewed_writes(true),
            ),
        );
        r
    }

    fn binding() -> Binding {
        Binding::new(
            "b",
            "github",
            ExternalTarget::from_path("acme/repo"),
            &[Interface::IssueTracking],
        )
        .with_secret(Secret::new("s"))
    }

    #[test]
    fn each_rule_is_named() {
        let r = registry();
        assert!(binding().validate(&r).is_ok());

        let mut b = binding();
        b.provider = "nope".into();
        assert!(matches!(b.validate(&r), Err(Error::UnknownProvider { .. })));

        let b = Binding::new(
            "b",
            "github",
            ExternalTarget::from_path("acme/repo"),
            &[Interface::Cicd],
        )
        .with_secret(Secret::new("s"));
        assert!(matches!(
            b.validate(&r),
            Err(Error::Validation {
                rule: "interface-supported",
                ..
            })
        ));

        let mut b = binding();
        b.org = OrgId::new("other");
        assert!(matches!(
            b.validate(&r),
            Err(Error::Validation {
                rule: "target-in-org",
                ..
            })
        ));

        let mut b = binding();
        b.webhook_secret = None;
        assert!(matches!(
            b.validate(&r),
            Err(Error::Validation {
                rule: "webhook-secret",
                ..
            })
        ));
    }

    #[test]
    fn kind_mode_overrides_interface_mode() {
        let b = binding()
            .with_mode(Interface::IssueTracking, OwnershipMode::Mirror)
            .with_kind_mode(ResourceKind::Comment, OwnershipMode::LocalOwned);
        assert_eq!(
            b.ownership(ResourceKind::Issue),
            Some(OwnershipMode::Mirror)
        );
        assert_eq!(
            b.ownership(ResourceKind::Comment),
            Some(OwnershipMode::LocalOwned)
        );
        assert_eq!(b.ownership(ResourceKind::Pipeline), None);
    }
}

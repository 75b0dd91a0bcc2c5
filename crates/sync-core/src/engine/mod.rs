//! The engine: drives the pure state machines over a [`SyncStore`] without owning a
//! runtime. Every method is an `async fn` that any executor can poll; time comes in as an
//! argument.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::audit::{AuditRecord, AuditSubject};
use crate::delivery::DeliveryPhase;
use crate::projection::Outcome;
use crate::store::{SyncStore, Transition};
use crate::write_intent::IntentSettings;
use crate::{
    Binding, BindingId, CanonicalEvent, DeliveryId, Error, ObjectKey, ProviderKind, ProviderPlugin,
    ProviderRegistry, RetryPolicy, WebhookAdapter,
};

mod apply;
mod backfill;
mod conflicts;
mod deliveries;
mod reader;
mod stage;
mod sync_pass;
mod writes;

pub use backfill::BackfillReport;
pub use deliveries::jitter_for;
pub use reader::BackfillResource;
pub use sync_pass::{BackfillProgress, PageProgress, PassOptions, PassReport, ResourceReport};
pub use writes::WriteResult;

/// Engine settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EngineConfig {
    /// Largest webhook body accepted, in bytes (GitHub caps payloads at 25 MB).
    pub max_body_bytes: usize,
    /// Retries of delivery processing.
    pub retry: RetryPolicy,
    /// Write-intent retries and confirmation timeout.
    pub intents: IntentSettings,
    /// How often a step is retried when the object changes concurrently.
    pub max_contention_retries: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 25 * 1024 * 1024,
            retry: RetryPolicy::default(),
            intents: IntentSettings::default(),
            max_contention_retries: 16,
        }
    }
}

/// What happened to a received webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Receipt {
    /// Verified and stored; process it next.
    Accepted(DeliveryId),
    /// Already stored: nothing changes (invariant 1).
    Duplicate(DeliveryId),
}

/// What processing one event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventOutcome {
    /// The projection changed.
    Applied,
    /// Older than what is known.
    Stale,
    /// Nothing new.
    Unchanged,
    /// This event key was applied before.
    Duplicate,
    /// The binding does not sync this kind's interface.
    Skipped,
}

impl From<Outcome> for EventOutcome {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Applied => EventOutcome::Applied,
            Outcome::Stale => EventOutcome::Stale,
            Outcome::Unchanged => EventOutcome::Unchanged,
        }
    }
}

/// What processing one delivery did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ProcessReport {
    /// The delivery's phase afterwards.
    pub phase: Option<DeliveryPhase>,
    /// Events normalized.
    pub events: u32,
    /// Events that changed the projection.
    pub applied: u32,
    /// Events older than the projection.
    pub stale: u32,
    /// Why nothing was produced, for out-of-scope events.
    pub ignored: Option<String>,
    /// The error that failed, rejected or dead-lettered it.
    pub error: Option<String>,
}

/// Builds an [`Engine`].
pub struct EngineBuilder {
    store: Arc<dyn SyncStore>,
    registry: ProviderRegistry,
    bindings: Vec<Binding>,
    config: EngineConfig,
}

impl EngineBuilder {
    /// Registers a provider's webhook adapter and its descriptor (webhooks only; use
    /// [`provider`](Self::provider) for a provider whose API the host also reaches).
    pub fn adapter(mut self, adapter: Arc<dyn WebhookAdapter>) -> Self {
        self.registry.register_webhooks(adapter);
        self
    }

    /// Registers a provider type by its plugin: descriptor, webhooks and API.
    pub fn provider(mut self, plugin: Arc<dyn ProviderPlugin>) -> Self {
        self.registry.register_plugin(plugin);
        self
    }

    /// Registers every provider type of a registry (replacing earlier entries of the same
    /// types).
    pub fn registry(mut self, registry: &ProviderRegistry) -> Self {
        self.registry.extend(registry);
        self
    }

    /// Adds a binding (validated by [`build`](Self::build)).
    pub fn binding(mut self, binding: Binding) -> Self {
        self.bindings.push(binding);
        self
    }

    /// Sets the configuration.
    pub fn config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }

    /// Validates every binding against the registry and builds the engine.
    pub fn build(self) -> Result<Engine, Error> {
        let mut bindings = BTreeMap::new();
        for binding in self.bindings {
            binding.validate(&self.registry)?;
            bindings.insert(binding.id.clone(), binding);
        }
        Ok(Engine {
            store: self.store,
            registry: self.registry,
            bindings,
            config: self.config,
        })
    }
}

/// The sync engine.
///
/// ```
/// # use std::sync::Arc;
/// # use kradle_sync_core::{Engine, SyncStore};
/// # fn wire(store: Arc<dyn SyncStore>) -> Result<Engine, kradle_sync_core::Error> {
/// let engine = Engine::builder(store).build()?;
/// assert_eq!(engine.bindings().count(), 0);
/// # Ok(engine) }
/// ```
pub struct Engine {
    store: Arc<dyn SyncStore>,
    registry: ProviderRegistry,
    bindings: BTreeMap<BindingId, Binding>,
    config: EngineConfig,
}

fn key_of(binding: &Binding, event: &CanonicalEvent) -> ObjectKey {
    ObjectKey {
        provider: event.provider.clone(),
        binding: binding.id.clone(),
        kind: event.kind,
        native_id: event.native_id.clone(),
    }
}

impl Engine {
    /// Starts building an engine over a store.
    pub fn builder(store: Arc<dyn SyncStore>) -> EngineBuilder {
        EngineBuilder {
            store,
            registry: ProviderRegistry::default(),
            bindings: Vec::new(),
            config: EngineConfig::default(),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn SyncStore> {
        &self.store
    }

    /// The provider registry.
    pub fn registry(&self) -> &ProviderRegistry {
        &self.registry
    }

    /// Bindings, sorted by id.
    pub fn bindings(&self) -> impl Iterator<Item = &Binding> {
        self.bindings.values()
    }

    /// A binding by id.
    pub fn binding(&self, id: &BindingId) -> Result<&Binding, Error> {
        self.bindings.get(id).ok_or_else(|| Error::UnknownBinding {
            binding: id.clone(),
        })
    }

    /// Adds a binding after validating it.
    pub fn add_binding(&mut self, binding: Binding) -> Result<(), Error> {
        binding.validate(&self.registry)?;
        self.bindings.insert(binding.id.clone(), binding);
        Ok(())
    }

    fn adapter(&self, provider: &ProviderKind) -> Result<&Arc<dyn WebhookAdapter>, Error> {
        self.registry.webhooks(provider)
    }

    /// The engine's settings.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    fn audit(
        binding: &Binding,
        now: DateTime<Utc>,
        subject: AuditSubject,
        action: &str,
        actor: &str,
        detail: serde_json::Value,
    ) -> AuditRecord {
        AuditRecord {
            at: now,
            org: binding.org.clone(),
            provider: binding.provider.clone(),
            binding: binding.id.clone(),
            subject,
            action: action.to_owned(),
            actor: actor.to_owned(),
            detail,
        }
    }

    async fn commit_audit(&self, record: AuditRecord) -> Result<(), Error> {
        self.store
            .commit(Transition {
                audit: vec![record],
                ..Transition::default()
            })
            .await
            .map(|_| ())
    }
}

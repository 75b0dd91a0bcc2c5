//! The `SyncStore` trait: the least a backend must do to persist kradle-sync's records.
//!
//! Everything one engine step changes travels in one [`Transition`] that the store commits
//! atomically, so a crash never leaves half an event applied, and the event keys in it make
//! the commit idempotent even when two workers race on the same delivery.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::AuditRecord;
pub use crate::cache::{CacheEntry, HttpCache};
use crate::conflict::ConflictRecord;
use crate::delivery::{DeliveryPhase, DeliveryRecord};
use crate::projection::ObjectState;
use crate::write_intent::{WriteIntent, WritePhase};
use crate::{
    BindingId, DeliveryId, Error, EventKey, Interface, ObjectKey, OrgId, ProviderKind, ResourceKind,
};

/// Narrows a listing. `None` matches everything.
///
/// ```
/// use kradle_sync_core::store::Filter;
/// use kradle_sync_core::ResourceKind;
/// let f = Filter::binding("octo/repo").with_kind(ResourceKind::Issue);
/// assert_eq!(f.kind, Some(ResourceKind::Issue));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Filter {
    /// Only this org.
    pub org: Option<OrgId>,
    /// Only this provider.
    pub provider: Option<ProviderKind>,
    /// Only this binding.
    pub binding: Option<BindingId>,
    /// Only this kind (objects, intents, conflicts).
    pub kind: Option<ResourceKind>,
}

impl Filter {
    /// Matches everything.
    pub fn all() -> Self {
        Self::default()
    }

    /// Matches one binding.
    pub fn binding(binding: impl Into<BindingId>) -> Self {
        Self {
            binding: Some(binding.into()),
            ..Self::default()
        }
    }

    /// Only this org.
    pub fn with_org(mut self, org: impl Into<OrgId>) -> Self {
        self.org = Some(org.into());
        self
    }

    /// Only this provider.
    pub fn with_provider(mut self, provider: impl Into<ProviderKind>) -> Self {
        self.provider = Some(provider.into());
        self
    }

    /// Only this kind.
    pub fn with_kind(mut self, kind: ResourceKind) -> Self {
        self.kind = Some(kind);
        self
    }

    /// Whether an object key (and its org) passes the filter.
    pub fn matches(&self, org: &OrgId, key: &ObjectKey) -> bool {
        self.org.as_ref().is_none_or(|o| o == org)
            && self.provider.as_ref().is_none_or(|p| *p == key.provider)
            && self.binding.as_ref().is_none_or(|b| *b == key.binding)
            && self.kind.is_none_or(|k| k == key.kind)
    }

    /// Whether a delivery passes the filter (kind is ignored).
    pub fn matches_delivery(&self, d: &DeliveryRecord) -> bool {
        self.org.as_ref().is_none_or(|o| *o == d.org)
            && self.provider.as_ref().is_none_or(|p| *p == d.provider)
            && self.binding.as_ref().is_none_or(|b| *b == d.binding)
    }
}

/// A health condition of a binding (the CRD doc's `AuthReady`, `WebhookReady`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// Whether it holds.
    pub status: bool,
    /// Why.
    pub reason: String,
    /// When it last changed.
    pub since: DateTime<Utc>,
}

/// Which sync state a record is: a binding's, or one interface and kind of it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SyncScope {
    /// Provider type.
    pub provider: ProviderKind,
    /// Binding.
    pub binding: BindingId,
    /// Interface, or `None` for the binding as a whole.
    pub interface: Option<Interface>,
    /// Kind, or `None` for the whole interface.
    pub kind: Option<ResourceKind>,
}

impl SyncScope {
    /// The scope of one binding as a whole.
    pub fn binding(provider: impl Into<ProviderKind>, binding: impl Into<BindingId>) -> Self {
        Self {
            provider: provider.into(),
            binding: binding.into(),
            interface: None,
            kind: None,
        }
    }

    /// The scope of one kind of a binding (its interface is the kind's).
    pub fn kind(
        provider: impl Into<ProviderKind>,
        binding: impl Into<BindingId>,
        kind: ResourceKind,
    ) -> Self {
        Self {
            provider: provider.into(),
            binding: binding.into(),
            interface: Some(kind.interface()),
            kind: Some(kind),
        }
    }
}

/// The seed's `ExternalSyncState`: cursor and high-watermark of one scope, and the
/// binding's conditions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SyncState {
    /// Scope.
    pub scope: SyncScope,
    /// Newest `updated_at` synced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_watermark: Option<DateTime<Utc>>,
    /// Opaque provider cursor (a checkpoint a resumed backfill starts from).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Last webhook delivery applied in this scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_delivery_id: Option<DeliveryId>,
    /// When the last full backfill finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_full_backfill_at: Option<DateTime<Utc>>,
    /// Conditions by name.
    #[serde(default)]
    pub conditions: BTreeMap<String, Condition>,
}

impl SyncState {
    /// An empty state of a scope.
    pub fn new(scope: SyncScope) -> Self {
        Self {
            scope,
            high_watermark: None,
            cursor: None,
            last_delivery_id: None,
            last_full_backfill_at: None,
            conditions: BTreeMap::new(),
        }
    }
}

/// Everything one engine step writes, committed atomically.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Transition {
    /// The object's new state, with the revision it was loaded at (`None` when new). The
    /// store writes it with `revision + 1`.
    pub object: Option<(ObjectState, Option<u64>)>,
    /// Event keys applied by this step. If any is already recorded the whole transition is
    /// refused with [`CommitOutcome::AlreadyApplied`].
    pub events: Vec<EventKey>,
    /// Delivery records to update (or store). A delivery's body is fixed when it is
    /// first stored: updating a stored delivery keeps its body, whatever the record
    /// carries, so stores need not send or rewrite payloads on every phase change.
    pub deliveries: Vec<DeliveryRecord>,
    /// Write intents to insert or update.
    pub write_intents: Vec<WriteIntent>,
    /// Conflicts to insert or update.
    pub conflicts: Vec<ConflictRecord>,
    /// Sync states to insert or update.
    pub sync_states: Vec<SyncState>,
    /// Audit records to append.
    pub audit: Vec<AuditRecord>,
}

impl Transition {
    /// A transition that only appends these audit records.
    pub fn audit(records: Vec<AuditRecord>) -> Self {
        Self {
            audit: records,
            ..Self::default()
        }
    }
}

/// How a commit went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    /// Everything was written.
    Committed,
    /// The object changed since it was loaded; nothing was written. Reload and retry.
    RevisionConflict,
    /// One of the event keys was already applied; nothing was written.
    AlreadyApplied,
}

/// Whether a delivery was new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// Stored for the first time.
    New,
    /// A delivery with the same provider and id exists; here it is.
    Duplicate(Box<DeliveryRecord>),
}

/// A persistence backend for kradle-sync. `kradle-store-memory` and
/// `kradle-store-postgres` implement it; the conformance suite behind the `testing`
/// feature checks any implementation.
#[async_trait]
pub trait SyncStore: Send + Sync {
    /// Stores a delivery unless one with the same (provider, delivery id) exists
    /// (invariant 1). Two racing receivers store it once.
    async fn insert_delivery(&self, delivery: &DeliveryRecord) -> Result<Inserted, Error>;

    /// A delivery by provider and id, body included.
    async fn get_delivery(
        &self,
        provider: &ProviderKind,
        id: &DeliveryId,
    ) -> Result<Option<DeliveryRecord>, Error>;

    /// Stores a new delivery and appends `audit` (what accepting it records) atomically:
    /// both or neither. A duplicate (same provider and delivery id) stores nothing and
    /// appends nothing, and is returned as [`Inserted::Duplicate`]. Stores override it to
    /// write both in one transaction; the default inserts, then commits the audit record
    /// when the delivery was new.
    async fn insert_delivery_audited(
        &self,
        delivery: &DeliveryRecord,
        audit: AuditRecord,
    ) -> Result<Inserted, Error> {
        let inserted = self.insert_delivery(delivery).await?;
        if matches!(inserted, Inserted::New) {
            self.commit(Transition {
                audit: vec![audit],
                ..Transition::default()
            })
            .await?;
        }
        Ok(inserted)
    }

    /// Several deliveries by provider and id, body included: one entry per id, in the
    /// order asked, `None` for an id not stored. Stores override it to read them all in
    /// one round trip; the default reads them one by one.
    async fn get_deliveries(
        &self,
        ids: &[(ProviderKind, DeliveryId)],
    ) -> Result<Vec<Option<DeliveryRecord>>, Error> {
        let mut out = Vec::with_capacity(ids.len());
        for (provider, id) in ids {
            out.push(self.get_delivery(provider, id).await?);
        }
        Ok(out)
    }

    /// Deliveries matching the filter (and phase, if given), sorted by (provider, id).
    async fn list_deliveries(
        &self,
        filter: &Filter,
        phase: Option<DeliveryPhase>,
    ) -> Result<Vec<DeliveryRecord>, Error>;

    /// An object's state.
    async fn load_object(&self, key: &ObjectKey) -> Result<Option<ObjectState>, Error>;

    /// Several objects' states: one entry per key, in the order asked, `None` for an
    /// object not stored. Stores override it to read them all in one round trip; the
    /// default loads them one by one.
    async fn load_objects(&self, keys: &[ObjectKey]) -> Result<Vec<Option<ObjectState>>, Error> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.load_object(key).await?);
        }
        Ok(out)
    }

    /// Objects matching the filter, sorted by key.
    async fn list_objects(&self, filter: &Filter) -> Result<Vec<ObjectState>, Error>;

    /// Whether an event key was applied.
    async fn event_applied(&self, key: &EventKey) -> Result<bool, Error>;

    /// Whether each of several event keys was applied: one entry per key, in the order
    /// asked. Stores override it to look them all up in one round trip; the default asks
    /// one by one.
    async fn events_applied(&self, keys: &[EventKey]) -> Result<Vec<bool>, Error> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.event_applied(key).await?);
        }
        Ok(out)
    }

    /// Commits a transition atomically.
    async fn commit(&self, transition: Transition) -> Result<CommitOutcome, Error>;

    /// Commits transitions in order, each atomically and decided exactly as if committed
    /// alone after the ones before it (a later transition sees an earlier one's object
    /// revision and event keys). Stores override it to batch round trips; the default
    /// commits one by one.
    async fn commit_many(&self, transitions: Vec<Transition>) -> Result<Vec<CommitOutcome>, Error> {
        let mut outcomes = Vec::with_capacity(transitions.len());
        for t in transitions {
            outcomes.push(self.commit(t).await?);
        }
        Ok(outcomes)
    }

    /// A write intent by id.
    async fn get_write_intent(&self, id: &str) -> Result<Option<WriteIntent>, Error>;

    /// Write intents matching the filter (and phase, if given), sorted by id.
    async fn list_write_intents(
        &self,
        filter: &Filter,
        phase: Option<WritePhase>,
    ) -> Result<Vec<WriteIntent>, Error>;

    /// A conflict by id.
    async fn get_conflict(&self, id: &str) -> Result<Option<ConflictRecord>, Error>;

    /// Conflicts matching the filter, sorted by id.
    async fn list_conflicts(&self, filter: &Filter) -> Result<Vec<ConflictRecord>, Error>;

    /// Audit records matching the filter (kind ignored), in the order they were appended.
    async fn list_audit(&self, filter: &Filter) -> Result<Vec<AuditRecord>, Error>;

    /// A sync state.
    async fn get_sync_state(&self, scope: &SyncScope) -> Result<Option<SyncState>, Error>;
}

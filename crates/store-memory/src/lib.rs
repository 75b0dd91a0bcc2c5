#![doc = include_str!("../README.md")]

mod queue;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use kradle_sync_core::audit::AuditRecord;
use kradle_sync_core::conflict::ConflictRecord;
use kradle_sync_core::delivery::{DeliveryPhase, DeliveryRecord};
use kradle_sync_core::projection::ObjectState;
use kradle_sync_core::store::{
    CacheEntry, CommitOutcome, Filter, HttpCache, Inserted, SyncScope, SyncState,
};
use kradle_sync_core::write_intent::{WriteIntent, WritePhase};
use kradle_sync_core::{
    DeliveryId, Error, EventKey, ObjectKey, ProviderKind, SyncStore, Transition,
};

pub use queue::DEFAULT_MAX_CLAIMS;

#[derive(Default)]
struct Inner {
    deliveries: HashMap<(ProviderKind, DeliveryId), DeliveryRecord>,
    queue: queue::QueueState,
    objects: BTreeMap<ObjectKey, ObjectState>,
    events: HashSet<EventKey>,
    intents: BTreeMap<String, WriteIntent>,
    conflicts: BTreeMap<String, ConflictRecord>,
    audit: Vec<AuditRecord>,
    sync_states: BTreeMap<SyncScope, SyncState>,
    cache: HashMap<String, CacheEntry>,
}

/// A `SyncStore`, `WorkQueue` and `HttpCache` in process memory. Cheap to create; share
/// it behind an `Arc` (an `Arc<MemoryStore>` is all three).
pub struct MemoryStore {
    inner: Mutex<Inner>,
    max_claims: u32,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self {
            inner: Mutex::default(),
            max_claims: DEFAULT_MAX_CLAIMS,
        }
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("deliveries", &self.delivery_count())
            .field("max_claims", &self.max_claims)
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Dead-letters a delivery claimed more than `max_claims` times without an outcome
    /// instead of handing it out again (default [`DEFAULT_MAX_CLAIMS`]).
    pub fn with_max_claims(mut self, max_claims: u32) -> Self {
        self.max_claims = max_claims.max(1);
        self
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, Error> {
        self.inner.lock().map_err(|_| Error::Store {
            store: "memory",
            message: "a thread panicked while holding the store lock; recreate the store".into(),
            source: None,
        })
    }

    /// Number of stored deliveries.
    pub fn delivery_count(&self) -> usize {
        self.lock().map_or(0, |i| i.deliveries.len())
    }

    /// Number of audit records.
    pub fn audit_count(&self) -> usize {
        self.lock().map_or(0, |i| i.audit.len())
    }
}

#[async_trait]
impl SyncStore for MemoryStore {
    async fn insert_delivery(&self, delivery: &DeliveryRecord) -> Result<Inserted, Error> {
        let mut inner = self.lock()?;
        let key = (delivery.provider.clone(), delivery.delivery_id.clone());
        if let Some(existing) = inner.deliveries.get(&key) {
            return Ok(Inserted::Duplicate(Box::new(existing.clone())));
        }
        inner.queue.stored(&key, delivery);
        inner.deliveries.insert(key, delivery.clone());
        Ok(Inserted::New)
    }

    async fn get_delivery(
        &self,
        provider: &ProviderKind,
        id: &DeliveryId,
    ) -> Result<Option<DeliveryRecord>, Error> {
        Ok(self
            .lock()?
            .deliveries
            .get(&(provider.clone(), id.clone()))
            .cloned())
    }

    async fn insert_delivery_audited(
        &self,
        delivery: &DeliveryRecord,
        audit: AuditRecord,
    ) -> Result<Inserted, Error> {
        let mut inner = self.lock()?;
        let key = (delivery.provider.clone(), delivery.delivery_id.clone());
        if let Some(existing) = inner.deliveries.get(&key) {
            return Ok(Inserted::Duplicate(Box::new(existing.clone())));
        }
        inner.queue.stored(&key, delivery);
        inner.deliveries.insert(key, delivery.clone());
        inner.audit.push(audit);
        Ok(Inserted::New)
    }

    async fn get_deliveries(
        &self,
        ids: &[(ProviderKind, DeliveryId)],
    ) -> Result<Vec<Option<DeliveryRecord>>, Error> {
        let inner = self.lock()?;
        Ok(ids
            .iter()
            .map(|(provider, id)| {
                inner
                    .deliveries
                    .get(&(provider.clone(), id.clone()))
                    .cloned()
            })
            .collect())
    }

    async fn list_deliveries(
        &self,
        filter: &Filter,
        phase: Option<DeliveryPhase>,
    ) -> Result<Vec<DeliveryRecord>, Error> {
        let inner = self.lock()?;
        let mut out: Vec<DeliveryRecord> = inner
            .deliveries
            .values()
            .filter(|d| filter.matches_delivery(d) && phase.is_none_or(|p| p == d.phase))
            .cloned()
            .collect();
        out.sort_by(|a, b| (&a.provider, &a.delivery_id).cmp(&(&b.provider, &b.delivery_id)));
        Ok(out)
    }

    async fn load_object(&self, key: &ObjectKey) -> Result<Option<ObjectState>, Error> {
        Ok(self.lock()?.objects.get(key).cloned())
    }

    async fn load_objects(&self, keys: &[ObjectKey]) -> Result<Vec<Option<ObjectState>>, Error> {
        let inner = self.lock()?;
        Ok(keys.iter().map(|k| inner.objects.get(k).cloned()).collect())
    }

    async fn list_objects(&self, filter: &Filter) -> Result<Vec<ObjectState>, Error> {
        let inner = self.lock()?;
        Ok(inner
            .objects
            .values()
            .filter(|o| filter.matches(&o.org, &o.key))
            .cloned()
            .collect())
    }

    async fn event_applied(&self, key: &EventKey) -> Result<bool, Error> {
        Ok(self.lock()?.events.contains(key))
    }

    async fn events_applied(&self, keys: &[EventKey]) -> Result<Vec<bool>, Error> {
        let inner = self.lock()?;
        Ok(keys.iter().map(|k| inner.events.contains(k)).collect())
    }

    async fn commit(&self, transition: Transition) -> Result<CommitOutcome, Error> {
        let mut inner = self.lock()?;
        Ok(inner.commit(transition))
    }

    async fn get_write_intent(&self, id: &str) -> Result<Option<WriteIntent>, Error> {
        Ok(self.lock()?.intents.get(id).cloned())
    }

    async fn list_write_intents(
        &self,
        filter: &Filter,
        phase: Option<WritePhase>,
    ) -> Result<Vec<WriteIntent>, Error> {
        let inner = self.lock()?;
        Ok(inner
            .intents
            .values()
            .filter(|i| filter.matches(&i.org, &i.target) && phase.is_none_or(|p| p == i.phase))
            .cloned()
            .collect())
    }

    async fn get_conflict(&self, id: &str) -> Result<Option<ConflictRecord>, Error> {
        Ok(self.lock()?.conflicts.get(id).cloned())
    }

    async fn list_conflicts(&self, filter: &Filter) -> Result<Vec<ConflictRecord>, Error> {
        let inner = self.lock()?;
        Ok(inner
            .conflicts
            .values()
            .filter(|c| filter.matches(&c.org, &c.object))
            .cloned()
            .collect())
    }

    async fn list_audit(&self, filter: &Filter) -> Result<Vec<AuditRecord>, Error> {
        let inner = self.lock()?;
        Ok(inner
            .audit
            .iter()
            .filter(|a| {
                filter.org.as_ref().is_none_or(|o| *o == a.org)
                    && filter.provider.as_ref().is_none_or(|p| *p == a.provider)
                    && filter.binding.as_ref().is_none_or(|b| *b == a.binding)
            })
            .cloned()
            .collect())
    }

    async fn get_sync_state(&self, scope: &SyncScope) -> Result<Option<SyncState>, Error> {
        Ok(self.lock()?.sync_states.get(scope).cloned())
    }
}

#[async_trait]
impl HttpCache for MemoryStore {
    async fn cache_get(&self, key: &str) -> Result<Option<CacheEntry>, Error> {
        Ok(self.lock()?.cache.get(key).cloned())
    }

    async fn cache_put(&self, key: &str, entry: CacheEntry) -> Result<(), Error> {
        self.lock()?.cache.insert(key.to_owned(), entry);
        Ok(())
    }
}

impl Inner {
    /// Commits a transition: all of it, or nothing when an event key was applied or the
    /// object moved on.
    fn commit(&mut self, transition: Transition) -> CommitOutcome {
        let inner = self;
        if transition.events.iter().any(|e| inner.events.contains(e)) {
            return CommitOutcome::AlreadyApplied;
        }
        if let Some((state, expected)) = &transition.object {
            let current = inner.objects.get(&state.key).map(|s| s.revision);
            if current != *expected {
                return CommitOutcome::RevisionConflict;
            }
        }
        inner.events.extend(transition.events);
        if let Some((mut state, expected)) = transition.object {
            state.revision = expected.map_or(1, |r| r + 1);
            inner.objects.insert(state.key.clone(), state);
        }
        for mut d in transition.deliveries {
            let key = (d.provider.clone(), d.delivery_id.clone());
            // A delivery's body is fixed when it is first stored.
            if let Some(stored) = inner.deliveries.get_mut(&key) {
                d.body = std::mem::take(&mut stored.body);
            }
            // Recording an outcome ends the delivery's lease.
            inner.queue.stored(&key, &d);
            inner.deliveries.insert(key, d);
        }
        if !transition.write_intents.is_empty() {
            // New or retried writes are work for the workers.
            inner.queue.wake();
        }
        for i in transition.write_intents {
            inner.intents.insert(i.id.clone(), i);
        }
        for c in transition.conflicts {
            inner.conflicts.insert(c.id.clone(), c);
        }
        for s in transition.sync_states {
            inner.sync_states.insert(s.scope.clone(), s);
        }
        inner.audit.extend(transition.audit);
        CommitOutcome::Committed
    }
}

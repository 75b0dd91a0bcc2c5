//! A `SyncStore` that delegates to a PostgreSQL store and lets a test watch commits and
//! inject failures.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use kradle_store_postgres::PostgresStore;
use kradle_sync_core::audit::AuditRecord;
use kradle_sync_core::conflict::ConflictRecord;
use kradle_sync_core::delivery::{DeliveryPhase, DeliveryRecord};
use kradle_sync_core::projection::ObjectState;
use kradle_sync_core::store::{CommitOutcome, Filter, Inserted, SyncScope, SyncState};
use kradle_sync_core::write_intent::{WriteIntent, WritePhase};
use kradle_sync_core::{
    DeliveryId, Error, EventKey, ObjectKey, ProviderKind, SyncStore, Transition,
};

/// Called with every delivery record about to be committed with an outcome (a phase
/// other than queued), before the commit reaches the database.
pub type OnOutcome = dyn Fn(&DeliveryRecord) + Send + Sync;

/// The probe.
#[derive(Clone)]
pub struct Probe {
    pub inner: PostgresStore,
    on_outcome: Option<Arc<OnOutcome>>,
    failing_loads: Arc<AtomicU32>,
    pub log: Arc<Mutex<Vec<String>>>,
    /// How often each read method was called.
    pub reads: Arc<Mutex<BTreeMap<&'static str, u32>>>,
}

impl Probe {
    pub fn new(inner: PostgresStore) -> Self {
        Self {
            inner,
            on_outcome: None,
            failing_loads: Arc::new(AtomicU32::new(0)),
            log: Arc::default(),
            reads: Arc::default(),
        }
    }

    pub fn on_outcome(mut self, f: impl Fn(&DeliveryRecord) + Send + Sync + 'static) -> Self {
        self.on_outcome = Some(Arc::new(f));
        self
    }

    /// Makes the next `n` object loads fail as if the server went away.
    pub fn fail_next_loads(&self, n: u32) {
        self.failing_loads.store(n, Ordering::SeqCst);
    }

    fn count(&self, method: &'static str) {
        *self.reads.lock().unwrap().entry(method).or_default() += 1;
    }

    /// How often `method` was called.
    pub fn reads_of(&self, method: &str) -> u32 {
        self.reads.lock().unwrap().get(method).copied().unwrap_or(0)
    }

    /// Fails if a failing load is pending (and uses it up), logging what failed.
    fn fail_load(&self, what: &str) -> Result<(), Error> {
        let failing = self
            .failing_loads
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            self.log
                .lock()
                .unwrap()
                .push(format!("failed load of {what}"));
            return Err(Error::Store {
                store: "probe",
                message: "the connection to the server was lost".into(),
                source: None,
            });
        }
        Ok(())
    }

    fn watch(&self, transitions: &[Transition]) {
        if let Some(f) = &self.on_outcome {
            for d in transitions.iter().flat_map(|t| t.deliveries.iter()) {
                if d.phase != DeliveryPhase::Queued {
                    f(d);
                }
            }
        }
    }
}

#[async_trait]
impl SyncStore for Probe {
    async fn insert_delivery(&self, delivery: &DeliveryRecord) -> Result<Inserted, Error> {
        self.inner.insert_delivery(delivery).await
    }
    async fn insert_delivery_audited(
        &self,
        delivery: &DeliveryRecord,
        audit: AuditRecord,
    ) -> Result<Inserted, Error> {
        self.inner.insert_delivery_audited(delivery, audit).await
    }
    async fn get_delivery(
        &self,
        provider: &ProviderKind,
        id: &DeliveryId,
    ) -> Result<Option<DeliveryRecord>, Error> {
        self.count("get_delivery");
        self.inner.get_delivery(provider, id).await
    }
    async fn list_deliveries(
        &self,
        filter: &Filter,
        phase: Option<DeliveryPhase>,
    ) -> Result<Vec<DeliveryRecord>, Error> {
        self.inner.list_deliveries(filter, phase).await
    }
    async fn get_deliveries(
        &self,
        ids: &[(ProviderKind, DeliveryId)],
    ) -> Result<Vec<Option<DeliveryRecord>>, Error> {
        self.count("get_deliveries");
        self.inner.get_deliveries(ids).await
    }
    async fn load_object(&self, key: &ObjectKey) -> Result<Option<ObjectState>, Error> {
        self.count("load_object");
        self.fail_load(&key.to_string())?;
        self.inner.load_object(key).await
    }
    /// A failing load fails the whole read of several objects.
    async fn load_objects(&self, keys: &[ObjectKey]) -> Result<Vec<Option<ObjectState>>, Error> {
        self.count("load_objects");
        self.fail_load(&format!("{} objects", keys.len()))?;
        self.inner.load_objects(keys).await
    }
    async fn events_applied(&self, keys: &[EventKey]) -> Result<Vec<bool>, Error> {
        self.count("events_applied");
        self.inner.events_applied(keys).await
    }
    async fn list_objects(&self, filter: &Filter) -> Result<Vec<ObjectState>, Error> {
        self.inner.list_objects(filter).await
    }
    async fn event_applied(&self, key: &EventKey) -> Result<bool, Error> {
        self.count("event_applied");
        self.inner.event_applied(key).await
    }
    async fn commit(&self, transition: Transition) -> Result<CommitOutcome, Error> {
        self.watch(std::slice::from_ref(&transition));
        self.inner.commit(transition).await
    }
    async fn commit_many(&self, transitions: Vec<Transition>) -> Result<Vec<CommitOutcome>, Error> {
        self.watch(&transitions);
        self.inner.commit_many(transitions).await
    }
    async fn get_write_intent(&self, id: &str) -> Result<Option<WriteIntent>, Error> {
        self.inner.get_write_intent(id).await
    }
    async fn list_write_intents(
        &self,
        filter: &Filter,
        phase: Option<WritePhase>,
    ) -> Result<Vec<WriteIntent>, Error> {
        self.inner.list_write_intents(filter, phase).await
    }
    async fn get_conflict(&self, id: &str) -> Result<Option<ConflictRecord>, Error> {
        self.inner.get_conflict(id).await
    }
    async fn list_conflicts(&self, filter: &Filter) -> Result<Vec<ConflictRecord>, Error> {
        self.inner.list_conflicts(filter).await
    }
    async fn list_audit(&self, filter: &Filter) -> Result<Vec<AuditRecord>, Error> {
        self.inner.list_audit(filter).await
    }
    async fn get_sync_state(&self, scope: &SyncScope) -> Result<Option<SyncState>, Error> {
        self.inner.get_sync_state(scope).await
    }
}

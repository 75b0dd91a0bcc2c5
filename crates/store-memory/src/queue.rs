//! The work queue in memory: the same rules as the PostgreSQL store's (leases, one live
//! lease per ordering key, oldest first, completion by commit, poison deliveries
//! dead-lettered), so `kradle-sync serve --store memory` and tests of the server run
//! without a database.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::channel::mpsc;
use futures::future::BoxFuture;
use kradle_sync_core::delivery::{DeliveryPhase, DeliveryRecord, dead_letter_unfinished};
use kradle_sync_core::queue::{DeliveryRef, QueueStats, WorkSignal};
use kradle_sync_core::write_intent::{WriteIntent, WritePhase};
use kradle_sync_core::{BindingId, Error, ObjectKey, WorkQueue};

use crate::MemoryStore;

/// How many times a delivery may be claimed without an outcome being recorded before it
/// is dead-lettered (see [`MemoryStore::with_max_claims`]).
pub const DEFAULT_MAX_CLAIMS: u32 = 5;

/// A claim on one delivery.
#[derive(Debug, Clone)]
struct Lease {
    owner: String,
    until: DateTime<Utc>,
}

/// The queue's side of the store: which deliveries are pending, in arrival order, and who
/// holds them.
#[derive(Default)]
pub(crate) struct QueueState {
    /// Arrival sequence of the next stored delivery.
    next_seq: u64,
    /// Arrival sequence of every stored delivery.
    seq: HashMap<DeliveryRef, u64>,
    /// Pending deliveries by arrival sequence.
    pending: BTreeMap<u64, DeliveryRef>,
    /// Live or expired leases of pending deliveries.
    leases: HashMap<DeliveryRef, Lease>,
    /// Claims since the last recorded outcome.
    claims: HashMap<DeliveryRef, u32>,
    /// Listeners to wake when work arrives.
    listeners: Vec<mpsc::UnboundedSender<()>>,
    /// Leases of write intents, by intent id.
    intent_leases: HashMap<String, Lease>,
}

fn is_pending(phase: DeliveryPhase) -> bool {
    matches!(phase, DeliveryPhase::Queued | DeliveryPhase::Failed)
}

/// Whether a worker can execute an intent in this phase.
fn executable(phase: WritePhase) -> bool {
    matches!(
        phase,
        WritePhase::Pending | WritePhase::Approved | WritePhase::Failed | WritePhase::Applying
    )
}

fn ordering_key(delivery: &DeliveryRecord) -> String {
    delivery
        .ordering_key
        .clone()
        .unwrap_or_else(|| format!("{}/{}", delivery.provider, delivery.binding))
}

fn lease_end(now: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(lease)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl QueueState {
    /// A delivery was stored or its record committed: it is pending or not by its phase,
    /// and whatever lease it had ends (recording an outcome completes the claim).
    pub(crate) fn stored(&mut self, key: &DeliveryRef, record: &DeliveryRecord) {
        let seq = match self.seq.get(key) {
            Some(seq) => *seq,
            None => {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.seq.insert(key.clone(), seq);
                seq
            }
        };
        self.leases.remove(key);
        self.claims.remove(key);
        if is_pending(record.phase) {
            self.pending.insert(seq, key.clone());
            self.wake();
        } else {
            self.pending.remove(&seq);
        }
    }

    /// Announces new work to every listener.
    pub(crate) fn wake(&mut self) {
        self.listeners.retain(|l| l.unbounded_send(()).is_ok());
    }

    fn live(&self, key: &DeliveryRef, now: DateTime<Utc>) -> bool {
        self.leases.get(key).is_some_and(|l| l.until > now)
    }

    fn end_lease(&mut self, key: &DeliveryRef) {
        if self.leases.remove(key).is_some()
            && let Some(c) = self.claims.get_mut(key)
        {
            *c = c.saturating_sub(1);
        }
    }
}

/// The signal of one listener.
struct Listener(mpsc::UnboundedReceiver<()>);

impl WorkSignal for Listener {
    fn changed(&mut self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            match self.0.next().await {
                Some(()) => {
                    // Announcements that arrived meanwhile are taken together.
                    while self.0.try_recv().is_ok() {}
                    Ok(())
                }
                None => Err(Error::Store {
                    store: "memory",
                    message: "the store's work signal closed".into(),
                    source: None,
                }),
            }
        })
    }
}

#[async_trait]
impl WorkQueue for MemoryStore {
    async fn claim_deliveries(
        &self,
        worker: &str,
        lease: Duration,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<DeliveryRef>, Error> {
        let mut guard = self.lock()?;
        let inner = &mut *guard;
        // Keys with a live lease, and the deliveries of each key that come first.
        let mut busy: HashSet<String> = HashSet::new();
        for key in inner.queue.pending.values() {
            if inner.queue.live(key, now)
                && let Some(d) = inner.deliveries.get(key)
            {
                busy.insert(ordering_key(d));
            }
        }
        let mut claimed = Vec::new();
        let mut poisoned = Vec::new();
        let pending: Vec<DeliveryRef> = inner.queue.pending.values().cloned().collect();
        for key in pending {
            if claimed.len() >= limit {
                break;
            }
            let Some(delivery) = inner.deliveries.get(&key) else {
                continue;
            };
            let due = delivery.next_attempt_at.is_none_or(|at| at <= now);
            let okey = ordering_key(delivery);
            if !due || busy.contains(&okey) || inner.queue.live(&key, now) {
                continue;
            }
            let claims = inner.queue.claims.get(&key).copied().unwrap_or(0) + 1;
            if claims > self.max_claims {
                poisoned.push((delivery.clone(), claims - 1));
                continue;
            }
            busy.insert(okey);
            inner.queue.claims.insert(key.clone(), claims);
            inner.queue.leases.insert(
                key.clone(),
                Lease {
                    owner: worker.to_owned(),
                    until: lease_end(now, lease),
                },
            );
            claimed.push(key);
        }
        for (delivery, claims) in poisoned {
            let transition = dead_letter_unfinished(delivery, claims, worker, now);
            inner.commit(transition);
        }
        Ok(claimed)
    }

    async fn renew_leases(
        &self,
        worker: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<u64, Error> {
        let mut inner = self.lock()?;
        let until = lease_end(now, lease);
        let mut renewed = 0;
        let queue = &mut inner.queue;
        for l in queue
            .leases
            .values_mut()
            .chain(queue.intent_leases.values_mut())
        {
            if l.owner == worker && l.until > now {
                l.until = until;
                renewed += 1;
            }
        }
        Ok(renewed)
    }

    async fn release(&self, worker: &str, deliveries: &[DeliveryRef]) -> Result<u64, Error> {
        let mut inner = self.lock()?;
        let mut released = 0;
        for key in deliveries {
            if inner
                .queue
                .leases
                .get(key)
                .is_some_and(|l| l.owner == worker)
            {
                inner.queue.end_lease(key);
                released += 1;
            }
        }
        if released > 0 {
            inner.queue.wake();
        }
        Ok(released)
    }

    async fn release_all(&self, worker: &str) -> Result<u64, Error> {
        let mut inner = self.lock()?;
        let mine: Vec<DeliveryRef> = inner
            .queue
            .leases
            .iter()
            .filter(|(_, l)| l.owner == worker)
            .map(|(k, _)| k.clone())
            .collect();
        for key in &mine {
            inner.queue.end_lease(key);
        }
        let before = inner.queue.intent_leases.len();
        inner.queue.intent_leases.retain(|_, l| l.owner != worker);
        let intents = before - inner.queue.intent_leases.len();
        if !mine.is_empty() || intents > 0 {
            inner.queue.wake();
        }
        Ok(u64::try_from(mine.len() + intents).unwrap_or(u64::MAX))
    }

    async fn claim_write_intents(
        &self,
        worker: &str,
        bindings: &[BindingId],
        lease: Duration,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, Error> {
        let mut guard = self.lock()?;
        let inner = &mut *guard;
        // The oldest executable intent of each object, and the objects with a live lease.
        let mut oldest: HashMap<&ObjectKey, &WriteIntent> = HashMap::new();
        let mut busy: HashSet<&ObjectKey> = HashSet::new();
        for intent in inner
            .intents
            .values()
            .filter(|i| executable(i.phase) && bindings.contains(&i.target.binding))
        {
            if inner
                .queue
                .intent_leases
                .get(&intent.id)
                .is_some_and(|l| l.until > now)
            {
                busy.insert(&intent.target);
            }
            let first = oldest.entry(&intent.target).or_insert(intent);
            if (intent.created_at, &intent.id) < (first.created_at, &first.id) {
                *first = intent;
            }
        }
        let mut due: Vec<&WriteIntent> = oldest
            .into_iter()
            .filter(|(key, i)| !busy.contains(key) && i.next_attempt_at.is_none_or(|at| at <= now))
            .map(|(_, i)| i)
            .collect();
        due.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        let claimed: Vec<String> = due.into_iter().take(limit).map(|i| i.id.clone()).collect();
        for id in &claimed {
            inner.queue.intent_leases.insert(
                id.clone(),
                Lease {
                    owner: worker.to_owned(),
                    until: lease_end(now, lease),
                },
            );
        }
        Ok(claimed)
    }

    async fn release_write_intents(&self, worker: &str, ids: &[String]) -> Result<u64, Error> {
        let mut inner = self.lock()?;
        let mut released = 0;
        for id in ids {
            if inner
                .queue
                .intent_leases
                .get(id)
                .is_some_and(|l| l.owner == worker)
            {
                inner.queue.intent_leases.remove(id);
                released += 1;
            }
        }
        if released > 0 {
            inner.queue.wake();
        }
        Ok(released)
    }

    async fn stats(&self, now: DateTime<Utc>) -> Result<QueueStats, Error> {
        let inner = self.lock()?;
        let mut stats = QueueStats::default();
        for intent in inner.intents.values().filter(|i| executable(i.phase)) {
            stats.intents += 1;
            if inner
                .queue
                .intent_leases
                .get(&intent.id)
                .is_some_and(|l| l.until > now)
            {
                stats.intents_claimed += 1;
            }
        }
        for key in inner.queue.pending.values() {
            let Some(d) = inner.deliveries.get(key) else {
                continue;
            };
            stats.pending += 1;
            if inner.queue.live(key, now) {
                stats.claimed += 1;
            }
            if d.next_attempt_at.is_some_and(|at| at > now) {
                stats.waiting_for_retry += 1;
            }
            if stats.oldest_pending_at.is_none_or(|at| d.received_at < at) {
                stats.oldest_pending_at = Some(d.received_at);
            }
        }
        Ok(stats)
    }

    async fn listen(&self) -> Result<Box<dyn WorkSignal>, Error> {
        let (tx, rx) = mpsc::unbounded();
        self.lock()?.queue.listeners.push(tx);
        Ok(Box::new(Listener(rx)))
    }
}

//! `kradle-sync worker`: claims stored deliveries from the PostgreSQL queue and processes
//! them. `serve` runs the same loop in-process.
//!
//! Each slot (`--concurrency`) loops: claim a batch with a lease, process it with
//! [`Engine::process_batch`] while a heartbeat renews the lease, and, when nothing is
//! claimable, wait for a `NOTIFY` or the poll interval, whichever comes first (the
//! notification is a hint; the poll is the source of truth: retries come due and leases
//! expire without one). Failed deliveries carry their next attempt time, set by the
//! engine with exponential backoff, and are claimed again when it passes, until the
//! engine dead-letters them. On shutdown a slot finishes the batch it holds and gives
//! back every claim of its owner name.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use kradle_store_postgres::PostgresStore;
use kradle_sync_core::delivery::DeliveryPhase;
use kradle_sync_core::{Binding, Engine, EngineConfig, SyncStore, WebhookAdapter};
use serde::Serialize;
use tokio::sync::{Notify, watch};

use crate::error::CliError;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Lease owner name; slot `n` of several is `ID/n`.
    pub id: String,
    /// Slots claiming and processing at once.
    pub concurrency: usize,
    /// How long a claim is held before another worker may take it over.
    pub lease: Duration,
    /// Deliveries claimed (and committed) together.
    pub batch: usize,
    /// Longest wait between two looks at the queue when no notification arrives.
    pub poll: Duration,
    /// Exit once nothing is claimable instead of waiting for more work.
    pub drain: bool,
}

/// What a worker did, printed when it stops.
#[derive(Debug, Default, Serialize)]
pub struct Totals {
    /// Deliveries whose events were applied (or that were out of scope).
    pub processed: u64,
    /// Attempts that failed and will be retried.
    pub failed: u64,
    /// Deliveries that ran out of attempts or could not be processed at all.
    pub dead_lettered: u64,
    /// Deliveries refused as belonging to another target.
    pub rejected: u64,
    /// Claims given back without processing (shutdown, store trouble).
    pub released: u64,
}

#[derive(Default)]
struct Counters {
    processed: AtomicU64,
    failed: AtomicU64,
    dead_lettered: AtomicU64,
    rejected: AtomicU64,
    released: AtomicU64,
}

impl Counters {
    fn totals(&self) -> Totals {
        Totals {
            processed: self.processed.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            released: self.released.load(Ordering::Relaxed),
        }
    }
}

/// The default worker id: the process id, unique on one host.
pub fn default_id() -> String {
    format!("kradle-sync-{}", std::process::id())
}

/// Builds the engine every service command uses: GitHub's adapter and the bindings.
pub fn engine(
    store: Arc<dyn SyncStore>,
    adapters: Vec<Arc<dyn WebhookAdapter>>,
    bindings: Vec<Binding>,
    max_body_bytes: usize,
) -> Result<Engine, CliError> {
    let mut builder = Engine::builder(store).config(EngineConfig {
        max_body_bytes,
        ..EngineConfig::default()
    });
    for adapter in adapters {
        builder = builder.adapter(adapter);
    }
    for binding in bindings {
        builder = builder.binding(binding);
    }
    Ok(builder.build()?)
}

/// Runs the worker until `shutdown` turns true (or, with `drain`, until the queue is
/// empty), then gives back every claim it holds.
pub async fn run(
    store: PostgresStore,
    engine: Arc<Engine>,
    settings: WorkerSettings,
    shutdown: watch::Receiver<bool>,
) -> Totals {
    let wake = Arc::new(Notify::new());
    let counters = Arc::new(Counters::default());
    let listener = tokio::spawn(listen(
        store.clone(),
        wake.clone(),
        settings.poll,
        shutdown.clone(),
    ));
    let slots = settings.concurrency.max(1);
    let mut tasks = Vec::with_capacity(slots);
    for n in 0..slots {
        let owner = if slots == 1 {
            settings.id.clone()
        } else {
            format!("{}/{n}", settings.id)
        };
        tasks.push(tokio::spawn(slot(
            Slot {
                owner,
                store: store.clone(),
                engine: engine.clone(),
                settings: settings.clone(),
                wake: wake.clone(),
                counters: counters.clone(),
            },
            shutdown.clone(),
        )));
    }
    for task in tasks {
        if let Err(e) = task.await {
            tracing::error!(error = %e, "a worker slot stopped unexpectedly");
        }
    }
    listener.abort();
    counters.totals()
}

/// Turns notifications on the store's channel into wake-ups of idle slots. When the
/// listening connection fails it reconnects with backoff; slots keep polling meanwhile.
async fn listen(
    store: PostgresStore,
    wake: Arc<Notify>,
    poll: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::default();
    while !*shutdown.borrow() {
        let mut listener = match store.listen().await {
            Ok(l) => {
                backoff.reset();
                l
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for work notifications; polling meanwhile");
                if sleep_or_shutdown(backoff.next(), &mut shutdown).await {
                    return;
                }
                continue;
            }
        };
        loop {
            tokio::select! {
                woken = listener.wait_for_work(poll) => match woken {
                    Ok(true) => wake.notify_waiters(),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "lost the work notification connection; reconnecting");
                        break;
                    }
                },
                _ = shutdown.changed() => return,
            }
        }
    }
}

struct Slot {
    owner: String,
    store: PostgresStore,
    engine: Arc<Engine>,
    settings: WorkerSettings,
    wake: Arc<Notify>,
    counters: Arc<Counters>,
}

async fn slot(slot: Slot, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = Backoff::default();
    loop {
        if *shutdown.borrow() {
            break;
        }
        // Registered before the claim, so a notification that arrives between an empty
        // claim and the wait is not missed.
        let notified = slot.wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let claimed = slot
            .store
            .claim_deliveries(
                &slot.owner,
                slot.settings.lease,
                slot.settings.batch.max(1),
                Utc::now(),
            )
            .await;
        match claimed {
            Ok(batch) if batch.is_empty() => {
                backoff.reset();
                if slot.settings.drain {
                    break;
                }
                tokio::select! {
                    _ = &mut notified => {}
                    _ = tokio::time::sleep(slot.settings.poll) => {}
                    _ = shutdown.changed() => {}
                }
            }
            Ok(batch) => {
                let ids: Vec<_> = batch
                    .into_iter()
                    .map(|d| (d.provider, d.delivery_id))
                    .collect();
                if process(&slot, &ids).await {
                    backoff.reset();
                } else if sleep_or_shutdown(backoff.next(), &mut shutdown).await {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(owner = %slot.owner, error = %e, "cannot claim deliveries; retrying");
                if sleep_or_shutdown(backoff.next(), &mut shutdown).await {
                    break;
                }
            }
        }
    }
    match slot.store.release_all(&slot.owner).await {
        Ok(n) => {
            slot.counters.released.fetch_add(n, Ordering::Relaxed);
            if n > 0 {
                tracing::info!(owner = %slot.owner, released = n, "gave back claims");
            }
        }
        Err(e) => {
            tracing::warn!(owner = %slot.owner, error = %e, "cannot give back claims; they return when their lease expires");
        }
    }
}

/// Processes one claimed batch while renewing its lease. Returns false when the store
/// failed (the claims are given back, and the caller backs off).
async fn process(
    slot: &Slot,
    ids: &[(kradle_sync_core::ProviderKind, kradle_sync_core::DeliveryId)],
) -> bool {
    let heartbeat = async {
        let every = (slot.settings.lease / 3).max(Duration::from_millis(100));
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = slot
                .store
                .renew_leases(&slot.owner, slot.settings.lease, Utc::now())
                .await
            {
                tracing::warn!(owner = %slot.owner, error = %e, "cannot renew leases");
            }
        }
    };
    let result = tokio::select! {
        biased;
        r = slot.engine.process_batch(ids, Utc::now()) => r,
        () = heartbeat => return false,
    };
    match result {
        Ok(reports) => {
            for ((provider, id), report) in ids.iter().zip(&reports) {
                let counter = match report.phase {
                    Some(DeliveryPhase::Processed) => Some(&slot.counters.processed),
                    Some(DeliveryPhase::Failed) => Some(&slot.counters.failed),
                    Some(DeliveryPhase::DeadLettered) => Some(&slot.counters.dead_lettered),
                    Some(DeliveryPhase::Rejected) => Some(&slot.counters.rejected),
                    _ => None,
                };
                if let Some(c) = counter {
                    c.fetch_add(1, Ordering::Relaxed);
                }
                let phase = report.phase.map_or("unchanged", |p| p.as_str());
                match &report.error {
                    Some(error) => tracing::warn!(
                        %provider, delivery_id = %id, phase, error = %error,
                        "delivery not applied"
                    ),
                    None => tracing::info!(
                        %provider, delivery_id = %id, phase,
                        events = report.events, applied = report.applied, stale = report.stale,
                        "delivery processed"
                    ),
                }
            }
            true
        }
        Err(e) => {
            tracing::warn!(owner = %slot.owner, error = %e, deliveries = ids.len(), "processing failed; giving the claims back");
            match slot.store.release(&slot.owner, ids).await {
                Ok(n) => {
                    slot.counters.released.fetch_add(n, Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::warn!(owner = %slot.owner, error = %e, "cannot give back claims; they return when their lease expires");
                }
            }
            false
        }
    }
}

/// Sleeps, or returns true early when shutdown is requested.
async fn sleep_or_shutdown(delay: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    if *shutdown.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(delay) => *shutdown.borrow(),
        _ = shutdown.changed() => true,
    }
}

/// Exponential backoff for store trouble: 200 ms doubling to 10 s.
#[derive(Default)]
struct Backoff {
    failures: u32,
}

impl Backoff {
    const BASE: Duration = Duration::from_millis(200);
    const MAX: Duration = Duration::from_secs(10);

    fn next(&mut self) -> Duration {
        let delay = Self::BASE
            .checked_mul(1u32 << self.failures.min(16))
            .unwrap_or(Self::MAX)
            .min(Self::MAX);
        self.failures = self.failures.saturating_add(1);
        delay
    }

    fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_resets() {
        let mut b = Backoff::default();
        assert_eq!(b.next(), Duration::from_millis(200));
        assert_eq!(b.next(), Duration::from_millis(400));
        for _ in 0..40 {
            assert!(b.next() <= Backoff::MAX);
        }
        assert_eq!(b.next(), Backoff::MAX);
        b.reset();
        assert_eq!(b.next(), Backoff::BASE);
    }
}

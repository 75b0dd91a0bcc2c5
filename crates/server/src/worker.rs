//! The worker: claims stored deliveries from a [`WorkQueue`] and processes them with the
//! engine, and (given [connections](Worker::with_writes)) claims due write intents and
//! writes them to their providers. `kradle-sync worker` and `kradle-sync serve` run it; a
//! host runs it on its own tokio runtime.
//!
//! **Writes.** A worker with connections claims the write intents of the connected
//! bindings from the queue's second lane, with the same leases as deliveries (two workers
//! never execute one intent, and writes to one object leave one at a time, in order), and
//! executes each with a [`WriteExecutor`]: a retried create first looks for the object its
//! earlier attempt may have made (by its idempotency marker), so a worker killed between the
//! provider's answer and recording it never makes the next attempt create twice. Intents
//! awaiting approval wait until approved. The worker also checks the confirmation deadline
//! of applied writes ([`Engine::tick`]) every [`confirm_every`](WorkerSettings::confirm_every).
//!
//! Each slot ([`WorkerSettings::concurrency`]) loops: claim a batch with a lease, process it with
//! [`Engine::process_batch`] while a heartbeat renews the lease, and, when nothing is
//! claimable, wait for the queue's [work signal](WorkQueue::listen) (PostgreSQL's `NOTIFY`)
//! or the poll interval, whichever comes first (the signal is a hint; the poll is the
//! source of truth: retries come due and leases expire without one). Failed deliveries carry their next attempt time, set by the
//! engine with exponential backoff, and are claimed again when it passes, until the
//! engine dead-letters them. On shutdown a slot finishes the batch it holds and gives
//! back every claim of its owner name.
//!
//! **Store outages.** When processing fails because the store failed, the slot gives the
//! batch's claims back at once so another worker can take them. When giving back fails
//! too (the server is unreachable), the slot keeps those claims as *stranded*: before it
//! claims anything else it retries giving them back, with backoff, until the store answers
//! or their lease ends (then they return to the queue by themselves, and are counted as
//! `expired`). A slot holding stranded claims processes nothing, so no heartbeat renews
//! the leases of work it abandoned, and it never claims under its owner name what it is
//! still trying to give back. [`WorkerStatus`] reports all of this, and whether the last
//! store operation succeeded, for `/healthz` and `/readyz`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use kradle_sync_core::delivery::DeliveryPhase;
use kradle_sync_core::queue::DeliveryRef;
use kradle_sync_core::write_intent::WritePhase;
use kradle_sync_core::{BindingId, Connections, Engine, WorkQueue, WriteExecutor};
use serde::Serialize;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

/// How a worker runs.
///
/// ```
/// use std::time::Duration;
/// use kradle_sync_server::WorkerSettings;
/// let settings = WorkerSettings::new("worker-a").with_concurrency(4).with_lease(Duration::from_secs(30));
/// assert_eq!(settings.concurrency, 4);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
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
    /// Write intents a slot claims at once (each is one provider request or a few).
    pub write_batch: usize,
    /// How often applied writes are checked against their confirmation deadline.
    pub confirm_every: Duration,
}

impl WorkerSettings {
    /// Settings for lease owner `id`: two slots, leases of 60 s, batches of 32, a look at
    /// the queue at least every second, no draining.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            concurrency: 2,
            lease: Duration::from_secs(60),
            batch: 32,
            poll: Duration::from_secs(1),
            drain: false,
            write_batch: 8,
            confirm_every: Duration::from_secs(30),
        }
    }

    /// Sets the number of slots claiming and processing at once (at least 1).
    pub fn with_concurrency(mut self, slots: usize) -> Self {
        self.concurrency = slots.max(1);
        self
    }

    /// Sets how long a claim is held before another worker may take it over.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Sets how many deliveries are claimed and committed together (at least 1).
    pub fn with_batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// Sets the longest wait between two looks at the queue.
    pub fn with_poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// Stop once nothing is claimable instead of waiting for more work.
    pub fn with_drain(mut self, drain: bool) -> Self {
        self.drain = drain;
        self
    }

    /// Sets how many write intents a slot claims at once (at least 1).
    pub fn with_write_batch(mut self, intents: usize) -> Self {
        self.write_batch = intents.max(1);
        self
    }

    /// Sets how often applied writes are checked against their confirmation deadline.
    pub fn with_confirm_every(mut self, every: Duration) -> Self {
        self.confirm_every = every;
        self
    }
}

/// What a worker did, printed when it stops and reported by `/healthz`.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Totals {
    /// Deliveries whose events were applied (or that were out of scope).
    pub processed: u64,
    /// Attempts that failed and will be retried.
    pub failed: u64,
    /// Deliveries that ran out of attempts or could not be processed at all.
    pub dead_lettered: u64,
    /// Deliveries refused as belonging to another target.
    pub rejected: u64,
    /// Claims given back without processing (shutdown, store trouble), stranded ones
    /// included once they were given back.
    pub released: u64,
    /// Store operations (claim, process, give back, renew) that failed.
    pub store_errors: u64,
    /// Claims that could not be given back when the store failed, and were kept to be
    /// given back once it answers again.
    pub stranded: u64,
    /// Stranded claims whose lease ended before the store answered: they returned to the
    /// queue by themselves.
    pub expired: u64,
    /// Write intents the provider accepted (applied, or confirmed by its answer).
    pub written: u64,
    /// Write attempts that failed and will be retried.
    pub write_failures: u64,
    /// Writes the provider refused as a conflict (a stale precondition, a lossy format, no
    /// transition): each left a conflict record.
    pub write_conflicts: u64,
    /// Writes that ran out of attempts or cannot succeed.
    pub writes_dead_lettered: u64,
    /// Applied writes never confirmed before their deadline: each raised a conflict.
    pub unconfirmed: u64,
}

/// A worker's counters and health, shared with the HTTP endpoints that report them.
#[derive(Debug)]
pub struct WorkerStatus {
    processed: AtomicU64,
    failed: AtomicU64,
    dead_lettered: AtomicU64,
    rejected: AtomicU64,
    released: AtomicU64,
    store_errors: AtomicU64,
    stranded: AtomicU64,
    expired: AtomicU64,
    written: AtomicU64,
    write_failures: AtomicU64,
    write_conflicts: AtomicU64,
    writes_dead_lettered: AtomicU64,
    unconfirmed: AtomicU64,
    /// Claims currently stranded (not yet given back, lease not yet ended).
    holding_stranded: AtomicU64,
    /// Whether the last store operation of any slot succeeded.
    store_reachable: AtomicBool,
    stopping: AtomicBool,
}

impl Default for WorkerStatus {
    fn default() -> Self {
        WorkerStatus {
            processed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            released: AtomicU64::new(0),
            store_errors: AtomicU64::new(0),
            stranded: AtomicU64::new(0),
            expired: AtomicU64::new(0),
            written: AtomicU64::new(0),
            write_failures: AtomicU64::new(0),
            write_conflicts: AtomicU64::new(0),
            writes_dead_lettered: AtomicU64::new(0),
            unconfirmed: AtomicU64::new(0),
            holding_stranded: AtomicU64::new(0),
            store_reachable: AtomicBool::new(true),
            stopping: AtomicBool::new(false),
        }
    }
}

impl WorkerStatus {
    /// The counters so far.
    pub fn totals(&self) -> Totals {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Totals {
            processed: get(&self.processed),
            failed: get(&self.failed),
            dead_lettered: get(&self.dead_lettered),
            rejected: get(&self.rejected),
            released: get(&self.released),
            store_errors: get(&self.store_errors),
            stranded: get(&self.stranded),
            expired: get(&self.expired),
            written: get(&self.written),
            write_failures: get(&self.write_failures),
            write_conflicts: get(&self.write_conflicts),
            writes_dead_lettered: get(&self.writes_dead_lettered),
            unconfirmed: get(&self.unconfirmed),
        }
    }

    /// Whether the last store operation succeeded (true before the first one).
    pub fn store_reachable(&self) -> bool {
        self.store_reachable.load(Ordering::SeqCst)
    }

    /// Whether the worker was asked to stop.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// The counters and health as JSON: the totals, `store_reachable`, `stopping`, and
    /// `stranded_now` (claims being held for a give-back).
    pub fn snapshot(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self.totals()).unwrap_or_default();
        if let Some(map) = value.as_object_mut() {
            map.insert("store_reachable".into(), self.store_reachable().into());
            map.insert("stopping".into(), self.stopping().into());
            map.insert(
                "stranded_now".into(),
                self.holding_stranded.load(Ordering::Relaxed).into(),
            );
        }
        value
    }

    fn store_ok(&self) {
        self.store_reachable.store(true, Ordering::SeqCst);
    }

    fn store_failed(&self) {
        self.store_errors.fetch_add(1, Ordering::Relaxed);
        self.store_reachable.store(false, Ordering::SeqCst);
    }
}

/// A lease owner name unique on one host: `kradle-sync-` and the process id.
pub fn default_id() -> String {
    format!("kradle-sync-{}", std::process::id())
}

/// A worker: slots that claim deliveries from a queue and process them with an engine,
/// on the host's tokio runtime.
///
/// ```no_run
/// # use std::sync::Arc;
/// # async fn run(engine: Arc<kradle_sync_core::Engine>, queue: Arc<dyn kradle_sync_core::WorkQueue>) {
/// use kradle_sync_server::{Worker, WorkerSettings};
/// let worker = Worker::new(engine, queue, WorkerSettings::new("worker-a"));
/// let totals = worker.run(async { let _ = tokio::signal::ctrl_c().await; }).await;
/// println!("processed {}", totals.processed);
/// # }
/// ```
pub struct Worker {
    engine: Arc<Engine>,
    queue: Arc<dyn WorkQueue>,
    settings: WorkerSettings,
    status: Arc<WorkerStatus>,
    writes: Option<Arc<Connections>>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("settings", &self.settings)
            .field("writes", &self.writes)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// A worker over an engine (whose store the queue's deliveries are in) and a queue.
    pub fn new(engine: Arc<Engine>, queue: Arc<dyn WorkQueue>, settings: WorkerSettings) -> Self {
        Self {
            engine,
            queue,
            settings,
            status: Arc::new(WorkerStatus::default()),
            writes: None,
        }
    }

    /// Also writes: executes the due write intents of every binding these connections
    /// hold (the bindings whose credentials the host has; the others only receive), and
    /// checks applied writes against their confirmation deadline.
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// # fn wire(engine: Arc<kradle_sync_core::Engine>, queue: Arc<dyn kradle_sync_core::WorkQueue>, github: Arc<dyn kradle_sync_core::Provider>) {
    /// use kradle_sync_core::Connections;
    /// use kradle_sync_server::{Worker, WorkerSettings};
    /// let connections = Connections::new().with("octo/repo", github);
    /// let worker = Worker::new(engine, queue, WorkerSettings::new("worker-a"))
    ///     .with_writes(Arc::new(connections));
    /// # }
    /// ```
    pub fn with_writes(mut self, connections: Arc<Connections>) -> Self {
        self.writes = (!connections.is_empty()).then_some(connections);
        self
    }

    /// The worker's counters and health, live while it runs (for `/healthz`, `/readyz`
    /// and [`Receiver::with_workers`](crate::Receiver::with_workers)).
    pub fn status(&self) -> Arc<WorkerStatus> {
        self.status.clone()
    }

    /// Runs until `shutdown` resolves (or, with [`drain`](WorkerSettings::drain), until
    /// nothing is claimable), then finishes the batches in hand and gives back every claim
    /// it holds. Returns what it did.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Totals {
        let (stop, stopped) = watch::channel(false);
        let signal = tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
        });
        let totals = self.run_until(stopped).await;
        signal.abort();
        totals
    }

    /// [`run`](Self::run) until the watch turns true.
    pub async fn run_until(self, shutdown: watch::Receiver<bool>) -> Totals {
        run(
            Shared {
                queue: self.queue,
                engine: self.engine,
                settings: self.settings,
                status: self.status,
                writes: self.writes,
            },
            shutdown,
        )
        .await
    }
}

/// What every slot of a worker shares.
struct Shared {
    queue: Arc<dyn WorkQueue>,
    engine: Arc<Engine>,
    settings: WorkerSettings,
    status: Arc<WorkerStatus>,
    writes: Option<Arc<Connections>>,
}

async fn run(shared: Shared, shutdown: watch::Receiver<bool>) -> Totals {
    let Shared {
        queue,
        engine,
        settings,
        status,
        writes,
    } = shared;
    let writes = writes.map(|connections| Writes {
        bindings: connections.bindings().cloned().collect(),
        connections,
    });
    let confirming = writes.as_ref().map(|_| {
        tokio::spawn(confirm(
            engine.clone(),
            status.clone(),
            settings.confirm_every,
            shutdown.clone(),
        ))
    });
    let wake = Arc::new(Notify::new());
    let listener = tokio::spawn(listen(queue.clone(), wake.clone(), shutdown.clone()));
    let stopping = {
        let (status, mut shutdown) = (status.clone(), shutdown.clone());
        tokio::spawn(async move {
            if shutdown.wait_for(|stop| *stop).await.is_ok() {
                status.stopping.store(true, Ordering::SeqCst);
            }
        })
    };
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
                queue: queue.clone(),
                engine: engine.clone(),
                settings: settings.clone(),
                wake: wake.clone(),
                status: status.clone(),
                writes: writes.clone(),
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
    stopping.abort();
    if let Some(task) = confirming {
        task.abort();
    }
    status.stopping.store(true, Ordering::SeqCst);
    status.totals()
}

/// Turns the queue's work signal into wake-ups of idle slots. When the signal is lost
/// (a listening connection failed) it listens again with backoff; slots keep polling
/// meanwhile.
async fn listen(queue: Arc<dyn WorkQueue>, wake: Arc<Notify>, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = Backoff::default();
    while !*shutdown.borrow() {
        let mut listener = match queue.listen().await {
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
                woken = listener.changed() => match woken {
                    Ok(()) => wake.notify_waiters(),
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

/// Checks applied writes against their confirmation deadline, every `every`.
async fn confirm(
    engine: Arc<Engine>,
    status: Arc<WorkerStatus>,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if sleep_or_shutdown(every.max(Duration::from_millis(10)), &mut shutdown).await {
            return;
        }
        match engine.tick(Utc::now()).await {
            Ok(raised) => {
                status.store_ok();
                if raised > 0 {
                    status
                        .unconfirmed
                        .fetch_add(u64::from(raised), Ordering::Relaxed);
                    tracing::warn!(
                        conflicts = raised,
                        "applied writes were never confirmed by the provider before their deadline; see `kradle-sync conflicts`"
                    );
                }
            }
            Err(e) => {
                status.store_failed();
                tracing::warn!(error = %e, "cannot check applied writes against their confirmation deadline");
            }
        }
    }
}

/// The bindings a worker writes, and their connections.
#[derive(Clone)]
struct Writes {
    connections: Arc<Connections>,
    bindings: Vec<BindingId>,
}

struct Slot {
    owner: String,
    queue: Arc<dyn WorkQueue>,
    engine: Arc<Engine>,
    settings: WorkerSettings,
    wake: Arc<Notify>,
    status: Arc<WorkerStatus>,
    writes: Option<Writes>,
}

type Claimed = Vec<DeliveryRef>;

/// Claims a slot could not give back when the store failed, kept until they are given
/// back or their lease ends.
struct Stranded {
    ids: Claimed,
    /// When the lease ends at the latest (measured from before the claim or the last
    /// renewal, so never later than the store's `lease_until`).
    lease_end: Instant,
}

/// How processing a claimed batch ended.
enum Batch {
    /// Every delivery has its outcome recorded.
    Done,
    /// The store failed; the claims were given back.
    GivenBack,
    /// The store failed and the claims could not be given back.
    Stranded(Stranded),
}

async fn slot(slot: Slot, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = Backoff::default();
    let mut stranded: Option<Stranded> = None;
    loop {
        if *shutdown.borrow() {
            break;
        }
        if let Some(held) = stranded.take() {
            stranded = give_back_stranded(&slot, held).await;
            match &stranded {
                None => backoff.reset(),
                Some(_) => {
                    if sleep_or_shutdown(backoff.next(), &mut shutdown).await {
                        break;
                    }
                }
            }
            continue;
        }
        // Registered before the claim, so a notification that arrives between an empty
        // claim and the wait is not missed.
        let notified = slot.wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let claimed_at = Instant::now();
        let claimed = slot
            .queue
            .claim_deliveries(
                &slot.owner,
                slot.settings.lease,
                slot.settings.batch.max(1),
                Utc::now(),
            )
            .await;
        let mut busy = false;
        match claimed {
            Ok(batch) if batch.is_empty() => {
                slot.status.store_ok();
                backoff.reset();
            }
            Ok(ids) => {
                slot.status.store_ok();
                busy = true;
                match process(&slot, ids, claimed_at).await {
                    Batch::Done => backoff.reset(),
                    Batch::GivenBack => {
                        if sleep_or_shutdown(backoff.next(), &mut shutdown).await {
                            break;
                        }
                        continue;
                    }
                    Batch::Stranded(held) => {
                        stranded = Some(held);
                        if sleep_or_shutdown(backoff.next(), &mut shutdown).await {
                            break;
                        }
                        continue;
                    }
                }
            }
            Err(e) => {
                slot.status.store_failed();
                tracing::warn!(owner = %slot.owner, error = %e, "cannot claim deliveries; retrying");
                if sleep_or_shutdown(backoff.next(), &mut shutdown).await {
                    break;
                }
                continue;
            }
        }
        if let Some(writes) = &slot.writes {
            match write_round(&slot, writes, &shutdown).await {
                Ok(0) => {}
                Ok(_) => busy = true,
                Err(e) => {
                    slot.status.store_failed();
                    tracing::warn!(owner = %slot.owner, error = %e, "cannot claim or record writes; retrying");
                    if sleep_or_shutdown(backoff.next(), &mut shutdown).await {
                        break;
                    }
                    continue;
                }
            }
        }
        if !busy {
            if slot.settings.drain {
                break;
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(slot.settings.poll) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
    if let Some(held) = stranded.take() {
        let n = u64::try_from(held.ids.len()).unwrap_or(u64::MAX);
        slot.status.holding_stranded.fetch_sub(n, Ordering::Relaxed);
    }
    // Every claim of this owner name: stranded ones too.
    match slot.queue.release_all(&slot.owner).await {
        Ok(n) => {
            slot.status.store_ok();
            slot.status.released.fetch_add(n, Ordering::Relaxed);
            if n > 0 {
                tracing::info!(owner = %slot.owner, released = n, "gave back claims");
            }
        }
        Err(e) => {
            slot.status.store_failed();
            tracing::warn!(owner = %slot.owner, error = %e, "cannot give back claims; they return when their lease expires");
        }
    }
}

/// One attempt at giving back stranded claims. Returns them when they are still held
/// (the store failed again and their lease has not ended).
async fn give_back_stranded(slot: &Slot, held: Stranded) -> Option<Stranded> {
    let n = u64::try_from(held.ids.len()).unwrap_or(u64::MAX);
    if Instant::now() >= held.lease_end {
        slot.status.expired.fetch_add(n, Ordering::Relaxed);
        slot.status.holding_stranded.fetch_sub(n, Ordering::Relaxed);
        tracing::warn!(owner = %slot.owner, claims = n, "stranded claims reached the end of their lease before the store answered; they are back in the queue");
        return None;
    }
    match slot.queue.release(&slot.owner, &held.ids).await {
        Ok(released) => {
            slot.status.store_ok();
            slot.status.released.fetch_add(released, Ordering::Relaxed);
            slot.status.holding_stranded.fetch_sub(n, Ordering::Relaxed);
            tracing::info!(owner = %slot.owner, claims = n, released, "the store answers again: gave back the claims of the failed batch");
            None
        }
        Err(e) => {
            slot.status.store_failed();
            tracing::warn!(owner = %slot.owner, error = %e, claims = n, "still cannot give back the claims of the failed batch; retrying");
            Some(held)
        }
    }
}

/// Renews the slot's leases every third of a lease, pushing `lease_end` on with each
/// renewal. Never ends.
async fn heartbeat(slot: &Slot, lease_end: &std::sync::Mutex<Instant>) {
    let every = (slot.settings.lease / 3).max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(every).await;
        let renewing_at = Instant::now();
        match slot
            .queue
            .renew_leases(&slot.owner, slot.settings.lease, Utc::now())
            .await
        {
            Ok(_) => {
                slot.status.store_ok();
                if let Ok(mut end) = lease_end.lock() {
                    *end = renewing_at + slot.settings.lease;
                }
            }
            Err(e) => {
                slot.status.store_failed();
                tracing::warn!(owner = %slot.owner, error = %e, "cannot renew leases");
            }
        }
    }
}

/// Claims due write intents of the slot's bindings and executes them one by one while a
/// heartbeat renews their leases; each is released once its outcome is recorded. On
/// shutdown the intent in hand is finished and the rest given back. Returns how many
/// were claimed; an error is the store's (the claims it leaves return when their lease
/// ends, and the next attempt looks for what this one did).
async fn write_round(
    slot: &Slot,
    writes: &Writes,
    shutdown: &watch::Receiver<bool>,
) -> Result<usize, kradle_sync_core::Error> {
    let claimed_at = Instant::now();
    let ids = slot
        .queue
        .claim_write_intents(
            &slot.owner,
            &writes.bindings,
            slot.settings.lease,
            slot.settings.write_batch.max(1),
            Utc::now(),
        )
        .await?;
    slot.status.store_ok();
    if ids.is_empty() {
        return Ok(0);
    }
    let executor = WriteExecutor::with_connections(&slot.engine, &writes.connections);
    let lease_end = std::sync::Mutex::new(claimed_at + slot.settings.lease);
    let work = async {
        for (n, id) in ids.iter().enumerate() {
            if *shutdown.borrow() {
                let rest = ids.get(n..).unwrap_or_default();
                let released = slot.queue.release_write_intents(&slot.owner, rest).await?;
                slot.status.released.fetch_add(released, Ordering::Relaxed);
                break;
            }
            let intent = executor.execute(id, Utc::now()).await;
            let intent = match intent {
                Ok(intent) => intent,
                Err(e) => {
                    // Given back at once; the next attempt starts by looking for what this
                    // one may have done.
                    let rest = ids.get(n..).unwrap_or_default();
                    let _ = slot.queue.release_write_intents(&slot.owner, rest).await;
                    return Err(e);
                }
            };
            let counter = match intent.phase {
                WritePhase::Applied | WritePhase::Confirmed => Some(&slot.status.written),
                WritePhase::Failed => Some(&slot.status.write_failures),
                WritePhase::Conflicted => Some(&slot.status.write_conflicts),
                WritePhase::DeadLettered => Some(&slot.status.writes_dead_lettered),
                _ => None,
            };
            if let Some(c) = counter {
                c.fetch_add(1, Ordering::Relaxed);
            }
            let target = intent.target.to_string();
            match &intent.last_error {
                Some(error)
                    if intent.phase != WritePhase::Applied
                        && intent.phase != WritePhase::Confirmed =>
                {
                    tracing::warn!(
                        intent = %intent.id, object = %target, phase = intent.phase.as_str(),
                        attempts = intent.attempts, error = %error, "write not applied"
                    );
                }
                _ => tracing::info!(
                    intent = %intent.id, object = %target, phase = intent.phase.as_str(),
                    attempts = intent.attempts, "write executed"
                ),
            }
            slot.queue
                .release_write_intents(&slot.owner, std::slice::from_ref(id))
                .await?;
        }
        Ok(ids.len())
    };
    tokio::select! {
        biased;
        r = work => r,
        () = heartbeat(slot, &lease_end) => Ok(ids.len()),
    }
}

/// Processes one claimed batch while renewing its lease.
async fn process(slot: &Slot, ids: Claimed, claimed_at: Instant) -> Batch {
    // When the lease ends at the latest: pushed on by each renewal.
    let lease_end = std::sync::Mutex::new(claimed_at + slot.settings.lease);
    let heartbeat = heartbeat(slot, &lease_end);
    let processing = slot.engine.process_batch(&ids, Utc::now());
    // The heartbeat never ends: the select ends with the processing.
    let result = tokio::select! {
        biased;
        r = processing => r,
        () = heartbeat => return Batch::GivenBack,
    };
    let lease_end = lease_end
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match result {
        Ok(reports) => {
            slot.status.store_ok();
            for ((provider, id), report) in ids.iter().zip(&reports) {
                let counter = match report.phase {
                    Some(DeliveryPhase::Processed) => Some(&slot.status.processed),
                    Some(DeliveryPhase::Failed) => Some(&slot.status.failed),
                    Some(DeliveryPhase::DeadLettered) => Some(&slot.status.dead_lettered),
                    Some(DeliveryPhase::Rejected) => Some(&slot.status.rejected),
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
            Batch::Done
        }
        Err(e) => {
            slot.status.store_failed();
            tracing::warn!(owner = %slot.owner, error = %e, deliveries = ids.len(), "processing failed; giving the claims back");
            match slot.queue.release(&slot.owner, &ids).await {
                Ok(n) => {
                    slot.status.store_ok();
                    slot.status.released.fetch_add(n, Ordering::Relaxed);
                    Batch::GivenBack
                }
                Err(e) => {
                    slot.status.store_failed();
                    let n = u64::try_from(ids.len()).unwrap_or(u64::MAX);
                    slot.status.stranded.fetch_add(n, Ordering::Relaxed);
                    slot.status.holding_stranded.fetch_add(n, Ordering::Relaxed);
                    tracing::warn!(owner = %slot.owner, error = %e, claims = n, "cannot give back the claims; keeping them to give back once the store answers");
                    Batch::Stranded(Stranded { ids, lease_end })
                }
            }
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

//! The work queue: deliveries waiting for a worker, claimed with leases.
//!
//! A delivery is *pending* while its phase is `queued` or `failed`; it is *claimable* when
//! pending, due (`next_attempt_at` unset or past) and not under a live lease. A claim sets
//! `lease_owner` and `lease_until`; the phase stays as it is, because the engine's
//! [`process`](kradle_sync_core::Engine::process) moves it to `processing` itself and
//! commits the outcome. Committing a delivery record (what `process` does when it
//! finishes) ends the lease, so completion needs no call of its own. A worker that dies
//! holds its claims only until their lease expires.
//!
//! **Per-object ordering.** Each delivery has an ordering key, fixed when it is stored
//! (see [`PostgresStore::with_ordering_key`]). At most one delivery per key is under a
//! live lease at any time, and a key's deliveries are claimed oldest first. A claim takes
//! a transaction-scoped advisory lock on each candidate key (a concurrent claimer skips
//! keys it cannot lock), then, in a fresh snapshot that sees every claim committed before
//! the lock was granted, re-checks that no delivery of the key holds a live lease and locks
//! the chosen rows `FOR UPDATE SKIP LOCKED`. A delivery waiting for its retry does not hold
//! back later deliveries of its key: the projection converges whatever the order
//! (invariant 2); what the key guarantees is that two workers never process the same
//! object at once.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use kradle_sync_core::delivery::{DeliveryRecord, dead_letter_unfinished};
use kradle_sync_core::queue::{DeliveryRef, QueueStats, WorkSignal};
use kradle_sync_core::{BindingId, DeliveryId, Error, ProviderKind, Transition, WorkQueue};
use sqlx::postgres::PgListener;
use sqlx::{AssertSqlSafe, Row};

use crate::PostgresStore;
use crate::error::classify;

/// Candidate keys examined per requested delivery; extra candidates cover keys that a
/// concurrent claimer holds.
const CANDIDATES_PER_CLAIM: i64 = 2;

/// Pending deliveries a claim reads, oldest first, per candidate key it looks for, before
/// it looks at every key instead (at least [`MIN_WINDOW`]).
const WINDOW_PER_CANDIDATE: i64 = 4;

/// The fewest pending deliveries a claim reads before it looks at every key.
const MIN_WINDOW: i64 = 256;

/// How many times a delivery may be claimed without an outcome being recorded before it
/// is dead-lettered (see [`PostgresStore::with_max_claims`]).
pub const DEFAULT_MAX_CLAIMS: u32 = 5;

/// The advisory lock (in the store's namespace) that makes write-intent claims take turns.
const INTENT_CLAIM_LOCK: i32 = -2;

/// How many more claim rounds a claim runs when keys it locked turn out to be taken.
const MAX_RETRIES: u32 = 2;

/// What one claim round did.
#[derive(Default)]
struct Round {
    /// Claimed deliveries with their arrival sequence.
    claimed: Vec<(i64, DeliveryRecord)>,
    /// Deliveries dead-lettered instead.
    poisoned: usize,
    /// Keys locked whose delivery another claim had taken meanwhile.
    taken: usize,
}

fn lease_end(now: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(lease)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl PostgresStore {
    /// Claims up to `limit` claimable deliveries for `worker` until `now + lease`, oldest
    /// first, at most one per ordering key and none of a key that already has a delivery
    /// under a live lease. Returns them with their bodies, in arrival order.
    ///
    /// A delivery that would be claimed for the `max_claims + 1`-th time without any
    /// outcome recorded in between (every worker that took it died: a poison message) is
    /// dead-lettered instead, with an error saying so and an audit record
    /// `delivery.dead_lettered`; it is not returned.
    ///
    /// Process each with [`Engine::process`](kradle_sync_core::Engine::process): the
    /// record it commits ends the lease. Call [`release`](WorkQueue::release) for claims you
    /// will not process, and [`renew_leases`](WorkQueue::renew_leases) when processing may
    /// outlast the lease. `now` is the worker's clock; workers should agree on the time
    /// within a small fraction of the lease.
    pub async fn claim_deliveries(
        &self,
        worker: &str,
        lease: Duration,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<DeliveryRecord>, Error> {
        self.claim(worker, lease, limit, now, true).await
    }

    /// Claims like [`claim_deliveries`](Self::claim_deliveries) and returns only the
    /// claimed deliveries' provider and id, in arrival order, without sending their
    /// payloads: what a worker that hands the ids to
    /// [`Engine::process_batch`](kradle_sync_core::Engine::process_batch) (which reads the
    /// deliveries itself) needs.
    pub async fn claim_delivery_ids(
        &self,
        worker: &str,
        lease: Duration,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<(ProviderKind, DeliveryId)>, Error> {
        let claimed = self.claim(worker, lease, limit, now, false).await?;
        Ok(claimed
            .into_iter()
            .map(|d| (d.provider, d.delivery_id))
            .collect())
    }

    /// Claims, with or without the deliveries' bodies.
    async fn claim(
        &self,
        worker: &str,
        lease: Duration,
        limit: usize,
        now: DateTime<Utc>,
        bodies: bool,
    ) -> Result<Vec<DeliveryRecord>, Error> {
        let mut claimed = Vec::new();
        let mut retries = 0;
        // A round that dead-letters poisoned deliveries frees their keys: claim again for
        // the places they took, so a poison message never makes a claim come back empty
        // while other work waits. A round whose keys a concurrent claim took just before
        // (its candidates were read before that claim committed) tries again, a few times.
        loop {
            let wanted = limit.saturating_sub(claimed.len());
            if wanted == 0 {
                break;
            }
            let round = self.claim_round(worker, lease, wanted, now, bodies).await?;
            claimed.extend(round.claimed);
            if round.poisoned == 0 && (round.taken == 0 || retries == MAX_RETRIES) {
                break;
            }
            if round.poisoned == 0 {
                retries += 1;
            }
        }
        claimed.sort_by_key(|(seq, _)| *seq);
        tracing::debug!(schema = %self.schema, worker, claimed = claimed.len(), "claimed deliveries");
        Ok(claimed.into_iter().map(|(_, d)| d).collect())
    }

    /// One claim transaction.
    async fn claim_round(
        &self,
        worker: &str,
        lease: Duration,
        limit: usize,
        now: DateTime<Utc>,
        bodies: bool,
    ) -> Result<Round, Error> {
        let fail = self.fail("claiming deliveries");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX / CANDIDATES_PER_CLAIM);
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
            .await
            .map_err(&fail)?;
        let candidates = limit.saturating_mul(CANDIDATES_PER_CLAIM);
        let window = candidates
            .saturating_mul(WINDOW_PER_CANDIDATE)
            .max(MIN_WINDOW);
        let (read, mut keys): (i64, Vec<String>) =
            sqlx::query(AssertSqlSafe(self.sql.claim_keys.clone()))
                .bind(now)
                .bind(candidates)
                .bind(self.lock_namespace)
                .bind(limit)
                .bind(window)
                .fetch_one(&mut *tx)
                .await
                .and_then(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                .map_err(&fail)?;
        if read == window && i64::try_from(keys.len()).unwrap_or(i64::MAX) < limit {
            // The oldest deliveries belong to few keys: look at every key. The keys locked
            // already are locked again (a no-op) and come out first again.
            keys = sqlx::query(AssertSqlSafe(self.sql.claim_keys_all.clone()))
                .bind(now)
                .bind(candidates)
                .bind(self.lock_namespace)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await
                .and_then(|rows| rows.iter().map(|r| r.try_get(0)).collect())
                .map_err(&fail)?;
        }
        if keys.is_empty() {
            tx.rollback().await.map_err(&fail)?;
            return Ok(Round::default());
        }
        let locked = keys.len();
        let claim = if bodies {
            &self.sql.claim
        } else {
            &self.sql.claim_ids
        };
        let rows = sqlx::query(AssertSqlSafe(claim.clone()))
            .bind(keys)
            .bind(now)
            .bind(worker)
            .bind(lease_end(now, lease))
            .fetch_all(&mut *tx)
            .await
            .map_err(&fail)?;
        let mut claimed = Vec::with_capacity(rows.len());
        let mut poisoned = Vec::new();
        for row in &rows {
            let seq: i64 = row.try_get(0).map_err(&fail)?;
            let claims: i32 = row.try_get(3).map_err(&fail)?;
            let delivery = self.delivery_row(row, 1)?;
            if u32::try_from(claims).unwrap_or(u32::MAX) > self.max_claims {
                tracing::warn!(
                    schema = %self.schema,
                    provider = %delivery.provider,
                    delivery_id = %delivery.delivery_id,
                    worker,
                    claims,
                    "dead-lettered a delivery that no worker finishes"
                );
                let claims = u32::try_from(claims - 1).unwrap_or(0);
                poisoned.push(dead_letter_unfinished(delivery, claims, worker, now));
            } else {
                claimed.push((seq, delivery));
            }
        }
        if !poisoned.is_empty() {
            let refs: Vec<&Transition> = poisoned.iter().collect();
            self.write_records(&mut tx, &refs).await?;
        }
        tx.commit().await.map_err(&fail)?;
        Ok(Round {
            taken: locked.saturating_sub(rows.len()),
            claimed,
            poisoned: poisoned.len(),
        })
    }

    /// Announces new work on the store's channel. Inserts, releases and delivery commits
    /// already do; this is for work that becomes due on its own (a retry time passing).
    pub async fn notify_work(&self) -> Result<(), Error> {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(&*self.channel)
            .execute(&self.pool)
            .await
            .map_err(self.fail("notifying workers"))?;
        Ok(())
    }

    /// Opens a listener on the store's channel (one connection of its own) for
    /// [`WorkListener::wait_for_work`].
    pub async fn listen(&self) -> Result<WorkListener, Error> {
        let fail = self.fail("listening for work");
        let mut listener = PgListener::connect_with(&self.pool).await.map_err(&fail)?;
        listener.listen(&self.channel).await.map_err(&fail)?;
        Ok(WorkListener {
            listener,
            target: self.target.to_string(),
            schema: self.schema.to_string(),
        })
    }
}

/// Wakes a worker when work may have arrived: a hint, never the source of truth. A worker
/// loops on [`claim_deliveries`](PostgresStore::claim_deliveries) and, when it gets
/// nothing, waits here with a timeout (retries come due and leases expire without any
/// notification).
///
/// ```no_run
/// # async fn worker(store: kradle_store_postgres::PostgresStore) -> Result<(), kradle_sync_core::Error> {
/// use std::time::Duration;
/// let mut wake = store.listen().await?;
/// loop {
///     let batch = store
///         .claim_deliveries("worker-1", Duration::from_secs(60), 16, chrono::Utc::now())
///         .await?;
///     if batch.is_empty() {
///         wake.wait_for_work(Duration::from_secs(1)).await?;
///         continue;
///     }
///     for delivery in batch {
///         // engine.process(&delivery.provider, &delivery.delivery_id, now).await?;
///     }
/// }
/// # }
/// ```
pub struct WorkListener {
    listener: PgListener,
    target: String,
    schema: String,
}

impl std::fmt::Debug for WorkListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkListener")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl WorkListener {
    /// Waits until a notification arrives or `timeout` passes; returns whether one arrived.
    /// Notifications that arrived meanwhile are consumed together.
    pub async fn wait_for_work(&mut self, timeout: Duration) -> Result<bool, Error> {
        match tokio::time::timeout(timeout, self.listener.recv()).await {
            Err(_elapsed) => Ok(false),
            Ok(Ok(_)) => {
                while self.listener.next_buffered().is_some() {}
                Ok(true)
            }
            Ok(Err(e)) => Err(classify(e, &self.target, &self.schema, "waiting for work").into()),
        }
    }
}

#[async_trait]
impl WorkQueue for PostgresStore {
    /// Claims with [`claim_delivery_ids`](PostgresStore::claim_delivery_ids): the ids only,
    /// since [`Engine::process_batch`](kradle_sync_core::Engine::process_batch) reads the
    /// deliveries itself.
    async fn claim_deliveries(
        &self,
        worker: &str,
        lease: Duration,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<DeliveryRef>, Error> {
        self.claim_delivery_ids(worker, lease, limit, now).await
    }

    /// Gives back `worker`'s claims on these deliveries without processing them (a
    /// graceful shutdown, a worker that took more than it can do). Returns how many leases
    /// ended; claims that expired or were taken over are left alone.
    async fn release(
        &self,
        worker: &str,
        deliveries: &[(ProviderKind, DeliveryId)],
    ) -> Result<u64, Error> {
        if deliveries.is_empty() {
            return Ok(0);
        }
        let (providers, ids): (Vec<String>, Vec<String>) = deliveries
            .iter()
            .map(|(p, d)| (p.to_string(), d.to_string()))
            .unzip();
        let released: i64 = sqlx::query(AssertSqlSafe(self.sql.release.clone()))
            .bind(worker)
            .bind(providers)
            .bind(ids)
            .bind(&*self.channel)
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get(0))
            .map_err(self.fail("releasing claims"))?;
        Ok(u64::try_from(released).unwrap_or(0))
    }

    /// Gives back every claim `worker` holds. Returns how many leases ended.
    async fn release_all(&self, worker: &str) -> Result<u64, Error> {
        let mut released = 0;
        for sql in [&self.sql.release_all, &self.sql.release_all_intents] {
            let n: i64 = sqlx::query(AssertSqlSafe(sql.clone()))
                .bind(worker)
                .bind(&*self.channel)
                .fetch_one(&self.pool)
                .await
                .and_then(|row| row.try_get(0))
                .map_err(self.fail("releasing claims"))?;
            released += u64::try_from(n).unwrap_or(0);
        }
        Ok(released)
    }

    async fn claim_write_intents(
        &self,
        worker: &str,
        bindings: &[BindingId],
        lease: Duration,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, Error> {
        let fail = self.fail("claiming write intents");
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
            .await
            .map_err(&fail)?;
        // One intent claim at a time: the next statement's snapshot sees every claim
        // committed before this lock was granted.
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(self.lock_namespace)
            .bind(INTENT_CLAIM_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(&fail)?;
        let rows = sqlx::query(AssertSqlSafe(self.sql.claim_intents.clone()))
            .bind(now)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .bind(worker)
            .bind(lease_end(now, lease))
            .bind(bindings.iter().map(BindingId::as_str).collect::<Vec<_>>())
            .fetch_all(&mut *tx)
            .await
            .map_err(&fail)?;
        tx.commit().await.map_err(&fail)?;
        let mut claimed: Vec<(Option<DateTime<Utc>>, String)> = rows
            .iter()
            .map(|r| Ok((r.try_get(1)?, r.try_get(0)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(&fail)?;
        claimed.sort();
        Ok(claimed.into_iter().map(|(_, id)| id).collect())
    }

    async fn release_write_intents(&self, worker: &str, ids: &[String]) -> Result<u64, Error> {
        if ids.is_empty() {
            return Ok(0);
        }
        let released: i64 = sqlx::query(AssertSqlSafe(self.sql.release_intents.clone()))
            .bind(worker)
            .bind(ids)
            .bind(&*self.channel)
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get(0))
            .map_err(self.fail("releasing write intents"))?;
        Ok(u64::try_from(released).unwrap_or(0))
    }

    /// Extends `worker`'s live leases on pending deliveries to `now + lease` (a heartbeat
    /// for long processing). Leases that already expired are not revived: another worker
    /// may have taken those deliveries. Returns how many leases were extended.
    async fn renew_leases(
        &self,
        worker: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<u64, Error> {
        let mut renewed = 0;
        for sql in [&self.sql.renew, &self.sql.renew_intents] {
            renewed += sqlx::query(AssertSqlSafe(sql.clone()))
                .bind(worker)
                .bind(lease_end(now, lease))
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(self.fail("renewing leases"))?
                .rows_affected();
        }
        Ok(renewed)
    }

    async fn stats(&self, now: DateTime<Utc>) -> Result<QueueStats, Error> {
        let row = sqlx::query(AssertSqlSafe(self.sql.queue_stats.clone()))
            .bind(now)
            .fetch_one(&self.pool)
            .await
            .map_err(self.fail("reading the queue's depth"))?;
        let fail = self.fail("reading the queue's depth");
        let count = |i: usize| -> Result<u64, Error> {
            let n: i64 = row.try_get(i).map_err(&fail)?;
            Ok(u64::try_from(n).unwrap_or(0))
        };
        let mut stats = QueueStats::default();
        stats.pending = count(0)?;
        stats.claimed = count(1)?;
        stats.waiting_for_retry = count(2)?;
        stats.oldest_pending_at = row.try_get(3).map_err(&fail)?;
        let row = sqlx::query(AssertSqlSafe(self.sql.intent_stats.clone()))
            .bind(now)
            .fetch_one(&self.pool)
            .await
            .map_err(&fail)?;
        let intents: i64 = row.try_get(0).map_err(&fail)?;
        let claimed: i64 = row.try_get(1).map_err(&fail)?;
        stats.intents = u64::try_from(intents).unwrap_or(0);
        stats.intents_claimed = u64::try_from(claimed).unwrap_or(0);
        Ok(stats)
    }

    async fn listen(&self) -> Result<Box<dyn WorkSignal>, Error> {
        Ok(Box::new(PostgresStore::listen(self).await?))
    }
}

impl WorkSignal for WorkListener {
    fn changed(&mut self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            match self.listener.recv().await {
                Ok(_) => {
                    while self.listener.next_buffered().is_some() {}
                    Ok(())
                }
                Err(e) => Err(classify(e, &self.target, &self.schema, "waiting for work").into()),
            }
        })
    }
}

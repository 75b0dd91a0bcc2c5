//! The work queue: stored deliveries waiting for a worker, claimed with leases.
//!
//! A receiver stores deliveries ([`Engine::receive`](crate::Engine::receive)); workers,
//! in as many processes as the store can serve, claim them here and process them with
//! [`Engine::process_batch`](crate::Engine::process_batch). The queue's rules, which the
//! conformance suite behind the `testing` feature checks for any implementation:
//!
//! - A delivery is *pending* while its phase is `queued` or `failed`, and *claimable* when
//!   pending, due (`next_attempt_at` unset or past) and not under a live lease.
//! - A claim leases each delivery to one worker until `now + lease`. Two workers never
//!   hold a live lease on one delivery.
//! - **Per-object ordering.** Each delivery has an ordering key (the object it is about,
//!   chosen by its adapter at receive time; else its provider and binding). At most one
//!   delivery per key is under a live lease, and a key's deliveries are claimed oldest
//!   first, so two workers never process one object at once.
//! - **Completing is committing.** The engine's transition that records a delivery's
//!   outcome (processed, failed with a retry time, dead-lettered, rejected) ends its lease;
//!   there is no separate acknowledgement to lose.
//! - A worker that dies holds its claims only until their lease ends; a delivery claimed
//!   more than a store-defined number of times without any outcome recorded (every worker
//!   that took it died: a poison message) is dead-lettered instead of being handed out
//!   again.
//! - [`release`](WorkQueue::release) gives claims back unprocessed (shutdown, a failing
//!   store) without counting them against that bound.
//!
//! Write intents are a second lane with the same leases: an intent is *executable* while
//! `pending`, `approved`, `failed` or `applying` (a worker that died left it so), and the
//! oldest executable intent of an object is *claimable* when it is due and no intent of
//! the object is under a live lease. So writes to one object leave in the order they were
//! made, one at a time, and a later write never overtakes one waiting for its retry. A
//! worker releases an intent once it has recorded how the write went; a dead worker's
//! claim returns when its lease ends, and the next attempt is a retry.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use crate::{BindingId, DeliveryId, Error, ProviderKind};

/// A stored delivery, named by its provider and delivery id.
pub type DeliveryRef = (ProviderKind, DeliveryId);

/// How much work a queue holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueStats {
    /// Pending deliveries (queued or failed, due or not).
    pub pending: u64,
    /// Pending deliveries under a live lease.
    pub claimed: u64,
    /// Pending deliveries whose retry time has not come yet.
    pub waiting_for_retry: u64,
    /// Executable write intents (pending, approved, failed or applying).
    pub intents: u64,
    /// Executable write intents under a live lease.
    pub intents_claimed: u64,
    /// When the oldest pending delivery was received.
    pub oldest_pending_at: Option<DateTime<Utc>>,
}

/// Wakes an idle worker when work may have arrived: a hint, never the source of truth
/// (retries come due and leases expire without one). A worker waits on it together with
/// its poll interval.
pub trait WorkSignal: Send {
    /// Resolves when the store announces new work (several announcements may resolve it
    /// once). An error means the signal is lost; the worker keeps polling and may listen
    /// again.
    fn changed(&mut self) -> BoxFuture<'_, Result<(), Error>>;
}

/// A signal that never fires: the worker relies on polling alone.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoSignal;

impl WorkSignal for NoSignal {
    fn changed(&mut self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(futures::future::pending())
    }
}

/// The claim/lease queue of stored deliveries that workers consume. `kradle-store-memory`
/// (for trying things out and tests) and `kradle-store-postgres` (`FOR UPDATE SKIP
/// LOCKED`, for many worker processes) implement it; the server crate's worker runs over
/// any implementation.
///
/// `now` is the worker's clock: workers sharing a queue should agree on the time within a
/// small fraction of the lease.
#[async_trait]
pub trait WorkQueue: Send + Sync {
    /// Claims up to `limit` claimable deliveries for `worker` until `now + lease`, oldest
    /// first, at most one per ordering key and none of a key that already has a delivery
    /// under a live lease. Returns them in arrival order.
    async fn claim_deliveries(
        &self,
        worker: &str,
        lease: Duration,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<DeliveryRef>, Error>;

    /// Extends `worker`'s live leases on pending deliveries and executable write intents to
    /// `now + lease` (a heartbeat for long processing). Leases that already ended are not revived: another worker may
    /// hold those deliveries now. Returns how many were extended.
    async fn renew_leases(
        &self,
        worker: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<u64, Error>;

    /// Gives back `worker`'s claims on these deliveries without processing them. Returns
    /// how many leases ended; claims that expired or were taken over are left alone.
    async fn release(&self, worker: &str, deliveries: &[DeliveryRef]) -> Result<u64, Error>;

    /// Gives back every claim `worker` holds, deliveries and write intents. Returns how many
    /// leases ended.
    async fn release_all(&self, worker: &str) -> Result<u64, Error>;

    /// Claims up to `limit` claimable write intents (see the module's rules) of these
    /// `bindings` (those the worker has credentials for) for `worker` until `now + lease`,
    /// oldest first. Returns their ids. Intents of other bindings are neither claimed nor
    /// in the way: an object's order is kept within its binding.
    async fn claim_write_intents(
        &self,
        worker: &str,
        bindings: &[BindingId],
        lease: Duration,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, Error>;

    /// Ends `worker`'s leases on these write intents: after recording how each write went,
    /// or to give them back unexecuted. Returns how many leases ended.
    async fn release_write_intents(&self, worker: &str, ids: &[String]) -> Result<u64, Error>;

    /// How much work the queue holds at `now`.
    async fn stats(&self, now: DateTime<Utc>) -> Result<QueueStats, Error>;

    /// A signal that fires when new work may have arrived. The default never fires:
    /// workers then rely on their poll interval.
    async fn listen(&self) -> Result<Box<dyn WorkSignal>, Error> {
        Ok(Box::new(NoSignal))
    }
}

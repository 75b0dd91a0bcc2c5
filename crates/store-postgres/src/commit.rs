//! Committing transitions: one database transaction for a whole batch, each transition
//! still all-or-nothing, in a fixed number of round trips however large the batch.
//!
//! 1. Insert every event key of the batch (`ON CONFLICT DO NOTHING`), learning which were
//!    new. A concurrent transaction inserting the same key waits here for this one, so
//!    two workers racing on one event serialize on the key.
//! 2. Lock the rows of every object the batch writes (`FOR UPDATE`) and read their
//!    revisions.
//! 3. Decide each transition in order exactly as the memory store would: refused as
//!    [`CommitOutcome::AlreadyApplied`] if one of its keys was applied before (in the table
//!    or by an earlier transition of the batch), as [`CommitOutcome::RevisionConflict`] if
//!    its expected revision is not the object's current one, committed otherwise.
//! 4. Delete the keys that only refused transitions inserted, then write what the
//!    committed transitions carry with one multi-row statement per table (last write of a
//!    record wins, as in sequential commits), and commit.
//!
//! Deadlocks and serialization failures roll the batch back and run it again; so does a
//! new object created by another transaction between steps 2 and 4.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use kradle_sync_core::audit::AuditRecord;
use kradle_sync_core::conflict::ConflictRecord;
use kradle_sync_core::delivery::DeliveryRecord;
use kradle_sync_core::projection::ObjectState;
use kradle_sync_core::store::{CommitOutcome, SyncState};
use kradle_sync_core::write_intent::WriteIntent;
use kradle_sync_core::{Error, EventKey, ObjectKey, Transition};
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Row};

use crate::PostgresStore;
use crate::error::PostgresError;
use crate::records::{EventColumns, KeyColumns, to_i64, to_json};

/// How many times a batch is run again after a deadlock or a lost race.
const MAX_ATTEMPTS: u32 = 8;

/// The most transitions [`PostgresStore::commit_batch`] commits in one transaction; larger
/// batches are split so that one transaction's locks and size stay bounded.
pub const MAX_BATCH: usize = 1000;

impl PostgresStore {
    /// Commits many transitions in one database transaction, returning each one's outcome
    /// in order. Every transition is still atomic and decided exactly as if committed alone
    /// in that order ([`SyncStore::commit`](kradle_sync_core::SyncStore::commit)); the batch
    /// costs the same few round trips and one WAL flush however many transitions it holds.
    /// This is what makes the store fast: one flush per transition caps a disk at a few
    /// hundred commits a second.
    ///
    /// Batches larger than [`MAX_BATCH`] are committed in chunks of that size, one after
    /// the other (a later chunk sees what the earlier ones committed, so outcomes are the
    /// same); an error stops at the chunk that failed.
    pub async fn commit_batch(
        &self,
        transitions: Vec<Transition>,
    ) -> Result<Vec<CommitOutcome>, Error> {
        let mut outcomes = Vec::with_capacity(transitions.len());
        for chunk in transitions.chunks(MAX_BATCH) {
            outcomes.extend(self.commit_all(chunk).await?);
        }
        Ok(outcomes)
    }

    pub(crate) async fn commit_all(
        &self,
        transitions: &[Transition],
    ) -> Result<Vec<CommitOutcome>, PostgresError> {
        if transitions.is_empty() {
            return Ok(Vec::new());
        }
        let mut attempt = 1;
        loop {
            match self.try_commit(transitions).await {
                Err(err) if err.is_transient() && attempt < MAX_ATTEMPTS => {
                    tracing::debug!(schema = %self.schema, attempt, error = %err, "commit collided; running it again");
                    attempt += 1;
                }
                Err(err) if err.is_transient() => {
                    return Err(PostgresError::Contention { attempts: attempt });
                }
                other => return other,
            }
        }
    }

    async fn try_commit(
        &self,
        transitions: &[Transition],
    ) -> Result<Vec<CommitOutcome>, PostgresError> {
        let fail = self.fail("committing a transition");
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
            .await
            .map_err(&fail)?;

        // 1. Event keys, sorted so concurrent batches take index locks in one order.
        let keys: Vec<&EventKey> = transitions
            .iter()
            .flat_map(|t| t.events.iter())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let fresh = self.insert_events(&mut tx, &keys).await?;

        // 2. Current revisions of the objects written, rows locked.
        let objects: Vec<&ObjectKey> = transitions
            .iter()
            .filter_map(|t| t.object.as_ref().map(|(s, _)| &s.key))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let stored = self.lock_objects(&mut tx, &objects).await?;

        // 3. Decide, in order.
        let mut applied: HashSet<&EventKey> = keys
            .iter()
            .copied()
            .filter(|k| !fresh.contains(k))
            .collect();
        let mut revisions: HashMap<&ObjectKey, Option<u64>> = objects
            .iter()
            .map(|k| (*k, stored.get(*k).copied()))
            .collect();
        let mut outcomes = Vec::with_capacity(transitions.len());
        let mut committed = Vec::new();
        for t in transitions {
            if t.events.iter().any(|e| applied.contains(e)) {
                outcomes.push(CommitOutcome::AlreadyApplied);
                continue;
            }
            if let Some((state, expected)) = &t.object {
                let current = revisions.get(&state.key).copied().flatten();
                if current != *expected {
                    outcomes.push(CommitOutcome::RevisionConflict);
                    continue;
                }
                revisions.insert(&state.key, Some(expected.map_or(1, |r| r + 1)));
            }
            applied.extend(t.events.iter());
            outcomes.push(CommitOutcome::Committed);
            committed.push(t);
        }
        if committed.is_empty() {
            tx.rollback().await.map_err(&fail)?;
            return Ok(outcomes);
        }

        // 4. Write.
        let used: HashSet<&EventKey> = committed.iter().flat_map(|t| t.events.iter()).collect();
        let unused: Vec<&EventKey> = keys
            .iter()
            .copied()
            .filter(|k| fresh.contains(k) && !used.contains(k))
            .collect();
        if !unused.is_empty() {
            let c: EventColumns = unused.into_iter().collect();
            sqlx::query(AssertSqlSafe(self.sql.delete_events.clone()))
                .bind(c.provider)
                .bind(c.delivery_id)
                .bind(c.action)
                .bind(c.kind)
                .bind(c.native_id)
                .execute(&mut *tx)
                .await
                .map_err(&fail)?;
        }
        self.write_objects(&mut tx, &committed, &stored).await?;
        self.write_records(&mut tx, &committed).await?;
        tx.commit().await.map_err(&fail)?;
        Ok(outcomes)
    }

    /// Inserts the keys; returns those that were not recorded before.
    async fn insert_events<'k>(
        &self,
        tx: &mut PgConnection,
        keys: &[&'k EventKey],
    ) -> Result<HashSet<&'k EventKey>, PostgresError> {
        if keys.is_empty() {
            return Ok(HashSet::new());
        }
        let fail = self.fail("recording applied events");
        let c: EventColumns = keys.iter().copied().collect();
        let rows = sqlx::query(AssertSqlSafe(self.sql.insert_events.clone()))
            .bind(c.provider)
            .bind(c.delivery_id)
            .bind(c.action)
            .bind(c.kind)
            .bind(c.native_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(&fail)?;
        let mut fresh = HashSet::with_capacity(rows.len());
        for row in rows {
            let n: i64 = row.try_get(0).map_err(&fail)?;
            if let Some(key) = usize::try_from(n - 1).ok().and_then(|i| keys.get(i)) {
                fresh.insert(*key);
            }
        }
        Ok(fresh)
    }

    /// Locks the stored rows of `keys` and returns their revisions.
    async fn lock_objects<'k>(
        &self,
        tx: &mut PgConnection,
        keys: &[&'k ObjectKey],
    ) -> Result<HashMap<&'k ObjectKey, u64>, PostgresError> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let fail = self.fail("locking objects");
        let c: KeyColumns = keys.iter().copied().collect();
        let rows = sqlx::query(AssertSqlSafe(self.sql.lock_objects.clone()))
            .bind(c.provider)
            .bind(c.binding)
            .bind(c.kind)
            .bind(c.native_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(&fail)?;
        let mut stored = HashMap::with_capacity(rows.len());
        for row in rows {
            let n: i64 = row.try_get(0).map_err(&fail)?;
            let revision: i64 = row.try_get(1).map_err(&fail)?;
            if let Some(key) = usize::try_from(n - 1).ok().and_then(|i| keys.get(i)) {
                stored.insert(*key, u64::try_from(revision).unwrap_or(0));
            }
        }
        Ok(stored)
    }

    /// Writes the last state of each object the committed transitions touch.
    async fn write_objects(
        &self,
        tx: &mut PgConnection,
        committed: &[&Transition],
        stored: &HashMap<&ObjectKey, u64>,
    ) -> Result<(), PostgresError> {
        let mut last: BTreeMap<&ObjectKey, (&ObjectState, u64)> = BTreeMap::new();
        for t in committed {
            if let Some((state, expected)) = &t.object {
                last.insert(&state.key, (state, expected.map_or(1, |r| r + 1)));
            }
        }
        let mut new = ObjectColumns::default();
        let mut changed = ObjectColumns::default();
        for (key, (state, revision)) in last {
            let mut state = state.clone();
            state.revision = revision;
            match stored.get(key) {
                None => new.push(&state, None)?,
                Some(before) => changed.push(&state, Some(*before))?,
            }
        }
        let fail = self.fail("writing objects");
        if !new.state.is_empty() {
            let expected = new.state.len() as u64;
            let done = sqlx::query(AssertSqlSafe(self.sql.insert_objects.clone()))
                .bind(new.keys.provider)
                .bind(new.keys.binding)
                .bind(new.keys.kind)
                .bind(new.keys.native_id)
                .bind(new.org)
                .bind(new.revision)
                .bind(new.state)
                .execute(&mut *tx)
                .await
                .map_err(&fail)?
                .rows_affected();
            if done != expected {
                return Err(PostgresError::Raced);
            }
        }
        if !changed.state.is_empty() {
            let expected = changed.state.len() as u64;
            let done = sqlx::query(AssertSqlSafe(self.sql.update_objects.clone()))
                .bind(changed.keys.provider)
                .bind(changed.keys.binding)
                .bind(changed.keys.kind)
                .bind(changed.keys.native_id)
                .bind(changed.org)
                .bind(changed.revision)
                .bind(changed.state)
                .bind(changed.before)
                .execute(&mut *tx)
                .await
                .map_err(&fail)?
                .rows_affected();
            if done != expected {
                return Err(PostgresError::Raced);
            }
        }
        Ok(())
    }

    /// Updates the stored deliveries among `deliveries` (each record with the body to store
    /// it with) without sending their bodies (a delivery's body is fixed when it is first
    /// stored, and a worker's batch would otherwise send every payload back), then inserts
    /// the others, bodies included.
    async fn write_deliveries(
        &self,
        tx: &mut PgConnection,
        deliveries: Vec<(&DeliveryRecord, &[u8])>,
    ) -> Result<(), PostgresError> {
        let fail = self.fail("writing deliveries");
        let mut c = DeliveryColumns::default();
        for (d, _) in &deliveries {
            c.push(d)?;
        }
        let row = sqlx::query(AssertSqlSafe(self.sql.update_deliveries.clone()))
            .bind(c.provider)
            .bind(c.delivery_id)
            .bind(c.binding)
            .bind(c.org)
            .bind(c.phase)
            .bind(c.next_attempt_at)
            .bind(c.record)
            .bind(&*self.channel)
            .fetch_one(&mut *tx)
            .await
            .map_err(&fail)?;
        let updated: Vec<i64> = row.try_get(0).map_err(&fail)?;
        let updated: HashSet<usize> = updated
            .into_iter()
            .filter_map(|n| usize::try_from(n - 1).ok())
            .collect();
        let mut c = DeliveryColumns::default();
        let (mut ordering_key, mut body) = (Vec::new(), Vec::new());
        for (i, (d, first_body)) in deliveries.into_iter().enumerate() {
            if !updated.contains(&i) {
                c.push(d)?;
                ordering_key.push(self.ordering_key_of(d));
                body.push(first_body);
            }
        }
        if body.is_empty() {
            return Ok(());
        }
        sqlx::query(AssertSqlSafe(self.sql.upsert_deliveries.clone()))
            .bind(c.provider)
            .bind(c.delivery_id)
            .bind(c.binding)
            .bind(c.org)
            .bind(c.phase)
            .bind(c.next_attempt_at)
            .bind(ordering_key)
            .bind(c.record)
            .bind(body)
            .bind(&*self.channel)
            .execute(&mut *tx)
            .await
            .map_err(&fail)?;
        Ok(())
    }

    /// Upserts deliveries, intents, conflicts and sync states (last write wins) and
    /// appends audit records, one statement per table.
    pub(crate) async fn write_records(
        &self,
        tx: &mut PgConnection,
        committed: &[&Transition],
    ) -> Result<(), PostgresError> {
        let fail = self.fail("writing records");
        // The last record of each delivery, with the body of its first (a delivery's body
        // is fixed when it is first stored).
        let mut deliveries: BTreeMap<(&str, &str), (&DeliveryRecord, &[u8])> = BTreeMap::new();
        for d in committed.iter().flat_map(|t| t.deliveries.iter()) {
            deliveries
                .entry((d.provider.as_str(), d.delivery_id.as_str()))
                .and_modify(|(last, _)| *last = d)
                .or_insert((d, d.body.as_slice()));
        }
        if !deliveries.is_empty() {
            self.write_deliveries(tx, deliveries.into_values().collect())
                .await?;
        }
        let intents: BTreeMap<&str, &WriteIntent> = committed
            .iter()
            .flat_map(|t| t.write_intents.iter())
            .map(|i| (i.id.as_str(), i))
            .collect();
        if !intents.is_empty() {
            let mut c = TargetColumns::default();
            let mut phase = Vec::with_capacity(intents.len());
            for i in intents.values() {
                c.push(
                    &i.id,
                    i.org.as_str(),
                    &i.target,
                    to_json(*i, "write intent")?,
                );
                phase.push(i.phase.as_str().to_owned());
            }
            sqlx::query(AssertSqlSafe(self.sql.upsert_intents.clone()))
                .bind(c.id)
                .bind(c.org)
                .bind(c.keys.provider)
                .bind(c.keys.binding)
                .bind(c.keys.kind)
                .bind(c.keys.native_id)
                .bind(phase)
                .bind(c.record)
                .bind(&*self.channel)
                .execute(&mut *tx)
                .await
                .map_err(&fail)?;
        }
        let conflicts: BTreeMap<&str, &ConflictRecord> = committed
            .iter()
            .flat_map(|t| t.conflicts.iter())
            .map(|c| (c.id.as_str(), c))
            .collect();
        if !conflicts.is_empty() {
            let mut c = TargetColumns::default();
            for r in conflicts.values() {
                c.push(&r.id, r.org.as_str(), &r.object, to_json(*r, "conflict")?);
            }
            sqlx::query(AssertSqlSafe(self.sql.upsert_conflicts.clone()))
                .bind(c.id)
                .bind(c.org)
                .bind(c.keys.provider)
                .bind(c.keys.binding)
                .bind(c.keys.kind)
                .bind(c.keys.native_id)
                .bind(c.record)
                .execute(&mut *tx)
                .await
                .map_err(&fail)?;
        }
        let mut states: BTreeMap<String, &SyncState> = BTreeMap::new();
        for s in committed.iter().flat_map(|t| t.sync_states.iter()) {
            states.insert(to_json(&s.scope, "sync scope")?, s);
        }
        if !states.is_empty() {
            let (mut scope, mut provider, mut binding, mut record) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for (key, s) in states {
                provider.push(s.scope.provider.to_string());
                binding.push(s.scope.binding.to_string());
                record.push(to_json(s, "sync state")?);
                scope.push(key);
            }
            sqlx::query(AssertSqlSafe(self.sql.upsert_states.clone()))
                .bind(scope)
                .bind(provider)
                .bind(binding)
                .bind(record)
                .execute(&mut *tx)
                .await
                .map_err(&fail)?;
        }
        let audit: Vec<&AuditRecord> = committed.iter().flat_map(|t| t.audit.iter()).collect();
        if !audit.is_empty() {
            let (mut org, mut provider, mut binding, mut record) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for a in audit {
                org.push(a.org.to_string());
                provider.push(a.provider.to_string());
                binding.push(a.binding.to_string());
                record.push(to_json(a, "audit record")?);
            }
            sqlx::query(AssertSqlSafe(self.sql.insert_audit.clone()))
                .bind(org)
                .bind(provider)
                .bind(binding)
                .bind(record)
                .execute(&mut *tx)
                .await
                .map_err(&fail)?;
        }
        Ok(())
    }
}

#[derive(Default)]
struct ObjectColumns {
    keys: KeyColumns,
    org: Vec<String>,
    revision: Vec<i64>,
    state: Vec<String>,
    before: Vec<i64>,
}

impl ObjectColumns {
    fn push(&mut self, state: &ObjectState, before: Option<u64>) -> Result<(), PostgresError> {
        self.keys.push(&state.key);
        self.org.push(state.org.to_string());
        self.revision
            .push(to_i64(state.revision, "object revision")?);
        self.state.push(to_json(state, "object state")?);
        if let Some(before) = before {
            self.before.push(to_i64(before, "object revision")?);
        }
        Ok(())
    }
}

#[derive(Default)]
struct DeliveryColumns {
    provider: Vec<String>,
    delivery_id: Vec<String>,
    binding: Vec<String>,
    org: Vec<String>,
    phase: Vec<String>,
    next_attempt_at: Vec<Option<DateTime<Utc>>>,
    record: Vec<String>,
}

impl DeliveryColumns {
    fn push(&mut self, d: &DeliveryRecord) -> Result<(), PostgresError> {
        self.provider.push(d.provider.to_string());
        self.delivery_id.push(d.delivery_id.to_string());
        self.binding.push(d.binding.to_string());
        self.org.push(d.org.to_string());
        self.phase.push(d.phase.as_str().to_owned());
        self.next_attempt_at.push(d.next_attempt_at);
        self.record.push(to_json(d, "delivery")?);
        Ok(())
    }
}

/// Records that name an object (intents, conflicts): id, org, the object's key, the JSON.
#[derive(Default)]
struct TargetColumns {
    id: Vec<String>,
    org: Vec<String>,
    keys: KeyColumns,
    record: Vec<String>,
}

impl TargetColumns {
    fn push(&mut self, id: &str, org: &str, key: &ObjectKey, record: String) {
        self.id.push(id.to_owned());
        self.org.push(org.to_owned());
        self.keys.push(key);
        self.record.push(record);
    }
}

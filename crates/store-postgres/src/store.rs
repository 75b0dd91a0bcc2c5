//! The `SyncStore` implementation: reads, delivery inserts and the cache. Commits are in
//! `commit.rs`.

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
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, Row};

use crate::PostgresStore;
use crate::error::PostgresError;
use crate::records::{EventColumns, KeyColumns, delivery_from_row, from_json, to_json};

/// The filter's columns as nullable text parameters: org, provider, binding, kind.
fn filter_params(filter: &Filter) -> [Option<String>; 4] {
    [
        filter.org.as_ref().map(ToString::to_string),
        filter.provider.as_ref().map(ToString::to_string),
        filter.binding.as_ref().map(ToString::to_string),
        filter.kind.map(|k| k.as_str().to_owned()),
    ]
}

impl PostgresStore {
    pub(crate) fn text(&self, row: &PgRow, index: usize) -> Result<String, PostgresError> {
        row.try_get(index).map_err(self.fail("reading a row"))
    }

    fn records<T: serde::de::DeserializeOwned>(
        &self,
        rows: &[PgRow],
        table: &'static str,
    ) -> Result<Vec<T>, PostgresError> {
        rows.iter()
            .map(|row| from_json(&self.text(row, 0)?, &self.schema, table))
            .collect()
    }

    pub(crate) fn delivery_row(
        &self,
        row: &PgRow,
        offset: usize,
    ) -> Result<DeliveryRecord, PostgresError> {
        let record = self.text(row, offset)?;
        let body: Vec<u8> = row
            .try_get(offset + 1)
            .map_err(self.fail("reading a delivery body"))?;
        delivery_from_row(&record, body, &self.schema)
    }

    /// Stores a delivery with an explicit ordering key (instead of the one the store's
    /// ordering-key function computes), unless one with the same provider and id exists.
    /// A receiver that can tell from the payload which object a delivery is about passes
    /// that object's key here, so deliveries of different objects are processed in
    /// parallel while those of one object never are. New deliveries wake waiting workers
    /// (`NOTIFY`).
    pub async fn insert_delivery_with_ordering_key(
        &self,
        delivery: &DeliveryRecord,
        ordering_key: &str,
    ) -> Result<Inserted, Error> {
        let fail = self.fail("inserting a delivery");
        let inserted: i64 = sqlx::query(AssertSqlSafe(self.sql.insert_delivery.clone()))
            .bind(delivery.provider.as_str())
            .bind(delivery.delivery_id.as_str())
            .bind(delivery.binding.as_str())
            .bind(delivery.org.as_str())
            .bind(delivery.phase.as_str())
            .bind(delivery.next_attempt_at)
            .bind(ordering_key)
            .bind(to_json(delivery, "delivery")?)
            .bind(delivery.body.as_slice())
            .bind(&*self.channel)
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get(0))
            .map_err(&fail)?;
        self.new_or_duplicate(inserted, delivery).await
    }

    /// [`Inserted::New`] when the insert stored a row, else the stored duplicate.
    async fn new_or_duplicate(
        &self,
        inserted: i64,
        delivery: &DeliveryRecord,
    ) -> Result<Inserted, Error> {
        if inserted > 0 {
            return Ok(Inserted::New);
        }
        // The row exists and is committed: ON CONFLICT DO NOTHING waited for any
        // concurrent inserter to finish.
        match self
            .get_delivery(&delivery.provider, &delivery.delivery_id)
            .await?
        {
            Some(existing) => Ok(Inserted::Duplicate(Box::new(existing))),
            None => Err(PostgresError::Raced.into()),
        }
    }

    /// Places each row's record at its 1-based ordinal `n` (column 0) of a query over
    /// `UNNEST … WITH ORDINALITY`; ordinals with no row stay `None`.
    fn by_ordinal<T>(
        &self,
        rows: &[PgRow],
        len: usize,
        what: &'static str,
        record: impl Fn(&PgRow) -> Result<T, PostgresError>,
    ) -> Result<Vec<Option<T>>, PostgresError> {
        let mut out: Vec<Option<T>> = std::iter::repeat_with(|| None).take(len).collect();
        for row in rows {
            let n: i64 = row.try_get(0).map_err(self.fail(what))?;
            if let Some(slot) = usize::try_from(n - 1).ok().and_then(|i| out.get_mut(i)) {
                *slot = Some(record(row)?);
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl SyncStore for PostgresStore {
    async fn insert_delivery(&self, delivery: &DeliveryRecord) -> Result<Inserted, Error> {
        let key = self.ordering_key_of(delivery);
        self.insert_delivery_with_ordering_key(delivery, &key).await
    }

    /// One statement: the delivery row and, only when it is new, its audit row.
    async fn insert_delivery_audited(
        &self,
        delivery: &DeliveryRecord,
        audit: AuditRecord,
    ) -> Result<Inserted, Error> {
        let inserted: i64 = sqlx::query(AssertSqlSafe(self.sql.insert_delivery_audited.clone()))
            .bind(delivery.provider.as_str())
            .bind(delivery.delivery_id.as_str())
            .bind(delivery.binding.as_str())
            .bind(delivery.org.as_str())
            .bind(delivery.phase.as_str())
            .bind(delivery.next_attempt_at)
            .bind(self.ordering_key_of(delivery))
            .bind(to_json(delivery, "delivery")?)
            .bind(delivery.body.as_slice())
            .bind(&*self.channel)
            .bind(audit.org.as_str())
            .bind(audit.provider.as_str())
            .bind(audit.binding.as_str())
            .bind(to_json(&audit, "audit record")?)
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get(0))
            .map_err(self.fail("inserting a delivery"))?;
        self.new_or_duplicate(inserted, delivery).await
    }

    async fn get_deliveries(
        &self,
        ids: &[(ProviderKind, DeliveryId)],
    ) -> Result<Vec<Option<DeliveryRecord>>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let (providers, delivery_ids): (Vec<&str>, Vec<&str>) =
            ids.iter().map(|(p, d)| (p.as_str(), d.as_str())).unzip();
        let rows = sqlx::query(AssertSqlSafe(self.sql.get_deliveries.clone()))
            .bind(providers)
            .bind(delivery_ids)
            .fetch_all(&self.pool)
            .await
            .map_err(self.fail("reading deliveries"))?;
        Ok(
            self.by_ordinal(&rows, ids.len(), "reading deliveries", |r| {
                self.delivery_row(r, 1)
            })?,
        )
    }

    async fn get_delivery(
        &self,
        provider: &ProviderKind,
        id: &DeliveryId,
    ) -> Result<Option<DeliveryRecord>, Error> {
        let row = sqlx::query(AssertSqlSafe(self.sql.get_delivery.clone()))
            .bind(provider.as_str())
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(self.fail("reading a delivery"))?;
        Ok(row.map(|r| self.delivery_row(&r, 0)).transpose()?)
    }

    async fn list_deliveries(
        &self,
        filter: &Filter,
        phase: Option<DeliveryPhase>,
    ) -> Result<Vec<DeliveryRecord>, Error> {
        let [org, provider, binding, _] = filter_params(filter);
        let rows = sqlx::query(AssertSqlSafe(self.sql.list_deliveries.clone()))
            .bind(org)
            .bind(provider)
            .bind(binding)
            .bind(phase.map(DeliveryPhase::as_str))
            .fetch_all(&self.pool)
            .await
            .map_err(self.fail("listing deliveries"))?;
        let mut out = rows
            .iter()
            .map(|r| self.delivery_row(r, 0))
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| (&a.provider, &a.delivery_id).cmp(&(&b.provider, &b.delivery_id)));
        Ok(out)
    }

    async fn load_object(&self, key: &ObjectKey) -> Result<Option<ObjectState>, Error> {
        let row = sqlx::query(AssertSqlSafe(self.sql.load_object.clone()))
            .bind(key.provider.as_str())
            .bind(key.binding.as_str())
            .bind(key.kind.as_str())
            .bind(key.native_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(self.fail("loading an object"))?;
        Ok(row
            .map(|r| from_json(&self.text(&r, 0)?, &self.schema, "objects"))
            .transpose()?)
    }

    async fn load_objects(&self, keys: &[ObjectKey]) -> Result<Vec<Option<ObjectState>>, Error> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let c: KeyColumns = keys.iter().collect();
        let rows = sqlx::query(AssertSqlSafe(self.sql.load_objects.clone()))
            .bind(c.provider)
            .bind(c.binding)
            .bind(c.kind)
            .bind(c.native_id)
            .fetch_all(&self.pool)
            .await
            .map_err(self.fail("loading objects"))?;
        Ok(self.by_ordinal(&rows, keys.len(), "loading objects", |r| {
            from_json(&self.text(r, 1)?, &self.schema, "objects")
        })?)
    }

    async fn list_objects(&self, filter: &Filter) -> Result<Vec<ObjectState>, Error> {
        let [org, provider, binding, kind] = filter_params(filter);
        let rows = sqlx::query(AssertSqlSafe(self.sql.list_objects.clone()))
            .bind(org)
            .bind(provider)
            .bind(binding)
            .bind(kind)
            .fetch_all(&self.pool)
            .await
            .map_err(self.fail("listing objects"))?;
        let mut out: Vec<ObjectState> = self.records(&rows, "objects")?;
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn event_applied(&self, key: &EventKey) -> Result<bool, Error> {
        Ok(sqlx::query(AssertSqlSafe(self.sql.event_applied.clone()))
            .bind(key.provider.as_str())
            .bind(key.delivery_id.as_str())
            .bind(key.action.as_str())
            .bind(key.kind.as_str())
            .bind(key.native_id.as_str())
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get(0))
            .map_err(self.fail("looking up an event key"))?)
    }

    async fn events_applied(&self, keys: &[EventKey]) -> Result<Vec<bool>, Error> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let c: EventColumns = keys.iter().collect();
        let rows = sqlx::query(AssertSqlSafe(self.sql.events_applied.clone()))
            .bind(c.provider)
            .bind(c.delivery_id)
            .bind(c.action)
            .bind(c.kind)
            .bind(c.native_id)
            .fetch_all(&self.pool)
            .await
            .map_err(self.fail("looking up event keys"))?;
        let found = self.by_ordinal(&rows, keys.len(), "looking up event keys", |_| Ok(()))?;
        Ok(found.into_iter().map(|f| f.is_some()).collect())
    }

    async fn commit(&self, transition: Transition) -> Result<CommitOutcome, Error> {
        let mut outcomes = self.commit_all(std::slice::from_ref(&transition)).await?;
        Ok(outcomes.pop().unwrap_or(CommitOutcome::Committed))
    }

    /// The batched path: see [`PostgresStore::commit_batch`]. A few round trips and one
    /// WAL flush per chunk of transitions instead of per transition, with outcomes
    /// identical to committing them one by one.
    async fn commit_many(&self, transitions: Vec<Transition>) -> Result<Vec<CommitOutcome>, Error> {
        self.commit_batch(transitions).await
    }

    async fn get_write_intent(&self, id: &str) -> Result<Option<WriteIntent>, Error> {
        let row = sqlx::query(AssertSqlSafe(self.sql.get_intent.clone()))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.fail("reading a write intent"))?;
        Ok(row
            .map(|r| from_json(&self.text(&r, 0)?, &self.schema, "write_intents"))
            .transpose()?)
    }

    async fn list_write_intents(
        &self,
        filter: &Filter,
        phase: Option<WritePhase>,
    ) -> Result<Vec<WriteIntent>, Error> {
        let [org, provider, binding, kind] = filter_params(filter);
        let rows = sqlx::query(AssertSqlSafe(self.sql.list_intents.clone()))
            .bind(org)
            .bind(provider)
            .bind(binding)
            .bind(kind)
            .bind(phase.map(WritePhase::as_str))
            .fetch_all(&self.pool)
            .await
            .map_err(self.fail("listing write intents"))?;
        let mut out: Vec<WriteIntent> = self.records(&rows, "write_intents")?;
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn get_conflict(&self, id: &str) -> Result<Option<ConflictRecord>, Error> {
        let row = sqlx::query(AssertSqlSafe(self.sql.get_conflict.clone()))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.fail("reading a conflict"))?;
        Ok(row
            .map(|r| from_json(&self.text(&r, 0)?, &self.schema, "conflicts"))
            .transpose()?)
    }

    async fn list_conflicts(&self, filter: &Filter) -> Result<Vec<ConflictRecord>, Error> {
        let [org, provider, binding, kind] = filter_params(filter);
        let rows = sqlx::query(AssertSqlSafe(self.sql.list_conflicts.clone()))
            .bind(org)
            .bind(provider)
            .bind(binding)
            .bind(kind)
            .fetch_all(&self.pool)
            .await
            .map_err(self.fail("listing conflicts"))?;
        let mut out: Vec<ConflictRecord> = self.records(&rows, "conflicts")?;
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn list_audit(&self, filter: &Filter) -> Result<Vec<AuditRecord>, Error> {
        let [org, provider, binding, _] = filter_params(filter);
        let rows = sqlx::query(AssertSqlSafe(self.sql.list_audit.clone()))
            .bind(org)
            .bind(provider)
            .bind(binding)
            .fetch_all(&self.pool)
            .await
            .map_err(self.fail("listing audit records"))?;
        Ok(self.records(&rows, "audit")?)
    }

    async fn get_sync_state(&self, scope: &SyncScope) -> Result<Option<SyncState>, Error> {
        let row = sqlx::query(AssertSqlSafe(self.sql.get_sync_state.clone()))
            .bind(to_json(scope, "sync scope")?)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.fail("reading a sync state"))?;
        Ok(row
            .map(|r| from_json(&self.text(&r, 0)?, &self.schema, "sync_states"))
            .transpose()?)
    }
}

#[async_trait]
impl HttpCache for PostgresStore {
    async fn cache_get(&self, key: &str) -> Result<Option<CacheEntry>, Error> {
        let fail = self.fail("reading the HTTP cache");
        let row = sqlx::query(AssertSqlSafe(self.sql.cache_get.clone()))
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(&fail)?;
        let Some(row) = row else { return Ok(None) };
        let mut entry = CacheEntry::new(
            row.try_get::<String, _>(0).map_err(&fail)?,
            row.try_get(2).map_err(&fail)?,
        );
        entry.last_modified = row.try_get(1).map_err(&fail)?;
        Ok(Some(entry))
    }

    async fn cache_put(&self, key: &str, entry: CacheEntry) -> Result<(), Error> {
        sqlx::query(AssertSqlSafe(self.sql.cache_put.clone()))
            .bind(key)
            .bind(entry.etag)
            .bind(entry.last_modified)
            .bind(entry.body)
            .execute(&self.pool)
            .await
            .map_err(self.fail("writing the HTTP cache"))?;
        Ok(())
    }
}

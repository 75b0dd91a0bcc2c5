#![doc = include_str!("../README.md")]

mod commit;
mod error;
mod migrate;
mod queue;
mod records;
mod schema;
mod store;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use kradle_sync_core::Error;
use kradle_sync_core::delivery::DeliveryRecord;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

pub use commit::MAX_BATCH;
pub use error::PostgresError;
pub use migrate::{MIGRATIONS, MIGRATIONS_TABLE, Migration};
pub use queue::{DEFAULT_MAX_CLAIMS, WorkListener};
pub use schema::MAX_SCHEMA_LEN;
/// The sqlx this crate is built on, so a host builds its [`PgPool`] with the same version.
pub use sqlx;
pub use sqlx::PgPool;

use schema::Sql;

/// The schema the store uses unless told otherwise.
pub const DEFAULT_SCHEMA: &str = "kradle_sync";

/// Computes the ordering key of a delivery: deliveries with the same key are never
/// processed at once. See [`PostgresStore::with_ordering_key`].
pub type OrderingKeyFn = dyn Fn(&DeliveryRecord) -> String + Send + Sync;

/// The default ordering key: the delivery's provider and binding (`github/acme/app`).
/// Coarse but always safe: every object of a binding is reached only through that binding.
pub fn binding_ordering_key(delivery: &DeliveryRecord) -> String {
    format!("{}/{}", delivery.provider, delivery.binding)
}

/// A [`SyncStore`](kradle_sync_core::SyncStore) in PostgreSQL, and the shared work queue of
/// its deliveries. Cheap to clone (the pool and the rendered statements are shared).
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    schema: Arc<str>,
    sql: Arc<Sql>,
    /// `host:port/database`, for error messages (never the password).
    target: Arc<str>,
    channel: Arc<str>,
    lock_namespace: i32,
    ordering_key: Arc<OrderingKeyFn>,
    max_claims: u32,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("target", &self.target)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// A store on the host's pool, in `schema` (created if missing), with the embedded
    /// migrations applied. The pool stays the host's: the store only borrows connections.
    ///
    /// Fails with a message naming the cause when the schema name is not a plain lowercase
    /// identifier, PostgreSQL cannot be reached, or a migration cannot be applied.
    pub async fn new(pool: PgPool, schema: &str) -> Result<Self, Error> {
        let store = Self::unmigrated(pool, schema)?;
        store.migrate().await?;
        Ok(store)
    }

    /// A store on the host's pool, in `schema`, without touching the database. Call
    /// [`migrate`](Self::migrate) before using it (or use [`new`](Self::new)).
    pub fn unmigrated(pool: PgPool, schema: &str) -> Result<Self, Error> {
        schema::validate(schema)?;
        let options = pool.connect_options();
        let target = format!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or(options.get_username())
        );
        Ok(Self {
            sql: Arc::new(Sql::new(schema)),
            target: Arc::from(target.as_str()),
            channel: Arc::from(format!("{schema}_work").as_str()),
            lock_namespace: schema::lock_namespace(schema),
            schema: Arc::from(schema),
            pool,
            ordering_key: Arc::new(binding_ordering_key),
            max_claims: DEFAULT_MAX_CLAIMS,
        })
    }

    /// Connects to `url` with a pool of its own (10 connections) and opens the store in
    /// [`DEFAULT_SCHEMA`]. Hosts that already have a pool should use [`new`](Self::new).
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::connect_with_schema(url, DEFAULT_SCHEMA).await
    }

    /// Like [`connect`](Self::connect), in another schema.
    pub async fn connect_with_schema(url: &str, schema: &str) -> Result<Self, Error> {
        schema::validate(schema)?;
        let options = PgConnectOptions::from_str(url)
            .map_err(|source| PostgresError::InvalidUrl { source })?;
        let target = format!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or(options.get_username())
        );
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|e| error::classify(e, &target, schema, "connecting"))?;
        Self::new(pool, schema).await
    }

    /// Uses `key` to compute the ordering key of each delivery stored through
    /// [`insert_delivery`](kradle_sync_core::SyncStore::insert_delivery) or a commit
    /// whose adapter set none ([`DeliveryRecord::ordering_key`] is `None`: the engine
    /// fills it from `WebhookAdapter::ordering_key` at receive time, e.g. GitHub's issue,
    /// pull request or run a payload is about). Two deliveries with the same key are never
    /// claimed at once, so every delivery that can touch the same object must map to the
    /// same key. The default, [`binding_ordering_key`], serializes a whole binding; a finer
    /// key lets one repository's deliveries run in parallel. The key is fixed when a
    /// delivery is first stored.
    pub fn with_ordering_key(
        mut self,
        key: impl Fn(&DeliveryRecord) -> String + Send + Sync + 'static,
    ) -> Self {
        self.ordering_key = Arc::new(key);
        self
    }

    /// Dead-letters a delivery claimed more than `max_claims` times without an outcome
    /// (default [`DEFAULT_MAX_CLAIMS`], at least 1). A payload that crashes every worker
    /// that processes it would otherwise come back after each lease, forever; instead it
    /// ends in the dead letters with an error naming the cause, and
    /// `Engine::replay_delivery` gives it a new attempt once fixed. Claims given back with
    /// [`release`](kradle_sync_core::WorkQueue::release) do not count, and recording any outcome (a retry
    /// included) starts the count again.
    pub fn with_max_claims(mut self, max_claims: u32) -> Self {
        self.max_claims = max_claims.max(1);
        self
    }

    /// Applies the embedded migrations that are missing and returns their versions (empty
    /// when the schema was up to date). Safe to call again, and from several processes at
    /// once.
    pub async fn migrate(&self) -> Result<Vec<i64>, Error> {
        Ok(migrate::run(&self.pool, &self.schema, &self.target).await?)
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The schema.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The `LISTEN`/`NOTIFY` channel that announces new work (`<schema>_work`).
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The ordering key the store gives `delivery`: the one its adapter chose at receive
    /// time ([`DeliveryRecord::ordering_key`], the object the payload is about), or else
    /// the one the store's ordering-key function computes.
    pub fn ordering_key_of(&self, delivery: &DeliveryRecord) -> String {
        match &delivery.ordering_key {
            Some(key) if !key.is_empty() => key.clone(),
            _ => (self.ordering_key)(delivery),
        }
    }

    fn fail(&self, operation: &'static str) -> impl Fn(sqlx::Error) -> PostgresError + '_ {
        move |e| error::classify(e, &self.target, &self.schema, operation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_bad_schema_name_is_refused_before_any_io() {
        let pool = PgPoolOptions::new().connect_lazy_with(PgConnectOptions::new());
        let err =
            PostgresStore::unmigrated(pool, "Robert'); DROP TABLE x;--").expect_err("refused");
        assert!(err.to_string().contains("invalid schema name"), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_server_says_what_to_do() {
        let err = PostgresStore::connect("postgres://nobody:secret-pw@127.0.0.1:1/none")
            .await
            .expect_err("nothing listens on port 1");
        let text = err.to_string();
        assert!(
            text.contains("cannot reach PostgreSQL at 127.0.0.1:1/none"),
            "{text}"
        );
        assert!(text.contains("DATABASE_URL"), "{text}");
        assert!(!text.contains("secret-pw"), "the password leaked: {text}");
    }
}

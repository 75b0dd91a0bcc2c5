//! Migrations: idempotent, concurrent-safe, checksummed, and confined to the store's own
//! schema with their own table.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use common::TestDb;
use kradle_store_postgres::sqlx::{self, AssertSqlSafe, Row};
use kradle_store_postgres::{MIGRATIONS, MIGRATIONS_TABLE, PostgresStore};
use kradle_sync_core::SyncStore;
use kradle_sync_core::store::Inserted;
use kradle_sync_core::testing::conformance::delivery;

const TABLES: [&str; 9] = [
    "_kradle_migrations",
    "applied_events",
    "audit",
    "conflicts",
    "deliveries",
    "http_cache",
    "objects",
    "sync_states",
    "write_intents",
];

async fn tables_in(db: &TestDb, schema: &str) -> Vec<String> {
    sqlx::query(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = $1 ORDER BY table_name",
    )
    .bind(schema)
    .fetch_all(&db.pool)
    .await
    .unwrap()
    .iter()
    .map(|r| r.get::<String, _>(0))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_idempotent_and_live_in_their_own_schema() {
    let Some(db) = TestDb::connect("mig_idem").await else {
        return;
    };
    let schema = db.schema_name();
    let store = PostgresStore::unmigrated(db.pool.clone(), &schema).unwrap();
    let all: Vec<i64> = MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(
        store.migrate().await.unwrap(),
        all,
        "first run applies everything"
    );
    assert_eq!(
        store.migrate().await.unwrap(),
        Vec::<i64>::new(),
        "second run applies nothing"
    );
    // A new store on the migrated schema keeps the data.
    store
        .insert_delivery(&delivery("d-1", "acme/app"))
        .await
        .unwrap();
    let again = PostgresStore::new(db.pool.clone(), &schema).await.unwrap();
    assert!(matches!(
        again
            .insert_delivery(&delivery("d-1", "acme/app"))
            .await
            .unwrap(),
        Inserted::Duplicate(_)
    ));
    assert_eq!(tables_in(&db, &schema).await, TABLES);
    let recorded: Vec<(i64, String)> = sqlx::query(AssertSqlSafe(format!(
        "SELECT version, description FROM \"{schema}\".{MIGRATIONS_TABLE} ORDER BY version"
    )))
    .fetch_all(&db.pool)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    assert_eq!(
        recorded,
        MIGRATIONS
            .iter()
            .map(|m| (m.version, m.description.to_owned()))
            .collect::<Vec<_>>()
    );
    db.drop_schemas().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hosts_schema_and_migrations_are_left_alone() {
    let Some(db) = TestDb::connect("mig_host").await else {
        return;
    };
    // The host has its own schema with a `deliveries` table and an sqlx-style migrations
    // table of its own.
    let host = db.schema_name();
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE SCHEMA \"{host}\";
         CREATE TABLE \"{host}\".deliveries (id int primary key);
         INSERT INTO \"{host}\".deliveries VALUES (1);
         CREATE TABLE \"{host}\"._sqlx_migrations (version bigint primary key);
         INSERT INTO \"{host}\"._sqlx_migrations VALUES (20240101);"
    )))
    .execute(&db.pool)
    .await
    .unwrap();
    let store = db.store().await;
    store
        .insert_delivery(&delivery("d-1", "acme/app"))
        .await
        .unwrap();
    assert_eq!(
        tables_in(&db, &host).await,
        vec!["_sqlx_migrations", "deliveries"]
    );
    let rows: i64 = sqlx::query(AssertSqlSafe(format!(
        "SELECT count(*) FROM \"{host}\".deliveries"
    )))
    .fetch_one(&db.pool)
    .await
    .unwrap()
    .get(0);
    assert_eq!(rows, 1);
    assert_eq!(tables_in(&db, store.schema()).await, TABLES);
    db.drop_schemas().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_starting_together_migrate_once() {
    let Some(db) = TestDb::connect("mig_race").await else {
        return;
    };
    let schema = db.schema_name();
    let mut starts = Vec::new();
    for _ in 0..4 {
        let (pool, schema) = (db.pool.clone(), schema.clone());
        starts.push(tokio::spawn(async move {
            let store = PostgresStore::unmigrated(pool, &schema).unwrap();
            store.migrate().await.unwrap()
        }));
    }
    let mut applied = Vec::new();
    for s in starts {
        applied.extend(s.await.unwrap());
    }
    assert_eq!(
        applied.len(),
        MIGRATIONS.len(),
        "each migration applied once: {applied:?}"
    );
    db.drop_schemas().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_or_unknown_migrations_are_refused() {
    let Some(db) = TestDb::connect("mig_guard").await else {
        return;
    };
    let store = db.store().await;
    let table = format!("\"{}\".{MIGRATIONS_TABLE}", store.schema());
    sqlx::query(AssertSqlSafe(format!(
        "UPDATE {table} SET checksum = '\\x00' WHERE version = 1"
    )))
    .execute(&db.pool)
    .await
    .unwrap();
    let err = store.migrate().await.expect_err("tampered");
    assert!(
        err.to_string().contains("changed after it was applied"),
        "{err}"
    );
    sqlx::query(AssertSqlSafe(format!(
        "UPDATE {table} SET checksum = $1 WHERE version = 1"
    )))
    .bind(MIGRATIONS[0].checksum())
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {table} (version, description, checksum, execution_ms)
         VALUES (999, 'from the future', '\\x00', 0)"
    )))
    .execute(&db.pool)
    .await
    .unwrap();
    let err = PostgresStore::new(db.pool.clone(), store.schema())
        .await
        .expect_err("newer schema");
    assert!(
        err.to_string().contains("newer kradle-store-postgres"),
        "{err}"
    );
    db.drop_schemas().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_of_an_earlier_version_is_brought_up_to_date_with_its_data() {
    let Some(db) = TestDb::connect("mig_upgrade").await else {
        return;
    };
    // What a build that knew only the first migration left behind, with a queued delivery.
    let schema = db.schema_name();
    let table = format!("\"{schema}\".{MIGRATIONS_TABLE}");
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE SCHEMA \"{schema}\"; SET search_path TO \"{schema}\"; {}
         CREATE TABLE {table} (version bigint PRIMARY KEY, description text NOT NULL,
             checksum bytea NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(),
             execution_ms bigint NOT NULL);
         SET search_path TO DEFAULT;",
        MIGRATIONS[0].sql
    )))
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {table} (version, description, checksum, execution_ms) VALUES (1, $1, $2, 0)"
    )))
    .bind(MIGRATIONS[0].description)
    .bind(MIGRATIONS[0].checksum())
    .execute(&db.pool)
    .await
    .unwrap();
    let old = PostgresStore::unmigrated(db.pool.clone(), &schema).unwrap();
    old.insert_delivery(&delivery("d-1", "acme/app"))
        .await
        .unwrap();

    let later: Vec<i64> = MIGRATIONS[1..].iter().map(|m| m.version).collect();
    assert_eq!(old.migrate().await.unwrap(), later);
    let store = PostgresStore::new(db.pool.clone(), &schema).await.unwrap();
    let claimed = store
        .claim_delivery_ids(
            "w",
            std::time::Duration::from_secs(30),
            10,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "the queued delivery is claimed");
    let indexes: Vec<String> = sqlx::query(
        "SELECT indexname::text FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname",
    )
    .bind(&schema)
    .fetch_all(&db.pool)
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect();
    for index in [
        "deliveries_leased",
        "deliveries_pending_by_seq",
        "deliveries_unfinished_by_phase",
    ] {
        assert!(indexes.iter().any(|i| i == index), "{index}: {indexes:?}");
    }
    assert!(
        !indexes.iter().any(|i| i == "deliveries_by_phase"),
        "{indexes:?}"
    );
    db.drop_schemas().await;
}

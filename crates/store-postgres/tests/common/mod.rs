//! The store's tests reach PostgreSQL through `kradle_test_support::postgres`: the server in
//! `DATABASE_URL`, a uniquely named schema per store (prefix `kst_`, so leftovers are easy
//! to find), every schema dropped when the test ends, panicking or not. When the server
//! cannot be reached the test is skipped with a notice, except under `CI=true`, where it
//! fails.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::ops::Deref;

use kradle_store_postgres::PostgresStore;
use kradle_test_support::postgres;

/// A connection to the test server and the schemas a test made on it (`pool`,
/// `schema_name()`, `drop_schemas()` of [`postgres::TestDb`]).
pub struct TestDb(postgres::TestDb);

impl TestDb {
    /// Connects, or returns `None` (skip) when the server is unreachable outside CI.
    pub async fn connect(tag: &str) -> Option<TestDb> {
        postgres::TestDb::connect("kst", tag).await.map(TestDb)
    }

    /// A migrated store in a fresh schema.
    pub async fn store(&self) -> PostgresStore {
        PostgresStore::new(self.pool.clone(), &self.schema_name())
            .await
            .expect("create a store in a fresh schema")
    }
}

impl Deref for TestDb {
    type Target = postgres::TestDb;

    fn deref(&self) -> &postgres::TestDb {
        &self.0
    }
}

pub mod github;
pub mod probe;

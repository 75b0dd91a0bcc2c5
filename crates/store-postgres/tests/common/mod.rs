//! The one place tests reach PostgreSQL: `DATABASE_URL` (default: this project's local
//! server), a uniquely named schema per store, every schema dropped when the test ends,
//! panicking or not. When the server cannot be reached the test is skipped with a notice,
//! except under `CI=true`, where it fails.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use kradle_store_postgres::PostgresStore;
use kradle_store_postgres::sqlx::postgres::PgPoolOptions;
use kradle_store_postgres::sqlx::{self, AssertSqlSafe, PgPool};

/// The server on this project's machines (trust auth).
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Every test schema starts with this, so leftovers are easy to find.
pub const PREFIX: &str = "kst_";

pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_owned())
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A connection to the test server and the schemas a test made on it.
pub struct TestDb {
    pub pool: PgPool,
    url: String,
    tag: String,
    schemas: Mutex<Vec<String>>,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    /// Connects, or returns `None` (skip) when the server is unreachable outside CI.
    pub async fn connect(tag: &str) -> Option<TestDb> {
        let url = database_url();
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(3))
            .connect(&url)
            .await;
        match pool {
            Ok(pool) => Some(TestDb {
                pool,
                url,
                tag: tag.to_owned(),
                schemas: Mutex::new(Vec::new()),
            }),
            Err(e) if in_ci() => panic!(
                "CI=true and PostgreSQL is unreachable at DATABASE_URL={url}: {e}; start the server (or fix DATABASE_URL): PostgreSQL tests never skip in CI"
            ),
            Err(e) => {
                eprintln!(
                    "SKIPPED {tag}: PostgreSQL is unreachable at {url} ({e}); set DATABASE_URL to run the PostgreSQL tests"
                );
                None
            }
        }
    }

    /// A fresh, unique schema name (recorded for dropping).
    pub fn schema_name(&self) -> String {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let tag: String = self.tag.chars().take(16).collect();
        let name = format!("{PREFIX}{tag}_{}_{n}_{nanos:x}", std::process::id());
        self.schemas.lock().unwrap().push(name.clone());
        name
    }

    /// A migrated store in a fresh schema.
    pub async fn store(&self) -> PostgresStore {
        PostgresStore::new(self.pool.clone(), &self.schema_name())
            .await
            .expect("create a store in a fresh schema")
    }

    /// Drops the schemas made so far.
    pub async fn drop_schemas(&self) {
        let schemas: Vec<String> = std::mem::take(&mut *self.schemas.lock().unwrap());
        for s in schemas {
            sqlx::query(AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS \"{s}\" CASCADE"
            )))
            .execute(&self.pool)
            .await
            .expect("drop a test schema");
        }
    }
}

impl Drop for TestDb {
    /// Drops whatever schemas are left, on a thread of its own so it works inside or
    /// outside a runtime, and after a panic.
    fn drop(&mut self) {
        let schemas: Vec<String> = match self.schemas.lock() {
            Ok(mut s) => std::mem::take(&mut *s),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        if schemas.is_empty() {
            return;
        }
        let url = self.url.clone();
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(pool) = PgPoolOptions::new().max_connections(1).connect(&url).await else {
                    return;
                };
                for s in schemas {
                    let _ = sqlx::query(AssertSqlSafe(format!(
                        "DROP SCHEMA IF EXISTS \"{s}\" CASCADE"
                    )))
                    .execute(&pool)
                    .await;
                }
                pool.close().await;
            });
        });
        let _ = cleanup.join();
    }
}

pub mod github;
pub mod probe;

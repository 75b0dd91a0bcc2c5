//! The one way tests reach PostgreSQL: the server in `DATABASE_URL` (default
//! [`DEFAULT_DATABASE_URL`]), a uniquely named schema per test so tests run in parallel,
//! every schema dropped when the test ends, panicking or not.
//!
//! When the server cannot be reached, [`TestDb::connect`] and [`fresh_schema`] print a
//! notice and return `None` (the test returns early: skipped), except under `CI=true`,
//! where they panic: PostgreSQL tests never skip in CI.

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, PgPool};

/// The server on this project's machines: user `postgres` with trust auth, database `test`.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// `DATABASE_URL`, or [`DEFAULT_DATABASE_URL`] when it is unset or empty.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned())
}

/// Whether the environment is CI (`CI=true`, or `CI=1`): there an unreachable server
/// fails a test instead of skipping it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A connection to the test server and the schemas a test named on it: whatever is left
/// of them is dropped when the value is (on a thread of its own, so inside or outside a
/// runtime, and after a panic).
pub struct TestDb {
    /// A pool on the test server (at most 8 connections).
    pub pool: PgPool,
    /// The URL the pool connected to, for processes the test starts.
    pub url: String,
    prefix: String,
    tag: String,
    schemas: Mutex<Vec<String>>,
}

impl TestDb {
    /// Connects to [`database_url`]; schemas will be named `{prefix}_{tag}_…`. Returns
    /// `None` (skip, with a notice) when the server is unreachable, except under
    /// `CI=true`, where it panics saying how to start the server.
    pub async fn connect(prefix: &str, tag: &str) -> Option<TestDb> {
        Self::connect_to(database_url(), in_ci(), prefix, tag).await
    }

    async fn connect_to(url: String, ci: bool, prefix: &str, tag: &str) -> Option<TestDb> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(3))
            .connect(&url)
            .await;
        match pool {
            Ok(pool) => Some(TestDb {
                pool,
                url,
                prefix: prefix.to_owned(),
                tag: tag.to_owned(),
                schemas: Mutex::new(Vec::new()),
            }),
            Err(e) if ci => panic!(
                "CI=true and PostgreSQL is unreachable at DATABASE_URL={url}: {e}; start the \
                 server (`.ci/run` starts the local one: 127.0.0.1:5432, user postgres with \
                 trust auth, database test) or point DATABASE_URL at one: PostgreSQL tests \
                 never skip in CI"
            ),
            Err(e) => {
                eprintln!(
                    "SKIPPED {tag}: PostgreSQL is unreachable at {url} ({e}); set DATABASE_URL to run the PostgreSQL tests"
                );
                None
            }
        }
    }

    /// A fresh, unique schema name (`{prefix}_{tag}_{pid}_{n}_{nanos}`, the tag cut to 16
    /// characters), recorded for dropping. The schema itself is not created.
    pub fn schema_name(&self) -> String {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let tag: String = self.tag.chars().take(16).collect();
        let name = format!("{}_{tag}_{}_{n}_{nanos:x}", self.prefix, std::process::id());
        self.schemas
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(name.clone());
        name
    }

    /// Drops the schemas named so far (panics if the server refuses).
    pub async fn drop_schemas(&self) {
        let schemas =
            std::mem::take(&mut *self.schemas.lock().unwrap_or_else(PoisonError::into_inner));
        for s in schemas {
            sqlx::query(AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS \"{s}\" CASCADE"
            )))
            .execute(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("drop the test schema {s}: {e}"));
        }
    }
}

impl Drop for TestDb {
    /// Drops whatever schemas are left, on a thread of its own so it works inside or
    /// outside a runtime, and after a panic.
    fn drop(&mut self) {
        let schemas =
            std::mem::take(&mut *self.schemas.lock().unwrap_or_else(PoisonError::into_inner));
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

/// One fresh schema name on the test server and a scratch directory of the same name
/// (created), for tests that hand both to a process: the directory is removed and the
/// schema dropped when the value is. Derefs to its [`TestDb`] (`pool`, `url`).
pub struct FreshSchema {
    db: TestDb,
    /// The schema's name (not created: the store under test creates and migrates it).
    pub schema: String,
    /// The scratch directory, `$TMPDIR/{schema}`.
    pub dir: PathBuf,
}

/// Connects as [`TestDb::connect`] does (`None` to skip, a panic under `CI=true`) and
/// names one fresh schema `{prefix}_{tag}_…` with its scratch directory.
pub async fn fresh_schema(prefix: &str, tag: &str) -> Option<FreshSchema> {
    let db = TestDb::connect(prefix, tag).await?;
    let schema = db.schema_name();
    let dir = std::env::temp_dir().join(&schema);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("create the scratch directory {}: {e}", dir.display()));
    Some(FreshSchema { db, schema, dir })
}

impl FreshSchema {
    /// Drops the schema now (panics if the server refuses); the directory stays until
    /// the value is dropped.
    pub async fn drop_schema(&self) {
        self.db.drop_schemas().await;
    }
}

impl Deref for FreshSchema {
    type Target = TestDb;

    fn deref(&self) -> &TestDb {
        &self.db
    }
}

impl Drop for FreshSchema {
    /// Removes the scratch directory; the schema is dropped next, with the [`TestDb`].
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nothing listens on port 1.
    const UNREACHABLE: &str = "postgres://postgres@127.0.0.1:1/test";

    #[tokio::test]
    async fn an_unreachable_server_skips_outside_ci() {
        let db = TestDb::connect_to(UNREACHABLE.to_owned(), false, "kts", "skip").await;
        assert!(db.is_none());
    }

    #[tokio::test]
    #[should_panic(expected = "CI=true and PostgreSQL is unreachable at DATABASE_URL=")]
    async fn an_unreachable_server_fails_under_ci() {
        let _ = TestDb::connect_to(UNREACHABLE.to_owned(), true, "kts", "ci").await;
    }

    async fn schema_exists(pool: &PgPool, name: &str) -> bool {
        sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
        )
        .bind(name)
        .fetch_one(pool)
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn schemas_are_unique_and_dropped_explicitly_or_when_the_value_is() {
        let Some(db) = TestDb::connect("kts", "a_tag_longer_than_sixteen").await else {
            return;
        };
        let (a, b) = (db.schema_name(), db.schema_name());
        assert_ne!(a, b);
        assert!(a.starts_with("kts_a_tag_longer_tha_"), "{a}");
        for s in [&a, &b] {
            sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA \"{s}\"")))
                .execute(&db.pool)
                .await
                .unwrap();
        }
        db.drop_schemas().await;
        assert!(!schema_exists(&db.pool, &a).await);

        let left = db.schema_name();
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA \"{left}\"")))
            .execute(&db.pool)
            .await
            .unwrap();
        let pool = db.pool.clone();
        drop(db);
        assert!(!schema_exists(&pool, &left).await);
    }

    #[tokio::test]
    async fn a_fresh_schema_has_a_scratch_directory_removed_with_it() {
        let Some(fresh) = fresh_schema("kts", "fresh").await else {
            return;
        };
        assert!(fresh.dir.is_dir());
        assert!(fresh.dir.ends_with(&fresh.schema));
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA \"{}\"", fresh.schema)))
            .execute(&fresh.pool)
            .await
            .unwrap();
        let (pool, schema, dir) = (fresh.pool.clone(), fresh.schema.clone(), fresh.dir.clone());
        drop(fresh);
        assert!(!dir.exists());
        assert!(!schema_exists(&pool, &schema).await);
    }
}

//! Embedded, checksummed migrations, applied in the store's own schema with their own
//! table (`<schema>._kradle_migrations`), so they coexist with the host's migrations.
//!
//! The runner works like sqlx's migrator: each migration is applied once, in version
//! order, and recorded with a SHA-256 checksum of its SQL; a recorded migration whose SQL
//! changed is an error, and so is a recorded version this build does not know. All of it
//! happens in one transaction under an advisory lock, so processes starting together
//! migrate once and a failed migration leaves nothing behind.

use std::time::Instant;

use sha2::{Digest, Sha256};
use sqlx::{AssertSqlSafe, PgPool, Row};

use crate::error::{PostgresError, classify};

/// The name of the migrations table inside the store's schema.
pub const MIGRATIONS_TABLE: &str = "_kradle_migrations";

/// One embedded migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// Version, applied in increasing order.
    pub version: i64,
    /// What it does.
    pub description: &'static str,
    /// Its SQL, with unqualified names (it runs with `search_path` set to the schema).
    pub sql: &'static str,
}

impl Migration {
    /// SHA-256 of the SQL text.
    pub fn checksum(&self) -> Vec<u8> {
        Sha256::digest(self.sql.as_bytes()).to_vec()
    }
}

/// The migrations embedded in this build, in version order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "initial tables",
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        description: "claim indexes",
        sql: include_str!("../migrations/0002_claim_indexes.sql"),
    },
    Migration {
        version: 3,
        description: "phase index for unfinished deliveries only",
        sql: include_str!("../migrations/0003_phase_index.sql"),
    },
    Migration {
        version: 4,
        description: "write intents as a work queue",
        sql: include_str!("../migrations/0004_write_intent_queue.sql"),
    },
];

/// Applies the embedded migrations to `schema` (creating it if needed) and returns the
/// versions applied now (empty when the schema was up to date).
pub(crate) async fn run(
    pool: &PgPool,
    schema: &str,
    target: &str,
) -> Result<Vec<i64>, PostgresError> {
    let fail =
        |operation: &'static str| move |e: sqlx::Error| classify(e, target, schema, operation);
    let q = format!("\"{schema}\"");
    let mut tx = pool
        .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
        .await
        .map_err(fail("starting the migration transaction"))?;
    sqlx::query("SELECT pg_advisory_xact_lock($1, 0)")
        .bind(crate::schema::lock_namespace(schema))
        .execute(&mut *tx)
        .await
        .map_err(fail("taking the migration lock"))?;
    let exists: bool = sqlx::query("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
        .bind(schema)
        .fetch_one(&mut *tx)
        .await
        .and_then(|row| row.try_get(0))
        .map_err(fail("looking up the schema"))?;
    // Only create what is missing: a user without CREATE on the database can still run on
    // a schema its administrator made for it.
    let mut setup = String::new();
    if !exists {
        setup.push_str(&format!("CREATE SCHEMA {q};"));
    }
    setup.push_str(&format!(
        "SET LOCAL search_path TO {q};
         CREATE TABLE IF NOT EXISTS {q}.{MIGRATIONS_TABLE} (
             version      bigint PRIMARY KEY,
             description  text NOT NULL,
             checksum     bytea NOT NULL,
             applied_at   timestamptz NOT NULL DEFAULT now(),
             execution_ms bigint NOT NULL
         );"
    ));
    sqlx::raw_sql(AssertSqlSafe(setup))
        .execute(&mut *tx)
        .await
        .map_err(fail("creating the schema and its migrations table"))?;
    let applied: Vec<(i64, Vec<u8>)> = sqlx::query(AssertSqlSafe(format!(
        "SELECT version, checksum FROM {q}.{MIGRATIONS_TABLE} ORDER BY version"
    )))
    .fetch_all(&mut *tx)
    .await
    .and_then(|rows| {
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect()
    })
    .map_err(fail("reading the applied migrations"))?;
    for (version, checksum) in &applied {
        match MIGRATIONS.iter().find(|m| m.version == *version) {
            None => {
                return Err(PostgresError::UnknownMigration {
                    schema: schema.to_owned(),
                    version: *version,
                });
            }
            Some(m) if m.checksum() != *checksum => {
                return Err(PostgresError::ChecksumMismatch {
                    schema: schema.to_owned(),
                    version: m.version,
                    description: m.description.to_owned(),
                });
            }
            Some(_) => {}
        }
    }
    let mut newly = Vec::new();
    for m in MIGRATIONS {
        if applied.iter().any(|(v, _)| *v == m.version) {
            continue;
        }
        let started = Instant::now();
        sqlx::raw_sql(AssertSqlSafe(m.sql))
            .execute(&mut *tx)
            .await
            .map_err(fail("applying a migration"))?;
        let elapsed = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {q}.{MIGRATIONS_TABLE} (version, description, checksum, execution_ms)
             VALUES ($1, $2, $3, $4)"
        )))
        .bind(m.version)
        .bind(m.description)
        .bind(m.checksum())
        .bind(elapsed)
        .execute(&mut *tx)
        .await
        .map_err(fail("recording a migration"))?;
        tracing::info!(
            schema,
            version = m.version,
            description = m.description,
            "applied migration"
        );
        newly.push(m.version);
    }
    tx.commit()
        .await
        .map_err(fail("committing the migrations"))?;
    Ok(newly)
}

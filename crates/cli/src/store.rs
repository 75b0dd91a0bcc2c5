//! `--store memory|postgres://…`: the one place a command turns a store argument into a
//! store.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use kradle_store_memory::MemoryStore;
use kradle_store_postgres::PostgresStore;
use kradle_store_postgres::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use kradle_sync_core::{HttpCache, SyncStore, WorkQueue};

use crate::error::CliError;

/// The schema commands use unless `--schema` says otherwise.
pub const DEFAULT_SCHEMA: &str = kradle_store_postgres::DEFAULT_SCHEMA;

/// How long a request waits for a free database connection before failing (the webhook
/// sender then redelivers; GitHub gives up on a response after 10 seconds).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// What a `--store` argument names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSpec {
    /// The in-process memory store (gone when the command exits).
    Memory,
    /// A PostgreSQL server, by connection URL.
    Postgres(String),
}

impl StoreSpec {
    /// Parses `memory`, `postgres://…` or `postgresql://…`.
    pub fn parse(spec: &str) -> Result<Self, CliError> {
        if spec == "memory" {
            Ok(StoreSpec::Memory)
        } else if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
            Ok(StoreSpec::Postgres(spec.to_owned()))
        } else {
            Err(CliError::Usage(format!(
                "unknown store `{}`; use `memory` or a PostgreSQL URL such as postgres://user@host:5432/db",
                redact(spec)
            )))
        }
    }
}

/// A store argument as it may be printed: a URL's password is replaced.
pub fn redact(spec: &str) -> String {
    let Some((scheme, rest)) = spec.split_once("://") else {
        return spec.to_owned();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:[redacted]@{host}{tail}"),
            None => spec.to_owned(),
        },
        None => spec.to_owned(),
    }
}

/// An opened store, in each of its roles.
#[derive(Clone)]
pub struct Opened {
    /// The records.
    pub sync: Arc<dyn SyncStore>,
    /// The work queue.
    pub queue: Arc<dyn WorkQueue>,
    /// The HTTP cache.
    pub cache: Arc<dyn HttpCache>,
    /// What to call it in logs: `memory`, or the PostgreSQL schema.
    pub label: String,
}

/// Opens a store for commands that work on any store.
pub async fn open(spec: &str, schema: &str, max_connections: u32) -> Result<Opened, CliError> {
    match StoreSpec::parse(spec)? {
        StoreSpec::Memory => {
            let store = Arc::new(MemoryStore::new());
            Ok(Opened {
                sync: store.clone(),
                queue: store.clone(),
                cache: store,
                label: "memory".into(),
            })
        }
        StoreSpec::Postgres(url) => {
            let store = Arc::new(open_postgres_url(&url, schema, max_connections).await?);
            Ok(Opened {
                label: format!("postgres schema {}", store.schema()),
                sync: store.clone(),
                queue: store.clone(),
                cache: store,
            })
        }
    }
}

/// Opens the PostgreSQL store for commands that need one (the queue, inspection of a
/// store that outlives the command). `command` names the command in the error.
pub async fn open_postgres(
    spec: &str,
    schema: &str,
    max_connections: u32,
    command: &str,
) -> Result<PostgresStore, CliError> {
    match StoreSpec::parse(spec)? {
        StoreSpec::Postgres(url) => open_postgres_url(&url, schema, max_connections).await,
        StoreSpec::Memory => Err(CliError::Usage(format!(
            "`{command}` needs a durable store: pass --store postgres://user@host:5432/db"
        ))),
    }
}

async fn open_postgres_url(
    url: &str,
    schema: &str,
    max_connections: u32,
) -> Result<PostgresStore, CliError> {
    let options = PgConnectOptions::from_str(url).map_err(|e| {
        CliError::Usage(format!(
            "--store {} is not a valid PostgreSQL URL: {e}",
            redact(url)
        ))
    })?;
    // A lazy pool: the store's first statements (its migrations) connect, and report an
    // unreachable server with a message that says what to check.
    let pool = PgPoolOptions::new()
        .max_connections(max_connections.max(2))
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_lazy_with(options);
    Ok(PostgresStore::new(pool, schema).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_arguments_parse() {
        assert_eq!(StoreSpec::parse("memory").ok(), Some(StoreSpec::Memory));
        assert!(matches!(
            StoreSpec::parse("postgres://u@h/db"),
            Ok(StoreSpec::Postgres(_))
        ));
        let err = StoreSpec::parse("mysql://u:pw@h/db")
            .err()
            .map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(err.contains("unknown store"), "{err}");
        assert!(!err.contains("pw"), "{err}");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/app"),
            "postgres://app:[redacted]@db:5432/app"
        );
        assert_eq!(redact("postgres://app@db/app"), "postgres://app@db/app");
        assert_eq!(redact("memory"), "memory");
    }
}

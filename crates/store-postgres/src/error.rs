//! The crate's error type, and how it becomes the core's [`Error::Store`].

use kradle_sync_core::Error;

/// What went wrong in the PostgreSQL store. Every public method returns the core's
/// [`Error::Store`] with `store: "postgres"`, this error's message, and this error as the
/// source (downcast it to tell the cases apart).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// The schema name is not a plain identifier.
    #[error(
        "invalid schema name {name:?}: use 1 to {max} lowercase ASCII letters, digits or underscores, starting with a letter or underscore"
    )]
    InvalidSchema {
        /// The name given.
        name: String,
        /// The longest name accepted.
        max: usize,
    },
    /// The connection URL could not be parsed.
    #[error(
        "invalid PostgreSQL URL: {source}; expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
    )]
    InvalidUrl {
        /// The parser's error.
        source: sqlx::Error,
    },
    /// The server could not be reached, or the connection broke.
    #[error(
        "cannot reach PostgreSQL at {target} while {operation}: {source}; is it running and accepting connections? check DATABASE_URL (or the URL the store was given)"
    )]
    Unreachable {
        /// `host:port/database` (never the password).
        target: String,
        /// What the store was doing.
        operation: &'static str,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// The server refused a statement.
    #[error("PostgreSQL failed while {operation} in schema {schema}: {source}{hint}")]
    Database {
        /// Schema of the store.
        schema: String,
        /// What the store was doing.
        operation: &'static str,
        /// What to do about it, when the error code tells.
        hint: &'static str,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// A migration that was applied has changed since.
    #[error(
        "migration {version} ({description}) of schema {schema} changed after it was applied (checksum mismatch); restore the original migration, or migrate a fresh schema"
    )]
    ChecksumMismatch {
        /// Schema.
        schema: String,
        /// Migration version.
        version: i64,
        /// Migration description.
        description: String,
    },
    /// The schema has a migration this build does not know.
    #[error(
        "schema {schema} was migrated by a newer kradle-store-postgres (migration {version} is unknown to this build); upgrade this binary, or use another schema"
    )]
    UnknownMigration {
        /// Schema.
        schema: String,
        /// The unknown version.
        version: i64,
    },
    /// A stored record could not be decoded.
    #[error(
        "a {table} record in schema {schema} cannot be read: {source}; was it written by an incompatible kradle-sync version?"
    )]
    Decode {
        /// Schema.
        schema: String,
        /// Table.
        table: &'static str,
        /// The decoder's error.
        source: serde_json::Error,
    },
    /// A record could not be encoded as JSON.
    #[error("cannot encode a {what} as JSON: {source}")]
    Encode {
        /// What was encoded.
        what: &'static str,
        /// The encoder's error.
        source: serde_json::Error,
    },
    /// A number does not fit PostgreSQL's column type.
    #[error("{what} {value} does not fit a PostgreSQL bigint")]
    OutOfRange {
        /// What it is.
        what: &'static str,
        /// The value.
        value: u64,
    },
    /// A batch kept colliding with concurrent writers.
    #[error(
        "the commit kept colliding with concurrent writers after {attempts} attempts; retry it"
    )]
    Contention {
        /// Attempts made.
        attempts: u32,
    },
    /// A concurrent transaction changed the rows between a read and the write that relied
    /// on it (a commit retries this itself and reports [`PostgresError::Contention`] only
    /// when it keeps happening).
    #[error("a concurrent transaction changed the same rows; retry the operation")]
    Raced,
}

impl PostgresError {
    /// Whether retrying the whole transaction may succeed (serialization failure,
    /// deadlock, a lost race on a new object).
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            PostgresError::Raced => true,
            PostgresError::Database { source, .. } => {
                sqlstate(source).is_some_and(|code| code == "40001" || code == "40P01")
            }
            _ => false,
        }
    }
}

impl From<PostgresError> for Error {
    fn from(err: PostgresError) -> Self {
        Error::Store {
            store: "postgres",
            message: err.to_string(),
            source: Some(Box::new(err)),
        }
    }
}

/// The SQLSTATE of a database error.
pub(crate) fn sqlstate(err: &sqlx::Error) -> Option<String> {
    match err {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

/// Classifies a driver error: connection trouble, or a statement the server refused (with
/// a hint chosen by SQLSTATE).
pub(crate) fn classify(
    err: sqlx::Error,
    target: &str,
    schema: &str,
    operation: &'static str,
) -> PostgresError {
    let unreachable = |source| PostgresError::Unreachable {
        target: target.to_owned(),
        operation,
        source,
    };
    match &err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => return unreachable(err),
        sqlx::Error::Configuration(_) => return PostgresError::InvalidUrl { source: err },
        _ => {}
    }
    let code = sqlstate(&err).unwrap_or_default();
    // Class 08 (connection exception) and 57P0x (server shutting down) are outages.
    if code.starts_with("08") || code.starts_with("57P0") {
        return unreachable(err);
    }
    let hint = match code.as_str() {
        "3D000" => "; the database does not exist: create it, or fix the database name in the URL",
        "28000" | "28P01" => "; check the user name and password in the URL",
        "42501" => {
            "; the database user lacks a privilege: grant it CREATE on the database (or create the schema for it) and USAGE on the schema"
        }
        "42P01" | "3F000" => {
            "; the store's tables are missing: build the store with PostgresStore::new, which applies its migrations"
        }
        "53300" => "; too many connections: lower the pool sizes or raise max_connections",
        "54000" => "; a value is too large for PostgreSQL",
        "22021" => "; a value contains a NUL byte, which PostgreSQL text cannot hold",
        _ => "",
    };
    PostgresError::Database {
        schema: schema.to_owned(),
        operation,
        hint,
        source: err,
    }
}

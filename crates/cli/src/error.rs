//! The CLI's error type.

/// What can stop a command. Each message says what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A record line is wrong (only fatal with `--strict`).
    #[error("line {line}: {message}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// Bad arguments.
    #[error("{0}")]
    Usage(String),
    /// The engine or a store failed.
    #[error(transparent)]
    Sync(#[from] kradle_sync_core::Error),
    /// Output could not be written.
    #[error("cannot write output: {0}")]
    Write(#[from] std::io::Error),
}

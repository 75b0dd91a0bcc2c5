//! The crate's error type. The [`WebhookAdapter`](kradle_sync_core::WebhookAdapter) methods
//! return [`kradle_sync_core::Error`]; this enum keeps the detail until that conversion.

use kradle_sync_core::{Error, ProviderKind, ResourceKind};

use crate::PROVIDER;

/// What went wrong while verifying, normalizing or parsing GitHub data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum GithubError {
    /// A header GitHub always sends is missing.
    #[error("missing header {header}")]
    MissingHeader {
        /// Header name.
        header: &'static str,
    },
    /// The signature is missing, unreadable or wrong. The reason never contains the secret.
    #[error("{reason}")]
    Signature {
        /// What was wrong and what to do.
        reason: String,
    },
    /// The JSON could not be read into the shape GitHub documents.
    #[error("{context}: {source}")]
    Json {
        /// What was being read (`issues webhook body`, `REST issue object`).
        context: String,
        /// serde's error, with the line and column where it stopped.
        #[source]
        source: serde_json::Error,
    },
    /// The JSON is well-formed but is not what GitHub sends.
    #[error("{context}: {detail}")]
    Shape {
        /// What was being read.
        context: String,
        /// What was wrong, with the position where known.
        detail: String,
    },
    /// The kind cannot be parsed from a REST object by this adapter.
    #[error("{detail}")]
    Unsupported {
        /// The kind asked for.
        kind: ResourceKind,
        /// What is unsupported and what is.
        detail: String,
    },
}

impl From<GithubError> for Error {
    fn from(error: GithubError) -> Self {
        let provider = ProviderKind::new(PROVIDER);
        match error {
            GithubError::MissingHeader { header } => Error::MissingHeader { provider, header },
            GithubError::Signature { reason } => Error::Signature { provider, reason },
            error @ (GithubError::Json { .. } | GithubError::Shape { .. }) => {
                Error::MalformedPayload {
                    provider,
                    reason: error.to_string(),
                }
            }
            GithubError::Unsupported { kind, detail } => Error::Unsupported { kind, detail },
        }
    }
}

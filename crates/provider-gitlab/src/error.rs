//! The crate's error type. The [`WebhookAdapter`](kradle_sync_core::WebhookAdapter) methods
//! and the HTTP adapter return [`kradle_sync_core::Error`]; this enum keeps the detail until
//! that conversion.

use kradle_sync_core::{Error, ProviderKind, ResourceKind};

use crate::PROVIDER;

/// What went wrong while verifying, normalizing or parsing GitLab data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum GitlabError {
    /// A header GitLab always sends is missing (or every header that can name the
    /// delivery is).
    #[error("missing header {header}")]
    MissingHeader {
        /// Header name (or the names, for the delivery id).
        header: &'static str,
    },
    /// The secret token is missing, empty or wrong. The reason never contains the token or
    /// the secret.
    #[error("{reason}")]
    Token {
        /// What was wrong and what to do.
        reason: String,
    },
    /// The JSON could not be read into the shape GitLab documents.
    #[error("{context}: {source}")]
    Json {
        /// What was being read (`Issue Hook webhook body`, `REST issue object`).
        context: String,
        /// serde's error, with the line and column where it stopped.
        #[source]
        source: serde_json::Error,
    },
    /// The JSON is well-formed but is not what GitLab sends.
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

impl From<GitlabError> for Error {
    fn from(error: GitlabError) -> Self {
        let provider = ProviderKind::new(PROVIDER);
        match error {
            GitlabError::MissingHeader { header } => Error::MissingHeader { provider, header },
            GitlabError::Token { reason } => Error::Signature { provider, reason },
            error @ (GitlabError::Json { .. } | GitlabError::Shape { .. }) => {
                Error::MalformedPayload {
                    provider,
                    reason: error.to_string(),
                }
            }
            GitlabError::Unsupported { kind, detail } => Error::Unsupported { kind, detail },
        }
    }
}

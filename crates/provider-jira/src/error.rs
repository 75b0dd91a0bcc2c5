//! The crate's error type. The [`WebhookAdapter`](kradle_sync_core::WebhookAdapter) and
//! provider methods return [`kradle_sync_core::Error`]; this enum keeps the detail until
//! that conversion.

use kradle_sync_core::{Error, ProviderKind, ResourceKind};

use crate::PROVIDER;

/// What went wrong while verifying, normalizing, parsing or writing Jira data. Messages say
/// what to do; none ever holds a secret, a token or a webhook signature.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JiraError {
    /// A header Jira always sends is missing.
    #[error("missing header {header}")]
    MissingHeader {
        /// Header name.
        header: &'static str,
    },
    /// The signature or app token is missing, unreadable, expired or wrong.
    #[error("{reason}")]
    Signature {
        /// What was wrong and what to do.
        reason: String,
    },
    /// The JSON could not be read into the shape Jira documents.
    #[error("{context}: {source}")]
    Json {
        /// What was being read (`jira:issue_updated webhook body`, `REST issue object`).
        context: String,
        /// serde's error, with the line and column where it stopped.
        #[source]
        source: serde_json::Error,
    },
    /// The JSON is well-formed but is not what Jira sends.
    #[error("{context}: {detail}")]
    Shape {
        /// What was being read.
        context: String,
        /// What was wrong.
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
    /// A target, id or argument that cannot name anything at Jira; refused before any
    /// request.
    #[error("{detail}")]
    Invalid {
        /// The rule broken.
        rule: &'static str,
        /// What is wrong and how to fix it.
        detail: String,
    },
    /// Jira refuses a write as asked (a field not on the edit screen, a value it rejects):
    /// retrying the same write cannot help.
    #[error("{detail}")]
    Refused {
        /// What Jira refuses and what to do.
        detail: String,
    },
}

impl JiraError {
    /// Whether the same call may succeed later: never, every variant is about the input.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

impl From<JiraError> for Error {
    fn from(error: JiraError) -> Self {
        let provider = ProviderKind::new(PROVIDER);
        match error {
            JiraError::MissingHeader { header } => Error::MissingHeader { provider, header },
            JiraError::Signature { reason } => Error::Signature { provider, reason },
            error @ (JiraError::Json { .. } | JiraError::Shape { .. }) => Error::MalformedPayload {
                provider,
                reason: error.to_string(),
            },
            JiraError::Unsupported { kind, detail } => Error::Unsupported { kind, detail },
            JiraError::Invalid { rule, detail } => Error::Validation { rule, detail },
            JiraError::Refused { detail } => Error::Precondition {
                provider,
                message: detail,
            },
        }
    }
}

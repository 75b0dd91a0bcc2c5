//! The error type of kradle-sync-core.

use crate::{BindingId, Interface, ObjectKey, OrgId, ProviderKind, ResourceKind};

/// A boxed source error from a store or provider implementation.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in the core, in stores and in providers. Each message says
/// what happened and what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The webhook signature (or token) is missing or does not match.
    #[error(
        "webhook signature rejected for provider {provider}: {reason}; check the webhook secret configured for this binding"
    )]
    Signature {
        /// Provider type.
        provider: ProviderKind,
        /// What was wrong.
        reason: String,
    },
    /// The payload could not be read.
    #[error("malformed {provider} payload: {reason}")]
    MalformedPayload {
        /// Provider type.
        provider: ProviderKind,
        /// What was wrong, with the position where the parser stopped.
        reason: String,
    },
    /// A required header is missing.
    #[error("missing header {header} in a {provider} webhook; is the sender really {provider}?")]
    MissingHeader {
        /// Provider type.
        provider: ProviderKind,
        /// Header name.
        header: &'static str,
    },
    /// The body is larger than the configured limit.
    #[error("webhook body of {size} bytes exceeds the limit of {limit} bytes")]
    PayloadTooLarge {
        /// Body size.
        size: usize,
        /// Limit.
        limit: usize,
    },
    /// The payload refers to a target that is not its binding's.
    #[error(
        "cross-org reference: binding {binding} (org {org}) targets {expected} but the payload is for {actual}; deliver it to the binding of {actual}"
    )]
    CrossOrg {
        /// The binding.
        binding: BindingId,
        /// The binding's org.
        org: OrgId,
        /// The binding's target.
        expected: String,
        /// The payload's target.
        actual: String,
    },
    /// No binding by that name.
    #[error("unknown binding {binding}; declare it before delivering to it")]
    UnknownBinding {
        /// The binding.
        binding: BindingId,
    },
    /// No provider type by that name.
    #[error(
        "unknown provider type {provider}; register its descriptor (or use `custom` with an adapter) first"
    )]
    UnknownProvider {
        /// The provider type.
        provider: ProviderKind,
    },
    /// A binding, policy or write intent breaks one of the seed's validation rules.
    #[error("validation rule `{rule}` failed: {detail}")]
    Validation {
        /// The rule's name.
        rule: &'static str,
        /// What is wrong and how to fix it.
        detail: String,
    },
    /// The provider does not implement the interface.
    #[error("provider {provider} does not implement {interface}")]
    UnsupportedInterface {
        /// Provider type.
        provider: ProviderKind,
        /// Interface.
        interface: Interface,
    },
    /// A field value or kind the core cannot represent.
    #[error("{kind} does not support {detail}")]
    Unsupported {
        /// Kind.
        kind: ResourceKind,
        /// What is unsupported.
        detail: String,
    },
    /// The object does not exist.
    #[error("object {key} not found")]
    NotFound {
        /// The object.
        key: ObjectKey,
    },
    /// A provider call failed.
    #[error("{provider} request failed: {message}")]
    Provider {
        /// Provider type.
        provider: ProviderKind,
        /// What failed.
        message: String,
        /// Whether retrying may succeed.
        retryable: bool,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
    /// The provider rejected a write because a precondition no longer holds (409/412/422,
    /// a stale head SHA).
    #[error("{provider} rejected the write: {message}")]
    Precondition {
        /// Provider type.
        provider: ProviderKind,
        /// The provider's message.
        message: String,
    },
    /// The provider cannot perform a write as asked without a person (or the conflict
    /// policy) deciding: the host's value would lose what the provider holds
    /// ([`ConflictReason::LossyFormat`](crate::conflict::ConflictReason::LossyFormat)), the
    /// workflow has no way there (`NoTransition`). The engine turns it into a conflict
    /// record carrying `external`, the provider's form of the fields.
    #[error(
        "{provider} cannot perform the write as asked ({reason:?}): {message}; a conflict record keeps both forms for the policy or a person to decide"
    )]
    WriteConflict {
        /// Provider type.
        provider: ProviderKind,
        /// Why.
        reason: crate::conflict::ConflictReason,
        /// What to know, in words.
        message: String,
        /// The provider's form of the fields the write touches (the original document).
        external: crate::Fields,
    },
    /// A store operation failed.
    #[error("store {store} failed: {message}")]
    Store {
        /// Store name.
        store: &'static str,
        /// What failed.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
    /// The store kept changing under the engine; the operation gave up.
    #[error("object {key} kept changing concurrently; retry the operation")]
    Contention {
        /// The object.
        key: ObjectKey,
    },
}

impl Error {
    /// Whether retrying the same operation may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Provider {
                retryable: true,
                ..
            } | Error::Store { .. }
                | Error::Contention { .. }
        )
    }
}

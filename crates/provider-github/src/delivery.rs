//! What every event's normalizer shares: the delivery it reads and what it makes of it.
//! A leaf module: the normalizers of each resource import it, and the dispatcher in
//! `normalize` imports them.

use kradle_sync_core::{CanonicalEvent, DeliveryId, ExternalTarget};
use serde::de::DeserializeOwned;

use crate::error::GithubError;

/// What one event's normalizer made of a body.
#[derive(Debug)]
pub(crate) struct Normalized {
    /// The payload's action.
    pub action: Option<String>,
    /// The repository the payload is about.
    pub target: Option<ExternalTarget>,
    /// The events, or why there are none.
    pub outcome: Outcome,
}

/// Events, or the reason a payload produces none.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Canonical events (possibly none).
    Events(Vec<CanonicalEvent>),
    /// Out of scope, and why.
    Ignored(String),
}

/// Everything a normalizer needs besides the body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Delivery<'a> {
    /// The delivery id.
    pub id: &'a DeliveryId,
    /// The event name as GitHub sent it.
    pub event: &'a str,
}

impl Delivery<'_> {
    /// Reads the body into a typed payload; errors name the event and serde's position.
    pub fn parse<T: DeserializeOwned>(&self, body: &[u8]) -> Result<T, GithubError> {
        serde_json::from_slice(body).map_err(|source| GithubError::Json {
            context: format!("`{}` webhook body", self.event),
            source,
        })
    }

    /// The reason an action of this event produces nothing.
    pub fn unknown_action(&self, action: &str) -> Outcome {
        Outcome::Ignored(format!(
            "action `{action}` of `{}` events is not one kradle-sync syncs; the delivery was \
             accepted and produced no events",
            self.event
        ))
    }
}

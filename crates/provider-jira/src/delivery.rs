//! What every event's normalizer shares: the delivery it reads and what it makes of it.
//! A leaf module: the normalizers of each resource import it, and the dispatcher in
//! `normalize` imports them.

use chrono::{DateTime, Utc};
use kradle_sync_core::{CanonicalEvent, DeliveryId, ExternalTarget};

/// What one event's normalizer made of a body.
#[derive(Debug)]
pub(crate) struct Normalized {
    /// The action (`issue_event_type_name`, or the event's own verb).
    pub action: Option<String>,
    /// The project (`SITE/KEY`) the payload is about.
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
    /// The delivery id (`X-Atlassian-Webhook-Identifier`).
    pub id: &'a DeliveryId,
    /// The event name as Jira sent it in `webhookEvent`.
    pub event: &'a str,
    /// The body's `timestamp` (epoch milliseconds), when it has one.
    pub timestamp: Option<DateTime<Utc>>,
}

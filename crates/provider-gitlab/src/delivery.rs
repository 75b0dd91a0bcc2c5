//! What every hook's normalizer shares: the delivery it reads and what it makes of it.
//! A leaf module: the normalizers of each resource import it, and the dispatcher in
//! `normalize` imports them.

use kradle_sync_core::{CanonicalEvent, DeliveryId, ExternalTarget};
use serde::de::DeserializeOwned;

use crate::error::GitlabError;

/// What one hook's normalizer made of a body.
#[derive(Debug)]
pub(crate) struct Normalized {
    /// The payload's action (`object_attributes.action`, or a member hook's `event_name`).
    pub action: Option<String>,
    /// The project the payload is about (`project.path_with_namespace`).
    pub target: Option<ExternalTarget>,
    /// The events, or why there are none.
    pub outcome: Outcome,
}

impl Normalized {
    /// A payload about `target` that produces nothing, and why.
    pub fn ignored(
        action: Option<String>,
        target: Option<ExternalTarget>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            action,
            target,
            outcome: Outcome::Ignored(reason.into()),
        }
    }

    /// A payload about `target` that produces these events.
    pub fn events(
        action: Option<String>,
        target: Option<ExternalTarget>,
        events: Vec<CanonicalEvent>,
    ) -> Self {
        Self {
            action,
            target,
            outcome: Outcome::Events(events),
        }
    }
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
    /// The hook name as GitLab sent it in `X-Gitlab-Event` (`Issue Hook`).
    pub event: &'a str,
}

impl Delivery<'_> {
    /// Reads the body into a typed payload; errors name the hook and serde's position.
    pub fn parse<T: DeserializeOwned>(&self, body: &[u8]) -> Result<T, GitlabError> {
        serde_json::from_slice(body).map_err(|source| GitlabError::Json {
            context: self.context(),
            source,
        })
    }

    /// `Issue Hook webhook body`, for error messages.
    pub fn context(&self) -> String {
        format!("`{}` webhook body", self.event)
    }

    /// Refuses a body whose `object_kind` is not one of `allowed` (the header and the body
    /// disagree: the delivery was not passed on as GitLab sent it). A body without an
    /// `object_kind` passes.
    pub fn check_kind(&self, found: Option<&str>, allowed: &[&str]) -> Result<(), GitlabError> {
        match found {
            Some(kind) if !allowed.contains(&kind) => Err(GitlabError::Shape {
                context: self.context(),
                detail: format!(
                    "X-Gitlab-Event says `{}` but the body's object_kind is `{kind}`; deliver \
                     the header GitLab sent with this body",
                    self.event
                ),
            }),
            _ => Ok(()),
        }
    }

    /// The reason an action of this hook produces nothing.
    pub fn unknown_action(&self, action: &str) -> Outcome {
        Outcome::Ignored(format!(
            "action `{action}` of `{}` deliveries is not one kradle-sync syncs; the delivery was \
             accepted and produced no events",
            self.event
        ))
    }
}

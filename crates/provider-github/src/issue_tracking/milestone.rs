//! Milestones: the `milestone` webhook and REST milestone objects.

use chrono::{DateTime, Utc};
use kradle_sync_core::object::{IssueState, Milestone};
use kradle_sync_core::{CanonicalEvent, ExternalTarget, LinkInfo, Removal, ResourceKind};
use serde::Deserialize;

use crate::delivery::{Delivery, Normalized, Outcome};
use crate::emit::{Origin, Presence, Subject};
use crate::error::GithubError;
use crate::wire::{Nullable, RepoRef, native_id, present, target_from_api_url};

/// A milestone as GitHub sends it.
#[derive(Debug, Deserialize)]
pub(crate) struct WireMilestone {
    id: u64,
    number: u64,
    #[serde(default)]
    node_id: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    description: Nullable<String>,
    #[serde(default)]
    state: Option<IssueState>,
    #[serde(default, deserialize_with = "present")]
    due_on: Nullable<DateTime<Utc>>,
    #[serde(default)]
    open_issues: Option<u64>,
    #[serde(default)]
    closed_issues: Option<u64>,
    #[serde(default)]
    updated_at: Option<DateTime<Utc>>,
}

impl WireMilestone {
    /// The milestone's identity; REST objects name their repository through `url`.
    pub fn subject(&self, target: Option<ExternalTarget>) -> Subject {
        Subject {
            kind: ResourceKind::Milestone,
            native_id: native_id(self.id),
            updated_at: self.updated_at,
            target: target.or_else(|| self.url.as_deref().and_then(target_from_api_url)),
            link: LinkInfo::default()
                .with_number(Some(self.number))
                .with_node_id(self.node_id.clone())
                .with_url(self.html_url.clone())
                .with_api_url(self.url.clone()),
        }
    }

    /// An observation with every field the object carries.
    pub fn observed(self, origin: Origin<'_>, target: Option<ExternalTarget>) -> CanonicalEvent {
        let subject = self.subject(target);
        let mut presence = Presence::default();
        let state = match self.state {
            Some(state) => state,
            None => {
                presence.absent("state");
                IssueState::Open
            }
        };
        let mut milestone = Milestone::default();
        milestone.number = self.number;
        milestone.title = presence.take("title", self.title);
        milestone.description = presence.take("description", self.description);
        milestone.state = state;
        milestone.due_on = presence.take("due_on", self.due_on);
        milestone.open_issues = presence.take("open_issues", self.open_issues.map(Some));
        milestone.closed_issues = presence.take("closed_issues", self.closed_issues.map(Some));
        subject.observed(origin, presence.fields(&milestone))
    }
}

/// A `milestone` webhook body.
#[derive(Debug, Deserialize)]
struct MilestonePayload {
    action: String,
    milestone: WireMilestone,
    #[serde(default)]
    repository: Option<RepoRef>,
}

/// Normalizes a `milestone` delivery.
pub(crate) fn normalize(delivery: Delivery<'_>, body: &[u8]) -> Result<Normalized, GithubError> {
    let MilestonePayload {
        action,
        milestone,
        repository,
    } = delivery.parse(body)?;
    let target = repository.as_ref().map(RepoRef::target);
    let origin = Origin::webhook(delivery.id, &action);
    let outcome = match action.as_str() {
        "created" | "opened" | "closed" | "edited" => {
            Outcome::Events(vec![milestone.observed(origin, target.clone())])
        }
        "deleted" => Outcome::Events(vec![
            milestone
                .subject(target.clone())
                .removed(origin, Removal::Deleted),
        ]),
        other => delivery.unknown_action(other),
    };
    Ok(Normalized {
        action: Some(action),
        target,
        outcome,
    })
}

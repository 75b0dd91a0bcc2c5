//! Milestones: REST milestone objects. Project hooks of GitLab 15.x to 17.x send no
//! milestone hook, so milestones are read through REST.

use kradle_sync_core::object::{IssueState, Milestone};
use kradle_sync_core::{CanonicalEvent, ExternalTarget, LinkInfo, ResourceKind};
use serde::Deserialize;

use crate::emit::{Origin, Presence, Subject};
use crate::wire::{Day, Id, Nullable, Time, open_or_closed, present, time};

/// A milestone as the REST API returns it.
#[derive(Debug, Deserialize)]
pub(crate) struct WireMilestone {
    id: Id,
    #[serde(default)]
    iid: Option<u64>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    description: Nullable<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default, deserialize_with = "present")]
    due_date: Nullable<Day>,
    #[serde(default)]
    updated_at: Option<Time>,
    #[serde(default)]
    web_url: Option<String>,
}

impl WireMilestone {
    /// An observation with every field the object carries: `number` is the `iid`, `state`
    /// `active` → `open`, `due_on` the due date at midnight UTC. GitLab's listing has no
    /// issue counts, so `open_issues` and `closed_issues` are absent.
    pub fn observed(self, origin: Origin<'_>, target: Option<ExternalTarget>) -> CanonicalEvent {
        let subject = Subject::new(
            ResourceKind::Milestone,
            self.id.native(),
            time(self.updated_at),
            target,
            LinkInfo::default()
                .with_number(self.iid)
                .with_url(self.web_url),
        );
        let mut presence = Presence::default();
        let state = match self.state.as_deref().and_then(open_or_closed) {
            Some(state) => state,
            None => {
                presence.absent("state");
                IssueState::Open
            }
        };
        let mut milestone = Milestone::default();
        milestone.number = presence.take("number", self.iid);
        milestone.title = presence.take("title", self.title);
        milestone.description = presence.take("description", self.description);
        milestone.state = state;
        milestone.due_on = presence.take("due_on", self.due_date.map(|d| d.map(|d| d.0)));
        presence.absent("open_issues");
        presence.absent("closed_issues");
        subject.observed(origin, presence.fields(&milestone))
    }
}

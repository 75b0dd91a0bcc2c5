//! Runners: REST runner objects (runners send no hooks to projects).

use kradle_sync_core::object::Runner;
use kradle_sync_core::{CanonicalEvent, LinkInfo, ResourceKind};
use serde::Deserialize;

use crate::emit::{Origin, Presence, Subject};
use crate::wire::{Id, Nullable, present, sorted};

/// A runner as the REST API returns it (a listing entry or its details).
#[derive(Debug, Deserialize)]
pub(crate) struct WireRunner {
    id: Id,
    #[serde(default, deserialize_with = "present")]
    description: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    name: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    platform: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    status: Nullable<String>,
    #[serde(default)]
    tag_list: Option<Vec<String>>,
}

impl WireRunner {
    /// An observation: `name` is the runner's description (the name GitLab shows; its
    /// `name` field is the runner software's), `os` its `platform`, `labels` its tags.
    /// GitLab does not say whether a runner is busy, and listings carry neither platform
    /// nor tags: those fields are absent then. Runners carry no version.
    pub fn observed(self, origin: Origin<'_>) -> CanonicalEvent {
        let subject = Subject::new(
            ResourceKind::Runner,
            self.id.native(),
            None,
            None,
            LinkInfo::default(),
        );
        let name = match (self.description, self.name) {
            (Some(Some(description)), _) => Some(description),
            (_, Some(Some(name))) => Some(name),
            (Some(None), _) | (_, Some(None)) => Some(String::new()),
            (None, None) => None,
        };
        let mut presence = Presence::default();
        let mut runner = Runner::default();
        runner.name = presence.take("name", name);
        runner.os = presence.take("os", self.platform);
        runner.status = presence.take("status", self.status);
        presence.absent("busy");
        runner.labels = presence.take("labels", self.tag_list.map(sorted));
        subject.observed(origin, presence.fields(&runner))
    }
}

//! Commit statuses: REST commit status objects (GitLab sends no hook for a status another
//! system sets; the pipeline it creates arrives as a pipeline hook).

use kradle_sync_core::object::CommitStatus;
use kradle_sync_core::{CanonicalEvent, ExternalTarget, LinkInfo, ResourceKind};
use serde::Deserialize;

use super::job::latest;
use super::status;
use crate::emit::{Origin, Presence, Subject};
use crate::wire::{Id, Nullable, Time, nullable_time, present, time};

/// A commit status as the REST API returns it.
#[derive(Debug, Deserialize)]
pub(crate) struct WireCommitStatus {
    id: Id,
    #[serde(default)]
    sha: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default, deserialize_with = "present")]
    name: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    description: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    target_url: Nullable<String>,
    #[serde(default)]
    created_at: Option<Time>,
    #[serde(default, deserialize_with = "present")]
    started_at: Nullable<Time>,
    #[serde(default, deserialize_with = "present")]
    finished_at: Nullable<Time>,
}

impl WireCommitStatus {
    /// An observation: `state` as GitHub spells it (`failed` → `failure`), `context` the
    /// status's `name`; the version the latest of its times and its status's place.
    pub fn observed(self, origin: Origin<'_>, target: Option<ExternalTarget>) -> CanonicalEvent {
        let subject = Subject::new(
            ResourceKind::CommitStatus,
            self.id.native(),
            latest(
                time(self.created_at),
                nullable_time(self.started_at).flatten(),
                nullable_time(self.finished_at).flatten(),
            ),
            target,
            LinkInfo::default(),
        )
        .with_sequence(self.status.as_deref().and_then(status::sequence));
        let mut presence = Presence::default();
        let mut commit = CommitStatus::default();
        commit.sha = presence.take("sha", self.sha);
        commit.state = presence.take("state", self.status.as_deref().map(status::commit_state));
        commit.context = presence.take("context", self.name);
        commit.description = presence.take("description", self.description);
        commit.target_url = presence.take("target_url", self.target_url);
        subject.observed(origin, presence.fields(&commit))
    }
}

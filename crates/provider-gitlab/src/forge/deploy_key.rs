//! Deploy keys: REST deploy key objects (GitLab sends no hook for them).

use kradle_sync_core::object::DeployKey;
use kradle_sync_core::{CanonicalEvent, ExternalTarget, LinkInfo, ResourceKind};
use serde::Deserialize;

use crate::emit::{Origin, Presence, Subject};
use crate::wire::Id;

/// A deploy key as the REST API returns it. Keys cannot be edited, so they carry no
/// version.
#[derive(Debug, Deserialize)]
pub(crate) struct WireDeployKey {
    id: Id,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    can_push: Option<bool>,
}

impl WireDeployKey {
    /// An observation: `read_only` is the opposite of GitLab's `can_push`.
    pub fn observed(self, origin: Origin<'_>, target: Option<ExternalTarget>) -> CanonicalEvent {
        let subject = Subject::new(
            ResourceKind::DeployKey,
            self.id.native(),
            None,
            target,
            LinkInfo::default(),
        );
        let mut presence = Presence::default();
        let mut key = DeployKey::default();
        key.title = presence.take("title", self.title);
        key.key = presence.take("key", self.key);
        key.read_only = presence.take("read_only", self.can_push.map(|push| !push));
        subject.observed(origin, presence.fields(&key))
    }
}

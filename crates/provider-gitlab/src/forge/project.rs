//! Projects (repositories): REST project objects.

use kradle_sync_core::object::Repository;
use kradle_sync_core::{CanonicalEvent, ExternalTarget, LinkInfo, ResourceKind};
use serde::Deserialize;

use crate::emit::{Origin, Presence, Subject};
use crate::wire::{Id, Links, Nullable, Time, present, time};

/// A project as the REST API returns it.
#[derive(Debug, Deserialize)]
pub(crate) struct WireProject {
    id: Id,
    #[serde(default)]
    path_with_namespace: Option<String>,
    #[serde(default, deserialize_with = "present")]
    description: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    default_branch: Nullable<String>,
    #[serde(default)]
    visibility: Option<String>,
    #[serde(default)]
    archived: Option<bool>,
    #[serde(default)]
    web_url: Option<String>,
    #[serde(default)]
    updated_at: Option<Time>,
    #[serde(default)]
    last_activity_at: Option<Time>,
    #[serde(default, rename = "_links")]
    links: Option<Links>,
}

impl WireProject {
    /// An observation: `full_name` is `path_with_namespace`, `private` whether the
    /// visibility is not `public` (`internal` projects need a sign-in), `visibility` as
    /// GitLab names it. The version is `updated_at`, or `last_activity_at` on instances
    /// that do not send it.
    pub fn observed(self, origin: Origin<'_>, target: Option<ExternalTarget>) -> CanonicalEvent {
        let target = target.or_else(|| {
            self.path_with_namespace
                .as_deref()
                .map(crate::wire::project_target)
        });
        let subject = Subject::new(
            ResourceKind::Repository,
            self.id.native(),
            time(self.updated_at).or(time(self.last_activity_at)),
            target,
            LinkInfo::default()
                .with_url(self.web_url.clone())
                .with_api_url(self.links.and_then(|l| l.own)),
        );
        let mut presence = Presence::default();
        let mut repository = Repository::default();
        repository.full_name = presence.take("full_name", self.path_with_namespace);
        repository.private =
            presence.take("private", self.visibility.as_deref().map(|v| v != "public"));
        repository.default_branch = presence.take("default_branch", self.default_branch);
        repository.archived = presence.take("archived", self.archived);
        repository.description = presence.take("description", self.description);
        repository.visibility = presence.take("visibility", self.visibility.map(Some));
        repository.html_url = presence.take("html_url", self.web_url.map(Some));
        subject.observed(origin, presence.fields(&repository))
    }
}

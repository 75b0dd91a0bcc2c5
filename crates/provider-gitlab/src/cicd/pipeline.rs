//! Pipelines: the `Pipeline Hook` and REST pipeline objects.

use chrono::{DateTime, Utc};
use kradle_sync_core::object::Pipeline;
use kradle_sync_core::{CanonicalEvent, ExternalTarget, LinkInfo, ResourceKind};
use serde::Deserialize;

use super::job::PipelineBuild;
use super::status;
use crate::delivery::{Delivery, Normalized};
use crate::emit::{Origin, Presence, Subject};
use crate::error::GitlabError;
use crate::wire::{Id, Nullable, ProjectRef, Time, nullable_time, present, time};

/// A pipeline as GitLab sends it: a hook's `object_attributes` or a REST pipeline.
#[derive(Debug, Deserialize)]
pub(crate) struct WirePipeline {
    id: Id,
    #[serde(default)]
    iid: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    name: Nullable<String>,
    #[serde(default, rename = "ref")]
    git_ref: Option<String>,
    #[serde(default)]
    sha: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    created_at: Option<Time>,
    /// REST only: hooks carry no `updated_at`.
    #[serde(default)]
    updated_at: Option<Time>,
    #[serde(default, deserialize_with = "present")]
    started_at: Nullable<Time>,
    #[serde(default, deserialize_with = "present")]
    finished_at: Nullable<Time>,
    #[serde(default)]
    web_url: Option<String>,
    #[serde(default)]
    url: Option<String>,
}

impl WirePipeline {
    /// An observation. The version is REST's `updated_at`; a hook has none, so its version
    /// is the latest time the payload names (`created_at`, `finished_at`, and the builds'
    /// times, given as `also`). Either way GitLab's status order is the sequence, so two
    /// observations made at the same time order by how far the pipeline had got.
    pub fn observed(
        self,
        origin: Origin<'_>,
        target: Option<ExternalTarget>,
        also: Option<DateTime<Utc>>,
    ) -> CanonicalEvent {
        let started = self.started_at.as_ref().and_then(|t| t.map(|t| t.0));
        let finished = self.finished_at.as_ref().and_then(|t| t.map(|t| t.0));
        let updated_at = time(self.updated_at)
            .or_else(|| time(self.created_at).max(started).max(finished).max(also));
        let subject = Subject::new(
            ResourceKind::Pipeline,
            self.id.native(),
            updated_at,
            target,
            LinkInfo::default()
                .with_number(self.iid)
                .with_url(self.web_url.clone().or_else(|| self.url.clone())),
        )
        .with_sequence(self.status.as_deref().and_then(status::sequence));
        let spelled = self.status.as_deref().map(status::github_spelling);
        let mut presence = Presence::default();
        let mut pipeline = Pipeline::default();
        pipeline.name = presence.take("name", self.name);
        pipeline.number = presence.take("number", self.iid.map(Some));
        // GitLab retries jobs, not pipelines: a pipeline has no attempt number.
        presence.absent("attempt");
        pipeline.status = presence.take("status", spelled.as_ref().map(|s| Some(s.0.clone())));
        pipeline.conclusion = presence.take("conclusion", spelled.map(|s| s.1));
        pipeline.head_branch = presence.take("head_branch", self.git_ref.map(Some));
        pipeline.head_sha = presence.take("head_sha", self.sha.map(Some));
        pipeline.event = presence.take("event", self.source.map(Some));
        pipeline.started_at = presence.take("started_at", nullable_time(self.started_at));
        pipeline.html_url = presence.take("html_url", self.web_url.or(self.url).map(Some));
        subject.observed(origin, presence.fields(&pipeline))
    }
}

/// A `Pipeline Hook` body.
#[derive(Debug, Deserialize)]
struct PipelinePayload {
    #[serde(default)]
    object_kind: Option<String>,
    object_attributes: WirePipeline,
    #[serde(default)]
    project: Option<ProjectRef>,
    #[serde(default)]
    builds: Vec<PipelineBuild>,
}

/// Normalizes a `Pipeline Hook` delivery: the pipeline, then each of its builds as a job.
pub(crate) fn normalize(delivery: Delivery<'_>, body: &[u8]) -> Result<Normalized, GitlabError> {
    let PipelinePayload {
        object_kind,
        object_attributes,
        project,
        builds,
    } = delivery.parse(body)?;
    delivery.check_kind(object_kind.as_deref(), &["pipeline"])?;
    let target = project.as_ref().and_then(ProjectRef::target);
    let origin = Origin::webhook(delivery.id, "pipeline");
    let pipeline_id = object_attributes.id;
    let sha = object_attributes.sha.clone();
    let builds_latest = builds.iter().filter_map(PipelineBuild::latest).max();
    let mut events = vec![object_attributes.observed(origin, target.clone(), builds_latest)];
    events.extend(builds.into_iter().filter_map(|b| {
        b.view(pipeline_id, sha.clone(), target.clone())
            .observed(origin)
    }));
    Ok(Normalized::events(None, target, events))
}

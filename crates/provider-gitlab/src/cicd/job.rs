//! Jobs: the `Job Hook` (payloads with `object_kind: build`), the `builds` a pipeline hook
//! carries, REST job objects, and the artifacts REST jobs reference.

use chrono::{DateTime, Utc};
use kradle_sync_core::object::{Artifact, Job};
use kradle_sync_core::{CanonicalEvent, ExternalTarget, LinkInfo, NativeId, ResourceKind};
use serde::Deserialize;

use super::status;
use crate::delivery::{Delivery, Normalized};
use crate::emit::{Origin, Presence, Subject};
use crate::error::GitlabError;
use crate::wire::{Id, Nullable, ProjectRef, Time, present, sorted, time};

/// A runner as jobs name it: its description is the name people see.
#[derive(Debug, Deserialize)]
pub(crate) struct RunnerRef {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

impl RunnerRef {
    fn display(self) -> Option<String> {
        self.description.or(self.name)
    }
}

/// What every form of a job says, read into one shape.
#[derive(Debug, Default)]
pub(crate) struct JobView {
    pub id: Option<Id>,
    pub name: Option<String>,
    pub status: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub started_at: Nullable<DateTime<Utc>>,
    pub finished_at: Nullable<DateTime<Utc>>,
    pub pipeline: Option<Id>,
    pub sha: Option<String>,
    pub runner: Nullable<RunnerRef>,
    pub labels: Option<Vec<String>>,
    pub html_url: Option<String>,
    pub target: Option<ExternalTarget>,
}

/// The version of a job (or anything with the same three times): the latest of when it
/// was created, started and finished, GitLab sends no `updated_at` for jobs.
pub(crate) fn latest(
    created: Option<DateTime<Utc>>,
    started: Option<DateTime<Utc>>,
    finished: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    created.max(started).max(finished)
}

impl JobView {
    /// The job observed; `None` when the payload names no job id.
    pub fn observed(self, origin: Origin<'_>) -> Option<CanonicalEvent> {
        let id = self.id?;
        let raw = self.status.clone();
        let subject = Subject::new(
            ResourceKind::Job,
            id.native(),
            latest(
                self.created_at,
                self.started_at.flatten(),
                self.finished_at.flatten(),
            ),
            self.target,
            LinkInfo::default().with_url(self.html_url.clone()),
        )
        .with_sequence(raw.as_deref().and_then(status::sequence));
        let spelled = raw.as_deref().map(status::github_spelling);
        let mut presence = Presence::default();
        let mut job = Job::default();
        job.pipeline_native_id = presence.take(
            "pipeline_native_id",
            self.pipeline.map(|p| Some(p.0.to_string())),
        );
        job.name = presence.take("name", self.name);
        job.status = presence.take("status", spelled.as_ref().map(|s| Some(s.0.clone())));
        job.conclusion = presence.take("conclusion", spelled.map(|s| s.1));
        job.head_sha = presence.take("head_sha", self.sha.map(Some));
        job.runner_name = presence.take(
            "runner_name",
            self.runner.map(|r| r.and_then(RunnerRef::display)),
        );
        job.labels = presence.take("labels", self.labels.map(sorted));
        job.started_at = presence.take("started_at", self.started_at);
        job.completed_at = presence.take("completed_at", self.finished_at);
        job.html_url = presence.take("html_url", self.html_url.map(Some));
        Some(subject.observed(origin, presence.fields(&job)))
    }
}

/// A build as a pipeline hook lists it.
#[derive(Debug, Deserialize)]
pub(crate) struct PipelineBuild {
    id: Id,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    created_at: Option<Time>,
    #[serde(default, deserialize_with = "present")]
    started_at: Nullable<Time>,
    #[serde(default, deserialize_with = "present")]
    finished_at: Nullable<Time>,
    #[serde(default, deserialize_with = "present")]
    runner: Nullable<RunnerRef>,
}

impl PipelineBuild {
    /// Its latest time, which the pipeline's version takes into account.
    pub fn latest(&self) -> Option<DateTime<Utc>> {
        latest(
            time(self.created_at),
            self.started_at.as_ref().and_then(|t| t.map(|t| t.0)),
            self.finished_at.as_ref().and_then(|t| t.map(|t| t.0)),
        )
    }

    /// The build as a job of `pipeline` at commit `sha`.
    pub fn view(
        self,
        pipeline: Id,
        sha: Option<String>,
        target: Option<ExternalTarget>,
    ) -> JobView {
        JobView {
            id: Some(self.id),
            name: self.name,
            status: self.status,
            created_at: time(self.created_at),
            started_at: crate::wire::nullable_time(self.started_at),
            finished_at: crate::wire::nullable_time(self.finished_at),
            pipeline: Some(pipeline),
            sha,
            runner: self.runner,
            labels: None,
            html_url: None,
            target,
        }
    }
}

#[derive(Debug, Deserialize)]
struct PipelineRef {
    #[serde(default)]
    id: Option<Id>,
    #[serde(default)]
    sha: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CommitSha {
    #[serde(default)]
    id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ArtifactsFile {
    #[serde(default)]
    filename: Option<String>,
    #[serde(default)]
    size: Option<u64>,
}

/// A job as the REST API returns it.
#[derive(Debug, Deserialize)]
pub(crate) struct WireJob {
    id: Id,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    created_at: Option<Time>,
    #[serde(default, deserialize_with = "present")]
    started_at: Nullable<Time>,
    #[serde(default, deserialize_with = "present")]
    finished_at: Nullable<Time>,
    #[serde(default)]
    pipeline: Option<PipelineRef>,
    #[serde(default)]
    commit: Option<CommitSha>,
    #[serde(default, deserialize_with = "present")]
    runner: Nullable<RunnerRef>,
    #[serde(default)]
    tag_list: Option<Vec<String>>,
    #[serde(default)]
    web_url: Option<String>,
    #[serde(default, deserialize_with = "present")]
    artifacts_file: Nullable<ArtifactsFile>,
    #[serde(default, deserialize_with = "present")]
    artifacts_expire_at: Nullable<Time>,
}

impl WireJob {
    /// The REST id.
    pub fn id(&self) -> Id {
        self.id
    }

    /// The job observed.
    pub fn observed(self, origin: Origin<'_>) -> Option<CanonicalEvent> {
        let sha = self
            .pipeline
            .as_ref()
            .and_then(|p| p.sha.clone())
            .or_else(|| self.commit.and_then(|c| c.id));
        JobView {
            id: Some(self.id),
            name: self.name,
            status: self.status,
            created_at: time(self.created_at),
            started_at: crate::wire::nullable_time(self.started_at),
            finished_at: crate::wire::nullable_time(self.finished_at),
            pipeline: self.pipeline.and_then(|p| p.id),
            sha,
            runner: self.runner,
            labels: self.tag_list,
            html_url: self.web_url,
            target: None,
        }
        .observed(origin)
    }

    /// The job's artifacts archive as an `artifact` (a reference: nothing is downloaded),
    /// its native id the job's; `None` when the job kept none. `download_url` is where the
    /// archive is fetched (the adapter gives the API's
    /// `/projects/:id/jobs/:job_id/artifacts`).
    pub fn artifact(
        self,
        origin: Origin<'_>,
        download_url: Option<String>,
    ) -> Option<CanonicalEvent> {
        let file = self.artifacts_file.flatten()?;
        let subject = Subject::new(
            ResourceKind::Artifact,
            NativeId::new(self.id.0.to_string()),
            self.finished_at.flatten().map(|t| t.0),
            None,
            LinkInfo::default().with_url(self.web_url),
        );
        let mut presence = Presence::default();
        let mut artifact = Artifact::default();
        artifact.name = presence.take("name", file.filename);
        artifact.size_in_bytes = presence.take("size_in_bytes", file.size.map(Some));
        presence.absent("expired");
        presence.absent("digest");
        artifact.archive_download_url =
            presence.take("archive_download_url", download_url.map(Some));
        artifact.expires_at = presence.take(
            "expires_at",
            crate::wire::nullable_time(self.artifacts_expire_at),
        );
        Some(subject.observed(origin, presence.fields(&artifact)))
    }
}

/// A `Job Hook` body: the job's fields are flat, prefixed `build_`.
#[derive(Debug, Deserialize)]
struct JobPayload {
    #[serde(default)]
    object_kind: Option<String>,
    #[serde(default)]
    build_id: Option<Id>,
    #[serde(default)]
    build_name: Option<String>,
    #[serde(default)]
    build_status: Option<String>,
    #[serde(default)]
    build_created_at: Option<Time>,
    #[serde(default, deserialize_with = "present")]
    build_started_at: Nullable<Time>,
    #[serde(default, deserialize_with = "present")]
    build_finished_at: Nullable<Time>,
    #[serde(default)]
    pipeline_id: Option<Id>,
    #[serde(default)]
    sha: Option<String>,
    #[serde(default, deserialize_with = "present")]
    runner: Nullable<RunnerRef>,
    #[serde(default)]
    project: Option<ProjectRef>,
}

/// Normalizes a `Job Hook` delivery: the job, with its status spelled as GitHub's and its
/// version the latest of its times plus the status's place in GitLab's transitions. Hooks
/// of GitLab before 15.x carry no `project`: they name no target.
pub(crate) fn normalize(delivery: Delivery<'_>, body: &[u8]) -> Result<Normalized, GitlabError> {
    let payload: JobPayload = delivery.parse(body)?;
    delivery.check_kind(payload.object_kind.as_deref(), &["build", "job"])?;
    let target = payload.project.as_ref().and_then(ProjectRef::target);
    let kind = payload
        .object_kind
        .clone()
        .unwrap_or_else(|| "build".to_owned());
    let origin = Origin::webhook(delivery.id, &kind);
    let view = JobView {
        id: payload.build_id,
        name: payload.build_name,
        status: payload.build_status,
        created_at: time(payload.build_created_at),
        started_at: crate::wire::nullable_time(payload.build_started_at),
        finished_at: crate::wire::nullable_time(payload.build_finished_at),
        pipeline: payload.pipeline_id,
        sha: payload.sha,
        runner: payload.runner,
        labels: None,
        html_url: None,
        target: target.clone(),
    };
    match view.observed(origin) {
        Some(event) => Ok(Normalized::events(None, target, vec![event])),
        None => Err(GitlabError::Shape {
            context: delivery.context(),
            detail: "a job hook without `build_id`".to_owned(),
        }),
    }
}

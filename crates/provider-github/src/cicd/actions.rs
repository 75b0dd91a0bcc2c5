//! GitHub Actions: the `workflow_run` and `workflow_job` webhooks, and REST workflow run,
//! job, runner and artifact objects.

use chrono::{DateTime, Utc};
use kradle_sync_core::object::{Artifact, Job, Pipeline, Runner};
use kradle_sync_core::{CanonicalEvent, ExternalTarget, LinkInfo, ResourceKind};
use serde::Deserialize;

use crate::delivery::{Delivery, Normalized, Outcome};
use crate::emit::{Origin, Presence, Subject};
use crate::error::GithubError;
use crate::wire::{
    LabelName, Nullable, RepoRef, native_id, present, sorted_names, target_from_api_url,
};

/// A workflow run as GitHub sends it.
#[derive(Debug, Deserialize)]
pub(crate) struct WireRun {
    id: u64,
    #[serde(default)]
    node_id: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default, deserialize_with = "present")]
    name: Nullable<String>,
    #[serde(default)]
    run_number: Option<u64>,
    #[serde(default)]
    run_attempt: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    status: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    conclusion: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    head_branch: Nullable<String>,
    #[serde(default)]
    head_sha: Option<String>,
    #[serde(default)]
    event: Option<String>,
    #[serde(default, deserialize_with = "present")]
    run_started_at: Nullable<DateTime<Utc>>,
    #[serde(default)]
    updated_at: Option<DateTime<Utc>>,
}

impl WireRun {
    /// An observation with every field the object carries.
    pub fn observed(self, origin: Origin<'_>, target: Option<ExternalTarget>) -> CanonicalEvent {
        let subject = Subject {
            kind: ResourceKind::Pipeline,
            native_id: native_id(self.id),
            updated_at: self.updated_at,
            target: target.or_else(|| self.url.as_deref().and_then(target_from_api_url)),
            link: {
                let mut v = LinkInfo::default();
                // The number people see: "Build #562".
                v.number = self.run_number;
                v.node_id = self.node_id;
                v.url = self.html_url.clone();
                v.api_url = self.url;
                v
            },
        };
        let mut presence = Presence::default();
        let mut pipeline = Pipeline::default();
        pipeline.name = presence.take("name", self.name);
        pipeline.number = presence.take("number", self.run_number.map(Some));
        pipeline.attempt = presence.take("attempt", self.run_attempt.map(Some));
        pipeline.status = presence.take("status", self.status);
        pipeline.conclusion = presence.take("conclusion", self.conclusion);
        pipeline.head_branch = presence.take("head_branch", self.head_branch);
        pipeline.head_sha = presence.take("head_sha", self.head_sha.map(Some));
        pipeline.event = presence.take("event", self.event.map(Some));
        pipeline.started_at = presence.take("started_at", self.run_started_at);
        pipeline.html_url = presence.take("html_url", self.html_url.map(Some));
        subject.observed(origin, presence.fields(&pipeline))
    }
}

/// A workflow job as GitHub sends it. Jobs have no `updated_at`: their version is the
/// latest of `completed_at` and `started_at`.
#[derive(Debug, Deserialize)]
pub(crate) struct WireJob {
    id: u64,
    #[serde(default)]
    run_id: Option<u64>,
    #[serde(default)]
    node_id: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    status: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    conclusion: Nullable<String>,
    #[serde(default)]
    head_sha: Option<String>,
    #[serde(default, deserialize_with = "present")]
    runner_name: Nullable<String>,
    #[serde(default)]
    labels: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    started_at: Nullable<DateTime<Utc>>,
    #[serde(default, deserialize_with = "present")]
    completed_at: Nullable<DateTime<Utc>>,
}

impl WireJob {
    /// An observation with every field the object carries.
    pub fn observed(self, origin: Origin<'_>, target: Option<ExternalTarget>) -> CanonicalEvent {
        let started = self.started_at.flatten();
        let completed = self.completed_at.flatten();
        let subject = Subject {
            kind: ResourceKind::Job,
            native_id: native_id(self.id),
            updated_at: completed.max(started),
            target: target.or_else(|| self.url.as_deref().and_then(target_from_api_url)),
            link: LinkInfo::default()
                .with_number(None)
                .with_node_id(self.node_id)
                .with_url(self.html_url.clone())
                .with_api_url(self.url),
        };
        let mut presence = Presence::default();
        let mut job = Job::default();
        job.pipeline_native_id = presence.take(
            "pipeline_native_id",
            self.run_id.map(|id| Some(id.to_string())),
        );
        job.name = presence.take("name", self.name);
        job.status = presence.take("status", self.status);
        job.conclusion = presence.take("conclusion", self.conclusion);
        job.head_sha = presence.take("head_sha", self.head_sha.map(Some));
        job.runner_name = presence.take("runner_name", self.runner_name);
        // Requested runner labels; their order means nothing (a runner must have all).
        job.labels = presence.take("labels", self.labels.map(sorted));
        job.started_at = presence.take("started_at", self.started_at);
        job.completed_at = presence.take("completed_at", self.completed_at);
        job.html_url = presence.take("html_url", self.html_url.map(Some));
        subject.observed(origin, presence.fields(&job))
    }
}

fn sorted(mut labels: Vec<String>) -> Vec<String> {
    labels.sort();
    labels.dedup();
    labels
}

/// A self-hosted runner as the REST API returns it (runners send no webhooks to
/// repositories).
#[derive(Debug, Deserialize)]
pub(crate) struct WireRunner {
    id: u64,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    os: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    status: Nullable<String>,
    #[serde(default)]
    busy: Option<bool>,
    #[serde(default)]
    labels: Option<Vec<LabelName>>,
}

impl WireRunner {
    /// An observation (runners carry no version and no URL of their own).
    pub fn observed(self, origin: Origin<'_>) -> CanonicalEvent {
        let subject = Subject {
            kind: ResourceKind::Runner,
            native_id: native_id(self.id),
            updated_at: None,
            target: None,
            link: LinkInfo::default(),
        };
        let mut presence = Presence::default();
        let mut runner = Runner::default();
        runner.name = presence.take("name", self.name);
        runner.os = presence.take("os", self.os);
        runner.status = presence.take("status", self.status);
        runner.busy = presence.take("busy", self.busy.map(Some));
        runner.labels = presence.take("labels", self.labels.map(sorted_names));
        subject.observed(origin, presence.fields(&runner))
    }
}

/// A build artifact as the REST API returns it.
#[derive(Debug, Deserialize)]
pub(crate) struct WireArtifact {
    id: u64,
    #[serde(default)]
    node_id: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    size_in_bytes: Option<u64>,
    #[serde(default)]
    expired: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    digest: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    archive_download_url: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    expires_at: Nullable<DateTime<Utc>>,
    #[serde(default, deserialize_with = "present")]
    updated_at: Nullable<DateTime<Utc>>,
}

impl WireArtifact {
    /// An observation with every field the object carries.
    pub fn observed(self, origin: Origin<'_>) -> CanonicalEvent {
        let subject = Subject {
            kind: ResourceKind::Artifact,
            native_id: native_id(self.id),
            updated_at: self.updated_at.flatten(),
            target: self.url.as_deref().and_then(target_from_api_url),
            link: LinkInfo::default()
                .with_node_id(self.node_id)
                .with_api_url(self.url),
        };
        let mut presence = Presence::default();
        let mut artifact = Artifact::default();
        artifact.name = presence.take("name", self.name);
        artifact.size_in_bytes = presence.take("size_in_bytes", self.size_in_bytes.map(Some));
        artifact.expired = presence.take("expired", self.expired.map(Some));
        artifact.digest = presence.take("digest", self.digest);
        artifact.archive_download_url =
            presence.take("archive_download_url", self.archive_download_url);
        artifact.expires_at = presence.take("expires_at", self.expires_at);
        subject.observed(origin, presence.fields(&artifact))
    }
}

/// A `workflow_run` webhook body.
#[derive(Debug, Deserialize)]
struct RunPayload {
    action: String,
    workflow_run: WireRun,
    #[serde(default)]
    repository: Option<RepoRef>,
}

/// Normalizes a `workflow_run` delivery (`requested`, `in_progress`, `completed`).
pub(crate) fn normalize_run(
    delivery: Delivery<'_>,
    body: &[u8],
) -> Result<Normalized, GithubError> {
    let RunPayload {
        action,
        workflow_run,
        repository,
    } = delivery.parse(body)?;
    let target = repository.as_ref().map(RepoRef::target);
    let event = workflow_run.observed(Origin::webhook(delivery.id, &action), target.clone());
    Ok(Normalized {
        action: Some(action),
        target,
        outcome: Outcome::Events(vec![event]),
    })
}

/// A `workflow_job` webhook body.
#[derive(Debug, Deserialize)]
struct JobPayload {
    action: String,
    workflow_job: WireJob,
    #[serde(default)]
    repository: Option<RepoRef>,
}

/// Normalizes a `workflow_job` delivery (`queued`, `waiting`, `in_progress`, `completed`).
pub(crate) fn normalize_job(
    delivery: Delivery<'_>,
    body: &[u8],
) -> Result<Normalized, GithubError> {
    let JobPayload {
        action,
        workflow_job,
        repository,
    } = delivery.parse(body)?;
    let target = repository.as_ref().map(RepoRef::target);
    let event = workflow_job.observed(Origin::webhook(delivery.id, &action), target.clone());
    Ok(Normalized {
        action: Some(action),
        target,
        outcome: Outcome::Events(vec![event]),
    })
}

//! [`Cicd`] over GitLab CI/CD: pipelines, jobs, artifacts (as references), runners and
//! commit statuses. GitLab has no check runs or check suites.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kradle_http::{ApiRequest, Priority};
use kradle_sync_core::object::{
    Artifact, CheckRun, CheckSuite, CommitStatus, Job, LogRef, Pipeline, Runner,
};
use kradle_sync_core::{
    CheckRunInput, Cicd, CommitStatusInput, Error, ExternalTarget, NativeId, Observed, Page,
    PageRequest, ProviderKind, ResourceKind, RunnerRegistration, Secret,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::client::{GitlabClient, lock, project_path};
use super::convert::{self, numeric_id, segment};
use crate::PROVIDER;
use crate::cicd::job::WireJob;
use crate::rest;

#[derive(Deserialize)]
struct RunnerToken {
    token: Secret,
    #[serde(default)]
    token_expires_at: Option<DateTime<Utc>>,
}

fn no_checks(kind: ResourceKind) -> Error {
    Error::Unsupported {
        kind,
        detail: "check runs and check suites: GitLab has none; read its pipelines, jobs and \
                 commit statuses instead"
            .into(),
    }
}

/// A commit status state as GitLab's API takes it: GitHub's `failure` and `error` are
/// GitLab's `failed`; `pending`, `running`, `success` and `canceled` are GitLab's own.
fn gitlab_state(state: &str) -> Result<&'static str, Error> {
    Ok(match state {
        "pending" => "pending",
        "running" => "running",
        "success" => "success",
        "failure" | "failed" | "error" => "failed",
        "canceled" | "cancelled" => "canceled",
        "skipped" => "skipped",
        other => {
            return Err(Error::Validation {
                rule: "gitlab-commit-status-state",
                detail: format!(
                    "GitLab sets a commit status to pending, running, success, failed \
                     (failure, error), canceled or skipped, not {other:?}"
                ),
            });
        }
    })
}

impl GitlabClient {
    /// The numeric id of a project (runner creation takes it), read once.
    async fn project_id(&self, target: &ExternalTarget) -> Result<u64, Error> {
        if let Some(id) = lock(&self.settings.project_ids).get(&target.path) {
            return Ok(*id);
        }
        let request = ApiRequest::get(project_path(target)?).priority(Priority::Write);
        let project: Value = self.send(request).await?.json()?;
        let id = project
            .get("id")
            .and_then(Value::as_u64)
            .ok_or_else(|| convert::malformed("the project object has no numeric `id`".into()))?;
        lock(&self.settings.project_ids).insert(target.path.clone(), id);
        Ok(id)
    }

    /// The jobs of a pipeline, raw.
    async fn pipeline_jobs(
        &self,
        target: &ExternalTarget,
        pipeline: &NativeId,
        page: &PageRequest,
    ) -> Result<Page<Value>, Error> {
        let id = numeric_id(pipeline, "pipeline")?;
        let request = self.get(format!("{}/pipelines/{id}/jobs", project_path(target)?));
        self.page(request, &Self::pages(), page).await
    }
}

#[async_trait]
impl Cicd for GitlabClient {
    /// `GET /projects/:id/pipelines` (newest first).
    async fn list_pipelines(
        &self,
        target: &ExternalTarget,
        page: &PageRequest,
    ) -> Result<Page<Observed<Pipeline>>, Error> {
        let request = self
            .get(format!("{}/pipelines", project_path(target)?))
            .query("order_by", "id")
            .query("sort", "desc");
        self.list(ResourceKind::Pipeline, request, page).await
    }

    async fn get_pipeline(
        &self,
        target: &ExternalTarget,
        pipeline: &NativeId,
    ) -> Result<Observed<Pipeline>, Error> {
        let id = numeric_id(pipeline, "pipeline")?;
        let request = self.get(format!("{}/pipelines/{id}", project_path(target)?));
        self.fetch(ResourceKind::Pipeline, request).await
    }

    /// `GET /projects/:id/pipelines/:pipeline_id/jobs`.
    async fn list_jobs(
        &self,
        target: &ExternalTarget,
        pipeline: &NativeId,
        page: &PageRequest,
    ) -> Result<Page<Observed<Job>>, Error> {
        let raw = self.pipeline_jobs(target, pipeline, page).await?;
        convert::observe_page(ResourceKind::Job, raw)
    }

    /// No request: the log is `GET /projects/:id/jobs/:job_id/trace`, fetched by whoever
    /// needs it.
    async fn job_log(&self, target: &ExternalTarget, job: &NativeId) -> Result<LogRef, Error> {
        let id = numeric_id(job, "job")?;
        let mut log = LogRef::default();
        log.job_native_id = id.to_string();
        log.url = format!(
            "{}{}/jobs/{id}/trace",
            self.base_url(),
            project_path(target)?
        );
        Ok(log)
    }

    /// The archives of the pipeline's jobs (`GET …/pipelines/:id/jobs`, those with an
    /// `artifacts_file`), as references: `archive_download_url` is
    /// `/projects/:id/jobs/:job_id/artifacts`; nothing is downloaded.
    async fn list_artifacts(
        &self,
        target: &ExternalTarget,
        pipeline: &NativeId,
        page: &PageRequest,
    ) -> Result<Page<Observed<Artifact>>, Error> {
        let project = project_path(target)?;
        let raw = self.pipeline_jobs(target, pipeline, page).await?;
        let read = convert::read_id(ResourceKind::Artifact);
        let mut items = Vec::new();
        for value in &raw.items {
            let job = rest::read::<WireJob>(ResourceKind::Artifact, value)?;
            let url = format!("{}{project}/jobs/{}/artifacts", self.base_url(), job.id().0);
            if let Some(event) = job.artifact(crate::emit::Origin::rest(&read), Some(url)) {
                items.push(convert::observe_event(event)?);
            }
        }
        Ok(Page::new(items, raw.next).with_not_modified(raw.not_modified))
    }

    async fn list_check_runs(
        &self,
        _target: &ExternalTarget,
        _sha: &str,
        _page: &PageRequest,
    ) -> Result<Page<Observed<CheckRun>>, Error> {
        Err(no_checks(ResourceKind::CheckRun))
    }

    async fn list_check_suites(
        &self,
        _target: &ExternalTarget,
        _sha: &str,
        _page: &PageRequest,
    ) -> Result<Page<Observed<CheckSuite>>, Error> {
        Err(no_checks(ResourceKind::CheckSuite))
    }

    /// `GET /projects/:id/repository/commits/:sha/statuses`.
    async fn list_statuses(
        &self,
        target: &ExternalTarget,
        sha: &str,
        page: &PageRequest,
    ) -> Result<Page<Observed<CommitStatus>>, Error> {
        let request = self.get(format!(
            "{}/repository/commits/{}/statuses",
            project_path(target)?,
            segment(sha)
        ));
        self.list(ResourceKind::CommitStatus, request, page).await
    }

    /// `GET /projects/:id/runners`.
    async fn list_runners(
        &self,
        target: &ExternalTarget,
        page: &PageRequest,
    ) -> Result<Page<Observed<Runner>>, Error> {
        let request = self.get(format!("{}/runners", project_path(target)?));
        self.list(ResourceKind::Runner, request, page).await
    }

    /// `POST /projects/:id/pipelines/:pipeline_id/retry` (retries its failed and canceled
    /// jobs).
    async fn rerun_pipeline(
        &self,
        target: &ExternalTarget,
        pipeline: &NativeId,
    ) -> Result<(), Error> {
        let id = numeric_id(pipeline, "pipeline")?;
        self.write_only(ApiRequest::post(format!(
            "{}/pipelines/{id}/retry",
            project_path(target)?
        )))
        .await
    }

    async fn cancel_pipeline(
        &self,
        target: &ExternalTarget,
        pipeline: &NativeId,
    ) -> Result<(), Error> {
        let id = numeric_id(pipeline, "pipeline")?;
        // Cancelling twice changes nothing.
        self.write_only(
            ApiRequest::post(format!("{}/pipelines/{id}/cancel", project_path(target)?))
                .idempotent(true),
        )
        .await
    }

    /// `POST /projects/:id/jobs/:job_id/retry` (GitLab creates a new job).
    async fn rerun_job(&self, target: &ExternalTarget, job: &NativeId) -> Result<(), Error> {
        let id = numeric_id(job, "job")?;
        self.write_only(ApiRequest::post(format!(
            "{}/jobs/{id}/retry",
            project_path(target)?
        )))
        .await
    }

    async fn cancel_job(&self, target: &ExternalTarget, job: &NativeId) -> Result<(), Error> {
        let id = numeric_id(job, "job")?;
        self.write_only(
            ApiRequest::post(format!("{}/jobs/{id}/cancel", project_path(target)?))
                .idempotent(true),
        )
        .await
    }

    /// `POST /projects/:id/statuses/:sha` (`name` = the context).
    async fn set_commit_status(
        &self,
        target: &ExternalTarget,
        sha: &str,
        status: &CommitStatusInput,
    ) -> Result<Observed<CommitStatus>, Error> {
        let mut body = Map::new();
        body.insert("state".into(), json!(gitlab_state(&status.state)?));
        for (name, value) in [
            ("name", &status.context),
            ("description", &status.description),
            ("target_url", &status.target_url),
        ] {
            if let Some(v) = value {
                body.insert(name.into(), json!(v));
            }
        }
        // GitLab updates the status of the same name on the same commit: setting it again
        // leaves the commit as it was.
        let request = ApiRequest::post(format!(
            "{}/statuses/{}",
            project_path(target)?,
            segment(sha)
        ))
        .json(Value::Object(body))
        .idempotent(true);
        self.write(ResourceKind::CommitStatus, request).await
    }

    async fn create_check(
        &self,
        _target: &ExternalTarget,
        _input: &CheckRunInput,
    ) -> Result<Observed<CheckRun>, Error> {
        Err(no_checks(ResourceKind::CheckRun))
    }

    async fn update_check(
        &self,
        _target: &ExternalTarget,
        _check: &NativeId,
        _input: &CheckRunInput,
    ) -> Result<Observed<CheckRun>, Error> {
        Err(no_checks(ResourceKind::CheckRun))
    }

    /// `POST /user/runners` for the project (GitLab 15.10 and later): a new project runner
    /// and its authentication token, returned to the caller and stored nowhere.
    async fn register_runner(&self, target: &ExternalTarget) -> Result<RunnerRegistration, Error> {
        let project_id = self.project_id(target).await?;
        let request = ApiRequest::post("/user/runners")
            .json(json!({ "runner_type": "project_type", "project_id": project_id }))
            .priority(Priority::Write);
        let response = self.send(request).await?;
        // Never surface serde's message: it could quote the token.
        let parsed: RunnerToken =
            serde_json::from_slice(&response.body).map_err(|_| Error::MalformedPayload {
                provider: ProviderKind::new(PROVIDER),
                reason: "the runner creation response has no `token`".into(),
            })?;
        Ok(RunnerRegistration::new(
            parsed.token,
            parsed.token_expires_at,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_states_in_gitlabs_words() {
        assert_eq!(gitlab_state("failure").ok(), Some("failed"));
        assert_eq!(gitlab_state("error").ok(), Some("failed"));
        assert_eq!(gitlab_state("running").ok(), Some("running"));
        assert!(gitlab_state("exploded").is_err());
    }
}

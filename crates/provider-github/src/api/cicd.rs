//! [`Cicd`] over GitHub Actions (workflow runs, jobs, artifacts, self-hosted runners),
//! checks and commit statuses.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kradle_http::{ApiRequest, LinkPagination};
use kradle_sync_core::object::{
    Artifact, CheckRun, CheckSuite, CommitStatus, Job, LogRef, Pipeline, Runner,
};
use kradle_sync_core::{
    CheckRunInput, Cicd, CommitStatusInput, Error, ExternalTarget, NativeId, Observed, Page,
    PageRequest, ProviderKind, ResourceKind, RunnerRegistration, Secret,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::client::GithubClient;
use super::convert::{self, numeric_id, repo_path, segment};
use crate::PROVIDER;

fn check_json(input: &CheckRunInput) -> Value {
    let mut map = Map::new();
    let mut put = |name: &str, value: &Option<String>| {
        if let Some(v) = value {
            map.insert(name.to_owned(), json!(v));
        }
    };
    put("name", &input.name);
    put("head_sha", &input.head_sha);
    put("status", &input.status);
    put("conclusion", &input.conclusion);
    put("details_url", &input.details_url);
    put("external_id", &input.external_id);
    // GitHub requires both a title and a summary in `output`.
    if input.output_title.is_some() || input.output_summary.is_some() {
        map.insert(
            "output".into(),
            json!({
                "title": input.output_title.as_deref().or(input.name.as_deref()).unwrap_or_default(),
                "summary": input.output_summary.as_deref().unwrap_or_default(),
            }),
        );
    }
    Value::Object(map)
}

#[derive(Deserialize)]
struct RegistrationToken {
    token: Secret,
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
}

impl GithubClient {
    /// The check run an earlier [`create_check`](Cicd::create_check) with this
    /// `external_id` created on `head_sha`, if any: the idempotency key of a check run is
    /// its `external_id`.
    pub async fn find_check_run_by_key(
        &self,
        target: &ExternalTarget,
        head_sha: &str,
        external_id: &str,
    ) -> Result<Option<Observed<CheckRun>>, Error> {
        let request = ApiRequest::get(format!(
            "{}/commits/{}/check-runs",
            repo_path(target)?,
            segment(head_sha)
        ))
        .query("filter", "all");
        let found = self
            .scan(
                request,
                &LinkPagination::new().items_at("/check_runs"),
                self.settings.lookup_pages,
                |item| item.get("external_id").and_then(Value::as_str) == Some(external_id),
            )
            .await?;
        found
            .map(|v| convert::observe(ResourceKind::CheckRun, &v))
            .transpose()
    }
}

#[async_trait]
impl Cicd for GithubClient {
    async fn list_pipelines(
        &self,
        target: &ExternalTarget,
        page: &PageRequest,
    ) -> Result<Page<Observed<Pipeline>>, Error> {
        let request = self.get(format!("{}/actions/runs", repo_path(target)?));
        let pagination = LinkPagination::new().items_at("/workflow_runs");
        self.list(ResourceKind::Pipeline, request, &pagination, page)
            .await
    }

    async fn get_pipeline(
        &self,
        target: &ExternalTarget,
        pipeline: &NativeId,
    ) -> Result<Observed<Pipeline>, Error> {
        let id = numeric_id(pipeline, "workflow run")?;
        let request = self.get(format!("{}/actions/runs/{id}", repo_path(target)?));
        self.fetch(ResourceKind::Pipeline, request).await
    }

    async fn list_jobs(
        &self,
        target: &ExternalTarget,
        pipeline: &NativeId,
        page: &PageRequest,
    ) -> Result<Page<Observed<Job>>, Error> {
        let id = numeric_id(pipeline, "workflow run")?;
        let request = self.get(format!("{}/actions/runs/{id}/jobs", repo_path(target)?));
        let pagination = LinkPagination::new().items_at("/jobs");
        self.list(ResourceKind::Job, request, &pagination, page)
            .await
    }

    async fn job_log(&self, target: &ExternalTarget, job: &NativeId) -> Result<LogRef, Error> {
        // No request: the log is fetched by whoever needs it (GitHub answers this URL with
        // a redirect to a short-lived download link).
        let id = numeric_id(job, "job")?;
        let base = self
            .api
            .base_url()
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        Ok({
            let mut v = LogRef::default();
            v.job_native_id = id.to_string();
            v.url = format!("{base}{}/actions/jobs/{id}/logs", repo_path(target)?);
            v
        })
    }

    async fn list_artifacts(
        &self,
        target: &ExternalTarget,
        pipeline: &NativeId,
        page: &PageRequest,
    ) -> Result<Page<Observed<Artifact>>, Error> {
        let id = numeric_id(pipeline, "workflow run")?;
        let request = self.get(format!(
            "{}/actions/runs/{id}/artifacts",
            repo_path(target)?
        ));
        let pagination = LinkPagination::new().items_at("/artifacts");
        self.list(ResourceKind::Artifact, request, &pagination, page)
            .await
    }

    async fn list_check_runs(
        &self,
        target: &ExternalTarget,
        sha: &str,
        page: &PageRequest,
    ) -> Result<Page<Observed<CheckRun>>, Error> {
        let request = self.get(format!(
            "{}/commits/{}/check-runs",
            repo_path(target)?,
            segment(sha)
        ));
        let pagination = LinkPagination::new().items_at("/check_runs");
        self.list(ResourceKind::CheckRun, request, &pagination, page)
            .await
    }

    async fn list_check_suites(
        &self,
        target: &ExternalTarget,
        sha: &str,
        page: &PageRequest,
    ) -> Result<Page<Observed<CheckSuite>>, Error> {
        let request = self.get(format!(
            "{}/commits/{}/check-suites",
            repo_path(target)?,
            segment(sha)
        ));
        let pagination = LinkPagination::new().items_at("/check_suites");
        self.list(ResourceKind::CheckSuite, request, &pagination, page)
            .await
    }

    async fn list_statuses(
        &self,
        target: &ExternalTarget,
        sha: &str,
        page: &PageRequest,
    ) -> Result<Page<Observed<CommitStatus>>, Error> {
        let request = self.get(format!(
            "{}/commits/{}/statuses",
            repo_path(target)?,
            segment(sha)
        ));
        self.list(ResourceKind::CommitStatus, request, &Self::link(), page)
            .await
    }

    async fn list_runners(
        &self,
        target: &ExternalTarget,
        page: &PageRequest,
    ) -> Result<Page<Observed<Runner>>, Error> {
        let request = self.get(format!("{}/actions/runners", repo_path(target)?));
        let pagination = LinkPagination::new().items_at("/runners");
        self.list(ResourceKind::Runner, request, &pagination, page)
            .await
    }

    async fn rerun_pipeline(
        &self,
        target: &ExternalTarget,
        pipeline: &NativeId,
    ) -> Result<(), Error> {
        let id = numeric_id(pipeline, "workflow run")?;
        self.write_only(ApiRequest::post(format!(
            "{}/actions/runs/{id}/rerun",
            repo_path(target)?
        )))
        .await
    }

    async fn cancel_pipeline(
        &self,
        target: &ExternalTarget,
        pipeline: &NativeId,
    ) -> Result<(), Error> {
        let id = numeric_id(pipeline, "workflow run")?;
        // Cancelling twice changes nothing.
        self.write_only(
            ApiRequest::post(format!("{}/actions/runs/{id}/cancel", repo_path(target)?))
                .idempotent(true),
        )
        .await
    }

    async fn rerun_job(&self, target: &ExternalTarget, job: &NativeId) -> Result<(), Error> {
        let id = numeric_id(job, "workflow job")?;
        self.write_only(ApiRequest::post(format!(
            "{}/actions/jobs/{id}/rerun",
            repo_path(target)?
        )))
        .await
    }

    /// GitHub Actions cancels whole workflow runs, never one job:
    /// [`Error::Unsupported`]; cancel the job's pipeline instead.
    async fn cancel_job(&self, _target: &ExternalTarget, _job: &NativeId) -> Result<(), Error> {
        Err(Error::Unsupported {
            kind: ResourceKind::Job,
            detail: "cancelling one job: GitHub Actions cancels whole workflow runs, so cancel the job's pipeline".into(),
        })
    }

    async fn set_commit_status(
        &self,
        target: &ExternalTarget,
        sha: &str,
        status: &CommitStatusInput,
    ) -> Result<Observed<CommitStatus>, Error> {
        let mut body = Map::new();
        body.insert("state".into(), json!(status.state));
        for (name, value) in [
            ("context", &status.context),
            ("description", &status.description),
            ("target_url", &status.target_url),
        ] {
            if let Some(v) = value {
                body.insert(name.into(), json!(v));
            }
        }
        // Setting the same status again leaves the commit as it was.
        let request = ApiRequest::post(format!("{}/statuses/{}", repo_path(target)?, segment(sha)))
            .json(Value::Object(body))
            .idempotent(true);
        self.write(ResourceKind::CommitStatus, request).await
    }

    async fn create_check(
        &self,
        target: &ExternalTarget,
        input: &CheckRunInput,
    ) -> Result<Observed<CheckRun>, Error> {
        let (Some(_), Some(head_sha)) = (&input.name, &input.head_sha) else {
            return Err(Error::Validation {
                rule: "check-run-needs-name-and-sha",
                detail: "GitHub creates a check run only with a `name` and a `head_sha`".into(),
            });
        };
        let request =
            ApiRequest::post(format!("{}/check-runs", repo_path(target)?)).json(check_json(input));
        match &input.external_id {
            Some(key) => {
                self.create_adopting(ResourceKind::CheckRun, request, || {
                    self.find_check_run_by_key(target, head_sha, key)
                })
                .await
            }
            None => {
                self.create_adopting(ResourceKind::CheckRun, request, || async { Ok(None) })
                    .await
            }
        }
    }

    async fn update_check(
        &self,
        target: &ExternalTarget,
        check: &NativeId,
        input: &CheckRunInput,
    ) -> Result<Observed<CheckRun>, Error> {
        let id = numeric_id(check, "check run")?;
        let request = ApiRequest::patch(format!("{}/check-runs/{id}", repo_path(target)?))
            .json(check_json(input))
            .idempotent(true);
        self.write(ResourceKind::CheckRun, request).await
    }

    async fn register_runner(&self, target: &ExternalTarget) -> Result<RunnerRegistration, Error> {
        let request = ApiRequest::post(format!(
            "{}/actions/runners/registration-token",
            repo_path(target)?
        ))
        // Another token is harmless.
        .idempotent(true)
        .priority(kradle_http::Priority::Write);
        let response = self.api.send(request).await?;
        // Never surface serde's message: it could quote the token.
        let parsed: RegistrationToken =
            serde_json::from_slice(&response.body).map_err(|_| Error::MalformedPayload {
                provider: ProviderKind::new(PROVIDER),
                reason: "the runner registration response has no `token`".into(),
            })?;
        Ok(RunnerRegistration::new(parsed.token, parsed.expires_at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_output_has_title_and_summary() {
        let mut input = CheckRunInput::default();
        input.name = Some("mighty_readme".into());
        input.head_sha = Some("ce587453ced02b1526dfb4cb910479d431683101".into());
        input.external_id = Some("kradle:k1".into());
        input.output_summary = Some("There are 0 failures".into());
        let v = check_json(&input);
        assert_eq!(v["output"]["title"], "mighty_readme");
        assert_eq!(v["external_id"], "kradle:k1");
        assert!(v.get("status").is_none());
    }
}

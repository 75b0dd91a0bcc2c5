//! CI/CD objects: pipeline, job, check run and suite, commit status, runner, artifact,
//! log reference, deployment.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A pipeline (GitHub workflow run, GitLab pipeline).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Pipeline {
    /// Workflow or pipeline name.
    pub name: Option<String>,
    /// Run number within its workflow.
    pub number: Option<u64>,
    /// Attempt number (reruns increase it).
    pub attempt: Option<u64>,
    /// Provider status (`queued`, `in_progress`, `completed`, `running`, …).
    pub status: Option<String>,
    /// Outcome once finished (`success`, `failure`, `cancelled`, …).
    pub conclusion: Option<String>,
    /// Branch or ref.
    pub head_branch: Option<String>,
    /// Commit built.
    pub head_sha: Option<String>,
    /// What triggered it (`push`, `pull_request`, …).
    pub event: Option<String>,
    /// Start time.
    pub started_at: Option<DateTime<Utc>>,
    /// Link for people.
    pub html_url: Option<String>,
}

/// A job of a pipeline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Job {
    /// The pipeline's native id.
    pub pipeline_native_id: Option<String>,
    /// Job name.
    pub name: String,
    /// Provider status.
    pub status: Option<String>,
    /// Outcome once finished.
    pub conclusion: Option<String>,
    /// Commit built.
    pub head_sha: Option<String>,
    /// Runner that ran it.
    pub runner_name: Option<String>,
    /// Runner labels requested.
    pub labels: Vec<String>,
    /// Start time.
    pub started_at: Option<DateTime<Utc>>,
    /// Completion time.
    pub completed_at: Option<DateTime<Utc>>,
    /// Link for people.
    pub html_url: Option<String>,
}

/// A check run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CheckRun {
    /// Check name.
    pub name: String,
    /// Commit checked.
    pub head_sha: String,
    /// `queued`, `in_progress` or `completed`.
    pub status: Option<String>,
    /// Outcome once completed.
    pub conclusion: Option<String>,
    /// Link to details.
    pub details_url: Option<String>,
    /// Output title.
    pub output_title: Option<String>,
    /// Output summary.
    pub output_summary: Option<String>,
    /// The app that owns the check, if any.
    pub app: Option<String>,
    /// Start time.
    pub started_at: Option<DateTime<Utc>>,
    /// Completion time.
    pub completed_at: Option<DateTime<Utc>>,
}

/// A check suite.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CheckSuite {
    /// Commit checked.
    pub head_sha: String,
    /// Branch.
    pub head_branch: Option<String>,
    /// Status.
    pub status: Option<String>,
    /// Outcome once completed.
    pub conclusion: Option<String>,
    /// The app that owns the suite, if any.
    pub app: Option<String>,
}

/// A commit status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CommitStatus {
    /// Commit it is on.
    pub sha: String,
    /// `error`, `failure`, `pending` or `success`.
    pub state: String,
    /// Context label.
    pub context: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Link to details.
    pub target_url: Option<String>,
}

/// A CI runner.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Runner {
    /// Name.
    pub name: String,
    /// Operating system.
    pub os: Option<String>,
    /// `online` or `offline`.
    pub status: Option<String>,
    /// Whether it is running a job.
    pub busy: Option<bool>,
    /// Labels.
    pub labels: Vec<String>,
}

/// A build artifact.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Artifact {
    /// Name.
    pub name: String,
    /// Size in bytes.
    pub size_in_bytes: Option<u64>,
    /// Whether it has expired.
    pub expired: Option<bool>,
    /// Content digest, when the provider gives one.
    pub digest: Option<String>,
    /// Where to download it (fetched lazily, never stored inline).
    pub archive_download_url: Option<String>,
    /// Expiry time.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A reference to a job log: where to fetch it, never its content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LogRef {
    /// The job's native id.
    pub job_native_id: String,
    /// The API URL to download the log from.
    pub url: String,
}

/// A deployment and its latest status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Deployment {
    /// Environment name.
    pub environment: Option<String>,
    /// Ref deployed.
    pub git_ref: Option<String>,
    /// Commit deployed.
    pub sha: Option<String>,
    /// Task (`deploy`, …).
    pub task: Option<String>,
    /// Latest status state (`success`, `failure`, …), if known.
    pub state: Option<String>,
}

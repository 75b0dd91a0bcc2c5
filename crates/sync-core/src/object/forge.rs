//! Git forge objects: repository, pull request, review, review comment, ref, branch
//! protection, deploy key, collaborator.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A repository.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Repository {
    /// `owner/name`.
    pub full_name: String,
    /// Whether it is private.
    pub private: bool,
    /// Default branch.
    pub default_branch: Option<String>,
    /// Whether it is archived.
    pub archived: bool,
    /// Description.
    pub description: Option<String>,
    /// Visibility (`public`, `private`, `internal`).
    pub visibility: Option<String>,
    /// Link for people.
    pub html_url: Option<String>,
}

/// A pull request (GitLab: merge request).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PullRequest {
    /// Number.
    pub number: u64,
    /// Title.
    pub title: String,
    /// Body.
    pub body: Option<String>,
    /// `open` or `closed`.
    pub state: String,
    /// Whether it was merged.
    pub merged: bool,
    /// Whether it is a draft.
    pub draft: bool,
    /// Head branch.
    pub head: Option<String>,
    /// Head commit.
    pub head_sha: Option<String>,
    /// Base branch.
    pub base: Option<String>,
    /// Author login.
    pub author: Option<String>,
    /// Label names, sorted.
    pub labels: Vec<String>,
    /// Merge commit, once merged.
    pub merge_commit_sha: Option<String>,
    /// Link for people.
    pub html_url: Option<String>,
}

/// A review of a pull request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Review {
    /// The pull request's number.
    pub pull_number: Option<u64>,
    /// `approved`, `changes_requested`, `commented`, `dismissed`, `pending`.
    pub state: String,
    /// Body.
    pub body: Option<String>,
    /// Reviewer login.
    pub author: Option<String>,
    /// Commit reviewed.
    pub commit_id: Option<String>,
    /// Submission time.
    pub submitted_at: Option<DateTime<Utc>>,
}

/// A review comment on a pull request diff.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReviewComment {
    /// The pull request's number.
    pub pull_number: Option<u64>,
    /// Body.
    pub body: String,
    /// File path.
    pub path: Option<String>,
    /// Commit commented on.
    pub commit_id: Option<String>,
    /// Author login.
    pub author: Option<String>,
}

/// A git ref: branch or tag.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GitRef {
    /// Full ref name (`refs/heads/main`).
    pub name: String,
    /// Commit it points to; `None` once deleted.
    pub sha: Option<String>,
    /// `branch` or `tag`.
    pub ref_type: String,
    /// Whether the last push was a force-push.
    pub forced: bool,
}

/// A branch protection rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BranchProtection {
    /// Branch name or pattern.
    pub pattern: String,
    /// The provider's rules, kept as given (lossless).
    pub rules: serde_json::Value,
}

/// A deploy key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeployKey {
    /// Title.
    pub title: String,
    /// Public key.
    pub key: String,
    /// Whether it is read-only.
    pub read_only: bool,
}

/// A collaborator and their permission.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Collaborator {
    /// Login.
    pub login: String,
    /// Permission (`read`, `triage`, `write`, `maintain`, `admin`).
    pub permission: Option<String>,
}

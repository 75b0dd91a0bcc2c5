//! The three provider interfaces and the provider handle that exposes them.
//!
//! A provider implements one, two or all three. They are object-safe (`async-trait`, `Send`
//! futures) so a host can hold `Arc<dyn IssueTracking>`. Every read is paginated with an
//! opaque cursor and can be conditional (an ETag the caller got before); every create takes
//! the intent's idempotency key so it can be found again after an unknown outcome.
//!
//! The traits carry what the engine calls; conveniences built from those methods live in
//! extension traits with blanket implementations ([`IssueTrackingExt`]), so a provider
//! implements the small trait and gets the rest.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::object::{
    Artifact, BranchProtection, CheckRun, CheckSuite, Collaborator, Comment, CommitStatus,
    DeployKey, GitRef, Issue, Job, Label, LogRef, Milestone, Pipeline, PullRequest, Repository,
    Review, Runner,
};
use crate::{
    Error, ExternalTarget, ExternalVersion, Fields, LinkInfo, NativeId, ProviderDescriptor,
    ResourceKind, Secret,
};

/// Which page of a listing to read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PageRequest {
    /// Where to continue; `None` for the first page.
    pub cursor: Option<String>,
    /// Items per page (providers cap it; GitHub: 100).
    pub per_page: u32,
}

impl PageRequest {
    /// The first page with `per_page` items.
    pub fn first(per_page: u32) -> Self {
        Self {
            cursor: None,
            per_page,
        }
    }

    /// The page at `cursor` (as a previous page's [`Page::next`] gave it).
    pub fn after(cursor: impl Into<String>, per_page: u32) -> Self {
        Self {
            cursor: Some(cursor.into()),
            per_page,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Page<T> {
    /// Items.
    pub items: Vec<T>,
    /// Cursor of the next page; `None` on the last.
    pub next: Option<String>,
    /// Whether the provider answered "not modified" (the items are from the cache).
    pub not_modified: bool,
}

impl<T> Page<T> {
    /// A page with these items, followed by the page at `next` (`None`: the last).
    pub fn new(items: Vec<T>, next: Option<String>) -> Self {
        Self {
            items,
            next,
            not_modified: false,
        }
    }

    /// A last page with these items.
    pub fn last(items: Vec<T>) -> Self {
        Self::new(items, None)
    }

    /// Marks the page as answered "not modified" (its items come from the cache).
    pub fn with_not_modified(mut self, not_modified: bool) -> Self {
        self.not_modified = not_modified;
        self
    }

    /// The same page with every item converted.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
            not_modified: self.not_modified,
        }
    }
}

/// An object read from a provider, with its identity and version.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Observed<T> {
    /// The provider's stable id.
    pub native_id: NativeId,
    /// Identity links.
    pub link: LinkInfo,
    /// Version (updated_at, etag).
    pub version: ExternalVersion,
    /// The object.
    pub object: T,
    /// Fields the provider shows beyond the canonical struct's (a Jira issue's `priority`,
    /// workflow `status` and custom fields, the original rich text): kept beside the
    /// struct's fields in the projection, never overriding them.
    pub extra: Fields,
}

impl<T> Observed<T> {
    /// An object with its native id and version; links and extra fields unset until given.
    pub fn new(native_id: impl Into<NativeId>, version: ExternalVersion, object: T) -> Self {
        Self {
            native_id: native_id.into(),
            link: LinkInfo::default(),
            version,
            object,
            extra: Fields::new(),
        }
    }

    /// Sets the fields shown beyond the canonical struct's.
    pub fn with_extra(mut self, extra: Fields) -> Self {
        self.extra = extra;
        self
    }

    /// Sets the identity links.
    pub fn with_link(mut self, link: LinkInfo) -> Self {
        self.link = link;
        self
    }
}

/// A partial update of an issue: `None` leaves a field as it is.
///
/// ```
/// use kradle_sync_core::IssuePatch;
/// let mut patch = IssuePatch::default();
/// patch.state = Some("closed".into());
/// assert!(patch.title.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IssuePatch {
    /// New title.
    pub title: Option<String>,
    /// New body.
    pub body: Option<String>,
    /// `open` or `closed`.
    pub state: Option<String>,
    /// Why it is closed or reopened.
    pub state_reason: Option<String>,
    /// Replace labels.
    pub labels: Option<Vec<String>>,
    /// Replace assignees.
    pub assignees: Option<Vec<String>>,
    /// Set (`Some(Some(n))`) or clear (`Some(None)`) the milestone.
    pub milestone: Option<Option<u64>>,
}

/// Issues, comments, labels and milestones.
#[async_trait]
pub trait IssueTracking: Send + Sync {
    /// Issues of all states, newest change first (descending `updated_at`); with `since`,
    /// only those changed at or after it.
    ///
    /// The order is part of the contract: a [backfill pass](crate::Engine::backfill_pass)
    /// passes no `since` and stops reading on its own once a page holds an issue changed
    /// before its watermark. Every pass thus asks for the same first page, which an ETag
    /// cache answers "not modified" (free on GitHub) when nothing changed. `since` is for
    /// callers that want a filtered listing; a provider that cannot filter may ignore it.
    async fn list_issues(
        &self,
        target: &ExternalTarget,
        since: Option<DateTime<Utc>>,
        page: &PageRequest,
    ) -> Result<Page<Observed<Issue>>, Error>;
    /// One issue by number.
    async fn get_issue(
        &self,
        target: &ExternalTarget,
        number: u64,
    ) -> Result<Observed<Issue>, Error>;
    /// Creates an issue; the idempotency key is embedded so a retried create adopts the
    /// first one instead of creating another.
    async fn create_issue(
        &self,
        target: &ExternalTarget,
        issue: &IssuePatch,
        idempotency_key: &str,
    ) -> Result<Observed<Issue>, Error>;
    /// Updates an issue (title, body, state, labels, assignees, milestone).
    async fn update_issue(
        &self,
        target: &ExternalTarget,
        number: u64,
        patch: &IssuePatch,
    ) -> Result<Observed<Issue>, Error>;
    /// Deletes an issue. The default answers [`Error::Unsupported`]: a provider whose
    /// descriptor says it cannot delete (`can_delete: false`) closes instead, and the
    /// engine never asks it to delete.
    async fn delete_issue(&self, target: &ExternalTarget, number: u64) -> Result<(), Error> {
        let _ = (target, number);
        Err(Error::Unsupported {
            kind: ResourceKind::Issue,
            detail: "deleting an issue: this provider closes issues instead".into(),
        })
    }
    /// Comments of an issue.
    async fn list_comments(
        &self,
        target: &ExternalTarget,
        number: u64,
        page: &PageRequest,
    ) -> Result<Page<Observed<Comment>>, Error>;
    /// Comments on every issue of the target, newest change first (descending
    /// `updated_at`); with `since`, only those changed at or after it. One listing for the
    /// whole target instead of one per issue (GitHub:
    /// `GET /repos/{owner}/{repo}/issues/comments?sort=updated&direction=desc`), so a
    /// backfill of N comments costs ⌈N/100⌉ requests. The order is part of the contract,
    /// as for [`list_issues`](Self::list_issues): a backfill passes no `since` and stops at
    /// its watermark.
    ///
    /// The default answers [`Error::Unsupported`]: the provider has no such listing, and a
    /// backfill reads the comments issue by issue with
    /// [`list_comments`](Self::list_comments) instead.
    async fn list_all_comments(
        &self,
        target: &ExternalTarget,
        since: Option<DateTime<Utc>>,
        page: &PageRequest,
    ) -> Result<Page<Observed<Comment>>, Error> {
        let _ = (target, since, page);
        Err(Error::Unsupported {
            kind: ResourceKind::Comment,
            detail: "listing the comments of every issue of a target at once".into(),
        })
    }
    /// Creates a comment, embedding the idempotency key.
    async fn create_comment(
        &self,
        target: &ExternalTarget,
        number: u64,
        body: &str,
        idempotency_key: &str,
    ) -> Result<Observed<Comment>, Error>;
    /// Updates a comment.
    async fn update_comment(
        &self,
        target: &ExternalTarget,
        comment: &NativeId,
        body: &str,
    ) -> Result<Observed<Comment>, Error>;
    /// Deletes a comment.
    async fn delete_comment(
        &self,
        target: &ExternalTarget,
        comment: &NativeId,
    ) -> Result<(), Error>;
    /// Labels of the target.
    async fn list_labels(
        &self,
        target: &ExternalTarget,
        page: &PageRequest,
    ) -> Result<Page<Observed<Label>>, Error>;
    /// Milestones of the target.
    async fn list_milestones(
        &self,
        target: &ExternalTarget,
        page: &PageRequest,
    ) -> Result<Page<Observed<Milestone>>, Error>;
    /// The issue an earlier `create_issue` with this idempotency key created, if any (the
    /// adapter looks for the [`marker`](crate::marker) it embedded). A create whose outcome
    /// was unknown (timeout, 5xx, reset) calls this before creating again (invariant 4).
    async fn find_issue_by_key(
        &self,
        target: &ExternalTarget,
        idempotency_key: &str,
    ) -> Result<Option<Observed<Issue>>, Error>;
    /// The comment an earlier `create_comment` with this idempotency key created, if any.
    async fn find_comment_by_key(
        &self,
        target: &ExternalTarget,
        number: u64,
        idempotency_key: &str,
    ) -> Result<Option<Observed<Comment>>, Error>;
}

/// Conveniences over [`IssueTracking`], built from its methods: every provider gets them.
///
/// ```
/// # use kradle_sync_core::{ExternalTarget, IssueTracking, IssueTrackingExt};
/// async fn close(issues: &dyn IssueTracking, repo: &ExternalTarget) -> Result<(), kradle_sync_core::Error> {
///     issues.close_issue(repo, 42).await?;
///     Ok(())
/// }
/// ```
#[async_trait]
pub trait IssueTrackingExt: IssueTracking {
    /// Closes an issue.
    async fn close_issue(
        &self,
        target: &ExternalTarget,
        number: u64,
    ) -> Result<Observed<Issue>, Error> {
        let patch = IssuePatch {
            state: Some("closed".into()),
            ..IssuePatch::default()
        };
        self.update_issue(target, number, &patch).await
    }
    /// Reopens an issue.
    async fn reopen_issue(
        &self,
        target: &ExternalTarget,
        number: u64,
    ) -> Result<Observed<Issue>, Error> {
        let patch = IssuePatch {
            state: Some("open".into()),
            ..IssuePatch::default()
        };
        self.update_issue(target, number, &patch).await
    }
    /// Replaces the labels of an issue.
    async fn set_labels(
        &self,
        target: &ExternalTarget,
        number: u64,
        labels: &[String],
    ) -> Result<Observed<Issue>, Error> {
        let patch = IssuePatch {
            labels: Some(labels.to_vec()),
            ..IssuePatch::default()
        };
        self.update_issue(target, number, &patch).await
    }
    /// Sets or clears the milestone of an issue.
    async fn set_milestone(
        &self,
        target: &ExternalTarget,
        number: u64,
        milestone: Option<u64>,
    ) -> Result<Observed<Issue>, Error> {
        let patch = IssuePatch {
            milestone: Some(milestone),
            ..IssuePatch::default()
        };
        self.update_issue(target, number, &patch).await
    }
    /// Replaces the assignees of an issue.
    async fn assign(
        &self,
        target: &ExternalTarget,
        number: u64,
        assignees: &[String],
    ) -> Result<Observed<Issue>, Error> {
        let patch = IssuePatch {
            assignees: Some(assignees.to_vec()),
            ..IssuePatch::default()
        };
        self.update_issue(target, number, &patch).await
    }
}

impl<T: IssueTracking + ?Sized> IssueTrackingExt for T {}

/// A check run to create, or fields to change on one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CheckRunInput {
    /// Name (required to create).
    pub name: Option<String>,
    /// Commit (required to create).
    pub head_sha: Option<String>,
    /// `queued`, `in_progress`, `completed`.
    pub status: Option<String>,
    /// Outcome when completed.
    pub conclusion: Option<String>,
    /// Details link.
    pub details_url: Option<String>,
    /// External id (the idempotency key goes here on create).
    pub external_id: Option<String>,
    /// Output title.
    pub output_title: Option<String>,
    /// Output summary.
    pub output_summary: Option<String>,
}

/// A commit status to set.
///
/// ```
/// use kradle_sync_core::CommitStatusInput;
/// let s = CommitStatusInput::new("success").with_context("ci/kradle");
/// assert_eq!(s.state, "success");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CommitStatusInput {
    /// `pending`, `success`, `failure` or `error` (GitLab also `running`, `canceled`).
    pub state: String,
    /// The context (GitLab: `name`) that tells statuses of one commit apart.
    pub context: Option<String>,
    /// A short description.
    pub description: Option<String>,
    /// A link to details.
    pub target_url: Option<String>,
}

impl CommitStatusInput {
    /// A status in `state`, with no context, description or link.
    pub fn new(state: impl Into<String>) -> Self {
        Self {
            state: state.into(),
            ..Self::default()
        }
    }

    /// Sets the context.
    pub fn with_context(mut self, context: impl Into<String>) -> Self {
        self.context = Some(context.into());
        self
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets the link to details.
    pub fn with_target_url(mut self, url: impl Into<String>) -> Self {
        self.target_url = Some(url.into());
        self
    }
}

/// A runner registration: a short-lived token returned to the caller, never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunnerRegistration {
    /// The registration token (redacted when printed).
    pub token: Secret,
    /// When it expires.
    pub expires_at: Option<DateTime<Utc>>,
}

impl RunnerRegistration {
    /// A registration token and when it expires.
    pub fn new(token: Secret, expires_at: Option<DateTime<Utc>>) -> Self {
        Self { token, expires_at }
    }
}

/// Pipelines, jobs, checks, statuses, runners and artifacts.
#[async_trait]
pub trait Cicd: Send + Sync {
    /// Pipelines (workflow runs), newest first.
    async fn list_pipelines(
        &self,
        target: &ExternalTarget,
        page: &PageRequest,
    ) -> Result<Page<Observed<Pipeline>>, Error>;
    /// One pipeline.
    async fn get_pipeline(
        &self,
        target: &ExternalTarget,
        pipeline: &NativeId,
    ) -> Result<Observed<Pipeline>, Error>;
    /// Jobs of a pipeline.
    async fn list_jobs(
        &self,
        target: &ExternalTarget,
        pipeline: &NativeId,
        page: &PageRequest,
    ) -> Result<Page<Observed<Job>>, Error>;
    /// Where to fetch a job's log (fetched lazily by the caller).
    async fn job_log(&self, target: &ExternalTarget, job: &NativeId) -> Result<LogRef, Error>;
    /// Artifacts of a pipeline.
    async fn list_artifacts(
        &self,
        target: &ExternalTarget,
        pipeline: &NativeId,
        page: &PageRequest,
    ) -> Result<Page<Observed<Artifact>>, Error>;
    /// Check runs of a commit.
    async fn list_check_runs(
        &self,
        target: &ExternalTarget,
        sha: &str,
        page: &PageRequest,
    ) -> Result<Page<Observed<CheckRun>>, Error>;
    /// Check suites of a commit.
    async fn list_check_suites(
        &self,
        target: &ExternalTarget,
        sha: &str,
        page: &PageRequest,
    ) -> Result<Page<Observed<CheckSuite>>, Error>;
    /// Commit statuses of a commit.
    async fn list_statuses(
        &self,
        target: &ExternalTarget,
        sha: &str,
        page: &PageRequest,
    ) -> Result<Page<Observed<CommitStatus>>, Error>;
    /// Self-hosted runners.
    async fn list_runners(
        &self,
        target: &ExternalTarget,
        page: &PageRequest,
    ) -> Result<Page<Observed<Runner>>, Error>;
    /// Reruns a pipeline.
    async fn rerun_pipeline(
        &self,
        target: &ExternalTarget,
        pipeline: &NativeId,
    ) -> Result<(), Error>;
    /// Cancels a pipeline.
    async fn cancel_pipeline(
        &self,
        target: &ExternalTarget,
        pipeline: &NativeId,
    ) -> Result<(), Error>;
    /// Reruns one job.
    async fn rerun_job(&self, target: &ExternalTarget, job: &NativeId) -> Result<(), Error>;
    /// Cancels one job. A provider that can only cancel whole pipelines answers
    /// [`Error::Unsupported`].
    async fn cancel_job(&self, target: &ExternalTarget, job: &NativeId) -> Result<(), Error>;
    /// Sets a commit status on `sha`.
    async fn set_commit_status(
        &self,
        target: &ExternalTarget,
        sha: &str,
        status: &CommitStatusInput,
    ) -> Result<Observed<CommitStatus>, Error>;
    /// Creates a check run.
    async fn create_check(
        &self,
        target: &ExternalTarget,
        input: &CheckRunInput,
    ) -> Result<Observed<CheckRun>, Error>;
    /// Updates a check run.
    async fn update_check(
        &self,
        target: &ExternalTarget,
        check: &NativeId,
        input: &CheckRunInput,
    ) -> Result<Observed<CheckRun>, Error>;
    /// Gets a runner registration token for the caller; it is never stored.
    async fn register_runner(&self, target: &ExternalTarget) -> Result<RunnerRegistration, Error>;
}

/// A pull request to create or fields to change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PullRequestInput {
    /// Title.
    pub title: Option<String>,
    /// Body.
    pub body: Option<String>,
    /// Head branch (create only).
    pub head: Option<String>,
    /// Base branch.
    pub base: Option<String>,
    /// `open` or `closed`.
    pub state: Option<String>,
    /// Draft (create only).
    pub draft: Option<bool>,
}

/// A review to submit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReviewInput {
    /// `APPROVE`, `REQUEST_CHANGES` or `COMMENT`.
    pub event: String,
    /// Body.
    pub body: Option<String>,
    /// The commit reviewed.
    pub commit_id: Option<String>,
}

impl ReviewInput {
    /// A review of kind `event` (`APPROVE`, `REQUEST_CHANGES`, `COMMENT`), without body
    /// or commit.
    pub fn new(event: impl Into<String>) -> Self {
        Self {
            event: event.into(),
            body: None,
            commit_id: None,
        }
    }
}

/// Repositories, pull requests, reviews, refs, protection, keys and collaborators.
#[async_trait]
pub trait GitForge: Send + Sync {
    /// The repository.
    async fn get_repository(&self, target: &ExternalTarget) -> Result<Observed<Repository>, Error>;
    /// Pull requests (all states).
    async fn list_pull_requests(
        &self,
        target: &ExternalTarget,
        page: &PageRequest,
    ) -> Result<Page<Observed<PullRequest>>, Error>;
    /// One pull request.
    async fn get_pull_request(
        &self,
        target: &ExternalTarget,
        number: u64,
    ) -> Result<Observed<PullRequest>, Error>;
    /// Reviews of a pull request.
    async fn list_reviews(
        &self,
        target: &ExternalTarget,
        number: u64,
        page: &PageRequest,
    ) -> Result<Page<Observed<Review>>, Error>;
    /// Branches and tags.
    async fn list_refs(
        &self,
        target: &ExternalTarget,
        page: &PageRequest,
    ) -> Result<Page<Observed<GitRef>>, Error>;
    /// Protection of a branch, if any.
    async fn get_branch_protection(
        &self,
        target: &ExternalTarget,
        branch: &str,
    ) -> Result<Option<Observed<BranchProtection>>, Error>;
    /// Deploy keys.
    async fn list_deploy_keys(
        &self,
        target: &ExternalTarget,
        page: &PageRequest,
    ) -> Result<Page<Observed<DeployKey>>, Error>;
    /// Collaborators with their permissions.
    async fn list_collaborators(
        &self,
        target: &ExternalTarget,
        page: &PageRequest,
    ) -> Result<Page<Observed<Collaborator>>, Error>;
    /// Creates a pull request, embedding the idempotency key.
    async fn create_pull_request(
        &self,
        target: &ExternalTarget,
        input: &PullRequestInput,
        idempotency_key: &str,
    ) -> Result<Observed<PullRequest>, Error>;
    /// The pull request an earlier `create_pull_request` with this idempotency key
    /// created, if any (the adapter looks for the [`marker`](crate::marker) it embedded).
    async fn find_pull_request_by_key(
        &self,
        target: &ExternalTarget,
        idempotency_key: &str,
    ) -> Result<Option<Observed<PullRequest>>, Error>;
    /// Updates a pull request.
    async fn update_pull_request(
        &self,
        target: &ExternalTarget,
        number: u64,
        input: &PullRequestInput,
    ) -> Result<Observed<PullRequest>, Error>;
    /// Merges a pull request only if its head is still `expected_head_sha`; a mismatch is
    /// [`Error::Precondition`], never retried.
    async fn merge_pull_request(
        &self,
        target: &ExternalTarget,
        number: u64,
        expected_head_sha: &str,
    ) -> Result<(), Error>;
    /// Submits a review.
    async fn create_review(
        &self,
        target: &ExternalTarget,
        number: u64,
        review: &ReviewInput,
    ) -> Result<Observed<Review>, Error>;
    /// Replaces a branch's protection with the provider's rules document.
    async fn set_branch_protection(
        &self,
        target: &ExternalTarget,
        branch: &str,
        rules: &serde_json::Value,
    ) -> Result<Observed<BranchProtection>, Error>;
    /// Adds a deploy key.
    async fn add_deploy_key(
        &self,
        target: &ExternalTarget,
        key: &DeployKey,
    ) -> Result<Observed<DeployKey>, Error>;
    /// Removes a deploy key.
    async fn remove_deploy_key(&self, target: &ExternalTarget, key: &NativeId)
    -> Result<(), Error>;
    /// Sets a collaborator's permission (adds them if needed).
    async fn set_permission(
        &self,
        target: &ExternalTarget,
        login: &str,
        permission: &str,
    ) -> Result<(), Error>;
}

/// What a health probe found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProviderHealth {
    /// Credentials work.
    pub auth_ready: bool,
    /// Requests left in the current rate-limit window, if known.
    pub rate_limit_remaining: Option<u64>,
    /// When the window resets.
    pub rate_limit_reset: Option<DateTime<Utc>>,
    /// Notes (never secrets).
    pub message: Option<String>,
}

impl ProviderHealth {
    /// Whether the credentials work; rate limits and message unset.
    pub fn new(auth_ready: bool) -> Self {
        Self {
            auth_ready,
            rate_limit_remaining: None,
            rate_limit_reset: None,
            message: None,
        }
    }

    /// Sets the rate limit left and when its window resets.
    pub fn with_rate_limit(mut self, remaining: Option<u64>, reset: Option<DateTime<Utc>>) -> Self {
        self.rate_limit_remaining = remaining;
        self.rate_limit_reset = reset;
        self
    }

    /// Sets the note.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }
}

/// The rate limit a client last saw in a provider's responses, without a request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RateLimitStatus {
    /// Requests allowed per window, if reported.
    pub limit: Option<u64>,
    /// Requests left in the window.
    pub remaining: Option<u64>,
    /// When the window resets.
    pub reset: Option<DateTime<Utc>>,
}

impl RateLimitStatus {
    /// A status with these figures.
    pub fn new(limit: Option<u64>, remaining: Option<u64>, reset: Option<DateTime<Utc>>) -> Self {
        Self {
            limit,
            remaining,
            reset,
        }
    }
}

/// A connected provider: its descriptor, a health probe and the interfaces it implements.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The descriptor.
    fn descriptor(&self) -> &ProviderDescriptor;
    /// Probes credentials and rate limits.
    async fn health(&self) -> Result<ProviderHealth, Error>;
    /// Issue tracking, if implemented.
    fn issue_tracking(&self) -> Option<&dyn IssueTracking> {
        None
    }
    /// CI/CD, if implemented.
    fn cicd(&self) -> Option<&dyn Cicd> {
        None
    }
    /// Git forge, if implemented.
    fn git_forge(&self) -> Option<&dyn GitForge> {
        None
    }
    /// The rate limit the client last saw (its main budget), without a request; `None`
    /// before any response reported one, or for a provider without rate limits.
    fn rate_limit(&self) -> Option<RateLimitStatus> {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// A host holds providers as trait objects; this does not compile if a trait stops
    /// being object-safe or its futures stop being `Send`.
    #[test]
    fn traits_are_object_safe_and_send() {
        fn hold(
            _: Option<Arc<dyn IssueTracking>>,
            _: Option<Arc<dyn Cicd>>,
            _: Option<Arc<dyn GitForge>>,
            _: Option<Arc<dyn Provider>>,
        ) {
        }
        fn send<T: Send>(_: &T) {}
        struct Nothing;
        #[async_trait]
        impl Provider for Nothing {
            fn descriptor(&self) -> &ProviderDescriptor {
                unreachable!("not called")
            }
            async fn health(&self) -> Result<ProviderHealth, Error> {
                Ok(ProviderHealth::new(true))
            }
        }
        let p: Arc<dyn Provider> = Arc::new(Nothing);
        let fut = p.health();
        send(&fut);
        assert!(futures::executor::block_on(fut).is_ok_and(|h| h.auth_ready));
        assert!(p.issue_tracking().is_none() && p.cicd().is_none() && p.git_forge().is_none());
        hold(None, None, None, Some(p));
    }
}

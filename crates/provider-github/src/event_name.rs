//! The `X-GitHub-Event` names kradle-sync knows, as a typed enum with a fallback.

use std::fmt;

macro_rules! events {
    ($($(#[$meta:meta])* $variant:ident => $name:literal),* $(,)?) => {
        /// A GitHub webhook event type, from the `X-GitHub-Event` header. Names kradle-sync
        /// does not sync parse to [`GithubEvent::Other`], so a new GitHub event never breaks
        /// a delivery: it is accepted and reported as ignored.
        ///
        /// ```
        /// use kradle_provider_github::GithubEvent;
        /// assert_eq!(GithubEvent::from_name("issue_comment"), GithubEvent::IssueComment);
        /// assert_eq!(GithubEvent::from_name("star"), GithubEvent::Other);
        /// assert_eq!(GithubEvent::IssueComment.as_str(), Some("issue_comment"));
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum GithubEvent {
            $($(#[$meta])* $variant,)*
            /// Any event kradle-sync does not sync.
            Other,
        }

        impl GithubEvent {
            /// Every known event, in a fixed order.
            pub const KNOWN: &'static [GithubEvent] = &[$(GithubEvent::$variant),*];

            /// The event named by an `X-GitHub-Event` value.
            pub fn from_name(name: &str) -> Self {
                match name {
                    $($name => GithubEvent::$variant,)*
                    _ => GithubEvent::Other,
                }
            }

            /// The event's header value; `None` for [`GithubEvent::Other`].
            pub fn as_str(self) -> Option<&'static str> {
                match self {
                    $(GithubEvent::$variant => Some($name),)*
                    GithubEvent::Other => None,
                }
            }
        }
    };
}

events! {
    /// An issue was opened, edited, closed, labeled, … (`issues`).
    Issues => "issues",
    /// A comment on an issue or pull request conversation (`issue_comment`).
    IssueComment => "issue_comment",
    /// A repository label (`label`).
    Label => "label",
    /// A milestone (`milestone`).
    Milestone => "milestone",
    /// A new webhook proves it can deliver (`ping`).
    Ping => "ping",
    /// A pull request changed (`pull_request`).
    PullRequest => "pull_request",
    /// A pull request review (`pull_request_review`).
    PullRequestReview => "pull_request_review",
    /// A comment on a pull request's diff (`pull_request_review_comment`).
    PullRequestReviewComment => "pull_request_review_comment",
    /// Commits were pushed to a ref (`push`).
    Push => "push",
    /// A branch or tag was created (`create`).
    Create => "create",
    /// A branch or tag was deleted (`delete`).
    Delete => "delete",
    /// A GitHub Actions workflow run (`workflow_run`).
    WorkflowRun => "workflow_run",
    /// A GitHub Actions job (`workflow_job`).
    WorkflowJob => "workflow_job",
    /// A check run (`check_run`).
    CheckRun => "check_run",
    /// A check suite (`check_suite`).
    CheckSuite => "check_suite",
    /// A commit status (`status`).
    Status => "status",
    /// A repository was created, edited, renamed, transferred, deleted, … (`repository`).
    Repository => "repository",
    /// A collaborator was added, changed or removed (`member`).
    Member => "member",
    /// A deployment was created (`deployment`).
    Deployment => "deployment",
    /// A deployment's status changed (`deployment_status`).
    DeploymentStatus => "deployment_status",
    /// A deploy key was added or removed (`deploy_key`).
    DeployKey => "deploy_key",
    /// A branch protection rule (`branch_protection_rule`).
    BranchProtectionRule => "branch_protection_rule",
    /// The GitHub App was installed, suspended, removed, … (`installation`).
    Installation => "installation",
    /// Repositories were added to or removed from an installation
    /// (`installation_repositories`).
    InstallationRepositories => "installation_repositories",
}

impl fmt::Display for GithubEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str().unwrap_or("other"))
    }
}

impl GithubEvent {
    /// The event a bare payload most likely came with, judged by its top-level keys, for
    /// a payload seen without its `X-GitHub-Event` header (a file someone saved).
    ///
    /// ```
    /// use kradle_provider_github::GithubEvent;
    /// let payload = serde_json::json!({ "action": "opened", "issue": {}, "repository": {} });
    /// assert_eq!(GithubEvent::guess(&payload), Some(GithubEvent::Issues));
    /// ```
    pub fn guess(payload: &serde_json::Value) -> Option<Self> {
        let has = |k: &str| payload.get(k).is_some();
        Some(match () {
            _ if has("zen") && has("hook_id") => GithubEvent::Ping,
            _ if has("issue") && has("comment") => GithubEvent::IssueComment,
            _ if has("issue") => GithubEvent::Issues,
            _ if has("pull_request") && has("review") => GithubEvent::PullRequestReview,
            _ if has("pull_request") && has("comment") => GithubEvent::PullRequestReviewComment,
            _ if has("pull_request") => GithubEvent::PullRequest,
            _ if has("workflow_run") => GithubEvent::WorkflowRun,
            _ if has("workflow_job") => GithubEvent::WorkflowJob,
            _ if has("check_run") => GithubEvent::CheckRun,
            _ if has("check_suite") => GithubEvent::CheckSuite,
            _ if has("deployment_status") => GithubEvent::DeploymentStatus,
            _ if has("deployment") => GithubEvent::Deployment,
            _ if has("label") => GithubEvent::Label,
            _ if has("milestone") => GithubEvent::Milestone,
            _ if has("sha") && has("context") && has("state") => GithubEvent::Status,
            _ if has("ref") && has("before") && has("after") && has("commits") => GithubEvent::Push,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for event in GithubEvent::KNOWN {
            let name = event.as_str().unwrap_or_default();
            assert_eq!(GithubEvent::from_name(name), *event);
        }
        assert_eq!(GithubEvent::from_name("Issues"), GithubEvent::Other);
    }
}

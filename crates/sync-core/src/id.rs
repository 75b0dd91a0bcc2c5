//! Identifiers: providers, orgs, bindings, native ids and the keys built from them.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a string as this identifier.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// A provider type as registered in the [`ProviderRegistry`](crate::ProviderRegistry):
    /// `github`, `gitlab`, `jira`, or the name a third-party adapter registers.
    ProviderKind
);
string_id!(
    /// The host organization a record belongs to. Every record carries one; references
    /// across orgs fail before any provider call.
    OrgId
);
string_id!(
    /// The name of a binding: which provider target (repository, project) is synced.
    BindingId
);
string_id!(
    /// The provider's stable id of an object, as a string (GitHub and GitLab: the REST `id`;
    /// Jira: the issue `id`).
    NativeId
);
string_id!(
    /// The provider's id of one webhook delivery (GitHub: `X-GitHub-Delivery`).
    DeliveryId
);

/// One of the three provider interfaces. A provider implements one, two or all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interface {
    /// Issues, comments, labels and milestones.
    IssueTracking,
    /// Pipelines, jobs, checks, statuses, runners and artifacts.
    Cicd,
    /// Repositories, pull requests, reviews, refs, protection, keys and collaborators.
    GitForge,
}

impl Interface {
    /// Every interface, in a fixed order.
    pub const ALL: [Interface; 3] = [
        Interface::IssueTracking,
        Interface::Cicd,
        Interface::GitForge,
    ];

    /// The interface's name as written in configuration and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Interface::IssueTracking => "issue_tracking",
            Interface::Cicd => "cicd",
            Interface::GitForge => "git_forge",
        }
    }
}

impl fmt::Display for Interface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of a synced object. Each kind belongs to exactly one [`Interface`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResourceKind {
    /// An issue (GitHub issue, GitLab issue, Jira issue).
    Issue,
    /// A comment on an issue.
    Comment,
    /// A label defined in a repository or project.
    Label,
    /// A milestone.
    Milestone,
    /// A pipeline (GitHub workflow run, GitLab pipeline).
    Pipeline,
    /// A job of a pipeline.
    Job,
    /// A check run.
    CheckRun,
    /// A check suite.
    CheckSuite,
    /// A commit status.
    CommitStatus,
    /// A CI runner.
    Runner,
    /// A build artifact.
    Artifact,
    /// A reference to a job log, fetched lazily.
    LogRef,
    /// A deployment.
    Deployment,
    /// A repository.
    Repository,
    /// A pull request (GitLab: merge request).
    PullRequest,
    /// A review of a pull request.
    Review,
    /// A review comment on a pull request diff.
    ReviewComment,
    /// A git ref: branch or tag.
    Ref,
    /// A branch protection rule.
    BranchProtection,
    /// A deploy key.
    DeployKey,
    /// A collaborator and their permission.
    Collaborator,
}

impl ResourceKind {
    /// Every kind, in a fixed order.
    pub const ALL: [ResourceKind; 21] = [
        ResourceKind::Issue,
        ResourceKind::Comment,
        ResourceKind::Label,
        ResourceKind::Milestone,
        ResourceKind::Pipeline,
        ResourceKind::Job,
        ResourceKind::CheckRun,
        ResourceKind::CheckSuite,
        ResourceKind::CommitStatus,
        ResourceKind::Runner,
        ResourceKind::Artifact,
        ResourceKind::LogRef,
        ResourceKind::Deployment,
        ResourceKind::Repository,
        ResourceKind::PullRequest,
        ResourceKind::Review,
        ResourceKind::ReviewComment,
        ResourceKind::Ref,
        ResourceKind::BranchProtection,
        ResourceKind::DeployKey,
        ResourceKind::Collaborator,
    ];

    /// The interface this kind belongs to.
    pub fn interface(self) -> Interface {
        use ResourceKind::*;
        match self {
            Issue | Comment | Label | Milestone => Interface::IssueTracking,
            Pipeline | Job | CheckRun | CheckSuite | CommitStatus | Runner | Artifact | LogRef
            | Deployment => Interface::Cicd,
            Repository | PullRequest | Review | ReviewComment | Ref | BranchProtection
            | DeployKey | Collaborator => Interface::GitForge,
        }
    }

    /// The kind's name as written in configuration and output (`issue`, `pull_request`, …).
    pub fn as_str(self) -> &'static str {
        use ResourceKind::*;
        match self {
            Issue => "issue",
            Comment => "comment",
            Label => "label",
            Milestone => "milestone",
            Pipeline => "pipeline",
            Job => "job",
            CheckRun => "check_run",
            CheckSuite => "check_suite",
            CommitStatus => "commit_status",
            Runner => "runner",
            Artifact => "artifact",
            LogRef => "log_ref",
            Deployment => "deployment",
            Repository => "repository",
            PullRequest => "pull_request",
            Review => "review",
            ReviewComment => "review_comment",
            Ref => "ref",
            BranchProtection => "branch_protection",
            DeployKey => "deploy_key",
            Collaborator => "collaborator",
        }
    }

    /// Parses a kind from its [`as_str`](Self::as_str) name.
    ///
    /// ```
    /// use kradle_sync_core::ResourceKind;
    /// assert_eq!(ResourceKind::parse("pull_request"), Some(ResourceKind::PullRequest));
    /// assert_eq!(ResourceKind::parse("nope"), None);
    /// ```
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The fields of this kind that a host may change and a provider write can set (a
    /// create also names the object's parent: a comment's `issue_number`, a review's
    /// `pull_number`, a status's `sha`). Other fields (ids, authors, timestamps, counters)
    /// are read-only projections.
    pub fn writable_fields(self) -> &'static [&'static str] {
        use ResourceKind::*;
        match self {
            Issue => &[
                "title",
                "body",
                "state",
                "state_reason",
                "labels",
                "assignees",
                "milestone",
            ],
            Comment => &["body", "issue_number"],
            Label => &["name", "color", "description"],
            Milestone => &["title", "description", "state", "due_on"],
            CheckRun => &[
                "status",
                "conclusion",
                "name",
                "head_sha",
                "details_url",
                "output_title",
                "output_summary",
            ],
            CommitStatus => &["sha", "state", "context", "description", "target_url"],
            PullRequest => &["title", "body", "state", "base", "head", "draft"],
            Review => &["pull_number", "state", "body", "commit_id"],
            BranchProtection => &["rules"],
            DeployKey => &["title", "key", "read_only"],
            Collaborator => &["permission"],
            _ => &[],
        }
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The identity of one synced object: which provider and binding it came through, its kind
/// and its native id. Two observations with the same key are about the same object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectKey {
    /// The provider type.
    pub provider: ProviderKind,
    /// The binding the object is synced through.
    pub binding: BindingId,
    /// The object's kind.
    pub kind: ResourceKind,
    /// The provider's stable id.
    pub native_id: NativeId,
}

impl ObjectKey {
    /// Builds a key.
    pub fn new(
        provider: impl Into<ProviderKind>,
        binding: impl Into<BindingId>,
        kind: ResourceKind,
        native_id: impl Into<NativeId>,
    ) -> Self {
        Self {
            provider: provider.into(),
            binding: binding.into(),
            kind,
            native_id: native_id.into(),
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.provider, self.binding, self.kind, self.native_id
        )
    }
}

/// Deduplication key of one canonical event: the same delivery, action, kind and native id
/// are applied at most once (invariant 1).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EventKey {
    /// The provider type.
    pub provider: ProviderKind,
    /// The delivery the event came from (for backfills: a synthetic id naming the read).
    pub delivery_id: DeliveryId,
    /// The event's action.
    pub action: String,
    /// The object's kind.
    pub kind: ResourceKind,
    /// The object's native id.
    pub native_id: NativeId,
}

/// Where an object sits at its provider: repository `owner/name`, GitLab `group/project`,
/// or a Jira project key. Used to check that a delivery belongs to its binding's target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExternalTarget {
    /// The owner (GitHub user or organization, GitLab namespace, Jira site), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The full path: `owner/repo`, `group/project` or a project key.
    pub path: String,
}

impl ExternalTarget {
    /// A target from a full path; the owner is everything before the last `/`.
    ///
    /// ```
    /// use kradle_sync_core::ExternalTarget;
    /// let t = ExternalTarget::from_path("octo-org/octo-repo");
    /// assert_eq!(t.owner.as_deref(), Some("octo-org"));
    /// ```
    pub fn from_path(path: impl Into<String>) -> Self {
        let path = path.into();
        let owner = path.rsplit_once('/').map(|(owner, _)| owner.to_owned());
        Self { owner, path }
    }

    /// The top-level segment of the path: a GitHub owner, a GitLab top-level group, a Jira
    /// site. A binding's org is this.
    ///
    /// ```
    /// use kradle_sync_core::ExternalTarget;
    /// assert_eq!(ExternalTarget::from_path("group/sub/sub2/project").top_level(), "group");
    /// assert_eq!(ExternalTarget::from_path("KRADLE").top_level(), "KRADLE");
    /// ```
    pub fn top_level(&self) -> &str {
        self.path.split('/').next().unwrap_or(&self.path)
    }

    /// Whether `other` names the same target, ignoring ASCII case (GitHub and GitLab paths
    /// are case-insensitive).
    pub fn same_as(&self, other: &ExternalTarget) -> bool {
        self.path.eq_ignore_ascii_case(&other.path)
    }
}

impl fmt::Display for ExternalTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)
    }
}

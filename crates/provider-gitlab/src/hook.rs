//! The `X-Gitlab-Event` names kradle-sync knows, as a typed enum with a fallback.

use std::fmt;

macro_rules! hooks {
    ($($(#[$meta:meta])* $variant:ident => $header:literal;)*) => {
        /// A GitLab webhook type, from the `X-Gitlab-Event` header (`Issue Hook`). Names
        /// kradle-sync does not sync parse to [`GitlabHook::Other`], so a new GitLab hook
        /// never breaks a delivery: it is accepted and reported as ignored.
        ///
        /// ```
        /// use kradle_provider_gitlab::GitlabHook;
        /// assert_eq!(GitlabHook::from_header("Note Hook"), GitlabHook::Note);
        /// assert_eq!(GitlabHook::from_header("Build Hook"), GitlabHook::Job);
        /// assert_eq!(GitlabHook::from_header("Wiki Page Hook"), GitlabHook::Other);
        /// assert_eq!(GitlabHook::from_object_kind("merge_request"), Some(GitlabHook::MergeRequest));
        /// assert_eq!(GitlabHook::Job.header(), Some("Job Hook"));
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum GitlabHook {
            $($(#[$meta])* $variant,)*
            /// A system hook (instance-wide, sent by administrators' hooks): never synced.
            System,
            /// Any hook kradle-sync does not sync.
            Other,
        }

        impl GitlabHook {
            /// Every synced hook, in a fixed order.
            pub const KNOWN: &'static [GitlabHook] = &[$(GitlabHook::$variant),*];

            /// The hook named by an `X-Gitlab-Event` value. `Build Hook` (the name GitLab
            /// used for job hooks before jobs were called jobs) is [`GitlabHook::Job`].
            pub fn from_header(name: &str) -> Self {
                match name.trim() {
                    $($header => GitlabHook::$variant,)*
                    "Build Hook" => GitlabHook::Job,
                    "System Hook" => GitlabHook::System,
                    _ => GitlabHook::Other,
                }
            }

            /// The `X-Gitlab-Event` value GitLab sends; `None` for system and other hooks.
            pub fn header(self) -> Option<&'static str> {
                match self {
                    $(GitlabHook::$variant => Some($header),)*
                    GitlabHook::System | GitlabHook::Other => None,
                }
            }
        }
    };
}

hooks! {
    /// An issue was opened, updated, closed or reopened (`Issue Hook`).
    Issue => "Issue Hook";
    /// The same for a confidential issue (`Confidential Issue Hook`).
    ConfidentialIssue => "Confidential Issue Hook";
    /// A comment on an issue, merge request, commit or snippet (`Note Hook`).
    Note => "Note Hook";
    /// A comment on a confidential issue (`Confidential Note Hook`).
    ConfidentialNote => "Confidential Note Hook";
    /// A merge request changed, was approved, merged, … (`Merge Request Hook`).
    MergeRequest => "Merge Request Hook";
    /// A pipeline's status changed (`Pipeline Hook`).
    Pipeline => "Pipeline Hook";
    /// A job's status changed (`Job Hook`; payloads say `object_kind: build`).
    Job => "Job Hook";
    /// Commits were pushed to a branch (`Push Hook`).
    Push => "Push Hook";
    /// A tag was pushed or deleted (`Tag Push Hook`).
    TagPush => "Tag Push Hook";
    /// A deployment started, succeeded, failed or was canceled (`Deployment Hook`).
    Deployment => "Deployment Hook";
    /// A release was created, updated or deleted (`Release Hook`).
    Release => "Release Hook";
    /// A group member was added, changed or removed (`Member Hook`, group webhooks).
    Member => "Member Hook";
}

impl fmt::Display for GitlabHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GitlabHook::System => "System Hook",
            GitlabHook::Other => "other",
            known => known.header().unwrap_or("other"),
        })
    }
}

impl GitlabHook {
    /// The hook whose payloads carry this `object_kind` (`build`, and `job`, are jobs).
    /// Confidential issues and notes carry `issue` and `note`: they read as plain ones.
    pub fn from_object_kind(kind: &str) -> Option<Self> {
        Some(match kind {
            "issue" => GitlabHook::Issue,
            "note" => GitlabHook::Note,
            "merge_request" => GitlabHook::MergeRequest,
            "pipeline" => GitlabHook::Pipeline,
            "build" | "job" => GitlabHook::Job,
            "push" => GitlabHook::Push,
            "tag_push" => GitlabHook::TagPush,
            "deployment" => GitlabHook::Deployment,
            "release" => GitlabHook::Release,
            _ => return None,
        })
    }

    /// The `object_kind` of the hook's payloads; `None` for system and other hooks and for
    /// member hooks (their payloads name the change in `event_name`).
    pub fn object_kind(self) -> Option<&'static str> {
        Some(match self {
            GitlabHook::Issue | GitlabHook::ConfidentialIssue => "issue",
            GitlabHook::Note | GitlabHook::ConfidentialNote => "note",
            GitlabHook::MergeRequest => "merge_request",
            GitlabHook::Pipeline => "pipeline",
            GitlabHook::Job => "build",
            GitlabHook::Push => "push",
            GitlabHook::TagPush => "tag_push",
            GitlabHook::Deployment => "deployment",
            GitlabHook::Release => "release",
            GitlabHook::Member | GitlabHook::System | GitlabHook::Other => return None,
        })
    }

    /// The hook a bare payload came with, judged by its `object_kind` (or a member hook's
    /// `event_name`), for a payload seen without its `X-Gitlab-Event` header (a file
    /// someone saved). A confidential issue or note reads as a plain one.
    ///
    /// ```
    /// use kradle_provider_gitlab::GitlabHook;
    /// let payload = serde_json::json!({ "object_kind": "issue", "object_attributes": {} });
    /// assert_eq!(GitlabHook::guess(&payload), Some(GitlabHook::Issue));
    /// let member = serde_json::json!({ "event_name": "user_add_to_group", "group_id": 1 });
    /// assert_eq!(GitlabHook::guess(&member), Some(GitlabHook::Member));
    /// ```
    pub fn guess(payload: &serde_json::Value) -> Option<Self> {
        let kind = payload
            .get("object_kind")
            .or_else(|| payload.get("event_type"))
            .and_then(serde_json::Value::as_str);
        if let Some(hook) = kind.and_then(Self::from_object_kind) {
            return Some(hook);
        }
        let event_name = payload
            .get("event_name")
            .and_then(serde_json::Value::as_str)?;
        if event_name.ends_with("_group") && payload.get("group_id").is_some() {
            return Some(GitlabHook::Member);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip() {
        for hook in GitlabHook::KNOWN {
            let header = hook.header().unwrap_or_default();
            assert_eq!(GitlabHook::from_header(header), *hook);
            if let Some(kind) = hook.object_kind() {
                assert!(GitlabHook::from_object_kind(kind).is_some(), "{kind}");
            }
        }
        assert_eq!(GitlabHook::from_header("issue hook"), GitlabHook::Other);
        assert_eq!(GitlabHook::from_header("System Hook"), GitlabHook::System);
        assert_eq!(GitlabHook::Issue.object_kind(), Some("issue"));
        assert_eq!(GitlabHook::Member.object_kind(), None);
        assert_eq!(GitlabHook::System.to_string(), "System Hook");
    }
}

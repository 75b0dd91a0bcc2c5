//! Git refs: the `Push Hook`, the `Tag Push Hook`, the `Release Hook`, and REST branch and
//! tag objects. A ref's native id is its full name (`refs/heads/main`): refs have no
//! numeric id. A tag's `sha` is the commit it points at (GitLab's `checkout_sha`, a REST
//! tag's `commit.id`), for annotated tags too, so hooks and reads agree.

use chrono::{DateTime, Utc};
use kradle_sync_core::object::GitRef;
use kradle_sync_core::{CanonicalEvent, ExternalTarget, LinkInfo, NativeId, Removal, ResourceKind};
use serde::Deserialize;

use crate::delivery::{Delivery, Normalized};
use crate::emit::{Origin, Presence, Subject};
use crate::error::GitlabError;
use crate::wire::{CommitRef, ProjectRef, Time, time};

/// The SHA GitLab sends for "no commit" (a created ref's `before`, a deleted ref's `after`).
const NO_COMMIT: &str = "0000000000000000000000000000000000000000";

/// `branch` or `tag`, from a full ref name.
fn ref_type(name: &str) -> Option<&'static str> {
    if name.starts_with("refs/heads/") {
        Some("branch")
    } else if name.starts_with("refs/tags/") {
        Some("tag")
    } else {
        None
    }
}

struct RefSubject {
    name: String,
    updated_at: Option<DateTime<Utc>>,
    target: Option<ExternalTarget>,
    link: LinkInfo,
}

impl RefSubject {
    fn subject(self) -> (Subject, String) {
        let subject = Subject::new(
            ResourceKind::Ref,
            NativeId::new(self.name.as_str()),
            self.updated_at,
            self.target,
            self.link,
        );
        (subject, self.name)
    }

    fn observed(self, origin: Origin<'_>, sha: Option<String>) -> CanonicalEvent {
        let kind = ref_type(&self.name);
        let (subject, name) = self.subject();
        let mut presence = Presence::default();
        let mut git_ref = GitRef::default();
        git_ref.name = name;
        git_ref.sha = presence.take("sha", sha.map(Some));
        git_ref.ref_type = presence.take("ref_type", kind.map(str::to_owned));
        // GitLab's push hooks do not say whether a push was forced.
        presence.absent("forced");
        subject.observed(origin, presence.fields(&git_ref))
    }
}

/// A `Push Hook` or `Tag Push Hook` body.
#[derive(Debug, Deserialize)]
struct PushPayload {
    #[serde(default)]
    object_kind: Option<String>,
    #[serde(rename = "ref")]
    name: String,
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    checkout_sha: Option<String>,
    #[serde(default)]
    commits: Vec<CommitRef>,
    #[serde(default)]
    project: Option<ProjectRef>,
}

/// Normalizes a `Push Hook` or `Tag Push Hook` delivery: the ref now points at the pushed
/// commit (`checkout_sha`, else `after`), or is gone when `after` is all zeros. GitLab
/// sends no time of the push: the version is the timestamp of the commit the ref points at,
/// when the hook lists it (a deletion lists none and carries no version).
pub(crate) fn normalize_push(
    delivery: Delivery<'_>,
    body: &[u8],
    kind: &str,
) -> Result<Normalized, GitlabError> {
    let push: PushPayload = delivery.parse(body)?;
    delivery.check_kind(push.object_kind.as_deref(), &[kind])?;
    let target = push.project.as_ref().and_then(ProjectRef::target);
    let origin = Origin::webhook(delivery.id, kind);
    let deleted = push.after.as_deref() == Some(NO_COMMIT);
    let sha = push
        .checkout_sha
        .filter(|s| !s.is_empty() && s != NO_COMMIT)
        .or(push.after.filter(|s| s != NO_COMMIT));
    let updated_at = sha.as_deref().and_then(|sha| {
        push.commits
            .iter()
            .find(|c| c.id.as_deref() == Some(sha))
            .and_then(|c| time(c.timestamp))
    });
    let subject = RefSubject {
        name: push.name,
        updated_at,
        target: target.clone(),
        link: LinkInfo::default(),
    };
    let event = if deleted {
        subject.subject().0.removed(origin, Removal::Deleted)
    } else {
        subject.observed(origin, sha)
    };
    Ok(Normalized::events(None, target, vec![event]))
}

/// A `Release Hook` body.
#[derive(Debug, Deserialize)]
struct ReleasePayload {
    #[serde(default)]
    object_kind: Option<String>,
    #[serde(default)]
    action: Option<String>,
    tag: String,
    #[serde(default)]
    commit: Option<CommitRef>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    project: Option<ProjectRef>,
}

/// Normalizes a `Release Hook` delivery: a release names its tag and the commit it points
/// at, so `create` and `update` observe the tag's ref (versioned by the commit's
/// timestamp, as a tag push is). Deleting a release leaves its tag: `delete` produces
/// nothing and says so.
pub(crate) fn normalize_release(
    delivery: Delivery<'_>,
    body: &[u8],
) -> Result<Normalized, GitlabError> {
    let release: ReleasePayload = delivery.parse(body)?;
    delivery.check_kind(release.object_kind.as_deref(), &["release"])?;
    let target = release.project.as_ref().and_then(ProjectRef::target);
    let action = release.action.clone();
    match action.as_deref() {
        Some("create" | "update") | None => {}
        Some("delete") => {
            return Ok(Normalized::ignored(
                action,
                target,
                "deleting a GitLab release keeps its tag, and releases themselves are not \
                 synced; the delivery was accepted and produced no events",
            ));
        }
        Some(other) => {
            let outcome = delivery.unknown_action(other);
            return Ok(Normalized {
                action,
                target,
                outcome,
            });
        }
    }
    let origin_action = action.clone().unwrap_or_else(|| "release".to_owned());
    let (sha, updated_at) = match release.commit {
        Some(commit) => (commit.id, time(commit.timestamp)),
        None => (None, None),
    };
    let subject = RefSubject {
        name: format!("refs/tags/{}", release.tag),
        updated_at,
        target: target.clone(),
        link: LinkInfo::default().with_url(release.url),
    };
    let event = subject.observed(Origin::webhook(delivery.id, &origin_action), sha);
    Ok(Normalized::events(action, target, vec![event]))
}

#[derive(Debug, Deserialize)]
struct BranchCommit {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    committed_date: Option<Time>,
}

/// A branch or a tag as the REST API returns it (`/repository/branches`,
/// `/repository/tags`): a tag has a `target` or `release` key, a branch does not.
#[derive(Debug, Deserialize)]
pub(crate) struct WireRef {
    name: String,
    #[serde(default)]
    commit: Option<BranchCommit>,
    #[serde(default)]
    web_url: Option<String>,
    #[serde(default)]
    target: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    release: Option<serde::de::IgnoredAny>,
}

impl WireRef {
    /// The ref as `refs/heads/<name>` or `refs/tags/<name>` (a REST ref does not say
    /// whether its last update was forced); versioned by its commit's `committed_date`,
    /// which the hooks' commit timestamps also are.
    pub fn observed(self, origin: Origin<'_>, tag: Option<bool>) -> CanonicalEvent {
        let is_tag = tag.unwrap_or(self.target.is_some() || self.release.is_some());
        let prefix = if is_tag { "refs/tags/" } else { "refs/heads/" };
        let (sha, updated_at) = match self.commit {
            Some(c) => (c.id, time(c.committed_date)),
            None => (None, None),
        };
        RefSubject {
            name: format!("{prefix}{}", self.name),
            updated_at,
            target: None,
            link: LinkInfo::default().with_url(self.web_url),
        }
        .observed(origin, sha)
    }
}

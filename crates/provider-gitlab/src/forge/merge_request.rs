//! Merge requests and their approvals: the `Merge Request Hook`, REST merge request
//! objects, and REST approval states. A merge request is a `pull_request`; an approval is a
//! `review` in state `approved`.

use kradle_sync_core::object::{PullRequest, Review};
use kradle_sync_core::{CanonicalEvent, ExternalTarget, LinkInfo, NativeId, Removal, ResourceKind};
use serde::Deserialize;

use crate::delivery::{Delivery, Normalized};
use crate::emit::{Origin, Presence, Subject};
use crate::error::GitlabError;
use crate::wire::{
    CommitRef, Id, LabelName, Links, Nullable, ProjectRef, References, Time, UserRef,
    author_from_actor, present, sorted_names, time,
};

/// A merge request as GitLab sends it: a hook's `object_attributes`, the `merge_request` a
/// note hook embeds, or a REST merge request. Every field but the id may be missing.
#[derive(Debug, Deserialize)]
pub(crate) struct WireMergeRequest {
    id: Id,
    #[serde(default)]
    iid: Option<u64>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    description: Nullable<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    draft: Option<bool>,
    #[serde(default)]
    work_in_progress: Option<bool>,
    #[serde(default)]
    source_branch: Option<String>,
    #[serde(default)]
    target_branch: Option<String>,
    /// REST: the head commit.
    #[serde(default)]
    sha: Option<String>,
    /// Hooks: the head commit.
    #[serde(default)]
    last_commit: Option<CommitRef>,
    #[serde(default, deserialize_with = "present")]
    merge_commit_sha: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    squash_commit_sha: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    merged_at: Nullable<Time>,
    #[serde(default)]
    author: Option<UserRef>,
    #[serde(default)]
    author_id: Option<Id>,
    #[serde(default)]
    labels: Option<Vec<LabelName>>,
    #[serde(default)]
    updated_at: Option<Time>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    web_url: Option<String>,
    #[serde(default, rename = "_links")]
    links: Option<Links>,
    #[serde(default)]
    references: Option<References>,
    #[serde(default)]
    action: Option<String>,
}

impl WireMergeRequest {
    /// The REST id.
    pub fn id(&self) -> Id {
        self.id
    }

    /// The number people use (`!7`).
    pub fn iid(&self) -> Option<u64> {
        self.iid
    }

    /// The head commit, as the hook or REST names it.
    fn head_sha(&self) -> Option<String> {
        self.sha
            .clone()
            .or_else(|| self.last_commit.as_ref().and_then(|c| c.id.clone()))
    }

    /// The merge request's identity.
    pub fn subject(&self, target: Option<ExternalTarget>) -> Subject {
        Subject::new(
            ResourceKind::PullRequest,
            self.id.native(),
            time(self.updated_at),
            target.or_else(|| self.references.as_ref().and_then(References::target)),
            LinkInfo::default()
                .with_number(self.iid)
                .with_url(self.web_url.clone().or_else(|| self.url.clone()))
                .with_api_url(self.links.as_ref().and_then(|l| l.own.clone())),
        )
    }

    /// An observation with every field the object carries. `actor` is the hook's `user`,
    /// which names the author only when it is the author.
    pub fn observed(
        self,
        origin: Origin<'_>,
        target: Option<ExternalTarget>,
        labels: Option<Vec<LabelName>>,
        actor: Option<&UserRef>,
    ) -> CanonicalEvent {
        let subject = self.subject(target);
        let head_sha = self.head_sha();
        let mut presence = Presence::default();
        // GitLab's states: opened, closed, merged, and locked (an open merge request while
        // it is being merged).
        let (state, merged) = match self.state.as_deref().map(str::trim) {
            Some("opened" | "locked" | "reopened") => (Some("open"), Some(false)),
            Some("closed") => (Some("closed"), Some(false)),
            Some("merged") => (Some("closed"), Some(true)),
            _ => (None, self.merged_at.map(|at| at.is_some())),
        };
        let merge_commit_sha = match merged {
            Some(true) => match (self.merge_commit_sha, self.squash_commit_sha) {
                (Some(Some(sha)), _) | (_, Some(Some(sha))) => Some(Some(sha)),
                (Some(None), _) => Some(None),
                (None, _) => None,
            },
            Some(false) => Some(None),
            None => None,
        };
        let author = self
            .author
            .and_then(|a| a.username)
            .or_else(|| author_from_actor(self.author_id, actor));
        let mut pull = PullRequest::default();
        pull.number = presence.take("number", self.iid);
        pull.title = presence.take("title", self.title);
        // The idempotency marker a create embedded is not part of what the host wrote.
        pull.body = presence.take(
            "body",
            self.description
                .map(|b| b.map(|b| kradle_sync_core::marker::strip(&b))),
        );
        pull.state = presence.take("state", state.map(str::to_owned));
        pull.merged = presence.take("merged", merged);
        pull.draft = presence.take("draft", self.draft.or(self.work_in_progress));
        pull.head = presence.take("head", self.source_branch.map(Some));
        pull.head_sha = presence.take("head_sha", head_sha.map(Some));
        pull.base = presence.take("base", self.target_branch.map(Some));
        pull.author = presence.take("author", author.map(Some));
        pull.labels = presence.take("labels", labels.or(self.labels).map(sorted_names));
        pull.merge_commit_sha = presence.take("merge_commit_sha", merge_commit_sha);
        pull.html_url = presence.take("html_url", self.web_url.or(self.url).map(Some));
        subject.observed(origin, presence.fields(&pull))
    }
}

/// The native id of an approval: GitLab approvals have no id of their own, so it is the
/// merge request's REST id and the approver's user id, `<merge request>:<user>`.
pub(crate) fn approval_id(merge_request: Id, user: Id) -> NativeId {
    NativeId::new(format!("{}:{}", merge_request.0, user.0))
}

/// An approval of a merge request by one user.
pub(crate) struct Approval<'a> {
    /// The merge request's REST id.
    pub merge_request: Id,
    /// Its number.
    pub iid: Option<u64>,
    /// The approver.
    pub user: &'a UserRef,
    /// The commit approved, when known.
    pub commit_id: Option<String>,
    /// When it was given, when known.
    pub approved_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The version of the payload that reports it.
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Where it lives.
    pub target: Option<ExternalTarget>,
}

impl Approval<'_> {
    fn subject(&self) -> Option<Subject> {
        let user = self.user.id?;
        Some(Subject::new(
            ResourceKind::Review,
            approval_id(self.merge_request, user),
            self.updated_at,
            self.target.clone(),
            LinkInfo::default(),
        ))
    }

    /// The approval observed (`review` in state `approved`); `None` when the approver has
    /// no id.
    pub fn observed(self, origin: Origin<'_>) -> Option<CanonicalEvent> {
        let subject = self.subject()?;
        let mut presence = Presence::default();
        let mut review = Review::default();
        review.pull_number = presence.take("pull_number", self.iid.map(Some));
        review.state = "approved".to_owned();
        // An approval has no text.
        review.body = None;
        review.author = presence.take("author", self.user.username.clone().map(Some));
        review.commit_id = presence.take("commit_id", self.commit_id.map(Some));
        review.submitted_at = presence.take("submitted_at", self.approved_at.map(Some));
        Some(subject.observed(origin, presence.fields(&review)))
    }

    /// The approval withdrawn; `None` when the approver has no id.
    pub fn removed(self, origin: Origin<'_>) -> Option<CanonicalEvent> {
        Some(self.subject()?.removed(origin, Removal::Deleted))
    }
}

/// One entry of a REST approval state's `approved_by`.
#[derive(Debug, Deserialize)]
struct ApprovedBy {
    user: UserRef,
    #[serde(default)]
    approved_at: Option<Time>,
}

/// A REST approval state (`GET …/merge_requests/:iid/approvals`, and the answer to
/// `POST …/approve`).
#[derive(Debug, Deserialize)]
pub(crate) struct WireApprovals {
    id: Id,
    #[serde(default)]
    iid: Option<u64>,
    #[serde(default)]
    updated_at: Option<Time>,
    #[serde(default)]
    approved_by: Vec<ApprovedBy>,
}

impl WireApprovals {
    /// One `review` observation per approver.
    pub fn observed(self, origin: Origin<'_>) -> Vec<CanonicalEvent> {
        let (id, iid, updated_at) = (self.id, self.iid, time(self.updated_at));
        self.approved_by
            .iter()
            .filter_map(|by| {
                Approval {
                    merge_request: id,
                    iid,
                    user: &by.user,
                    commit_id: None,
                    approved_at: time(by.approved_at),
                    updated_at,
                    target: None,
                }
                .observed(origin)
            })
            .collect()
    }
}

/// A `Merge Request Hook` body.
#[derive(Debug, Deserialize)]
struct MergeRequestPayload {
    #[serde(default)]
    object_kind: Option<String>,
    #[serde(default)]
    user: Option<UserRef>,
    #[serde(default)]
    project: Option<ProjectRef>,
    object_attributes: WireMergeRequest,
    #[serde(default)]
    labels: Option<Vec<LabelName>>,
}

/// Normalizes a `Merge Request Hook` delivery: the merge request as it is after the change,
/// preceded for `approval`/`approved` by the user's approval (observed) and for
/// `unapproval`/`unapproved` by its withdrawal (removed).
pub(crate) fn normalize(delivery: Delivery<'_>, body: &[u8]) -> Result<Normalized, GitlabError> {
    let MergeRequestPayload {
        object_kind,
        user,
        project,
        mut object_attributes,
        labels,
    } = delivery.parse(body)?;
    delivery.check_kind(object_kind.as_deref(), &["merge_request"])?;
    let target = project.as_ref().and_then(ProjectRef::target);
    let action = object_attributes.action.take();
    let event_action = action.clone().unwrap_or_else(|| "merge_request".to_owned());
    let origin = Origin::webhook(delivery.id, &event_action);
    let mut events = Vec::new();
    if let (Some(user), Some(action)) = (user.as_ref(), action.as_deref()) {
        let approval = Approval {
            merge_request: object_attributes.id(),
            iid: object_attributes.iid(),
            user,
            commit_id: object_attributes.head_sha(),
            approved_at: None,
            updated_at: time(object_attributes.updated_at),
            target: target.clone(),
        };
        let review = match action {
            "approval" | "approved" => approval.observed(origin),
            "unapproval" | "unapproved" => approval.removed(origin),
            _ => None,
        };
        events.extend(review);
    }
    events.push(object_attributes.observed(origin, target.clone(), labels, user.as_ref()));
    Ok(Normalized::events(action, target, events))
}

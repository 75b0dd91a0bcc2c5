//! Notes (comments): the `Note Hook` (and `Confidential Note Hook`) and REST note objects.
//! A note on an issue is a `comment`; a note on a merge request is a `review_comment` (its
//! diff position, if any, gives `path` and `commit_id`). Notes on commits and snippets are
//! not synced, and neither are GitLab's system notes.

use kradle_sync_core::object::{Comment, ReviewComment};
use kradle_sync_core::{CanonicalEvent, ExternalTarget, LinkInfo, ResourceKind};
use serde::Deserialize;

use super::issue::{HookContext, WireIssue};
use crate::delivery::{Delivery, Normalized};
use crate::emit::{Origin, Presence, Subject};
use crate::error::GitlabError;
use crate::forge::merge_request::WireMergeRequest;
use crate::wire::{Id, Nullable, ProjectRef, Time, UserRef, author_from_actor, present, time};

/// The reason system notes produce nothing.
pub(crate) const SYSTEM_NOTE: &str = "GitLab system notes record changes GitLab made (a label \
     added, an issue closed, …), which kradle-sync syncs from the objects themselves; they are \
     not user comments";

/// Where a diff note sits.
#[derive(Debug, Deserialize)]
struct Position {
    #[serde(default)]
    new_path: Option<String>,
    #[serde(default)]
    old_path: Option<String>,
    #[serde(default)]
    head_sha: Option<String>,
}

/// The diff of an older hook's diff note (`st_diff`).
#[derive(Debug, Deserialize)]
struct StDiff {
    #[serde(default)]
    new_path: Option<String>,
}

/// A note as GitLab sends it: a hook's `object_attributes` or a REST note.
#[derive(Debug, Deserialize)]
pub(crate) struct WireNote {
    id: Id,
    /// Hooks.
    #[serde(default)]
    note: Option<String>,
    /// REST.
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    noteable_type: Option<String>,
    #[serde(default, deserialize_with = "present")]
    noteable_id: Nullable<Id>,
    #[serde(default)]
    noteable_iid: Option<u64>,
    #[serde(default)]
    system: Option<bool>,
    #[serde(default)]
    author: Option<UserRef>,
    #[serde(default)]
    author_id: Option<Id>,
    #[serde(default)]
    created_at: Option<Time>,
    #[serde(default)]
    updated_at: Option<Time>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    position: Option<Position>,
    #[serde(default)]
    st_diff: Option<StDiff>,
    #[serde(default)]
    commit_id: Option<String>,
    #[serde(default)]
    action: Option<String>,
}

/// The issue or merge request a note belongs to, when the payload names it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Parent {
    /// Its REST id.
    pub id: Option<Id>,
    /// Its number.
    pub iid: Option<u64>,
}

/// What a note is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Noteable {
    /// An issue (including a confidential one).
    Issue,
    /// A merge request.
    MergeRequest,
    /// A commit, a snippet, or anything else GitLab adds.
    Other,
    /// Not said: a REST note of an old or trimmed body without `noteable_type`, read from
    /// a listing that already names its parent.
    Unnamed,
}

impl WireNote {
    /// Whether GitLab wrote it (a system note).
    pub fn is_system(&self) -> bool {
        self.system == Some(true)
    }

    /// What it is on.
    pub fn noteable(&self) -> Noteable {
        match self.noteable_type.as_deref() {
            Some("Issue") => Noteable::Issue,
            Some("MergeRequest") => Noteable::MergeRequest,
            Some(_) => Noteable::Other,
            None => Noteable::Unnamed,
        }
    }

    /// The parent named by the note itself (REST notes name it by id and number).
    fn own_parent(&self) -> Parent {
        Parent {
            id: self.noteable_id.flatten(),
            iid: self.noteable_iid,
        }
    }

    fn subject(&self, kind: ResourceKind, target: Option<ExternalTarget>) -> Subject {
        Subject::new(
            kind,
            self.id.native(),
            time(self.updated_at),
            target,
            LinkInfo::default().with_url(self.url.clone()),
        )
    }

    fn text(&self) -> Option<String> {
        self.note
            .as_deref()
            .or(self.body.as_deref())
            .map(kradle_sync_core::marker::strip)
    }

    /// The note as a `comment` on an issue. A REST note names its issue by `noteable_id`
    /// and `noteable_iid`; a hook by its `issue`.
    pub fn comment(
        self,
        origin: Origin<'_>,
        target: Option<ExternalTarget>,
        parent: Option<Parent>,
        actor: Option<&UserRef>,
    ) -> CanonicalEvent {
        let subject = self.subject(ResourceKind::Comment, target);
        let parent = parent.unwrap_or_else(|| self.own_parent());
        let mut presence = Presence::default();
        let mut comment = Comment::default();
        comment.issue_native_id = presence.take(
            "issue_native_id",
            parent.id.map(|id| Some(id.0.to_string())),
        );
        comment.issue_number = presence.take("issue_number", parent.iid.map(Some));
        comment.body = presence.take("body", self.text());
        comment.author = presence.take("author", self.author_name(actor).map(Some));
        comment.created_at = presence.take("created_at", time(self.created_at).map(Some));
        comment.html_url = presence.take("html_url", self.url.map(Some));
        subject.observed(origin, presence.fields(&comment))
    }

    /// The note as a `review_comment` on a merge request: `path` and `commit_id` come from
    /// a diff note's position and are `null` for a note on the conversation.
    pub fn review_comment(
        self,
        origin: Origin<'_>,
        target: Option<ExternalTarget>,
        parent: Option<Parent>,
        actor: Option<&UserRef>,
    ) -> CanonicalEvent {
        let subject = self.subject(ResourceKind::ReviewComment, target);
        let parent = parent.unwrap_or_else(|| self.own_parent());
        let path = self
            .position
            .as_ref()
            .and_then(|p| p.new_path.clone().or_else(|| p.old_path.clone()))
            .or_else(|| self.st_diff.as_ref().and_then(|d| d.new_path.clone()));
        let commit_id = self
            .position
            .as_ref()
            .and_then(|p| p.head_sha.clone())
            .or_else(|| self.commit_id.clone().filter(|c| !c.is_empty()));
        let mut presence = Presence::default();
        let mut comment = ReviewComment::default();
        comment.pull_number = presence.take("pull_number", parent.iid.map(Some));
        comment.body = presence.take("body", self.text());
        comment.path = path;
        comment.commit_id = commit_id;
        comment.author = presence.take("author", self.author_name(actor).map(Some));
        subject.observed(origin, presence.fields(&comment))
    }

    fn author_name(&self, actor: Option<&UserRef>) -> Option<String> {
        self.author
            .as_ref()
            .and_then(|a| a.username.clone())
            .or_else(|| author_from_actor(self.author_id, actor))
    }
}

/// A `Note Hook` body.
#[derive(Debug, Deserialize)]
struct NotePayload {
    #[serde(default)]
    object_kind: Option<String>,
    #[serde(default)]
    user: Option<UserRef>,
    #[serde(default)]
    project: Option<ProjectRef>,
    object_attributes: WireNote,
    #[serde(default)]
    issue: Option<WireIssue>,
    #[serde(default)]
    merge_request: Option<WireMergeRequest>,
}

/// Normalizes a `Note Hook` or `Confidential Note Hook` delivery: a note on an issue is a
/// `comment`, followed by the issue as the hook embeds it; a note on a merge request is a
/// `review_comment`, followed by the merge request. System notes, and notes on commits and
/// snippets, produce nothing and say why.
pub(crate) fn normalize(delivery: Delivery<'_>, body: &[u8]) -> Result<Normalized, GitlabError> {
    let NotePayload {
        object_kind,
        user,
        project,
        mut object_attributes,
        issue,
        merge_request,
    } = delivery.parse(body)?;
    delivery.check_kind(object_kind.as_deref(), &["note"])?;
    let target = project.as_ref().and_then(ProjectRef::target);
    let action = object_attributes.action.take();
    if object_attributes.is_system() {
        return Ok(Normalized::ignored(action, target, SYSTEM_NOTE));
    }
    let event_action = action.clone().unwrap_or_else(|| "note".to_owned());
    let origin = Origin::webhook(delivery.id, &event_action);
    let events = match object_attributes.noteable() {
        Noteable::Issue => {
            let parent = issue.as_ref().map(|i| Parent {
                id: Some(i.id()),
                iid: i.iid(),
            });
            let mut events =
                vec![object_attributes.comment(origin, target.clone(), parent, user.as_ref())];
            events.extend(
                issue.map(|issue| issue.observed(origin, target.clone(), HookContext::default())),
            );
            events
        }
        Noteable::MergeRequest => {
            let parent = merge_request.as_ref().map(|m| Parent {
                id: Some(m.id()),
                iid: m.iid(),
            });
            let mut events = vec![object_attributes.review_comment(
                origin,
                target.clone(),
                parent,
                user.as_ref(),
            )];
            events.extend(merge_request.map(|mr| mr.observed(origin, target.clone(), None, None)));
            events
        }
        Noteable::Other | Noteable::Unnamed => {
            let what = object_attributes
                .noteable_type
                .as_deref()
                .unwrap_or("an unnamed object");
            return Ok(Normalized::ignored(
                action,
                target,
                format!(
                    "notes on {what} are not synced (kradle-sync syncs comments on issues and \
                     merge requests); the delivery was accepted and produced no events"
                ),
            ));
        }
    };
    Ok(Normalized::events(action, target, events))
}

//! Issues: the `Issue Hook` (and `Confidential Issue Hook`) and REST issue objects.

use kradle_sync_core::object::{Issue, IssueState};
use kradle_sync_core::{CanonicalEvent, ExternalTarget, LinkInfo, ResourceKind};
use serde::Deserialize;

use crate::delivery::{Delivery, Normalized};
use crate::emit::{Origin, Presence, Subject};
use crate::error::GitlabError;
use crate::wire::{
    Id, LabelName, Links, MilestoneRef, Nullable, ProjectRef, References, Time, UserRef,
    author_from_actor, nullable_time, open_or_closed, present, sorted_names, sorted_usernames,
    time,
};

/// An issue as GitLab sends it: a hook's `object_attributes`, the `issue` a note hook
/// embeds, or a REST issue. Every field but the id may be missing.
#[derive(Debug, Deserialize)]
pub(crate) struct WireIssue {
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
    labels: Option<Vec<LabelName>>,
    #[serde(default)]
    assignees: Option<Vec<UserRef>>,
    #[serde(default, deserialize_with = "present")]
    assignee: Nullable<UserRef>,
    #[serde(default)]
    assignee_ids: Option<Vec<Id>>,
    #[serde(default, deserialize_with = "present")]
    milestone: Nullable<MilestoneRef>,
    #[serde(default, deserialize_with = "present")]
    milestone_id: Nullable<Id>,
    #[serde(default, deserialize_with = "present")]
    discussion_locked: Nullable<bool>,
    #[serde(default)]
    author: Option<UserRef>,
    #[serde(default)]
    author_id: Option<Id>,
    #[serde(default)]
    created_at: Option<Time>,
    #[serde(default, deserialize_with = "present")]
    closed_at: Nullable<Time>,
    #[serde(default)]
    updated_at: Option<Time>,
    /// Webhooks.
    #[serde(default)]
    url: Option<String>,
    /// REST.
    #[serde(default)]
    web_url: Option<String>,
    #[serde(default, rename = "_links")]
    links: Option<Links>,
    #[serde(default)]
    references: Option<References>,
    /// REST: how many comments people wrote on it.
    #[serde(default)]
    user_notes_count: Option<u64>,
    /// Webhooks: what happened (`open`, `close`, `reopen`, `update`).
    #[serde(default)]
    action: Option<String>,
}

/// What a hook says about an issue beside its `object_attributes`.
#[derive(Debug, Default)]
pub(crate) struct HookContext<'a> {
    /// The top-level `labels` (the issue's labels after the change).
    pub labels: Option<Vec<LabelName>>,
    /// The top-level `assignees` (users with usernames).
    pub assignees: Option<Vec<UserRef>>,
    /// The user who made the change.
    pub actor: Option<&'a UserRef>,
}

impl WireIssue {
    /// The REST id.
    pub fn id(&self) -> Id {
        self.id
    }

    /// The number people use (`#12`).
    pub fn iid(&self) -> Option<u64> {
        self.iid
    }

    /// The last change.
    pub fn updated_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        time(self.updated_at)
    }

    /// How many user comments it has, when a REST listing says.
    pub fn user_notes_count(&self) -> Option<u64> {
        self.user_notes_count
    }

    /// The issue's identity. `target` is the hook's project; REST objects name it in
    /// `references.full`.
    pub fn subject(&self, target: Option<ExternalTarget>) -> Subject {
        Subject::new(
            ResourceKind::Issue,
            self.id.native(),
            time(self.updated_at),
            target.or_else(|| self.references.as_ref().and_then(References::target)),
            LinkInfo::default()
                .with_number(self.iid)
                .with_url(self.web_url.clone().or_else(|| self.url.clone()))
                .with_api_url(self.links.as_ref().and_then(|l| l.own.clone())),
        )
    }

    /// An observation with every field the object (and its hook) carries.
    pub fn observed(
        self,
        origin: Origin<'_>,
        target: Option<ExternalTarget>,
        hook: HookContext<'_>,
    ) -> CanonicalEvent {
        let subject = self.subject(target);
        let mut presence = Presence::default();
        let state = match self.state.as_deref().and_then(open_or_closed) {
            Some(state) => state,
            None => {
                presence.absent("state");
                IssueState::Open
            }
        };
        let number = presence.take("number", self.iid);
        // The hook's top-level lists are the issue after the change; `object_attributes`
        // and REST carry their own.
        let labels = hook.labels.or(self.labels).map(sorted_names);
        let assignees = match (hook.assignees, self.assignees, self.assignee) {
            (Some(users), _, _) | (None, Some(users), _) => sorted_usernames(users),
            (None, None, Some(user)) => sorted_usernames(user.into_iter().collect()),
            // A hook names assignees only by id: an empty list is known, others are not.
            (None, None, None) => match self.assignee_ids {
                Some(ids) if ids.is_empty() => Some(Vec::new()),
                _ => None,
            },
        };
        // REST names the milestone's iid; a hook only its global id, which is not the
        // number hosts see: known only when there is none.
        let milestone: Nullable<u64> = match (self.milestone, self.milestone_id) {
            (Some(Some(milestone)), _) => milestone.iid.map(Some),
            (Some(None), _) | (None, Some(None)) => Some(None),
            (None, _) => None,
        };
        let author = self
            .author
            .and_then(|a| a.username)
            .or_else(|| author_from_actor(self.author_id, hook.actor));
        let mut issue = Issue::default();
        issue.number = number;
        issue.title = presence.take("title", self.title);
        // The idempotency marker a create embedded is not part of what the host wrote.
        issue.body = presence.take(
            "body",
            self.description
                .map(|b| b.map(|b| kradle_sync_core::marker::strip(&b))),
        );
        issue.state = state;
        // GitLab has no close reason.
        presence.absent("state_reason");
        issue.labels = presence.take("labels", labels);
        issue.assignees = presence.take("assignees", assignees);
        issue.milestone = presence.take("milestone", milestone);
        issue.locked = presence.take("locked", self.discussion_locked.map(|l| l.unwrap_or(false)));
        issue.author = presence.take("author", author.map(Some));
        issue.created_at = presence.take("created_at", time(self.created_at).map(Some));
        issue.closed_at = presence.take("closed_at", nullable_time(self.closed_at));
        issue.html_url = presence.take("html_url", self.web_url.or(self.url).map(Some));
        // GitLab lists merge requests apart from issues.
        issue.pull_request = false;
        subject.observed(origin, presence.fields(&issue))
    }
}

#[derive(Debug, Deserialize)]
struct Previous<T> {
    #[serde(default)]
    current: Option<T>,
}

#[derive(Debug, Default, Deserialize)]
struct IssueChanges {
    #[serde(default)]
    labels: Option<Previous<Vec<LabelName>>>,
}

/// An `Issue Hook` body.
#[derive(Debug, Deserialize)]
struct IssuePayload {
    #[serde(default)]
    object_kind: Option<String>,
    #[serde(default)]
    user: Option<UserRef>,
    #[serde(default)]
    project: Option<ProjectRef>,
    object_attributes: WireIssue,
    #[serde(default)]
    labels: Option<Vec<LabelName>>,
    #[serde(default)]
    assignees: Option<Vec<UserRef>>,
    #[serde(default)]
    changes: Option<IssueChanges>,
}

/// Normalizes an `Issue Hook` or `Confidential Issue Hook` delivery: every action (`open`,
/// `close`, `reopen`, `update`, and any GitLab adds) carries the issue as it is after the
/// change, an observation.
pub(crate) fn normalize(delivery: Delivery<'_>, body: &[u8]) -> Result<Normalized, GitlabError> {
    let IssuePayload {
        object_kind,
        user,
        project,
        mut object_attributes,
        labels,
        assignees,
        changes,
    } = delivery.parse(body)?;
    let target = project.as_ref().and_then(ProjectRef::target);
    let action = object_attributes.action.take();
    delivery.check_kind(object_kind.as_deref(), &["issue", "work_item"])?;
    if let Some(kind) = object_kind.as_deref().filter(|k| *k != "issue") {
        return Ok(Normalized::ignored(
            action,
            target,
            format!(
                "`{}` deliveries about `{kind}` objects (work items other than issues) are not \
                 synced; the delivery was accepted and produced no events",
                delivery.event
            ),
        ));
    }
    let labels = labels.or_else(|| {
        changes
            .unwrap_or_default()
            .labels
            .and_then(|change| change.current)
            .filter(|_| object_attributes.labels.is_none())
    });
    let event_action = action.clone().unwrap_or_else(|| "issue".to_owned());
    let event = object_attributes.observed(
        Origin::webhook(delivery.id, &event_action),
        target.clone(),
        HookContext {
            labels,
            assignees,
            actor: user.as_ref(),
        },
    );
    Ok(Normalized::events(action, target, vec![event]))
}

//! Issues: the `issues` webhook and REST issue objects.

use chrono::{DateTime, Utc};
use kradle_sync_core::object::{Issue, IssueState};
use kradle_sync_core::{CanonicalEvent, ExternalTarget, LinkInfo, Removal, ResourceKind};
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::delivery::{Delivery, Normalized, Outcome};
use crate::emit::{Origin, Presence, Subject};
use crate::error::GithubError;
use crate::wire::{
    IdOnly, LabelName, Nullable, RepoRef, User, native_id, present, sorted_logins, sorted_names,
    target_from_api_url,
};

/// An issue as GitHub sends it in webhooks and REST responses. Every field but the id and
/// number may be missing: some webhook actions (`pinned`, `unpinned`) carry a partial issue.
#[derive(Debug, Deserialize)]
pub(crate) struct WireIssue {
    id: u64,
    number: u64,
    #[serde(default)]
    node_id: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    repository_url: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    body: Nullable<String>,
    #[serde(default)]
    state: Option<IssueState>,
    #[serde(default, deserialize_with = "present")]
    state_reason: Nullable<String>,
    #[serde(default)]
    labels: Option<Vec<LabelName>>,
    #[serde(default)]
    assignees: Option<Vec<User>>,
    #[serde(default, deserialize_with = "present")]
    assignee: Nullable<User>,
    #[serde(default, deserialize_with = "present")]
    milestone: Nullable<MilestoneNumber>,
    #[serde(default)]
    locked: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    user: Nullable<User>,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "present")]
    closed_at: Nullable<DateTime<Utc>>,
    #[serde(default)]
    updated_at: Option<DateTime<Utc>>,
    /// Present (non-null) when the "issue" is a pull request.
    #[serde(default)]
    pull_request: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
struct MilestoneNumber {
    number: u64,
}

impl WireIssue {
    /// The REST id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The number people use.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The issue's identity. `target` is the webhook's repository; REST objects name it
    /// through `repository_url`.
    pub fn subject(&self, target: Option<ExternalTarget>) -> Subject {
        Subject {
            kind: ResourceKind::Issue,
            native_id: native_id(self.id),
            updated_at: self.updated_at,
            target: target.or_else(|| self.repository_url.as_deref().and_then(target_from_api_url)),
            link: LinkInfo::default()
                .with_number(Some(self.number))
                .with_node_id(self.node_id.clone())
                .with_url(self.html_url.clone())
                .with_api_url(self.url.clone()),
        }
    }

    /// An observation with every field the object carries.
    pub fn observed(self, origin: Origin<'_>, target: Option<ExternalTarget>) -> CanonicalEvent {
        let subject = self.subject(target);
        let mut presence = Presence::default();
        let state = match self.state {
            Some(state) => state,
            None => {
                presence.absent("state");
                IssueState::Open
            }
        };
        // GitHub sends `pull_request` only for pull requests, so its absence means "not a
        // pull request" only in a complete object; a partial one (without `state`) says
        // nothing about it.
        let pull_request = presence.take(
            "pull_request",
            self.state.is_some().then_some(self.pull_request.is_some()),
        );
        // `assignees` is the list; the older single `assignee` stands in when it is missing.
        let assignees = match (self.assignees, self.assignee) {
            (Some(users), _) => Some(sorted_logins(users)),
            (None, Some(user)) => Some(sorted_logins(user.into_iter().collect())),
            (None, None) => None,
        };
        let mut issue = Issue::default();
        issue.number = self.number;
        issue.title = presence.take("title", self.title);
        // The idempotency marker a create embedded is not part of what the host wrote.
        issue.body = presence.take(
            "body",
            self.body
                .map(|b| b.map(|b| kradle_sync_core::marker::strip(&b))),
        );
        issue.state = state;
        issue.state_reason = presence.take("state_reason", self.state_reason);
        issue.labels = presence.take("labels", self.labels.map(sorted_names));
        issue.assignees = presence.take("assignees", assignees);
        issue.milestone = presence
            .take("milestone", self.milestone)
            .map(|milestone| milestone.number);
        issue.locked = presence.take("locked", self.locked);
        issue.author = presence.take("author", self.user).map(|user| user.login);
        issue.created_at = presence.take("created_at", self.created_at.map(Some));
        issue.closed_at = presence.take("closed_at", self.closed_at);
        issue.html_url = presence.take("html_url", self.html_url.map(Some));
        issue.pull_request = pull_request;
        subject.observed(origin, presence.fields(&issue))
    }
}

/// The `changes` of an `issues` `transferred` delivery.
#[derive(Debug, Default, Deserialize)]
struct TransferChanges {
    #[serde(default)]
    new_issue: Option<IdOnly>,
    #[serde(default)]
    new_repository: Option<RepoRef>,
}

/// An `issues` webhook body.
#[derive(Debug, Deserialize)]
struct IssuesPayload {
    action: String,
    issue: WireIssue,
    #[serde(default)]
    changes: Option<TransferChanges>,
    #[serde(default)]
    repository: Option<RepoRef>,
}

/// Normalizes an `issues` delivery.
pub(crate) fn normalize(delivery: Delivery<'_>, body: &[u8]) -> Result<Normalized, GithubError> {
    let IssuesPayload {
        action,
        issue,
        changes,
        repository,
    } = delivery.parse(body)?;
    let target = repository.as_ref().map(RepoRef::target);
    // Pull requests are issues in GitHub's model: `issues` events about one (milestoned,
    // labeled, …) describe its issue side, which REST lists among issues too, so both are
    // projected the same way and converge.
    let outcome = {
        let origin = Origin::webhook(delivery.id, &action);
        let subject_target = target.clone();
        Outcome::Events(vec![match action.as_str() {
            "deleted" => issue
                .subject(subject_target)
                .removed(origin, Removal::Deleted),
            "transferred" => {
                let changes = changes.unwrap_or_default();
                let removal = Removal::Transferred {
                    new_native_id: changes.new_issue.map(|new_issue| native_id(new_issue.id)),
                    new_target: changes.new_repository.as_ref().map(RepoRef::target),
                };
                issue.subject(subject_target).removed(origin, removal)
            }
            // Every other action (opened, edited, closed, reopened, assigned, labeled,
            // locked, milestoned, pinned, and any action GitHub adds later) carries the issue
            // as it is after the change: an observation.
            _ => issue.observed(origin, subject_target),
        }])
    };
    Ok(Normalized {
        action: Some(action),
        target,
        outcome,
    })
}

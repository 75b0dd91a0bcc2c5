//! Issue comments: the `issue_comment` webhook and REST issue comment objects.

use chrono::{DateTime, Utc};
use kradle_sync_core::object::Comment;
use kradle_sync_core::{CanonicalEvent, ExternalTarget, LinkInfo, Removal, ResourceKind};
use serde::Deserialize;

use super::issue::WireIssue;
use crate::delivery::{Delivery, Normalized, Outcome};
use crate::emit::{Origin, Presence, Subject};
use crate::error::GithubError;
use crate::wire::{
    Nullable, RepoRef, User, native_id, present, target_from_api_url, trailing_number,
};

/// A comment as GitHub sends it in webhooks and REST responses.
#[derive(Debug, Deserialize)]
pub(crate) struct WireComment {
    id: u64,
    #[serde(default)]
    node_id: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    issue_url: Option<String>,
    #[serde(default, deserialize_with = "present")]
    body: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    user: Nullable<User>,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    updated_at: Option<DateTime<Utc>>,
}

/// The issue a comment belongs to, when the payload names it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Parent {
    id: u64,
    number: u64,
}

impl WireComment {
    /// The comment's identity; REST objects name their repository through `url`.
    pub fn subject(&self, target: Option<ExternalTarget>) -> Subject {
        Subject {
            kind: ResourceKind::Comment,
            native_id: native_id(self.id),
            updated_at: self.updated_at,
            target: target.or_else(|| self.url.as_deref().and_then(target_from_api_url)),
            link: LinkInfo::default()
                .with_number(None)
                .with_node_id(self.node_id.clone())
                .with_url(self.html_url.clone())
                .with_api_url(self.url.clone()),
        }
    }

    /// An observation with every field the object carries. A REST comment names its issue
    /// only by `issue_url`, so its issue's native id is absent (never guessed).
    pub fn observed(
        self,
        origin: Origin<'_>,
        target: Option<ExternalTarget>,
        parent: Option<Parent>,
    ) -> CanonicalEvent {
        let subject = self.subject(target);
        let mut presence = Presence::default();
        let issue_number = parent
            .map(|p| p.number)
            .or_else(|| self.issue_url.as_deref().and_then(trailing_number));
        let mut comment = Comment::default();
        comment.issue_native_id =
            presence.take("issue_native_id", parent.map(|p| Some(p.id.to_string())));
        comment.issue_number = presence.take("issue_number", issue_number.map(Some));
        // GitHub never sends a comment without text; a missing or null body is absent.
        comment.body = presence.take(
            "body",
            self.body
                .flatten()
                .map(|b| kradle_sync_core::marker::strip(&b)),
        );
        comment.author = presence.take("author", self.user).map(|user| user.login);
        comment.created_at = presence.take("created_at", self.created_at.map(Some));
        comment.html_url = presence.take("html_url", self.html_url.map(Some));
        subject.observed(origin, presence.fields(&comment))
    }
}

/// An `issue_comment` webhook body.
#[derive(Debug, Deserialize)]
struct IssueCommentPayload {
    action: String,
    issue: WireIssue,
    comment: WireComment,
    #[serde(default)]
    repository: Option<RepoRef>,
}

/// Normalizes an `issue_comment` delivery: the comment, and the issue it is on (the payload
/// carries the whole issue as it was when the comment changed).
pub(crate) fn normalize(delivery: Delivery<'_>, body: &[u8]) -> Result<Normalized, GithubError> {
    let IssueCommentPayload {
        action,
        issue,
        comment,
        repository,
    } = delivery.parse(body)?;
    let target = repository.as_ref().map(RepoRef::target);
    let origin = Origin::webhook(delivery.id, &action);
    let parent = Parent {
        id: issue.id(),
        number: issue.number(),
    };
    let comment_event = match action.as_str() {
        "created" | "edited" => comment.observed(origin, target.clone(), Some(parent)),
        "deleted" => comment
            .subject(target.clone())
            .removed(origin, Removal::Deleted),
        other => {
            let outcome = delivery.unknown_action(other);
            return Ok(Normalized {
                action: Some(action),
                target,
                outcome,
            });
        }
    };
    // Comments on a pull request's conversation arrive here too; the issue side of the
    // pull request is projected like any issue (marked `pull_request: true`).
    let events = vec![comment_event, issue.observed(origin, target.clone())];
    Ok(Normalized {
        action: Some(action),
        target,
        outcome: Outcome::Events(events),
    })
}

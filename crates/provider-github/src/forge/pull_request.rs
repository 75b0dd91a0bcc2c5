//! Pull requests, their reviews and review comments: the `pull_request`,
//! `pull_request_review` and `pull_request_review_comment` webhooks and REST objects.

use chrono::{DateTime, Utc};
use kradle_sync_core::object::{PullRequest, Review, ReviewComment};
use kradle_sync_core::{CanonicalEvent, ExternalTarget, LinkInfo, Removal, ResourceKind};
use serde::Deserialize;

use crate::delivery::{Delivery, Normalized, Outcome};
use crate::emit::{Origin, Presence, Subject};
use crate::error::GithubError;
use crate::wire::{
    LabelName, Nullable, RepoRef, User, native_id, present, sorted_names, target_from_api_url,
    trailing_number,
};

/// A branch end of a pull request (`head` or `base`).
#[derive(Debug, Deserialize)]
struct Branch {
    #[serde(rename = "ref")]
    name: String,
    #[serde(default)]
    sha: Option<String>,
}

/// A pull request as GitHub sends it. Review payloads embed a shorter form without
/// `merged` or `draft`; missing keys stay absent.
#[derive(Debug, Deserialize)]
pub(crate) struct WirePullRequest {
    id: u64,
    number: u64,
    #[serde(default)]
    node_id: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    body: Nullable<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    merged: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    merged_at: Nullable<DateTime<Utc>>,
    #[serde(default)]
    draft: Option<bool>,
    #[serde(default)]
    head: Option<Branch>,
    #[serde(default)]
    base: Option<Branch>,
    #[serde(default, deserialize_with = "present")]
    user: Nullable<User>,
    #[serde(default)]
    labels: Option<Vec<LabelName>>,
    #[serde(default, deserialize_with = "present")]
    merge_commit_sha: Nullable<String>,
    #[serde(default)]
    updated_at: Option<DateTime<Utc>>,
}

impl WirePullRequest {
    /// The pull request's identity.
    pub fn subject(&self, target: Option<ExternalTarget>) -> Subject {
        Subject {
            kind: ResourceKind::PullRequest,
            native_id: native_id(self.id),
            updated_at: self.updated_at,
            target: target.or_else(|| self.url.as_deref().and_then(target_from_api_url)),
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
        // `merged` is missing from listings and review payloads; `merged_at` says the same.
        let merged = self.merged.or(self.merged_at.map(|at| at.is_some()));
        // Until a pull request is merged GitHub's `merge_commit_sha` is a throwaway test
        // merge that changes without the pull request changing: keep it only once merged.
        let merge_commit_sha = match (merged, self.merge_commit_sha) {
            (Some(true), sha) => sha,
            (Some(false), _) => Some(None),
            (None, _) => None,
        };
        let (head, head_sha) = match self.head {
            Some(head) => (Some(Some(head.name)), head.sha.map(Some)),
            None => (None, None),
        };
        let mut pull = PullRequest::default();
        pull.number = self.number;
        pull.title = presence.take("title", self.title);
        // The idempotency marker a create embedded is not part of what the host wrote.
        pull.body = presence.take(
            "body",
            self.body
                .map(|b| b.map(|b| kradle_sync_core::marker::strip(&b))),
        );
        pull.state = presence.take("state", self.state);
        pull.merged = presence.take("merged", merged);
        pull.draft = presence.take("draft", self.draft);
        pull.head = presence.take("head", head);
        pull.head_sha = presence.take("head_sha", head_sha);
        pull.base = presence.take("base", self.base.map(|base| Some(base.name)));
        pull.author = presence.take("author", self.user).map(|user| user.login);
        pull.labels = presence.take("labels", self.labels.map(sorted_names));
        pull.merge_commit_sha = presence.take("merge_commit_sha", merge_commit_sha);
        pull.html_url = presence.take("html_url", self.html_url.map(Some));
        subject.observed(origin, presence.fields(&pull))
    }
}

/// A review as GitHub sends it. Webhooks spell the state in lower case, REST in upper case;
/// the canonical review uses lower case.
#[derive(Debug, Deserialize)]
pub(crate) struct WireReview {
    id: u64,
    #[serde(default)]
    node_id: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    pull_request_url: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default, deserialize_with = "present")]
    body: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    user: Nullable<User>,
    #[serde(default, deserialize_with = "present")]
    commit_id: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    submitted_at: Nullable<DateTime<Utc>>,
}

impl WireReview {
    /// An observation. Reviews have no `updated_at`; their version is `submitted_at`.
    pub fn observed(
        self,
        origin: Origin<'_>,
        target: Option<ExternalTarget>,
        pull_number: Option<u64>,
    ) -> CanonicalEvent {
        let pull_number =
            pull_number.or_else(|| self.pull_request_url.as_deref().and_then(trailing_number));
        let subject = Subject {
            kind: ResourceKind::Review,
            native_id: native_id(self.id),
            updated_at: self.submitted_at.flatten(),
            target: target.or_else(|| {
                self.pull_request_url
                    .as_deref()
                    .and_then(target_from_api_url)
            }),
            link: LinkInfo::default()
                .with_number(None)
                .with_node_id(self.node_id)
                .with_url(self.html_url)
                .with_api_url(None),
        };
        let mut presence = Presence::default();
        let mut review = Review::default();
        review.pull_number = presence.take("pull_number", pull_number.map(Some));
        review.state = presence.take("state", self.state.map(|s| s.to_ascii_lowercase()));
        review.body = presence.take("body", self.body);
        review.author = presence.take("author", self.user).map(|user| user.login);
        review.commit_id = presence.take("commit_id", self.commit_id);
        review.submitted_at = presence.take("submitted_at", self.submitted_at);
        subject.observed(origin, presence.fields(&review))
    }
}

/// A review comment as GitHub sends it.
#[derive(Debug, Deserialize)]
pub(crate) struct WireReviewComment {
    id: u64,
    #[serde(default)]
    node_id: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    pull_request_url: Option<String>,
    #[serde(default, deserialize_with = "present")]
    body: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    path: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    commit_id: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    user: Nullable<User>,
    #[serde(default)]
    updated_at: Option<DateTime<Utc>>,
}

impl WireReviewComment {
    fn subject(&self, target: Option<ExternalTarget>) -> Subject {
        Subject {
            kind: ResourceKind::ReviewComment,
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

    /// An observation with every field the object carries.
    pub fn observed(
        self,
        origin: Origin<'_>,
        target: Option<ExternalTarget>,
        pull_number: Option<u64>,
    ) -> CanonicalEvent {
        let subject = self.subject(target);
        let pull_number =
            pull_number.or_else(|| self.pull_request_url.as_deref().and_then(trailing_number));
        let mut presence = Presence::default();
        let mut comment = ReviewComment::default();
        comment.pull_number = presence.take("pull_number", pull_number.map(Some));
        comment.body = presence.take("body", self.body.flatten());
        comment.path = presence.take("path", self.path);
        comment.commit_id = presence.take("commit_id", self.commit_id);
        comment.author = presence.take("author", self.user).map(|user| user.login);
        subject.observed(origin, presence.fields(&comment))
    }
}

/// A `pull_request` webhook body.
#[derive(Debug, Deserialize)]
struct PullRequestPayload {
    action: String,
    pull_request: WirePullRequest,
    #[serde(default)]
    repository: Option<RepoRef>,
}

/// Normalizes a `pull_request` delivery: every action carries the pull request as it is
/// after the change (pull requests cannot be deleted).
pub(crate) fn normalize(delivery: Delivery<'_>, body: &[u8]) -> Result<Normalized, GithubError> {
    let PullRequestPayload {
        action,
        pull_request,
        repository,
    } = delivery.parse(body)?;
    let target = repository.as_ref().map(RepoRef::target);
    let event = pull_request.observed(Origin::webhook(delivery.id, &action), target.clone());
    Ok(Normalized {
        action: Some(action),
        target,
        outcome: Outcome::Events(vec![event]),
    })
}

/// A `pull_request_review` webhook body.
#[derive(Debug, Deserialize)]
struct ReviewPayload {
    action: String,
    review: WireReview,
    pull_request: WirePullRequest,
    #[serde(default)]
    repository: Option<RepoRef>,
}

/// Normalizes a `pull_request_review` delivery: the review, then the pull request it is on.
pub(crate) fn normalize_review(
    delivery: Delivery<'_>,
    body: &[u8],
) -> Result<Normalized, GithubError> {
    let ReviewPayload {
        action,
        review,
        pull_request,
        repository,
    } = delivery.parse(body)?;
    let target = repository.as_ref().map(RepoRef::target);
    let origin = Origin::webhook(delivery.id, &action);
    let outcome = match action.as_str() {
        "submitted" | "edited" | "dismissed" => {
            let number = Some(pull_request.number);
            Outcome::Events(vec![
                review.observed(origin, target.clone(), number),
                pull_request.observed(origin, target.clone()),
            ])
        }
        other => delivery.unknown_action(other),
    };
    Ok(Normalized {
        action: Some(action),
        target,
        outcome,
    })
}

/// A `pull_request_review_comment` webhook body.
#[derive(Debug, Deserialize)]
struct ReviewCommentPayload {
    action: String,
    comment: WireReviewComment,
    pull_request: WirePullRequest,
    #[serde(default)]
    repository: Option<RepoRef>,
}

/// Normalizes a `pull_request_review_comment` delivery: the comment, then the pull request.
pub(crate) fn normalize_review_comment(
    delivery: Delivery<'_>,
    body: &[u8],
) -> Result<Normalized, GithubError> {
    let ReviewCommentPayload {
        action,
        comment,
        pull_request,
        repository,
    } = delivery.parse(body)?;
    let target = repository.as_ref().map(RepoRef::target);
    let origin = Origin::webhook(delivery.id, &action);
    let number = Some(pull_request.number);
    let comment_event = match action.as_str() {
        "created" | "edited" => comment.observed(origin, target.clone(), number),
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
    let events = vec![comment_event, pull_request.observed(origin, target.clone())];
    Ok(Normalized {
        action: Some(action),
        target,
        outcome: Outcome::Events(events),
    })
}

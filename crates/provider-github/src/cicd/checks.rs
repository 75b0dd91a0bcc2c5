//! Checks and statuses: the `check_run`, `check_suite` and `status` webhooks and REST check
//! run, check suite and commit status objects.

use chrono::{DateTime, Utc};
use kradle_sync_core::object::{CheckRun, CheckSuite, CommitStatus};
use kradle_sync_core::{CanonicalEvent, ExternalTarget, LinkInfo, ResourceKind};
use serde::Deserialize;

use crate::delivery::{Delivery, Normalized, Outcome};
use crate::emit::{Origin, Presence, Subject};
use crate::error::GithubError;
use crate::wire::{Nullable, RepoRef, native_id, present, target_from_api_url};

/// The app that owns a check, named by its slug.
#[derive(Debug, Deserialize)]
struct App {
    #[serde(default)]
    slug: Option<String>,
}

/// `app.slug`: absent when the payload's app object has no slug (never replaced by the
/// app's display name, which other payloads would not match).
fn app_slug(app: Nullable<App>) -> Option<Option<String>> {
    match app {
        None => None,
        Some(None) => Some(None),
        Some(Some(app)) => app.slug.map(Some),
    }
}

#[derive(Debug, Deserialize)]
struct Output {
    #[serde(default, deserialize_with = "present")]
    title: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    summary: Nullable<String>,
}

/// A check run as GitHub sends it. Check runs have no `updated_at`: their version is the
/// latest of `completed_at` and `started_at`.
#[derive(Debug, Deserialize)]
pub(crate) struct WireCheckRun {
    id: u64,
    #[serde(default)]
    node_id: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    head_sha: Option<String>,
    #[serde(default, deserialize_with = "present")]
    status: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    conclusion: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    details_url: Nullable<String>,
    #[serde(default)]
    output: Option<Output>,
    #[serde(default, deserialize_with = "present")]
    app: Nullable<App>,
    #[serde(default, deserialize_with = "present")]
    started_at: Nullable<DateTime<Utc>>,
    #[serde(default, deserialize_with = "present")]
    completed_at: Nullable<DateTime<Utc>>,
}

impl WireCheckRun {
    /// An observation with every field the object carries.
    pub fn observed(self, origin: Origin<'_>, target: Option<ExternalTarget>) -> CanonicalEvent {
        let started = self.started_at.flatten();
        let completed = self.completed_at.flatten();
        let subject = Subject {
            kind: ResourceKind::CheckRun,
            native_id: native_id(self.id),
            updated_at: completed.max(started),
            target: target.or_else(|| self.url.as_deref().and_then(target_from_api_url)),
            link: LinkInfo::default()
                .with_number(None)
                .with_node_id(self.node_id)
                .with_url(self.html_url)
                .with_api_url(self.url),
        };
        let (title, summary) = match self.output {
            Some(output) => (output.title, output.summary),
            None => (None, None),
        };
        let mut presence = Presence::default();
        let mut check = CheckRun::default();
        check.name = presence.take("name", self.name);
        check.head_sha = presence.take("head_sha", self.head_sha);
        check.status = presence.take("status", self.status);
        check.conclusion = presence.take("conclusion", self.conclusion);
        check.details_url = presence.take("details_url", self.details_url);
        check.output_title = presence.take("output_title", title);
        check.output_summary = presence.take("output_summary", summary);
        check.app = presence.take("app", app_slug(self.app));
        check.started_at = presence.take("started_at", self.started_at);
        check.completed_at = presence.take("completed_at", self.completed_at);
        subject.observed(origin, presence.fields(&check))
    }
}

/// A check suite as GitHub sends it.
#[derive(Debug, Deserialize)]
pub(crate) struct WireCheckSuite {
    id: u64,
    #[serde(default)]
    node_id: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    head_sha: Option<String>,
    #[serde(default, deserialize_with = "present")]
    head_branch: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    status: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    conclusion: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    app: Nullable<App>,
    #[serde(default)]
    updated_at: Option<DateTime<Utc>>,
}

impl WireCheckSuite {
    /// An observation with every field the object carries.
    pub fn observed(self, origin: Origin<'_>, target: Option<ExternalTarget>) -> CanonicalEvent {
        let subject = Subject {
            kind: ResourceKind::CheckSuite,
            native_id: native_id(self.id),
            updated_at: self.updated_at,
            target: target.or_else(|| self.url.as_deref().and_then(target_from_api_url)),
            link: LinkInfo::default()
                .with_number(None)
                .with_node_id(self.node_id)
                .with_url(None)
                .with_api_url(self.url),
        };
        let mut presence = Presence::default();
        let mut suite = CheckSuite::default();
        suite.head_sha = presence.take("head_sha", self.head_sha);
        suite.head_branch = presence.take("head_branch", self.head_branch);
        suite.status = presence.take("status", self.status);
        suite.conclusion = presence.take("conclusion", self.conclusion);
        suite.app = presence.take("app", app_slug(self.app));
        subject.observed(origin, presence.fields(&suite))
    }
}

/// A commit status as GitHub sends it: the `status` webhook body itself, or a REST status
/// (which names its commit only in its `url`).
#[derive(Debug, Deserialize)]
pub(crate) struct WireStatus {
    id: u64,
    #[serde(default)]
    node_id: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    sha: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default, deserialize_with = "present")]
    context: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    description: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    target_url: Nullable<String>,
    #[serde(default)]
    updated_at: Option<DateTime<Utc>>,
    /// Only in the `status` webhook body.
    #[serde(default)]
    repository: Option<RepoRef>,
}

impl WireStatus {
    /// An observation with every field the object carries.
    pub fn observed(self, origin: Origin<'_>, target: Option<ExternalTarget>) -> CanonicalEvent {
        let sha = self.sha.or_else(|| {
            let url = self.url.as_deref()?;
            let (_, sha) = url.rsplit_once("/statuses/")?;
            Some(sha.to_owned())
        });
        let subject = Subject {
            kind: ResourceKind::CommitStatus,
            native_id: native_id(self.id),
            updated_at: self.updated_at,
            target: target.or_else(|| self.url.as_deref().and_then(target_from_api_url)),
            link: LinkInfo::default()
                .with_number(None)
                .with_node_id(self.node_id)
                .with_url(None)
                .with_api_url(self.url),
        };
        let mut presence = Presence::default();
        let mut status = CommitStatus::default();
        status.sha = presence.take("sha", sha);
        status.state = presence.take("state", self.state);
        status.context = presence.take("context", self.context);
        status.description = presence.take("description", self.description);
        status.target_url = presence.take("target_url", self.target_url);
        subject.observed(origin, presence.fields(&status))
    }
}

/// A `check_run` webhook body.
#[derive(Debug, Deserialize)]
struct CheckRunPayload {
    action: String,
    check_run: WireCheckRun,
    #[serde(default)]
    repository: Option<RepoRef>,
}

/// Normalizes a `check_run` delivery. `requested_action` (a person pressed one of the
/// check's buttons) asks the check's app to act and does not change the check run.
pub(crate) fn normalize_check_run(
    delivery: Delivery<'_>,
    body: &[u8],
) -> Result<Normalized, GithubError> {
    let CheckRunPayload {
        action,
        check_run,
        repository,
    } = delivery.parse(body)?;
    let target = repository.as_ref().map(RepoRef::target);
    let outcome = match action.as_str() {
        "created" | "completed" | "rerequested" => Outcome::Events(vec![
            check_run.observed(Origin::webhook(delivery.id, &action), target.clone()),
        ]),
        "requested_action" => Outcome::Ignored(
            "check_run `requested_action` asks the check's app to perform an action; the \
             check run itself did not change"
                .to_owned(),
        ),
        other => delivery.unknown_action(other),
    };
    Ok(Normalized {
        action: Some(action),
        target,
        outcome,
    })
}

/// A `check_suite` webhook body.
#[derive(Debug, Deserialize)]
struct CheckSuitePayload {
    action: String,
    check_suite: WireCheckSuite,
    #[serde(default)]
    repository: Option<RepoRef>,
}

/// Normalizes a `check_suite` delivery (`requested`, `rerequested`, `completed`).
pub(crate) fn normalize_check_suite(
    delivery: Delivery<'_>,
    body: &[u8],
) -> Result<Normalized, GithubError> {
    let CheckSuitePayload {
        action,
        check_suite,
        repository,
    } = delivery.parse(body)?;
    let target = repository.as_ref().map(RepoRef::target);
    let outcome = match action.as_str() {
        "requested" | "rerequested" | "completed" => Outcome::Events(vec![
            check_suite.observed(Origin::webhook(delivery.id, &action), target.clone()),
        ]),
        other => delivery.unknown_action(other),
    };
    Ok(Normalized {
        action: Some(action),
        target,
        outcome,
    })
}

/// Normalizes a `status` delivery (a commit status was created; it has no action).
pub(crate) fn normalize_status(
    delivery: Delivery<'_>,
    body: &[u8],
) -> Result<Normalized, GithubError> {
    // The body is the status itself, with the repository beside its fields.
    let mut status: WireStatus = delivery.parse(body)?;
    let target = status.repository.take().as_ref().map(RepoRef::target);
    let event = status.observed(Origin::webhook(delivery.id, "status"), target.clone());
    Ok(Normalized {
        action: None,
        target,
        outcome: Outcome::Events(vec![event]),
    })
}

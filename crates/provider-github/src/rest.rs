//! REST objects (backfill and hydrate reads) as authoritative events.

use kradle_sync_core::{CanonicalEvent, DeliveryId, ResourceKind};
use serde::Deserialize;
use serde_json::Value;

use crate::cicd::{actions, checks};
use crate::emit::Origin;
use crate::error::GithubError;
use crate::forge::{git_ref, pull_request, repository};
use crate::issue_tracking::{comment, issue, label, milestone};

/// The kinds [`parse`] reads.
const SUPPORTED: &str = "issue, comment, label, milestone, pipeline (workflow run), job, \
                         check_run, check_suite, commit_status, runner, artifact, repository, \
                         pull_request, review, review_comment, ref, deploy_key, collaborator";

fn read<'a, T: Deserialize<'a>>(kind: ResourceKind, value: &'a Value) -> Result<T, GithubError> {
    let context = || format!("REST {kind} object");
    if !value.is_object() {
        let found = match value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array (pass the items of a list one by one)",
            Value::Object(_) => "an object",
        };
        return Err(GithubError::Shape {
            context: context(),
            detail: format!("expected a JSON object, found {found}"),
        });
    }
    T::deserialize(value).map_err(|source| GithubError::Json {
        context: context(),
        source,
    })
}

/// Parses one REST object of `kind` into an authoritative observation.
pub(crate) fn parse(
    kind: ResourceKind,
    value: &Value,
    read_id: &DeliveryId,
) -> Result<Option<CanonicalEvent>, GithubError> {
    let origin = Origin::rest(read_id);
    let event = match kind {
        ResourceKind::Issue => {
            // GitHub lists pull requests among issues: their issue side is projected like
            // any issue (marked `pull_request: true`), as `issues` webhooks about them are.
            read::<issue::WireIssue>(kind, value)?.observed(origin, None)
        }
        ResourceKind::Comment => {
            read::<comment::WireComment>(kind, value)?.observed(origin, None, None)
        }
        ResourceKind::Label => read::<label::WireLabel>(kind, value)?.observed(origin, None),
        ResourceKind::Milestone => {
            read::<milestone::WireMilestone>(kind, value)?.observed(origin, None)
        }
        ResourceKind::Pipeline => read::<actions::WireRun>(kind, value)?.observed(origin, None),
        ResourceKind::Job => read::<actions::WireJob>(kind, value)?.observed(origin, None),
        ResourceKind::Runner => read::<actions::WireRunner>(kind, value)?.observed(origin),
        ResourceKind::Artifact => read::<actions::WireArtifact>(kind, value)?.observed(origin),
        ResourceKind::CheckRun => read::<checks::WireCheckRun>(kind, value)?.observed(origin, None),
        ResourceKind::CheckSuite => {
            read::<checks::WireCheckSuite>(kind, value)?.observed(origin, None)
        }
        ResourceKind::CommitStatus => {
            read::<checks::WireStatus>(kind, value)?.observed(origin, None)
        }
        ResourceKind::Repository => {
            read::<repository::WireRepository>(kind, value)?.observed(origin, None)
        }
        ResourceKind::Collaborator => {
            read::<repository::WireCollaborator>(kind, value)?.observed(origin, None, None)
        }
        ResourceKind::DeployKey => {
            read::<repository::WireDeployKey>(kind, value)?.observed(origin, None)
        }
        ResourceKind::PullRequest => {
            read::<pull_request::WirePullRequest>(kind, value)?.observed(origin, None)
        }
        ResourceKind::Review => {
            read::<pull_request::WireReview>(kind, value)?.observed(origin, None, None)
        }
        ResourceKind::ReviewComment => {
            read::<pull_request::WireReviewComment>(kind, value)?.observed(origin, None, None)
        }
        ResourceKind::Ref => read::<git_ref::WireRef>(kind, value)?.observed(origin),
        other => {
            return Err(GithubError::Unsupported {
                kind: other,
                detail: format!(
                    "parsing from GitHub REST objects; the GitHub provider parses {SUPPORTED}"
                ),
            });
        }
    };
    Ok(Some(event))
}

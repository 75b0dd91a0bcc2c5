//! REST objects (backfill and hydrate reads) as authoritative events.

use kradle_sync_core::{CanonicalEvent, DeliveryId, ResourceKind};
use serde::Deserialize;
use serde_json::Value;

use crate::cicd::{commit_status, job, pipeline, runner};
use crate::emit::Origin;
use crate::error::GitlabError;
use crate::forge::{deploy_key, git_ref, member, merge_request, project, protected_branch};
use crate::issue_tracking::issue::HookContext;
use crate::issue_tracking::{issue, label, milestone, note};

/// The kinds [`parse`] reads.
const SUPPORTED: &str = "issue, comment (issue notes), label, milestone, pull_request (merge \
                         request), review_comment (merge request notes), pipeline, job, \
                         artifact (a job's archive), runner, commit_status, repository \
                         (project), ref (branch or tag), deploy_key, collaborator (member), \
                         branch_protection (protected branch)";

/// Reads `value` as `T`, refusing anything but a JSON object.
pub(crate) fn read<'a, T: Deserialize<'a>>(
    kind: ResourceKind,
    value: &'a Value,
) -> Result<T, GitlabError> {
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
        return Err(GitlabError::Shape {
            context: context(),
            detail: format!("expected a JSON object, found {found}"),
        });
    }
    T::deserialize(value).map_err(|source| GitlabError::Json {
        context: context(),
        source,
    })
}

/// Parses one REST object of `kind` into an authoritative observation. `Ok(None)` is an
/// item listed under `kind` that is not one: a system note, or a note on something else,
/// listed among comments; a job without artifacts read as an artifact.
pub(crate) fn parse(
    kind: ResourceKind,
    value: &Value,
    read_id: &DeliveryId,
) -> Result<Option<CanonicalEvent>, GitlabError> {
    let origin = Origin::rest(read_id);
    let event = match kind {
        ResourceKind::Issue => Some(read::<issue::WireIssue>(kind, value)?.observed(
            origin,
            None,
            HookContext::default(),
        )),
        ResourceKind::Comment => {
            let note = read::<note::WireNote>(kind, value)?;
            let on_issue = matches!(
                note.noteable(),
                note::Noteable::Issue | note::Noteable::Unnamed
            );
            (!note.is_system() && on_issue).then(|| note.comment(origin, None, None, None))
        }
        ResourceKind::ReviewComment => {
            let note = read::<note::WireNote>(kind, value)?;
            let on_merge_request = matches!(
                note.noteable(),
                note::Noteable::MergeRequest | note::Noteable::Unnamed
            );
            (!note.is_system() && on_merge_request)
                .then(|| note.review_comment(origin, None, None, None))
        }
        ResourceKind::Label => Some(read::<label::WireLabel>(kind, value)?.observed(origin, None)),
        ResourceKind::Milestone => {
            Some(read::<milestone::WireMilestone>(kind, value)?.observed(origin, None))
        }
        ResourceKind::PullRequest => Some(
            read::<merge_request::WireMergeRequest>(kind, value)?
                .observed(origin, None, None, None),
        ),
        ResourceKind::Pipeline => {
            Some(read::<pipeline::WirePipeline>(kind, value)?.observed(origin, None, None))
        }
        ResourceKind::Job => read::<job::WireJob>(kind, value)?.observed(origin),
        ResourceKind::Artifact => read::<job::WireJob>(kind, value)?.artifact(origin, None),
        ResourceKind::Runner => Some(read::<runner::WireRunner>(kind, value)?.observed(origin)),
        ResourceKind::CommitStatus => {
            Some(read::<commit_status::WireCommitStatus>(kind, value)?.observed(origin, None))
        }
        ResourceKind::Repository => {
            Some(read::<project::WireProject>(kind, value)?.observed(origin, None))
        }
        ResourceKind::Ref => Some(read::<git_ref::WireRef>(kind, value)?.observed(origin, None)),
        ResourceKind::DeployKey => {
            Some(read::<deploy_key::WireDeployKey>(kind, value)?.observed(origin, None))
        }
        ResourceKind::Collaborator => {
            Some(read::<member::WireMember>(kind, value)?.observed(origin, None))
        }
        ResourceKind::BranchProtection => {
            if !value.is_object() {
                read::<serde::de::IgnoredAny>(kind, value)?;
            }
            Some(
                protected_branch::observed(value, origin, None).ok_or_else(|| {
                    GitlabError::Shape {
                        context: format!("REST {kind} object"),
                        detail: "a protected branch without a `name`".to_owned(),
                    }
                })?,
            )
        }
        other => {
            return Err(GitlabError::Unsupported {
                kind: other,
                detail: format!(
                    "parsing {other} from GitLab REST objects; the GitLab provider parses \
                     {SUPPORTED} (approvals list several reviews: read them with list_reviews)"
                ),
            });
        }
    };
    Ok(event)
}

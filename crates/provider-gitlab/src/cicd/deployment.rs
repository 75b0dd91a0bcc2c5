//! Deployments: the `Deployment Hook`.

use kradle_sync_core::object::Deployment;
use kradle_sync_core::{LinkInfo, ResourceKind};
use serde::Deserialize;

use super::status;
use crate::delivery::{Delivery, Normalized};
use crate::emit::{Origin, Presence, Subject};
use crate::error::GitlabError;
use crate::wire::{Id, ProjectRef, Time, time};

/// A `Deployment Hook` body.
#[derive(Debug, Deserialize)]
struct DeploymentPayload {
    #[serde(default)]
    object_kind: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    status_changed_at: Option<Time>,
    #[serde(default)]
    deployment_id: Option<Id>,
    #[serde(default)]
    environment: Option<String>,
    #[serde(default, rename = "ref")]
    git_ref: Option<String>,
    #[serde(default)]
    short_sha: Option<String>,
    #[serde(default)]
    commit_url: Option<String>,
    #[serde(default)]
    deployable_url: Option<String>,
    #[serde(default)]
    project: Option<ProjectRef>,
}

/// The full SHA of a deployment: the last segment of its `commit_url` when it extends
/// `short_sha` (the hook carries no other).
fn full_sha(commit_url: Option<&str>, short: Option<&str>) -> Option<String> {
    let last = commit_url?.trim_end_matches('/').rsplit('/').next()?;
    let short = short?;
    (last.len() == 40 && last.starts_with(short) && last.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| last.to_owned())
}

/// Normalizes a `Deployment Hook` delivery: the deployment (`deployment_id`) with its
/// `state` (the hook's `status`), `environment`, `git_ref` and `sha`; the version is
/// `status_changed_at` and the status's place. Hooks from before GitLab named
/// `deployment_id` produce nothing and say why.
pub(crate) fn normalize(delivery: Delivery<'_>, body: &[u8]) -> Result<Normalized, GitlabError> {
    let payload: DeploymentPayload = delivery.parse(body)?;
    delivery.check_kind(payload.object_kind.as_deref(), &["deployment"])?;
    let target = payload.project.as_ref().and_then(ProjectRef::target);
    let Some(id) = payload.deployment_id else {
        return Ok(Normalized::ignored(
            payload.status,
            target,
            "the deployment hook names no `deployment_id` (GitLab added it in 13.x); without \
             it the deployment cannot be told apart from others",
        ));
    };
    let action = payload.status.clone();
    let origin_action = action.clone().unwrap_or_else(|| "deployment".to_owned());
    let subject = Subject::new(
        ResourceKind::Deployment,
        id.native(),
        time(payload.status_changed_at),
        target.clone(),
        LinkInfo::default().with_url(payload.deployable_url.clone()),
    )
    .with_sequence(payload.status.as_deref().and_then(status::sequence));
    let sha = full_sha(payload.commit_url.as_deref(), payload.short_sha.as_deref());
    let mut presence = Presence::default();
    let mut deployment = Deployment::default();
    deployment.environment = presence.take("environment", payload.environment.map(Some));
    deployment.git_ref = presence.take("git_ref", payload.git_ref.map(Some));
    deployment.sha = presence.take("sha", sha.map(Some));
    presence.absent("task");
    deployment.state = presence.take("state", payload.status.map(Some));
    let event = subject.observed(
        Origin::webhook(delivery.id, &origin_action),
        presence.fields(&deployment),
    );
    Ok(Normalized::events(action, target, vec![event]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_full_sha_comes_from_the_commit_url() {
        let url = "http://10.126.0.2:3000/root/test-deployment-webhooks/-/commit/279484c09fbe69ededfced8c1bb6e6d24616b468";
        assert_eq!(
            full_sha(Some(url), Some("279484c0")).as_deref(),
            Some("279484c09fbe69ededfced8c1bb6e6d24616b468")
        );
        assert_eq!(full_sha(Some(url), Some("deadbeef")), None);
        assert_eq!(full_sha(None, Some("279484c0")), None);
    }
}

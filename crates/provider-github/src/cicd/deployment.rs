//! Deployments: the `deployment` and `deployment_status` webhooks.

use chrono::{DateTime, Utc};
use kradle_sync_core::object::Deployment;
use kradle_sync_core::{CanonicalEvent, ExternalTarget, LinkInfo, ResourceKind};
use serde::Deserialize;

use crate::delivery::{Delivery, Normalized, Outcome};
use crate::emit::{Origin, Presence, Subject};
use crate::error::GithubError;
use crate::wire::{Nullable, RepoRef, native_id, present, target_from_api_url};

/// A deployment as GitHub sends it.
#[derive(Debug, Deserialize)]
pub(crate) struct WireDeployment {
    id: u64,
    #[serde(default)]
    node_id: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default, deserialize_with = "present")]
    environment: Nullable<String>,
    #[serde(default, rename = "ref", deserialize_with = "present")]
    git_ref: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    sha: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    task: Nullable<String>,
    #[serde(default)]
    updated_at: Option<DateTime<Utc>>,
}

impl WireDeployment {
    /// An observation; `state` is the latest status's, absent when the payload has none.
    fn observed(
        self,
        origin: Origin<'_>,
        target: Option<ExternalTarget>,
        state: Option<String>,
    ) -> CanonicalEvent {
        let subject = Subject {
            kind: ResourceKind::Deployment,
            native_id: native_id(self.id),
            updated_at: self.updated_at,
            target: target.or_else(|| self.url.as_deref().and_then(target_from_api_url)),
            link: LinkInfo::default()
                .with_node_id(self.node_id)
                .with_api_url(self.url),
        };
        let mut presence = Presence::default();
        let mut deployment = Deployment::default();
        deployment.environment = presence.take("environment", self.environment);
        deployment.git_ref = presence.take("git_ref", self.git_ref);
        deployment.sha = presence.take("sha", self.sha);
        deployment.task = presence.take("task", self.task);
        deployment.state = presence.take("state", state.map(Some));
        subject.observed(origin, presence.fields(&deployment))
    }
}

/// A `deployment` webhook body.
#[derive(Debug, Deserialize)]
struct DeploymentPayload {
    action: String,
    deployment: WireDeployment,
    #[serde(default)]
    repository: Option<RepoRef>,
}

/// Normalizes a `deployment` delivery (created; the deployment has no status yet, so its
/// state is left absent rather than guessed).
pub(crate) fn normalize_deployment(
    delivery: Delivery<'_>,
    body: &[u8],
) -> Result<Normalized, GithubError> {
    let DeploymentPayload {
        action,
        deployment,
        repository,
    } = delivery.parse(body)?;
    let target = repository.as_ref().map(RepoRef::target);
    let event = deployment.observed(Origin::webhook(delivery.id, &action), target.clone(), None);
    Ok(Normalized {
        action: Some(action),
        target,
        outcome: Outcome::Events(vec![event]),
    })
}

#[derive(Debug, Deserialize)]
struct DeploymentStatus {
    state: String,
}

/// A `deployment_status` webhook body.
#[derive(Debug, Deserialize)]
struct DeploymentStatusPayload {
    action: String,
    deployment_status: DeploymentStatus,
    deployment: WireDeployment,
    #[serde(default)]
    repository: Option<RepoRef>,
}

/// Normalizes a `deployment_status` delivery: the deployment, with the new status's state.
pub(crate) fn normalize_deployment_status(
    delivery: Delivery<'_>,
    body: &[u8],
) -> Result<Normalized, GithubError> {
    let DeploymentStatusPayload {
        action,
        deployment_status,
        deployment,
        repository,
    } = delivery.parse(body)?;
    let target = repository.as_ref().map(RepoRef::target);
    let event = deployment.observed(
        Origin::webhook(delivery.id, &action),
        target.clone(),
        Some(deployment_status.state),
    );
    Ok(Normalized {
        action: Some(action),
        target,
        outcome: Outcome::Events(vec![event]),
    })
}

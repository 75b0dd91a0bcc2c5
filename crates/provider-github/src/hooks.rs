//! Events about the webhook and the app installation itself, which become conditions of
//! the binding rather than object changes.

use kradle_sync_core::{Change, ExternalTarget, LinkInfo, ResourceKind};
use serde::Deserialize;

use crate::delivery::{Delivery, Normalized, Outcome};
use crate::emit::{Origin, Subject};
use crate::error::GithubError;
use crate::wire::{RepoRef, native_id};

/// The condition a `ping` proves.
const WEBHOOK_READY: &str = "WebhookReady";

#[derive(Debug, Deserialize)]
struct Hook {
    id: u64,
    #[serde(default)]
    url: Option<String>,
}

/// A `ping` webhook body.
#[derive(Debug, Deserialize)]
struct PingPayload {
    #[serde(default)]
    hook_id: Option<u64>,
    #[serde(default)]
    hook: Option<Hook>,
    #[serde(default)]
    repository: Option<RepoRef>,
}

/// Normalizes a `ping`: GitHub sends it once when a webhook is created, so it proves the
/// webhook reaches us and is signed with the configured secret.
pub(crate) fn normalize_ping(
    delivery: Delivery<'_>,
    body: &[u8],
) -> Result<Normalized, GithubError> {
    let ping: PingPayload = delivery.parse(body)?;
    let hook_id = ping.hook_id.or(ping.hook.as_ref().map(|hook| hook.id));
    let target = ping.repository.as_ref().map(RepoRef::target);
    let subject = match (&ping.repository, hook_id) {
        (Some(repository), _) => Subject {
            kind: ResourceKind::Repository,
            native_id: native_id(repository.id),
            updated_at: None,
            target: target.clone(),
            link: LinkInfo::default()
                .with_number(None)
                .with_node_id(repository.node_id.clone())
                .with_url(repository.html_url.clone())
                .with_api_url(repository.url.clone()),
        },
        (None, Some(hook_id)) => Subject {
            kind: ResourceKind::Repository,
            native_id: native_id(hook_id),
            updated_at: None,
            target: None,
            link: LinkInfo::default()
                .with_api_url(ping.hook.as_ref().and_then(|hook| hook.url.clone())),
        },
        (None, None) => {
            return Err(GithubError::Shape {
                context: format!("`{}` webhook body", delivery.event),
                detail: "a ping names neither a repository nor a hook (`hook_id`)".to_owned(),
            });
        }
    };
    let reason = match hook_id {
        Some(hook_id) => format!("ping received for hook {hook_id}"),
        None => "ping received".to_owned(),
    };
    let change = Change::Condition {
        condition: WEBHOOK_READY.to_owned(),
        status: true,
        reason,
    };
    let event = subject.event(Origin::webhook(delivery.id, "ping"), change);
    Ok(Normalized {
        action: None,
        target,
        outcome: Outcome::Events(vec![event]),
    })
}

/// The condition `installation` events change.
const INSTALLATION_READY: &str = "InstallationReady";

#[derive(Debug, Deserialize)]
struct Account {
    login: String,
}

#[derive(Debug, Deserialize)]
struct Installation {
    id: u64,
    #[serde(default)]
    account: Option<Account>,
    #[serde(default)]
    html_url: Option<String>,
}

impl Installation {
    fn name(&self) -> String {
        match &self.account {
            Some(account) => format!("installation {} ({})", self.id, account.login),
            None => format!("installation {}", self.id),
        }
    }
}

/// A repository as listed in installation payloads.
#[derive(Debug, Deserialize)]
struct ListedRepo {
    id: u64,
    full_name: String,
    #[serde(default)]
    node_id: Option<String>,
}

/// An `installation` webhook body.
#[derive(Debug, Deserialize)]
struct InstallationPayload {
    action: String,
    installation: Installation,
}

/// Normalizes an `installation` delivery into the `InstallationReady` condition: the app
/// can act (`created`, `unsuspend`, `new_permissions_accepted`) or cannot (`deleted`,
/// `suspend`). The installation is the subject; the payload names no single repository.
pub(crate) fn normalize_installation(
    delivery: Delivery<'_>,
    body: &[u8],
) -> Result<Normalized, GithubError> {
    let InstallationPayload {
        action,
        installation,
    } = delivery.parse(body)?;
    let (status, what) = match action.as_str() {
        "created" => (true, "was created"),
        "unsuspend" => (true, "was unsuspended"),
        "new_permissions_accepted" => (true, "accepted new permissions"),
        "deleted" => (false, "was deleted"),
        "suspend" => (false, "was suspended"),
        other => {
            let outcome = delivery.unknown_action(other);
            return Ok(Normalized {
                action: Some(action),
                target: None,
                outcome,
            });
        }
    };
    let change = Change::Condition {
        condition: INSTALLATION_READY.to_owned(),
        status,
        reason: format!("{} {what}", installation.name()),
    };
    let subject = Subject {
        kind: ResourceKind::Repository,
        native_id: native_id(installation.id),
        updated_at: None,
        target: None,
        link: LinkInfo::default().with_url(installation.html_url),
    };
    let event = subject.event(Origin::webhook(delivery.id, &action), change);
    Ok(Normalized {
        action: Some(action),
        target: None,
        outcome: Outcome::Events(vec![event]),
    })
}

/// An `installation_repositories` webhook body.
#[derive(Debug, Deserialize)]
struct InstallationReposPayload {
    action: String,
    installation: Installation,
    #[serde(default)]
    repositories_added: Vec<ListedRepo>,
    #[serde(default)]
    repositories_removed: Vec<ListedRepo>,
}

/// Normalizes an `installation_repositories` delivery: one `InstallationReady` condition
/// per repository the installation gained (true) or lost (false), each targeting its
/// repository so only that repository's binding takes it.
pub(crate) fn normalize_installation_repositories(
    delivery: Delivery<'_>,
    body: &[u8],
) -> Result<Normalized, GithubError> {
    let payload: InstallationReposPayload = delivery.parse(body)?;
    let origin = Origin::webhook(delivery.id, &payload.action);
    let name = payload.installation.name();
    let listed = [
        (true, "gained access to", payload.repositories_added),
        (false, "lost access to", payload.repositories_removed),
    ];
    let events = listed
        .into_iter()
        .flat_map(|(status, what, repos)| repos.into_iter().map(move |repo| (status, what, repo)))
        .map(|(status, what, repo)| {
            let change = Change::Condition {
                condition: INSTALLATION_READY.to_owned(),
                status,
                reason: format!("{name} {what} {}", repo.full_name),
            };
            let subject = Subject {
                kind: ResourceKind::Repository,
                native_id: native_id(repo.id),
                updated_at: None,
                target: Some(ExternalTarget::from_path(repo.full_name)),
                link: LinkInfo::default().with_node_id(repo.node_id),
            };
            subject.event(origin, change)
        })
        .collect();
    Ok(Normalized {
        action: Some(payload.action),
        target: None,
        outcome: Outcome::Events(events),
    })
}

//! A repository and its settings: the `repository`, `member`, `deploy_key` and
//! `branch_protection_rule` webhooks, and REST repository, collaborator and deploy key
//! objects.

use chrono::{DateTime, Utc};
use kradle_sync_core::object::{BranchProtection, Collaborator, DeployKey, Repository};
use kradle_sync_core::{CanonicalEvent, ExternalTarget, LinkInfo, Removal, ResourceKind};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::delivery::{Delivery, Normalized, Outcome};
use crate::emit::{Origin, Presence, Subject};
use crate::error::GithubError;
use crate::wire::{Nullable, RepoRef, User, native_id, present, target_from_api_url};

/// A repository as GitHub sends it in `repository` webhooks and REST responses.
#[derive(Debug, Deserialize)]
pub(crate) struct WireRepository {
    id: u64,
    full_name: String,
    #[serde(default)]
    node_id: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    private: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    default_branch: Nullable<String>,
    #[serde(default)]
    archived: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    description: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    visibility: Nullable<String>,
    #[serde(default)]
    updated_at: Option<DateTime<Utc>>,
}

impl WireRepository {
    fn subject(&self, target: ExternalTarget) -> Subject {
        Subject {
            kind: ResourceKind::Repository,
            native_id: native_id(self.id),
            updated_at: self.updated_at,
            target: Some(target),
            link: LinkInfo::default()
                .with_number(None)
                .with_node_id(self.node_id.clone())
                .with_url(self.html_url.clone())
                .with_api_url(self.url.clone()),
        }
    }

    fn target(&self) -> ExternalTarget {
        ExternalTarget::from_path(self.full_name.as_str())
    }

    /// An observation with every field the object carries.
    pub fn observed(self, origin: Origin<'_>, target: Option<ExternalTarget>) -> CanonicalEvent {
        let subject = self.subject(target.unwrap_or_else(|| self.target()));
        let mut presence = Presence::default();
        let mut repository = Repository::default();
        repository.full_name = self.full_name;
        repository.private = presence.take("private", self.private);
        repository.default_branch = presence.take("default_branch", self.default_branch);
        repository.archived = presence.take("archived", self.archived);
        repository.description = presence.take("description", self.description);
        repository.visibility = presence.take("visibility", self.visibility);
        repository.html_url = presence.take("html_url", self.html_url.map(Some));
        subject.observed(origin, presence.fields(&repository))
    }
}

#[derive(Debug, Deserialize)]
struct Previous<T> {
    from: T,
}

#[derive(Debug, Deserialize)]
struct NameChange {
    #[serde(default)]
    name: Option<Previous<String>>,
}

#[derive(Debug, Deserialize)]
struct PreviousOwner {
    #[serde(default)]
    user: Option<User>,
    #[serde(default)]
    organization: Option<User>,
}

#[derive(Debug, Default, Deserialize)]
struct RepositoryChanges {
    #[serde(default)]
    repository: Option<NameChange>,
    #[serde(default)]
    owner: Option<Previous<PreviousOwner>>,
}

/// A `repository` webhook body.
#[derive(Debug, Deserialize)]
struct RepositoryPayload {
    action: String,
    repository: WireRepository,
    #[serde(default)]
    changes: Option<RepositoryChanges>,
}

/// Normalizes a `repository` delivery. After a rename or transfer the repository is known
/// to its binding by its previous path, so that path is the target (the new one is the
/// `full_name` field).
pub(crate) fn normalize(delivery: Delivery<'_>, body: &[u8]) -> Result<Normalized, GithubError> {
    let RepositoryPayload {
        action,
        repository,
        changes,
    } = delivery.parse(body)?;
    let current = repository.target();
    let changes = changes.unwrap_or_default();
    let (owner, name) = current
        .path
        .rsplit_once('/')
        .unwrap_or(("", current.path.as_str()));
    let previous = match action.as_str() {
        "renamed" => changes
            .repository
            .and_then(|c| c.name)
            .map(|n| format!("{owner}/{}", n.from)),
        "transferred" => changes
            .owner
            .and_then(|o| o.from.user.or(o.from.organization))
            .map(|old| format!("{}/{name}", old.login)),
        _ => None,
    };
    let target = previous.map(ExternalTarget::from_path).unwrap_or(current);
    let origin = Origin::webhook(delivery.id, &action);
    let event = match action.as_str() {
        "deleted" => repository
            .subject(target.clone())
            .removed(origin, Removal::Deleted),
        // created, edited, renamed, transferred, archived, unarchived, privatized,
        // publicized: the repository as it is now.
        _ => repository.observed(origin, Some(target.clone())),
    };
    Ok(Normalized {
        action: Some(action),
        target: Some(target),
        outcome: Outcome::Events(vec![event]),
    })
}

/// A user with the REST id, as in `member` payloads and collaborator listings.
#[derive(Debug, Deserialize)]
pub(crate) struct WireCollaborator {
    id: u64,
    login: String,
    #[serde(default)]
    node_id: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    url: Option<String>,
    /// REST listings name the effective role (`read`, `triage`, `write`, `maintain`,
    /// `admin`).
    #[serde(default)]
    role_name: Option<String>,
}

impl WireCollaborator {
    fn subject(&self, target: Option<ExternalTarget>) -> Subject {
        Subject {
            kind: ResourceKind::Collaborator,
            native_id: native_id(self.id),
            updated_at: None,
            target,
            link: LinkInfo::default()
                .with_number(None)
                .with_node_id(self.node_id.clone())
                .with_url(self.html_url.clone())
                .with_api_url(self.url.clone()),
        }
    }

    /// An observation; `permission` is the webhook's `changes.permission.to`, or the REST
    /// `role_name`, and absent when neither says.
    pub fn observed(
        self,
        origin: Origin<'_>,
        target: Option<ExternalTarget>,
        permission: Option<String>,
    ) -> CanonicalEvent {
        let subject = self.subject(target);
        let mut presence = Presence::default();
        let mut collaborator = Collaborator::default();
        collaborator.login = self.login;
        collaborator.permission =
            presence.take("permission", permission.or(self.role_name).map(Some));
        subject.observed(origin, presence.fields(&collaborator))
    }
}

#[derive(Debug, Deserialize)]
struct To {
    to: String,
}

#[derive(Debug, Default, Deserialize)]
struct MemberChanges {
    #[serde(default)]
    permission: Option<To>,
}

/// A `member` webhook body.
#[derive(Debug, Deserialize)]
struct MemberPayload {
    action: String,
    member: WireCollaborator,
    #[serde(default)]
    changes: Option<MemberChanges>,
    #[serde(default)]
    repository: Option<RepoRef>,
}

/// Normalizes a `member` delivery (a collaborator added, changed or removed).
pub(crate) fn normalize_member(
    delivery: Delivery<'_>,
    body: &[u8],
) -> Result<Normalized, GithubError> {
    let MemberPayload {
        action,
        member,
        changes,
        repository,
    } = delivery.parse(body)?;
    let target = repository.as_ref().map(RepoRef::target);
    let origin = Origin::webhook(delivery.id, &action);
    let permission = changes.unwrap_or_default().permission.map(|p| p.to);
    let outcome = match action.as_str() {
        "added" | "edited" => {
            Outcome::Events(vec![member.observed(origin, target.clone(), permission)])
        }
        "removed" => Outcome::Events(vec![
            member
                .subject(target.clone())
                .removed(origin, Removal::Deleted),
        ]),
        other => delivery.unknown_action(other),
    };
    Ok(Normalized {
        action: Some(action),
        target,
        outcome,
    })
}

/// A deploy key as GitHub sends it. Keys cannot be edited, so they carry no version.
#[derive(Debug, Deserialize)]
pub(crate) struct WireDeployKey {
    id: u64,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    read_only: Option<bool>,
}

impl WireDeployKey {
    fn subject(&self, target: Option<ExternalTarget>) -> Subject {
        Subject {
            kind: ResourceKind::DeployKey,
            native_id: native_id(self.id),
            updated_at: None,
            target: target.or_else(|| self.url.as_deref().and_then(target_from_api_url)),
            link: LinkInfo::default().with_api_url(self.url.clone()),
        }
    }

    /// An observation with every field the object carries.
    pub fn observed(self, origin: Origin<'_>, target: Option<ExternalTarget>) -> CanonicalEvent {
        let subject = self.subject(target);
        let mut presence = Presence::default();
        let mut key = DeployKey::default();
        key.title = presence.take("title", self.title);
        key.key = presence.take("key", self.key);
        key.read_only = presence.take("read_only", self.read_only);
        subject.observed(origin, presence.fields(&key))
    }
}

/// A `deploy_key` webhook body.
#[derive(Debug, Deserialize)]
struct DeployKeyPayload {
    action: String,
    key: WireDeployKey,
    #[serde(default)]
    repository: Option<RepoRef>,
}

/// Normalizes a `deploy_key` delivery.
pub(crate) fn normalize_deploy_key(
    delivery: Delivery<'_>,
    body: &[u8],
) -> Result<Normalized, GithubError> {
    let DeployKeyPayload {
        action,
        key,
        repository,
    } = delivery.parse(body)?;
    let target = repository.as_ref().map(RepoRef::target);
    let origin = Origin::webhook(delivery.id, &action);
    let outcome = match action.as_str() {
        "created" => Outcome::Events(vec![key.observed(origin, target.clone())]),
        "deleted" => Outcome::Events(vec![
            key.subject(target.clone())
                .removed(origin, Removal::Deleted),
        ]),
        other => delivery.unknown_action(other),
    };
    Ok(Normalized {
        action: Some(action),
        target,
        outcome,
    })
}

/// A branch protection rule as the `branch_protection_rule` webhook sends it: a flat
/// object of settings, kept as given apart from its identity and timestamps.
#[derive(Debug, Deserialize)]
struct WireRule {
    id: u64,
    name: String,
    #[serde(default)]
    updated_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    settings: Map<String, Value>,
}

/// A `branch_protection_rule` webhook body.
#[derive(Debug, Deserialize)]
struct RulePayload {
    action: String,
    rule: WireRule,
    #[serde(default)]
    repository: Option<RepoRef>,
}

/// Normalizes a `branch_protection_rule` delivery.
pub(crate) fn normalize_branch_protection(
    delivery: Delivery<'_>,
    body: &[u8],
) -> Result<Normalized, GithubError> {
    let RulePayload {
        action,
        rule,
        repository,
    } = delivery.parse(body)?;
    let target = repository.as_ref().map(RepoRef::target);
    let origin = Origin::webhook(delivery.id, &action);
    let subject = Subject {
        kind: ResourceKind::BranchProtection,
        native_id: native_id(rule.id),
        updated_at: rule.updated_at,
        target: target.clone(),
        link: LinkInfo::default(),
    };
    let outcome = match action.as_str() {
        "created" | "edited" => {
            let mut settings = rule.settings;
            // Identity and timestamps are not rules.
            for key in ["repository_id", "created_at"] {
                settings.remove(key);
            }
            let mut protection = BranchProtection::default();
            protection.pattern = rule.name;
            protection.rules = Value::Object(settings);
            let fields = Presence::default().fields(&protection);
            Outcome::Events(vec![subject.observed(origin, fields)])
        }
        "deleted" => Outcome::Events(vec![subject.removed(origin, Removal::Deleted)]),
        other => delivery.unknown_action(other),
    };
    Ok(Normalized {
        action: Some(action),
        target,
        outcome,
    })
}

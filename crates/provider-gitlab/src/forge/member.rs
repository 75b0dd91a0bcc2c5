//! Members (collaborators): the group `Member Hook` and REST member objects. A member's
//! `permission` is its role, lower case (`guest`, `reporter`, `developer`, `maintainer`,
//! `owner`, …).

use kradle_sync_core::object::Collaborator;
use kradle_sync_core::{CanonicalEvent, ExternalTarget, LinkInfo, Removal, ResourceKind};
use serde::Deserialize;

use crate::delivery::{Delivery, Normalized};
use crate::emit::{Origin, Presence, Subject};
use crate::error::GitlabError;
use crate::wire::{Id, Time, time};

/// GitLab's access levels and the role names hosts see.
const ROLES: &[(u64, &str)] = &[
    (0, "no_access"),
    (5, "minimal_access"),
    (10, "guest"),
    (15, "planner"),
    (20, "reporter"),
    (30, "developer"),
    (40, "maintainer"),
    (50, "owner"),
];

/// The role name of an access level; levels GitLab adds later read `level_<n>`.
pub(crate) fn role_name(level: u64) -> String {
    ROLES
        .iter()
        .find(|(l, _)| *l == level)
        .map_or_else(|| format!("level_{level}"), |(_, name)| (*name).to_owned())
}

/// The access level of a permission a host asks for: a GitLab role (`developer`, `Owner`,
/// `minimal access`), a level (`30`), or GitHub's names of the same meaning (`read` and
/// `pull` → reporter, `triage` → reporter, `write` and `push` → developer, `maintain` →
/// maintainer, `admin` → owner).
pub(crate) fn access_level(permission: &str) -> Option<u64> {
    let normalized = permission
        .trim()
        .to_ascii_lowercase()
        .replace([' ', '-'], "_");
    if let Ok(level) = normalized.parse::<u64>() {
        return ROLES.iter().any(|(l, _)| *l == level).then_some(level);
    }
    let github = match normalized.as_str() {
        "read" | "pull" | "triage" => Some(20),
        "write" | "push" => Some(30),
        "maintain" => Some(40),
        "admin" => Some(50),
        _ => None,
    };
    github.or_else(|| {
        ROLES
            .iter()
            .find(|(_, name)| *name == normalized)
            .map(|(l, _)| *l)
    })
}

/// A member as the REST API returns it (`/projects/:id/members/all`).
#[derive(Debug, Deserialize)]
pub(crate) struct WireMember {
    id: Id,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    access_level: Option<u64>,
    #[serde(default)]
    web_url: Option<String>,
}

impl WireMember {
    /// An observation: `login` the username, `permission` the role of `access_level`
    /// (for `members/all`, the highest of the project's and its groups'). Members carry
    /// no version.
    pub fn observed(self, origin: Origin<'_>, target: Option<ExternalTarget>) -> CanonicalEvent {
        let subject = Subject::new(
            ResourceKind::Collaborator,
            self.id.native(),
            None,
            target,
            LinkInfo::default().with_url(self.web_url),
        );
        let mut presence = Presence::default();
        let mut collaborator = Collaborator::default();
        collaborator.login = presence.take("login", self.username);
        collaborator.permission =
            presence.take("permission", self.access_level.map(|l| Some(role_name(l))));
        subject.observed(origin, presence.fields(&collaborator))
    }
}

/// A `Member Hook` body (group webhooks).
#[derive(Debug, Deserialize)]
struct MemberPayload {
    event_name: String,
    #[serde(default)]
    user_id: Option<Id>,
    #[serde(default)]
    user_username: Option<String>,
    #[serde(default)]
    group_access: Option<String>,
    #[serde(default)]
    updated_at: Option<Time>,
}

/// Normalizes a group `Member Hook` delivery: a user added to the group or given another
/// role (`user_add_to_group`, `user_update_for_group`) is a `collaborator` observed with
/// the group role; a user removed (`user_remove_from_group`) is removed. Access requests
/// and their denials do not change who collaborates: they produce nothing and say so. The
/// payload names a group, not a project, so it carries no target; the version is its
/// `updated_at`.
pub(crate) fn normalize(delivery: Delivery<'_>, body: &[u8]) -> Result<Normalized, GitlabError> {
    let payload: MemberPayload = delivery.parse(body)?;
    let action = Some(payload.event_name.clone());
    let removed = match payload.event_name.as_str() {
        "user_add_to_group" | "user_update_for_group" => false,
        "user_remove_from_group" => true,
        "user_access_request_to_group" | "user_access_request_denied_for_group" => {
            return Ok(Normalized::ignored(
                action,
                None,
                format!(
                    "`{}` is an access request, which does not change who collaborates; the \
                     delivery was accepted and produced no events",
                    payload.event_name
                ),
            ));
        }
        other => {
            let outcome = delivery.unknown_action(other);
            return Ok(Normalized {
                action,
                target: None,
                outcome,
            });
        }
    };
    let Some(user) = payload.user_id else {
        return Err(GitlabError::Shape {
            context: delivery.context(),
            detail: "a member hook without `user_id`".to_owned(),
        });
    };
    let subject = Subject::new(
        ResourceKind::Collaborator,
        user.native(),
        time(payload.updated_at),
        None,
        LinkInfo::default(),
    );
    let origin = Origin::webhook(delivery.id, &payload.event_name);
    let event = if removed {
        subject.removed(origin, Removal::Deleted)
    } else {
        let mut presence = Presence::default();
        let mut collaborator = Collaborator::default();
        collaborator.login = presence.take("login", payload.user_username);
        collaborator.permission = presence.take(
            "permission",
            payload
                .group_access
                .map(|a| Some(a.trim().to_ascii_lowercase().replace(' ', "_"))),
        );
        subject.observed(origin, presence.fields(&collaborator))
    };
    Ok(Normalized::events(action, None, vec![event]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_levels() {
        assert_eq!(role_name(30), "developer");
        assert_eq!(role_name(99), "level_99");
        assert_eq!(access_level("Developer"), Some(30));
        assert_eq!(access_level("minimal access"), Some(5));
        assert_eq!(access_level("40"), Some(40));
        assert_eq!(access_level("41"), None);
        assert_eq!(access_level("write"), Some(30));
        assert_eq!(access_level("admin"), Some(50));
        assert_eq!(access_level("superuser"), None);
    }
}

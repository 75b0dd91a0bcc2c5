//! Git refs: the `push`, `create` and `delete` webhooks and REST git ref objects. A ref's
//! native id is its full name (`refs/heads/main`): refs have no numeric id.

use chrono::{DateTime, Utc};
use kradle_sync_core::object::GitRef;
use kradle_sync_core::{CanonicalEvent, ExternalTarget, LinkInfo, NativeId, Removal, ResourceKind};
use serde::Deserialize;

use crate::delivery::{Delivery, Normalized, Outcome};
use crate::emit::{Origin, Presence, Subject};
use crate::error::GithubError;
use crate::wire::{Timestamp, target_from_api_url};

/// `branch` or `tag`, from a full ref name.
fn ref_type(name: &str) -> Option<&'static str> {
    if name.starts_with("refs/heads/") {
        Some("branch")
    } else if name.starts_with("refs/tags/") {
        Some("tag")
    } else {
        None
    }
}

/// The repository of a push-like payload, with the time of its latest push.
#[derive(Debug, Deserialize)]
struct PushedRepo {
    full_name: String,
    /// A Unix timestamp in `push` payloads, an RFC 3339 string elsewhere.
    #[serde(default)]
    pushed_at: Option<Timestamp>,
}

impl PushedRepo {
    fn target(&self) -> ExternalTarget {
        ExternalTarget::from_path(self.full_name.as_str())
    }
}

struct RefSubject {
    name: String,
    updated_at: Option<DateTime<Utc>>,
    target: Option<ExternalTarget>,
    link: LinkInfo,
}

impl RefSubject {
    fn subject(self) -> (Subject, String) {
        let subject = Subject {
            kind: ResourceKind::Ref,
            native_id: NativeId::new(self.name.as_str()),
            updated_at: self.updated_at,
            target: self.target,
            link: self.link,
        };
        (subject, self.name)
    }

    fn observed(
        self,
        origin: Origin<'_>,
        sha: Option<String>,
        forced: Option<bool>,
    ) -> CanonicalEvent {
        let kind = ref_type(&self.name);
        let (subject, name) = self.subject();
        let mut presence = Presence::default();
        let mut git_ref = GitRef::default();
        git_ref.name = name;
        git_ref.sha = presence.take("sha", sha.map(Some));
        git_ref.ref_type = presence.take("ref_type", kind.map(str::to_owned));
        git_ref.forced = presence.take("forced", forced);
        subject.observed(origin, presence.fields(&git_ref))
    }
}

/// A `push` webhook body.
#[derive(Debug, Deserialize)]
struct PushPayload {
    #[serde(rename = "ref")]
    name: String,
    after: String,
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    forced: Option<bool>,
    repository: PushedRepo,
}

/// Normalizes a `push`: the ref now points at `after` (or is gone when `deleted`); the
/// version is the repository's `pushed_at`, the time of this push.
pub(crate) fn normalize_push(
    delivery: Delivery<'_>,
    body: &[u8],
) -> Result<Normalized, GithubError> {
    let push: PushPayload = delivery.parse(body)?;
    let target = push.repository.target();
    let origin = Origin::webhook(delivery.id, "push");
    let subject = RefSubject {
        name: push.name,
        updated_at: push.repository.pushed_at.map(|t| t.0),
        target: Some(target.clone()),
        link: LinkInfo::default(),
    };
    let event = if push.deleted {
        subject.subject().0.removed(origin, Removal::Deleted)
    } else {
        subject.observed(origin, Some(push.after), push.forced)
    };
    Ok(Normalized {
        action: None,
        target: Some(target),
        outcome: Outcome::Events(vec![event]),
    })
}

/// A `create` or `delete` webhook body: a short ref name and its type.
#[derive(Debug, Deserialize)]
struct RefPayload {
    #[serde(rename = "ref")]
    name: String,
    ref_type: String,
    repository: PushedRepo,
}

/// Normalizes a `create` (the ref exists; the payload has no commit) or a `delete` (the
/// ref is gone).
pub(crate) fn normalize_create_delete(
    delivery: Delivery<'_>,
    body: &[u8],
    deleted: bool,
) -> Result<Normalized, GithubError> {
    let payload: RefPayload = delivery.parse(body)?;
    let target = payload.repository.target();
    let full_name = match payload.ref_type.as_str() {
        "branch" => format!("refs/heads/{}", payload.name),
        "tag" => format!("refs/tags/{}", payload.name),
        other => {
            let outcome = Outcome::Ignored(format!(
                "`{}` of a ref of type `{other}`: only branches and tags are synced",
                delivery.event
            ));
            return Ok(Normalized {
                action: None,
                target: Some(target),
                outcome,
            });
        }
    };
    let subject = RefSubject {
        name: full_name,
        updated_at: payload.repository.pushed_at.map(|t| t.0),
        target: Some(target.clone()),
        link: LinkInfo::default(),
    };
    let origin = Origin::webhook(delivery.id, delivery.event);
    let event = if deleted {
        subject.subject().0.removed(origin, Removal::Deleted)
    } else {
        subject.observed(origin, None, None)
    };
    Ok(Normalized {
        action: None,
        target: Some(target),
        outcome: Outcome::Events(vec![event]),
    })
}

#[derive(Debug, Deserialize)]
struct RefObject {
    sha: String,
}

/// A git ref as the REST API returns it.
#[derive(Debug, Deserialize)]
pub(crate) struct WireRef {
    #[serde(rename = "ref")]
    name: String,
    #[serde(default)]
    node_id: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    object: Option<RefObject>,
}

impl WireRef {
    /// An observation (a REST ref does not say whether its last update was forced).
    pub fn observed(self, origin: Origin<'_>) -> CanonicalEvent {
        let subject = RefSubject {
            name: self.name,
            updated_at: None,
            target: self.url.as_deref().and_then(target_from_api_url),
            link: LinkInfo::default()
                .with_node_id(self.node_id)
                .with_api_url(self.url),
        };
        subject.observed(origin, self.object.map(|object| object.sha), None)
    }
}

//! Labels: the `label` webhook and REST label objects.

use kradle_sync_core::object::Label;
use kradle_sync_core::{CanonicalEvent, ExternalTarget, LinkInfo, Removal, ResourceKind};
use serde::Deserialize;

use crate::delivery::{Delivery, Normalized, Outcome};
use crate::emit::{Origin, Presence, Subject};
use crate::error::GithubError;
use crate::wire::{Nullable, RepoRef, native_id, present, target_from_api_url};

/// A label as GitHub sends it. Labels have no `updated_at`: their observations carry no
/// version, so a conflicting pair is settled by a hydrate.
#[derive(Debug, Deserialize)]
pub(crate) struct WireLabel {
    id: u64,
    #[serde(default)]
    node_id: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    color: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    description: Nullable<String>,
}

impl WireLabel {
    /// The label's identity; REST objects name their repository through `url`.
    pub fn subject(&self, target: Option<ExternalTarget>) -> Subject {
        Subject {
            kind: ResourceKind::Label,
            native_id: native_id(self.id),
            updated_at: None,
            target: target.or_else(|| self.url.as_deref().and_then(target_from_api_url)),
            link: LinkInfo::default()
                .with_number(None)
                .with_node_id(self.node_id.clone())
                .with_url(None)
                .with_api_url(self.url.clone()),
        }
    }

    /// An observation with every field the object carries.
    pub fn observed(self, origin: Origin<'_>, target: Option<ExternalTarget>) -> CanonicalEvent {
        let subject = self.subject(target);
        let mut presence = Presence::default();
        let mut label = Label::default();
        label.name = presence.take("name", self.name);
        label.color = presence.take("color", self.color);
        label.description = presence.take("description", self.description);
        subject.observed(origin, presence.fields(&label))
    }
}

/// A `label` webhook body.
#[derive(Debug, Deserialize)]
struct LabelPayload {
    action: String,
    label: WireLabel,
    #[serde(default)]
    repository: Option<RepoRef>,
}

/// Normalizes a `label` delivery.
pub(crate) fn normalize(delivery: Delivery<'_>, body: &[u8]) -> Result<Normalized, GithubError> {
    let LabelPayload {
        action,
        label,
        repository,
    } = delivery.parse(body)?;
    let target = repository.as_ref().map(RepoRef::target);
    let origin = Origin::webhook(delivery.id, &action);
    let outcome = match action.as_str() {
        "created" | "edited" => Outcome::Events(vec![label.observed(origin, target.clone())]),
        "deleted" => Outcome::Events(vec![
            label
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

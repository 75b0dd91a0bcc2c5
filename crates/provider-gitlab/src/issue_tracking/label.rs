//! Labels: REST label objects. GitLab sends no hook about a label itself; hooks name an
//! object's labels by title, which is how `labels` fields are filled.

use kradle_sync_core::object::Label;
use kradle_sync_core::{CanonicalEvent, ExternalTarget, LinkInfo, ResourceKind};
use serde::Deserialize;

use crate::emit::{Origin, Presence, Subject};
use crate::wire::{Id, Nullable, present};

/// A label as the REST API returns it. Labels have no `updated_at`: their observations carry
/// no version, so a conflicting pair is settled by a hydrate.
#[derive(Debug, Deserialize)]
pub(crate) struct WireLabel {
    id: Id,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    color: Nullable<String>,
    #[serde(default, deserialize_with = "present")]
    description: Nullable<String>,
}

impl WireLabel {
    /// An observation with every field the object carries. `color` loses GitLab's leading
    /// `#` (canonical colours are six hex digits).
    pub fn observed(self, origin: Origin<'_>, target: Option<ExternalTarget>) -> CanonicalEvent {
        let subject = Subject::new(
            ResourceKind::Label,
            self.id.native(),
            None,
            target,
            LinkInfo::default(),
        );
        let mut presence = Presence::default();
        let mut label = Label::default();
        label.name = presence.take("name", self.name);
        label.color = presence.take(
            "color",
            self.color
                .map(|c| c.map(|c| c.trim_start_matches('#').to_owned())),
        );
        label.description = presence.take("description", self.description);
        subject.observed(origin, presence.fields(&label))
    }
}

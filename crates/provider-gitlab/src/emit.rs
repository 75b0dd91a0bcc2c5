//! Building canonical events: the parts every event of one delivery or read shares, and
//! field maps that carry only what a payload actually contains.

use chrono::{DateTime, Utc};
use kradle_sync_core::{
    Authority, Canonical, CanonicalEvent, Change, DeliveryId, ExternalTarget, ExternalVersion,
    Fields, LinkInfo, NativeId, Removal, ResourceKind,
};

use crate::PROVIDER;

/// The action of events produced from REST reads.
pub(crate) const BACKFILL_ACTION: &str = "backfill";

/// Where events come from: one webhook delivery or one REST read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin<'a> {
    delivery_id: &'a DeliveryId,
    action: &'a str,
    authority: Authority,
}

impl<'a> Origin<'a> {
    /// Events of a webhook delivery with this action.
    pub fn webhook(delivery_id: &'a DeliveryId, action: &'a str) -> Self {
        Self {
            delivery_id,
            action,
            authority: Authority::Webhook,
        }
    }

    /// Events of an authoritative REST read.
    pub fn rest(read_id: &'a DeliveryId) -> Self {
        Self {
            delivery_id: read_id,
            action: BACKFILL_ACTION,
            authority: Authority::Authoritative,
        }
    }
}

/// The identity of one object in a payload, and how new the payload's view of it is.
#[derive(Debug, Clone)]
pub(crate) struct Subject {
    /// Kind.
    pub kind: ResourceKind,
    /// Native id.
    pub native_id: NativeId,
    /// The object's last-modified time, if the payload has one.
    pub updated_at: Option<DateTime<Utc>>,
    /// GitLab's own order among states at one time (pipeline and job statuses).
    pub sequence: Option<u64>,
    /// Where it lives.
    pub target: Option<ExternalTarget>,
    /// Identity links.
    pub link: LinkInfo,
}

impl Subject {
    /// A subject without a sequence.
    pub fn new(
        kind: ResourceKind,
        native_id: NativeId,
        updated_at: Option<DateTime<Utc>>,
        target: Option<ExternalTarget>,
        link: LinkInfo,
    ) -> Self {
        Self {
            kind,
            native_id,
            updated_at,
            sequence: None,
            target,
            link,
        }
    }

    /// Sets the sequence.
    pub fn with_sequence(mut self, sequence: Option<u64>) -> Self {
        self.sequence = sequence;
        self
    }

    fn version(&self) -> ExternalVersion {
        let mut version = ExternalVersion::default().with_sequence(self.sequence);
        version.updated_at = self.updated_at;
        version
    }

    /// An event about this object.
    pub fn event(self, origin: Origin<'_>, change: Change) -> CanonicalEvent {
        CanonicalEvent::new(
            PROVIDER,
            origin.delivery_id.clone(),
            self.kind,
            self.native_id,
            origin.action,
            origin.authority,
            change,
        )
        .with_event_time(self.updated_at)
        .with_target(self.target)
        .with_link(self.link)
    }

    /// The object was seen with these fields.
    pub fn observed(self, origin: Origin<'_>, fields: Fields) -> CanonicalEvent {
        let version = self.version();
        self.event(origin, Change::Observed { version, fields })
    }

    /// The object is gone.
    pub fn removed(self, origin: Origin<'_>, removal: Removal) -> CanonicalEvent {
        let version = self.version();
        self.event(origin, Change::Removed { version, removal })
    }
}

/// Collects which canonical fields a payload lacks, so they can be left out of the field map
/// instead of being filled with defaults that would overwrite real data.
#[derive(Debug, Default)]
pub(crate) struct Presence {
    absent: Vec<&'static str>,
}

impl Presence {
    /// The value of field `name`, or its type's default (recorded as absent) when missing.
    pub fn take<T: Default>(&mut self, name: &'static str, value: Option<T>) -> T {
        value.unwrap_or_else(|| {
            self.absent.push(name);
            T::default()
        })
    }

    /// Records field `name` as absent.
    pub fn absent(&mut self, name: &'static str) {
        self.absent.push(name);
    }

    /// The object's fields through [`Canonical::to_fields`], without the absent ones. A
    /// complete object yields exactly `to_fields()`.
    pub fn fields<T: Canonical>(self, object: &T) -> Fields {
        let mut fields = object.to_fields();
        for name in self.absent {
            fields.remove(name);
        }
        fields
    }
}

//! Building canonical events: the parts every event of one delivery or read shares.

use chrono::{DateTime, Utc};
use kradle_sync_core::{
    Authority, CanonicalEvent, Change, DeliveryId, ExternalTarget, ExternalVersion, Fields,
    LinkInfo, NativeId, Removal, ResourceKind,
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
    /// When the webhook was sent (its `timestamp`); `None` for reads.
    pub sent_at: Option<DateTime<Utc>>,
}

impl<'a> Origin<'a> {
    /// Events of a webhook delivery with this action, sent at `sent_at`.
    pub fn webhook(
        delivery_id: &'a DeliveryId,
        action: &'a str,
        sent_at: Option<DateTime<Utc>>,
    ) -> Self {
        Self {
            delivery_id,
            action,
            authority: Authority::Webhook,
            sent_at,
        }
    }

    /// Events of an authoritative REST read.
    pub fn rest(read_id: &'a DeliveryId) -> Self {
        Self {
            delivery_id: read_id,
            action: BACKFILL_ACTION,
            authority: Authority::Authoritative,
            sent_at: None,
        }
    }
}

/// The identity of one object in a payload, and when it last changed.
#[derive(Debug, Clone)]
pub(crate) struct Subject {
    /// Kind.
    pub kind: ResourceKind,
    /// Native id.
    pub native_id: NativeId,
    /// The version of what the payload shows of the object.
    pub updated_at: Option<DateTime<Utc>>,
    /// Where it lives.
    pub target: Option<ExternalTarget>,
    /// Identity links.
    pub link: LinkInfo,
}

impl Subject {
    fn version(&self) -> ExternalVersion {
        let mut version = ExternalVersion::default();
        version.updated_at = self.updated_at;
        version
    }

    fn event(self, origin: Origin<'_>, change: Change) -> CanonicalEvent {
        CanonicalEvent::new(
            PROVIDER,
            origin.delivery_id.clone(),
            self.kind,
            self.native_id,
            origin.action,
            origin.authority,
            change,
        )
        .with_event_time(origin.sent_at.or(self.updated_at))
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

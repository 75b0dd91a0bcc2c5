//! Canonical events: what a provider's webhook or REST read says happened to one object.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    Authority, DeliveryId, EventKey, ExternalTarget, ExternalVersion, Fields, Interface, NativeId,
    ProviderKind, ResourceKind,
};

/// Links that identify an object at its provider (the seed's `ExternalObjectLink.external`).
///
/// ```
/// use kradle_sync_core::LinkInfo;
/// let link = LinkInfo::default().with_number(42).with_url(Some("https://github.com/o/r/issues/42".to_owned()));
/// assert_eq!(link.number, Some(42));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LinkInfo {
    /// The number people use (`#42`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u64>,
    /// The global node id, where the provider has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// Link for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// API URL of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
}

impl LinkInfo {
    /// Sets the number people use (`#42`, GitLab's `iid`).
    pub fn with_number(mut self, number: impl Into<Option<u64>>) -> Self {
        self.number = number.into();
        self
    }

    /// Sets the global node id.
    pub fn with_node_id(mut self, node_id: impl Into<Option<String>>) -> Self {
        self.node_id = node_id.into();
        self
    }

    /// Sets the link for people.
    pub fn with_url(mut self, url: impl Into<Option<String>>) -> Self {
        self.url = url.into();
        self
    }

    /// Sets the API URL of the object.
    pub fn with_api_url(mut self, api_url: impl Into<Option<String>>) -> Self {
        self.api_url = api_url.into();
        self
    }
}

/// Why an object is gone at its provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum Removal {
    /// Deleted.
    Deleted,
    /// Moved elsewhere (GitHub issue transfer); the new location if known.
    Transferred {
        /// The native id of the object at its new place.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        new_native_id: Option<NativeId>,
        /// Where it went.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        new_target: Option<ExternalTarget>,
    },
    /// Absent from a complete authoritative listing.
    Missing,
}

/// What an event says about its object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Change {
    /// The object was seen with these fields at this version. `fields` may be partial:
    /// only the fields present are updated.
    Observed {
        /// The version the fields were observed at.
        version: ExternalVersion,
        /// Observed field values.
        fields: Fields,
    },
    /// The object is gone at the provider.
    Removed {
        /// The version of the last state seen with the removal.
        version: ExternalVersion,
        /// Why.
        removal: Removal,
    },
    /// Something changed but the payload does not say what: read the object
    /// authoritatively (hydrate).
    Hint,
    /// A health condition of the binding changed (a ping proves the webhook works; an
    /// installation was suspended or removed).
    Condition {
        /// The condition's name (`WebhookReady`, `InstallationReady`, `AuthReady`, …).
        condition: String,
        /// Whether it now holds.
        status: bool,
        /// Why, in words.
        reason: String,
    },
}

/// One normalized event (the seed's `ExternalSyncEvent`).
///
/// ```
/// use kradle_sync_core::{Authority, CanonicalEvent, Change, ExternalVersion, ResourceKind};
/// let event = CanonicalEvent::new("github", "d-1", ResourceKind::Issue, "444500041", "opened",
///         Authority::Webhook, Change::Hint)
///     .with_target(Some(kradle_sync_core::ExternalTarget::from_path("octo/repo")));
/// assert_eq!(event.interface, kradle_sync_core::Interface::IssueTracking);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CanonicalEvent {
    /// Provider type.
    pub provider: ProviderKind,
    /// The delivery the event came from.
    pub delivery_id: DeliveryId,
    /// Interface of the object.
    pub interface: Interface,
    /// Kind of the object.
    pub kind: ResourceKind,
    /// The provider's stable id.
    pub native_id: NativeId,
    /// The provider's action (`opened`, `edited`, `deleted`, …).
    pub action: String,
    /// When the provider says the event happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_time: Option<DateTime<Utc>>,
    /// Where the object lives at the provider (repository, project).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<ExternalTarget>,
    /// Identity links.
    #[serde(default)]
    pub link: LinkInfo,
    /// Webhook hint or authoritative read.
    pub authority: Authority,
    /// What changed.
    pub change: Change,
}

impl CanonicalEvent {
    /// An event of `provider`'s delivery (or read) `delivery_id` about one object. The
    /// interface is the kind's; time, target and links are unset until given.
    pub fn new(
        provider: impl Into<ProviderKind>,
        delivery_id: impl Into<DeliveryId>,
        kind: ResourceKind,
        native_id: impl Into<NativeId>,
        action: impl Into<String>,
        authority: Authority,
        change: Change,
    ) -> Self {
        Self {
            provider: provider.into(),
            delivery_id: delivery_id.into(),
            interface: kind.interface(),
            kind,
            native_id: native_id.into(),
            action: action.into(),
            event_time: None,
            target: None,
            link: LinkInfo::default(),
            authority,
            change,
        }
    }

    /// Sets when the provider says the event happened.
    pub fn with_event_time(mut self, at: Option<DateTime<Utc>>) -> Self {
        self.event_time = at;
        self
    }

    /// Sets where the object lives at the provider.
    pub fn with_target(mut self, target: Option<ExternalTarget>) -> Self {
        self.target = target;
        self
    }

    /// Sets the identity links.
    pub fn with_link(mut self, link: LinkInfo) -> Self {
        self.link = link;
        self
    }

    /// The key under which this event is applied at most once.
    pub fn key(&self) -> EventKey {
        EventKey {
            provider: self.provider.clone(),
            delivery_id: self.delivery_id.clone(),
            action: self.action.clone(),
            kind: self.kind,
            native_id: self.native_id.clone(),
        }
    }
}

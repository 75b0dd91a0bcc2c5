//! External versions and the total order that makes projections converge.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a provider tells us about how new an observation is.
///
/// `updated_at` and `sequence` are ordered; `etag` is only an identity for conditional
/// requests (`If-None-Match`), never compared for order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExternalVersion {
    /// The provider's last-modified time of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    /// A provider sequence number, where the provider has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// The entity tag of the response the observation came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

impl ExternalVersion {
    /// A version from a timestamp alone.
    pub fn at(updated_at: DateTime<Utc>) -> Self {
        Self {
            updated_at: Some(updated_at),
            ..Self::default()
        }
    }

    /// Sets the provider's sequence number (pipeline and job status transitions, say).
    pub fn with_sequence(mut self, sequence: impl Into<Option<u64>>) -> Self {
        self.sequence = sequence.into();
        self
    }

    /// Sets the entity tag of the response the observation came from.
    pub fn with_etag(mut self, etag: impl Into<Option<String>>) -> Self {
        self.etag = etag.into();
        self
    }

    /// Compares the ordered parts (`updated_at`, then `sequence`). An absent part sorts
    /// before any present one; the etag is ignored.
    pub fn order(&self, other: &Self) -> Ordering {
        (self.updated_at, self.sequence).cmp(&(other.updated_at, other.sequence))
    }

    /// The later of two versions by [`order`](Self::order); on a tie, `self`.
    pub fn max_of(self, other: Self) -> Self {
        if other.order(&self) == Ordering::Greater {
            other
        } else {
            self
        }
    }
}

/// How much an observation can be trusted: a webhook payload is a hint captured at send
/// time; an authoritative read (backfill or hydrate) is the provider's state at read time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Authority {
    /// From a webhook payload.
    Webhook,
    /// From a read of the provider's API.
    Authoritative,
}

/// The rank of an observation of one field: newer versions win; at the same version an
/// authoritative read wins over a webhook. Equal ranks with different content are
/// ambiguous and resolved deterministically until a hydrate answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Rank {
    /// The observation's `updated_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    /// The observation's sequence number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// Where the observation came from.
    pub authority: Authority,
}

impl Rank {
    /// The rank of an observation with this version and authority.
    pub fn of(version: &ExternalVersion, authority: Authority) -> Self {
        Self {
            at: version.updated_at,
            sequence: version.sequence,
            authority,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn absent_timestamp_sorts_first_and_etag_is_ignored() {
        let none = ExternalVersion {
            etag: Some("\"b\"".into()),
            ..Default::default()
        };
        let some = ExternalVersion::at(ts("2019-05-15T15:20:18Z"));
        assert_eq!(none.order(&some), Ordering::Less);
        let mut other = some.clone();
        other.etag = Some("\"a\"".into());
        assert_eq!(some.order(&other), Ordering::Equal);
    }

    #[test]
    fn authoritative_wins_at_equal_time_but_not_over_newer() {
        let t1 = ExternalVersion::at(ts("2019-05-15T15:20:18Z"));
        let t2 = ExternalVersion::at(ts("2019-05-15T15:20:19Z"));
        assert!(Rank::of(&t1, Authority::Authoritative) > Rank::of(&t1, Authority::Webhook));
        assert!(Rank::of(&t2, Authority::Webhook) > Rank::of(&t1, Authority::Authoritative));
    }
}

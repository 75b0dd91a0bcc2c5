//! Pieces of GitHub's JSON shared by many payloads, deserialized into typed structs that
//! hold only what kradle-sync uses (everything else is skipped while parsing).

use std::fmt;

use chrono::{DateTime, Utc};
use kradle_sync_core::{ExternalTarget, NativeId};
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// A key that GitHub may omit and may send as `null`: `None` when the key is absent,
/// `Some(None)` when it is `null`. Use with `#[serde(default, deserialize_with = "present")]`.
pub(crate) type Nullable<T> = Option<Option<T>>;

/// Deserializes a key that is present (possibly `null`) of a [`Nullable`] field.
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Nullable<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A user, of which only the login is used.
#[derive(Debug, Deserialize)]
pub(crate) struct User {
    /// Login.
    pub login: String,
}

/// The `repository` of a webhook payload, as much of it as names and links it.
#[derive(Debug, Deserialize)]
pub(crate) struct RepoRef {
    /// REST id.
    pub id: u64,
    /// `owner/name`.
    pub full_name: String,
    /// Global node id.
    #[serde(default)]
    pub node_id: Option<String>,
    /// Link for people.
    #[serde(default)]
    pub html_url: Option<String>,
    /// API URL.
    #[serde(default)]
    pub url: Option<String>,
}

impl RepoRef {
    /// The repository as a target.
    pub fn target(&self) -> ExternalTarget {
        ExternalTarget::from_path(self.full_name.as_str())
    }
}

/// An object of which only the id is used.
#[derive(Debug, Deserialize)]
pub(crate) struct IdOnly {
    /// REST id.
    pub id: u64,
}

/// The smallest view of any payload: its action and repository. Used for events that are
/// not synced, so they still report their action and target.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope {
    /// The action, if the event has one.
    #[serde(default)]
    pub action: Option<String>,
    /// The repository, if the event names one.
    #[serde(default)]
    pub repository: Option<RepoRef>,
}

/// A time GitHub sends either as an RFC 3339 string or, in `push` payloads, as Unix
/// seconds (`repository.pushed_at`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timestamp(pub DateTime<Utc>);

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TimestampVisitor;

        impl Visitor<'_> for TimestampVisitor {
            type Value = Timestamp;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 time or Unix seconds")
            }

            fn visit_u64<E: de::Error>(self, seconds: u64) -> Result<Timestamp, E> {
                i64::try_from(seconds)
                    .ok()
                    .and_then(|s| DateTime::from_timestamp(s, 0))
                    .map(Timestamp)
                    .ok_or_else(|| E::custom(format!("Unix time {seconds} is out of range")))
            }

            fn visit_i64<E: de::Error>(self, seconds: i64) -> Result<Timestamp, E> {
                DateTime::from_timestamp(seconds, 0)
                    .map(Timestamp)
                    .ok_or_else(|| E::custom(format!("Unix time {seconds} is out of range")))
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Timestamp, E> {
                DateTime::parse_from_rfc3339(value)
                    .map(|t| Timestamp(t.with_timezone(&Utc)))
                    .map_err(|e| E::custom(format!("invalid time `{value}`: {e}")))
            }
        }

        deserializer.deserialize_any(TimestampVisitor)
    }
}

/// A native id from GitHub's numeric REST id.
pub(crate) fn native_id(id: u64) -> NativeId {
    NativeId::new(id.to_string())
}

/// The `owner/repo` of a REST API URL (`https://api.github.com/repos/o/r/issues/1`, or on
/// GitHub Enterprise Server `https://ghe.example/api/v3/repos/o/r/...`).
pub(crate) fn target_from_api_url(url: &str) -> Option<ExternalTarget> {
    let (_, rest) = url.split_once("/repos/")?;
    let mut segments = rest.split('/');
    let owner = segments.next().filter(|s| !s.is_empty())?;
    let repo = segments.next().filter(|s| !s.is_empty())?;
    Some(ExternalTarget::from_path(format!("{owner}/{repo}")))
}

/// The trailing number of a URL (`…/issues/1347` → 1347).
pub(crate) fn trailing_number(url: &str) -> Option<u64> {
    url.rsplit('/').next()?.parse().ok()
}

/// A label as listed on an issue or pull request: GitHub documents each item as either a
/// label object or, in some responses, a bare name. Only the name is kept.
#[derive(Debug)]
pub(crate) struct LabelName(pub String);

impl<'de> Deserialize<'de> for LabelName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(field_identifier, rename_all = "snake_case")]
        enum LabelKey {
            Name,
            #[serde(other)]
            Other,
        }

        struct LabelVisitor;

        impl<'de> Visitor<'de> for LabelVisitor {
            type Value = LabelName;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a label object with a `name`, or a label name")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<LabelName, E> {
                Ok(LabelName(value.to_owned()))
            }

            fn visit_string<E: de::Error>(self, value: String) -> Result<LabelName, E> {
                Ok(LabelName(value))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LabelName, A::Error> {
                let mut name = None;
                while let Some(key) = map.next_key::<LabelKey>()? {
                    match key {
                        LabelKey::Name => name = Some(map.next_value::<String>()?),
                        LabelKey::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                name.map(LabelName)
                    .ok_or_else(|| de::Error::missing_field("name"))
            }
        }

        deserializer.deserialize_any(LabelVisitor)
    }
}

/// Label names, sorted and without duplicates, as the canonical objects hold them.
pub(crate) fn sorted_names(labels: Vec<LabelName>) -> Vec<String> {
    let mut names: Vec<String> = labels.into_iter().map(|l| l.0).collect();
    names.sort();
    names.dedup();
    names
}

/// Logins, sorted and without duplicates.
pub(crate) fn sorted_logins(users: Vec<User>) -> Vec<String> {
    let mut logins: Vec<String> = users.into_iter().map(|u| u.login).collect();
    logins.sort();
    logins.dedup();
    logins
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_from_api_urls() {
        let t = target_from_api_url("https://api.github.com/repos/octocat/Hello-World/issues/1");
        assert_eq!(t.map(|t| t.path), Some("octocat/Hello-World".to_owned()));
        let ghe = target_from_api_url("https://ghe.example/api/v3/repos/o/r");
        assert_eq!(ghe.map(|t| t.path), Some("o/r".to_owned()));
        assert_eq!(
            target_from_api_url("https://api.github.com/users/octocat"),
            None
        );
        assert_eq!(target_from_api_url("https://api.github.com/repos/o"), None);
    }

    #[test]
    fn trailing_numbers() {
        assert_eq!(
            trailing_number("https://api.github.com/repos/o/r/issues/1347"),
            Some(1347)
        );
        assert_eq!(
            trailing_number("https://api.github.com/repos/o/r/issues/x"),
            None
        );
    }

    #[test]
    fn label_names_from_objects_or_strings() -> Result<(), serde_json::Error> {
        let labels: Vec<LabelName> =
            serde_json::from_str(r#"[{"id":1,"name":"bug","color":"f29513"},"enhancement"]"#)?;
        assert_eq!(sorted_names(labels), vec!["bug", "enhancement"]);
        assert!(serde_json::from_str::<Vec<LabelName>>(r#"[{"id":1}]"#).is_err());
        Ok(())
    }

    #[test]
    fn nullable_distinguishes_absent_from_null() -> Result<(), serde_json::Error> {
        #[derive(Deserialize)]
        struct T {
            #[serde(default, deserialize_with = "present")]
            body: Nullable<String>,
        }
        assert_eq!(serde_json::from_str::<T>("{}")?.body, None);
        assert_eq!(
            serde_json::from_str::<T>(r#"{"body":null}"#)?.body,
            Some(None)
        );
        assert_eq!(
            serde_json::from_str::<T>(r#"{"body":"x"}"#)?.body,
            Some(Some("x".into()))
        );
        Ok(())
    }
}

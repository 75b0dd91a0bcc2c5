//! Pieces of GitLab's JSON shared by many payloads, deserialized into typed structs that
//! hold only what kradle-sync uses (everything else is skipped while parsing).

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use kradle_sync_core::{ExternalTarget, NativeId};
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// A key that GitLab may omit and may send as `null`: `None` when the key is absent,
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

/// Parses a time in any of the forms GitLab sends: RFC 3339 (`2013-12-03T17:15:43Z`,
/// `2018-05-22T22:00:18.858+02:00`), Rails' `2015-05-17 18:08:09 UTC`, and
/// `2021-04-28 21:50:00 +0200`.
pub(crate) fn parse_time(value: &str) -> Option<DateTime<Utc>> {
    let value = value.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Some(t.with_timezone(&Utc));
    }
    if let Some(naive) = value.strip_suffix(" UTC") {
        for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M:%S"] {
            if let Ok(t) = NaiveDateTime::parse_from_str(naive, format) {
                return Some(t.and_utc());
            }
        }
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f %z", "%Y-%m-%d %H:%M:%S %z"] {
        if let Ok(t) = DateTime::parse_from_str(value, format) {
            return Some(t.with_timezone(&Utc));
        }
    }
    None
}

/// A time in any form GitLab sends (see [`parse_time`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Time(pub DateTime<Utc>);

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TimeVisitor;

        impl Visitor<'_> for TimeVisitor {
            type Value = Time;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a time such as `2013-12-03T17:15:43Z` or `2015-05-17 18:08:09 UTC`")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Time, E> {
                parse_time(value).map(Time).ok_or_else(|| {
                    let shown: String = value.chars().take(40).collect();
                    E::custom(format!("`{shown}` is not a time in a form GitLab sends"))
                })
            }
        }

        deserializer.deserialize_str(TimeVisitor)
    }
}

/// `Option<Time>` as a plain time: the form of most optional timestamps.
pub(crate) fn time(value: Option<Time>) -> Option<DateTime<Utc>> {
    value.map(|t| t.0)
}

/// `Nullable<Time>` as a nullable time.
pub(crate) fn nullable_time(value: Nullable<Time>) -> Nullable<DateTime<Utc>> {
    value.map(|t| t.map(|t| t.0))
}

/// A calendar date (`2012-10-22`, a milestone's `due_date`), as midnight UTC; a full time is
/// accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Day(pub DateTime<Utc>);

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if let Ok(date) = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
            && let Some(t) = date.and_hms_opt(0, 0, 0)
        {
            return Ok(Day(t.and_utc()));
        }
        parse_time(&text).map(Day).ok_or_else(|| {
            let shown: String = text.chars().take(40).collect();
            de::Error::custom(format!("`{shown}` is not a date such as `2012-10-22`"))
        })
    }
}

/// A numeric id GitLab sends as a number (or, in a few responses, as a string of digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Id(pub u64);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;

        impl Visitor<'_> for IdVisitor {
            type Value = Id;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer id")
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Id, E> {
                Ok(Id(value))
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Id, E> {
                u64::try_from(value)
                    .map(Id)
                    .map_err(|_| E::custom(format!("id {value} is negative")))
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Id, E> {
                value
                    .trim()
                    .parse::<u64>()
                    .map(Id)
                    .map_err(|_| E::custom("an id string that is not an integer"))
            }
        }

        deserializer.deserialize_any(IdVisitor)
    }
}

impl Id {
    /// The id as a native id.
    pub fn native(self) -> NativeId {
        native_id(self.0)
    }
}

/// A native id from GitLab's numeric REST id.
pub(crate) fn native_id(id: u64) -> NativeId {
    NativeId::new(id.to_string())
}

/// A user as GitLab embeds one: `user`, `author`, `assignees[]`.
#[derive(Debug, Deserialize)]
pub(crate) struct UserRef {
    /// REST id (absent in some older webhook payloads).
    #[serde(default)]
    pub id: Option<Id>,
    /// Username (absent in some REST examples, which carry only the e-mail).
    #[serde(default)]
    pub username: Option<String>,
}

/// A project path as a target: `path` is `group/…/project`, and `owner` its top-level group
/// (the binding's org), whatever the depth of subgroups.
pub(crate) fn project_target(path: &str) -> ExternalTarget {
    let mut target = ExternalTarget::from_path(path);
    if target.owner.is_some() {
        target.owner = Some(target.top_level().to_owned());
    }
    target
}

/// The `project` of a webhook payload, as much of it as names and links it.
#[derive(Debug, Deserialize)]
pub(crate) struct ProjectRef {
    /// `group/…/project`: the binding's target.
    #[serde(default)]
    pub path_with_namespace: Option<String>,
}

impl ProjectRef {
    /// The project as a target, when the payload names its path.
    pub fn target(&self) -> Option<ExternalTarget> {
        self.path_with_namespace
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(project_target)
    }
}

/// The smallest view of any payload: its project. Used for hooks that are not synced, so
/// they still report their target.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope {
    /// The project, if the hook names one.
    #[serde(default)]
    pub project: Option<ProjectRef>,
}

/// `references.full` of a REST object (`gitlab-org/gitlab#123`, `group/sub/project!7`).
#[derive(Debug, Deserialize)]
pub(crate) struct References {
    #[serde(default)]
    full: Option<String>,
}

impl References {
    /// The project path of a full reference (everything before its last `#`, `!`, `%`,
    /// `&` or `~`).
    pub fn target(&self) -> Option<ExternalTarget> {
        let full = self.full.as_deref()?;
        let cut = full.rfind(['#', '!', '%', '&', '~'])?;
        let path = full.get(..cut)?.trim();
        (!path.is_empty() && path.contains('/')).then(|| project_target(path))
    }
}

/// A milestone as an issue names it in REST (`milestone.iid`).
#[derive(Debug, Deserialize)]
pub(crate) struct MilestoneRef {
    /// The number people see (`%3`).
    #[serde(default)]
    pub iid: Option<u64>,
}

/// `_links` of a REST object.
#[derive(Debug, Deserialize)]
pub(crate) struct Links {
    /// The object's API URL.
    #[serde(default, rename = "self")]
    pub own: Option<String>,
}

/// A commit as a hook embeds one (`last_commit`, `commit`).
#[derive(Debug, Deserialize)]
pub(crate) struct CommitRef {
    /// The SHA.
    #[serde(default)]
    pub id: Option<String>,
    /// When it was committed.
    #[serde(default)]
    pub timestamp: Option<Time>,
}

/// A label as GitLab lists one: an object with a `title` (webhooks) or a `name` (REST
/// label objects), or a bare name (REST issue and merge request listings). Only the name
/// is kept.
#[derive(Debug)]
pub(crate) struct LabelName(pub String);

impl<'de> Deserialize<'de> for LabelName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(field_identifier, rename_all = "snake_case")]
        enum LabelKey {
            Title,
            Name,
            #[serde(other)]
            Other,
        }

        struct LabelVisitor;

        impl<'de> Visitor<'de> for LabelVisitor {
            type Value = LabelName;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a label object with a `title` or `name`, or a label name")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<LabelName, E> {
                Ok(LabelName(value.to_owned()))
            }

            fn visit_string<E: de::Error>(self, value: String) -> Result<LabelName, E> {
                Ok(LabelName(value))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LabelName, A::Error> {
                let (mut title, mut name) = (None, None);
                while let Some(key) = map.next_key::<LabelKey>()? {
                    match key {
                        LabelKey::Title => title = map.next_value::<Option<String>>()?,
                        LabelKey::Name => name = map.next_value::<Option<String>>()?,
                        LabelKey::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                title
                    .or(name)
                    .map(LabelName)
                    .ok_or_else(|| de::Error::missing_field("title"))
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

/// Usernames of users, sorted and without duplicates; `None` if any user lacks one (the
/// list would be incomplete).
pub(crate) fn sorted_usernames(users: Vec<UserRef>) -> Option<Vec<String>> {
    let mut names = users
        .into_iter()
        .map(|u| u.username)
        .collect::<Option<Vec<String>>>()?;
    names.sort();
    names.dedup();
    Some(names)
}

/// Sorted, deduplicated strings.
pub(crate) fn sorted(mut values: Vec<String>) -> Vec<String> {
    values.sort();
    values.dedup();
    values
}

/// The author's username when the payload's actor (`user`) is the author (`author_id`):
/// GitLab webhooks name the author only by id, and the actor by id and username.
pub(crate) fn author_from_actor(author_id: Option<Id>, actor: Option<&UserRef>) -> Option<String> {
    let actor = actor?;
    match (author_id, actor.id) {
        (Some(author), Some(id)) if author == id => actor.username.clone(),
        _ => None,
    }
}

/// `opened` → `open`, `closed` → `closed` (issues, milestones' `active` → `open`).
pub(crate) fn open_or_closed(state: &str) -> Option<kradle_sync_core::object::IssueState> {
    use kradle_sync_core::object::IssueState;
    match state {
        "opened" | "open" | "active" | "reopened" => Some(IssueState::Open),
        "closed" => Some(IssueState::Closed),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    #[test]
    fn every_time_format_gitlab_sends() {
        assert_eq!(
            parse_time("2013-12-03T17:15:43Z"),
            at("2013-12-03T17:15:43Z")
        );
        assert_eq!(
            parse_time("2016-01-04T15:31:46.176Z"),
            at("2016-01-04T15:31:46.176Z")
        );
        assert_eq!(
            parse_time("2015-05-17 18:08:09 UTC"),
            at("2015-05-17T18:08:09Z")
        );
        assert_eq!(
            parse_time("2021-04-28 21:50:00 +0200"),
            at("2021-04-28T19:50:00Z")
        );
        assert_eq!(
            parse_time("2018-05-22T22:00:18.858+02:00"),
            at("2018-05-22T20:00:18.858Z")
        );
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time(""), None);
    }

    #[test]
    fn days_and_ids() -> Result<(), serde_json::Error> {
        let day: Day = serde_json::from_str("\"2012-10-22\"")?;
        assert_eq!(Some(day.0), at("2012-10-22T00:00:00Z"));
        assert!(serde_json::from_str::<Day>("\"22/10/2012\"").is_err());
        assert_eq!(serde_json::from_str::<Id>("42")?, Id(42));
        assert_eq!(serde_json::from_str::<Id>("\"12345\"")?, Id(12345));
        assert!(serde_json::from_str::<Id>("-1").is_err());
        assert!(serde_json::from_str::<Id>("\"x\"").is_err());
        Ok(())
    }

    #[test]
    fn labels_from_titles_names_or_strings() -> Result<(), serde_json::Error> {
        let labels: Vec<LabelName> = serde_json::from_str(
            r##"[{"id":206,"title":"API","color":"#ffffff"},{"name":"Backlog"},"bug"]"##,
        )?;
        assert_eq!(sorted_names(labels), vec!["API", "Backlog", "bug"]);
        assert!(serde_json::from_str::<Vec<LabelName>>(r#"[{"id":1}]"#).is_err());
        Ok(())
    }

    #[test]
    fn references_name_the_project() -> Result<(), serde_json::Error> {
        let r: References = serde_json::from_str(r#"{"full":"group/sub/project#12"}"#)?;
        assert_eq!(
            r.target().map(|t| t.path).as_deref(),
            Some("group/sub/project")
        );
        let mr: References = serde_json::from_str(r#"{"full":"gitlab-org/gitlab-ee!14656"}"#)?;
        assert_eq!(
            mr.target().map(|t| t.path).as_deref(),
            Some("gitlab-org/gitlab-ee")
        );
        let short: References = serde_json::from_str(r##"{"full":"#12"}"##)?;
        assert_eq!(short.target(), None);
        Ok(())
    }

    #[test]
    fn an_author_is_named_only_when_the_actor_is_the_author() -> Result<(), serde_json::Error> {
        let actor: UserRef = serde_json::from_str(r#"{"id":51,"username":"root"}"#)?;
        assert_eq!(
            author_from_actor(Some(Id(51)), Some(&actor)).as_deref(),
            Some("root")
        );
        assert_eq!(author_from_actor(Some(Id(1)), Some(&actor)), None);
        assert_eq!(author_from_actor(None, Some(&actor)), None);
        Ok(())
    }
}

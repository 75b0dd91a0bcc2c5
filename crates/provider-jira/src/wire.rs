//! Pieces of Jira's JSON shared by many payloads: times, users, and where an object lives
//! (its site and project, read from its `self` URL and key).

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use kradle_sync_core::ExternalTarget;
use serde_json::Value;

/// A time as Jira writes it: `2019-02-15T19:18:01.707-0800` (REST and webhooks), RFC 3339,
/// or epoch milliseconds (a webhook's `timestamp`; one documented example has `updated: 1`).
pub(crate) fn time(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::String(text) => parse_time(text),
        Value::Number(n) => n
            .as_i64()
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
        _ => None,
    }
}

/// A time string in any of Jira's forms.
pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(text))
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            // A date alone (a version's `releaseDate`): midnight UTC.
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })
}

/// The id a user is known by: the `accountId` on Jira Cloud, the user `name` on Data
/// Center and Server (then its `key`). `None` for `null` or a user without any.
pub(crate) fn user_id(user: &Value) -> Option<String> {
    ["accountId", "name", "key"]
        .iter()
        .filter_map(|k| user.get(*k).and_then(Value::as_str))
        .find(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A string field.
pub(crate) fn text<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

/// An id Jira writes as a string (`"10040"`) or, in a few places, a number.
pub(crate) fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        _ => None,
    }
}

/// The site of a REST URL: its host, with the port when one is given
/// (`https://example.atlassian.net/rest/api/2/issue/1` → `example.atlassian.net`,
/// `http://jira.local:8080/jira/rest/…` → `jira.local:8080`), lower case.
pub(crate) fn site_of(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Everything before `/rest/` of a REST URL: the site's base for people's links
/// (`http://localhost:2990/jira/rest/api/2/issue/1` → `http://localhost:2990/jira`).
pub(crate) fn base_of(url: &str) -> Option<&str> {
    url.find("/rest/").and_then(|i| url.get(..i))
}

/// The project key of an issue key (`KRADLE-123` → `KRADLE`).
pub(crate) fn key_project(key: &str) -> Option<&str> {
    key.rsplit_once('-').map(|(project, _)| project)
}

/// The number of an issue key (`KRADLE-123` → 123).
pub(crate) fn key_number(key: &str) -> Option<u64> {
    key.rsplit_once('-').and_then(|(_, n)| n.parse().ok())
}

/// `SITE/KEY`, the target of a binding.
pub(crate) fn target(site: &str, project: &str) -> ExternalTarget {
    ExternalTarget::from_path(format!("{site}/{project}"))
}

/// The id following `/{segment}/` in a URL (`…/issue/10013/comment/10082`, `issue` →
/// `10013`).
pub(crate) fn id_after<'a>(url: &'a str, segment: &str) -> Option<&'a str> {
    let marker = format!("/{segment}/");
    let start = url.find(&marker)? + marker.len();
    let rest = url.get(start..)?;
    let id = rest.split(['/', '?', '#']).next()?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then_some(id)
}

/// Whether `key` is a project key Jira accepts: an upper-case letter, then upper-case
/// letters, digits or underscores (at least two characters).
pub(crate) fn is_project_key(key: &str) -> bool {
    let mut bytes = key.bytes();
    matches!(bytes.next(), Some(b'A'..=b'Z'))
        && key.len() >= 2
        && bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_jira_forms() {
        let t = parse_time("2019-02-15T19:18:01.707-0800").map(|t| t.to_rfc3339());
        assert_eq!(t.as_deref(), Some("2019-02-16T03:18:01.707+00:00"));
        assert!(parse_time("2021-01-17T12:34:00.000+0000").is_some());
        assert!(parse_time("2024-01-01T00:00:00Z").is_some());
        assert_eq!(
            parse_time("2010-07-06").map(|t| t.to_rfc3339()).as_deref(),
            Some("2010-07-06T00:00:00+00:00")
        );
        assert!(parse_time("soon").is_none());
        assert!(time(&serde_json::json!(1550287081752_u64)).is_some());
    }

    #[test]
    fn sites_keys_and_ids() {
        assert_eq!(
            site_of("https://Example.atlassian.net/rest/api/2/issue/1").as_deref(),
            Some("example.atlassian.net")
        );
        assert_eq!(
            site_of("http://localhost:2990/jira/rest/api/2/issue/1").as_deref(),
            Some("localhost:2990")
        );
        assert_eq!(site_of("ftp://x"), None);
        assert_eq!(
            base_of("http://localhost:2990/jira/rest/api/2/issue/1"),
            Some("http://localhost:2990/jira")
        );
        assert_eq!(key_project("KRADLE-123"), Some("KRADLE"));
        assert_eq!(key_number("KRADLE-123"), Some(123));
        assert_eq!(key_number("KRADLE"), None);
        assert_eq!(
            id_after("http://h/rest/api/2/issue/10013/comment/10082", "issue"),
            Some("10013")
        );
        assert_eq!(
            id_after("http://h/rest/api/2/issue/KEY-1/comment/1", "issue"),
            None
        );
        assert!(is_project_key("KRADLE") && is_project_key("A1_B"));
        assert!(!is_project_key("kradle") && !is_project_key("K") && !is_project_key("1A"));
    }
}

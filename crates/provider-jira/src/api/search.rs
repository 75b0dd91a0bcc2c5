//! Issue search: Jira Cloud's `POST /rest/api/3/search/jql` (token pagination,
//! `nextPageToken`/`isLast`) and Data Center's `GET /rest/api/2/search` (offset pagination,
//! `startAt`/`maxResults`/`total`), with the JQL the adapter writes.

use chrono::{DateTime, FixedOffset, Utc};
use kradle_http::{ApiRequest, OffsetPagination, Pagination, ParamsIn, Priority, TokenPagination};
use kradle_sync_core::{Error, Page, PageRequest};
use serde_json::{Value, json};

use super::client::{Flavor, JiraClient};

/// The fields every issue read asks for: all of them but the heavy lists kradle-sync does
/// not project.
pub(crate) const FIELDS: &str = "*all,-comment,-worklog,-attachment,-watches,-votes";

/// The entity property a create stores its write intent's key in.
pub(crate) const INTENT_PROPERTY: &str = "kradle.intent";

/// A JQL string literal: double-quoted, with `"` and `\` escaped.
pub(crate) fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A JQL date (`"yyyy/MM/dd HH:mm"`, minutes: JQL's precision) of `at` in the site's
/// offset, rounded down so that `>=` keeps the watermark's own minute.
pub(crate) fn jql_time(at: DateTime<Utc>, offset: FixedOffset) -> String {
    format!("\"{}\"", at.with_timezone(&offset).format("%Y/%m/%d %H:%M"))
}

/// `project = "KEY" [AND updated >= "…"] ORDER BY updated DESC`.
pub(crate) fn changed_jql(project: &str, since: Option<String>) -> String {
    let mut jql = format!("project = {}", quoted(project));
    if let Some(since) = since {
        jql.push_str(&format!(" AND updated >= {since}"));
    }
    jql.push_str(" ORDER BY updated DESC");
    jql
}

/// A search request and its pagination, for the client's flavor.
pub(crate) fn request(
    client: &JiraClient,
    jql: &str,
    properties: &[&str],
    priority: Priority,
) -> (ApiRequest, Box<dyn Pagination>) {
    match client.flavor() {
        Flavor::Cloud => {
            let mut body = json!({
                "jql": jql,
                "fields": FIELDS.split(',').collect::<Vec<_>>(),
            });
            if !properties.is_empty() {
                body["properties"] = json!(properties);
            }
            let request = ApiRequest::post(client.path("/search/jql"))
                .json(body)
                // A search changes nothing: repeating it is harmless.
                .idempotent(true)
                .priority(priority);
            (
                request,
                Box::new(TokenPagination::new().params_in(ParamsIn::Body)),
            )
        }
        Flavor::DataCenter => {
            let mut request = ApiRequest::get(client.path("/search"))
                .query("jql", jql)
                .query("fields", FIELDS)
                .priority(priority);
            if !properties.is_empty() {
                request = request.query("properties", properties.join(","));
            }
            (request, Box::new(OffsetPagination::new()))
        }
    }
}

/// One page of a search.
pub(crate) async fn page(
    client: &JiraClient,
    jql: &str,
    properties: &[&str],
    priority: Priority,
    page: &PageRequest,
) -> Result<Page<Value>, Error> {
    let (request, pagination) = request(client, jql, properties, priority);
    client.page(request, pagination.as_ref(), page).await
}

/// Whether an issue or comment carries the intent property with `key`: in a search
/// result's `properties` map, or in a comment's `properties` list.
pub(crate) fn has_intent(item: &Value, key: &str) -> bool {
    let value_key = |v: &Value| v.get("key").and_then(Value::as_str) == Some(key);
    match item.get("properties") {
        Some(Value::Object(map)) => map.get(INTENT_PROPERTY).is_some_and(value_key),
        Some(Value::Array(list)) => list.iter().any(|p| {
            p.get("key").and_then(Value::as_str) == Some(INTENT_PROPERTY)
                && p.get("value").is_some_and(value_key)
        }),
        _ => false,
    }
}

/// The intent property as a create carries it.
pub(crate) fn intent_property(key: &str) -> Value {
    json!([{ "key": INTENT_PROPERTY, "value": { "key": key } }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jql_literals_and_dates() {
        assert_eq!(quoted(r#"a"b\c"#), r#""a\"b\\c""#);
        let at = DateTime::parse_from_rfc3339("2024-03-10T10:15:59Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let sydney = FixedOffset::east_opt(11 * 3600).unwrap_or(Utc.fix());
        assert_eq!(jql_time(at, sydney), "\"2024/03/10 21:15\"");
        assert_eq!(
            changed_jql("KRADLE", Some(jql_time(at, Utc.fix()))),
            "project = \"KRADLE\" AND updated >= \"2024/03/10 10:15\" ORDER BY updated DESC"
        );
        assert!(has_intent(
            &json!({"properties": {"kradle.intent": {"key": "k1"}}}),
            "k1"
        ));
        assert!(has_intent(
            &json!({"properties": [{"key": "kradle.intent", "value": {"key": "k1"}}]}),
            "k1"
        ));
        assert!(!has_intent(&json!({"properties": {}}), "k1"));
    }

    use chrono::Offset;
}

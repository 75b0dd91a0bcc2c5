//! Reading a provider's error body: its message (GitHub and GitLab `message`, GitHub's
//! validation `errors`, Jira's `errorMessages`/`errors`), cut short and scrubbed of the
//! credential the request carried.

use kradle_sync_core::Secret;
use serde_json::Value;

const MAX_MESSAGE: usize = 500;

/// The provider's message in an error body, if it has one.
pub(crate) fn provider_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let mut parts: Vec<String> = Vec::new();
    match value.get("message") {
        Some(Value::String(s)) => parts.push(s.clone()),
        Some(other @ (Value::Object(_) | Value::Array(_))) => parts.push(other.to_string()),
        _ => {}
    }
    if let Some(errors) = value.get("errors").and_then(Value::as_array) {
        // GitHub validation errors: {resource, field, code} or {message}.
        let details: Vec<String> = errors
            .iter()
            .map(|e| match e {
                Value::String(s) => s.clone(),
                Value::Object(o) => o.get("message").and_then(Value::as_str).map_or_else(
                    || {
                        [
                            o.get("resource").and_then(Value::as_str),
                            o.get("field").and_then(Value::as_str),
                            o.get("code").and_then(Value::as_str),
                        ]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" ")
                    },
                    str::to_owned,
                ),
                other => other.to_string(),
            })
            .filter(|s| !s.is_empty())
            .collect();
        if !details.is_empty() {
            parts.push(details.join("; "));
        }
    }
    // Jira: {"errorMessages": [...], "errors": {"field": "message"}}.
    if let Some(msgs) = value.get("errorMessages").and_then(Value::as_array) {
        parts.extend(msgs.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    if let Some(map) = value.get("errors").and_then(Value::as_object) {
        parts.extend(map.iter().map(|(k, v)| {
            format!(
                "{k}: {}",
                v.as_str().map_or_else(|| v.to_string(), str::to_owned)
            )
        }));
    }
    // OAuth-style {"error": "...", "error_description": "..."} (GitLab).
    if parts.is_empty() {
        if let Some(e) = value.get("error").and_then(Value::as_str) {
            parts.push(e.to_owned());
        }
        if let Some(d) = value.get("error_description").and_then(Value::as_str) {
            parts.push(d.to_owned());
        }
    }
    let text = parts.join(": ");
    (!text.is_empty()).then_some(text)
}

/// Cuts `text` to a readable length and removes the credential (whole, and its token
/// after the scheme) if a provider echoed it back.
pub(crate) fn scrub(text: &str, secret: Option<&Secret>) -> String {
    let mut out: String = text.chars().take(MAX_MESSAGE).collect();
    if text.chars().count() > MAX_MESSAGE {
        out.push('…');
    }
    if let Some(secret) = secret.filter(|s| !s.is_empty()) {
        out = out.replace(secret.expose(), "[redacted]");
        if let Some(token) = secret
            .expose()
            .split_whitespace()
            .last()
            .filter(|t| t.len() >= 6)
        {
            out = out.replace(token, "[redacted]");
        }
    }
    out
}

/// Whether a `403` body says it is a rate limit (GitHub's secondary limits).
pub(crate) fn mentions_rate_limit(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("rate limit") || m.contains("abuse detection")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_of_each_provider() {
        let github = br#"{"message":"Validation Failed","errors":[{"resource":"Label","code":"invalid","field":"color"}],"documentation_url":"https://docs.github.com/rest/reference/issues#create-a-label"}"#;
        assert_eq!(
            provider_message(github).as_deref(),
            Some("Validation Failed: Label color invalid")
        );
        let gitlab = br#"{"message":"409 Already exists"}"#;
        assert_eq!(
            provider_message(gitlab).as_deref(),
            Some("409 Already exists")
        );
        let gitlab_fields = br#"{"message":{"title":["can't be blank"]}}"#;
        assert_eq!(
            provider_message(gitlab_fields).as_deref(),
            Some(r#"{"title":["can't be blank"]}"#)
        );
        let jira = br#"{"errorMessages":["Only custom fields can be queried."],"errors":{}}"#;
        assert_eq!(
            provider_message(jira).as_deref(),
            Some("Only custom fields can be queried.")
        );
        assert_eq!(provider_message(b"<html>Bad gateway</html>"), None);
    }

    #[test]
    fn scrubs_the_credential() {
        let s = Secret::new("Bearer ghp_abcdefghijklmnop");
        let text = "token ghp_abcdefghijklmnop is not valid (Bearer ghp_abcdefghijklmnop)";
        let out = scrub(text, Some(&s));
        assert!(!out.contains("ghp_"), "{out}");
        assert_eq!(
            scrub(&"x".repeat(600), None).chars().count(),
            MAX_MESSAGE + 1
        );
    }
}

//! `kradle-sync normalize`: one payload's canonical events, as JSON lines.

use kradle_sync_core::{Headers, WebhookAdapter, WebhookRequest};
use sha2::{Digest, Sha256};

use crate::error::CliError;

/// The GitHub event a bare payload most likely came with, judged by its top-level keys.
/// Used only when `--event` is not given.
pub fn guess_github_event(payload: &serde_json::Value) -> Option<&'static str> {
    let has = |k: &str| payload.get(k).is_some();
    Some(match () {
        _ if has("zen") && has("hook_id") => "ping",
        _ if has("issue") && has("comment") => "issue_comment",
        _ if has("issue") => "issues",
        _ if has("pull_request") && has("review") => "pull_request_review",
        _ if has("pull_request") && has("comment") => "pull_request_review_comment",
        _ if has("pull_request") => "pull_request",
        _ if has("workflow_run") => "workflow_run",
        _ if has("workflow_job") => "workflow_job",
        _ if has("check_run") => "check_run",
        _ if has("check_suite") => "check_suite",
        _ if has("deployment_status") => "deployment_status",
        _ if has("deployment") => "deployment",
        _ if has("label") => "label",
        _ if has("milestone") => "milestone",
        _ if has("sha") && has("context") && has("state") => "status",
        _ if has("ref") && has("before") && has("after") && has("commits") => "push",
        _ => return None,
    })
}

/// Normalizes one payload file. Returns the lines to print.
pub fn run(
    adapter: &dyn WebhookAdapter,
    event: Option<&str>,
    body: Vec<u8>,
) -> Result<Vec<String>, CliError> {
    let descriptor = adapter.descriptor();
    let event = match event {
        Some(e) => e.to_owned(),
        None => serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| if descriptor.kind.as_str() == "github" { guess_github_event(&v) } else { None })
            .map(str::to_owned)
            .ok_or_else(|| CliError::Usage("cannot tell the event type from the payload; pass --event (for GitHub, the X-GitHub-Event header value)".into()))?,
    };
    let mut headers = Headers::default();
    if let Some(h) = &descriptor.event_header {
        headers.insert(h.clone(), event);
    }
    if let Some(h) = &descriptor.delivery_header {
        headers.insert(
            h.clone(),
            format!("normalize-{}", &hex::encode(Sha256::digest(&body))[..16]),
        );
    }
    let normalized = adapter.normalize_webhook(&WebhookRequest { headers, body })?;
    let mut lines = Vec::new();
    for event in &normalized.events {
        lines.push(serde_json::to_string(event).map_err(|e| CliError::Usage(e.to_string()))?);
    }
    if let Some(reason) = normalized.ignored {
        lines.push(format!("ignored: {reason}"));
    }
    Ok(lines)
}

//! The ordering key of a delivery: the issue its payload is about, read cheaply at receive
//! time so workers never process two deliveries about one issue at once. A comment orders
//! by its issue (from the payload's issue, or the comment's `self` URL).

use serde::Deserialize;

use crate::wire::id_after;

#[derive(Deserialize)]
struct Issue {
    id: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Comment {
    #[serde(rename = "self")]
    url: Option<String>,
}

/// Only the identifying parts of a payload; everything else is skipped unparsed.
#[derive(Deserialize)]
struct Peek {
    issue: Option<Issue>,
    comment: Option<Comment>,
}

/// The key of the issue a Jira payload is about, if it names one.
pub(crate) fn ordering_key(body: &[u8]) -> Option<String> {
    let peek: Peek = serde_json::from_slice(body).ok()?;
    let from_issue = peek
        .issue
        .and_then(|i| i.id)
        .and_then(|id| crate::wire::id_text(&id));
    let id = from_issue.or_else(|| {
        peek.comment
            .and_then(|c| c.url)
            .and_then(|u| id_after(&u, "issue").map(str::to_owned))
    })?;
    Some(format!("issue:{id}"))
}

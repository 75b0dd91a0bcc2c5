//! Comments: `comment_*` webhooks, the comment of `jira:issue_updated` (`issue_commented`,
//! `issue_comment_edited`), and REST comment objects.
//!
//! Fields: `issue_native_id` (the issue's id, from the payload's issue or the comment's
//! `self` URL), `issue_number` (of the issue's key, when the payload names it), `body`
//! (Markdown; the original in `body_adf` or `body_wiki`), `author` (account id on Cloud,
//! user name on Data Center), `created_at`, `html_url` (when the issue's key is known).
//! Version: `updated`.

use kradle_sync_core::{ExternalTarget, Fields, LinkInfo, NativeId, ResourceKind};
use serde_json::{Value, json};

use super::body;
use super::issue::IssueRef;
use crate::emit::Subject;
use crate::error::JiraError;
use crate::wire::{base_of, id_after, id_text, text, time, user_id};

/// A comment object's identity and fields.
pub(crate) struct CommentView {
    /// Its identity.
    pub subject: Subject,
    /// Its fields.
    pub fields: Fields,
}

/// Reads a comment; `issue` is the payload's issue, when it has one.
pub(crate) fn read(
    comment: &Value,
    issue: Option<&IssueRef>,
    context: &str,
) -> Result<CommentView, JiraError> {
    if !comment.is_object() {
        return Err(JiraError::Shape {
            context: context.to_owned(),
            detail: "`comment` is not a JSON object".into(),
        });
    }
    let id = comment
        .get("id")
        .and_then(id_text)
        .ok_or_else(|| JiraError::Shape {
            context: context.to_owned(),
            detail: "the comment has no `id`; Jira always sends it".into(),
        })?;
    let api_url = text(comment, "self").map(str::to_owned);
    let issue_id = issue.map(|i| i.id.clone()).or_else(|| {
        api_url
            .as_deref()
            .and_then(|u| id_after(u, "issue"))
            .map(str::to_owned)
    });
    let key = issue.and_then(|i| i.key.clone());
    let html_url = match (api_url.as_deref().and_then(base_of), key.as_deref()) {
        (Some(base), Some(key)) => Some(format!(
            "{base}/browse/{key}?focusedCommentId={id}#comment-{id}"
        )),
        _ => None,
    };
    let target: Option<ExternalTarget> = issue.and_then(|i| i.target.clone());
    let mut fields = Fields::new();
    if let Some(issue_id) = &issue_id {
        fields.insert("issue_native_id".into(), json!(issue_id));
    }
    if let Some(number) = issue.and_then(IssueRef::number) {
        fields.insert("issue_number".into(), json!(number));
    }
    if let Some(value) = comment.get("body") {
        body::insert(&mut fields, value);
        if fields.get("body").is_some_and(Value::is_null) {
            // A comment always has text; `null` is an empty one.
            fields.insert("body".into(), json!(""));
        }
    }
    if let Some(author) = comment.get("author") {
        fields.insert("author".into(), json!(user_id(author)));
    }
    if let Some(created) = comment.get("created").and_then(time) {
        fields.insert("created_at".into(), json!(created));
    }
    if html_url.is_some() {
        fields.insert("html_url".into(), json!(html_url));
    }
    if let Some(visibility) = comment.get("visibility") {
        fields.insert("visibility".into(), visibility.clone());
    }
    let subject = Subject {
        kind: ResourceKind::Comment,
        native_id: NativeId::new(id),
        updated_at: comment.get("updated").and_then(time),
        target,
        link: LinkInfo::default().with_url(html_url).with_api_url(api_url),
    };
    Ok(CommentView { subject, fields })
}

//! The ordering key of a delivery: the primary object its payload is about, read cheaply
//! at receive time so workers never process two deliveries about one object at once.

use serde::Deserialize;

use crate::hook::GitlabHook;
use crate::wire::Id;

#[derive(Deserialize)]
struct Attributes {
    #[serde(default)]
    id: Option<Id>,
    #[serde(default)]
    noteable_type: Option<String>,
}

#[derive(Deserialize)]
struct IdOnly {
    #[serde(default)]
    id: Option<Id>,
}

/// Only the identifying parts of a payload; everything else is skipped unparsed.
#[derive(Deserialize)]
struct Peek {
    #[serde(default)]
    object_attributes: Option<Attributes>,
    #[serde(default)]
    issue: Option<IdOnly>,
    #[serde(default)]
    merge_request: Option<IdOnly>,
    #[serde(default)]
    pipeline_id: Option<Id>,
    /// A string in push and release hooks; read loosely, as other hooks may use the name.
    #[serde(default, rename = "ref")]
    git_ref: Option<serde_json::Value>,
    /// A release's tag name, but a boolean in job hooks (`"tag": false`).
    #[serde(default)]
    tag: Option<serde_json::Value>,
    #[serde(default)]
    deployment_id: Option<Id>,
    #[serde(default)]
    user_id: Option<Id>,
}

/// The key of the object a GitLab payload of `event` is about, if it has one: a note orders
/// with its issue or merge request, a job with its pipeline, a release with its tag.
pub(crate) fn ordering_key(event: &str, body: &[u8]) -> Option<String> {
    let hook = GitlabHook::from_header(event);
    if matches!(hook, GitlabHook::System | GitlabHook::Other) {
        return None;
    }
    let peek: Peek = serde_json::from_slice(body).ok()?;
    let id = |prefix: &str, id: Option<Id>| id.map(|i| format!("{prefix}:{}", i.0));
    let attributes_id = peek.object_attributes.as_ref().and_then(|a| a.id);
    match hook {
        GitlabHook::Issue | GitlabHook::ConfidentialIssue => id("issue", attributes_id),
        GitlabHook::Note | GitlabHook::ConfidentialNote => {
            match peek
                .object_attributes
                .as_ref()
                .and_then(|a| a.noteable_type.as_deref())
            {
                Some("Issue") => id("issue", peek.issue.and_then(|i| i.id)),
                Some("MergeRequest") => id("pull_request", peek.merge_request.and_then(|m| m.id)),
                _ => None,
            }
        }
        GitlabHook::MergeRequest => id("pull_request", attributes_id),
        GitlabHook::Pipeline => id("pipeline", attributes_id),
        GitlabHook::Job => id("pipeline", peek.pipeline_id),
        GitlabHook::Push | GitlabHook::TagPush => peek
            .git_ref
            .as_ref()
            .and_then(serde_json::Value::as_str)
            .map(|r| format!("ref:{r}")),
        GitlabHook::Release => peek
            .tag
            .as_ref()
            .and_then(serde_json::Value::as_str)
            .map(|t| format!("ref:refs/tags/{t}")),
        GitlabHook::Deployment => id("deployment", peek.deployment_id),
        GitlabHook::Member => id("collaborator", peek.user_id),
        GitlabHook::System | GitlabHook::Other => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_the_primary_object() {
        let note =
            br#"{"object_attributes":{"id":1241,"noteable_type":"Issue"},"issue":{"id":92}}"#;
        assert_eq!(ordering_key("Note Hook", note).as_deref(), Some("issue:92"));
        let job = br#"{"object_kind":"build","build_id":1977,"pipeline_id":2366,"tag":false}"#;
        assert_eq!(
            ordering_key("Job Hook", job).as_deref(),
            Some("pipeline:2366")
        );
        let push = br#"{"ref":"refs/heads/master"}"#;
        assert_eq!(
            ordering_key("Push Hook", push).as_deref(),
            Some("ref:refs/heads/master")
        );
        assert_eq!(ordering_key("Wiki Page Hook", push), None);
        assert_eq!(ordering_key("Issue Hook", b"not json"), None);
    }
}

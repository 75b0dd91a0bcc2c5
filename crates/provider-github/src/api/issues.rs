//! [`IssueTracking`] over GitHub's issues, comments, labels and milestones.

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use kradle_http::{ApiRequest, HttpError};
use kradle_sync_core::object::{Comment, Issue, Label, Milestone};
use kradle_sync_core::{
    Error, ExternalTarget, IssuePatch, IssueTracking, NativeId, Observed, Page, PageRequest,
    ResourceKind, marker,
};
use serde_json::{Map, Value, json};

use super::client::GithubClient;
use super::convert::{self, numeric_id, repo_path};

/// The JSON of an issue create or update. A create embeds the marker of `key` in the body
/// and leaves out `state` (GitHub opens every new issue).
fn issue_json(patch: &IssuePatch, key: Option<&str>) -> Value {
    let mut map = Map::new();
    if let Some(title) = &patch.title {
        map.insert("title".into(), json!(title));
    }
    match (key, &patch.body) {
        (Some(key), body) => {
            map.insert(
                "body".into(),
                json!(marker::embed(body.as_deref().unwrap_or_default(), key)),
            );
        }
        (None, Some(body)) => {
            map.insert("body".into(), json!(body));
        }
        (None, None) => {}
    }
    if key.is_none() {
        if let Some(state) = &patch.state {
            map.insert("state".into(), json!(state));
        }
        if let Some(reason) = &patch.state_reason {
            map.insert("state_reason".into(), json!(reason));
        }
    }
    if let Some(labels) = &patch.labels {
        map.insert("labels".into(), json!(labels));
    }
    if let Some(assignees) = &patch.assignees {
        map.insert("assignees".into(), json!(assignees));
    }
    if let Some(milestone) = &patch.milestone {
        map.insert("milestone".into(), json!(milestone));
    }
    Value::Object(map)
}

/// Whether a REST object's `body` carries the marker of `key`.
pub(crate) fn has_marker(item: &Value, key: &str) -> bool {
    item.get("body")
        .and_then(Value::as_str)
        .and_then(marker::find)
        == Some(key)
}

impl GithubClient {
    async fn find_issue_value(
        &self,
        target: &ExternalTarget,
        key: &str,
    ) -> Result<Option<Value>, Error> {
        let request = ApiRequest::get(format!("{}/issues", repo_path(target)?))
            .query("state", "all")
            .query("sort", "created")
            .query("direction", "desc");
        self.scan(request, &Self::link(), self.settings.lookup_pages, |item| {
            item.get("pull_request").is_none() && has_marker(item, key)
        })
        .await
    }

    async fn find_comment_value(
        &self,
        target: &ExternalTarget,
        number: u64,
        key: &str,
    ) -> Result<Option<Value>, Error> {
        let request = ApiRequest::get(format!("{}/issues/{number}/comments", repo_path(target)?));
        // The comments of one issue, oldest first: read them all (bounded).
        self.scan(request, &Self::link(), 100, |item| has_marker(item, key))
            .await
    }
}

#[async_trait]
impl IssueTracking for GithubClient {
    async fn list_issues(
        &self,
        target: &ExternalTarget,
        since: Option<DateTime<Utc>>,
        page: &PageRequest,
    ) -> Result<Page<Observed<Issue>>, Error> {
        // Newest change first and, without `since`, the same first-page URL on every pass:
        // the ETag cache answers it `304` (free) while nothing changed.
        let mut request = self
            .get(format!("{}/issues", repo_path(target)?))
            .query("state", "all")
            .query("sort", "updated")
            .query("direction", "desc");
        if let Some(since) = since {
            request = request.query("since", since.to_rfc3339_opts(SecondsFormat::Secs, true));
        }
        self.list(ResourceKind::Issue, request, &Self::link(), page)
            .await
    }

    async fn get_issue(
        &self,
        target: &ExternalTarget,
        number: u64,
    ) -> Result<Observed<Issue>, Error> {
        let request = self.get(format!("{}/issues/{number}", repo_path(target)?));
        self.fetch(ResourceKind::Issue, request).await
    }

    async fn create_issue(
        &self,
        target: &ExternalTarget,
        issue: &IssuePatch,
        idempotency_key: &str,
    ) -> Result<Observed<Issue>, Error> {
        if issue.title.as_deref().is_none_or(str::is_empty) {
            return Err(Error::Validation {
                rule: "issue-needs-title",
                detail: "GitHub creates an issue only with a title; set `title`".into(),
            });
        }
        let request = ApiRequest::post(format!("{}/issues", repo_path(target)?))
            .json(issue_json(issue, Some(idempotency_key)));
        self.create_adopting(ResourceKind::Issue, request, || {
            self.find_issue_by_key(target, idempotency_key)
        })
        .await
    }

    async fn update_issue(
        &self,
        target: &ExternalTarget,
        number: u64,
        patch: &IssuePatch,
    ) -> Result<Observed<Issue>, Error> {
        // Absolute values: repeating the update is harmless.
        let request = ApiRequest::patch(format!("{}/issues/{number}", repo_path(target)?))
            .json(issue_json(patch, None))
            .idempotent(true);
        self.write(ResourceKind::Issue, request).await
    }

    async fn list_comments(
        &self,
        target: &ExternalTarget,
        number: u64,
        page: &PageRequest,
    ) -> Result<Page<Observed<Comment>>, Error> {
        let request = self.get(format!("{}/issues/{number}/comments", repo_path(target)?));
        self.list(ResourceKind::Comment, request, &Self::link(), page)
            .await
    }

    async fn list_all_comments(
        &self,
        target: &ExternalTarget,
        since: Option<DateTime<Utc>>,
        page: &PageRequest,
    ) -> Result<Page<Observed<Comment>>, Error> {
        let mut request = self
            .get(format!("{}/issues/comments", repo_path(target)?))
            .query("sort", "updated")
            .query("direction", "desc");
        if let Some(since) = since {
            request = request.query("since", since.to_rfc3339_opts(SecondsFormat::Secs, true));
        }
        self.list(ResourceKind::Comment, request, &Self::link(), page)
            .await
    }

    async fn create_comment(
        &self,
        target: &ExternalTarget,
        number: u64,
        body: &str,
        idempotency_key: &str,
    ) -> Result<Observed<Comment>, Error> {
        let request = ApiRequest::post(format!("{}/issues/{number}/comments", repo_path(target)?))
            .json(json!({ "body": marker::embed(body, idempotency_key) }));
        self.create_adopting(ResourceKind::Comment, request, || {
            self.find_comment_by_key(target, number, idempotency_key)
        })
        .await
    }

    async fn update_comment(
        &self,
        target: &ExternalTarget,
        comment: &NativeId,
        body: &str,
    ) -> Result<Observed<Comment>, Error> {
        let id = numeric_id(comment, "comment")?;
        let request = ApiRequest::patch(format!("{}/issues/comments/{id}", repo_path(target)?))
            .json(json!({ "body": body }))
            .idempotent(true);
        self.write(ResourceKind::Comment, request).await
    }

    async fn delete_comment(
        &self,
        target: &ExternalTarget,
        comment: &NativeId,
    ) -> Result<(), Error> {
        let id = numeric_id(comment, "comment")?;
        let request = ApiRequest::delete(format!("{}/issues/comments/{id}", repo_path(target)?));
        match self.write_only(request).await {
            // Already gone: the delete is done.
            Err(Error::Provider {
                source: Some(source),
                ..
            }) if source
                .downcast_ref::<HttpError>()
                .is_some_and(HttpError::is_not_found) =>
            {
                Ok(())
            }
            other => other,
        }
    }

    async fn list_labels(
        &self,
        target: &ExternalTarget,
        page: &PageRequest,
    ) -> Result<Page<Observed<Label>>, Error> {
        let request = self.get(format!("{}/labels", repo_path(target)?));
        self.list(ResourceKind::Label, request, &Self::link(), page)
            .await
    }

    async fn list_milestones(
        &self,
        target: &ExternalTarget,
        page: &PageRequest,
    ) -> Result<Page<Observed<Milestone>>, Error> {
        let request = self
            .get(format!("{}/milestones", repo_path(target)?))
            .query("state", "all");
        self.list(ResourceKind::Milestone, request, &Self::link(), page)
            .await
    }

    async fn find_issue_by_key(
        &self,
        target: &ExternalTarget,
        idempotency_key: &str,
    ) -> Result<Option<Observed<Issue>>, Error> {
        self.find_issue_value(target, idempotency_key)
            .await?
            .map(|v| convert::observe(ResourceKind::Issue, &v))
            .transpose()
    }

    async fn find_comment_by_key(
        &self,
        target: &ExternalTarget,
        number: u64,
        idempotency_key: &str,
    ) -> Result<Option<Observed<Comment>>, Error> {
        self.find_comment_value(target, number, idempotency_key)
            .await?
            .map(|v| convert::observe(ResourceKind::Comment, &v))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_embeds_the_marker_and_update_does_not() {
        let mut patch = IssuePatch::default();
        patch.title = Some("Found a bug".into());
        patch.body = Some("I'm having a problem with this.".into());
        patch.state = Some("closed".into());
        patch.milestone = Some(None);
        let create = issue_json(&patch, Some("kradle:k1"));
        assert_eq!(
            create["body"],
            "I'm having a problem with this.\n\n<!-- kradle-sync:kradle:k1 -->"
        );
        assert!(create.get("state").is_none());
        assert!(has_marker(&create, "kradle:k1"));
        let update = issue_json(&patch, None);
        assert_eq!(update["state"], "closed");
        assert_eq!(update["milestone"], Value::Null);
        assert!(!has_marker(&update, "kradle:k1"));
    }
}

//! [`GitForge`] over GitHub repositories, pull requests, reviews, refs, branch protection,
//! deploy keys and collaborators.

use async_trait::async_trait;
use kradle_http::{ApiRequest, HttpError};
use kradle_sync_core::object::{
    BranchProtection, Collaborator, DeployKey, GitRef, PullRequest, Repository, Review,
};
use kradle_sync_core::{
    Error, ExternalTarget, ExternalVersion, GitForge, LinkInfo, NativeId, Observed, Page,
    PageRequest, ProviderKind, PullRequestInput, ResourceKind, ReviewInput, marker,
};
use serde_json::{Map, Value, json};

use super::client::GithubClient;
use super::convert::{self, numeric_id, repo_path, segment};
use super::issues::has_marker;
use crate::PROVIDER;

fn pull_json(input: &PullRequestInput, key: Option<&str>) -> Value {
    let mut map = Map::new();
    let mut put = |name: &str, value: Option<Value>| {
        if let Some(v) = value {
            map.insert(name.to_owned(), v);
        }
    };
    put("title", input.title.as_ref().map(|t| json!(t)));
    put(
        "body",
        match key {
            Some(key) => Some(json!(marker::embed(
                input.body.as_deref().unwrap_or_default(),
                key
            ))),
            None => input.body.as_ref().map(|b| json!(b)),
        },
    );
    put("base", input.base.as_ref().map(|b| json!(b)));
    if key.is_some() {
        put("head", input.head.as_ref().map(|h| json!(h)));
        put("draft", input.draft.map(|d| json!(d)));
    } else {
        put("state", input.state.as_ref().map(|s| json!(s)));
    }
    Value::Object(map)
}

/// Keys that are links, not rules.
fn without_links(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !(k.as_str() == "url" || k.ends_with("_url")))
                .map(|(k, v)| (k.clone(), without_links(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_links).collect()),
        other => other.clone(),
    }
}

/// A branch's protection as REST returns it: its native id is the branch name (REST
/// protection has no id of its own), its rules the document without its links.
fn protection(branch: &str, value: &Value, etag: Option<&str>) -> Observed<BranchProtection> {
    let mut object = BranchProtection::default();
    object.pattern = branch.to_owned();
    object.rules = without_links(value);
    Observed::new(
        NativeId::new(branch),
        ExternalVersion::default().with_etag(etag.map(str::to_owned)),
        object,
    )
    .with_link(
        LinkInfo::default()
            .with_api_url(value.get("url").and_then(Value::as_str).map(str::to_owned)),
    )
}

fn is_ref_of_branch_or_tag(item: &Value) -> bool {
    item.get("ref")
        .and_then(Value::as_str)
        .is_some_and(|r| r.starts_with("refs/heads/") || r.starts_with("refs/tags/"))
}

fn http_source(error: &Error) -> Option<&HttpError> {
    match error {
        Error::Provider {
            source: Some(source),
            ..
        } => source.downcast_ref::<HttpError>(),
        _ => None,
    }
}

#[async_trait]
impl GitForge for GithubClient {
    async fn get_repository(&self, target: &ExternalTarget) -> Result<Observed<Repository>, Error> {
        let request = self.get(repo_path(target)?);
        self.fetch(ResourceKind::Repository, request).await
    }

    async fn list_pull_requests(
        &self,
        target: &ExternalTarget,
        page: &PageRequest,
    ) -> Result<Page<Observed<PullRequest>>, Error> {
        let request = self
            .get(format!("{}/pulls", repo_path(target)?))
            .query("state", "all")
            .query("sort", "updated")
            .query("direction", "asc");
        self.list(ResourceKind::PullRequest, request, &Self::link(), page)
            .await
    }

    async fn get_pull_request(
        &self,
        target: &ExternalTarget,
        number: u64,
    ) -> Result<Observed<PullRequest>, Error> {
        let request = self.get(format!("{}/pulls/{number}", repo_path(target)?));
        self.fetch(ResourceKind::PullRequest, request).await
    }

    async fn list_reviews(
        &self,
        target: &ExternalTarget,
        number: u64,
        page: &PageRequest,
    ) -> Result<Page<Observed<Review>>, Error> {
        let request = self.get(format!("{}/pulls/{number}/reviews", repo_path(target)?));
        self.list(ResourceKind::Review, request, &Self::link(), page)
            .await
    }

    async fn list_refs(
        &self,
        target: &ExternalTarget,
        page: &PageRequest,
    ) -> Result<Page<Observed<GitRef>>, Error> {
        let request = self.get(format!("{}/git/refs/", repo_path(target)?));
        let raw = self.page(request, &Self::link(), page).await?;
        convert::observe_page_where(ResourceKind::Ref, raw, is_ref_of_branch_or_tag)
    }

    async fn get_branch_protection(
        &self,
        target: &ExternalTarget,
        branch: &str,
    ) -> Result<Option<Observed<BranchProtection>>, Error> {
        let request = self.get(format!(
            "{}/branches/{}/protection",
            repo_path(target)?,
            segment(branch)
        ));
        match self.api.send(request).await {
            Ok(response) => {
                let value: Value = response.json()?;
                Ok(Some(protection(branch, &value, response.etag())))
            }
            // "Branch not protected".
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn list_deploy_keys(
        &self,
        target: &ExternalTarget,
        page: &PageRequest,
    ) -> Result<Page<Observed<DeployKey>>, Error> {
        let request = self.get(format!("{}/keys", repo_path(target)?));
        self.list(ResourceKind::DeployKey, request, &Self::link(), page)
            .await
    }

    async fn list_collaborators(
        &self,
        target: &ExternalTarget,
        page: &PageRequest,
    ) -> Result<Page<Observed<Collaborator>>, Error> {
        let request = self.get(format!("{}/collaborators", repo_path(target)?));
        self.list(ResourceKind::Collaborator, request, &Self::link(), page)
            .await
    }

    async fn create_pull_request(
        &self,
        target: &ExternalTarget,
        input: &PullRequestInput,
        idempotency_key: &str,
    ) -> Result<Observed<PullRequest>, Error> {
        if input.title.is_none() || input.head.is_none() || input.base.is_none() {
            return Err(Error::Validation {
                rule: "pull-request-needs-title-head-base",
                detail: "GitHub opens a pull request only with a `title`, a `head` and a `base`"
                    .into(),
            });
        }
        let request = ApiRequest::post(format!("{}/pulls", repo_path(target)?))
            .json(pull_json(input, Some(idempotency_key)));
        self.create_adopting(ResourceKind::PullRequest, request, || {
            self.find_pull_request_by_key(target, idempotency_key)
        })
        .await
    }

    async fn find_pull_request_by_key(
        &self,
        target: &ExternalTarget,
        idempotency_key: &str,
    ) -> Result<Option<Observed<PullRequest>>, Error> {
        let request = ApiRequest::get(format!("{}/pulls", repo_path(target)?))
            .query("state", "all")
            .query("sort", "created")
            .query("direction", "desc");
        let found = self
            .scan(request, &Self::link(), self.settings.lookup_pages, |item| {
                has_marker(item, idempotency_key)
            })
            .await?;
        found
            .map(|v| convert::observe(ResourceKind::PullRequest, &v))
            .transpose()
    }

    async fn update_pull_request(
        &self,
        target: &ExternalTarget,
        number: u64,
        input: &PullRequestInput,
    ) -> Result<Observed<PullRequest>, Error> {
        let request = ApiRequest::patch(format!("{}/pulls/{number}", repo_path(target)?))
            .json(pull_json(input, None))
            .idempotent(true);
        self.write(ResourceKind::PullRequest, request).await
    }

    async fn merge_pull_request(
        &self,
        target: &ExternalTarget,
        number: u64,
        expected_head_sha: &str,
    ) -> Result<(), Error> {
        let request = ApiRequest::put(format!("{}/pulls/{number}/merge", repo_path(target)?))
            .json(json!({ "sha": expected_head_sha }));
        match self.write_only(request).await {
            // `405 Pull Request is not mergeable` refuses the merge's precondition too.
            Err(e) => match http_source(&e) {
                Some(HttpError::Client {
                    status: 405,
                    message,
                    ..
                }) => Err(Error::Precondition {
                    provider: ProviderKind::new(PROVIDER),
                    message: message.clone(),
                }),
                _ => Err(e),
            },
            ok => ok,
        }
    }

    async fn create_review(
        &self,
        target: &ExternalTarget,
        number: u64,
        review: &ReviewInput,
    ) -> Result<Observed<Review>, Error> {
        let mut body = Map::new();
        body.insert("event".into(), json!(review.event));
        if let Some(text) = &review.body {
            body.insert("body".into(), json!(text));
        }
        if let Some(commit) = &review.commit_id {
            body.insert("commit_id".into(), json!(commit));
        }
        let request = ApiRequest::post(format!("{}/pulls/{number}/reviews", repo_path(target)?))
            .json(Value::Object(body));
        self.write(ResourceKind::Review, request).await
    }

    async fn set_branch_protection(
        &self,
        target: &ExternalTarget,
        branch: &str,
        rules: &serde_json::Value,
    ) -> Result<Observed<BranchProtection>, Error> {
        let request = ApiRequest::put(format!(
            "{}/branches/{}/protection",
            repo_path(target)?,
            segment(branch)
        ))
        .json(rules.clone())
        .priority(kradle_http::Priority::Write);
        let response = self.api.send(request).await?;
        let value: Value = response.json()?;
        Ok(protection(branch, &value, response.etag()))
    }

    async fn add_deploy_key(
        &self,
        target: &ExternalTarget,
        key: &DeployKey,
    ) -> Result<Observed<DeployKey>, Error> {
        let request = ApiRequest::post(format!("{}/keys", repo_path(target)?)).json(json!({
            "title": key.title,
            "key": key.key,
            "read_only": key.read_only,
        }));
        self.write(ResourceKind::DeployKey, request).await
    }

    async fn remove_deploy_key(
        &self,
        target: &ExternalTarget,
        key: &NativeId,
    ) -> Result<(), Error> {
        let id = numeric_id(key, "deploy key")?;
        match self
            .write_only(ApiRequest::delete(format!(
                "{}/keys/{id}",
                repo_path(target)?
            )))
            .await
        {
            // Already gone: the removal is done.
            Err(e) if http_source(&e).is_some_and(HttpError::is_not_found) => Ok(()),
            other => other,
        }
    }

    async fn set_permission(
        &self,
        target: &ExternalTarget,
        login: &str,
        permission: &str,
    ) -> Result<(), Error> {
        let request = ApiRequest::put(format!(
            "{}/collaborators/{}",
            repo_path(target)?,
            segment(login)
        ))
        .json(json!({ "permission": permission }));
        self.write_only(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protection_rules_drop_links() {
        let v = json!({
            "url": "https://api.github.com/repos/o/r/branches/main/protection",
            "required_status_checks": {"url": "x", "contexts_url": "y", "strict": true, "contexts": ["ci"]},
            "enforce_admins": {"url": "z", "enabled": false}
        });
        let p = protection("main", &v, Some("\"abc\""));
        assert_eq!(p.native_id.as_str(), "main");
        assert_eq!(
            p.object.rules,
            json!({"required_status_checks": {"strict": true, "contexts": ["ci"]}, "enforce_admins": {"enabled": false}})
        );
        assert_eq!(p.version.etag.as_deref(), Some("\"abc\""));
    }

    #[test]
    fn pull_create_embeds_marker() {
        let mut input = PullRequestInput::default();
        input.title = Some("Amazing new feature".into());
        input.head = Some("octocat:new-feature".into());
        input.base = Some("master".into());
        input.state = Some("open".into());
        let v = pull_json(&input, Some("kradle:k"));
        assert!(has_marker(&v, "kradle:k"));
        assert!(v.get("state").is_none());
        assert_eq!(pull_json(&input, None)["state"], "open");
    }
}

//! [`GitForge`] over GitLab projects, merge requests, approvals, branches and tags,
//! protected branches, deploy keys and members.

use async_trait::async_trait;
use kradle_http::{ApiRequest, HttpError, Priority};
use kradle_sync_core::object::{
    BranchProtection, Collaborator, DeployKey, GitRef, PullRequest, Repository, Review,
};
use kradle_sync_core::{
    Error, ExternalTarget, GitForge, NativeId, Observed, Page, PageRequest, ProviderKind,
    PullRequestInput, ResourceKind, ReviewInput, marker,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::client::{GitlabClient, Me, http_error, lock, project_path};
use super::convert::{self, numeric_id, segment};
use super::issues::has_marker;
use crate::PROVIDER;
use crate::emit::Origin;
use crate::forge::member::access_level;
use crate::forge::merge_request::WireApprovals;
use crate::forge::{git_ref, protected_branch};
use crate::rest;

fn pull_json(input: &PullRequestInput, key: Option<&str>) -> Result<Value, Error> {
    let mut map = Map::new();
    let title = match (&input.title, key.and(input.draft)) {
        // GitLab marks a draft by its title on every version.
        (Some(title), Some(true)) if !title.starts_with("Draft:") => {
            Some(format!("Draft: {title}"))
        }
        (title, _) => title.clone(),
    };
    if let Some(title) = title {
        map.insert("title".into(), json!(title));
    }
    match key {
        Some(key) => {
            map.insert(
                "description".into(),
                json!(marker::embed(
                    input.body.as_deref().unwrap_or_default(),
                    key
                )),
            );
            if let Some(head) = &input.head {
                map.insert("source_branch".into(), json!(head));
            }
        }
        None => {
            if let Some(body) = &input.body {
                map.insert("description".into(), json!(body));
            }
            match input.state.as_deref() {
                Some("closed") => {
                    map.insert("state_event".into(), json!("close"));
                }
                Some("open") => {
                    map.insert("state_event".into(), json!("reopen"));
                }
                Some(other) => {
                    return Err(Error::Validation {
                        rule: "pull-request-state",
                        detail: format!(
                            "a merge request is set `open` or `closed` (merging is \
                             merge_pull_request), not {other:?}"
                        ),
                    });
                }
                None => {}
            }
        }
    }
    if let Some(base) = &input.base {
        map.insert("target_branch".into(), json!(base));
    }
    Ok(Value::Object(map))
}

/// Where `list_refs` is: branches first, then tags; the cursor says which listing and its
/// next page.
#[derive(Debug, Serialize, Deserialize)]
struct RefsCursor {
    tags: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

fn bad_refs_cursor() -> Error {
    Error::Validation {
        rule: "gitlab-refs-cursor",
        detail: "the cursor of the refs listing is not one this adapter wrote; start the \
                 listing again without a cursor"
            .into(),
    }
}

impl GitlabClient {
    /// Who the token belongs to (`GET /user`), read once.
    async fn me(&self) -> Result<Me, Error> {
        if let Some(me) = lock(&self.settings.me).clone() {
            return Ok(me);
        }
        let user: Value = self
            .send(ApiRequest::get("/user").priority(Priority::Write))
            .await?
            .json()?;
        let me = Me {
            id: user
                .get("id")
                .and_then(Value::as_u64)
                .ok_or_else(|| convert::malformed("GET /user answered without an `id`".into()))?,
            username: user
                .get("username")
                .and_then(Value::as_str)
                .map(str::to_owned),
        };
        *lock(&self.settings.me) = Some(me.clone());
        Ok(me)
    }

    /// The reviews of an approval state's approvers.
    fn approvals(&self, value: &Value) -> Result<Vec<Observed<Review>>, Error> {
        let read = convert::read_id(ResourceKind::Review);
        rest::read::<WireApprovals>(ResourceKind::Review, value)?
            .observed(Origin::rest(&read))
            .into_iter()
            .map(convert::observe_event)
            .collect()
    }

    /// Protects a branch with `rules` (`POST /projects/:id/protected_branches`).
    async fn protect(
        &self,
        project: &str,
        branch: &str,
        rules: &Value,
    ) -> Result<kradle_http::ApiResponse, HttpError> {
        let mut body = match rules {
            Value::Object(map) => map.clone(),
            _ => Map::new(),
        };
        body.insert("name".into(), json!(branch));
        self.send(
            ApiRequest::post(format!("{project}/protected_branches"))
                .json(Value::Object(body))
                .priority(Priority::Write),
        )
        .await
    }
}

fn protection_of(value: &Value, etag: Option<&str>) -> Result<Observed<BranchProtection>, Error> {
    let read = convert::read_id(ResourceKind::BranchProtection);
    let event = protected_branch::observed(value, Origin::rest(&read), None)
        .ok_or_else(|| convert::malformed("the protected branch object has no `name`".into()))?;
    let mut observed = convert::observe_event::<BranchProtection>(event)?;
    observed.version.etag = etag.map(str::to_owned);
    Ok(observed)
}

#[async_trait]
impl GitForge for GitlabClient {
    /// `GET /projects/:id`.
    async fn get_repository(&self, target: &ExternalTarget) -> Result<Observed<Repository>, Error> {
        let request = self.get(project_path(target)?);
        self.fetch(ResourceKind::Repository, request).await
    }

    /// `GET /projects/:id/merge_requests?state=all&order_by=updated_at&sort=desc`.
    async fn list_pull_requests(
        &self,
        target: &ExternalTarget,
        page: &PageRequest,
    ) -> Result<Page<Observed<PullRequest>>, Error> {
        let request = self
            .get(format!("{}/merge_requests", project_path(target)?))
            .query("state", "all")
            .query("order_by", "updated_at")
            .query("sort", "desc");
        self.list(ResourceKind::PullRequest, request, page).await
    }

    async fn get_pull_request(
        &self,
        target: &ExternalTarget,
        number: u64,
    ) -> Result<Observed<PullRequest>, Error> {
        let request = self.get(format!("{}/merge_requests/{number}", project_path(target)?));
        self.fetch(ResourceKind::PullRequest, request).await
    }

    /// The approvals of a merge request (`GET …/merge_requests/:iid/approvals`), one
    /// `review` per approver; the listing is one object, so there is no next page.
    async fn list_reviews(
        &self,
        target: &ExternalTarget,
        number: u64,
        _page: &PageRequest,
    ) -> Result<Page<Observed<Review>>, Error> {
        let request = self.get(format!(
            "{}/merge_requests/{number}/approvals",
            project_path(target)?
        ));
        let response = self.send(request).await?;
        let value: Value = response.json()?;
        Ok(Page::last(self.approvals(&value)?).with_not_modified(response.not_modified))
    }

    /// Branches (`GET /projects/:id/repository/branches`), then tags
    /// (`…/repository/tags`), as `refs/heads/…` and `refs/tags/…`.
    async fn list_refs(
        &self,
        target: &ExternalTarget,
        page: &PageRequest,
    ) -> Result<Page<Observed<GitRef>>, Error> {
        let project = project_path(target)?;
        let at = match &page.cursor {
            Some(text) => {
                serde_json::from_str::<RefsCursor>(text).map_err(|_| bad_refs_cursor())?
            }
            None => RefsCursor {
                tags: false,
                next: None,
            },
        };
        let listing = if at.tags { "tags" } else { "branches" };
        let request = self.get(format!("{project}/repository/{listing}"));
        let inner = match &at.next {
            Some(next) => PageRequest::after(next.clone(), page.per_page),
            None => PageRequest::first(page.per_page),
        };
        let raw = self.page(request, &Self::pages(), &inner).await?;
        let read = convert::read_id(ResourceKind::Ref);
        let mut items = Vec::with_capacity(raw.items.len());
        for value in &raw.items {
            let wire = rest::read::<git_ref::WireRef>(ResourceKind::Ref, value)?;
            items.push(convert::observe_event(
                wire.observed(Origin::rest(&read), Some(at.tags)),
            )?);
        }
        let next = match (raw.next, at.tags) {
            (Some(next), tags) => Some(RefsCursor {
                tags,
                next: Some(next),
            }),
            (None, false) => Some(RefsCursor {
                tags: true,
                next: None,
            }),
            (None, true) => None,
        };
        let next = next
            .map(|c| serde_json::to_string(&c).map_err(|_| bad_refs_cursor()))
            .transpose()?;
        Ok(Page::new(items, next).with_not_modified(raw.not_modified))
    }

    /// `GET /projects/:id/protected_branches/:name`; `None` when the branch is not
    /// protected.
    async fn get_branch_protection(
        &self,
        target: &ExternalTarget,
        branch: &str,
    ) -> Result<Option<Observed<BranchProtection>>, Error> {
        let request = self.get(format!(
            "{}/protected_branches/{}",
            project_path(target)?,
            segment(branch)
        ));
        match self.send(request).await {
            Ok(response) => {
                let value: Value = response.json()?;
                Ok(Some(protection_of(&value, response.etag())?))
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// `GET /projects/:id/deploy_keys`.
    async fn list_deploy_keys(
        &self,
        target: &ExternalTarget,
        page: &PageRequest,
    ) -> Result<Page<Observed<DeployKey>>, Error> {
        let request = self.get(format!("{}/deploy_keys", project_path(target)?));
        self.list(ResourceKind::DeployKey, request, page).await
    }

    /// `GET /projects/:id/members/all`: direct and inherited members, each with its
    /// highest role.
    async fn list_collaborators(
        &self,
        target: &ExternalTarget,
        page: &PageRequest,
    ) -> Result<Page<Observed<Collaborator>>, Error> {
        let request = self.get(format!("{}/members/all", project_path(target)?));
        self.list(ResourceKind::Collaborator, request, page).await
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
                detail: "GitLab opens a merge request only with a `title`, a `head` (source \
                         branch) and a `base` (target branch)"
                    .into(),
            });
        }
        let request = ApiRequest::post(format!("{}/merge_requests", project_path(target)?))
            .json(pull_json(input, Some(idempotency_key))?);
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
        let request = ApiRequest::get(format!("{}/merge_requests", project_path(target)?))
            .query("state", "all")
            .query("order_by", "created_at")
            .query("sort", "desc");
        let found = self
            .scan(request, self.settings.lookup_pages, |item| {
                has_marker(item, "description", idempotency_key)
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
        let request = ApiRequest::put(format!("{}/merge_requests/{number}", project_path(target)?))
            .json(pull_json(input, None)?)
            .idempotent(true);
        self.write(ResourceKind::PullRequest, request).await
    }

    /// `PUT …/merge_requests/:iid/merge` with `sha`: GitLab refuses with `409` when the
    /// source branch's head moved, `405` when the merge request cannot be merged (a
    /// draft, closed, a pipeline that must succeed) and `406` on conflicts; each is
    /// [`Error::Precondition`] with GitLab's message, never retried.
    async fn merge_pull_request(
        &self,
        target: &ExternalTarget,
        number: u64,
        expected_head_sha: &str,
    ) -> Result<(), Error> {
        let request = ApiRequest::put(format!(
            "{}/merge_requests/{number}/merge",
            project_path(target)?
        ))
        .json(json!({ "sha": expected_head_sha }))
        .idempotent(false);
        match self.write_only(request).await {
            Err(e) => match http_error(&e) {
                Some(HttpError::Client {
                    status: 405 | 406,
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

    /// `APPROVE` is `POST …/merge_requests/:iid/approve` (with `sha` when the review
    /// names its commit: GitLab refuses with `409` if the head moved); the answer is the
    /// approval of the token's user. GitLab has no review that comments or requests
    /// changes: those are [`Error::Unsupported`].
    async fn create_review(
        &self,
        target: &ExternalTarget,
        number: u64,
        review: &ReviewInput,
    ) -> Result<Observed<Review>, Error> {
        if !review.event.eq_ignore_ascii_case("APPROVE") {
            return Err(Error::Unsupported {
                kind: ResourceKind::Review,
                detail: format!(
                    "a `{}` review: GitLab reviews approve (APPROVE); comment with a note instead",
                    review.event
                ),
            });
        }
        let mut body = Map::new();
        if let Some(sha) = &review.commit_id {
            body.insert("sha".into(), json!(sha));
        }
        let request = ApiRequest::post(format!(
            "{}/merge_requests/{number}/approve",
            project_path(target)?
        ))
        .json(Value::Object(body))
        .priority(Priority::Write)
        // Approving twice leaves one approval.
        .idempotent(true);
        let response = self.send(request).await?;
        let value: Value = response.json()?;
        let me = self.me().await?;
        let mine = native_approval(&value, me.id);
        let mut reviews = self.approvals(&value)?;
        let found = reviews
            .iter()
            .position(|r| Some(&r.native_id) == mine.as_ref());
        match found {
            Some(i) => {
                let mut approval = reviews.swap_remove(i);
                if approval.object.commit_id.is_none() {
                    approval.object.commit_id = review.commit_id.clone();
                }
                Ok(approval)
            }
            None => Err(convert::malformed(format!(
                "GitLab answered the approval of !{number} without {} among its approvers",
                me.username.as_deref().unwrap_or("the token's user")
            ))),
        }
    }

    /// `POST /projects/:id/protected_branches` with `rules` (GitLab's parameters:
    /// `push_access_level`, `merge_access_level`, `allow_force_push`, …). A branch that
    /// is protected already (`409`) is unprotected and protected again with the rules.
    async fn set_branch_protection(
        &self,
        target: &ExternalTarget,
        branch: &str,
        rules: &Value,
    ) -> Result<Observed<BranchProtection>, Error> {
        let project = project_path(target)?;
        let response = match self.protect(&project, branch, rules).await {
            Ok(response) => response,
            Err(HttpError::Precondition { status: 409, .. }) => {
                self.write_only(ApiRequest::delete(format!(
                    "{project}/protected_branches/{}",
                    segment(branch)
                )))
                .await?;
                self.protect(&project, branch, rules).await?
            }
            Err(e) => return Err(e.into()),
        };
        let value: Value = response.json()?;
        protection_of(&value, response.etag())
    }

    /// `POST /projects/:id/deploy_keys` (`can_push` = not `read_only`).
    async fn add_deploy_key(
        &self,
        target: &ExternalTarget,
        key: &DeployKey,
    ) -> Result<Observed<DeployKey>, Error> {
        let request =
            ApiRequest::post(format!("{}/deploy_keys", project_path(target)?)).json(json!({
                "title": key.title,
                "key": key.key,
                "can_push": !key.read_only,
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
                "{}/deploy_keys/{id}",
                project_path(target)?
            )))
            .await
        {
            // Already gone: the removal is done.
            Err(e) if http_error(&e).is_some_and(HttpError::is_not_found) => Ok(()),
            other => other,
        }
    }

    /// The user's id (`GET /users?username=`), then `PUT /projects/:id/members/:user_id`
    /// with the access level, or `POST /projects/:id/members` when the user is not a direct
    /// member yet. `permission` is a GitLab role (`developer`), a level (`30`) or GitHub's
    /// name of the same meaning (`write`).
    async fn set_permission(
        &self,
        target: &ExternalTarget,
        login: &str,
        permission: &str,
    ) -> Result<(), Error> {
        let level = access_level(permission).ok_or_else(|| Error::Validation {
            rule: "gitlab-access-level",
            detail: format!(
                "{permission:?} is not a GitLab role: use guest, reporter, developer, \
                 maintainer or owner (or a level such as 30)"
            ),
        })?;
        let project = project_path(target)?;
        let user = self.user_id(login).await?;
        let update = ApiRequest::put(format!("{project}/members/{user}"))
            .json(json!({ "access_level": level }));
        match self.write_only(update).await {
            Err(e) if http_error(&e).is_some_and(HttpError::is_not_found) => {
                self.write_only(
                    ApiRequest::post(format!("{project}/members"))
                        .json(json!({ "user_id": user, "access_level": level })),
                )
                .await
            }
            other => other,
        }
    }
}

/// The native id of `user`'s approval in an approval state.
fn native_approval(value: &Value, user: u64) -> Option<NativeId> {
    let merge_request = value.get("id").and_then(Value::as_u64)?;
    Some(crate::forge::merge_request::approval_id(
        crate::wire::Id(merge_request),
        crate::wire::Id(user),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_create_embeds_the_marker_and_marks_drafts_by_title() {
        let mut input = PullRequestInput::default();
        input.title = Some("Amazing new feature".into());
        input.head = Some("feature".into());
        input.base = Some("main".into());
        input.draft = Some(true);
        input.state = Some("open".into());
        let create = pull_json(&input, Some("kradle:k")).unwrap_or_default();
        assert!(has_marker(&create, "description", "kradle:k"));
        assert_eq!(create["title"], "Draft: Amazing new feature");
        assert_eq!(create["source_branch"], "feature");
        assert_eq!(create["target_branch"], "main");
        assert!(create.get("state_event").is_none());
        let update = pull_json(&input, None).unwrap_or_default();
        assert_eq!(update["state_event"], "reopen");
        assert_eq!(update["title"], "Amazing new feature");
        input.state = Some("merged".into());
        assert!(pull_json(&input, None).is_err());
    }
}

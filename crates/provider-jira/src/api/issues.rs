//! [`IssueTracking`] over Jira's issues, comments, labels and fix versions.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kradle_http::{ApiRequest, OffsetPagination, Priority};
use kradle_sync_core::object::{Comment, Issue, Label, Milestone};
use kradle_sync_core::{
    Error, ExternalTarget, IssuePatch, IssueTracking, NativeId, Observed, Page, PageRequest,
    ResourceKind,
};
use serde_json::{Value, json};

use super::client::{Flavor, JiraClient, MAX_PER_PAGE, http_error};
use super::convert::{self, Project, numeric_id};
use super::search::{self, FIELDS, has_intent, intent_property, quoted};
use super::writes;
use crate::error::JiraError;
use crate::wire::{id_after, text};

impl JiraClient {
    /// One issue by key, every field.
    pub(crate) async fn issue_value(&self, key: &str, priority: Priority) -> Result<Value, Error> {
        let request = self
            .get(&format!("/issue/{key}"))
            .query("fields", FIELDS)
            .priority(priority);
        self.json(request).await
    }

    /// The base URL people's links start with.
    pub(crate) fn site_base(&self) -> String {
        self.api
            .base_url()
            .as_str()
            .trim_end_matches('/')
            .to_owned()
    }

    /// The issue whose intent property holds `key`: by JQL on the property (found when the
    /// property is indexed), else among the newest issues of the project, read with their
    /// intent property.
    async fn find_issue_value(&self, project: &Project, key: &str) -> Result<Option<Value>, Error> {
        let by_property = format!(
            "project = {} AND issue.property[{}].key = {}",
            quoted(&project.key),
            search::INTENT_PROPERTY,
            quoted(key)
        );
        let properties = [search::INTENT_PROPERTY];
        match search::page(
            self,
            &by_property,
            &properties,
            Priority::Write,
            &PageRequest::first(MAX_PER_PAGE),
        )
        .await
        {
            Ok(page) => {
                if let Some(found) = page.items.into_iter().find(|i| has_intent(i, key)) {
                    return Ok(Some(found));
                }
            }
            // A site that cannot search the property (400: not indexed) is scanned instead.
            Err(e)
                if http_error(&e).is_some_and(|h| {
                    matches!(h, kradle_http::HttpError::Client { status: 400, .. })
                }) => {}
            Err(e) => return Err(e),
        }
        let newest = format!("project = {} ORDER BY created DESC", quoted(&project.key));
        let mut page = PageRequest::first(MAX_PER_PAGE);
        for _ in 0..self.settings.lookup_pages.max(1) {
            let got = search::page(self, &newest, &properties, Priority::Write, &page).await?;
            if let Some(found) = got.items.into_iter().find(|i| has_intent(i, key)) {
                return Ok(Some(found));
            }
            match got.next {
                Some(cursor) => page.cursor = Some(cursor),
                None => break,
            }
        }
        Ok(None)
    }

    /// The comments of an issue, as raw values, with their properties.
    async fn find_comment_value(&self, issue_key: &str, key: &str) -> Result<Option<Value>, Error> {
        let request = ApiRequest::get(self.path(&format!("/issue/{issue_key}/comment")))
            .query("expand", "properties")
            .priority(Priority::Write);
        let pagination = OffsetPagination::new().items_at("/comments");
        let mut page = PageRequest::first(MAX_PER_PAGE);
        for _ in 0..100 {
            let got = self.page(request.clone(), &pagination, &page).await?;
            if let Some(found) = got.items.into_iter().find(|c| has_intent(c, key)) {
                return Ok(Some(found));
            }
            match got.next {
                Some(cursor) => page.cursor = Some(cursor),
                None => break,
            }
        }
        Ok(None)
    }

    /// The issue a comment is on, and the comment as Jira holds it now. Jira addresses a
    /// comment through its issue: Cloud finds it by id (`POST /comment/list`); Data Center
    /// knows only the comments this client has read or written.
    pub(crate) async fn comment_and_issue(
        &self,
        comment: &str,
    ) -> Result<Option<(String, Value)>, Error> {
        match self.settings.flavor {
            Flavor::Cloud => {
                let request = ApiRequest::post(self.path("/comment/list"))
                    .json(json!({ "ids": [comment.parse::<u64>().unwrap_or_default()] }))
                    .idempotent(true)
                    .priority(Priority::Write);
                let found = self.json(request).await?;
                let Some(value) = found
                    .get("values")
                    .and_then(Value::as_array)
                    .and_then(|v| v.first())
                    .cloned()
                else {
                    return Ok(None);
                };
                let issue = text(&value, "self")
                    .and_then(|u| id_after(u, "issue"))
                    .map(str::to_owned)
                    .ok_or_else(|| Error::MalformedPayload {
                        provider: crate::PROVIDER.into(),
                        reason: format!("comment {comment} has no issue in its `self` URL"),
                    })?;
                Ok(Some((issue, value)))
            }
            Flavor::DataCenter => {
                let issue = self.known_comment_issue(comment).ok_or_else(|| {
                    Error::from(JiraError::Invalid {
                        rule: "jira-comment-issue-known",
                        detail: format!(
                            "Jira Data Center addresses comment {comment} through its issue, \
                             which this client has not seen; read the issue's comments first \
                             (a backfill does)"
                        ),
                    })
                })?;
                let request =
                    ApiRequest::get(self.path(&format!("/issue/{issue}/comment/{comment}")))
                        .priority(Priority::Write);
                match self.json(request).await {
                    Ok(value) => Ok(Some((issue, value))),
                    Err(e) if http_error(&e).is_some_and(kradle_http::HttpError::is_not_found) => {
                        Ok(None)
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }

    fn issue_ref_for(
        &self,
        project: &Project,
        number: u64,
        id: Option<String>,
    ) -> crate::issue_tracking::issue::IssueRef {
        project.issue_ref(id, number, &self.site_base())
    }

    /// An issue known by id only (a comment found by its id).
    fn issue_by_id(project: &Project, id: String) -> crate::issue_tracking::issue::IssueRef {
        crate::issue_tracking::issue::IssueRef {
            id,
            key: None,
            api_url: None,
            target: Some(crate::wire::target(&project.site, &project.key)),
            html_url: None,
        }
    }
}

#[async_trait]
impl IssueTracking for JiraClient {
    /// `project = KEY [AND updated >= "…"] ORDER BY updated DESC`: newest change first,
    /// so a backfill stops at its watermark; fields in the same request, ⌈N/100⌉ requests
    /// for N issues and none per issue.
    async fn list_issues(
        &self,
        target: &ExternalTarget,
        since: Option<DateTime<Utc>>,
        page: &PageRequest,
    ) -> Result<Page<Observed<Issue>>, Error> {
        let project = Project::of(target)?;
        let since = match since {
            Some(at) => Some(search::jql_time(at, self.site_offset().await)),
            None => None,
        };
        let jql = search::changed_jql(&project.key, since);
        let raw = search::page(self, &jql, &[], self.read_priority, page).await?;
        convert::observe_page(ResourceKind::Issue, raw)
    }

    async fn get_issue(
        &self,
        target: &ExternalTarget,
        number: u64,
    ) -> Result<Observed<Issue>, Error> {
        let project = Project::of(target)?;
        let value = self
            .issue_value(&project.issue_key(number), self.read_priority)
            .await?;
        convert::observe(ResourceKind::Issue, &value)
    }

    /// `POST /issue` with the intent key as the `kradle.intent` issue property (set in the
    /// same request), then the created issue read back. After an unknown outcome the issue
    /// is looked for by that property before anything is sent again.
    async fn create_issue(
        &self,
        target: &ExternalTarget,
        issue: &IssuePatch,
        idempotency_key: &str,
    ) -> Result<Observed<Issue>, Error> {
        let project = Project::of(target)?;
        let body = writes::create_body(self, &project, issue, idempotency_key)?;
        let request = ApiRequest::post(self.path("/issue"))
            .json(body)
            .idempotent(false)
            .priority(Priority::Write);
        let attempts = self.settings.create_attempts.max(1);
        let mut sent = 0;
        loop {
            sent += 1;
            match self.api.send(request.clone()).await {
                Ok(response) => {
                    let created: Value = response.json()?;
                    let key = text(&created, "key")
                        .or_else(|| text(&created, "id"))
                        .ok_or_else(|| Error::MalformedPayload {
                            provider: crate::PROVIDER.into(),
                            reason: "the created issue has neither `key` nor `id`".into(),
                        })?
                        .to_owned();
                    let value = self.issue_value(&key, Priority::Write).await?;
                    return convert::observe(ResourceKind::Issue, &value);
                }
                Err(e) if e.is_outcome_unknown() => {
                    tracing::warn!(error = %e, "issue create outcome unknown; looking for its intent property");
                    match self.find_issue_value(&project, idempotency_key).await {
                        Ok(Some(found)) => {
                            tracing::info!("adopted the issue an earlier attempt created");
                            return convert::observe(ResourceKind::Issue, &found);
                        }
                        Ok(None) => {}
                        Err(lookup) => {
                            tracing::warn!(error = %lookup, "looking for the intent property failed");
                            return Err(e.into());
                        }
                    }
                    if sent >= attempts {
                        return Err(e.into());
                    }
                }
                Err(e) => return Err(writes::refused_or(e)),
            }
        }
    }

    /// Reads the issue once with its edit screen and transitions
    /// (`expand=editmeta,transitions`), plans every change (a rich-text edit that would drop
    /// what Markdown cannot hold, or a state no transition reaches, is a conflict before
    /// anything is sent), then edits the fields (`PUT /issue`), assigns
    /// (`PUT /issue/{key}/assignee`), transitions (`POST /issue/{key}/transitions`) and
    /// reads the issue back.
    async fn update_issue(
        &self,
        target: &ExternalTarget,
        number: u64,
        patch: &IssuePatch,
    ) -> Result<Observed<Issue>, Error> {
        let project = Project::of(target)?;
        let key = project.issue_key(number);
        writes::update(self, &key, patch).await?;
        let value = self.issue_value(&key, Priority::Write).await?;
        convert::observe(ResourceKind::Issue, &value)
    }

    async fn list_comments(
        &self,
        target: &ExternalTarget,
        number: u64,
        page: &PageRequest,
    ) -> Result<Page<Observed<Comment>>, Error> {
        let project = Project::of(target)?;
        let request = self
            .get(&format!("/issue/{}/comment", project.issue_key(number)))
            .query("orderBy", "created");
        let raw = self
            .page(
                request,
                &OffsetPagination::new().items_at("/comments"),
                page,
            )
            .await?;
        let mut items = Vec::with_capacity(raw.items.len());
        for value in &raw.items {
            let issue_id = text(value, "self")
                .and_then(|u| id_after(u, "issue"))
                .map(str::to_owned);
            if let (Some(issue), Some(id)) =
                (&issue_id, value.get("id").and_then(crate::wire::id_text))
            {
                self.remember_comment(&id, issue);
            }
            let issue = self.issue_ref_for(&project, number, issue_id);
            items.push(convert::observe_comment(value, &issue)?);
        }
        Ok(Page::new(items, raw.next).with_not_modified(raw.not_modified))
    }

    // `list_all_comments` keeps the default (unsupported): Jira has no listing of every
    // comment of a project (Cloud's `POST /comment/list` takes comment ids), so a backfill
    // reads comments issue by issue.

    async fn create_comment(
        &self,
        target: &ExternalTarget,
        number: u64,
        body: &str,
        idempotency_key: &str,
    ) -> Result<Observed<Comment>, Error> {
        let project = Project::of(target)?;
        let issue_key = project.issue_key(number);
        let mut json = json!({ "body": writes::document_for(self, body) });
        json["properties"] = intent_property(idempotency_key);
        let request = ApiRequest::post(self.path(&format!("/issue/{issue_key}/comment")))
            .json(json)
            .idempotent(false)
            .priority(Priority::Write);
        let created = match self.api.send(request).await {
            Ok(response) => response.json::<Value>()?,
            Err(e) if e.is_outcome_unknown() => {
                tracing::warn!(error = %e, "comment create outcome unknown; looking for its intent property");
                match self.find_comment_value(&issue_key, idempotency_key).await {
                    Ok(Some(found)) => found,
                    _ => return Err(e.into()),
                }
            }
            Err(e) => return Err(writes::refused_or(e)),
        };
        let issue_id = text(&created, "self")
            .and_then(|u| id_after(u, "issue"))
            .map(str::to_owned);
        if let (Some(issue), Some(id)) =
            (&issue_id, created.get("id").and_then(crate::wire::id_text))
        {
            self.remember_comment(&id, issue);
        }
        let issue = self.issue_ref_for(&project, number, issue_id);
        convert::observe_comment(&created, &issue)
    }

    async fn update_comment(
        &self,
        target: &ExternalTarget,
        comment: &NativeId,
        body: &str,
    ) -> Result<Observed<Comment>, Error> {
        let project = Project::of(target)?;
        let id = numeric_id(comment, "comment")?;
        let Some((issue_id, current)) = self.comment_and_issue(&id).await? else {
            return Err(Error::Provider {
                provider: crate::PROVIDER.into(),
                message: format!("comment {id} no longer exists at Jira; it cannot be updated"),
                retryable: false,
                source: None,
            });
        };
        let document = match writes::plan_body(
            current.get("body").unwrap_or(&Value::Null),
            body,
            &format!("comment {id}"),
        )? {
            Some(document) => document,
            // Nothing to write: the host's Markdown is what Jira already shows.
            None => {
                let issue = Self::issue_by_id(&project, issue_id);
                return convert::observe_comment(&current, &issue);
            }
        };
        let request = ApiRequest::put(self.path(&format!("/issue/{issue_id}/comment/{id}")))
            .json(json!({ "body": document }))
            .priority(Priority::Write);
        let updated = self.json(request).await.map_err(writes::refused_or_error)?;
        let issue = Self::issue_by_id(&project, issue_id);
        convert::observe_comment(&updated, &issue)
    }

    async fn delete_comment(
        &self,
        _target: &ExternalTarget,
        comment: &NativeId,
    ) -> Result<(), Error> {
        let id = numeric_id(comment, "comment")?;
        let Some((issue_id, _)) = self.comment_and_issue(&id).await? else {
            // Already gone: the delete is done.
            return Ok(());
        };
        let request = ApiRequest::delete(self.path(&format!("/issue/{issue_id}/comment/{id}")))
            .priority(Priority::Write);
        match self.api.send(request).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Jira Cloud: `GET /rest/api/3/label` (every label of the site, offset pages). Data
    /// Center has no label listing: an empty last page.
    async fn list_labels(
        &self,
        _target: &ExternalTarget,
        page: &PageRequest,
    ) -> Result<Page<Observed<Label>>, Error> {
        if self.settings.flavor == Flavor::DataCenter {
            return Ok(Page::last(Vec::new()));
        }
        let request = self.get("/label");
        let raw = self
            .page(request, &OffsetPagination::new().items_at("/values"), page)
            .await?;
        convert::observe_page(ResourceKind::Label, raw)
    }

    /// `GET /project/{key}/versions`: the project's fix versions, one page.
    async fn list_milestones(
        &self,
        target: &ExternalTarget,
        _page: &PageRequest,
    ) -> Result<Page<Observed<Milestone>>, Error> {
        let project = Project::of(target)?;
        let value = self
            .json(self.get(&format!("/project/{}/versions", project.key)))
            .await?;
        let items = value.as_array().cloned().unwrap_or_default();
        convert::observe_page(ResourceKind::Milestone, Page::last(items))
    }

    async fn find_issue_by_key(
        &self,
        target: &ExternalTarget,
        idempotency_key: &str,
    ) -> Result<Option<Observed<Issue>>, Error> {
        let project = Project::of(target)?;
        self.find_issue_value(&project, idempotency_key)
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
        let project = Project::of(target)?;
        let Some(found) = self
            .find_comment_value(&project.issue_key(number), idempotency_key)
            .await?
        else {
            return Ok(None);
        };
        let issue_id = text(&found, "self")
            .and_then(|u| id_after(u, "issue"))
            .map(str::to_owned);
        let issue = self.issue_ref_for(&project, number, issue_id);
        convert::observe_comment(&found, &issue).map(Some)
    }
}

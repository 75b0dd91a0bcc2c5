//! [`IssueTracking`] over GitLab's issues, notes, labels and milestones.

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use kradle_http::{ApiRequest, Priority};
use kradle_sync_core::object::{Comment, Issue, Label, Milestone};
use kradle_sync_core::{
    Error, ExternalTarget, IssuePatch, IssueTracking, NativeId, Observed, Page, PageRequest,
    ResourceKind, marker,
};
use serde_json::{Map, Value, json};

use super::client::{GitlabClient, MAX_PER_PAGE, NoteParent, http_error, lock, project_path};
use super::convert::{self, numeric_id};

/// Whether a REST object's `field` carries the marker of `key`.
pub(crate) fn has_marker(item: &Value, field: &str, key: &str) -> bool {
    item.get(field)
        .and_then(Value::as_str)
        .and_then(marker::find)
        == Some(key)
}

fn not_found(error: &Error) -> bool {
    http_error(error).is_some_and(kradle_http::HttpError::is_not_found)
}

impl GitlabClient {
    /// The user id of a username (`GET /users?username=`), for assignee and member writes.
    pub(crate) async fn user_id(&self, username: &str) -> Result<u64, Error> {
        let request = ApiRequest::get("/users")
            .query("username", username)
            .priority(Priority::Write);
        let response = self.send(request).await?;
        let users: Value = response.json()?;
        users
            .as_array()
            .and_then(|users| users.first())
            .and_then(|user| user.get("id"))
            .and_then(Value::as_u64)
            .ok_or_else(|| Error::Validation {
                rule: "gitlab-user-exists",
                detail: format!(
                    "GitLab has no user named {username:?}; assign users by their GitLab username"
                ),
            })
    }

    /// The global id of the project milestone numbered `iid` (`GET …/milestones?iids[]=`):
    /// GitLab's writes take the global id, hosts name milestones by number.
    async fn milestone_id(&self, project: &str, iid: u64) -> Result<u64, Error> {
        let request = ApiRequest::get(format!("{project}/milestones"))
            .query("iids[]", iid.to_string())
            .priority(Priority::Write);
        let milestones: Value = self.send(request).await?.json()?;
        milestones
            .as_array()
            .and_then(|m| m.first())
            .and_then(|m| m.get("id"))
            .and_then(Value::as_u64)
            .ok_or_else(|| Error::Validation {
                rule: "gitlab-milestone-exists",
                detail: format!(
                    "the project has no milestone %{iid}; set a milestone of the project by its number"
                ),
            })
    }

    /// The JSON of an issue create or update. A create embeds the marker of `key` in the
    /// description and leaves out the state (GitLab opens every new issue). Assignees and
    /// the milestone are looked up to GitLab's ids.
    async fn issue_json(
        &self,
        project: &str,
        patch: &IssuePatch,
        key: Option<&str>,
    ) -> Result<Value, Error> {
        let mut map = Map::new();
        if let Some(title) = &patch.title {
            map.insert("title".into(), json!(title));
        }
        match (key, &patch.body) {
            (Some(key), body) => {
                map.insert(
                    "description".into(),
                    json!(marker::embed(body.as_deref().unwrap_or_default(), key)),
                );
            }
            (None, Some(body)) => {
                map.insert("description".into(), json!(body));
            }
            (None, None) => {}
        }
        if key.is_none() {
            match patch.state.as_deref() {
                Some("closed") => {
                    map.insert("state_event".into(), json!("close"));
                }
                Some("open") => {
                    map.insert("state_event".into(), json!("reopen"));
                }
                Some(other) => {
                    return Err(Error::Validation {
                        rule: "issue-state",
                        detail: format!("an issue's state is `open` or `closed`, not {other:?}"),
                    });
                }
                None => {}
            }
        }
        if let Some(labels) = &patch.labels {
            map.insert("labels".into(), json!(labels.join(",")));
        }
        if let Some(assignees) = &patch.assignees {
            let mut ids = Vec::with_capacity(assignees.len());
            for username in assignees {
                ids.push(self.user_id(username).await?);
            }
            map.insert("assignee_ids".into(), json!(ids));
        }
        match patch.milestone {
            Some(Some(iid)) => {
                map.insert(
                    "milestone_id".into(),
                    json!(self.milestone_id(project, iid).await?),
                );
            }
            // GitLab clears the milestone on 0.
            Some(None) => {
                map.insert("milestone_id".into(), json!(0));
            }
            None => {}
        }
        Ok(Value::Object(map))
    }

    async fn find_issue_value(
        &self,
        target: &ExternalTarget,
        key: &str,
    ) -> Result<Option<Value>, Error> {
        let request = ApiRequest::get(format!("{}/issues", project_path(target)?))
            .query("order_by", "created_at")
            .query("sort", "desc")
            .query("scope", "all");
        self.scan(request, self.settings.lookup_pages, |item| {
            has_marker(item, "description", key)
        })
        .await
    }

    /// Where note `note` lives: learnt from an earlier read or create of it, or found among
    /// the project's newest comment events (`GET …/events?target_type=note`).
    pub(crate) async fn note_parent(&self, project: &str, note: u64) -> Result<NoteParent, Error> {
        if let Some(parent) = lock(&self.settings.note_parents).get(&note) {
            return Ok(*parent);
        }
        let request = ApiRequest::get(format!("{project}/events"))
            .query("target_type", "note")
            .query("sort", "desc");
        let found = self
            .scan(request, self.settings.lookup_pages, |event| {
                event.get("target_id").and_then(Value::as_u64) == Some(note)
                    || event.pointer("/note/id").and_then(Value::as_u64) == Some(note)
            })
            .await?;
        let parent = found.as_ref().and_then(|event| {
            let iid = event
                .pointer("/note/noteable_iid")
                .and_then(Value::as_u64)?;
            match event
                .pointer("/note/noteable_type")
                .and_then(Value::as_str)?
            {
                "Issue" => Some(NoteParent::Issue(iid)),
                "MergeRequest" => Some(NoteParent::MergeRequest(iid)),
                _ => None,
            }
        });
        match parent {
            Some(parent) => {
                self.remember_notes([(note, parent)]);
                Ok(parent)
            }
            None => Err(Error::Validation {
                rule: "gitlab-note-parent",
                detail: format!(
                    "GitLab addresses a note through its issue, and note {note} was neither read \
                     by this client nor found among the project's newest comment events; read \
                     the issue's comments (list_comments) first"
                ),
            }),
        }
    }

    /// The issue a note is on, refusing a merge request's (those are review comments).
    async fn issue_of_note(&self, project: &str, note: u64) -> Result<u64, Error> {
        match self.note_parent(project, note).await? {
            NoteParent::Issue(iid) => Ok(iid),
            NoteParent::MergeRequest(iid) => Err(Error::Validation {
                rule: "gitlab-note-on-issue",
                detail: format!(
                    "note {note} is on merge request !{iid}, which kradle-sync syncs as a \
                     review comment; comments are notes on issues"
                ),
            }),
        }
    }
}

#[async_trait]
impl IssueTracking for GitlabClient {
    /// `GET /projects/:id/issues?order_by=updated_at&sort=desc&scope=all` (newest change
    /// first; `updated_after` when `since` is given; keyset pagination when the client was
    /// built with it).
    async fn list_issues(
        &self,
        target: &ExternalTarget,
        since: Option<DateTime<Utc>>,
        page: &PageRequest,
    ) -> Result<Page<Observed<Issue>>, Error> {
        let mut request = self
            .get(format!("{}/issues", project_path(target)?))
            .query("order_by", "updated_at")
            .query("sort", "desc")
            .query("scope", "all");
        if self.settings.keyset {
            request = request.query("pagination", "keyset");
        }
        if let Some(since) = since {
            request = request.query(
                "updated_after",
                since.to_rfc3339_opts(SecondsFormat::Secs, true),
            );
        }
        self.list(ResourceKind::Issue, request, page).await
    }

    async fn get_issue(
        &self,
        target: &ExternalTarget,
        number: u64,
    ) -> Result<Observed<Issue>, Error> {
        let request = self.get(format!("{}/issues/{number}", project_path(target)?));
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
                detail: "GitLab creates an issue only with a title; set `title`".into(),
            });
        }
        let project = project_path(target)?;
        let body = self
            .issue_json(&project, issue, Some(idempotency_key))
            .await?;
        let request = ApiRequest::post(format!("{project}/issues")).json(body);
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
        let project = project_path(target)?;
        let body = self.issue_json(&project, patch, None).await?;
        // Absolute values: repeating the update is harmless.
        let request = ApiRequest::put(format!("{project}/issues/{number}"))
            .json(body)
            .idempotent(true);
        self.write(ResourceKind::Issue, request).await
    }

    /// `GET /projects/:id/issues/:iid/notes?sort=asc&order_by=created_at`, system notes
    /// left out.
    async fn list_comments(
        &self,
        target: &ExternalTarget,
        number: u64,
        page: &PageRequest,
    ) -> Result<Page<Observed<Comment>>, Error> {
        let request = self
            .get(format!("{}/issues/{number}/notes", project_path(target)?))
            .query("sort", "asc")
            .query("order_by", "created_at");
        let got = self
            .list::<Comment>(ResourceKind::Comment, request, page)
            .await?;
        self.remember_notes(got.items.iter().filter_map(|c| {
            Some((
                c.native_id.as_str().parse::<u64>().ok()?,
                NoteParent::Issue(number),
            ))
        }));
        Ok(got)
    }

    /// The comment walk (issues newest change first, then their notes); see the crate's
    /// README.
    async fn list_all_comments(
        &self,
        target: &ExternalTarget,
        since: Option<DateTime<Utc>>,
        page: &PageRequest,
    ) -> Result<Page<Observed<Comment>>, Error> {
        self.walk_comments(target, since, page).await
    }

    async fn create_comment(
        &self,
        target: &ExternalTarget,
        number: u64,
        body: &str,
        idempotency_key: &str,
    ) -> Result<Observed<Comment>, Error> {
        let request = ApiRequest::post(format!("{}/issues/{number}/notes", project_path(target)?))
            .json(json!({ "body": marker::embed(body, idempotency_key) }));
        let created: Observed<Comment> = self
            .create_adopting(ResourceKind::Comment, request, || {
                self.find_comment_by_key(target, number, idempotency_key)
            })
            .await?;
        if let Ok(id) = created.native_id.as_str().parse::<u64>() {
            self.remember_notes([(id, NoteParent::Issue(number))]);
        }
        Ok(created)
    }

    async fn update_comment(
        &self,
        target: &ExternalTarget,
        comment: &NativeId,
        body: &str,
    ) -> Result<Observed<Comment>, Error> {
        let id = numeric_id(comment, "note")?;
        let project = project_path(target)?;
        let iid = self.issue_of_note(&project, id).await?;
        let request = ApiRequest::put(format!("{project}/issues/{iid}/notes/{id}"))
            .json(json!({ "body": body }))
            .idempotent(true);
        self.write(ResourceKind::Comment, request).await
    }

    async fn delete_comment(
        &self,
        target: &ExternalTarget,
        comment: &NativeId,
    ) -> Result<(), Error> {
        let id = numeric_id(comment, "note")?;
        let project = project_path(target)?;
        let iid = self.issue_of_note(&project, id).await?;
        let request = ApiRequest::delete(format!("{project}/issues/{iid}/notes/{id}"));
        match self.write_only(request).await {
            // Already gone: the delete is done.
            Err(e) if not_found(&e) => Ok(()),
            other => other,
        }
    }

    /// `GET /projects/:id/labels` (with the labels of its ancestor groups, GitLab's
    /// default).
    async fn list_labels(
        &self,
        target: &ExternalTarget,
        page: &PageRequest,
    ) -> Result<Page<Observed<Label>>, Error> {
        let request = self.get(format!("{}/labels", project_path(target)?));
        self.list(ResourceKind::Label, request, page).await
    }

    /// `GET /projects/:id/milestones` (active and closed).
    async fn list_milestones(
        &self,
        target: &ExternalTarget,
        page: &PageRequest,
    ) -> Result<Page<Observed<Milestone>>, Error> {
        let request = self.get(format!("{}/milestones", project_path(target)?));
        self.list(ResourceKind::Milestone, request, page).await
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
        // The comments of one issue, newest first: read them all (bounded).
        let request = ApiRequest::get(format!("{}/issues/{number}/notes", project_path(target)?))
            .query("sort", "desc")
            .query("order_by", "created_at");
        self.scan(request, MAX_PER_PAGE, |item| {
            has_marker(item, "body", idempotency_key)
        })
        .await?
        .map(|v| convert::observe(ResourceKind::Comment, &v))
        .transpose()
    }
}

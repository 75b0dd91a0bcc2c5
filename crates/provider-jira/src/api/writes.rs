//! Writes: what a create sends, and how an update is planned against the issue as Jira
//! holds it (its edit screen, its workflow's transitions, its rich-text originals) before
//! anything is sent.

use kradle_http::{ApiRequest, HttpError, Priority};
use kradle_sync_core::conflict::ConflictReason;
use kradle_sync_core::{Error, Fields, IssuePatch};
use serde_json::{Map, Value, json};

use super::client::{Flavor, JiraClient};
use super::convert::Project;
use super::search::intent_property;
use crate::PROVIDER;
use crate::error::JiraError;
use crate::issue_tracking::body::describe_losses;
use crate::markup::{self, Document, Original, WritePlan};

/// The document a Markdown text becomes for the client's flavor: ADF on Cloud, wiki markup
/// on Data Center.
pub(crate) fn document_for(client: &JiraClient, markdown: &str) -> Value {
    match client.flavor() {
        Flavor::Cloud => markup::markdown_to_adf(markdown).output,
        Flavor::DataCenter => Value::String(markup::markdown_to_wiki(markdown).output),
    }
}

fn user_value(client: &JiraClient, id: &str) -> Value {
    match client.flavor() {
        Flavor::Cloud => json!({ "accountId": id }),
        Flavor::DataCenter => json!({ "name": id }),
    }
}

fn one_assignee(assignees: &[String], issue: &str) -> Result<Option<String>, Error> {
    match assignees {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        many => Err(JiraError::Refused {
            detail: format!(
                "{issue}: Jira issues have one assignee, not {} ({}); assign one person",
                many.len(),
                many.join(", ")
            ),
        }
        .into()),
    }
}

/// The JSON of `POST /issue`: project, issue type, summary, description in the flavor's
/// format, labels, assignee, fix version, and the intent key as the `kradle.intent`
/// property (stored with the issue in the same request).
pub(crate) fn create_body(
    client: &JiraClient,
    project: &Project,
    patch: &IssuePatch,
    intent: &str,
) -> Result<Value, Error> {
    let title = patch
        .title
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| Error::Validation {
            rule: "issue-needs-title",
            detail: "Jira creates an issue only with a summary; set `title`".into(),
        })?;
    let mut fields = Map::new();
    fields.insert("project".into(), json!({ "key": project.key }));
    fields.insert(
        "issuetype".into(),
        json!({ "name": client.settings.issue_type }),
    );
    fields.insert("summary".into(), json!(title));
    if let Some(body) = patch.body.as_deref().filter(|b| !b.is_empty()) {
        fields.insert("description".into(), document_for(client, body));
    }
    if let Some(labels) = &patch.labels {
        fields.insert("labels".into(), json!(labels));
    }
    if let Some(assignees) = &patch.assignees
        && let Some(one) = one_assignee(assignees, "a new issue")?
    {
        fields.insert("assignee".into(), user_value(client, &one));
    }
    if let Some(Some(version)) = patch.milestone {
        fields.insert("fixVersions".into(), json!([{ "id": version.to_string() }]));
    }
    Ok(json!({ "fields": fields, "properties": intent_property(intent) }))
}

/// What to send for a host's Markdown edit of a rich-text field whose current value is
/// `current` (ADF, wiki markup or `null`): `None` when it is unchanged, the document to send,
/// or a `lossy_format` conflict carrying the original.
pub(crate) fn plan_body(
    current: &Value,
    markdown: &str,
    what: &str,
) -> Result<Option<Value>, Error> {
    let original = match current {
        Value::Null => Original::Wiki(""),
        other => Original::from_field(other).map_err(|e| Error::MalformedPayload {
            provider: PROVIDER.into(),
            reason: format!("{what}: {e}"),
        })?,
    };
    let plan = markup::plan_write(original, markdown).map_err(|e| Error::MalformedPayload {
        provider: PROVIDER.into(),
        reason: format!("{what}: {e}"),
    })?;
    match plan {
        WritePlan::Unchanged => Ok(None),
        WritePlan::Write { document, .. } => Ok(Some(match document {
            Document::Adf(doc) => doc,
            Document::Wiki(text) => Value::String(text),
        })),
        WritePlan::Lossy { dropped, .. } => {
            let mut external = Fields::new();
            external.insert("body".into(), current.clone());
            Err(Error::WriteConflict {
                provider: PROVIDER.into(),
                reason: ConflictReason::LossyFormat,
                message: format!(
                    "{what}: writing the host's Markdown would drop what Jira's text holds and \
                     Markdown cannot: {}",
                    describe_losses(&dropped)
                ),
                external,
            })
        }
    }
}

/// A 400 from a write is Jira refusing a field or value: a typed refusal (a conflict
/// record), never retried.
pub(crate) fn refused_or(error: HttpError) -> Error {
    match error {
        HttpError::Client {
            status: 400,
            message,
            request,
        } => JiraError::Refused {
            detail: format!("{request}: Jira refused the write (400): {message}"),
        }
        .into(),
        other => other.into(),
    }
}

/// [`refused_or`] for an error already converted.
pub(crate) fn refused_or_error(error: Error) -> Error {
    match error {
        Error::Provider {
            source: Some(source),
            provider,
            message,
            retryable,
        } => match source.downcast::<HttpError>() {
            Ok(http) => refused_or(*http),
            Err(source) => Error::Provider {
                provider,
                message,
                retryable,
                source: Some(source),
            },
        },
        other => other,
    }
}

/// Whether the edit screen (`editmeta.fields`) has `field`.
fn editable(issue: &Value, field: &str) -> bool {
    issue
        .pointer("/editmeta/fields")
        .and_then(Value::as_object)
        .is_some_and(|f| f.contains_key(field))
}

fn not_editable(key: &str, field: &str, canonical: &str) -> Error {
    JiraError::Refused {
        detail: format!(
            "{key}: Jira's edit screen does not offer `{field}` (the host changed `{canonical}`); \
             add the field to the project's edit screen, or stop syncing `{canonical}` for this \
             binding"
        ),
    }
    .into()
}

/// The current status category of an issue (`new`, `indeterminate`, `done`).
fn category(issue: &Value) -> Option<&str> {
    issue
        .pointer("/fields/status/statusCategory/key")
        .and_then(Value::as_str)
}

/// The transition to take for a wanted canonical state, if one is needed.
fn choose_transition<'a>(
    issue: &'a Value,
    key: &str,
    wanted: &str,
) -> Result<Option<&'a Value>, Error> {
    let closed = match wanted {
        "closed" => true,
        "open" => false,
        other => {
            return Err(Error::Validation {
                rule: "issue-state",
                detail: format!("state `{other}` is neither `open` nor `closed`"),
            });
        }
    };
    let current = category(issue);
    if current.map(|c| c == "done") == Some(closed) {
        return Ok(None);
    }
    let transitions: &[Value] = issue
        .get("transitions")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    fn target_category(t: &Value) -> Option<&str> {
        t.pointer("/to/statusCategory/key").and_then(Value::as_str)
    }
    let found = if closed {
        transitions
            .iter()
            .find(|t| target_category(t) == Some("done"))
    } else {
        // Reopening: prefer a "to do" status, then one in progress.
        transitions
            .iter()
            .find(|t| target_category(t) == Some("new"))
            .or_else(|| {
                transitions
                    .iter()
                    .find(|t| target_category(t).is_some_and(|c| c != "done"))
            })
    };
    if let Some(found) = found {
        return Ok(Some(found));
    }
    let status = issue
        .pointer("/fields/status/name")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    let available: Vec<String> = transitions
        .iter()
        .map(|t| {
            format!(
                "`{}` → `{}`",
                t.get("name").and_then(Value::as_str).unwrap_or("?"),
                t.pointer("/to/name").and_then(Value::as_str).unwrap_or("?")
            )
        })
        .collect();
    let mut external = Fields::new();
    external.insert(
        "state".into(),
        json!(if current == Some("done") {
            "closed"
        } else {
            "open"
        }),
    );
    external.insert("status".into(), json!(status));
    Err(Error::WriteConflict {
        provider: PROVIDER.into(),
        reason: ConflictReason::NoTransition,
        message: format!(
            "{key} is in status `{status}`, from which Jira's workflow has no transition to \
             an {} status; available: {}",
            if closed { "done" } else { "open" },
            if available.is_empty() {
                "none".to_owned()
            } else {
                available.join(", ")
            }
        ),
        external,
    })
}

/// Plans and applies an update of issue `key`.
pub(crate) async fn update(
    client: &JiraClient,
    key: &str,
    patch: &IssuePatch,
) -> Result<(), Error> {
    let read = ApiRequest::get(client.path(&format!("/issue/{key}")))
        .query(
            "fields",
            "summary,description,status,labels,assignee,fixVersions",
        )
        .query("expand", "editmeta,transitions,transitions.fields")
        .priority(Priority::Write);
    let issue = client.json(read).await?;
    // Everything is decided before anything is sent.
    let mut fields = Map::new();
    if let Some(title) = &patch.title {
        if !editable(&issue, "summary") {
            return Err(not_editable(key, "summary", "title"));
        }
        fields.insert("summary".into(), json!(title));
    }
    if let Some(body) = &patch.body {
        let current = issue.pointer("/fields/description").unwrap_or(&Value::Null);
        if let Some(document) = plan_body(current, body, key)? {
            if !editable(&issue, "description") {
                return Err(not_editable(key, "description", "body"));
            }
            fields.insert("description".into(), document);
        }
    }
    if let Some(labels) = &patch.labels {
        if !editable(&issue, "labels") {
            return Err(not_editable(key, "labels", "labels"));
        }
        fields.insert("labels".into(), json!(labels));
    }
    if let Some(milestone) = &patch.milestone {
        if !editable(&issue, "fixVersions") {
            return Err(not_editable(key, "fixVersions", "milestone"));
        }
        let versions = match milestone {
            Some(id) => json!([{ "id": id.to_string() }]),
            None => json!([]),
        };
        fields.insert("fixVersions".into(), versions);
    }
    let assignee = match &patch.assignees {
        Some(list) => Some(one_assignee(list, key)?),
        None => None,
    };
    let transition = match &patch.state {
        Some(state) => choose_transition(&issue, key, state)?,
        None => None,
    };
    if !fields.is_empty() {
        let request = ApiRequest::put(client.path(&format!("/issue/{key}")))
            .json(json!({ "fields": fields }))
            .priority(Priority::Write);
        client.api.send(request).await.map_err(refused_or)?;
    }
    if let Some(assignee) = assignee {
        let body = match assignee {
            Some(id) => user_value(client, &id),
            None => match client.flavor() {
                Flavor::Cloud => json!({ "accountId": null }),
                Flavor::DataCenter => json!({ "name": null }),
            },
        };
        let request = ApiRequest::put(client.path(&format!("/issue/{key}/assignee")))
            .json(body)
            .priority(Priority::Write);
        client.api.send(request).await.map_err(refused_or)?;
    }
    if let Some(transition) = transition {
        let id = transition
            .get("id")
            .and_then(crate::wire::id_text)
            .unwrap_or_default();
        let mut body = json!({ "transition": { "id": id } });
        if let Some(reason) = &patch.state_reason
            && transition.pointer("/fields/resolution").is_some()
        {
            body["fields"] = json!({ "resolution": { "name": reason } });
        }
        let request = ApiRequest::post(client.path(&format!("/issue/{key}/transitions")))
            .json(body)
            // Taking the same transition twice fails harmlessly (it is no longer offered).
            .idempotent(true)
            .priority(Priority::Write);
        client.api.send(request).await.map_err(refused_or)?;
    }
    Ok(())
}

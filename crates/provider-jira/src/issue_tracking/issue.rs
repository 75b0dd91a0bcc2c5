//! Issues: `jira:issue_*` webhooks and REST issue objects.
//!
//! Canonical fields, named as GitHub's and GitLab's where the meaning is the same:
//! `number` (of the key), `title` (summary), `body` (Markdown of the description; the
//! original in `body_adf` or `body_wiki`), `state` (`closed` when the status category is
//! `done`, else `open`), `state_reason` (the resolution's name), `labels`, `assignees`
//! (the one assignee: account id on Cloud, user name on Data Center), `milestone` (the
//! first fix version's id), `author` (creator, else reporter), `created_at`, `closed_at`
//! (resolution date), `html_url` (`…/browse/KEY`), `locked` and `pull_request` (always
//! false: Jira has neither). Jira's own: `key`, `status` (the workflow status's name),
//! `status_category` (`new`, `indeterminate`, `done`), `priority`, `issue_type`,
//! `fix_versions` and `components` (names), and every custom field under its id
//! (`customfield_10001`) as its raw JSON value.
//!
//! A key missing from `fields` leaves its canonical fields out (never defaulted): a
//! payload with a partial issue updates only what it carries.

use chrono::{DateTime, Utc};
use kradle_sync_core::{ExternalTarget, Fields, LinkInfo, NativeId, ResourceKind};
use serde_json::{Map, Value, json};

use super::body;
use crate::emit::Subject;
use crate::error::JiraError;
use crate::wire::{
    base_of, id_text, key_number, key_project, site_of, target, text, time, user_id,
};

/// The identity of an issue object: id, key, site and project.
#[derive(Debug, Clone)]
pub(crate) struct IssueRef {
    /// The numeric id (`10040`), stable when the issue moves.
    pub id: String,
    /// The key (`TES-41`), if given.
    pub key: Option<String>,
    /// The REST `self` URL, if given.
    pub api_url: Option<String>,
    /// `SITE/KEY`, when both are known.
    pub target: Option<ExternalTarget>,
    /// The link for people.
    pub html_url: Option<String>,
}

impl IssueRef {
    /// Reads an issue object's identity.
    pub fn read(issue: &Value, context: &str) -> Result<Self, JiraError> {
        if !issue.is_object() {
            return Err(JiraError::Shape {
                context: context.to_owned(),
                detail: "`issue` is not a JSON object".into(),
            });
        }
        let id = issue
            .get("id")
            .and_then(id_text)
            .filter(|id| id.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| JiraError::Shape {
                context: context.to_owned(),
                detail: "the issue has no numeric `id`; Jira always sends it".into(),
            })?;
        let key = text(issue, "key").map(str::to_owned);
        let api_url = text(issue, "self").map(str::to_owned);
        let project = issue
            .pointer("/fields/project/key")
            .and_then(Value::as_str)
            .or_else(|| key.as_deref().and_then(key_project));
        let site = api_url.as_deref().and_then(site_of);
        let target = match (site.as_deref(), project) {
            (Some(site), Some(project)) => Some(target(site, project)),
            _ => None,
        };
        let html_url = match (api_url.as_deref().and_then(base_of), key.as_deref()) {
            (Some(base), Some(key)) => Some(format!("{base}/browse/{key}")),
            _ => None,
        };
        Ok(Self {
            id,
            key,
            api_url,
            target,
            html_url,
        })
    }

    /// The number people use (of the key).
    pub fn number(&self) -> Option<u64> {
        self.key.as_deref().and_then(key_number)
    }

    /// The issue as an event subject at version `updated_at`.
    pub fn subject(&self, updated_at: Option<DateTime<Utc>>) -> Subject {
        Subject {
            kind: ResourceKind::Issue,
            native_id: NativeId::new(self.id.as_str()),
            updated_at,
            target: self.target.clone(),
            link: LinkInfo::default()
                .with_number(self.number())
                .with_url(self.html_url.clone())
                .with_api_url(self.api_url.clone()),
        }
    }
}

/// The `fields` object of an issue (empty when absent).
pub(crate) fn fields_of(issue: &Value) -> Option<&Map<String, Value>> {
    issue.get("fields").and_then(Value::as_object)
}

/// The issue's version: `fields.updated`.
pub(crate) fn updated(issue: &Value) -> Option<DateTime<Utc>> {
    issue.pointer("/fields/updated").and_then(time)
}

fn names(list: &Value) -> Option<Value> {
    let items = list.as_array()?;
    Some(Value::Array(
        items
            .iter()
            .filter_map(|i| i.get("name").and_then(Value::as_str))
            .map(|n| Value::String(n.to_owned()))
            .collect(),
    ))
}

fn sorted_strings(list: &Value) -> Option<Value> {
    let mut items: Vec<String> = list
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    items.sort();
    items.dedup();
    Some(json!(items))
}

/// The name of a `{ "name": … }` object, `null` for `null`.
fn name_of(value: &Value) -> Option<Value> {
    match value {
        Value::Null => Some(Value::Null),
        other => other
            .get("name")
            .and_then(Value::as_str)
            .map(|n| Value::String(n.to_owned())),
    }
}

/// The canonical fields of an issue: what its `fields` object carries, plus the identity
/// fields (`number`, `key`, `html_url`, `locked`, `pull_request`) known from the issue.
pub(crate) fn fields(issue: &IssueRef, raw: Option<&Map<String, Value>>) -> Fields {
    let mut out = Fields::new();
    if let Some(number) = issue.number() {
        out.insert("number".into(), json!(number));
    }
    if let Some(key) = &issue.key {
        out.insert("key".into(), json!(key));
    }
    if let Some(url) = &issue.html_url {
        out.insert("html_url".into(), json!(url));
    }
    // Jira has no locked conversations and no pull requests among issues.
    out.insert("locked".into(), json!(false));
    out.insert("pull_request".into(), json!(false));
    let Some(raw) = raw else {
        return out;
    };
    for (key, value) in raw {
        match key.as_str() {
            "summary" => {
                if let Some(title) = value.as_str() {
                    out.insert("title".into(), json!(title));
                }
            }
            "description" => body::insert(&mut out, value),
            "status" => {
                if let Some(name) = value.get("name").and_then(Value::as_str) {
                    out.insert("status".into(), json!(name));
                }
                if let Some(category) = value.pointer("/statusCategory/key").and_then(Value::as_str)
                {
                    out.insert("status_category".into(), json!(category));
                    let state = if category == "done" { "closed" } else { "open" };
                    out.insert("state".into(), json!(state));
                }
            }
            "resolution" => {
                if let Some(name) = name_of(value) {
                    out.insert("state_reason".into(), name);
                }
            }
            "resolutiondate" => {
                out.insert(
                    "closed_at".into(),
                    time(value).map_or(Value::Null, |t| json!(t)),
                );
            }
            "labels" => {
                if let Some(labels) = sorted_strings(value) {
                    out.insert("labels".into(), labels);
                }
            }
            "assignee" => {
                let assignees: Vec<String> = user_id(value).into_iter().collect();
                out.insert("assignees".into(), json!(assignees));
            }
            "fixVersions" => {
                if let Some(list) = value.as_array() {
                    let first = list
                        .first()
                        .and_then(|v| v.get("id"))
                        .and_then(id_text)
                        .and_then(|id| id.parse::<u64>().ok());
                    out.insert("milestone".into(), json!(first));
                }
                if let Some(names) = names(value) {
                    out.insert("fix_versions".into(), names);
                }
            }
            "components" => {
                if let Some(Value::Array(mut names)) = names(value) {
                    names.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
                    out.insert("components".into(), Value::Array(names));
                }
            }
            "priority" => {
                if let Some(name) = name_of(value) {
                    out.insert("priority".into(), name);
                }
            }
            "issuetype" => {
                if let Some(name) = name_of(value) {
                    out.insert("issue_type".into(), name);
                }
            }
            "created" => {
                if let Some(t) = time(value) {
                    out.insert("created_at".into(), json!(t));
                }
            }
            custom if custom.starts_with("customfield_") => {
                out.insert(custom.to_owned(), value.clone());
            }
            _ => {}
        }
    }
    // The author: whoever created the issue, else its reporter.
    let author = match (raw.get("creator"), raw.get("reporter")) {
        (Some(creator), _) if !creator.is_null() => Some(user_id(creator)),
        (_, Some(reporter)) => Some(user_id(reporter)),
        (Some(_), None) => Some(None),
        (None, None) => None,
    };
    if let Some(author) = author {
        out.insert("author".into(), json!(author));
    }
    out
}

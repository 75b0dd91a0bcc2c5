//! Issue tracking objects: issue, comment, label, milestone.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Whether an issue is open or closed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueState {
    /// Open.
    #[default]
    Open,
    /// Closed.
    Closed,
}

/// An issue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Issue {
    /// The number shown to people (`#42`, GitLab `iid`, Jira key number).
    pub number: u64,
    /// Title.
    pub title: String,
    /// Body text, as the provider stores it (Markdown, or Jira's rendered text).
    pub body: Option<String>,
    /// Open or closed.
    pub state: IssueState,
    /// Why it was closed or reopened (`completed`, `not_planned`, `reopened`), if given.
    pub state_reason: Option<String>,
    /// Label names, sorted.
    pub labels: Vec<String>,
    /// Assignee logins, sorted.
    pub assignees: Vec<String>,
    /// The milestone's number, if any.
    pub milestone: Option<u64>,
    /// Whether the conversation is locked.
    pub locked: bool,
    /// Login of the author.
    pub author: Option<String>,
    /// Creation time.
    pub created_at: Option<DateTime<Utc>>,
    /// Close time.
    pub closed_at: Option<DateTime<Utc>>,
    /// Link for people.
    pub html_url: Option<String>,
    /// Whether this is the conversation side of a pull request (GitHub models pull
    /// requests as issues: their labels, milestone and assignees live here).
    #[serde(default)]
    pub pull_request: bool,
}

/// A comment on an issue (or on a pull request's conversation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Comment {
    /// The native id of the issue it belongs to.
    pub issue_native_id: Option<String>,
    /// The number of the issue it belongs to.
    pub issue_number: Option<u64>,
    /// Body text.
    pub body: String,
    /// Login of the author.
    pub author: Option<String>,
    /// Creation time.
    pub created_at: Option<DateTime<Utc>>,
    /// Link for people.
    pub html_url: Option<String>,
}

/// A label.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Label {
    /// Name.
    pub name: String,
    /// Colour as six hex digits, without `#`.
    pub color: Option<String>,
    /// Description.
    pub description: Option<String>,
}

/// A milestone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Milestone {
    /// Number.
    pub number: u64,
    /// Title.
    pub title: String,
    /// Description.
    pub description: Option<String>,
    /// Open or closed.
    pub state: IssueState,
    /// Due date.
    pub due_on: Option<DateTime<Utc>>,
    /// Open issues in it.
    pub open_issues: Option<u64>,
    /// Closed issues in it.
    pub closed_issues: Option<u64>,
}

//! The events Jira names in a body's `webhookEvent`.

/// A Jira webhook event, by its `webhookEvent` name.
///
/// ```
/// use kradle_provider_jira::JiraEvent;
/// assert_eq!(JiraEvent::from_name("jira:issue_updated"), JiraEvent::IssueUpdated);
/// assert_eq!(JiraEvent::from_name("worklog_created"), JiraEvent::Other);
/// assert_eq!(JiraEvent::IssueUpdated.as_str(), Some("jira:issue_updated"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JiraEvent {
    /// `jira:issue_created`.
    IssueCreated,
    /// `jira:issue_updated` (refined by `issue_event_type_name`).
    IssueUpdated,
    /// `jira:issue_deleted`.
    IssueDeleted,
    /// `comment_created`.
    CommentCreated,
    /// `comment_updated`.
    CommentUpdated,
    /// `comment_deleted`.
    CommentDeleted,
    /// Any other event (worklogs, attachments, issue links, sprints, versions, projects,
    /// users, boards, …): accepted and ignored with a reason.
    Other,
}

impl JiraEvent {
    /// The event of a `webhookEvent` name.
    pub fn from_name(name: &str) -> Self {
        match name {
            "jira:issue_created" => JiraEvent::IssueCreated,
            "jira:issue_updated" => JiraEvent::IssueUpdated,
            "jira:issue_deleted" => JiraEvent::IssueDeleted,
            "comment_created" => JiraEvent::CommentCreated,
            "comment_updated" => JiraEvent::CommentUpdated,
            "comment_deleted" => JiraEvent::CommentDeleted,
            _ => JiraEvent::Other,
        }
    }

    /// The `webhookEvent` name (`None` for [`JiraEvent::Other`]).
    pub fn as_str(self) -> Option<&'static str> {
        Some(match self {
            JiraEvent::IssueCreated => "jira:issue_created",
            JiraEvent::IssueUpdated => "jira:issue_updated",
            JiraEvent::IssueDeleted => "jira:issue_deleted",
            JiraEvent::CommentCreated => "comment_created",
            JiraEvent::CommentUpdated => "comment_updated",
            JiraEvent::CommentDeleted => "comment_deleted",
            JiraEvent::Other => return None,
        })
    }

    /// The canonical action of an event without `issue_event_type_name`: the event name
    /// without the `jira:` prefix (`issue_created`, `comment_deleted`).
    pub(crate) fn default_action(name: &str) -> &str {
        name.strip_prefix("jira:").unwrap_or(name)
    }
}

/// Why an event out of scope produces nothing.
pub(crate) fn ignored_reason(event: &str) -> String {
    let what = if event.starts_with("worklog_") {
        "worklogs are not part of the issue-tracking interface"
    } else if event.starts_with("attachment_") {
        "attachments are not synced as objects (an issue's attachments show in its fields)"
    } else if event.starts_with("issuelink_") {
        "issue links are not synced as objects"
    } else if event.starts_with("sprint_") || event.starts_with("board_") {
        "sprints and boards are Jira Software's planning, not issue tracking"
    } else if event.starts_with("jira:version_") {
        "version events are not applied; fix versions are read as milestones by backfill"
    } else if event.starts_with("project_") || event.starts_with("user_") {
        "projects and users are not synced"
    } else if event.starts_with("option_") {
        "Jira configuration changes are not synced"
    } else {
        "kradle-sync's Jira provider does not know this event"
    };
    format!(
        "`{event}` events are not synced: {what}; the delivery was accepted and produced no \
         events"
    )
}

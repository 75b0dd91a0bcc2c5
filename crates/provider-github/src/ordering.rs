//! The ordering key of a delivery: the primary object its payload is about, read cheaply
//! at receive time so workers never process two deliveries about one object at once.

use serde::Deserialize;
use serde::de::IgnoredAny;

#[derive(Deserialize)]
struct Id {
    id: u64,
}

#[derive(Deserialize)]
struct Job {
    run_id: u64,
}

/// Only the identifying parts of a payload; everything else is skipped unparsed.
#[derive(Deserialize)]
struct Peek {
    issue: Option<Id>,
    pull_request: Option<Id>,
    workflow_run: Option<Id>,
    workflow_job: Option<Job>,
    check_run: Option<Id>,
    check_suite: Option<Id>,
    label: Option<Id>,
    milestone: Option<Id>,
    deployment: Option<Id>,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    #[serde(rename = "sha")]
    _sha: Option<IgnoredAny>,
}

/// The key of the object a GitHub payload of `event` is about, if it has one.
pub(crate) fn ordering_key(event: &str, body: &[u8]) -> Option<String> {
    let peek: Peek = serde_json::from_slice(body).ok()?;
    let id = |prefix: &str, id: Option<Id>| id.map(|i| format!("{prefix}:{}", i.id));
    match event {
        // A comment touches its issue too: both order by the issue.
        "issues" | "issue_comment" => id("issue", peek.issue),
        "pull_request" | "pull_request_review" | "pull_request_review_comment" => {
            id("pull_request", peek.pull_request)
        }
        "workflow_run" => id("pipeline", peek.workflow_run),
        "workflow_job" => peek.workflow_job.map(|j| format!("pipeline:{}", j.run_id)),
        "check_run" => id("check_run", peek.check_run),
        "check_suite" => id("check_suite", peek.check_suite),
        "label" => id("label", peek.label),
        "milestone" => id("milestone", peek.milestone),
        "deployment" | "deployment_status" => id("deployment", peek.deployment),
        "push" | "create" | "delete" => peek.git_ref.map(|r| format!("ref:{r}")),
        _ => None,
    }
}

//! GitLab's CI statuses: their order (the sequence that orders two observations made at the
//! same time) and their GitHub spelling (so a host maps one vocabulary).

/// The place of a status in GitLab's status transitions: `created` → … → `pending` →
/// `running` → a final status. Observations at one time order by it; `None` for a status
/// GitLab added after this was written.
pub(crate) fn sequence(status: &str) -> Option<u64> {
    Some(match status {
        "created" => 1,
        "waiting_for_resource" => 2,
        "preparing" => 3,
        "scheduled" | "manual" | "blocked" => 4,
        "pending" => 5,
        "running" | "waiting_for_callback" => 6,
        "canceling" => 7,
        "success" | "failed" | "canceled" | "skipped" => 8,
        _ => return None,
    })
}

/// A GitLab pipeline or job status as GitHub's `status` and `conclusion`:
///
/// | GitLab | `status` | `conclusion` |
/// | --- | --- | --- |
/// | `created`, `waiting_for_resource`, `preparing`, `pending` | `queued` | `null` |
/// | `scheduled`, `manual`, `waiting_for_callback` | `waiting` | `null` |
/// | `running`, `canceling` | `in_progress` | `null` |
/// | `success` | `completed` | `success` |
/// | `failed` | `completed` | `failure` |
/// | `canceled` | `completed` | `cancelled` |
/// | `skipped` | `completed` | `skipped` |
///
/// Any other status is kept as `status`, with no conclusion.
pub(crate) fn github_spelling(status: &str) -> (String, Option<String>) {
    let (status, conclusion) = match status {
        "created" | "waiting_for_resource" | "preparing" | "pending" => ("queued", None),
        "scheduled" | "manual" | "waiting_for_callback" => ("waiting", None),
        "running" | "canceling" => ("in_progress", None),
        "success" => ("completed", Some("success")),
        "failed" => ("completed", Some("failure")),
        "canceled" => ("completed", Some("cancelled")),
        "skipped" => ("completed", Some("skipped")),
        other => return (other.to_owned(), None),
    };
    (status.to_owned(), conclusion.map(str::to_owned))
}

/// A commit status state as GitHub spells the same meaning: `failed` → `failure`; GitLab's
/// `pending`, `running`, `success`, `canceled` and `skipped` stay as they are.
pub(crate) fn commit_state(status: &str) -> String {
    match status {
        "failed" => "failure".to_owned(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_only_go_forward() {
        let order = ["created", "pending", "running", "success"];
        let ranks: Vec<_> = order.iter().map(|s| sequence(s)).collect();
        assert!(ranks.windows(2).all(|w| w[0] < w[1]), "{ranks:?}");
        assert_eq!(sequence("failed"), sequence("canceled"));
        assert_eq!(sequence("a_status_from_the_future"), None);
    }

    #[test]
    fn spelled_as_github_does() {
        assert_eq!(github_spelling("running"), ("in_progress".into(), None));
        assert_eq!(
            github_spelling("failed"),
            ("completed".into(), Some("failure".into()))
        );
        assert_eq!(github_spelling("new_status"), ("new_status".into(), None));
        assert_eq!(commit_state("failed"), "failure");
        assert_eq!(commit_state("running"), "running");
    }
}

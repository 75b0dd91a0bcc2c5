//! The idempotency marker: how a create is found again when its outcome is unknown
//! (invariant 4). GitHub has no idempotency keys, so the intent's key is embedded in the
//! created object as an HTML comment, which Markdown renders as nothing.

const OPEN: &str = "<!-- kradle-sync:";
const CLOSE: &str = " -->";

/// `body` with the marker of `key` appended.
///
/// ```
/// use kradle_sync_core::marker;
/// let body = marker::embed("Fix the README", "kradle:1234");
/// assert_eq!(marker::find(&body), Some("kradle:1234"));
/// assert_eq!(marker::strip(&body), "Fix the README");
/// ```
pub fn embed(body: &str, key: &str) -> String {
    if body.is_empty() {
        format!("{OPEN}{key}{CLOSE}")
    } else {
        format!("{body}\n\n{OPEN}{key}{CLOSE}")
    }
}

/// The key of the marker in `body`, if any.
pub fn find(body: &str) -> Option<&str> {
    let start = body.rfind(OPEN)? + OPEN.len();
    let rest = body.get(start..)?;
    let end = rest.find(CLOSE)?;
    rest.get(..end)
}

/// `body` without its marker (and the blank line before it), as the host wrote it.
pub fn strip(body: &str) -> String {
    match body.rfind(OPEN) {
        Some(start)
            if body
                .get(start..)
                .is_some_and(|rest| rest.trim_end().ends_with(CLOSE.trim_start())) =>
        {
            body.get(..start)
                .unwrap_or_default()
                .trim_end_matches(['\n', '\r'])
                .to_owned()
        }
        _ => body.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_leaves_plain_bodies_alone() {
        for body in ["", "one line", "two\n\nparagraphs", "ends with newline\n"] {
            let marked = embed(body, "kradle:abc");
            assert_eq!(find(&marked), Some("kradle:abc"));
            assert_eq!(strip(&marked), body.trim_end_matches('\n'));
            assert_eq!(find(body), None);
            assert_eq!(strip(body), body);
        }
        assert_eq!(
            strip("text <!-- kradle-sync:x --> more"),
            "text <!-- kradle-sync:x --> more"
        );
    }
}

//! Snapshots of the Markdown and the losses of every rich-text field in every Jira fixture:
//! ADF documents (Jira Cloud REST v3) and wiki-markup strings (Jira Server REST v2 and
//! webhook bodies). Review a changed snapshot by eye before accepting it.
//!
//! A rich-text field is an issue's `fields.description`, a comment's `body`, a worklog's
//! `comment`, or the `fromString`/`toString` of a changelog item for `description`; empty
//! strings are left out.

// A test states its expectation by failing loudly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use kradle_provider_jira::markup::{self, Loss, Original};
use serde::Serialize;
use serde_json::Value;

/// One rich-text field of a fixture, converted.
#[derive(Debug, Serialize)]
struct Field {
    /// JSON pointer of the field in the fixture.
    pointer: String,
    /// `adf` or `wiki`.
    format: &'static str,
    /// The field as found.
    source: Value,
    /// What the host sees.
    markdown: String,
    /// What the Markdown could not hold.
    losses: Vec<Loss>,
}

fn is_doc(value: &Value) -> bool {
    value.get("type").and_then(Value::as_str) == Some("doc")
}

/// Whether `value` at `key`, in an object reached by `path`, is a rich-text field.
fn rich_text(path: &[String], key: &str, parent: &Value, value: &Value) -> bool {
    let is_text = is_doc(value) || value.as_str().is_some_and(|s| !s.is_empty());
    if !is_text {
        return false;
    }
    let parent_key = path.last().map(String::as_str);
    let in_worklog = path.iter().any(|p| p == "worklog" || p == "worklogs");
    match key {
        "description" => parent_key == Some("fields"),
        // Every `body` in these fixtures is a comment's (a REST comment resource is the root).
        "body" => true,
        // A worklog's comment (a REST worklog resource is the root); a webhook's top-level
        // `comment` is an object, not rich text.
        "comment" => in_worklog || path.is_empty(),
        "fromString" | "toString" => {
            parent.get("field").and_then(Value::as_str) == Some("description")
        }
        _ => false,
    }
}

fn collect(value: &Value, path: &mut Vec<String>, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if rich_text(path, key, value, child) {
                    let mut pointer: String = path.iter().map(|p| format!("/{p}")).collect();
                    pointer.push('/');
                    pointer.push_str(key);
                    out.push((pointer, child.clone()));
                    continue;
                }
                path.push(key.clone());
                collect(child, path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                path.push(i.to_string());
                collect(child, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

#[test]
fn fixtures() {
    insta::glob!("../../../fixtures/jira", "**/*.json", |path| {
        let body: Value = serde_json::from_slice(&std::fs::read(path).expect("fixture readable"))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut found = Vec::new();
        collect(&body, &mut Vec::new(), &mut found);
        if found.is_empty() {
            // A fixture without rich text (an error body, a transition list) has nothing
            // to convert; the provider's own snapshots cover it.
            return;
        }
        let fields: Vec<Field> = found
            .into_iter()
            .map(|(pointer, source)| {
                let original = Original::from_field(&source).expect("ADF object or wiki string");
                let converted = original.to_markdown().expect("converts");
                check_round_trip(
                    &pointer,
                    original,
                    &converted.output,
                    converted.losses.is_empty(),
                );
                Field {
                    pointer,
                    format: if source.is_string() { "wiki" } else { "adf" },
                    markdown: converted.output,
                    losses: converted.losses,
                    source,
                }
            })
            .collect();
        insta::assert_json_snapshot!(fields);
    });
}

/// The host's unchanged Markdown plans no write, and converting it back and rendering
/// again gives the same Markdown.
fn check_round_trip(pointer: &str, original: Original<'_>, md: &str, lossless: bool) {
    assert_eq!(
        markup::plan_write(original, md).expect("plans"),
        markup::WritePlan::Unchanged,
        "{pointer}"
    );
    let again = match original {
        Original::Adf(_) => {
            let adf = markup::markdown_to_adf(md);
            assert!(adf.losses.is_empty(), "{pointer}: {:?}", adf.losses);
            if lossless {
                let Original::Adf(doc) = original else {
                    unreachable!()
                };
                assert_eq!(adf.output, markup::normalize_adf(doc).unwrap(), "{pointer}");
            }
            markup::adf_to_markdown(&adf.output).unwrap().output
        }
        Original::Wiki(_) => {
            let wiki = markup::markdown_to_wiki(md);
            assert!(wiki.losses.is_empty(), "{pointer}: {:?}", wiki.losses);
            markup::wiki_to_markdown(&wiki.output).output
        }
    };
    assert_eq!(again, md, "{pointer}");
}

//! Rich-text fields (an issue's description, a comment's body) as the host sees them: the
//! Markdown, and the original kept beside it (`body_adf` for Jira Cloud's ADF documents,
//! `body_wiki` for wiki markup).

use kradle_sync_core::Fields;
use serde_json::Value;

use crate::markup::{self, Original};

/// The field that keeps an ADF original.
pub(crate) const BODY_ADF: &str = "body_adf";
/// The field that keeps a wiki-markup original.
pub(crate) const BODY_WIKI: &str = "body_wiki";

/// Sets `body`, `body_adf` and `body_wiki` from a rich-text value as Jira sent it: an ADF
/// object, a wiki string, or `null` (no text). Every observation that carries the body sets
/// all three, so the kept original is always the one the Markdown came from. A value of any
/// other JSON type leaves all three out (never guessed).
pub(crate) fn insert(fields: &mut Fields, value: &Value) {
    match value {
        Value::Null => {
            fields.insert("body".into(), Value::Null);
            fields.insert(BODY_ADF.into(), Value::Null);
            fields.insert(BODY_WIKI.into(), Value::Null);
        }
        other => {
            let Ok(original) = Original::from_field(other) else {
                return;
            };
            let Ok(shown) = original.to_markdown() else {
                return;
            };
            let markdown = shown.output;
            fields.insert("body".into(), Value::String(markdown));
            match original {
                Original::Adf(doc) => {
                    fields.insert(BODY_ADF.into(), doc.clone());
                    fields.insert(BODY_WIKI.into(), Value::Null);
                }
                Original::Wiki(text) => {
                    fields.insert(BODY_ADF.into(), Value::Null);
                    fields.insert(BODY_WIKI.into(), Value::String(text.to_owned()));
                }
            }
        }
    }
}

/// The losses of a conversion, in words (for conflict messages).
pub(crate) fn describe_losses(losses: &[markup::Loss]) -> String {
    losses
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

//! What to send to Jira when the host edits a rich-text field.

use serde_json::Value;

use super::{Converted, Loss, MarkupError, adf, markdown, wiki};

/// The conflict reason a caller raises for a [`WritePlan::Lossy`] outcome.
pub const LOSSY_FORMAT: &str = "lossy_format";

/// The stored original of a rich-text field, in Jira's own format.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Original<'a> {
    /// An ADF document (Jira Cloud).
    Adf(&'a Value),
    /// Wiki markup (Jira Server and Data Center).
    Wiki(&'a str),
}

impl<'a> Original<'a> {
    /// The original held in a JSON field as Jira sends it: a JSON object is ADF, a string is
    /// wiki markup.
    ///
    /// # Errors
    ///
    /// [`MarkupError::NotAdf`] for any other JSON value (`null` is an absent body: the caller
    /// has nothing to convert).
    pub fn from_field(value: &'a Value) -> Result<Self, MarkupError> {
        match value {
            Value::Object(_) => Ok(Original::Adf(value)),
            Value::String(wiki) => Ok(Original::Wiki(wiki)),
            other => Err(MarkupError::NotAdf {
                found: super::json_type(other),
            }),
        }
    }

    /// The Markdown the host sees for this original, with what it could not hold.
    ///
    /// # Errors
    ///
    /// [`MarkupError::NotAdf`] when an ADF original is not a JSON object.
    pub fn to_markdown(&self) -> Result<Converted<String>, MarkupError> {
        match self {
            Original::Adf(doc) => super::adf_to_markdown(doc),
            Original::Wiki(text) => Ok(super::wiki_to_markdown(text)),
        }
    }

    fn to_document(self) -> Document {
        match self {
            Original::Adf(doc) => Document::Adf(doc.clone()),
            Original::Wiki(text) => Document::Wiki(text.to_string()),
        }
    }
}

/// A rich-text document in one of Jira's formats.
#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    /// An ADF document, for Jira Cloud.
    Adf(Value),
    /// Wiki markup, for Jira Server and Data Center.
    Wiki(String),
}

/// What to do with a host edit of a rich-text field.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum WritePlan {
    /// Send `document` (in the original's format): the original held nothing Markdown could
    /// not, so the edit loses nothing Jira had.
    Write {
        /// The document to send.
        document: Document,
        /// What of the host's Markdown Jira cannot hold (an image, raw HTML…), converted as
        /// each loss says. Usually empty; worth a warning to the host, not a conflict.
        markdown_losses: Vec<Loss>,
    },
    /// The host's Markdown is the document rendered from the original: nothing to write.
    Unchanged,
    /// Writing the host's Markdown would drop what the original holds and Markdown cannot:
    /// raise a conflict with reason [`LOSSY_FORMAT`] instead of writing.
    Lossy {
        /// The original, as stored.
        original: Document,
        /// What the host's Markdown converts to, were it written anyway.
        proposed: Document,
        /// What of the original that write would drop or change.
        dropped: Vec<Loss>,
    },
}

/// Decides what to send for a host edit: `markdown` is the host's new text, `original` the
/// stored field.
///
/// - When the host's Markdown reads as the same document (same blocks, text and marks) as the
///   Markdown rendered from the original, there is nothing to write: [`WritePlan::Unchanged`].
///   This also holds for an original with losses, which stays untouched.
/// - Otherwise, when the original had no losses, Markdown held all of it and the converted
///   Markdown is written: [`WritePlan::Write`].
/// - Otherwise the write would drop what Markdown could not hold: [`WritePlan::Lossy`].
///
/// # Errors
///
/// [`MarkupError::NotAdf`] when an ADF original is not a JSON object.
pub fn plan_write(original: Original<'_>, markdown: &str) -> Result<WritePlan, MarkupError> {
    let shown = original.to_markdown()?;
    let parsed = markdown::parse(markdown);
    if parsed.blocks == markdown::parse(&shown.output).blocks {
        return Ok(WritePlan::Unchanged);
    }
    let (proposed, mut markdown_losses) = match original {
        Original::Adf(_) => {
            let (doc, losses) = adf::write(&parsed.blocks, Some(&parsed.lines));
            (Document::Adf(doc), losses)
        }
        Original::Wiki(_) => {
            let (text, losses) = wiki::render(&parsed.blocks, Some(&parsed.lines));
            (Document::Wiki(text), losses)
        }
    };
    let mut all = parsed.losses;
    all.append(&mut markdown_losses);
    if shown.losses.is_empty() {
        Ok(WritePlan::Write {
            document: proposed,
            markdown_losses: all,
        })
    } else {
        Ok(WritePlan::Lossy {
            original: original.to_document(),
            proposed,
            dropped: shown.losses,
        })
    }
}

//! Rich text: Jira's two formats to and from the one the host sees.
//!
//! Jira Cloud keeps issue descriptions and comment bodies in the Atlassian Document Format
//! (ADF, JSON); Jira Server and Data Center keep them as wiki markup (a string); webhooks may
//! carry either. The host sees Markdown (CommonMark with GFM tables and strikethrough).
//!
//! | from | to | function |
//! | --- | --- | --- |
//! | ADF | Markdown | [`adf_to_markdown`] |
//! | Markdown | ADF | [`markdown_to_adf`] |
//! | wiki markup | Markdown | [`wiki_to_markdown`] |
//! | Markdown | wiki markup | [`markdown_to_wiki`] |
//!
//! Every conversion returns its output and the list of what the output could not hold
//! ([`Loss`]): an ADF panel, a mention, a colour, a merged table cell… Nothing panics on any
//! input and no text is dropped silently: text inside something the target cannot hold is
//! still written (a panel's paragraphs become a blockquote), and the loss says so.
//!
//! When the host edits a body, [`plan_write`] decides what to send: the converted Markdown
//! when that loses nothing Jira had, nothing when the Markdown is unchanged, or a
//! [`WritePlan::Lossy`] outcome carrying both versions, for a conflict with reason
//! [`LOSSY_FORMAT`].
//!
//! ```
//! use kradle_provider_jira::markup::{self, WritePlan};
//! use serde_json::json;
//!
//! let adf = json!({"type": "doc", "version": 1, "content": [
//!     {"type": "paragraph", "content": [
//!         {"type": "text", "text": "Ship "},
//!         {"type": "text", "text": "v2", "marks": [{"type": "strong"}]},
//!         {"type": "text", "text": " with "},
//!         {"type": "mention", "attrs": {"id": "5b10ac8d82e05b22cc7d4ef5", "text": "@Mia"}}
//!     ]}
//! ]});
//! let shown = markup::adf_to_markdown(&adf)?;
//! assert_eq!(shown.output, "Ship **v2** with @Mia");
//! assert_eq!(shown.losses[0].name, "mention");
//!
//! // The host edits the text: writing it back would turn the mention into plain text.
//! let plan = markup::plan_write(markup::Original::Adf(&adf), "Ship **v3** with @Mia")?;
//! assert!(matches!(plan, WritePlan::Lossy { .. }));
//!
//! // Plain Markdown converts without loss.
//! let back = markup::markdown_to_adf("Ship **v3**, *today*.");
//! assert!(back.is_lossless());
//! assert_eq!(back.output["content"][0]["content"][1]["marks"][0]["type"], "strong");
//! # Ok::<(), markup::MarkupError>(())
//! ```
//!
//! # Normalization
//!
//! A conversion keeps the text and its structure, but brings them to the one form Markdown
//! gives back, which is not a loss: adjacent texts with equal marks merge; line endings inside
//! text become hard breaks; whitespace at the edges of a bold, italic or strikethrough run
//! moves outside the mark; spaces and tabs at the start and end of a line (outside code and
//! link text) are dropped, and so are line breaks at the start or end of a paragraph, empty
//! paragraphs and column-less tables; table rows are padded to equal length; an ADF list item
//! that starts with a list gets an empty first paragraph (ADF requires one); marks are written
//! in one order; `localId` attributes are not kept. [`normalize_adf`] applies exactly this to
//! an ADF document. In wiki markup, `bq.` becomes `{quote}`, a `{code}` without language
//! becomes `{noformat}`, `[url|url]` becomes `[url]`, and line breaks inside list items and
//! table cells are written `\\`.
//!
//! One arrangement Markdown cannot express at all: a paragraph that starts with a link whose
//! text starts with code holding `]:` reads as a link reference definition. Such a paragraph
//! is written without its marks, and a `formatting` loss says so.

mod adf;
mod ir;
mod markdown;
mod plan;
mod wiki;

use serde::Serialize;
use serde_json::Value;

pub use plan::{Document, LOSSY_FORMAT, Original, WritePlan, plan_write};

/// What a conversion could not carry over from its source, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Loss {
    /// What kind of thing was lost.
    pub kind: LossKind,
    /// Its name in the source format: an ADF node or mark type (`panel`, `textColor`), an
    /// attribute as `node.attribute` (`tableCell.colspan`), a wiki construct (`{panel}`,
    /// `[~mention]`, `!attachment!`), or a Markdown construct (`image`, `html`).
    pub name: String,
    /// Where in the source: a JSON pointer into the ADF document (`/content/1/content/0`),
    /// or `line N` of wiki markup or Markdown; `block N` (the N-th block in document order)
    /// for the rare loss found only while writing Markdown.
    pub at: String,
    /// What the conversion did instead, e.g. `its text is kept as plain text`.
    pub effect: String,
}

impl std::fmt::Display for Loss {
    /// `panel at /content/0: a panel (info): its content is written as a blockquote`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at {}: {}", self.name, self.at, self.effect)
    }
}

/// The kind of a [`Loss`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LossKind {
    /// A node, macro or construct the target cannot hold (`panel`, `mention`, `{color}`).
    Node,
    /// A text mark the target cannot hold (`textColor`, `underline`, `+inserted+`).
    Mark,
    /// An attribute the target cannot hold (`tableCell.colspan`, `orderedList.order`).
    Attribute,
    /// An arrangement the target cannot hold (a table without a header row, a heading inside
    /// a list item, several paragraphs in a table cell).
    Structure,
}

impl Loss {
    pub(crate) fn new(
        kind: LossKind,
        name: impl Into<String>,
        at: impl Into<String>,
        effect: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            name: name.into(),
            at: at.into(),
            effect: effect.into(),
        }
    }
}

/// The output of a conversion and what it lost.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Converted<T> {
    /// The converted document.
    pub output: T,
    /// What the output could not hold, in source order. Empty when the conversion is
    /// lossless.
    pub losses: Vec<Loss>,
}

impl<T> Converted<T> {
    pub(crate) fn new(output: T, losses: Vec<Loss>) -> Self {
        Self { output, losses }
    }

    /// Whether the conversion lost nothing.
    pub fn is_lossless(&self) -> bool {
        self.losses.is_empty()
    }
}

/// Why a rich-text value could not be converted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MarkupError {
    /// The value is not an ADF document.
    #[error(
        "expected an ADF document (a JSON object such as {{\"type\": \"doc\", \"version\": 1, \"content\": [...]}}), found {found}; pass a wiki-markup string to wiki_to_markdown (or use Original::from_field), and treat null as an empty body"
    )]
    NotAdf {
        /// The JSON type found instead (`string`, `array`, `null`, …).
        found: &'static str,
    },
}

impl MarkupError {
    /// Whether trying again could succeed: never, the input itself is wrong.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// The JSON type of a value, for error messages.
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Converts an ADF document to Markdown, with what Markdown could not hold.
///
/// Any JSON object is read as a document (one whose `type` is not `doc` is reported as a
/// loss); other JSON values are an error.
///
/// # Errors
///
/// [`MarkupError::NotAdf`] when `doc` is not a JSON object.
pub fn adf_to_markdown(doc: &Value) -> Result<Converted<String>, MarkupError> {
    let (blocks, mut losses) = adf::read(doc)?;
    let (markdown, more) = markdown::render(&blocks, None);
    losses.extend(more);
    Ok(Converted::new(markdown, losses))
}

/// Converts Markdown to an ADF document (`{"type": "doc", "version": 1, "content": [...]}`),
/// with what ADF could not hold (images, raw HTML, a heading inside a list item…).
pub fn markdown_to_adf(markdown: &str) -> Converted<Value> {
    let parsed = markdown::parse(markdown);
    let mut losses = parsed.losses;
    let (doc, more) = adf::write(&parsed.blocks, Some(&parsed.lines));
    losses.extend(more);
    Converted::new(doc, losses)
}

/// Converts Jira wiki markup to Markdown, with what Markdown could not hold.
pub fn wiki_to_markdown(wiki: &str) -> Converted<String> {
    let (blocks, mut losses) = wiki::parse(wiki);
    let (markdown, more) = markdown::render(&blocks, None);
    losses.extend(more);
    Converted::new(markdown, losses)
}

/// Converts Markdown to Jira wiki markup, with what wiki markup could not hold (an ordered
/// list's start number, a code block inside a list item…).
pub fn markdown_to_wiki(markdown: &str) -> Converted<String> {
    let parsed = markdown::parse(markdown);
    let mut losses = parsed.losses;
    let (wiki, more) = wiki::render(&parsed.blocks, Some(&parsed.lines));
    losses.extend(more);
    Converted::new(wiki, losses)
}

/// Brings an ADF document to the normal form the conversions produce (see the module docs,
/// "Normalization"): for a document whose [`adf_to_markdown`] reports no loss,
/// `markdown_to_adf(adf_to_markdown(doc))` equals `normalize_adf(doc)`.
///
/// # Errors
///
/// [`MarkupError::NotAdf`] when `doc` is not a JSON object.
pub fn normalize_adf(doc: &Value) -> Result<Value, MarkupError> {
    let (blocks, _) = adf::read(doc)?;
    Ok(adf::write(&blocks, None).0)
}

//! Atlassian Document Format: reading a document into the model (reporting what the model
//! cannot hold) and writing the model as a document Jira Cloud accepts.
//!
//! Writing follows ADF's schema: headings, rules, tables and blockquotes only at the top
//! level; list items and blockquotes hold paragraphs, lists and code blocks; a list item
//! starts with a paragraph or a code block; the `code` mark combines only with `link`.
//! Reading reports a loss for whatever writing would change beyond normalization, so that a
//! document read without loss is written back the same.

use serde_json::{Map, Value, json};

use super::ir::{
    self, Block, BlockCounter, Inline, Link, MAX_DEPTH, Marks, blocks_to_inlines, normalize_blocks,
};
use super::markdown::MAX_LIST_NUMBER;
use super::{Loss, LossKind, MarkupError, json_type};

/// Where a block is placed, which decides what ADF allows there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// The top level of the document.
    Top,
    /// Inside a blockquote.
    Quote,
    /// Inside a list item.
    Item,
    /// Inside something already reported as a loss: nothing more to report.
    Lossy,
}

impl Place {
    fn allows(self, block: &Block) -> bool {
        match self {
            Place::Top | Place::Lossy => true,
            Place::Quote | Place::Item => matches!(
                block,
                Block::Paragraph(_) | Block::List { .. } | Block::Code { .. }
            ),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Place::Top | Place::Lossy => "the document",
            Place::Quote => "a blockquote",
            Place::Item => "a list item",
        }
    }
}

/// Node types that are inline content.
const INLINE_TYPES: &[&str] = &[
    "text",
    "hardBreak",
    "mention",
    "emoji",
    "date",
    "status",
    "inlineCard",
    "mediaInline",
    "placeholder",
    "inlineExtension",
];

fn node_type(node: &Value) -> Option<&str> {
    node.get("type").and_then(Value::as_str)
}

fn is_inline(node: &Value) -> bool {
    match node_type(node) {
        Some(t) => INLINE_TYPES.contains(&t),
        None => node.get("text").is_some_and(Value::is_string),
    }
}

fn children(node: &Value) -> &[Value] {
    node.get("content")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn attr<'a>(node: &'a Value, name: &str) -> Option<&'a Value> {
    node.get("attrs")
        .and_then(|a| a.get(name))
        .filter(|v| !v.is_null())
}

fn attr_str<'a>(node: &'a Value, name: &str) -> Option<&'a str> {
    attr(node, name).and_then(Value::as_str)
}

/// Attributes never reported: identifiers the editor adds, which carry no content.
const IGNORED_ATTRS: &[&str] = &["localId", "uniqueId"];

// ---------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------

/// Reads an ADF document into the model.
pub(crate) fn read(doc: &Value) -> Result<(Vec<Block>, Vec<Loss>), MarkupError> {
    if !doc.is_object() {
        return Err(MarkupError::NotAdf {
            found: json_type(doc),
        });
    }
    let mut reader = Reader {
        losses: Vec::new(),
        depth: 0,
    };
    let mut blocks = Vec::new();
    if node_type(doc) == Some("doc") {
        reader.blocks(children(doc), "/content", Place::Top, &mut blocks);
    } else {
        reader.loss(
            LossKind::Structure,
            node_type(doc).unwrap_or("(no type)"),
            "",
            "the root is not a `doc` node: read as the document's only block",
        );
        reader.block(doc, "", Place::Lossy, &mut blocks);
    }
    Ok((normalize_blocks(blocks), reader.losses))
}

struct Reader {
    losses: Vec<Loss>,
    depth: usize,
}

impl Reader {
    fn loss(&mut self, kind: LossKind, name: &str, at: &str, effect: &str) {
        self.losses.push(Loss::new(kind, name, at, effect));
    }

    /// Reports the attributes of `node` other than `known` (and identifiers) whose value is
    /// not the default.
    fn check_attrs(
        &mut self,
        node: &Value,
        path: &str,
        ty: &str,
        known: &[&str],
        defaults: &[(&str, Value)],
    ) {
        let Some(attrs) = node.get("attrs").and_then(Value::as_object) else {
            return;
        };
        for (name, value) in attrs {
            if value.is_null()
                || known.contains(&name.as_str())
                || IGNORED_ATTRS.contains(&name.as_str())
                || defaults.iter().any(|(d, v)| d == name && v == value)
                || (name == "colwidth" && value.as_array().is_some_and(Vec::is_empty))
            {
                continue;
            }
            self.loss(
                LossKind::Attribute,
                &format!("{ty}.{name}"),
                path,
                "dropped: Markdown has no such attribute",
            );
        }
    }

    /// Reports the marks of a block node (alignment, indentation, breakout).
    fn check_block_marks(&mut self, node: &Value, path: &str) {
        let Some(marks) = node.get("marks").and_then(Value::as_array) else {
            return;
        };
        for (k, mark) in marks.iter().enumerate() {
            let name = node_type(mark).unwrap_or("(no type)");
            self.loss(
                LossKind::Mark,
                name,
                &format!("{path}/marks/{k}"),
                "dropped: Markdown has no such block formatting",
            );
        }
    }

    /// Reads a sequence of block nodes; inline nodes among them are gathered into
    /// paragraphs.
    fn blocks(&mut self, nodes: &[Value], base: &str, place: Place, out: &mut Vec<Block>) {
        let mut pending: Vec<Inline> = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            let path = format!("{base}/{i}");
            if is_inline(node) {
                if pending.is_empty() && place != Place::Lossy {
                    self.loss(
                        LossKind::Structure,
                        node_type(node).unwrap_or("text"),
                        &path,
                        "inline content outside a paragraph: wrapped in one",
                    );
                }
                self.inline(node, &path, &mut pending);
                continue;
            }
            if !pending.is_empty() {
                out.push(Block::Paragraph(std::mem::take(&mut pending)));
            }
            self.block(node, &path, place, out);
        }
        if !pending.is_empty() {
            out.push(Block::Paragraph(pending));
        }
    }

    /// Checks that a block read from ADF is where writing would put it.
    fn place_check(&mut self, block: &Block, place: Place, ty: &str, path: &str) {
        if !place.allows(block) {
            self.loss(
                LossKind::Structure,
                ty,
                path,
                &format!(
                    "ADF holds no {ty} inside {}: written back {}",
                    place.name(),
                    match block {
                        Block::Heading { .. } => "as a paragraph",
                        Block::Rule => "without it",
                        _ => "flattened",
                    }
                ),
            );
        }
    }

    fn block(&mut self, node: &Value, path: &str, place: Place, out: &mut Vec<Block>) {
        if self.depth >= MAX_DEPTH {
            self.loss(
                LossKind::Structure,
                "nesting",
                path,
                "nested too deep: its text is kept as one paragraph",
            );
            out.push(Block::Paragraph(flat_text(node)));
            return;
        }
        self.depth += 1;
        self.block_inner(node, path, place, out);
        self.depth -= 1;
    }

    #[allow(clippy::too_many_lines)]
    fn block_inner(&mut self, node: &Value, path: &str, place: Place, out: &mut Vec<Block>) {
        let Some(ty) = node_type(node) else {
            self.loss(
                LossKind::Node,
                "(no type)",
                path,
                "a node without a type: its text is kept",
            );
            self.unknown(node, path, out);
            return;
        };
        let content_path = format!("{path}/content");
        match ty {
            "paragraph" => {
                self.check_attrs(node, path, ty, &[], &[]);
                self.check_block_marks(node, path);
                let mut content = Vec::new();
                self.inlines(children(node), &content_path, &mut content);
                out.push(Block::Paragraph(content));
            }
            "heading" => {
                self.check_attrs(node, path, ty, &["level"], &[]);
                self.check_block_marks(node, path);
                let level = attr(node, "level").and_then(Value::as_u64);
                let level = match level {
                    Some(l @ 1..=6) => u8::try_from(l).unwrap_or(6),
                    _ => {
                        self.loss(
                            LossKind::Attribute,
                            "heading.level",
                            path,
                            "not a level from 1 to 6: written as the nearest one",
                        );
                        level.map_or(1, |l| if l == 0 { 1 } else { 6 })
                    }
                };
                let mut content = Vec::new();
                self.inlines(children(node), &content_path, &mut content);
                if content.contains(&Inline::Break) {
                    self.loss(
                        LossKind::Structure,
                        "hardBreak",
                        path,
                        "a line break inside a heading: written as a space",
                    );
                }
                let block = Block::Heading { level, content };
                self.place_check(&block, place, ty, path);
                out.push(block);
            }
            "bulletList" | "orderedList" => {
                self.check_attrs(node, path, ty, &["order"], &[]);
                let start = if ty == "orderedList" {
                    Some(self.order(node, path))
                } else {
                    None
                };
                let mut items = Vec::new();
                for (i, child) in children(node).iter().enumerate() {
                    let item_path = format!("{content_path}/{i}");
                    let mut item = Vec::new();
                    if node_type(child) == Some("listItem") {
                        self.check_attrs(child, &item_path, "listItem", &[], &[]);
                        let item_place = if place == Place::Lossy {
                            Place::Lossy
                        } else {
                            Place::Item
                        };
                        self.blocks(
                            children(child),
                            &format!("{item_path}/content"),
                            item_place,
                            &mut item,
                        );
                    } else {
                        self.loss(
                            LossKind::Structure,
                            node_type(child).unwrap_or("(no type)"),
                            &item_path,
                            "not a listItem inside a list: read as one",
                        );
                        self.blocks(
                            std::slice::from_ref(child),
                            &content_path,
                            Place::Lossy,
                            &mut item,
                        );
                    }
                    items.push(item);
                }
                out.push(Block::List { start, items });
            }
            "codeBlock" => {
                self.check_attrs(node, path, ty, &["language"], &[]);
                self.check_block_marks(node, path);
                let language = attr_str(node, "language").map(str::to_string);
                let mut text = String::new();
                let mut reported = false;
                for (i, child) in children(node).iter().enumerate() {
                    let child_path = format!("{content_path}/{i}");
                    match node_type(child) {
                        Some("text") => {
                            if child
                                .get("marks")
                                .and_then(Value::as_array)
                                .is_some_and(|m| !m.is_empty())
                                && !reported
                            {
                                reported = true;
                                self.loss(
                                    LossKind::Mark,
                                    "codeBlock text marks",
                                    &child_path,
                                    "marks inside a code block are dropped, the text kept",
                                );
                            }
                            text.push_str(child.get("text").and_then(Value::as_str).unwrap_or(""));
                        }
                        Some("hardBreak") => text.push('\n'),
                        other => {
                            self.loss(
                                LossKind::Node,
                                other.unwrap_or("(no type)"),
                                &child_path,
                                "inside a code block: its text is kept",
                            );
                            for inline in flat_text(child) {
                                match inline {
                                    Inline::Text { text: t, .. } => text.push_str(&t),
                                    Inline::Break => text.push('\n'),
                                }
                            }
                        }
                    }
                }
                out.push(Block::Code { language, text });
            }
            "blockquote" => {
                self.check_attrs(node, path, ty, &[], &[]);
                let inner_place = if place == Place::Lossy {
                    Place::Lossy
                } else {
                    Place::Quote
                };
                let mut inner = Vec::new();
                self.blocks(children(node), &content_path, inner_place, &mut inner);
                let block = Block::Quote(inner);
                self.place_check(&block, place, ty, path);
                out.push(block);
            }
            "rule" => {
                self.check_attrs(node, path, ty, &[], &[]);
                let block = Block::Rule;
                self.place_check(&block, place, ty, path);
                out.push(block);
            }
            "table" => {
                let block = self.table(node, path);
                if let Some(block) = block {
                    self.place_check(&block, place, ty, path);
                    out.push(block);
                }
            }
            "panel" => {
                let kind = attr_str(node, "panelType").unwrap_or("info");
                self.loss(
                    LossKind::Node,
                    ty,
                    path,
                    &format!("a panel ({kind}): its content is written as a blockquote"),
                );
                let mut inner = Vec::new();
                self.blocks(children(node), &content_path, Place::Lossy, &mut inner);
                out.push(Block::Quote(inner));
            }
            "expand" | "nestedExpand" => {
                self.loss(
                    LossKind::Node,
                    ty,
                    path,
                    "an expand: its title is written as a bold paragraph, its content after it",
                );
                if let Some(title) = attr_str(node, "title").filter(|t| !t.trim().is_empty()) {
                    out.push(Block::Paragraph(vec![Inline::marked(
                        title,
                        Marks {
                            strong: true,
                            ..Marks::default()
                        },
                    )]));
                }
                self.blocks(children(node), &content_path, Place::Lossy, out);
            }
            "layoutSection" | "layoutColumn" => {
                if ty == "layoutSection" {
                    self.loss(
                        LossKind::Node,
                        ty,
                        path,
                        "a layout of columns: the columns are written one after the other",
                    );
                }
                for (i, column) in children(node).iter().enumerate() {
                    let column_path = format!("{content_path}/{i}");
                    if node_type(column) == Some("layoutColumn") {
                        self.blocks(
                            children(column),
                            &format!("{column_path}/content"),
                            Place::Lossy,
                            out,
                        );
                    } else {
                        self.block(column, &column_path, Place::Lossy, out);
                    }
                }
            }
            "mediaSingle" | "mediaGroup" | "media" => {
                self.media(node, path, out);
            }
            "blockCard" | "embedCard" => {
                self.loss(
                    LossKind::Node,
                    ty,
                    path,
                    "a link card: written as a plain link",
                );
                if let Some(url) = card_url(node) {
                    out.push(Block::Paragraph(vec![link_text(url)]));
                }
            }
            "taskList" => {
                self.loss(
                    LossKind::Node,
                    ty,
                    path,
                    "a task list: written as a bullet list, each task's state as [ ] or [x]",
                );
                out.push(self.task_list(node, path));
            }
            "decisionList" => {
                self.loss(
                    LossKind::Node,
                    ty,
                    path,
                    "a decision list: written as a bullet list",
                );
                let mut items = Vec::new();
                for (i, child) in children(node).iter().enumerate() {
                    let mut content = Vec::new();
                    self.inlines(
                        children(child),
                        &format!("{content_path}/{i}/content"),
                        &mut content,
                    );
                    items.push(vec![Block::Paragraph(content)]);
                }
                out.push(Block::List { start: None, items });
            }
            "bodiedExtension" | "multiBodiedExtension" | "extensionFrame" => {
                if ty != "extensionFrame" {
                    let key = attr_str(node, "extensionKey").unwrap_or("?");
                    self.loss(
                        LossKind::Node,
                        ty,
                        path,
                        &format!("the macro `{key}`: its content is kept, the macro dropped"),
                    );
                }
                self.blocks(children(node), &content_path, Place::Lossy, out);
            }
            "extension" => {
                let key = attr_str(node, "extensionKey").unwrap_or("?");
                self.loss(
                    LossKind::Node,
                    ty,
                    path,
                    &format!("the macro `{key}`: dropped, it holds no text"),
                );
            }
            "doc" | "listItem" | "tableRow" | "tableCell" | "tableHeader" | "taskItem"
            | "decisionItem" | "caption" => {
                self.loss(
                    LossKind::Structure,
                    ty,
                    path,
                    &format!("a {ty} out of its place: its content is kept"),
                );
                if children(node).iter().all(is_inline) {
                    let mut content = Vec::new();
                    self.inlines(children(node), &content_path, &mut content);
                    out.push(Block::Paragraph(content));
                } else {
                    self.blocks(children(node), &content_path, Place::Lossy, out);
                }
            }
            _ if is_inline(node) => {
                self.loss(
                    LossKind::Structure,
                    ty,
                    path,
                    "inline content outside a paragraph: wrapped in one",
                );
                let mut content = Vec::new();
                self.inline(node, path, &mut content);
                out.push(Block::Paragraph(content));
            }
            _ => {
                self.loss(
                    LossKind::Node,
                    ty,
                    path,
                    "a node type this converter does not know: its text is kept",
                );
                self.unknown(node, path, out);
            }
        }
    }

    /// An unknown block: its text, as blocks when it holds blocks.
    fn unknown(&mut self, node: &Value, path: &str, out: &mut Vec<Block>) {
        let kids = children(node);
        if let Some(text) = node.get("text").and_then(Value::as_str) {
            out.push(Block::Paragraph(vec![Inline::plain(text)]));
        } else if kids.iter().all(is_inline) {
            let mut content = Vec::new();
            self.inlines(kids, &format!("{path}/content"), &mut content);
            out.push(Block::Paragraph(content));
        } else {
            self.blocks(kids, &format!("{path}/content"), Place::Lossy, out);
        }
    }

    fn order(&mut self, node: &Value, path: &str) -> u64 {
        match attr(node, "order") {
            None => 1,
            Some(value) => match value.as_u64() {
                Some(n) if n <= MAX_LIST_NUMBER => n,
                _ => {
                    self.loss(
                        LossKind::Attribute,
                        "orderedList.order",
                        path,
                        "not a number Markdown can start a list with (0 to 999999999): written as the nearest one",
                    );
                    value
                        .as_f64()
                        .map_or(1, |f| if f < 0.0 { 0 } else { MAX_LIST_NUMBER })
                }
            },
        }
    }

    fn table(&mut self, node: &Value, path: &str) -> Option<Block> {
        self.check_attrs(
            node,
            path,
            "table",
            &[],
            &[
                ("isNumberColumnEnabled", Value::Bool(false)),
                ("layout", Value::from("default")),
                ("layout", Value::from("center")),
                ("displayMode", Value::from("default")),
            ],
        );
        let mut grid: Vec<Vec<Vec<Inline>>> = Vec::new();
        for (r, row) in children(node).iter().enumerate() {
            let row_path = format!("{path}/content/{r}");
            if node_type(row) != Some("tableRow") {
                self.loss(
                    LossKind::Structure,
                    node_type(row).unwrap_or("(no type)"),
                    &row_path,
                    "not a tableRow inside a table: its text is kept as a one-cell row",
                );
                grid.push(vec![flat_text(row)]);
                continue;
            }
            let mut cells = Vec::new();
            for (c, cell) in children(row).iter().enumerate() {
                let cell_path = format!("{row_path}/content/{c}");
                let ty = node_type(cell).unwrap_or("(no type)");
                if !matches!(ty, "tableHeader" | "tableCell") {
                    self.loss(
                        LossKind::Structure,
                        ty,
                        &cell_path,
                        "not a table cell inside a row: its text is kept as a cell",
                    );
                    cells.push(flat_text(cell));
                    continue;
                }
                let header = ty == "tableHeader";
                if r == 0 && !header {
                    self.loss(
                        LossKind::Structure,
                        ty,
                        &cell_path,
                        "a first-row cell that is not a header: Markdown tables always start with a header row",
                    );
                }
                if r > 0 && header {
                    self.loss(
                        LossKind::Structure,
                        ty,
                        &cell_path,
                        "a header cell below the first row: written as an ordinary cell",
                    );
                }
                self.check_attrs(
                    cell,
                    &cell_path,
                    ty,
                    &[],
                    &[("colspan", Value::from(1)), ("rowspan", Value::from(1))],
                );
                let mut blocks = Vec::new();
                self.blocks(
                    children(cell),
                    &format!("{cell_path}/content"),
                    Place::Lossy,
                    &mut blocks,
                );
                let blocks = normalize_blocks(blocks);
                let content = match blocks.as_slice() {
                    [] => Vec::new(),
                    [Block::Paragraph(content)] => content.clone(),
                    _ => {
                        self.loss(
                            LossKind::Structure,
                            ty,
                            &cell_path,
                            "a cell holding more than one paragraph: Markdown cells hold one line, its blocks are joined with line breaks",
                        );
                        blocks_to_inlines(&blocks)
                    }
                };
                cells.push(content);
            }
            grid.push(cells);
        }
        let width = grid.iter().map(Vec::len).max().unwrap_or(0);
        if width == 0 {
            return None;
        }
        if grid.iter().any(|row| row.len() != width) {
            self.loss(
                LossKind::Structure,
                "tableRow",
                path,
                "rows of unequal length: padded with empty cells",
            );
        }
        let mut rows = grid.into_iter();
        let header = rows.next().unwrap_or_default();
        Some(Block::Table {
            header,
            rows: rows.collect(),
        })
    }

    fn media(&mut self, node: &Value, path: &str, out: &mut Vec<Block>) {
        let ty = node_type(node).unwrap_or("media");
        let describe = |n: &Value| -> String {
            attr_str(n, "alt")
                .or_else(|| attr_str(n, "id"))
                .or_else(|| attr_str(n, "url"))
                .unwrap_or("")
                .to_string()
        };
        if ty == "media" {
            let what = describe(node);
            self.loss(
                LossKind::Node,
                ty,
                path,
                &format!("an attachment or image ({what}): dropped, Markdown cannot embed it"),
            );
            return;
        }
        let what: Vec<String> = children(node)
            .iter()
            .filter(|c| node_type(c) == Some("media"))
            .map(describe)
            .collect();
        self.loss(
            LossKind::Node,
            ty,
            path,
            &format!(
                "attachments or images ({}): dropped, Markdown cannot embed them; a caption is kept",
                what.join(", ")
            ),
        );
        for (i, child) in children(node).iter().enumerate() {
            if node_type(child) == Some("caption") {
                let mut content = Vec::new();
                self.inlines(
                    children(child),
                    &format!("{path}/content/{i}/content"),
                    &mut content,
                );
                out.push(Block::Paragraph(content));
            }
        }
    }

    fn task_list(&mut self, node: &Value, path: &str) -> Block {
        let mut items: Vec<Vec<Block>> = Vec::new();
        for (i, child) in children(node).iter().enumerate() {
            let child_path = format!("{path}/content/{i}");
            match node_type(child) {
                Some("taskList") => {
                    let nested = self.task_list(child, &child_path);
                    match items.last_mut() {
                        Some(last) => last.push(nested),
                        None => items.push(vec![nested]),
                    }
                }
                _ => {
                    let done = attr_str(child, "state") == Some("DONE");
                    let mut content = vec![Inline::plain(if done { "[x] " } else { "[ ] " })];
                    self.inlines(
                        children(child),
                        &format!("{child_path}/content"),
                        &mut content,
                    );
                    items.push(vec![Block::Paragraph(content)]);
                }
            }
        }
        Block::List { start: None, items }
    }

    fn inlines(&mut self, nodes: &[Value], base: &str, out: &mut Vec<Inline>) {
        for (i, node) in nodes.iter().enumerate() {
            self.inline(node, &format!("{base}/{i}"), out);
        }
    }

    #[allow(clippy::too_many_lines)]
    fn inline(&mut self, node: &Value, path: &str, out: &mut Vec<Inline>) {
        let ty = node_type(node).unwrap_or("(no type)");
        match ty {
            "text" => {
                let text = node.get("text").and_then(Value::as_str).unwrap_or("");
                let marks = self.marks(node, path);
                if !text.is_empty() {
                    out.push(Inline::marked(text, marks));
                }
            }
            "hardBreak" => out.push(Inline::Break),
            "mention" => {
                let text = attr_str(node, "text")
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .or_else(|| attr_str(node, "id").map(|id| format!("@{id}")))
                    .unwrap_or_else(|| "@".to_string());
                self.loss(
                    LossKind::Node,
                    ty,
                    path,
                    &format!("a mention of {text}: written as plain text"),
                );
                out.push(Inline::plain(text));
            }
            "emoji" => {
                let text = attr_str(node, "text")
                    .filter(|t| !t.is_empty())
                    .or_else(|| attr_str(node, "shortName"))
                    .unwrap_or("");
                self.loss(
                    LossKind::Node,
                    ty,
                    path,
                    &format!("the emoji {text}: written as text"),
                );
                out.push(Inline::plain(text));
            }
            "date" => {
                let date = attr(node, "timestamp").map(iso_date).unwrap_or_default();
                self.loss(
                    LossKind::Node,
                    ty,
                    path,
                    &format!("the date {date}: written as text"),
                );
                out.push(Inline::plain(date));
            }
            "status" => {
                let text = attr_str(node, "text").unwrap_or("");
                self.loss(
                    LossKind::Node,
                    ty,
                    path,
                    &format!("the status lozenge {text}: written as plain text"),
                );
                out.push(Inline::plain(text));
            }
            "inlineCard" => {
                self.loss(
                    LossKind::Node,
                    ty,
                    path,
                    "a link card: written as a plain link",
                );
                if let Some(url) = card_url(node) {
                    out.push(link_text(url));
                }
            }
            "mediaInline" => {
                self.loss(
                    LossKind::Node,
                    ty,
                    path,
                    "an inline attachment: dropped, Markdown cannot embed it",
                );
            }
            "placeholder" => {
                self.loss(
                    LossKind::Node,
                    ty,
                    path,
                    "placeholder text for an empty document: dropped",
                );
            }
            "inlineExtension" => {
                let key = attr_str(node, "extensionKey").unwrap_or("?");
                self.loss(
                    LossKind::Node,
                    ty,
                    path,
                    &format!("the macro `{key}`: dropped, it holds no text"),
                );
            }
            _ => {
                if self.depth >= MAX_DEPTH {
                    self.loss(
                        LossKind::Structure,
                        "nesting",
                        path,
                        "nested too deep: its text is kept",
                    );
                    out.extend(flat_text(node));
                    return;
                }
                self.loss(
                    LossKind::Node,
                    ty,
                    path,
                    "not inline content this converter knows: its text is kept",
                );
                if let Some(text) = node.get("text").and_then(Value::as_str) {
                    out.push(Inline::plain(text));
                }
                self.depth += 1;
                let kids = children(node);
                for (i, kid) in kids.iter().enumerate() {
                    if i > 0 && !is_inline(kid) {
                        out.push(Inline::Break);
                    }
                    self.inline(kid, &format!("{path}/content/{i}"), out);
                }
                self.depth -= 1;
            }
        }
    }

    fn marks(&mut self, node: &Value, path: &str) -> Marks {
        let mut marks = Marks::default();
        let Some(list) = node.get("marks").and_then(Value::as_array) else {
            return marks;
        };
        for (k, mark) in list.iter().enumerate() {
            let mark_path = format!("{path}/marks/{k}");
            let ty = node_type(mark).unwrap_or("(no type)");
            match ty {
                "strong" => marks.strong = true,
                "em" => marks.em = true,
                "strike" => marks.strike = true,
                "code" => marks.code = true,
                "link" => {
                    let Some(href) = attr_str(mark, "href") else {
                        self.loss(
                            LossKind::Attribute,
                            "link.href",
                            &mark_path,
                            "a link without a target: its text is kept without the link",
                        );
                        continue;
                    };
                    self.check_attrs(mark, &mark_path, "link", &["href", "title"], &[]);
                    marks.link = Some(Link {
                        href: href.replace('\n', "%0A").replace('\r', "%0D"),
                        title: attr_str(mark, "title")
                            .filter(|t| !t.is_empty())
                            .map(str::to_string),
                    });
                }
                _ => {
                    let what = match ty {
                        "textColor" => "the text colour",
                        "backgroundColor" => "the highlight",
                        "underline" => "the underline",
                        "subsup" => "the sub- or superscript",
                        "annotation" => "an inline comment",
                        _ => "the mark",
                    };
                    self.loss(
                        LossKind::Mark,
                        ty,
                        &mark_path,
                        &format!("{what} is dropped, the text kept"),
                    );
                }
            }
        }
        if marks.code && (marks.strong || marks.em || marks.strike) {
            self.loss(
                LossKind::Mark,
                "code",
                path,
                "code text that is also bold, italic or struck: ADF's code mark combines only with link, so the other marks are dropped",
            );
            marks.strong = false;
            marks.em = false;
            marks.strike = false;
        }
        marks
    }
}

fn card_url(node: &Value) -> Option<&str> {
    attr_str(node, "url").or_else(|| {
        attr(node, "data")
            .and_then(|d| d.get("url"))
            .and_then(Value::as_str)
    })
}

fn link_text(url: &str) -> Inline {
    Inline::marked(
        url,
        Marks {
            link: Some(Link {
                href: url.to_string(),
                title: None,
            }),
            ..Marks::default()
        },
    )
}

/// All text under a node, walked without recursion: for nodes nested too deep.
fn flat_text(node: &Value) -> Vec<Inline> {
    let mut out = Vec::new();
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        if let Some(text) = n.get("text").and_then(Value::as_str) {
            out.push(Inline::plain(text));
        }
        if node_type(n) == Some("hardBreak") || (!is_inline(n) && !out.is_empty()) {
            out.push(Inline::Break);
        }
        for kid in children(n).iter().rev() {
            stack.push(kid);
        }
    }
    out
}

/// An ADF date (milliseconds since the epoch, as a string or a number) as `YYYY-MM-DD` (UTC).
fn iso_date(timestamp: &Value) -> String {
    let millis = match timestamp {
        Value::String(s) => s.trim().parse::<i64>().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    };
    let Some(millis) = millis else {
        return match timestamp {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
    };
    let (y, m, d) = civil_from_days(millis.div_euclid(86_400_000));
    format!("{y:04}-{m:02}-{d:02}")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

// ---------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------

/// Writes blocks as an ADF document. `lines` locates blocks for losses (pre-order).
pub(crate) fn write(blocks: &[Block], lines: Option<&[u32]>) -> (Value, Vec<Loss>) {
    let mut writer = Writer {
        losses: Vec::new(),
        counter: BlockCounter::new(),
        lines,
    };
    let content = writer.blocks(blocks, Place::Top);
    (
        json!({"type": "doc", "version": 1, "content": content}),
        writer.losses,
    )
}

struct Writer<'a> {
    losses: Vec<Loss>,
    counter: BlockCounter,
    lines: Option<&'a [u32]>,
}

fn paragraph(content: Vec<Value>) -> Value {
    json!({"type": "paragraph", "content": content})
}

impl Writer<'_> {
    fn loss(&mut self, kind: LossKind, name: &str, index: usize, effect: &str) {
        self.losses
            .push(Loss::new(kind, name, ir::locate(self.lines, index), effect));
    }

    fn blocks(&mut self, blocks: &[Block], place: Place) -> Vec<Value> {
        let mut out = Vec::new();
        for block in blocks {
            self.block(block, place, &mut out);
        }
        out
    }

    fn block(&mut self, block: &Block, place: Place, out: &mut Vec<Value>) {
        let index = self.counter.visit();
        let allowed = place.allows(block);
        match block {
            Block::Paragraph(content) => out.push(paragraph(self.inlines(content, index))),
            Block::Heading { level, content } => {
                let content = self.inlines(content, index);
                if allowed {
                    out.push(
                        json!({"type": "heading", "attrs": {"level": level}, "content": content}),
                    );
                } else {
                    self.loss(
                        LossKind::Structure,
                        "heading",
                        index,
                        &format!(
                            "ADF holds no heading inside {}: written as a paragraph",
                            place.name()
                        ),
                    );
                    out.push(paragraph(content));
                }
            }
            Block::Code { language, text } => {
                let mut node = Map::new();
                node.insert("type".into(), "codeBlock".into());
                if let Some(language) = language {
                    node.insert("attrs".into(), json!({"language": language}));
                }
                let content = if text.is_empty() {
                    Vec::new()
                } else {
                    vec![json!({"type": "text", "text": text})]
                };
                node.insert("content".into(), Value::Array(content));
                out.push(Value::Object(node));
            }
            Block::Quote(children) => {
                if allowed {
                    let mut content = self.blocks(children, Place::Quote);
                    if content.is_empty() {
                        content.push(paragraph(Vec::new()));
                    }
                    out.push(json!({"type": "blockquote", "content": content}));
                } else {
                    self.loss(
                        LossKind::Structure,
                        "blockquote",
                        index,
                        &format!(
                            "ADF holds no blockquote inside {}: its content is written without it",
                            place.name()
                        ),
                    );
                    for child in children {
                        self.block(child, place, out);
                    }
                }
            }
            Block::List { start, items } => {
                let items: Vec<Value> = items
                    .iter()
                    .map(|item| {
                        let mut content = self.blocks(item, Place::Item);
                        let starts_right = content.first().is_some_and(|first| {
                            matches!(node_type(first), Some("paragraph" | "codeBlock"))
                        });
                        if !starts_right {
                            content.insert(0, paragraph(Vec::new()));
                        }
                        json!({"type": "listItem", "content": content})
                    })
                    .collect();
                out.push(match start {
                    None => json!({"type": "bulletList", "content": items}),
                    Some(order) => {
                        json!({"type": "orderedList", "attrs": {"order": order}, "content": items})
                    }
                });
            }
            Block::Rule => {
                if allowed {
                    out.push(json!({"type": "rule"}));
                } else {
                    self.loss(
                        LossKind::Structure,
                        "rule",
                        index,
                        &format!("ADF holds no rule inside {}: dropped", place.name()),
                    );
                }
            }
            Block::Table { header, rows } => {
                if allowed {
                    let width = rows
                        .iter()
                        .map(Vec::len)
                        .chain([header.len()])
                        .max()
                        .unwrap_or(0);
                    let mut table_rows = vec![self.row(header, "tableHeader", width, index)];
                    for row in rows {
                        table_rows.push(self.row(row, "tableCell", width, index));
                    }
                    out.push(json!({"type": "table", "content": table_rows}));
                } else {
                    self.loss(
                        LossKind::Structure,
                        "table",
                        index,
                        &format!(
                            "ADF holds no table inside {}: each row is written as a paragraph",
                            place.name()
                        ),
                    );
                    for row in std::iter::once(header).chain(rows) {
                        let mut content = Vec::new();
                        for (k, cell) in row.iter().enumerate() {
                            if k > 0 {
                                content.push(Inline::plain(" | "));
                            }
                            content.extend(cell.iter().cloned());
                        }
                        let content = ir::normalize_inlines(content);
                        if !content.is_empty() {
                            out.push(paragraph(self.inlines(&content, index)));
                        }
                    }
                }
            }
        }
    }

    fn row(&mut self, cells: &[Vec<Inline>], cell_type: &str, width: usize, index: usize) -> Value {
        let empty = Vec::new();
        let cells: Vec<Value> = (0..width)
            .map(|k| {
                let cell = cells.get(k).unwrap_or(&empty);
                json!({"type": cell_type, "content": [paragraph(self.inlines(cell, index))]})
            })
            .collect();
        json!({"type": "tableRow", "content": cells})
    }

    fn inlines(&mut self, content: &[Inline], index: usize) -> Vec<Value> {
        // ADF's code mark combines only with link: drop the other marks from code, then
        // normalize again (whitespace next to code may now start an italic run).
        let formatted_code = content.iter().any(|inline| {
            matches!(inline, Inline::Text { marks, .. }
                if marks.code && (marks.strong || marks.em || marks.strike))
        });
        let fitted;
        let content = if formatted_code {
            self.loss(
                LossKind::Mark,
                "code",
                index,
                "code that is also bold, italic or struck through: ADF's code mark combines only with link, so the other formatting is dropped",
            );
            fitted = ir::normalize_inlines(
                content
                    .iter()
                    .cloned()
                    .map(|inline| match inline {
                        Inline::Text { text, mut marks } if marks.code => {
                            marks.strong = false;
                            marks.em = false;
                            marks.strike = false;
                            Inline::Text { text, marks }
                        }
                        other => other,
                    })
                    .collect(),
            );
            fitted.as_slice()
        } else {
            content
        };
        let mut out = Vec::new();
        for inline in content {
            match inline {
                Inline::Break => out.push(json!({"type": "hardBreak"})),
                Inline::Text { text, marks } => {
                    let mut node = Map::new();
                    node.insert("type".into(), "text".into());
                    node.insert("text".into(), text.clone().into());
                    let marks = mark_values(marks);
                    if !marks.is_empty() {
                        node.insert("marks".into(), Value::Array(marks));
                    }
                    out.push(Value::Object(node));
                }
            }
        }
        out
    }
}

/// The ADF marks of a text (its code already stripped of other formatting).
fn mark_values(marks: &Marks) -> Vec<Value> {
    let mut out = Vec::new();
    if marks.strong {
        out.push(json!({"type": "strong"}));
    }
    if marks.em {
        out.push(json!({"type": "em"}));
    }
    if marks.strike {
        out.push(json!({"type": "strike"}));
    }
    if marks.code {
        out.push(json!({"type": "code"}));
    }
    if let Some(link) = &marks.link {
        let mut attrs = Map::new();
        attrs.insert("href".into(), link.href.clone().into());
        if let Some(title) = &link.title {
            attrs.insert("title".into(), title.clone().into());
        }
        out.push(json!({"type": "link", "attrs": attrs}));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn dates_are_utc_calendar_days() {
        assert_eq!(iso_date(&Value::from("0")), "1970-01-01");
        assert_eq!(iso_date(&Value::from("1582934400000")), "2020-02-29");
        assert_eq!(iso_date(&Value::from(-86_400_000_i64)), "1969-12-31");
        assert_eq!(iso_date(&Value::from("soon")), "soon");
    }
}

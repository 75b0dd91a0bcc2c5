//! The document model every conversion goes through: exactly what Markdown (CommonMark with
//! GFM tables and strikethrough) can hold. Readers of ADF and wiki markup fit their input into
//! it and report what did not fit; writers of ADF and wiki markup report what of it their
//! format cannot hold.
//!
//! Inline content is flat, like ADF: runs of text, each with a set of marks, and line breaks.
//! [`normalize_inlines`] brings it to the one form Markdown gives back (see the crate's
//! `markup` docs for the list).

/// Nesting deeper than this (quotes and lists inside each other) is flattened, so that no
/// input can exhaust the stack.
pub(crate) const MAX_DEPTH: usize = 32;

/// A block of the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Block {
    /// A paragraph; never empty once normalized.
    Paragraph(Vec<Inline>),
    /// A heading of level 1 to 6; holds no line break.
    Heading { level: u8, content: Vec<Inline> },
    /// A code block; `text` has no trailing line ending added.
    Code {
        language: Option<String>,
        text: String,
    },
    /// A block quote.
    Quote(Vec<Block>),
    /// A list: `start` is `Some(first number)` for an ordered list, `None` for bullets.
    List {
        start: Option<u64>,
        items: Vec<Vec<Block>>,
    },
    /// A thematic break.
    Rule,
    /// A table: a header row, then body rows; cells hold inline content.
    Table {
        header: Vec<Vec<Inline>>,
        rows: Vec<Vec<Vec<Inline>>>,
    },
}

/// A piece of inline content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Inline {
    /// Text with its marks; never empty once normalized.
    Text { text: String, marks: Marks },
    /// A hard line break.
    Break,
}

/// The marks Markdown can hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct Marks {
    pub(crate) strong: bool,
    pub(crate) em: bool,
    pub(crate) strike: bool,
    pub(crate) code: bool,
    pub(crate) link: Option<Link>,
}

/// A link target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Link {
    pub(crate) href: String,
    pub(crate) title: Option<String>,
}

impl Inline {
    /// Plain text without marks.
    pub(crate) fn plain(text: impl Into<String>) -> Self {
        Inline::Text {
            text: text.into(),
            marks: Marks::default(),
        }
    }

    /// Text with the given marks.
    pub(crate) fn marked(text: impl Into<String>, marks: Marks) -> Self {
        Inline::Text {
            text: text.into(),
            marks,
        }
    }
}

/// One character of inline content with the index of its marks, or a line break.
#[derive(Clone, Copy)]
enum Cell {
    Char(char, usize),
    Break,
    Gone,
}

static NO_MARKS: Marks = Marks {
    strong: false,
    em: false,
    strike: false,
    code: false,
    link: None,
};

/// Marks interned by index, so that the per-character form stays small.
struct MarkTable {
    marks: Vec<Marks>,
    index: std::collections::HashMap<Marks, usize>,
}

impl MarkTable {
    fn new() -> Self {
        Self {
            marks: Vec::new(),
            index: std::collections::HashMap::new(),
        }
    }

    fn intern(&mut self, marks: &Marks) -> usize {
        if let Some(found) = self.index.get(marks) {
            return *found;
        }
        self.marks.push(marks.clone());
        let id = self.marks.len() - 1;
        self.index.insert(marks.clone(), id);
        id
    }

    fn get(&self, id: usize) -> &Marks {
        self.marks.get(id).unwrap_or(&NO_MARKS)
    }
}

/// Which of the delimiter marks a flag selects.
#[derive(Clone, Copy)]
enum Flag {
    Strong,
    Em,
    Strike,
}

fn has(marks: &Marks, flag: Flag) -> bool {
    match flag {
        Flag::Strong => marks.strong,
        Flag::Em => marks.em,
        Flag::Strike => marks.strike,
    }
}

fn without(marks: &Marks, flag: Flag) -> Marks {
    let mut m = marks.clone();
    match flag {
        Flag::Strong => m.strong = false,
        Flag::Em => m.em = false,
        Flag::Strike => m.strike = false,
    }
    m
}

/// Brings inline content to the one form Markdown gives back:
///
/// - line endings (`\n`, `\r\n`, `\r`) inside text become line breaks; NUL becomes U+FFFD;
///   line endings in a link target are percent-encoded;
/// - whitespace at the edges of a bold, italic or strikethrough run moves outside the mark
///   (Markdown cannot open or close emphasis next to whitespace);
/// - spaces and tabs at the start and end of each line are dropped, unless they are code or
///   link text;
/// - line breaks at the start or end are dropped;
/// - adjacent texts with equal marks merge, empty texts vanish.
pub(crate) fn normalize_inlines(inlines: Vec<Inline>) -> Vec<Inline> {
    let mut table = MarkTable::new();
    let mut cells: Vec<Cell> = Vec::new();
    for inline in &inlines {
        match inline {
            Inline::Break => cells.push(Cell::Break),
            Inline::Text { text, marks } => {
                let id = match &marks.link {
                    // A link target is one line.
                    Some(link) if link.href.contains(['\n', '\r']) => {
                        let mut fixed = marks.clone();
                        fixed.link = Some(Link {
                            href: link.href.replace('\n', "%0A").replace('\r', "%0D"),
                            title: link.title.clone(),
                        });
                        table.intern(&fixed)
                    }
                    _ => table.intern(marks),
                };
                let mut chars = text.chars().peekable();
                while let Some(c) = chars.next() {
                    match c {
                        '\r' => {
                            if chars.peek() == Some(&'\n') {
                                chars.next();
                            }
                            cells.push(Cell::Break);
                        }
                        '\n' => cells.push(Cell::Break),
                        '\0' => cells.push(Cell::Char('\u{FFFD}', id)),
                        c => cells.push(Cell::Char(c, id)),
                    }
                }
            }
        }
    }
    drop(inlines);

    for flag in [Flag::Strong, Flag::Em, Flag::Strike] {
        let mut i = 0;
        while i < cells.len() {
            let in_run = |cell: &Cell, table: &MarkTable| match cell {
                Cell::Char(_, id) => has(table.get(*id), flag),
                _ => false,
            };
            if !cells.get(i).is_some_and(|c| in_run(c, &table)) {
                i += 1;
                continue;
            }
            let start = i;
            while cells.get(i).is_some_and(|c| in_run(c, &table)) {
                i += 1;
            }
            let end = i;
            // Leading whitespace of the run.
            let mut k = start;
            while k < end {
                let Some(Cell::Char(c, id)) = cells.get(k).copied() else {
                    break;
                };
                let marks = table.get(id);
                if !c.is_whitespace() || marks.code {
                    break;
                }
                let new = table.intern(&without(marks, flag));
                if let Some(cell) = cells.get_mut(k) {
                    *cell = Cell::Char(c, new);
                }
                k += 1;
            }
            // Trailing whitespace of the run.
            let mut k = end;
            while k > start {
                let Some(Cell::Char(c, id)) = cells.get(k - 1).copied() else {
                    break;
                };
                let marks = table.get(id);
                if !has(marks, flag) || !c.is_whitespace() || marks.code {
                    break;
                }
                let new = table.intern(&without(marks, flag));
                if let Some(cell) = cells.get_mut(k - 1) {
                    *cell = Cell::Char(c, new);
                }
                k -= 1;
            }
        }
    }

    // Spaces and tabs at line edges.
    let trimmable = |cell: &Cell, table: &MarkTable| match cell {
        Cell::Char(c, id) => {
            let marks = table.get(*id);
            (*c == ' ' || *c == '\t') && !marks.code && marks.link.is_none()
        }
        _ => false,
    };
    let mut line_start = 0;
    let len = cells.len();
    for i in 0..=len {
        let at_end = i == len || matches!(cells.get(i), Some(Cell::Break));
        if !at_end {
            continue;
        }
        let mut k = line_start;
        while k < i && cells.get(k).is_some_and(|c| trimmable(c, &table)) {
            if let Some(cell) = cells.get_mut(k) {
                *cell = Cell::Gone;
            }
            k += 1;
        }
        let mut k = i;
        while k > line_start {
            match cells.get(k - 1) {
                Some(Cell::Gone) => {}
                Some(c) if trimmable(c, &table) => {
                    if let Some(cell) = cells.get_mut(k - 1) {
                        *cell = Cell::Gone;
                    }
                }
                _ => break,
            }
            k -= 1;
        }
        line_start = i + 1;
    }

    // Line breaks at the edges.
    let first = cells
        .iter()
        .position(|c| matches!(c, Cell::Char(..)))
        .unwrap_or(cells.len());
    let last = cells
        .iter()
        .rposition(|c| matches!(c, Cell::Char(..)))
        .map_or(0, |p| p + 1);

    let mut out: Vec<Inline> = Vec::new();
    let mut current: Option<(String, usize)> = None;
    for cell in cells.iter().take(last).skip(first) {
        match *cell {
            Cell::Gone => {}
            Cell::Break => {
                if let Some((text, id)) = current.take() {
                    out.push(Inline::marked(text, table.get(id).clone()));
                }
                out.push(Inline::Break);
            }
            Cell::Char(c, id) => match &mut current {
                Some((text, cur)) if *cur == id => text.push(c),
                _ => {
                    if let Some((text, old)) = current.take() {
                        out.push(Inline::marked(text, table.get(old).clone()));
                    }
                    current = Some((c.to_string(), id));
                }
            },
        }
    }
    if let Some((text, id)) = current.take() {
        out.push(Inline::marked(text, table.get(id).clone()));
    }
    merge_equal(out)
}

/// Merges adjacent texts whose marks are equal (different mark ids may hold equal marks
/// after whitespace moved out of a mark).
fn merge_equal(inlines: Vec<Inline>) -> Vec<Inline> {
    let mut out: Vec<Inline> = Vec::with_capacity(inlines.len());
    for inline in inlines {
        if let (
            Some(Inline::Text { text, marks }),
            Inline::Text {
                text: next,
                marks: next_marks,
            },
        ) = (out.last_mut(), &inline)
            && *marks == *next_marks
        {
            text.push_str(next);
            continue;
        }
        if matches!(&inline, Inline::Text { text, .. } if text.is_empty()) {
            continue;
        }
        out.push(inline);
    }
    out
}

/// Normalizes every inline sequence of the blocks (see [`normalize_inlines`]), drops empty
/// paragraphs, empty lists and column-less tables, and brings code blocks to one form
/// (`\n` line endings, a trimmed language or none).
pub(crate) fn normalize_blocks(blocks: Vec<Block>) -> Vec<Block> {
    let mut out = Vec::with_capacity(blocks.len());
    for block in blocks {
        match block {
            Block::Paragraph(content) => {
                let content = normalize_inlines(content);
                if !content.is_empty() {
                    out.push(Block::Paragraph(content));
                }
            }
            Block::Heading { level, content } => {
                let content = content
                    .into_iter()
                    .map(|i| match i {
                        Inline::Break => Inline::plain(" "),
                        other => other,
                    })
                    .collect();
                out.push(Block::Heading {
                    level: level.clamp(1, 6),
                    content: normalize_inlines(content),
                });
            }
            Block::Code { language, text } => out.push(Block::Code {
                language: normalize_language(language),
                text: text.replace("\r\n", "\n").replace('\r', "\n"),
            }),
            Block::Quote(children) => out.push(Block::Quote(normalize_blocks(children))),
            Block::List { start, items } => {
                if !items.is_empty() {
                    out.push(Block::List {
                        start,
                        items: items.into_iter().map(normalize_blocks).collect(),
                    });
                }
            }
            Block::Rule => out.push(Block::Rule),
            Block::Table { header, rows } => {
                let width = rows
                    .iter()
                    .map(Vec::len)
                    .chain(std::iter::once(header.len()))
                    .max()
                    .unwrap_or(0);
                if width == 0 {
                    continue;
                }
                let fix = |mut row: Vec<Vec<Inline>>| {
                    row.resize_with(width, Vec::new);
                    row.into_iter().map(normalize_inlines).collect::<Vec<_>>()
                };
                out.push(Block::Table {
                    header: fix(header),
                    rows: rows.into_iter().map(fix).collect(),
                });
            }
        }
    }
    out
}

/// A code block's language: trimmed, on one line, or none.
pub(crate) fn normalize_language(language: Option<String>) -> Option<String> {
    let language = language?;
    let language = language
        .replace(['\r', '\n'], " ")
        .trim_matches(|c: char| c == ' ' || c == '\t')
        .to_string();
    (!language.is_empty()).then_some(language)
}

/// Flattens blocks into inline content, each block on its own line: what a table cell or a
/// wiki list item holds when the source had blocks there. Code becomes code-marked text.
pub(crate) fn blocks_to_inlines(blocks: &[Block]) -> Vec<Inline> {
    let mut out = Vec::new();
    for block in blocks {
        let mut part = Vec::new();
        match block {
            Block::Paragraph(content) | Block::Heading { content, .. } => {
                part.extend(content.iter().cloned());
            }
            Block::Code { text, .. } => {
                for (i, line) in text.split('\n').enumerate() {
                    if i > 0 {
                        part.push(Inline::Break);
                    }
                    part.push(Inline::marked(
                        line,
                        Marks {
                            code: true,
                            ..Marks::default()
                        },
                    ));
                }
            }
            Block::Quote(children) => part = blocks_to_inlines(children),
            Block::List { items, .. } => {
                for item in items {
                    let inner = blocks_to_inlines(item);
                    if !part.is_empty() && !inner.is_empty() {
                        part.push(Inline::Break);
                    }
                    part.extend(inner);
                }
            }
            Block::Rule => {}
            Block::Table { header, rows } => {
                for row in std::iter::once(header).chain(rows) {
                    for cell in row {
                        if !part.is_empty() && !cell.is_empty() {
                            part.push(Inline::Break);
                        }
                        part.extend(cell.iter().cloned());
                    }
                }
            }
        }
        if part.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(Inline::Break);
        }
        out.extend(part);
    }
    out
}

/// Counts blocks in pre-order (a block before its children), the order in which readers
/// record where each block came from.
pub(crate) struct BlockCounter {
    next: usize,
}

impl BlockCounter {
    pub(crate) fn new() -> Self {
        Self { next: 0 }
    }

    /// The index of the block being visited.
    pub(crate) fn visit(&mut self) -> usize {
        let index = self.next;
        self.next += 1;
        index
    }
}

/// Where a block came from, for losses found while writing: `line N` of the source when its
/// reader recorded lines, `block N` (pre-order) otherwise.
pub(crate) fn locate(lines: Option<&[u32]>, index: usize) -> String {
    match lines.and_then(|l| l.get(index)) {
        Some(line) => format!("line {line}"),
        None => format!("block {}", index + 1),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn strong(text: &str) -> Inline {
        Inline::marked(
            text,
            Marks {
                strong: true,
                ..Marks::default()
            },
        )
    }

    #[test]
    fn whitespace_moves_out_of_strong_and_line_edges_trim() {
        let got = normalize_inlines(vec![
            Inline::plain("  a"),
            strong(" b "),
            Inline::plain("c \n d"),
            Inline::Break,
        ]);
        assert_eq!(
            got,
            vec![
                Inline::plain("a "),
                strong("b"),
                Inline::plain(" c"),
                Inline::Break,
                Inline::plain("d"),
            ]
        );
    }

    #[test]
    fn empty_and_break_only_content_vanishes() {
        assert!(
            normalize_inlines(vec![Inline::Break, Inline::plain(" "), Inline::Break]).is_empty()
        );
    }
}

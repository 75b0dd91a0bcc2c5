//! Markdown: the document model to CommonMark (with GFM tables and strikethrough), and
//! CommonMark to the model with `pulldown-cmark`.
//!
//! Rendering escapes every character that could be read as markup, so that parsing gives the
//! same text back. Inline content is rendered, then parsed again to check; in the rare case
//! where emphasis delimiters meet in a way CommonMark reads differently (`**a***b*`), other
//! delimiters (`_`) or character references at the edges (`&#x61;`) are tried instead.

use std::cmp::Reverse;

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, LinkType, Options, Parser, Tag, TagEnd};

use super::ir::{
    self, Block, BlockCounter, Inline, Link, MAX_DEPTH, Marks, normalize_blocks, normalize_inlines,
};
use super::{Loss, LossKind};

/// The largest start number CommonMark allows for an ordered list.
pub(crate) const MAX_LIST_NUMBER: u64 = 999_999_999;

// ---------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------

/// Renders blocks as Markdown. The losses are formatting that could not be expressed (none is
/// expected; the property tests look for them).
pub(crate) fn render(blocks: &[Block], lines: Option<&[u32]>) -> (String, Vec<Loss>) {
    let mut renderer = Renderer {
        losses: Vec::new(),
        counter: BlockCounter::new(),
        lines,
    };
    let out = renderer.blocks(blocks, false, None);
    (out.join("\n"), renderer.losses)
}

/// Where inline content is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Paragraph,
    Heading,
    Cell,
}

/// How inline marks are written; later styles are fallbacks for when the first does not
/// read back the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Style {
    /// Re-nest at every segment so that the longer-running mark is outside (`[a](u)**[b](u)c**`)
    /// instead of keeping what is open as long as it lasts (`[a **b**](u)**c**`).
    sorted: bool,
    /// Italic with `_` instead of `*`, so that it does not merge with an adjacent `**`.
    underscore_em: bool,
    /// The characters at the edges of each text written as character references
    /// (`&#x61;`), which makes every delimiter next to them flank.
    entity_edges: bool,
}

const STYLES: [Style; 8] = {
    let mut styles = [Style {
        sorted: false,
        underscore_em: false,
        entity_edges: false,
    }; 8];
    let mut i = 0;
    while i < 8 {
        styles[i] = Style {
            sorted: i & 1 == 1,
            underscore_em: i & 2 == 2,
            entity_edges: i & 4 == 4,
        };
        i += 1;
    }
    styles
};

struct Renderer<'a> {
    losses: Vec<Loss>,
    counter: BlockCounter,
    lines: Option<&'a [u32]>,
}

/// Whether a list can start right after a paragraph line without a blank line in between
/// (and without turning the paragraph into a setext heading).
fn list_can_interrupt(block: &Block) -> bool {
    match block {
        Block::List { start, items } => {
            matches!(start, None | Some(1)) && items.first().is_some_and(|item| !item.is_empty())
        }
        _ => false,
    }
}

impl Renderer<'_> {
    /// `parent_bullet` is the marker of the list item these blocks are in, if a bullet.
    fn blocks(
        &mut self,
        blocks: &[Block],
        in_item: bool,
        parent_bullet: Option<char>,
    ) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut prev: Option<&Block> = None;
        let mut prev_alt = false;
        for (i, block) in blocks.iter().enumerate() {
            // Two lists of the same kind in a row would merge: switch the marker.
            let alt = match (prev, block) {
                (Some(Block::List { start: a, .. }), Block::List { start: b, .. })
                    if a.is_some() == b.is_some() =>
                {
                    !prev_alt
                }
                _ => false,
            };
            // A list on its item's marker line takes another bullet than the item (`- * a`), so that
            // markers never read as a thematic break (`- - -`).
            let first_in_item = in_item && i == 0;
            let bullet = if alt {
                '+'
            } else if first_in_item && parent_bullet == Some('-') {
                '*'
            } else {
                '-'
            };
            let lines = self.block(block, first_in_item, bullet, alt);
            if lines.is_empty() {
                continue;
            }
            if let Some(p) = prev {
                let tight =
                    in_item && matches!(p, Block::Paragraph(_)) && list_can_interrupt(block);
                if !tight {
                    out.push(String::new());
                }
            }
            out.extend(lines);
            prev = Some(block);
            prev_alt = alt;
        }
        out
    }

    fn block(
        &mut self,
        block: &Block,
        first_in_item: bool,
        bullet: char,
        alt: bool,
    ) -> Vec<String> {
        let index = self.counter.visit();
        match block {
            Block::Paragraph(content) => {
                let text = self.inline(content, Mode::Paragraph, index);
                text.split('\n').map(str::to_string).collect()
            }
            Block::Heading { level, content } => {
                let hashes = "#".repeat(usize::from((*level).clamp(1, 6)));
                let text = self.inline(content, Mode::Heading, index);
                if text.is_empty() {
                    vec![hashes]
                } else {
                    vec![format!("{hashes} {text}")]
                }
            }
            Block::Code { language, text } => code_block(language.as_deref(), text),
            Block::Quote(children) => {
                let inner = self.blocks(children, false, None);
                if inner.is_empty() {
                    return vec![">".to_string()];
                }
                inner
                    .into_iter()
                    .map(|l| {
                        if l.is_empty() {
                            ">".to_string()
                        } else {
                            format!("> {l}")
                        }
                    })
                    .collect()
            }
            Block::List { start, items } => self.list(*start, items, bullet, alt),
            Block::Rule => vec![if first_in_item { "___" } else { "---" }.to_string()],
            Block::Table { header, rows } => self.table(header, rows, index),
        }
    }

    fn list(
        &mut self,
        start: Option<u64>,
        items: &[Vec<Block>],
        bullet: char,
        alt: bool,
    ) -> Vec<String> {
        let mut out = Vec::new();
        for (n, item) in items.iter().enumerate() {
            let marker = match start {
                None => bullet.to_string(),
                Some(first) => {
                    let number = u64::try_from(n)
                        .ok()
                        .and_then(|n| first.checked_add(n))
                        .unwrap_or(MAX_LIST_NUMBER)
                        .min(MAX_LIST_NUMBER);
                    format!("{number}{}", if alt { ')' } else { '.' })
                }
            };
            let body = self.blocks(item, true, start.is_none().then_some(bullet));
            if body.is_empty() {
                out.push(marker);
                continue;
            }
            let indent = " ".repeat(marker.len() + 1);
            for (k, line) in body.into_iter().enumerate() {
                if k == 0 {
                    out.push(format!("{marker} {line}"));
                } else if line.is_empty() {
                    out.push(line);
                } else {
                    out.push(format!("{indent}{line}"));
                }
            }
        }
        out
    }

    fn table(
        &mut self,
        header: &[Vec<Inline>],
        rows: &[Vec<Vec<Inline>>],
        index: usize,
    ) -> Vec<String> {
        let width = rows
            .iter()
            .map(Vec::len)
            .chain([header.len()])
            .max()
            .unwrap_or(0);
        if width == 0 {
            return Vec::new();
        }
        let empty: Vec<Inline> = Vec::new();
        let row_line = |cells: &[Vec<Inline>], renderer: &mut Self| {
            let mut line = String::from("|");
            for k in 0..width {
                let cell = cells.get(k).unwrap_or(&empty);
                line.push(' ');
                line.push_str(&renderer.inline(cell, Mode::Cell, index));
                line.push_str(" |");
            }
            line
        };
        let mut out = vec![row_line(header, self)];
        out.push(format!("|{}", " --- |".repeat(width)));
        for row in rows {
            out.push(row_line(row, self));
        }
        out
    }

    /// Renders inline content, checking that it parses back to the same content and trying
    /// the fallback styles when it does not.
    fn inline(&mut self, content: &[Inline], mode: Mode, index: usize) -> String {
        if content.is_empty() {
            return String::new();
        }
        let expected = normalize_inlines(content.to_vec());
        for style in STYLES {
            let text = render_inline(content, mode, style);
            if reparse(&text, mode).as_deref() == Some(expected.as_slice()) {
                return text;
            }
        }
        // Last resort, for arrangements Markdown cannot express (a paragraph starting with a
        // link whose code text holds `]:` reads as a link reference definition): the text
        // without its marks, which always reads back.
        self.losses.push(Loss::new(
            LossKind::Structure,
            "formatting",
            ir::locate(self.lines, index),
            "Markdown cannot express this arrangement of marks here: the text is written without them",
        ));
        let plain: Vec<Inline> = content
            .iter()
            .map(|inline| match inline {
                Inline::Text { text, .. } => Inline::plain(text.clone()),
                Inline::Break => Inline::Break,
            })
            .collect();
        let style = Style {
            sorted: false,
            underscore_em: false,
            entity_edges: false,
        };
        render_inline(&normalize_inlines(plain), mode, style)
    }
}

/// Parses rendered inline content in its context and returns its inline content.
fn reparse(text: &str, mode: Mode) -> Option<Vec<Inline>> {
    let source = match mode {
        Mode::Paragraph => text.to_string(),
        Mode::Heading => format!("# {text}"),
        Mode::Cell => format!("| {text} |\n| --- |"),
    };
    let parsed = parse(&source);
    match (mode, parsed.blocks.as_slice()) {
        (Mode::Paragraph, [Block::Paragraph(content)]) => Some(content.clone()),
        (Mode::Paragraph, []) => Some(Vec::new()),
        (Mode::Heading, [Block::Heading { content, .. }]) => Some(content.clone()),
        (Mode::Cell, [Block::Table { header, rows }]) if rows.is_empty() => header.first().cloned(),
        _ => None,
    }
}

fn code_block(language: Option<&str>, text: &str) -> Vec<String> {
    let language = language.unwrap_or("");
    let fence_char = if language.contains('`') { '~' } else { '`' };
    let longest = longest_run(text, fence_char);
    let fence: String = std::iter::repeat_n(fence_char, longest.max(2) + 1).collect();
    let mut info = String::new();
    for c in language.chars() {
        if c == '\\' || c == '&' {
            info.push('\\');
        }
        info.push(c);
    }
    // An info string starting with the fence character would lengthen the fence.
    let gap = if info.starts_with(fence_char) {
        " "
    } else {
        ""
    };
    let mut out = vec![format!("{fence}{gap}{info}")];
    out.extend(text.split('\n').map(str::to_string));
    out.push(fence);
    out
}

fn longest_run(text: &str, c: char) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for ch in text.chars() {
        if ch == c {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest
}

/// A mark that is opened and closed around text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item<'a> {
    Link(&'a Link),
    Strong,
    Em,
    Strike,
}

impl Item<'_> {
    fn priority(&self) -> u8 {
        match self {
            Item::Link(_) => 0,
            Item::Strong => 1,
            Item::Em => 2,
            Item::Strike => 3,
        }
    }
}

fn items_of(marks: &Marks) -> Vec<Item<'_>> {
    let mut items = Vec::new();
    if let Some(link) = &marks.link {
        items.push(Item::Link(link));
    }
    if marks.strong {
        items.push(Item::Strong);
    }
    if marks.em {
        items.push(Item::Em);
    }
    if marks.strike {
        items.push(Item::Strike);
    }
    items
}

fn render_inline(content: &[Inline], mode: Mode, style: Style) -> String {
    let mut out = String::new();
    let mut line: Vec<(&str, &Marks)> = Vec::new();
    let flush = |line: &mut Vec<(&str, &Marks)>, out: &mut String| {
        render_line(line, mode, style, out);
        line.clear();
    };
    for inline in content {
        match inline {
            Inline::Text { text, marks } => line.push((text, marks)),
            Inline::Break => {
                flush(&mut line, &mut out);
                out.push_str(match mode {
                    Mode::Paragraph => "\\\n",
                    Mode::Cell => "<br>",
                    Mode::Heading => " ",
                });
            }
        }
    }
    flush(&mut line, &mut out);
    out
}

fn render_line(segments: &[(&str, &Marks)], mode: Mode, style: Style, out: &mut String) {
    let mut stack: Vec<Item<'_>> = Vec::new();
    let mut line_empty = true;
    for (idx, (text, marks)) in segments.iter().enumerate() {
        let wanted = items_of(marks);
        let run_len = |item: &Item<'_>| {
            segments
                .iter()
                .skip(idx)
                .take_while(|(_, m)| items_of(m).contains(item))
                .count()
        };
        let keep = if style.sorted {
            let mut target = wanted.clone();
            target.sort_by_key(|item| (Reverse(run_len(item)), item.priority()));
            stack
                .iter()
                .zip(&target)
                .take_while(|(open, want)| open == want)
                .count()
        } else {
            stack
                .iter()
                .take_while(|item| wanted.contains(item))
                .count()
        };
        while stack.len() > keep {
            if let Some(item) = stack.pop() {
                close(&item, style, out);
            }
        }
        let mut to_open: Vec<Item<'_>> =
            wanted.into_iter().filter(|w| !stack.contains(w)).collect();
        // An autolink: the whole link is this one plain segment and reads the same as its
        // target.
        if let [Item::Link(link)] = to_open.as_slice()
            && stack.is_empty()
            && !marks.code
            && run_len(&Item::Link(link)) == 1
            && autolinkable(link, text)
        {
            out.push('<');
            out.push_str(text);
            out.push('>');
            line_empty = false;
            continue;
        }
        to_open.sort_by_key(|item| (Reverse(run_len(item)), item.priority()));
        for item in to_open {
            open(&item, style, out);
            stack.push(item);
            line_empty = false;
        }
        if marks.code {
            code_span(text, mode, out);
        } else {
            escape_text(text, line_empty, mode, style, out);
        }
        line_empty = false;
    }
    while let Some(item) = stack.pop() {
        close(&item, style, out);
    }
}

fn open(item: &Item<'_>, style: Style, out: &mut String) {
    if matches!(item, Item::Link(_)) {
        escape_trailing_bang(out);
    }
    out.push_str(match item {
        Item::Link(_) => "[",
        Item::Strong => "**",
        Item::Em => {
            if style.underscore_em {
                "_"
            } else {
                "*"
            }
        }
        Item::Strike => "~~",
    });
}

fn close(item: &Item<'_>, style: Style, out: &mut String) {
    match item {
        Item::Link(link) => {
            out.push_str("](");
            link_destination(&link.href, out);
            if let Some(title) = &link.title {
                out.push_str(" \"");
                for c in title.chars() {
                    if matches!(c, '"' | '\\') {
                        out.push('\\');
                    }
                    if c == '&' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
            out.push(')');
        }
        other => open(other, style, out),
    }
}

/// Escapes a `!` just written, which a link opening after it would turn into an image.
fn escape_trailing_bang(out: &mut String) {
    if !out.ends_with('!') {
        return;
    }
    let backslashes = out.strip_suffix('!').map_or(0, |rest| {
        rest.chars().rev().take_while(|c| *c == '\\').count()
    });
    if backslashes.is_multiple_of(2) {
        out.pop();
        out.push_str("\\!");
    }
}

/// Whether `<href>` reads back as a link to `href` with `href` as its text.
fn autolinkable(link: &Link, text: &str) -> bool {
    if link.title.is_some() || link.href != text {
        return false;
    }
    let Some((scheme, rest)) = text.split_once(':') else {
        return false;
    };
    let scheme_ok = (2..=32).contains(&scheme.len())
        && scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'));
    scheme_ok
        && !rest.is_empty()
        && !text.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, '<' | '>' | '\\' | '&' | '`' | '*' | '_')
        })
}

fn link_destination(href: &str, out: &mut String) {
    let plain = !href.is_empty()
        && !href
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '(' | ')'));
    if plain {
        push_escaped_destination(href, out);
    } else {
        out.push('<');
        for c in href.chars() {
            match c {
                // `&` too: character references are decoded here as well.
                '<' | '>' | '\\' | '&' => {
                    out.push('\\');
                    out.push(c);
                }
                '\n' => out.push_str("%0A"),
                '\r' => out.push_str("%0D"),
                c => out.push(c),
            }
        }
        out.push('>');
    }
}

fn push_escaped_destination(href: &str, out: &mut String) {
    let chars: Vec<char> = href.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            '&' if chars
                .get(i + 1)
                .is_some_and(|n| n.is_ascii_alphanumeric() || *n == '#') =>
            {
                out.push_str("\\&");
            }
            c => out.push(c),
        }
    }
}

fn code_span(text: &str, mode: Mode, out: &mut String) {
    let ticks: String = std::iter::repeat_n('`', longest_run(text, '`') + 1).collect();
    let pad = text.starts_with('`')
        || text.ends_with('`')
        || (text.starts_with(' ') && text.ends_with(' ') && text.chars().any(|c| c != ' '));
    out.push_str(&ticks);
    if pad {
        out.push(' ');
    }
    for c in text.chars() {
        if mode == Mode::Cell && c == '|' {
            out.push('\\');
        }
        out.push(c);
    }
    if pad {
        out.push(' ');
    }
    out.push_str(&ticks);
}

/// Writes text so that Markdown reads it back as the same text.
fn escape_text(text: &str, line_start: bool, mode: Mode, style: Style, out: &mut String) {
    let chars: Vec<char> = text.chars().collect();
    let last = chars.len().saturating_sub(1);
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if i == 0 && line_start {
            if matches!(c, '#' | '>' | '-' | '+' | '=') {
                out.push('\\');
                out.push(c);
                i += 1;
                continue;
            }
            if c.is_ascii_digit() {
                let digits = chars.iter().take_while(|c| c.is_ascii_digit()).count();
                if let Some(&after @ ('.' | ')')) = chars.get(digits) {
                    chars.iter().take(digits).for_each(|d| out.push(*d));
                    out.push('\\');
                    out.push(after);
                    i = digits + 1;
                    continue;
                }
            }
        }
        let edge = i == 0 || i == last;
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '&' if chars
                .get(i + 1)
                .is_none_or(|n| n.is_ascii_alphanumeric() || *n == '#') =>
            {
                out.push_str("\\&");
            }
            '#' if mode == Mode::Heading => out.push_str("\\#"),
            c if style.entity_edges && edge && !c.is_ascii_punctuation() => {
                out.push_str(&format!("&#x{:X};", u32::from(c)));
            }
            c => out.push(c),
        }
        i += 1;
    }
}

// ---------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------

/// Markdown parsed into the document model.
pub(crate) struct Parsed {
    /// The blocks, normalized.
    pub(crate) blocks: Vec<Block>,
    /// The line of each block, in pre-order.
    pub(crate) lines: Vec<u32>,
    /// What the model could not hold (images, raw HTML, column alignment…).
    pub(crate) losses: Vec<Loss>,
}

/// The parser options: CommonMark with GFM tables and strikethrough, nothing else.
fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH
}

enum Frame {
    Root(Vec<Block>),
    Quote(Vec<Block>),
    List {
        start: Option<u64>,
        items: Vec<Vec<Block>>,
    },
    Item(Vec<Block>),
    /// A container beyond the nesting limit: its blocks go to the enclosing one.
    Flat,
    Paragraph {
        content: Vec<Inline>,
        implicit: bool,
        reserved: usize,
    },
    Heading {
        level: u8,
        content: Vec<Inline>,
    },
    Code {
        language: Option<String>,
        text: String,
    },
    Html {
        text: String,
        line: u32,
        reserved: usize,
    },
    Table {
        header: Vec<Vec<Inline>>,
        rows: Vec<Vec<Vec<Inline>>>,
        row: Vec<Vec<Inline>>,
        cell: Vec<Inline>,
    },
}

struct Builder {
    stack: Vec<Frame>,
    lines: Vec<u32>,
    losses: Vec<Loss>,
    strong: usize,
    em: usize,
    strike: usize,
    links: Vec<Link>,
    depth_reported: bool,
}

/// Line numbers of byte offsets.
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self(starts)
    }

    fn line(&self, offset: usize) -> u32 {
        let line = match self.0.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        };
        u32::try_from(line).unwrap_or(u32::MAX)
    }
}

/// Parses Markdown into the document model.
pub(crate) fn parse(markdown: &str) -> Parsed {
    let index = LineIndex::new(markdown);
    let mut b = Builder {
        stack: vec![Frame::Root(Vec::new())],
        lines: Vec::new(),
        losses: Vec::new(),
        strong: 0,
        em: 0,
        strike: 0,
        links: Vec::new(),
        depth_reported: false,
    };
    for (event, range) in Parser::new_ext(markdown, options()).into_offset_iter() {
        let line = index.line(range.start);
        b.event(event, line);
    }
    b.close_implicit();
    // Close whatever is left open (the parser balances its events, so this is only a guard).
    while b.stack.len() > 1 {
        b.end_container();
    }
    let blocks = match b.stack.pop() {
        Some(Frame::Root(blocks)) => blocks,
        _ => Vec::new(),
    };
    Parsed {
        blocks: normalize_blocks(blocks),
        lines: b.lines,
        losses: b.losses,
    }
}

fn heading_level(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

/// Whether inline HTML is a line break (`<br>`, `<br/>`, `<br />`), which is how a line break
/// is written inside a table cell.
fn is_br(html: &str) -> bool {
    let lower = html.trim().to_ascii_lowercase();
    matches!(lower.as_str(), "<br>" | "<br/>" | "<br />")
}

impl Builder {
    fn marks(&self, code: bool) -> Marks {
        Marks {
            strong: self.strong > 0,
            em: self.em > 0,
            strike: self.strike > 0,
            code,
            link: self.links.last().cloned(),
        }
    }

    fn depth(&self) -> usize {
        self.stack
            .iter()
            .filter(|f| matches!(f, Frame::Quote(_) | Frame::List { .. } | Frame::Flat))
            .count()
    }

    fn reserve(&mut self, line: u32) -> usize {
        self.lines.push(line);
        self.lines.len() - 1
    }

    /// Un-reserves the line of a block that turned out empty (it has no children, so it is
    /// the last one reserved).
    fn unreserve(&mut self, reserved: usize) {
        if self.lines.len() == reserved + 1 {
            self.lines.pop();
        }
    }

    /// Adds a finished block to the innermost container.
    fn push_block(&mut self, block: Block) {
        for frame in self.stack.iter_mut().rev() {
            match frame {
                Frame::Root(blocks) | Frame::Quote(blocks) | Frame::Item(blocks) => {
                    blocks.push(block);
                    return;
                }
                Frame::List { items, .. } => {
                    // A block directly in a list (never produced by the parser): own item.
                    items.push(vec![block]);
                    return;
                }
                _ => {}
            }
        }
    }

    /// Ends the paragraph a tight list item opened for its text.
    fn close_implicit(&mut self) {
        if let Some(Frame::Paragraph { implicit: true, .. }) = self.stack.last()
            && let Some(Frame::Paragraph {
                content, reserved, ..
            }) = self.stack.pop()
        {
            self.finish_paragraph(content, reserved);
        }
    }

    fn finish_paragraph(&mut self, content: Vec<Inline>, reserved: usize) {
        let content = normalize_inlines(content);
        if content.is_empty() {
            self.unreserve(reserved);
        } else {
            self.push_block(Block::Paragraph(content));
        }
    }

    /// The inline content being built, opening an implicit paragraph in a tight list item.
    fn inline_target(&mut self, line: u32) -> Option<&mut Vec<Inline>> {
        let needs_paragraph = !matches!(
            self.stack.last(),
            Some(Frame::Paragraph { .. } | Frame::Heading { .. } | Frame::Table { .. })
        );
        if needs_paragraph {
            let reserved = self.reserve(line);
            self.stack.push(Frame::Paragraph {
                content: Vec::new(),
                implicit: true,
                reserved,
            });
        }
        match self.stack.last_mut() {
            Some(Frame::Paragraph { content, .. } | Frame::Heading { content, .. }) => {
                Some(content)
            }
            Some(Frame::Table { cell, .. }) => Some(cell),
            _ => None,
        }
    }

    fn push_inline(&mut self, inline: Inline, line: u32) {
        if let Some(target) = self.inline_target(line) {
            target.push(inline);
        }
    }

    fn push_text(&mut self, text: &str, code: bool, line: u32) {
        if let Some(
            Frame::Code {
                text: code_text, ..
            }
            | Frame::Html {
                text: code_text, ..
            },
        ) = self.stack.last_mut()
        {
            code_text.push_str(text);
            return;
        }
        let marks = self.marks(code);
        self.push_inline(Inline::marked(text, marks), line);
    }

    fn loss(&mut self, kind: LossKind, name: &str, line: u32, effect: &str) {
        self.losses
            .push(Loss::new(kind, name, format!("line {line}"), effect));
    }

    /// Opens a quote or list, or flattens it past the nesting limit.
    fn open_container(&mut self, frame: Frame, line: u32) {
        if self.depth() >= MAX_DEPTH {
            if !self.depth_reported {
                self.depth_reported = true;
                self.loss(
                    LossKind::Structure,
                    "nesting",
                    line,
                    "quotes and lists nested this deep are flattened into the enclosing one",
                );
            }
            self.stack.push(Frame::Flat);
        } else {
            self.reserve(line);
            self.stack.push(frame);
        }
    }

    /// Closes the innermost container frame and adds what it built to its parent.
    fn end_container(&mut self) {
        self.close_implicit();
        let Some(frame) = self.stack.pop() else {
            return;
        };
        match frame {
            Frame::Root(blocks) => {
                // Never closed early; put it back.
                self.stack.push(Frame::Root(blocks));
            }
            Frame::Quote(blocks) => self.push_block(Block::Quote(blocks)),
            Frame::List { start, items } => self.push_block(Block::List { start, items }),
            Frame::Item(blocks) => {
                if let Some(Frame::List { items, .. }) = self.stack.last_mut() {
                    items.push(blocks);
                } else {
                    for block in blocks {
                        self.push_block(block);
                    }
                }
            }
            Frame::Flat => {}
            Frame::Paragraph {
                content, reserved, ..
            } => self.finish_paragraph(content, reserved),
            Frame::Heading { level, content } => self.push_block(Block::Heading {
                level,
                content: normalize_inlines(content),
            }),
            Frame::Code { language, mut text } => {
                if text.ends_with('\n') {
                    text.pop();
                }
                self.push_block(Block::Code { language, text });
            }
            Frame::Html {
                text,
                line,
                reserved,
            } => self.finish_html(&text, line, reserved),
            Frame::Table { header, rows, .. } => self.push_block(Block::Table { header, rows }),
        }
    }

    fn finish_html(&mut self, text: &str, line: u32, reserved: usize) {
        let trimmed = text.trim();
        if trimmed.starts_with("<!--") && trimmed.ends_with("-->") {
            self.unreserve(reserved);
            self.loss(
                LossKind::Node,
                "html",
                line,
                "an HTML comment: dropped, Jira has none",
            );
            return;
        }
        self.loss(
            LossKind::Node,
            "html",
            line,
            "raw HTML is kept as plain text",
        );
        let mut content = Vec::new();
        for (i, l) in text.trim_end_matches('\n').split('\n').enumerate() {
            if i > 0 {
                content.push(Inline::Break);
            }
            content.push(Inline::plain(l));
        }
        let content = normalize_inlines(content);
        if content.is_empty() {
            self.unreserve(reserved);
        } else {
            self.push_block(Block::Paragraph(content));
        }
    }

    fn event(&mut self, event: Event<'_>, line: u32) {
        match event {
            Event::Start(tag) => self.start(tag, line),
            Event::End(tag) => self.end(tag),
            Event::Text(text) => self.push_text(&text, false, line),
            Event::Code(text) => self.push_text(&text, true, line),
            Event::InlineHtml(html) => self.inline_html(&html, line),
            Event::Html(html) => {
                if let Some(Frame::Html { text, .. }) = self.stack.last_mut() {
                    text.push_str(&html);
                } else {
                    self.inline_html(&html, line);
                }
            }
            Event::SoftBreak => self.push_text(" ", false, line),
            Event::HardBreak => self.push_inline(Inline::Break, line),
            Event::Rule => {
                self.close_implicit();
                self.reserve(line);
                self.push_block(Block::Rule);
            }
            Event::InlineMath(text) | Event::DisplayMath(text) | Event::FootnoteReference(text) => {
                self.push_text(&text, false, line);
            }
            Event::TaskListMarker(done) => {
                self.push_text(if done { "[x] " } else { "[ ] " }, false, line);
            }
        }
    }

    fn inline_html(&mut self, html: &str, line: u32) {
        if is_br(html) {
            self.push_inline(Inline::Break, line);
        } else {
            self.loss(
                LossKind::Node,
                "html",
                line,
                "inline HTML is kept as plain text",
            );
            self.push_text(html, false, line);
        }
    }

    fn start(&mut self, tag: Tag<'_>, line: u32) {
        match tag {
            Tag::Paragraph => {
                self.close_implicit();
                let reserved = self.reserve(line);
                self.stack.push(Frame::Paragraph {
                    content: Vec::new(),
                    implicit: false,
                    reserved,
                });
            }
            Tag::Heading { level, .. } => {
                self.close_implicit();
                self.reserve(line);
                self.stack.push(Frame::Heading {
                    level: heading_level(level),
                    content: Vec::new(),
                });
            }
            Tag::BlockQuote(_) => {
                self.close_implicit();
                self.open_container(Frame::Quote(Vec::new()), line);
            }
            Tag::CodeBlock(kind) => {
                self.close_implicit();
                self.reserve(line);
                let language = match kind {
                    CodeBlockKind::Fenced(info) => ir::normalize_language(Some(info.to_string())),
                    CodeBlockKind::Indented => None,
                };
                self.stack.push(Frame::Code {
                    language,
                    text: String::new(),
                });
            }
            Tag::HtmlBlock => {
                self.close_implicit();
                let reserved = self.reserve(line);
                self.stack.push(Frame::Html {
                    text: String::new(),
                    line,
                    reserved,
                });
            }
            Tag::List(start) => {
                self.close_implicit();
                self.open_container(
                    Frame::List {
                        start,
                        items: Vec::new(),
                    },
                    line,
                );
            }
            Tag::Item => {
                self.close_implicit();
                if matches!(self.stack.last(), Some(Frame::Flat)) {
                    self.stack.push(Frame::Flat);
                } else {
                    self.stack.push(Frame::Item(Vec::new()));
                }
            }
            Tag::Table(alignments) => {
                self.close_implicit();
                self.reserve(line);
                if alignments
                    .iter()
                    .any(|a| !matches!(a, pulldown_cmark::Alignment::None))
                {
                    self.loss(
                        LossKind::Attribute,
                        "table.alignment",
                        line,
                        "column alignment is dropped",
                    );
                }
                self.stack.push(Frame::Table {
                    header: Vec::new(),
                    rows: Vec::new(),
                    row: Vec::new(),
                    cell: Vec::new(),
                });
            }
            Tag::TableHead | Tag::TableRow => {
                if let Some(Frame::Table { row, .. }) = self.stack.last_mut() {
                    row.clear();
                }
            }
            Tag::TableCell => {
                if let Some(Frame::Table { cell, .. }) = self.stack.last_mut() {
                    cell.clear();
                }
            }
            Tag::Emphasis => self.em += 1,
            Tag::Strong => self.strong += 1,
            Tag::Strikethrough => self.strike += 1,
            Tag::Link {
                link_type,
                dest_url,
                title,
                ..
            } => {
                let href = if link_type == LinkType::Email {
                    format!("mailto:{dest_url}")
                } else {
                    dest_url.to_string()
                };
                self.links.push(Link {
                    href,
                    title: (!title.is_empty()).then(|| title.to_string()),
                });
            }
            Tag::Image {
                dest_url, title, ..
            } => {
                self.loss(
                    LossKind::Node,
                    "image",
                    line,
                    "written as a link to the image, its alt text as the link text",
                );
                self.links.push(Link {
                    href: dest_url.to_string(),
                    title: (!title.is_empty()).then(|| title.to_string()),
                });
            }
            // Not enabled: footnotes, definition lists, metadata, super- and subscript.
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph
            | TagEnd::Heading(_)
            | TagEnd::BlockQuote(_)
            | TagEnd::CodeBlock
            | TagEnd::HtmlBlock
            | TagEnd::List(_)
            | TagEnd::Item
            | TagEnd::Table => self.end_container(),
            TagEnd::TableHead => {
                if let Some(Frame::Table { header, row, .. }) = self.stack.last_mut() {
                    *header = std::mem::take(row);
                }
            }
            TagEnd::TableRow => {
                if let Some(Frame::Table { rows, row, .. }) = self.stack.last_mut() {
                    rows.push(std::mem::take(row));
                }
            }
            TagEnd::TableCell => {
                if let Some(Frame::Table { row, cell, .. }) = self.stack.last_mut() {
                    row.push(normalize_inlines(std::mem::take(cell)));
                }
            }
            TagEnd::Emphasis => self.em = self.em.saturating_sub(1),
            TagEnd::Strong => self.strong = self.strong.saturating_sub(1),
            TagEnd::Strikethrough => self.strike = self.strike.saturating_sub(1),
            TagEnd::Link | TagEnd::Image => {
                self.links.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn round_trip(markdown: &str) -> String {
        let parsed = parse(markdown);
        render(&parsed.blocks, None).0
    }

    #[test]
    fn escapes_read_back_as_text() {
        let text = "*a* _b_ [c](d) `e` <f> # g | h ~i~ \\ &amp; 1. x";
        let blocks = vec![Block::Paragraph(vec![Inline::plain(text)])];
        let (md, losses) = render(&blocks, None);
        assert!(losses.is_empty());
        assert_eq!(parse(&md).blocks, blocks, "{md}");
    }

    #[test]
    fn common_markdown_is_stable() {
        for md in [
            "# Title\n\nSome **bold** and *em* and ~~gone~~ and `code` and [a link](https://x.test).",
            "- a\n- b\n  - c\n\n1. one\n2. two",
            "> quote\n>\n> - item",
            "```rust\nfn main() {}\n```",
            "| a | b |\n| --- | --- |\n| 1 | 2<br>3 |",
            "line\\\nbreak",
        ] {
            assert_eq!(round_trip(md), md);
        }
    }
}

//! Jira wiki markup (Jira Server and Data Center): reading it into the model (reporting what
//! the model cannot hold) and writing the model as wiki markup.
//!
//! Supported: `h1.`–`h6.` headings; `*strong*`, `_emphasis_`, `-deleted-` and their braced
//! forms (`{*}`) for use inside words; `{{monospace}}`; `{code:lang}…{code}` and
//! `{noformat}…{noformat}`; `[text|url]` and `[url]`; `*` and `#` lists (and `-` bullets),
//! nested by repeating the marker (`**`, `#*`); `bq.` and `{quote}…{quote}`; `----`; tables
//! with `||header||` and `|cell|` rows; line breaks (a new line inside a paragraph, or `\\`);
//! backslash escapes. Reported as losses: `{panel}`, `{color}`, `[~user]` mentions,
//! `[^file]` attachment links, `!image.png!` embeds, `+inserted+`, `^super^`, `~sub~`,
//! `??citation??`, `{code}` parameters other than the language, and every other macro.
//!
//! Effects follow Jira's rule: a delimiter opens where it is not preceded by a letter or
//! digit and is followed by a non-space, and closes where it is preceded by a non-space and
//! not followed by a letter or digit; the braced forms always work.

use std::collections::HashMap;

use super::ir::{
    self, Block, BlockCounter, Inline, Link, MAX_DEPTH, Marks, blocks_to_inlines, normalize_blocks,
};
use super::{Loss, LossKind};

// ---------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------

/// Parses wiki markup into the model.
pub(crate) fn parse(wiki: &str) -> (Vec<Block>, Vec<Loss>) {
    let src = wiki.replace("\r\n", "\n").replace('\r', "\n");
    let mut parser = WikiParser::new(&src);
    let mut blocks = Vec::new();
    parser.blocks(0, src.len(), &mut blocks);
    (normalize_blocks(blocks), parser.losses)
}

struct WikiParser<'a> {
    src: &'a str,
    line_starts: Vec<usize>,
    /// Positions of every parameterless macro tag `{name}`, by lower-case name: the closing
    /// tags.
    closings: HashMap<String, Vec<usize>>,
    losses: Vec<Loss>,
    depth: usize,
    /// A search for a closing `]` (or `}}`) that failed ran up to here: searches starting
    /// before it fail too, which keeps runs of `[` (or `{{`) linear.
    bracket_fail_until: usize,
    mono_fail_until: usize,
}

/// A macro tag `{name}` or `{name:params}`.
struct MacroTag<'a> {
    name: String,
    params: Option<&'a str>,
    /// Byte offset just after the closing `}`.
    end: usize,
}

/// A delimiter of a text effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Effect {
    Strong,
    Emphasis,
    Deleted,
    Inserted,
    Superscript,
    Subscript,
    Citation,
}

impl Effect {
    fn from_char(c: char) -> Option<Self> {
        Some(match c {
            '*' => Effect::Strong,
            '_' => Effect::Emphasis,
            '-' => Effect::Deleted,
            '+' => Effect::Inserted,
            '^' => Effect::Superscript,
            '~' => Effect::Subscript,
            _ => return None,
        })
    }

    /// The loss name of an effect the model cannot hold.
    fn lost(self) -> Option<&'static str> {
        match self {
            Effect::Strong | Effect::Emphasis | Effect::Deleted => None,
            Effect::Inserted => Some("+inserted+"),
            Effect::Superscript => Some("^superscript^"),
            Effect::Subscript => Some("~subscript~"),
            Effect::Citation => Some("??citation??"),
        }
    }
}

/// A token of inline markup.
enum Tok {
    Text(String),
    Break,
    Code(String),
    /// Content already parsed (a link and its text, a mention's text).
    Inlines(Vec<Inline>),
    Delim {
        effect: Effect,
        open: bool,
        close: bool,
        raw: String,
        at: usize,
    },
}

fn is_alnum(c: Option<char>) -> bool {
    c.is_some_and(char::is_alphanumeric)
}

fn is_space(c: Option<char>) -> bool {
    c.is_some_and(char::is_whitespace)
}

fn trim_blank(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

/// The known block macros.
const BLOCK_MACROS: &[&str] = &["code", "noformat", "quote", "panel"];

/// `h1.` to `h6.` at the start of a trimmed line: the level and the length of the prefix.
fn heading_prefix(line: &str) -> Option<(u8, usize)> {
    let bytes = line.as_bytes();
    let level = match bytes {
        [b'h', d @ b'1'..=b'6', b'.', ..] => d - b'0',
        _ => return None,
    };
    match bytes.get(3) {
        None | Some(b' ' | b'\t') => Some((level, 3)),
        _ => None,
    }
}

/// `bq.` at the start of a trimmed line: the length of the prefix.
fn quote_prefix(line: &str) -> Option<usize> {
    let rest = line.strip_prefix("bq.")?;
    match rest.as_bytes().first() {
        None | Some(b' ' | b'\t') => Some(3),
        _ => None,
    }
}

/// A list marker at the start of a trimmed line: the marker and the offset of the content.
fn list_marker(line: &str) -> Option<(&str, usize)> {
    let marker_len = line
        .bytes()
        .take_while(|b| matches!(b, b'*' | b'#'))
        .count();
    let (marker, rest) = if marker_len > 0 {
        line.split_at(marker_len)
    } else if line.starts_with('-') && !line.starts_with("--") {
        line.split_at(1)
    } else {
        return None;
    };
    match rest.as_bytes().first() {
        None => Some((marker, marker.len())),
        Some(b' ' | b'\t') => Some((marker, marker.len() + 1)),
        _ => None,
    }
}

impl<'a> WikiParser<'a> {
    fn new(src: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        let mut closings: HashMap<String, Vec<usize>> = HashMap::new();
        for (pos, _) in src.match_indices('{') {
            if pos > 0 && src.as_bytes().get(pos - 1) == Some(&b'\\') {
                continue;
            }
            if let Some(tag) = macro_tag(src, pos)
                && tag.params.is_none()
            {
                closings.entry(tag.name).or_default().push(pos);
            }
        }
        Self {
            src,
            line_starts,
            closings,
            losses: Vec::new(),
            depth: 0,
            bracket_fail_until: 0,
            mono_fail_until: 0,
        }
    }

    fn line_of(&self, offset: usize) -> String {
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        };
        format!("line {line}")
    }

    fn loss(&mut self, kind: LossKind, name: &str, offset: usize, effect: &str) {
        let at = self.line_of(offset);
        self.losses.push(Loss::new(kind, name, at, effect));
    }

    /// The first closing tag `{name}` at or after `from` and before `end`.
    fn closing(&self, name: &str, from: usize, end: usize) -> Option<usize> {
        let positions = self.closings.get(name)?;
        let i = positions.partition_point(|&p| p < from);
        positions.get(i).copied().filter(|&p| p < end)
    }

    fn text(&self, start: usize, end: usize) -> &'a str {
        self.src.get(start..end).unwrap_or("")
    }

    /// The end of the line that starts at `pos` (not beyond `end`).
    fn line_end(&self, pos: usize, end: usize) -> usize {
        self.text(pos, end).find('\n').map_or(end, |i| pos + i)
    }

    /// Whether a (trimmed) line starts a block other than a paragraph.
    fn starts_block(&self, line: &str, at: usize, end: usize) -> bool {
        heading_prefix(line).is_some()
            || quote_prefix(line).is_some()
            || line == "----"
            || list_marker(line).is_some()
            || line.starts_with('|')
            || self.block_macro(at, end).is_some()
    }

    /// A block macro tag at `at`: a known block macro, or an unknown one that is closed later.
    fn block_macro(&self, at: usize, end: usize) -> Option<MacroTag<'a>> {
        if self.src.as_bytes().get(at) != Some(&b'{') {
            return None;
        }
        let tag = macro_tag(self.src, at)?;
        if BLOCK_MACROS.contains(&tag.name.as_str()) {
            return Some(tag);
        }
        if matches!(tag.name.as_str(), "color" | "anchor") {
            return None;
        }
        self.closing(&tag.name, tag.end, end).map(|_| tag)
    }

    fn blocks(&mut self, start: usize, end: usize, out: &mut Vec<Block>) {
        let mut pos = start;
        while pos < end {
            let line_end = self.line_end(pos, end);
            let next = if line_end < end { line_end + 1 } else { end };
            let line = self.text(pos, line_end);
            let trimmed = trim_blank(line);
            if trimmed.is_empty() {
                pos = next;
                continue;
            }
            let lead = line.len() - line.trim_start_matches([' ', '\t']).len();
            let at = pos + lead;
            let content_end = at + trimmed.len();
            if let Some((level, prefix)) = heading_prefix(trimmed) {
                let content = self.inline(at + prefix, content_end);
                out.push(Block::Heading { level, content });
                pos = next;
            } else if let Some(prefix) = quote_prefix(trimmed) {
                let content = self.inline(at + prefix, content_end);
                out.push(Block::Quote(vec![Block::Paragraph(content)]));
                pos = next;
            } else if trimmed == "----" {
                out.push(Block::Rule);
                pos = next;
            } else if let Some(tag) = self.block_macro(at, end) {
                pos = self.macro_block(at, &tag, end, out);
            } else if list_marker(trimmed).is_some() {
                pos = self.list(pos, end, out);
            } else if trimmed.starts_with('|') {
                pos = self.table(pos, end, out);
            } else {
                pos = self.paragraph(pos, end, out);
            }
        }
    }

    /// A paragraph: lines up to a blank line or the start of another block.
    fn paragraph(&mut self, pos: usize, end: usize, out: &mut Vec<Block>) -> usize {
        let first_end = self.line_end(pos, end);
        let mut last_end = first_end;
        let mut next = if first_end < end { first_end + 1 } else { end };
        while next < end {
            let line_end = self.line_end(next, end);
            let line = self.text(next, line_end);
            let trimmed = trim_blank(line);
            let lead = line.len() - line.trim_start_matches([' ', '\t']).len();
            if trimmed.is_empty() || self.starts_block(trimmed, next + lead, end) {
                break;
            }
            last_end = line_end;
            next = if line_end < end { line_end + 1 } else { end };
        }
        let content = self.inline(pos, last_end);
        out.push(Block::Paragraph(content));
        next
    }

    /// A block macro and its body; returns where parsing goes on.
    fn macro_block(
        &mut self,
        at: usize,
        tag: &MacroTag<'a>,
        end: usize,
        out: &mut Vec<Block>,
    ) -> usize {
        let name = tag.name.as_str();
        let close = self.closing(name, tag.end, end);
        let body_end = close.unwrap_or(end);
        let after = close.map_or(end, |c| c + name.len() + 2);
        match name {
            "code" | "noformat" => {
                let mut language = None;
                if let Some(params) = tag.params {
                    let mut dropped = Vec::new();
                    for (k, param) in params.split('|').enumerate() {
                        let param = param.trim();
                        match param.split_once('=') {
                            None if k == 0 && name == "code" && !param.is_empty() => {
                                language = Some(param.to_string());
                            }
                            Some(("language" | "lang", value)) if name == "code" => {
                                language = Some(value.trim().to_string());
                            }
                            _ if param.is_empty() => {}
                            _ => dropped.push(param.to_string()),
                        }
                    }
                    if !dropped.is_empty() {
                        self.loss(
                            LossKind::Attribute,
                            &format!("{{{name}}} parameters"),
                            at,
                            &format!("dropped: {}", dropped.join(", ")),
                        );
                    }
                }
                let mut body = self.text(tag.end, body_end);
                body = body.strip_prefix('\n').unwrap_or(body);
                body = body.strip_suffix('\n').unwrap_or(body);
                out.push(Block::Code {
                    language,
                    text: body.to_string(),
                });
            }
            "quote" | "panel" => {
                let mut inner = Vec::new();
                if name == "panel" {
                    self.loss(
                        LossKind::Node,
                        "{panel}",
                        at,
                        "a panel: its content is written as a blockquote",
                    );
                    let title = tag.params.and_then(|p| {
                        p.split('|')
                            .filter_map(|kv| kv.split_once('='))
                            .find(|(k, _)| k.trim() == "title")
                            .map(|(_, v)| v.trim().to_string())
                    });
                    if let Some(title) = title.filter(|t| !t.is_empty()) {
                        inner.push(Block::Paragraph(vec![Inline::marked(
                            title,
                            Marks {
                                strong: true,
                                ..Marks::default()
                            },
                        )]));
                    }
                } else if tag.params.is_some() {
                    self.loss(LossKind::Attribute, "{quote} parameters", at, "dropped");
                }
                self.nested(tag.end, body_end, &mut inner);
                out.push(Block::Quote(inner));
            }
            other => {
                self.loss(
                    LossKind::Node,
                    &format!("{{{other}}}"),
                    at,
                    "a macro this converter does not know: its content is kept, the macro dropped",
                );
                self.nested(tag.end, body_end, out);
            }
        }
        // Go on after the closing tag: with the next line when the rest of its line is blank.
        let rest_end = self.line_end(after.min(end), end);
        if trim_blank(self.text(after.min(end), rest_end)).is_empty() {
            if rest_end < end { rest_end + 1 } else { end }
        } else {
            after
        }
    }

    /// Blocks nested in a macro body, flattened past the nesting limit.
    fn nested(&mut self, start: usize, end: usize, out: &mut Vec<Block>) {
        if self.depth >= MAX_DEPTH {
            self.loss(
                LossKind::Structure,
                "nesting",
                start,
                "macros nested this deep: the content is kept as one paragraph",
            );
            let content = self.inline(start, end);
            out.push(Block::Paragraph(content));
            return;
        }
        self.depth += 1;
        self.blocks(start, end, out);
        self.depth -= 1;
    }

    /// A list: consecutive marker lines (and continuation lines).
    fn list(&mut self, pos: usize, end: usize, out: &mut Vec<Block>) -> usize {
        struct ItemBuild {
            content: Option<(usize, usize)>,
            nested: Vec<Block>,
        }
        struct Level {
            ordered: bool,
            items: Vec<ItemBuild>,
        }
        fn finish(parser: &mut WikiParser<'_>, level: Level) -> Block {
            let items = level
                .items
                .into_iter()
                .map(|item| {
                    let mut blocks = Vec::new();
                    if let Some((start, end)) = item.content {
                        blocks.push(Block::Paragraph(parser.inline(start, end)));
                    }
                    blocks.extend(item.nested);
                    blocks
                })
                .collect();
            Block::List {
                start: level.ordered.then_some(1),
                items,
            }
        }
        fn pop(parser: &mut WikiParser<'_>, stack: &mut Vec<Level>, out: &mut Vec<Block>) {
            if let Some(level) = stack.pop() {
                let block = finish(parser, level);
                match stack.last_mut().and_then(|l| l.items.last_mut()) {
                    Some(parent) => parent.nested.push(block),
                    None => out.push(block),
                }
            }
        }

        let mut stack: Vec<Level> = Vec::new();
        let mut cursor = pos;
        while cursor < end {
            let line_end = self.line_end(cursor, end);
            let next = if line_end < end { line_end + 1 } else { end };
            let line = self.text(cursor, line_end);
            let trimmed = trim_blank(line);
            let lead = line.len() - line.trim_start_matches([' ', '\t']).len();
            let at = cursor + lead;
            if trimmed.is_empty() {
                break;
            }
            let Some((marker, offset)) = list_marker(trimmed) else {
                if self.starts_block(trimmed, at, end) {
                    break;
                }
                // A continuation line: more of the last item, after a line break.
                let deepest = stack.last_mut().and_then(|l| l.items.last_mut());
                match deepest {
                    Some(item) => {
                        let content_end = at + trimmed.len();
                        item.content = Some(match item.content {
                            Some((start, _)) => (start, content_end),
                            None => (at, content_end),
                        });
                    }
                    None => break,
                }
                cursor = next;
                continue;
            };
            let kinds: Vec<bool> = marker.chars().map(|c| c == '#').collect();
            let depth = kinds.len().min(MAX_DEPTH);
            let content_start = at + offset;
            let content_end = at + trimmed.len();
            let content = (content_start < content_end).then_some((content_start, content_end));
            let keep = stack
                .iter()
                .zip(&kinds)
                .take_while(|(level, ordered)| level.ordered == **ordered)
                .count()
                .min(depth);
            while stack.len() > keep {
                pop(self, &mut stack, out);
            }
            if stack.len() == depth {
                if let Some(level) = stack.last_mut() {
                    level.items.push(ItemBuild {
                        content,
                        nested: Vec::new(),
                    });
                }
            } else {
                while stack.len() < depth {
                    let ordered = kinds.get(stack.len()).copied().unwrap_or(false);
                    let last = stack.len() + 1 == depth;
                    stack.push(Level {
                        ordered,
                        items: vec![ItemBuild {
                            content: if last { content } else { None },
                            nested: Vec::new(),
                        }],
                    });
                }
            }
            cursor = next;
        }
        while !stack.is_empty() {
            pop(self, &mut stack, out);
        }
        cursor
    }

    /// A table: consecutive lines starting with `|`.
    fn table(&mut self, pos: usize, end: usize, out: &mut Vec<Block>) -> usize {
        let mut rows: Vec<Vec<(bool, usize, usize)>> = Vec::new();
        let mut cursor = pos;
        let start_line = pos;
        while cursor < end {
            let line_end = self.line_end(cursor, end);
            let next = if line_end < end { line_end + 1 } else { end };
            let line = self.text(cursor, line_end);
            let trimmed = trim_blank(line);
            if !trimmed.starts_with('|') {
                break;
            }
            let lead = line.len() - line.trim_start_matches([' ', '\t']).len();
            let cells = split_row(trimmed, cursor + lead);
            if !cells.is_empty() {
                rows.push(cells);
            }
            cursor = next;
        }
        let mut grid: Vec<Vec<Vec<Inline>>> = Vec::new();
        for (r, row) in rows.iter().enumerate() {
            let mut cells = Vec::new();
            for &(header, start, stop) in row {
                if r == 0 && !header {
                    self.loss(
                        LossKind::Structure,
                        "table header row",
                        start,
                        "a first-row cell that is not a header (|cell| instead of ||cell||): Markdown tables always start with a header row",
                    );
                }
                if r > 0 && header {
                    self.loss(
                        LossKind::Structure,
                        "table header cell",
                        start,
                        "a header cell below the first row: written as an ordinary cell",
                    );
                }
                cells.push(self.inline(start, stop));
            }
            grid.push(cells);
        }
        let width = grid.iter().map(Vec::len).max().unwrap_or(0);
        if width > 0 {
            if grid.iter().any(|row| row.len() != width) {
                self.loss(
                    LossKind::Structure,
                    "table row",
                    start_line,
                    "rows of unequal length: padded with empty cells",
                );
            }
            let mut rows = grid.into_iter();
            let header = rows.next().unwrap_or_default();
            out.push(Block::Table {
                header,
                rows: rows.collect(),
            });
        }
        cursor
    }

    /// Parses inline markup between two byte offsets.
    fn inline(&mut self, start: usize, end: usize) -> Vec<Inline> {
        if self.depth >= MAX_DEPTH {
            return vec![Inline::plain(self.text(start, end))];
        }
        self.depth += 1;
        let toks = self.tokenize(start, end);
        let mut out = Vec::new();
        let closers = closers(&toks);
        self.build(&toks, &closers, 0, toks.len(), &Marks::default(), &mut out);
        self.depth -= 1;
        out
    }

    #[allow(clippy::too_many_lines)]
    fn tokenize(&mut self, start: usize, end: usize) -> Vec<Tok> {
        let s = self.text(start, end);
        let mut toks: Vec<Tok> = Vec::new();
        let mut text = String::new();
        let mut open_macros: Vec<String> = Vec::new();
        let flush = |text: &mut String, toks: &mut Vec<Tok>| {
            if !text.is_empty() {
                toks.push(Tok::Text(std::mem::take(text)));
            }
        };
        let char_at = |i: usize| s.get(i..).and_then(|r| r.chars().next());
        let char_before = |i: usize| s.get(..i).and_then(|r| r.chars().next_back());
        let mut i = 0;
        while let Some(c) = char_at(i) {
            let len = c.len_utf8();
            match c {
                '\n' => {
                    flush(&mut text, &mut toks);
                    toks.push(Tok::Break);
                    i += 1;
                }
                '\\' => match char_at(i + 1) {
                    Some('\\') => {
                        flush(&mut text, &mut toks);
                        toks.push(Tok::Break);
                        i += 2;
                    }
                    Some(n) if !n.is_alphanumeric() && !n.is_whitespace() => {
                        text.push(n);
                        i += 1 + n.len_utf8();
                    }
                    _ => {
                        text.push('\\');
                        i += 1;
                    }
                },
                '&' => {
                    if let Some((decoded, used)) = entity(s.get(i..).unwrap_or("")) {
                        text.push(decoded);
                        i += used;
                    } else {
                        text.push('&');
                        i += 1;
                    }
                }
                '{' => {
                    let rest = s.get(i..).unwrap_or("");
                    if rest.starts_with("{{") {
                        let found = if start + i < self.mono_fail_until {
                            None
                        } else {
                            match monospace(rest) {
                                Ok(found) => Some(found),
                                Err(Unclosed(true)) => {
                                    let stop = rest.find('\n').unwrap_or(rest.len());
                                    self.mono_fail_until = start + i + stop;
                                    None
                                }
                                Err(Unclosed(false)) => None,
                            }
                        };
                        if let Some((code, used)) = found {
                            flush(&mut text, &mut toks);
                            toks.push(Tok::Code(code));
                            i += used;
                        } else {
                            text.push_str("{{");
                            i += 2;
                        }
                        continue;
                    }
                    if let Some((effect, used)) = braced_effect(rest) {
                        flush(&mut text, &mut toks);
                        toks.push(Tok::Delim {
                            effect,
                            open: true,
                            close: true,
                            raw: rest.get(..used).unwrap_or("").to_string(),
                            at: start + i,
                        });
                        i += used;
                        continue;
                    }
                    let Some(tag) = macro_tag(s, i) else {
                        text.push('{');
                        i += 1;
                        continue;
                    };
                    flush(&mut text, &mut toks);
                    let at = start + i;
                    match tag.name.as_str() {
                        "code" | "noformat" => {
                            let body_start = start + tag.end;
                            let close = self.closing(&tag.name, body_start, end);
                            let body = self.text(body_start, close.unwrap_or(end));
                            if tag
                                .params
                                .is_some_and(|p| p.contains('|') || p.contains('='))
                            {
                                self.loss(
                                    LossKind::Attribute,
                                    &format!("{{{}}} parameters", tag.name),
                                    at,
                                    "dropped",
                                );
                            }
                            toks.push(Tok::Code(body.to_string()));
                            i = close.map_or(end, |c| c + tag.name.len() + 2) - start;
                        }
                        name => {
                            let closes = tag.params.is_none()
                                && open_macros.last().is_some_and(|open| open == name);
                            if closes {
                                open_macros.pop();
                            } else {
                                let (kind, effect) = if name == "color" {
                                    (LossKind::Mark, "the text colour is dropped, the text kept")
                                } else {
                                    (
                                        LossKind::Node,
                                        "a macro inside a paragraph: dropped, the text around it kept",
                                    )
                                };
                                self.loss(kind, &format!("{{{name}}}"), at, effect);
                                if self.closing(name, start + tag.end, end).is_some() {
                                    open_macros.push(name.to_string());
                                }
                            }
                            i = tag.end;
                        }
                    }
                }
                '[' => match self.link(start, i, end) {
                    Some((tok, used)) => {
                        flush(&mut text, &mut toks);
                        toks.push(tok);
                        i += used;
                    }
                    None => {
                        text.push('[');
                        i += 1;
                    }
                },
                '!' => match embed(s.get(i..).unwrap_or("")) {
                    Some((name, used)) => {
                        self.loss(
                            LossKind::Node,
                            "!attachment!",
                            start + i,
                            &format!("the embedded file or image {name}: dropped, Markdown cannot embed it"),
                        );
                        i += used;
                    }
                    None => {
                        text.push('!');
                        i += 1;
                    }
                },
                '?' if char_at(i + 1) == Some('?') => {
                    flush(&mut text, &mut toks);
                    let prev = char_before(i);
                    let next = char_at(i + 2);
                    toks.push(Tok::Delim {
                        effect: Effect::Citation,
                        open: !is_alnum(prev) && next.is_some_and(|n| !n.is_whitespace()),
                        close: prev.is_some_and(|p| !p.is_whitespace()) && !is_alnum(next),
                        raw: "??".to_string(),
                        at: start + i,
                    });
                    i += 2;
                }
                c => {
                    if let Some(effect) = Effect::from_char(c) {
                        let prev = char_before(i);
                        let next = char_at(i + 1);
                        // A run of the same character (`--`, `**`) is text: dashes, rules.
                        let run = prev == Some(c) || next == Some(c);
                        let open = !is_alnum(prev) && next.is_some_and(|n| !n.is_whitespace());
                        let close = prev.is_some_and(|p| !p.is_whitespace()) && !is_alnum(next);
                        if !run && (open || close) {
                            flush(&mut text, &mut toks);
                            toks.push(Tok::Delim {
                                effect,
                                open,
                                close,
                                raw: c.to_string(),
                                at: start + i,
                            });
                            i += len;
                            continue;
                        }
                    }
                    text.push(c);
                    i += len;
                }
            }
        }
        flush(&mut text, &mut toks);
        toks
    }

    /// A link at `s[i]` (a `[`): its token and length.
    fn link(&mut self, start: usize, i: usize, end: usize) -> Option<(Tok, usize)> {
        let s = self.text(start, end);
        let rest = s.get(i..)?;
        if start + i < self.bracket_fail_until {
            return None;
        }
        // The closing bracket on the same line, skipping escaped characters.
        let mut close = None;
        let mut stop = rest.len();
        let mut chars = rest.char_indices().skip(1);
        while let Some((k, c)) = chars.next() {
            match c {
                '\\' if !rest.get(k + 1..).is_some_and(|r| r.starts_with('\n')) => {
                    chars.next();
                }
                ']' => {
                    close = Some(k);
                    break;
                }
                '\n' => {
                    stop = k;
                    break;
                }
                _ => {}
            }
        }
        let Some(close) = close else {
            self.bracket_fail_until = start + i + stop;
            return None;
        };
        let inner = rest.get(1..close)?;
        if trim_blank(inner).is_empty() {
            return None;
        }
        let at = start + i;
        let inner_start = at + 1;
        let used = close + 1;
        let bar = unescaped_bar(inner);
        let (alias, target) = match bar {
            Some(b) => (
                Some((inner_start, inner_start + b)),
                inner.get(b + 1..).unwrap_or(""),
            ),
            None => (None, inner),
        };
        let target = match unescaped_bar(target) {
            Some(b) => {
                self.loss(
                    LossKind::Attribute,
                    "link tooltip",
                    at,
                    "the link's tooltip is dropped",
                );
                target.get(..b).unwrap_or("")
            }
            None => target,
        };
        let target = trim_blank(target);
        let alias_text = |parser: &Self| {
            alias
                .map(|(a, b)| trim_blank(parser.text(a, b)).to_string())
                .filter(|t| !t.is_empty())
        };
        if let Some(user) = target.strip_prefix('~') {
            let text = alias_text(self).unwrap_or_else(|| format!("@{user}"));
            self.loss(
                LossKind::Node,
                "[~mention]",
                at,
                &format!("a mention of {user}: written as plain text"),
            );
            return Some((Tok::Inlines(vec![Inline::plain(text)]), used));
        }
        if let Some(file) = target.strip_prefix('^') {
            let text = alias_text(self).unwrap_or_else(|| file.to_string());
            self.loss(
                LossKind::Node,
                "[^attachment]",
                at,
                &format!("a link to the attachment {file}: written as plain text"),
            );
            return Some((Tok::Inlines(vec![Inline::plain(text)]), used));
        }
        if target.is_empty() {
            return None;
        }
        let link = Link {
            href: target.to_string(),
            title: None,
        };
        let content = match alias {
            Some((a, b)) if a < b => self.inline(a, b),
            _ => vec![Inline::plain(target)],
        };
        let content = content
            .into_iter()
            .map(|inline| match inline {
                Inline::Text { text, mut marks } => {
                    marks.link = Some(link.clone());
                    Inline::Text { text, marks }
                }
                Inline::Break => Inline::Break,
            })
            .collect();
        Some((Tok::Inlines(content), used))
    }

    /// Turns tokens `lo..hi` into inline content with `marks`, matching effect delimiters.
    fn build(
        &mut self,
        toks: &[Tok],
        closers: &HashMap<Effect, Vec<usize>>,
        lo: usize,
        hi: usize,
        marks: &Marks,
        out: &mut Vec<Inline>,
    ) {
        let mut i = lo;
        while i < hi {
            let Some(tok) = toks.get(i) else {
                break;
            };
            match tok {
                Tok::Text(text) => out.push(Inline::marked(text.clone(), marks.clone())),
                Tok::Break => out.push(Inline::Break),
                Tok::Code(text) => {
                    let mut m = marks.clone();
                    m.code = true;
                    out.push(Inline::marked(text.clone(), m));
                }
                Tok::Inlines(inlines) => {
                    for inline in inlines {
                        out.push(match inline {
                            Inline::Text { text, marks: inner } => {
                                Inline::marked(text.clone(), union(marks, inner))
                            }
                            Inline::Break => Inline::Break,
                        });
                    }
                }
                Tok::Delim {
                    effect,
                    open,
                    raw,
                    at,
                    ..
                } => {
                    let matched = if *open {
                        closers.get(effect).and_then(|list| {
                            let k = list.partition_point(|&j| j <= i + 1);
                            list.get(k).copied().filter(|&j| j < hi)
                        })
                    } else {
                        None
                    };
                    if let Some(j) = matched {
                        let mut inner = marks.clone();
                        match effect {
                            Effect::Strong => inner.strong = true,
                            Effect::Emphasis => inner.em = true,
                            Effect::Deleted => inner.strike = true,
                            other => {
                                if let Some(name) = other.lost() {
                                    self.loss(
                                        LossKind::Mark,
                                        name,
                                        *at,
                                        "the effect is dropped, the text kept",
                                    );
                                }
                            }
                        }
                        self.build(toks, closers, i + 1, j, &inner, out);
                        i = j + 1;
                        continue;
                    }
                    out.push(Inline::marked(raw.clone(), marks.clone()));
                }
            }
            i += 1;
        }
    }
}

/// The token indices of closing delimiters, by effect, in order.
fn closers(toks: &[Tok]) -> HashMap<Effect, Vec<usize>> {
    let mut map: HashMap<Effect, Vec<usize>> = HashMap::new();
    for (i, tok) in toks.iter().enumerate() {
        if let Tok::Delim {
            effect,
            close: true,
            ..
        } = tok
        {
            map.entry(*effect).or_default().push(i);
        }
    }
    map
}

fn union(outer: &Marks, inner: &Marks) -> Marks {
    Marks {
        strong: outer.strong || inner.strong,
        em: outer.em || inner.em,
        strike: outer.strike || inner.strike,
        code: outer.code || inner.code,
        link: inner.link.clone().or_else(|| outer.link.clone()),
    }
}

/// The byte offset of the first `|` not escaped by a backslash.
fn unescaped_bar(s: &str) -> Option<usize> {
    let mut chars = s.char_indices();
    while let Some((k, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '|' => return Some(k),
            _ => {}
        }
    }
    None
}

/// A macro tag `{name}` or `{name:params}` at byte `pos` of `src`.
fn macro_tag(src: &str, pos: usize) -> Option<MacroTag<'_>> {
    let rest = src.get(pos..)?.strip_prefix('{')?;
    let name_len = rest
        .char_indices()
        .find(|(k, c)| !(c.is_ascii_alphabetic() || (*k > 0 && c.is_ascii_digit())))
        .map_or(rest.len(), |(k, _)| k);
    if name_len == 0 {
        return None;
    }
    let name = rest.get(..name_len)?.to_ascii_lowercase();
    let after = rest.get(name_len..)?;
    if let Some(tail) = after.strip_prefix('}') {
        let _ = tail;
        return Some(MacroTag {
            name,
            params: None,
            end: pos + 1 + name_len + 1,
        });
    }
    let params_src = after.strip_prefix(':')?;
    let close = params_src.find(['}', '\n', '{'])?;
    if params_src.as_bytes().get(close) != Some(&b'}') {
        return None;
    }
    Some(MacroTag {
        name,
        params: params_src.get(..close),
        end: pos + 1 + name_len + 1 + close + 1,
    })
}

/// `{*}`-style delimiters: the effect and the length.
fn braced_effect(rest: &str) -> Option<(Effect, usize)> {
    if rest.starts_with("{??}") {
        return Some((Effect::Citation, 4));
    }
    let mut chars = rest.chars();
    chars.next();
    let effect = Effect::from_char(chars.next()?)?;
    (chars.next() == Some('}')).then_some((effect, 3))
}

/// Why `{{` starts no monospace text: `Unclosed(true)` when no `}}` follows on its line.
struct Unclosed(bool);

/// `{{monospace}}`: its text (escapes resolved) and length.
fn monospace(rest: &str) -> Result<(String, usize), Unclosed> {
    let body = rest.get(2..).ok_or(Unclosed(true))?;
    let mut text = String::new();
    let mut chars = body.char_indices();
    while let Some((k, c)) = chars.next() {
        match c {
            '\n' => return Err(Unclosed(true)),
            '\\' => match body.get(k + 1..).and_then(|r| r.chars().next()) {
                Some(n) if !n.is_alphanumeric() && !n.is_whitespace() && n != '\\' => {
                    text.push(n);
                    chars.next();
                }
                _ => text.push('\\'),
            },
            '&' => {
                if let Some((decoded, used)) = entity(body.get(k..).unwrap_or("")) {
                    text.push(decoded);
                    for _ in 1..used {
                        chars.next();
                    }
                } else {
                    text.push('&');
                }
            }
            '}' if body.get(k..).is_some_and(|r| r.starts_with("}}")) => {
                if text.is_empty() {
                    return Err(Unclosed(false));
                }
                return Ok((text, 2 + k + 2));
            }
            c => text.push(c),
        }
    }
    Err(Unclosed(true))
}

/// `!file.png!` or `!file.png|thumbnail!`: the file name and the length.
fn embed(rest: &str) -> Option<(String, usize)> {
    let body = rest.get(1..)?;
    let close = body.find(['!', '\n'])?;
    if body.as_bytes().get(close) != Some(&b'!') {
        return None;
    }
    let inner = body.get(..close)?;
    let first = inner.chars().next()?;
    let last = inner.chars().next_back()?;
    if first.is_whitespace() || last.is_whitespace() {
        return None;
    }
    let name = inner.split('|').next().unwrap_or(inner).to_string();
    Some((name, close + 2))
}

/// A numeric character reference `&#NN;` or `&#xHH;`: the character and the length.
fn entity(rest: &str) -> Option<(char, usize)> {
    let body = rest.strip_prefix("&#")?;
    let (digits, radix, offset) = match body.strip_prefix(['x', 'X']) {
        Some(hex) => (hex, 16, 3),
        None => (body, 10, 2),
    };
    let len = digits.find(';')?;
    if len == 0 || len > 7 {
        return None;
    }
    let number = u32::from_str_radix(digits.get(..len)?, radix).ok()?;
    let c = char::from_u32(number).filter(|c| *c != '\0')?;
    Some((c, offset + len + 1))
}

/// Splits a table row into cells: whether each is a header, and its byte range.
fn split_row(line: &str, base: usize) -> Vec<(bool, usize, usize)> {
    let bytes = line.as_bytes();
    let mut cells = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        // At a delimiter.
        let header = bytes.get(i + 1) == Some(&b'|');
        let start = i + if header { 2 } else { 1 };
        let mut k = start;
        let mut brackets = 0usize;
        while let Some(&b) = bytes.get(k) {
            match b {
                b'\\' => k += 1,
                b'[' => brackets += 1,
                b']' => brackets = brackets.saturating_sub(1),
                b'|' if brackets == 0 => break,
                _ => {}
            }
            k += 1;
        }
        let stop = k.min(bytes.len());
        let content = line.get(start..stop).unwrap_or("");
        let at_end = stop >= bytes.len();
        if !(at_end && trim_blank(content).is_empty()) {
            let lead = content.len() - content.trim_start_matches([' ', '\t']).len();
            let trimmed = trim_blank(content);
            cells.push((
                header,
                base + start + lead,
                base + start + lead + trimmed.len(),
            ));
        }
        i = stop;
    }
    cells
}

// ---------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------

/// Writes blocks as wiki markup. `lines` locates blocks for losses (pre-order).
pub(crate) fn render(blocks: &[Block], lines: Option<&[u32]>) -> (String, Vec<Loss>) {
    let mut writer = Writer {
        losses: Vec::new(),
        counter: BlockCounter::new(),
        lines,
    };
    let out = writer.blocks(blocks, false);
    (out.join("\n"), writer.losses)
}

/// Where inline content is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// A paragraph: a line break is a new line, each line starts like a block.
    Paragraph,
    /// A heading: on one line.
    Heading,
    /// A list item: a line break is `\\`.
    Item,
    /// A table cell: a line break is `\\`, and `|` follows.
    Cell,
}

struct Writer<'a> {
    losses: Vec<Loss>,
    counter: BlockCounter,
    lines: Option<&'a [u32]>,
}

impl Writer<'_> {
    fn loss(&mut self, kind: LossKind, name: &str, index: usize, effect: &str) {
        self.losses
            .push(Loss::new(kind, name, ir::locate(self.lines, index), effect));
    }

    fn blocks(&mut self, blocks: &[Block], in_quote: bool) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for block in blocks {
            let lines = self.block(block, in_quote);
            if lines.is_empty() {
                continue;
            }
            if !out.is_empty() {
                out.push(String::new());
            }
            out.extend(lines);
        }
        out
    }

    fn block(&mut self, block: &Block, in_quote: bool) -> Vec<String> {
        let index = self.counter.visit();
        match block {
            Block::Paragraph(content) => {
                let text = self.inline(content, Ctx::Paragraph, index);
                text.split('\n').map(str::to_string).collect()
            }
            Block::Heading { level, content } => {
                let text = self.inline(content, Ctx::Heading, index);
                if text.is_empty() {
                    vec![format!("h{level}.")]
                } else {
                    vec![format!("h{level}. {text}")]
                }
            }
            Block::Code { language, text } => self.code(language.as_deref(), text, in_quote, index),
            Block::Quote(children) => {
                if in_quote {
                    self.loss(
                        LossKind::Structure,
                        "blockquote",
                        index,
                        "a quote inside a quote: wiki markup cannot nest {quote}, its content is written in the outer one",
                    );
                    return self.blocks(children, true);
                }
                let mut out = vec!["{quote}".to_string()];
                out.extend(self.blocks(children, true));
                out.push("{quote}".to_string());
                out
            }
            Block::List { start, items } => {
                let mut out = Vec::new();
                self.list(*start, items, "", index, &mut out);
                out
            }
            Block::Rule => vec!["----".to_string()],
            Block::Table { header, rows } => {
                let mut out = Vec::new();
                let cell = |writer: &mut Self, cell: &[Inline]| {
                    let text = writer.inline(cell, Ctx::Cell, index);
                    if text.is_empty() {
                        " ".to_string()
                    } else {
                        text
                    }
                };
                let mut line = String::from("||");
                for c in header {
                    line.push_str(&cell(self, c));
                    line.push_str("||");
                }
                out.push(line);
                for row in rows {
                    let mut line = String::from("|");
                    for c in row {
                        line.push_str(&cell(self, c));
                        line.push('|');
                    }
                    out.push(line);
                }
                out
            }
        }
    }

    fn code(
        &mut self,
        language: Option<&str>,
        text: &str,
        in_quote: bool,
        index: usize,
    ) -> Vec<String> {
        let language = language.filter(|l| {
            let ok = l
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '#' | '.' | '-'));
            if !ok {
                self.loss(
                    LossKind::Attribute,
                    "codeBlock.language",
                    index,
                    "a language name wiki markup cannot hold: dropped",
                );
            }
            ok
        });
        let tag = match language {
            Some(language) => format!("{{code:{language}}}"),
            None if text.contains("{noformat}") => "{code}".to_string(),
            None => "{noformat}".to_string(),
        };
        let closing = if tag.starts_with("{code") {
            "{code}"
        } else {
            "{noformat}"
        };
        if text.contains(closing) || (in_quote && text.contains("{quote}")) {
            self.loss(
                LossKind::Structure,
                "codeBlock",
                index,
                "code containing its own closing tag: wiki markup cannot hold it, the code block ends early",
            );
        }
        let mut out = vec![tag];
        out.extend(text.split('\n').map(str::to_string));
        out.push(closing.to_string());
        out
    }

    fn list(
        &mut self,
        start: Option<u64>,
        items: &[Vec<Block>],
        prefix: &str,
        index: usize,
        out: &mut Vec<String>,
    ) {
        if matches!(start, Some(n) if n != 1) {
            self.loss(
                LossKind::Attribute,
                "orderedList.order",
                index,
                "wiki markup numbers every list from 1: the start number is dropped",
            );
        }
        let marker = format!("{prefix}{}", if start.is_some() { '#' } else { '*' });
        for item in items {
            let mut line: Vec<Inline> = Vec::new();
            let mut nested = Vec::new();
            for (k, block) in item.iter().enumerate() {
                match block {
                    Block::Paragraph(content) if k == 0 => line.extend(content.iter().cloned()),
                    Block::List { start, items } => {
                        let nested_index = self.counter.visit();
                        self.list(*start, items, &marker, nested_index, &mut nested);
                    }
                    other => {
                        let nested_index = self.counter.visit();
                        self.count_children(other);
                        self.loss(
                            LossKind::Structure,
                            block_name(other),
                            nested_index,
                            "wiki list items hold one line and nested lists: its text is joined to the item's line",
                        );
                        if !line.is_empty() {
                            line.push(Inline::Break);
                        }
                        line.extend(blocks_to_inlines(std::slice::from_ref(other)));
                    }
                }
                if k == 0 && matches!(block, Block::Paragraph(_)) {
                    // Counted here so that pre-order indices match the reader's.
                    self.counter.visit();
                }
            }
            let text = self.inline(&ir::normalize_inlines(line), Ctx::Item, index);
            out.push(if text.is_empty() {
                marker.clone()
            } else {
                format!("{marker} {text}")
            });
            out.append(&mut nested);
        }
    }

    /// Advances the block counter past the children of a block written flattened.
    fn count_children(&mut self, block: &Block) {
        match block {
            Block::Quote(children) => {
                for child in children {
                    self.counter.visit();
                    self.count_children(child);
                }
            }
            Block::List { items, .. } => {
                for child in items.iter().flatten() {
                    self.counter.visit();
                    self.count_children(child);
                }
            }
            _ => {}
        }
    }

    fn inline(&mut self, content: &[Inline], ctx: Ctx, index: usize) -> String {
        let mut out = String::new();
        let mut line: Vec<(&str, &Marks)> = Vec::new();
        let mut lost = LineLosses::default();
        for inline in content {
            match inline {
                Inline::Text { text, marks } => line.push((text, marks)),
                Inline::Break => {
                    render_line(&line, ctx, ctx == Ctx::Paragraph, &mut out, &mut lost);
                    line.clear();
                    // A new line, unless that would leave an empty line (a paragraph break).
                    let empty_line = out.is_empty() || out.ends_with('\n');
                    out.push_str(match ctx {
                        Ctx::Paragraph if !empty_line => "\n",
                        Ctx::Paragraph | Ctx::Item | Ctx::Cell => "\\\\",
                        Ctx::Heading => " ",
                    });
                }
            }
        }
        render_line(&line, ctx, ctx != Ctx::Cell, &mut out, &mut lost);
        if lost.titled {
            self.loss(
                LossKind::Attribute,
                "link.title",
                index,
                "wiki links have no title: dropped",
            );
        }
        if lost.encoded {
            self.loss(
                LossKind::Attribute,
                "link.href",
                index,
                "a link target with spaces, brackets, braces or bars: percent-encoded for wiki markup",
            );
        }
        out
    }
}

fn block_name(block: &Block) -> &'static str {
    match block {
        Block::Paragraph(_) => "paragraph",
        Block::Heading { .. } => "heading",
        Block::Code { .. } => "codeBlock",
        Block::Quote(_) => "blockquote",
        Block::List { .. } => "list",
        Block::Rule => "rule",
        Block::Table { .. } => "table",
    }
}

/// A piece of a rendered line.
enum Piece {
    Text(String),
    Open(char),
    Close(char),
}

impl Piece {
    fn first(&self) -> Option<char> {
        match self {
            Piece::Text(t) => t.chars().next(),
            Piece::Open(c) | Piece::Close(c) => Some(*c),
        }
    }

    fn last(&self) -> Option<char> {
        match self {
            Piece::Text(t) => t.chars().next_back(),
            Piece::Open(c) | Piece::Close(c) => Some(*c),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item<'a> {
    Link(&'a Link),
    Effect(char),
}

fn items_of(marks: &Marks) -> Vec<Item<'_>> {
    let mut items = Vec::new();
    if let Some(link) = &marks.link {
        items.push(Item::Link(link));
    }
    if marks.strong {
        items.push(Item::Effect('*'));
    }
    if marks.em {
        items.push(Item::Effect('_'));
    }
    if marks.strike {
        items.push(Item::Effect('-'));
    }
    items
}

/// Percent-encodes what a wiki link target cannot hold.
fn encode_href(href: &str, encoded: &mut bool) -> String {
    let mut out = String::new();
    for (k, c) in href.chars().enumerate() {
        let bad = matches!(c, '|' | '[' | ']' | '{' | '}')
            || c.is_whitespace()
            || (k == 0 && matches!(c, '~' | '^'));
        if bad {
            *encoded = true;
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    if out.is_empty() {
        *encoded = true;
        out.push('#');
    }
    out
}

/// What writing a line could not keep as it was.
#[derive(Default)]
struct LineLosses {
    /// A link target was percent-encoded.
    encoded: bool,
    /// A link had a title.
    titled: bool,
}

/// Renders one line of inline content. Only in a paragraph does a line start like a block;
/// `ends_line` when a new line or the end follows (not `\\`, a space or a cell's `|`).
fn render_line(
    segments: &[(&str, &Marks)],
    ctx: Ctx,
    ends_line: bool,
    out: &mut String,
    lost: &mut LineLosses,
) {
    let line_start = ctx == Ctx::Paragraph && (out.is_empty() || out.ends_with('\n'));
    let mut pieces: Vec<Piece> = Vec::new();
    let mut stack: Vec<Item<'_>> = Vec::new();
    let close = |item: &Item<'_>, pieces: &mut Vec<Piece>, lost: &mut LineLosses| match item {
        Item::Link(link) => {
            lost.titled |= link.title.is_some();
            pieces.push(Piece::Text(format!(
                "|{}]",
                encode_href(&link.href, &mut lost.encoded)
            )));
        }
        Item::Effect(c) => pieces.push(Piece::Close(*c)),
    };
    for (idx, (text, marks)) in segments.iter().enumerate() {
        let wanted = items_of(marks);
        let keep = stack
            .iter()
            .take_while(|item| wanted.contains(item))
            .count();
        while stack.len() > keep {
            if let Some(item) = stack.pop() {
                close(&item, &mut pieces, lost);
            }
        }
        let run_len = |item: &Item<'_>| {
            segments
                .iter()
                .skip(idx)
                .take_while(|(_, m)| items_of(m).contains(item))
                .count()
        };
        let mut to_open: Vec<Item<'_>> =
            wanted.into_iter().filter(|w| !stack.contains(w)).collect();
        // `[url]`: the whole link is this one plain segment and reads the same as its target.
        if let [Item::Link(link)] = to_open.as_slice()
            && !marks.code
            && run_len(&Item::Link(link)) == 1
            && link.href == *text
            && simple_target(text)
        {
            pieces.push(Piece::Text(format!("[{text}]")));
            continue;
        }
        to_open.sort_by_key(|item| {
            (
                std::cmp::Reverse(run_len(item)),
                match item {
                    Item::Link(_) => 0,
                    Item::Effect(c) => u32::from(*c),
                },
            )
        });
        for item in to_open {
            match &item {
                Item::Link(_) => pieces.push(Piece::Text("[".to_string())),
                Item::Effect(c) => pieces.push(Piece::Open(*c)),
            }
            stack.push(item);
        }
        let first_on_line = line_start && pieces.is_empty();
        let last_on_line = ends_line && idx + 1 == segments.len() && stack.is_empty();
        let escaped = escape(text, first_on_line, last_on_line);
        if marks.code {
            pieces.push(Piece::Text(format!("{{{{{escaped}}}}}")));
        } else {
            pieces.push(Piece::Text(escaped));
        }
    }
    while let Some(item) = stack.pop() {
        close(&item, &mut pieces, lost);
    }
    for (k, piece) in pieces.iter().enumerate() {
        let prev = if k == 0 {
            out.chars().next_back().filter(|c| *c != '\n')
        } else {
            pieces.get(k - 1).and_then(Piece::last)
        };
        let next = pieces.get(k + 1).and_then(Piece::first);
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Open(c) => {
                // `*` first on a line could read as a list marker (`*#* text`).
                let list_like = k == 0 && line_start && *c == '*';
                let plain = !list_like
                    && !is_alnum(prev)
                    && next.is_some_and(|n| !n.is_whitespace())
                    && prev != Some(*c)
                    && next != Some(*c);
                push_delimiter(*c, plain, out);
            }
            Piece::Close(c) => {
                let plain = prev.is_some_and(|p| !p.is_whitespace())
                    && !is_alnum(next)
                    && prev != Some(*c)
                    && next != Some(*c);
                push_delimiter(*c, plain, out);
            }
        }
    }
}

fn push_delimiter(c: char, plain: bool, out: &mut String) {
    if plain {
        out.push(c);
    } else {
        out.push('{');
        out.push(c);
        out.push('}');
    }
}

/// Whether `[target]` reads back as a link to `target` with `target` as its text.
fn simple_target(target: &str) -> bool {
    !target.is_empty()
        && !target.starts_with(['~', '^'])
        && !target.contains(['|', ']', '[', '{', '}', '\\', '\n'])
        && trim_blank(target) == target
}

/// Emoticons Jira draws as icons; their first character is escaped.
const EMOTICONS: &[&str] = &[
    ":)",
    ":(",
    ":P",
    ":D",
    ";)",
    "(y)",
    "(n)",
    "(i)",
    "(/)",
    "(x)",
    "(!)",
    "(+)",
    "(-)",
    "(?)",
    "(on)",
    "(off)",
    "(*)",
    "(*r)",
    "(*g)",
    "(*b)",
    "(*y)",
    "(flag)",
    "(flagoff)",
];

/// Writes text so that wiki markup reads it back as the same text.
fn escape(text: &str, line_start: bool, line_end: bool) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let prev = if i == 0 {
            None
        } else {
            chars.get(i - 1).copied()
        };
        let next = chars.get(i + 1).copied();
        let at_line_start = line_start && i == 0;
        if at_line_start {
            let head: String = chars.iter().take(3).collect();
            if heading_prefix(&format!("{head} ")).is_some() || head == "bq." {
                out.push_str(head.get(..2).unwrap_or(""));
                out.push_str("\\.");
                i += 3;
                continue;
            }
        }
        if matches!(c, ':' | ';' | '(')
            && EMOTICONS.iter().any(|e| {
                let tail: String = chars.iter().skip(i).take(e.chars().count()).collect();
                tail == *e
            })
        {
            out.push('\\');
            out.push(c);
            i += 1;
            continue;
        }
        match c {
            '*' | '_' | '-' | '+' | '^' | '~' => {
                let intraword = is_alnum(prev) && is_alnum(next);
                let spaced = is_space(prev) && is_space(next);
                if !(intraword || spaced) {
                    out.push('\\');
                }
                out.push(c);
            }
            '?' if prev == Some('?') || next == Some('?') => out.push_str("\\?"),
            '{' | '}' | '[' | ']' | '|' => {
                out.push('\\');
                out.push(c);
            }
            '!' if next.is_some_and(|n| !n.is_whitespace()) || (next.is_none() && !line_end) => {
                out.push_str("\\!");
            }
            // A backslash before a letter, digit or space is text; before anything else it
            // would escape it.
            '\\' if next.is_some_and(|n| n.is_alphanumeric() || n.is_whitespace()) => {
                out.push('\\');
            }
            '\\' => out.push_str("&#92;"),
            '&' if next == Some('#') || (next.is_none() && !line_end) => out.push_str("\\&"),
            '#' if at_line_start => out.push_str("\\#"),
            c => out.push(c),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn effects_follow_word_boundaries() {
        let (blocks, losses) = parse("*bold* and in*side* and well-known - plain");
        assert!(losses.is_empty());
        let Block::Paragraph(content) = &blocks[0] else {
            panic!("{blocks:?}")
        };
        assert_eq!(
            content[0],
            Inline::marked(
                "bold",
                Marks {
                    strong: true,
                    ..Marks::default()
                }
            )
        );
        assert_eq!(
            content[1],
            Inline::plain(" and in*side* and well-known - plain")
        );
    }

    #[test]
    fn escaped_text_reads_back() {
        let text = "a*b *c* -d- _e_ {f} [g] |h| !i! \\ &#65; ?? x:) h1. ";
        let blocks = vec![Block::Paragraph(vec![Inline::plain(text)])];
        let (wiki, losses) = render(&blocks, None);
        assert!(losses.is_empty());
        let (back, losses) = parse(&wiki);
        assert!(losses.is_empty(), "{losses:?}");
        assert_eq!(back, normalize_blocks(blocks), "{wiki}");
    }
}

//! RFC 8288 `Link` headers: the one parser for GitHub's and GitLab's pagination
//! (offset and keyset alike). A provider file that parses `Link` itself is a bug.

use reqwest::header::{HeaderMap, LINK};

/// One link of a `Link` header: `<target>; rel="next"; …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkValue {
    /// The target URI reference, as written between `<` and `>`.
    pub target: String,
    /// The relation types of the first `rel` parameter, lower-cased (`rel="next last"`
    /// gives two).
    pub rels: Vec<String>,
    /// All parameters, names lower-cased, values unquoted.
    pub params: Vec<(String, String)>,
}

impl LinkValue {
    /// Whether the link has relation type `rel` (case-insensitive).
    pub fn has_rel(&self, rel: &str) -> bool {
        self.rels.iter().any(|r| r.eq_ignore_ascii_case(rel))
    }
}

/// Parses one `Link` header value into its links. Tolerant: commas and semicolons inside
/// `<…>` or quoted strings, escaped quotes, any whitespace, unquoted values, upper-case
/// names, and a malformed link skipped without losing the ones after it.
///
/// ```
/// use kradle_http::parse_link_header;
/// let links = parse_link_header(
///     r#"<https://api.github.com/repositories/1000/issues?per_page=3&page=2>; rel="next", <https://api.github.com/repositories/1000/issues?per_page=3&page=5>; rel="last""#,
/// );
/// assert_eq!(links.len(), 2);
/// assert!(links[0].has_rel("next"));
/// assert!(links[0].target.ends_with("page=2"));
/// ```
pub fn parse_link_header(value: &str) -> Vec<LinkValue> {
    let mut p = Parser {
        s: value.as_bytes(),
        i: 0,
    };
    let mut out = Vec::new();
    loop {
        p.skip(|c| c.is_ascii_whitespace() || c == b',');
        if p.eof() {
            break;
        }
        if p.peek() != Some(b'<') {
            p.skip_element();
            continue;
        }
        p.i += 1;
        let start = p.i;
        while p.peek().is_some_and(|c| c != b'>') {
            p.i += 1;
        }
        if p.eof() {
            break;
        }
        let target = String::from_utf8_lossy(&p.s[start..p.i]).trim().to_owned();
        p.i += 1;
        let params = p.params();
        let rels = params
            .iter()
            .find(|(k, _)| k == "rel")
            .map(|(_, v)| {
                v.split_ascii_whitespace()
                    .map(str::to_ascii_lowercase)
                    .collect()
            })
            .unwrap_or_default();
        out.push(LinkValue {
            target,
            rels,
            params,
        });
    }
    out
}

/// The target of the first link with relation `rel` over all `Link` fields of `headers`.
pub fn find_link(headers: &HeaderMap, rel: &str) -> Option<String> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_link_header)
        .find(|l| l.has_rel(rel))
        .map(|l| l.target)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn eof(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip(&mut self, f: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&f) {
            self.i += 1;
        }
    }

    /// Skips to the comma that ends the current element, honouring `<…>` and quotes.
    fn skip_element(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b',' => return,
                b'"' => {
                    self.quoted();
                    continue;
                }
                b'<' => {
                    while self.peek().is_some_and(|c| c != b'>') {
                        self.i += 1;
                    }
                }
                _ => {}
            }
            self.i += 1;
        }
    }

    /// Reads a quoted string at the cursor (which is on the opening quote).
    fn quoted(&mut self) -> String {
        self.i += 1;
        let mut out = Vec::new();
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                b'\\' => {
                    if let Some(n) = self.peek() {
                        out.push(n);
                        self.i += 1;
                    }
                }
                b'"' => break,
                _ => out.push(c),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn token(&mut self) -> String {
        let start = self.i;
        self.skip(|c| !matches!(c, b';' | b',' | b'=') && !c.is_ascii_whitespace());
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    fn params(&mut self) -> Vec<(String, String)> {
        let mut params = Vec::new();
        loop {
            self.skip(|c| c.is_ascii_whitespace());
            match self.peek() {
                Some(b';') => self.i += 1,
                None | Some(b',') => return params,
                Some(_) => {
                    self.skip_element();
                    return params;
                }
            }
            self.skip(|c| c.is_ascii_whitespace());
            let name = self.token().to_ascii_lowercase();
            self.skip(|c| c.is_ascii_whitespace());
            let value = if self.peek() == Some(b'=') {
                self.i += 1;
                self.skip(|c| c.is_ascii_whitespace());
                if self.peek() == Some(b'"') {
                    self.quoted()
                } else {
                    self.token()
                }
            } else {
                String::new()
            };
            if !name.is_empty() {
                params.push((name, value));
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn next(v: &str) -> Option<String> {
        parse_link_header(v)
            .into_iter()
            .find(|l| l.has_rel("next"))
            .map(|l| l.target)
    }

    /// Every `link` header of the recorded GitHub session, and GitLab's documented ones.
    #[test]
    fn real_headers() {
        let raw = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/github/paginate-issues.json"
        ))
        .unwrap();
        let session: serde_json::Value = serde_json::from_str(&raw).unwrap();
        let links: Vec<String> = session
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["headers"]["link"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(links.len(), 5, "fixture has five pages");
        let nexts: Vec<Option<String>> = links.iter().map(|l| next(l)).collect();
        let pages: Vec<Option<&str>> = nexts
            .iter()
            .map(|n| n.as_deref().and_then(|u| u.rsplit("page=").next()))
            .collect();
        assert_eq!(pages, [Some("2"), Some("3"), Some("4"), Some("5"), None]);
        let second = parse_link_header(&links[1]);
        let rels: Vec<&str> = second.iter().map(|l| l.rels[0].as_str()).collect();
        assert_eq!(rels, ["prev", "next", "last", "first"]);

        let gitlab = r#"<https://gitlab.example.com/api/v4/projects/8/issues/8/notes?page=1&per_page=3>; rel="prev", <https://gitlab.example.com/api/v4/projects/8/issues/8/notes?page=3&per_page=3>; rel="next", <https://gitlab.example.com/api/v4/projects/8/issues/8/notes?page=1&per_page=3>; rel="first", <https://gitlab.example.com/api/v4/projects/8/issues/8/notes?page=3&per_page=3>; rel="last""#;
        assert_eq!(
            next(gitlab).as_deref(),
            Some("https://gitlab.example.com/api/v4/projects/8/issues/8/notes?page=3&per_page=3")
        );
        let keyset = r#"<https://gitlab.example.com/api/v4/groups?pagination=keyset&per_page=50&order_by=name&sort=asc&cursor=eyJuYW1lIjoiRmxpZ2h0anMiLCJpZCI6IjI2IiwiX2tkIjoibiJ9>; rel="next""#;
        assert!(next(keyset).is_some_and(|u| {
            u.ends_with("cursor=eyJuYW1lIjoiRmxpZ2h0anMiLCJpZCI6IjI2IiwiX2tkIjoibiJ9")
        }));
    }

    #[test]
    fn quoting_whitespace_and_case() {
        // Commas and semicolons inside the URI and inside a quoted title.
        let v = r#"<https://x.test/a?q=a,b;c>; title="one, two; \"three\""; REL="Next""#;
        let l = parse_link_header(v);
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].target, "https://x.test/a?q=a,b;c");
        assert!(l[0].has_rel("next"));
        assert_eq!(
            l[0].params[0],
            ("title".into(), r#"one, two; "three""#.into())
        );
        // Unquoted rel, tabs and newlines, several relation types, rel after other params.
        let v = "\t<https://x.test/2> ;rel=next,\n  <https://x.test/9>; type=\"text/html\"; rel=\"last  first\"";
        let l = parse_link_header(v);
        assert_eq!(next(v).as_deref(), Some("https://x.test/2"));
        assert!(l[1].has_rel("last") && l[1].has_rel("first"));
        // Only the first rel counts.
        assert_eq!(next(r#"<https://x.test/p>; rel="prev"; rel="next""#), None);
    }

    #[test]
    fn malformed_parts_are_skipped() {
        assert!(parse_link_header("").is_empty());
        assert!(parse_link_header("garbage").is_empty());
        assert!(parse_link_header("<https://x.test/unterminated; rel=next").is_empty());
        let v = r#"junk; rel="next", <https://x.test/ok>; rel="next""#;
        assert_eq!(next(v).as_deref(), Some("https://x.test/ok"));
        let v = r#"<https://x.test/a>; rel="prev" junk, <https://x.test/b>; rel=next"#;
        assert_eq!(next(v).as_deref(), Some("https://x.test/b"));
        assert_eq!(
            next(r#"<https://x.test/a>; rel="next"#).as_deref(),
            Some("https://x.test/a")
        );
    }

    #[test]
    fn several_header_fields() {
        let mut h = HeaderMap::new();
        h.append(LINK, "<https://x.test/1>; rel=\"prev\"".parse().unwrap());
        h.append(LINK, "<https://x.test/3>; rel=\"next\"".parse().unwrap());
        assert_eq!(find_link(&h, "next").as_deref(), Some("https://x.test/3"));
        assert_eq!(find_link(&h, "last"), None);
    }
}

//! One test per kind of loss, for each direction, and the write plan's outcomes.
//!
//! No fixture holds these constructs (the recorded bodies are plain text), so the ADF nodes
//! below are written after Atlassian's ADF reference (the node and attribute names Jira
//! Cloud uses), and the wiki snippets after Jira's text-formatting notation.

// A test states its expectation by failing loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kradle_provider_jira::markup::{
    self, Document, LOSSY_FORMAT, Loss, LossKind, MarkupError, Original, WritePlan,
};
use serde_json::{Value, json};

fn doc(content: Value) -> Value {
    json!({"type": "doc", "version": 1, "content": content})
}

fn para(content: Value) -> Value {
    json!({"type": "paragraph", "content": content})
}

fn text(t: &str) -> Value {
    json!({"type": "text", "text": t})
}

/// Converts an ADF document, returning the Markdown and its only loss (or the one named).
fn adf_loss(adf: &Value, name: &str) -> (String, Loss) {
    let converted = markup::adf_to_markdown(adf).unwrap();
    let loss = converted
        .losses
        .iter()
        .find(|l| l.name == name)
        .unwrap_or_else(|| panic!("no {name} loss in {:?}", converted.losses))
        .clone();
    (converted.output, loss)
}

fn wiki_loss(wiki: &str, name: &str) -> (String, Loss) {
    let converted = markup::wiki_to_markdown(wiki);
    let loss = converted
        .losses
        .iter()
        .find(|l| l.name == name)
        .unwrap_or_else(|| panic!("no {name} loss in {:?}", converted.losses))
        .clone();
    (converted.output, loss)
}

// ----- ADF to Markdown ------------------------------------------------------------------

#[test]
fn panel_keeps_its_paragraphs_as_a_quote() {
    let adf = doc(
        json!([{"type": "panel", "attrs": {"panelType": "info"}, "content": [
            para(json!([text("Heads up")])),
            para(json!([text("second")])),
        ]}]),
    );
    let (md, loss) = adf_loss(&adf, "panel");
    assert_eq!(md, "> Heads up\n>\n> second");
    assert_eq!(
        (loss.kind, loss.at.as_str()),
        (LossKind::Node, "/content/0")
    );
}

#[test]
fn mention_becomes_its_display_text() {
    let adf = doc(json!([para(json!([
        text("ping "),
        {"type": "mention", "attrs": {"id": "5b10ac8d82e05b22cc7d4ef5", "text": "@Mia", "accessLevel": ""}}
    ]))]));
    let (md, loss) = adf_loss(&adf, "mention");
    assert_eq!(md, "ping @Mia");
    assert_eq!(
        (loss.kind, loss.at.as_str()),
        (LossKind::Node, "/content/0/content/1")
    );
}

#[test]
fn status_becomes_its_text() {
    let adf = doc(json!([para(json!([
        {"type": "status", "attrs": {"text": "In progress", "color": "blue", "localId": "c3f5b1"}}
    ]))]));
    let (md, loss) = adf_loss(&adf, "status");
    assert_eq!(md, "In progress");
    assert_eq!(loss.kind, LossKind::Node);
}

#[test]
fn media_is_dropped_but_reported_with_its_caption_kept() {
    let media = json!({"type": "media", "attrs": {"id": "4478e39c-cf9b-41d1-ba92-68589487cd75", "type": "file", "collection": "MediaServicesSample", "alt": "moon.jpeg"}});
    let adf = doc(json!([
        {"type": "mediaSingle", "attrs": {"layout": "center"}, "content": [
            media.clone(),
            {"type": "caption", "content": [text("The moon")]}
        ]},
        {"type": "mediaGroup", "content": [media.clone()]},
        media,
    ]));
    let converted = markup::adf_to_markdown(&adf).unwrap();
    assert_eq!(converted.output, "The moon");
    let names: Vec<&str> = converted.losses.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["mediaSingle", "mediaGroup", "media"]);
    assert!(converted.losses[0].effect.contains("moon.jpeg"));
}

#[test]
fn emoji_date_and_inline_card_are_written_as_text() {
    let adf = doc(json!([para(json!([
        {"type": "emoji", "attrs": {"shortName": ":grinning:", "id": "1f600", "text": "😀"}},
        text(" due "),
        {"type": "date", "attrs": {"timestamp": "1582152559000"}},
        text(" see "),
        {"type": "inlineCard", "attrs": {"url": "https://example.atlassian.net/browse/ABC-1"}}
    ]))]));
    let converted = markup::adf_to_markdown(&adf).unwrap();
    assert_eq!(
        converted.output,
        "😀 due 2020-02-19 see <https://example.atlassian.net/browse/ABC-1>"
    );
    let names: Vec<&str> = converted.losses.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["emoji", "date", "inlineCard"]);
}

#[test]
fn expand_title_and_content_are_kept() {
    let adf = doc(
        json!([{"type": "expand", "attrs": {"title": "Logs"}, "content": [
            para(json!([text("line one")]))
        ]}]),
    );
    let (md, loss) = adf_loss(&adf, "expand");
    assert_eq!(md, "**Logs**\n\nline one");
    assert_eq!(loss.at, "/content/0");
}

#[test]
fn layout_columns_follow_each_other() {
    let adf = doc(json!([{"type": "layoutSection", "content": [
        {"type": "layoutColumn", "attrs": {"width": 50}, "content": [para(json!([text("left")]))]},
        {"type": "layoutColumn", "attrs": {"width": 50}, "content": [para(json!([text("right")]))]}
    ]}]));
    let (md, _) = adf_loss(&adf, "layoutSection");
    assert_eq!(md, "left\n\nright");
}

fn table_with_cell(attrs: Value) -> Value {
    doc(
        json!([{"type": "table", "attrs": {"isNumberColumnEnabled": false, "layout": "default"}, "content": [
            {"type": "tableRow", "content": [
                {"type": "tableHeader", "attrs": {}, "content": [para(json!([text("h1")]))]},
                {"type": "tableHeader", "attrs": {}, "content": [para(json!([text("h2")]))]}
            ]},
            {"type": "tableRow", "content": [
                {"type": "tableCell", "attrs": attrs, "content": [para(json!([text("wide")]))]}
            ]}
        ]}]),
    )
}

#[test]
fn merged_and_tinted_cells_are_reported() {
    let (md, loss) = adf_loss(&table_with_cell(json!({"colspan": 2})), "tableCell.colspan");
    assert_eq!(md, "| h1 | h2 |\n| --- | --- |\n| wide |  |");
    assert_eq!(
        (loss.kind, loss.at.as_str()),
        (LossKind::Attribute, "/content/0/content/1/content/0")
    );
    adf_loss(&table_with_cell(json!({"rowspan": 3})), "tableCell.rowspan");
    adf_loss(
        &table_with_cell(json!({"background": "#deebff"})),
        "tableCell.background",
    );
    adf_loss(
        &table_with_cell(json!({"colwidth": [120]})),
        "tableCell.colwidth",
    );
    // Defaults are not losses.
    let plain =
        markup::adf_to_markdown(&table_with_cell(json!({"colspan": 1, "rowspan": 1}))).unwrap();
    assert_eq!(
        plain
            .losses
            .iter()
            .map(|l| l.name.as_str())
            .collect::<Vec<_>>(),
        ["tableRow"],
        "only the short row"
    );
}

#[test]
fn table_without_header_row_is_reported() {
    let adf = doc(json!([{"type": "table", "content": [
        {"type": "tableRow", "content": [
            {"type": "tableCell", "content": [para(json!([text("a")]))]}
        ]}
    ]}]));
    let (md, loss) = adf_loss(&adf, "tableCell");
    assert_eq!(md, "| a |\n| --- |");
    assert_eq!(loss.kind, LossKind::Structure);
}

#[test]
fn text_marks_markdown_lacks_are_reported_and_the_text_kept() {
    for (mark, name) in [
        (
            json!({"type": "textColor", "attrs": {"color": "#ff5630"}}),
            "textColor",
        ),
        (json!({"type": "underline"}), "underline"),
        (
            json!({"type": "subsup", "attrs": {"type": "sub"}}),
            "subsup",
        ),
        (
            json!({"type": "backgroundColor", "attrs": {"color": "#fedec8"}}),
            "backgroundColor",
        ),
    ] {
        let adf = doc(json!([para(json!([
            {"type": "text", "text": "marked", "marks": [mark, {"type": "strong"}]}
        ]))]));
        let (md, loss) = adf_loss(&adf, name);
        assert_eq!(md, "**marked**");
        assert_eq!(
            (loss.kind, loss.at.as_str()),
            (LossKind::Mark, "/content/0/content/0/marks/0")
        );
    }
}

#[test]
fn unknown_nodes_keep_their_text() {
    let adf = doc(json!([
        {"type": "fancyWidget", "attrs": {"mode": "x"}, "content": [para(json!([text("kept")]))]},
        para(json!([text("a "), {"type": "sparkle", "text": "shiny"}]))
    ]));
    let converted = markup::adf_to_markdown(&adf).unwrap();
    assert_eq!(converted.output, "kept\n\na shiny");
    let names: Vec<&str> = converted.losses.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["fancyWidget", "sparkle"]);
    assert!(converted.losses.iter().all(|l| l.kind == LossKind::Node));
}

#[test]
fn structures_adf_would_not_get_back_are_reported() {
    // A heading inside a list item, a line break inside a heading, two paragraphs in a cell,
    // code that is also bold.
    let adf = doc(json!([
        {"type": "bulletList", "content": [{"type": "listItem", "content": [
            para(json!([text("item")])),
            {"type": "heading", "attrs": {"level": 2}, "content": [text("inner")]}
        ]}]},
        {"type": "heading", "attrs": {"level": 1}, "content": [text("a"), {"type": "hardBreak"}, text("b")]},
        para(json!([{"type": "text", "text": "x", "marks": [{"type": "code"}, {"type": "strong"}]}])),
    ]));
    let converted = markup::adf_to_markdown(&adf).unwrap();
    assert_eq!(converted.output, "- item\n\n  ## inner\n\n# a b\n\n`x`");
    let names: Vec<(&str, &str)> = converted
        .losses
        .iter()
        .map(|l| (l.name.as_str(), l.at.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("heading", "/content/0/content/0/content/1"),
            ("hardBreak", "/content/1"),
            ("code", "/content/2/content/0"),
        ]
    );
}

#[test]
fn an_arrangement_markdown_cannot_express_is_written_plain_and_reported() {
    // `[`]: x`](…)` at the start of a paragraph is a link reference definition.
    let adf = doc(json!([para(
        json!([{"type": "text", "text": "]: x", "marks": [
            {"type": "code"},
            {"type": "link", "attrs": {"href": "https://x.test"}}
        ]}])
    )]));
    let (md, loss) = adf_loss(&adf, "formatting");
    assert_eq!(md, "\\]: x");
    assert_eq!(
        (loss.kind, loss.at.as_str()),
        (LossKind::Structure, "block 1")
    );
}

#[test]
fn a_value_that_is_no_document_is_an_error_saying_what_to_do() {
    let err = markup::adf_to_markdown(&json!("h1. wiki")).unwrap_err();
    assert!(matches!(err, MarkupError::NotAdf { found: "a string" }));
    assert!(err.to_string().contains("wiki_to_markdown"));
    assert!(!err.is_retryable());
    assert!(Original::from_field(&Value::Null).is_err());
    // An object that is not a doc is read, and reported.
    let (md, loss) = adf_loss(&para(json!([text("alone")])), "paragraph");
    assert_eq!((md.as_str(), loss.at.as_str()), ("alone", ""));
}

// ----- wiki markup to Markdown ----------------------------------------------------------

#[test]
fn wiki_panel_and_unknown_macros_keep_their_content() {
    let (md, loss) = wiki_loss(
        "{panel:title=Note|bgColor=#eee}\nbody text\n{panel}",
        "{panel}",
    );
    assert_eq!(md, "> **Note**\n>\n> body text");
    assert_eq!((loss.kind, loss.at.as_str()), (LossKind::Node, "line 1"));
    let (md, _) = wiki_loss("before\n\n{info}\ninside\n{info}", "{info}");
    assert_eq!(md, "before\n\ninside");
    let (md, loss) = wiki_loss("Build {status:colour=Green|title=Passed} now", "{status}");
    assert_eq!(md, "Build  now");
    assert_eq!(loss.kind, LossKind::Node);
}

#[test]
fn wiki_colour_mentions_and_attachments() {
    let (md, loss) = wiki_loss("a {color:red}warning{color} b", "{color}");
    assert_eq!(md, "a warning b");
    assert_eq!(loss.kind, LossKind::Mark);
    let (md, _) = wiki_loss(
        "cc [~jsmith] and [~accountid:5b10ac8d82e05b22cc7d4ef5]",
        "[~mention]",
    );
    assert_eq!(md, "cc @jsmith and @accountid:5b10ac8d82e05b22cc7d4ef5");
    let (md, loss) = wiki_loss("see\n!screenshot.png|thumbnail!", "!attachment!");
    assert_eq!(md, "see");
    assert_eq!(loss.at, "line 2");
    assert!(loss.effect.contains("screenshot.png"));
    let (md, _) = wiki_loss("log: [^build.log]", "[^attachment]");
    assert_eq!(md, "log: build.log");
}

#[test]
fn wiki_effects_markdown_lacks() {
    for (wiki, name, text) in [
        ("+inserted+", "+inserted+", "inserted"),
        ("x{^}2{^}", "^superscript^", "x2"),
        ("H{~}2{~}O", "~subscript~", "H2O"),
        ("??Book??", "??citation??", "Book"),
    ] {
        let (md, loss) = wiki_loss(wiki, name);
        assert_eq!(md, text, "{wiki}");
        assert_eq!((loss.kind, loss.at.as_str()), (LossKind::Mark, "line 1"));
    }
}

#[test]
fn wiki_code_parameters_and_headerless_tables() {
    let (md, loss) = wiki_loss(
        "{code:title=Main.java|borderStyle=solid}\nint x;\n{code}",
        "{code} parameters",
    );
    assert_eq!(md, "```\nint x;\n```");
    assert_eq!(loss.kind, LossKind::Attribute);
    let (md, _) = wiki_loss("|a|b|\n|c|d|", "table header row");
    assert_eq!(md, "| a | b |\n| --- | --- |\n| c | d |");
}

// ----- Markdown to ADF and to wiki markup -----------------------------------------------

#[test]
fn markdown_adf_cannot_hold() {
    let converted = markup::markdown_to_adf(
        "![logo](https://x.test/logo.png)\n\n<div>raw</div>\n\n- item\n\n  # heading\n\n> > nested\n\n| a |\n| :-: |\n| b |",
    );
    let names: Vec<(&str, &str)> = converted
        .losses
        .iter()
        .map(|l| (l.name.as_str(), l.at.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("image", "line 1"),
            ("html", "line 3"),
            ("table.alignment", "line 11"),
            ("heading", "line 7"),
            ("blockquote", "line 9"),
        ]
    );
    // The image's alt text is kept as a link to it.
    assert_eq!(
        converted.output["content"][0]["content"][0],
        json!({"type": "text", "text": "logo", "marks": [{"type": "link", "attrs": {"href": "https://x.test/logo.png"}}]})
    );
}

#[test]
fn markdown_wiki_cannot_hold() {
    let converted = markup::markdown_to_wiki(
        "3. three\n4. four\n\n- item\n\n  ```\n  code\n  ```\n\n> > nested\n\n[a](https://x.test \"title\")",
    );
    let names: Vec<(&str, &str)> = converted
        .losses
        .iter()
        .map(|l| (l.name.as_str(), l.at.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("orderedList.order", "line 1"),
            ("codeBlock", "line 6"),
            ("blockquote", "line 10"),
            ("link.title", "line 12"),
        ]
    );
    assert_eq!(
        converted.output,
        "# three\n# four\n\n* item\\\\{{code}}\n\n{quote}\nnested\n{quote}\n\n[a|https://x.test]"
    );
}

// ----- Escaping -------------------------------------------------------------------------

#[test]
fn metacharacters_in_text_survive_markdown() {
    for t in [
        "*not bold*",
        "_not italic_",
        "# not a heading",
        "[not](a link)",
        "`not code`",
        "1. not a list",
        "2) neither",
        "- nor this",
        "> no quote",
        "a | b",
        "~~no strike~~",
        "<b>no html</b>",
        "&amp; stays",
        "back\\slash",
        "!important",
        "===",
    ] {
        let adf = doc(json!([para(json!([text(t)]))]));
        let md = markup::adf_to_markdown(&adf).unwrap();
        assert!(md.is_lossless());
        assert_eq!(
            markup::markdown_to_adf(&md.output).output,
            adf,
            "{t} as {}",
            md.output
        );
    }
    // In a table cell too.
    let adf = doc(
        json!([{"type": "table", "content": [{"type": "tableRow", "content": [
            {"type": "tableHeader", "content": [para(json!([
                text("a | b "),
                {"type": "text", "text": "c|d", "marks": [{"type": "code"}]}
            ]))]}
        ]}]}]),
    );
    let md = markup::adf_to_markdown(&adf).unwrap();
    assert_eq!(md.output, "| a \\| b `c\\|d` |\n| --- |");
    assert_eq!(markup::markdown_to_adf(&md.output).output, adf);
}

#[test]
fn metacharacters_in_text_survive_wiki() {
    let text = "*a* _b_ -c- +d+ ^e^ ~f~ ??g?? {{h}} [i] |j| !k.png! \\ {code} h1. x :) (y)";
    let adf = doc(json!([para(json!([{"type": "text", "text": text}]))]));
    let md = markup::adf_to_markdown(&adf).unwrap().output;
    let wiki = markup::markdown_to_wiki(&md);
    assert!(wiki.is_lossless());
    let back = markup::wiki_to_markdown(&wiki.output);
    assert!(back.is_lossless(), "{:?}", back.losses);
    assert_eq!(back.output, md, "{}", wiki.output);
}

// ----- The write plan -------------------------------------------------------------------

#[test]
fn plan_writes_an_edit_of_a_lossless_document() {
    let adf = doc(json!([para(json!([text("old")]))]));
    let plan = markup::plan_write(Original::Adf(&adf), "new **text**").unwrap();
    let WritePlan::Write {
        document: Document::Adf(sent),
        markdown_losses,
    } = plan
    else {
        panic!("{plan:?}")
    };
    assert!(markdown_losses.is_empty());
    assert_eq!(sent, markup::markdown_to_adf("new **text**").output);

    let plan = markup::plan_write(Original::Wiki("old"), "new **text**").unwrap();
    assert_eq!(
        plan,
        WritePlan::Write {
            document: Document::Wiki("new *text*".into()),
            markdown_losses: vec![],
        }
    );
}

#[test]
fn plan_reports_what_of_the_hosts_markdown_jira_cannot_hold() {
    let plan = markup::plan_write(Original::Wiki("old"), "![x](https://x.test/x.png)").unwrap();
    let WritePlan::Write {
        markdown_losses, ..
    } = plan
    else {
        panic!("{plan:?}")
    };
    assert_eq!(markdown_losses[0].name, "image");
}

#[test]
fn plan_has_nothing_to_write_when_the_markdown_is_unchanged() {
    let adf = doc(
        json!([{"type": "panel", "attrs": {"panelType": "note"}, "content": [para(json!([text("keep me")]))]}]),
    );
    let shown = markup::adf_to_markdown(&adf).unwrap().output;
    assert_eq!(
        markup::plan_write(Original::Adf(&adf), &shown).unwrap(),
        WritePlan::Unchanged
    );
    // The same document written differently (another bullet, trailing newline) is unchanged too.
    let wiki = "* one\n* {color:red}two{color}";
    assert_eq!(
        markup::plan_write(Original::Wiki(wiki), "* one\n* two\n").unwrap(),
        WritePlan::Unchanged
    );
}

#[test]
fn plan_is_lossy_when_an_edit_would_drop_what_markdown_cannot_hold() {
    let adf = doc(json!([para(json!([
        text("ask "),
        {"type": "mention", "attrs": {"id": "5b10ac8d82e05b22cc7d4ef5", "text": "@Mia"}}
    ]))]));
    let plan = markup::plan_write(Original::Adf(&adf), "ask @Mia today").unwrap();
    let WritePlan::Lossy {
        original,
        proposed,
        dropped,
    } = plan
    else {
        panic!("{plan:?}")
    };
    assert_eq!(original, Document::Adf(adf.clone()));
    assert_eq!(
        proposed,
        Document::Adf(markup::markdown_to_adf("ask @Mia today").output)
    );
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].name, "mention");
    assert_eq!(LOSSY_FORMAT, "lossy_format");

    let plan = markup::plan_write(Original::Wiki("{panel}\nx\n{panel}"), "y").unwrap();
    assert!(matches!(plan, WritePlan::Lossy { ref dropped, .. } if dropped[0].name == "{panel}"));
}

#[test]
fn original_from_field_picks_the_format() {
    let adf = doc(json!([]));
    assert!(matches!(Original::from_field(&adf), Ok(Original::Adf(_))));
    let wiki = json!("*x*");
    assert_eq!(Original::from_field(&wiki).unwrap(), Original::Wiki("*x*"));
    assert_eq!(
        Original::from_field(&wiki)
            .unwrap()
            .to_markdown()
            .unwrap()
            .output,
        "**x**"
    );
}

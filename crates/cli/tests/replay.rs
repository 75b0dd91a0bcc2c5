//! The `kradle-sync replay` and `normalize` contract, driven through the binary with real
//! GitHub payloads from `fixtures/github/webhooks`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

const SECRET: &str = "test-secret";

fn fixture(path: &str) -> String {
    let full = format!(
        "{}/../../fixtures/github/webhooks/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    let value: Value = serde_json::from_str(
        &std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}")),
    )
    .unwrap();
    serde_json::to_string(&value).unwrap()
}

fn sign(body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn delivery(event: &str, id: &str, body: &str) -> Value {
    json!({
        "type": "delivery", "provider": "github", "binding": "Codertocat/Hello-World",
        "headers": { "X-GitHub-Event": event, "X-GitHub-Delivery": id, "X-Hub-Signature-256": sign(body) },
        "body": body,
    })
}

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kradle-sync"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn replay(lines: &[String]) -> (Value, String) {
    let out = run(
        &["replay", "--secret", &format!("github={SECRET}"), "-"],
        &lines.join("\n"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "replay failed: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    (serde_json::from_slice(&out.stdout).unwrap(), stderr)
}

fn valid() -> String {
    delivery("issues", "good-1", &fixture("issues/opened.json")).to_string()
}

fn applied(doc: &Value) -> bool {
    doc["objects"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["native_id"] == "444500041" && o["kind"] == "issue")
}

#[test]
fn wrong_signature_is_rejected_and_the_valid_delivery_still_applies() {
    let mut bad = delivery("issues", "bad-1", &fixture("issues/edited.json"));
    bad["headers"]["X-Hub-Signature-256"] = json!(format!("sha256={}", "0".repeat(64)));
    let (doc, stderr) = replay(&[bad.to_string(), valid()]);
    assert_eq!(doc["stats"]["rejected"], 1);
    assert!(applied(&doc));
    assert!(
        stderr.contains("line 1:") && stderr.contains("signature"),
        "{stderr}"
    );
}

#[test]
fn missing_signature_header_is_rejected() {
    let mut bad = delivery("issues", "nosig", &fixture("issues/edited.json"));
    bad["headers"]
        .as_object_mut()
        .unwrap()
        .remove("X-Hub-Signature-256");
    let (doc, _) = replay(&[valid(), bad.to_string()]);
    assert_eq!(doc["stats"]["rejected"], 1);
    assert!(applied(&doc));
}

#[test]
fn signed_truncated_json_non_json_and_empty_bodies_are_dead_lettered_not_applied() {
    let opened = fixture("issues/opened.json");
    let lines = vec![
        delivery("issues", "trunc", &opened[..200]).to_string(),
        delivery("issues", "nonjson", "this is not json").to_string(),
        delivery("issues", "empty", "").to_string(),
        valid(),
    ];
    let (doc, _) = replay(&lines);
    let dead: Vec<&str> = doc["dead_letters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["delivery_id"].as_str().unwrap())
        .collect();
    assert_eq!(dead, vec!["empty", "nonjson", "trunc"]);
    assert!(
        doc["dead_letters"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["error"].as_str().unwrap().contains("malformed"))
    );
    assert_eq!(doc["stats"]["dead_lettered"], 3);
    assert!(applied(&doc));
}

#[test]
fn unknown_event_is_ignored_with_a_count() {
    let (doc, _) = replay(&[
        delivery("not_an_event", "unknown", &fixture("issues/opened.json")).to_string(),
        valid(),
    ]);
    assert_eq!(doc["stats"]["ignored"], 1);
    assert_eq!(doc["stats"]["rejected"], 0);
    assert!(applied(&doc));
    assert!(doc["dead_letters"].as_array().unwrap().is_empty());
}

#[test]
fn a_body_of_several_megabytes_is_accepted_and_applied() {
    let mut payload: Value = serde_json::from_str(&fixture("issues/opened.json")).unwrap();
    payload["issue"]["body"] = json!("x".repeat(5 * 1024 * 1024));
    let body = payload.to_string();
    let (doc, _) = replay(&[delivery("issues", "big", &body).to_string()]);
    assert!(applied(&doc));
    let issue = &doc["objects"][0];
    assert_eq!(
        issue["fields"]["body"].as_str().unwrap().len(),
        5 * 1024 * 1024
    );
}

#[test]
fn a_payload_for_another_org_is_rejected_as_cross_org() {
    // transferred.json belongs to octo-org/octo-repo, not the binding's repository.
    let foreign = delivery("issues", "foreign", &fixture("issues/transferred.json"));
    let (doc, stderr) = replay(&[foreign.to_string(), valid()]);
    assert_eq!(doc["stats"]["rejected"], 1);
    assert!(stderr.contains("cross-org"), "{stderr}");
    assert!(
        !doc["objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["native_id"] == "512748900")
    );
    assert!(applied(&doc));
}

#[test]
fn a_line_that_is_not_json_names_its_line_and_the_run_goes_on() {
    let (doc, stderr) = replay(&[
        "{not json".to_owned(),
        valid(),
        "{\"type\":\"nope\"}".to_owned(),
    ]);
    assert_eq!(doc["stats"]["invalid_lines"], 2);
    assert!(stderr.contains("line 1: not a JSON record"), "{stderr}");
    assert!(stderr.contains("line 3: not a valid record"), "{stderr}");
    assert!(applied(&doc));
}

#[test]
fn strict_mode_stops_at_the_first_bad_line_with_exit_2() {
    let out = run(
        &[
            "replay",
            "--strict",
            "--secret",
            &format!("github={SECRET}"),
        ],
        &format!("{}\n{{oops\n", valid()),
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 2:"), "{stderr}");
}

#[test]
fn unknown_provider_and_unreadable_file_are_one_line_errors() {
    let mut other = delivery("issues", "x", &fixture("issues/opened.json"));
    other["provider"] = json!("gitbucket");
    let (doc, stderr) = replay(&[other.to_string(), valid()]);
    assert!(
        stderr.contains("line 1: unknown provider `gitbucket`"),
        "{stderr}"
    );
    assert_eq!(doc["stats"]["rejected"], 1);
    let out = run(&["replay", "/nonexistent/log.ndjson"], "");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot read /nonexistent/log.ndjson"),
        "{stderr}"
    );
}

#[test]
fn missing_secret_says_how_to_pass_one() {
    let out = run(&["replay", "-"], &valid());
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("pass --secret github=SECRET"), "{stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["stats"]["rejected"], 1);
    assert!(doc["objects"].as_array().unwrap().is_empty());
}

#[test]
fn output_is_byte_identical_across_runs() {
    let log = std::fs::read_to_string(format!(
        "{}/../../examples/fixtures/github-issues.ndjson",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let a = run(
        &["replay", "--secret", "github=kradle-demo-secret", "-"],
        &log,
    );
    let b = run(
        &["replay", "--secret", "github=kradle-demo-secret", "-"],
        &log,
    );
    assert!(a.status.success());
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn bundled_log_tells_its_story() {
    let log = std::fs::read_to_string(format!(
        "{}/../../examples/fixtures/github-issues.ndjson",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let out = run(
        &["replay", "--secret", "github=kradle-demo-secret", "-"],
        &log,
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let intents = doc["write_intents"].as_array().unwrap();
    let state = |kind: &str| {
        intents
            .iter()
            .find(|i| i["kind"] == kind)
            .map(|i| i["state"].clone())
    };
    assert_eq!(
        state("comment"),
        Some(json!("confirmed")),
        "the echoed comment edit confirms its intent"
    );
    assert_eq!(
        state("issue"),
        Some(json!("conflicted")),
        "the milestone changed on both sides"
    );
    let conflicts = doc["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(
        conflicts[0]["fields"],
        json!([{ "field": "milestone", "base": 1, "local": 2, "external": null }])
    );
    assert_eq!(doc["stats"]["duplicates"], 1);
    assert_eq!(doc["stats"]["stale"], 1);
    assert_eq!(doc["stats"]["rejected"], 2);
    insta::assert_json_snapshot!("bundled_log", doc);
}

#[test]
fn echo_confirms_and_same_field_conflicts() {
    let opened = fixture("issues/opened.json");
    let mut edited: Value = serde_json::from_str(&opened).unwrap();
    edited["action"] = json!("edited");
    edited["issue"]["title"] = json!("Synced title");
    edited["issue"]["updated_at"] = json!("2019-05-15T16:20:18Z");
    let local = |title: &str| {
        json!({"type":"local_change","provider":"github","binding":"Codertocat/Hello-World","kind":"issue","native_id":"444500041","fields":{"title":title}}).to_string()
    };
    let (doc, _) = replay(&[
        valid(),
        local("Synced title"),
        delivery("issues", "echo", &edited.to_string()).to_string(),
    ]);
    assert_eq!(doc["write_intents"].as_array().unwrap().len(), 1);
    assert_eq!(doc["write_intents"][0]["state"], "confirmed");
    assert!(doc["conflicts"].as_array().unwrap().is_empty());
    let (doc, _) = replay(&[
        valid(),
        local("Local title"),
        delivery("issues", "ext", &edited.to_string()).to_string(),
    ]);
    assert_eq!(doc["conflicts"][0]["fields"][0]["field"], "title");
    assert_eq!(doc["write_intents"][0]["state"], "conflicted");
}

#[test]
fn mirror_bindings_from_a_file_never_write() {
    let dir = std::env::temp_dir().join(format!("kradle-bindings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bindings.toml");
    std::fs::write(
        &path,
        r#"
[[binding]]
name = "Codertocat/Hello-World"
provider = "github"
secret_env = "KRADLE_TEST_SECRET"

[binding.interfaces.issue_tracking]
mode = "mirror"
"#,
    )
    .unwrap();
    let local = json!({"type":"local_change","provider":"github","binding":"Codertocat/Hello-World","kind":"issue","native_id":"444500041","delete":true}).to_string();
    let change = json!({"type":"local_change","provider":"github","binding":"Codertocat/Hello-World","kind":"issue","native_id":"444500041","fields":{"title":"x"}}).to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kradle-sync"))
        .args(["replay", "--bindings", path.to_str().unwrap(), "-"])
        .env("KRADLE_TEST_SECRET", SECRET)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all([valid(), change, local].join("\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        doc["write_intents"].as_array().unwrap().is_empty(),
        "a mirror never writes to the provider"
    );
    assert_eq!(
        doc["conflicts"][0]["reason"],
        "local_mutation_of_external_owned"
    );
    assert_eq!(doc["objects"][0]["local_deleted"], true);
    assert_eq!(doc["objects"][0]["tombstone"], false);
}

#[test]
fn normalize_prints_events_or_ignored() {
    let path = format!(
        "{}/../../fixtures/github/webhooks/issues/opened.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = run(
        &[
            "normalize",
            "--provider",
            "github",
            "--event",
            "issues",
            &path,
        ],
        "",
    );
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["native_id"], "444500041");
    // Guessed from the payload when --event is omitted.
    let guessed = run(&["normalize", "--provider", "github", &path], "");
    assert_eq!(guessed.stdout, out.stdout);
    let out = run(
        &[
            "normalize",
            "--provider",
            "github",
            "--event",
            "sponsorship",
            &path,
        ],
        "",
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ignored: "));
    let out = run(
        &[
            "normalize",
            "--provider",
            "github",
            "--event",
            "issues",
            "-",
        ],
        "{\"truncated\":",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("malformed"));
}

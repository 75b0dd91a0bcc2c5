//! The CLI contract for Jira, through the binary with real Jira payloads
//! (`fixtures/jira/`): `replay` of a log mixing GitHub and Jira deliveries (admin webhooks
//! signed with `X-Hub-Signature`, an app webhook with a JWT), `normalize --provider jira`,
//! `backfill --provider jira` against a local Data Center double, and `serve` receiving
//! `POST /webhooks/jira/{binding}`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use kradle_provider_jira::app_token;
use kradle_sync_core::Secret;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const JIRA_SECRET: &str = "jira-cli-secret";
const GITHUB_SECRET: &str = "github-cli-secret";
const SITE: &str = "some-instance-test.atlassian.net/TES";

fn read(path: &str) -> String {
    let full = format!("{}/../../fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    let value: Value = serde_json::from_str(
        &std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}")),
    )
    .unwrap();
    serde_json::to_string(&value).unwrap()
}

fn jira(name: &str) -> String {
    read(&format!("jira/webhooks/{name}"))
}

fn hmac_hex(secret: &str, body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn jira_delivery(binding: &str, id: &str, body: &str) -> String {
    json!({
        "type": "delivery", "provider": "jira", "binding": binding,
        "headers": {
            "X-Atlassian-Webhook-Identifier": id,
            "X-Hub-Signature": hmac_hex(JIRA_SECRET, body),
            "Content-Type": "application/json",
        },
        "body": body,
    })
    .to_string()
}

fn run(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kradle-sync"));
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn document(out: &Output) -> Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "failed: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn object<'a>(doc: &'a Value, provider: &str, kind: &str, id: &str) -> Option<&'a Value> {
    doc["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["provider"] == provider && o["kind"] == kind && o["native_id"] == id)
}

#[test]
fn a_log_mixing_github_and_jira_replays_and_rejects_what_it_must() {
    let github_body = read("github/webhooks/issues/opened.json");
    let github = json!({
        "type": "delivery", "provider": "github", "binding": "Codertocat/Hello-World",
        "headers": {
            "X-GitHub-Event": "issues", "X-GitHub-Delivery": "gh-1",
            "X-Hub-Signature-256": hmac_hex(GITHUB_SECRET, &github_body),
        },
        "body": github_body,
    })
    .to_string();
    let created = jira("jira_issue_created/mattermost-issue-created.json");
    let assigned = jira("jira_issue_updated/mattermost-issue-updated-assigned.json");
    let comment = jira("comment_created/mattermost-cloud-comment-created.json");
    // Another site's payload delivered to this binding.
    let foreign = jira("comment_deleted/mattermost-cloud-comment-deleted.json");
    let mut forged = jira_delivery(SITE, "forged-1", &assigned);
    forged = forged.replace(
        &hmac_hex(JIRA_SECRET, &assigned),
        &hmac_hex("wrong", &assigned),
    );
    let lines = [
        github,
        jira_delivery(SITE, "jira-1", &created),
        jira_delivery(SITE, "jira-2", &assigned),
        jira_delivery(SITE, "jira-2", &assigned),
        jira_delivery(SITE, "jira-3", &comment),
        jira_delivery(SITE, "jira-4", &foreign),
        forged,
    ];
    let out = run(
        &[
            "replay",
            "--secret",
            &format!("github={GITHUB_SECRET}"),
            "--secret",
            &format!("jira={JIRA_SECRET}"),
            "-",
        ],
        &lines.join("\n"),
        &[],
    );
    let doc = document(&out);
    let stats = &doc["stats"];
    assert_eq!(stats["deliveries"], 7, "{stats}");
    assert_eq!(stats["duplicates"], 1, "{stats}");
    assert_eq!(stats["rejected"], 2, "{stats}");
    assert!(object(&doc, "github", "issue", "444500041").is_some());
    let issue = object(&doc, "jira", "issue", "10040").unwrap();
    let fields = &issue["fields"];
    assert_eq!(fields["title"], "Unit test summary 1");
    assert_eq!(fields["assignees"], json!(["5c5f880629be9642ba529340"]));
    assert_eq!(fields["status"], "To Do");
    assert_eq!(fields["state"], "open");
    let comment = object(&doc, "jira", "comment", "10019").unwrap();
    assert_eq!(comment["fields"]["body"], "Added a comment");
    assert!(object(&doc, "jira", "comment", "10757").is_none());
    // Deterministic: a second run prints the same bytes.
    let again = run(
        &[
            "replay",
            "--secret",
            &format!("github={GITHUB_SECRET}"),
            "--secret",
            &format!("jira={JIRA_SECRET}"),
            "-",
        ],
        &lines.join("\n"),
        &[],
    );
    assert_eq!(out.stdout, again.stdout);
}

#[test]
fn an_app_binding_accepts_its_jwt_and_refuses_unsigned_deliveries() {
    let dir = std::env::temp_dir().join(format!("kradle-jira-jwt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bindings = dir.join("bindings.toml");
    std::fs::write(
        &bindings,
        format!(
            "[[binding]]\nname = \"{SITE}\"\nprovider = \"jira\"\nsecret_env = \"KRADLE_JIRA_APP_SECRET\"\nwebhook_scheme = \"jwt-hs256\"\nwebhook_issuer = \"kradle-app\"\n"
        ),
    )
    .unwrap();
    let body = jira("jira_issue_updated/mattermost-issue-updated-assigned.json");
    // Replay's logical clock starts at the epoch: a token valid from then on.
    let now = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    let token = app_token(
        &Secret::new("app-client-secret"),
        "kradle-app",
        now,
        now + chrono::Duration::days(365 * 100),
    );
    let signed = json!({
        "type": "delivery", "provider": "jira", "binding": SITE,
        "headers": {"X-Atlassian-Webhook-Identifier": "app-1", "Authorization": format!("Bearer {token}")},
        "body": body,
    });
    let unsigned = json!({
        "type": "delivery", "provider": "jira", "binding": SITE,
        "headers": {"X-Atlassian-Webhook-Identifier": "app-2"},
        "body": body,
    });
    let out = run(
        &["replay", "--bindings", bindings.to_str().unwrap(), "-"],
        &format!("{signed}\n{unsigned}\n"),
        &[("KRADLE_JIRA_APP_SECRET", "app-client-secret")],
    );
    let doc = document(&out);
    assert_eq!(doc["stats"]["rejected"], 1, "{}", doc["stats"]);
    assert!(object(&doc, "jira", "issue", "10040").is_some());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("app-client-secret"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn normalize_prints_events_or_why_none() {
    let file = format!(
        "{}/../../fixtures/jira/webhooks/jira_issue_updated/mattermost-server-issue-updated-commented-1.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = run(&["normalize", "--provider", "jira", &file], "", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["kind"], "issue");
    assert_eq!(lines[0]["action"], "issue_commented");
    assert_eq!(lines[1]["kind"], "comment");
    assert_eq!(lines[1]["native_id"], "10082");
    // An event out of scope: derived from the same body with another `webhookEvent`.
    let mut body: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    body["webhookEvent"] = json!("worklog_created");
    let out = run(
        &["normalize", "--provider", "jira", "-"],
        &body.to_string(),
        &[],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.starts_with("ignored: "),
        "{text}"
    );
}

fn json_response(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "application/json;charset=UTF-8")
        .set_body_json(body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_reads_a_data_center_project_in_one_search_request() {
    let server = MockServer::start().await;
    let fixture =
        |p: &str| -> Value { serde_json::from_str(&read(&format!("jira/rest/{p}"))).unwrap() };
    Mock::given(method("GET"))
        .and(path("/rest/api/2/search"))
        .respond_with(json_response(fixture("search/jira-ruby-issue.json")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/2/issue/SAMPLEPROJECT-1/comment"))
        .respond_with(json_response(fixture(
            "comments/jira-ruby-issue_10002_comment.json",
        )))
        .mount(&server)
        .await;
    // Derived: the other issues have no comments (the documented page shape, empty).
    Mock::given(method("GET"))
        .and(path_regex(r"^/rest/api/2/issue/SAMPLEPROJECT-\d+/comment$"))
        .respond_with(json_response(
            json!({"startAt": 0, "maxResults": 100, "total": 0, "comments": []}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/2/project/SAMPLEPROJECT/versions"))
        .respond_with(json_response(json!([])))
        .mount(&server)
        .await;
    let uri = server.uri();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_kradle-sync"))
            .args([
                "backfill",
                "--provider",
                "jira",
                "--project",
                "localhost:2990/SAMPLEPROJECT",
                "--api-url",
                &uri,
            ])
            .env("JIRA_TOKEN", "kradle-dc-personal-access-token")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let doc = document(&out);
    let issues = doc["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "issue")
        .count();
    assert_eq!(issues, 11);
    let comments = doc["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "comment")
        .count();
    assert_eq!(comments, 2);
    let received = server.received_requests().await.unwrap();
    let searches = received
        .iter()
        .filter(|r| r.url.path() == "/rest/api/2/search")
        .count();
    assert_eq!(searches, 1, "11 issues, one search request");
    assert!(received.iter().all(
        |r| r.headers.get("authorization").unwrap().to_str().unwrap()
            == "Bearer kradle-dc-personal-access-token"
    ));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("kradle-dc-personal-access-token"),
        "{stderr}"
    );
    // Without a site the backfill says what to give.
    let out = Command::new(env!("CARGO_BIN_EXE_kradle-sync"))
        .args([
            "backfill",
            "--provider",
            "jira",
            "--project",
            "localhost:2990/SAMPLEPROJECT",
        ])
        .env("JIRA_TOKEN", "t")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("api_url"),
        "{stderr}"
    );
    // A target that is not SITE/KEY is a usage error.
    let out = Command::new(env!("CARGO_BIN_EXE_kradle-sync"))
        .args([
            "backfill",
            "--provider",
            "jira",
            "--project",
            "site/lowercase",
            "--api-url",
            "http://127.0.0.1:9",
        ])
        .env("JIRA_TOKEN", "t")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("SITE/KEY"),
        "{stderr}"
    );
}

#[tokio::test]
async fn serve_receives_jira_webhooks() {
    let dir = std::env::temp_dir().join(format!("kradle-jira-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bindings = dir.join("bindings.toml");
    std::fs::write(
        &bindings,
        format!("[[binding]]\nname = \"{SITE}\"\nprovider = \"jira\"\nsecret_env = \"KRADLE_JIRA_SECRET\"\n"),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kradle-sync"))
        .args([
            "serve",
            "--store",
            "memory",
            "--listen",
            "127.0.0.1:0",
            "--bindings",
        ])
        .arg(&bindings)
        .env("KRADLE_JIRA_SECRET", JIRA_SECRET)
        .env_remove("KRADLE_STORE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_owned();
    let body = jira("jira_issue_updated/mattermost-issue-updated-assigned.json");
    let client = reqwest::Client::new();
    let post = |signature: String, id: &'static str| {
        client
            .post(format!("{url}/webhooks/jira/{SITE}"))
            .header("X-Atlassian-Webhook-Identifier", id)
            .header("X-Hub-Signature", signature)
            .header("Content-Type", "application/json")
            .body(body.clone())
            .send()
    };
    let accepted = post(hmac_hex(JIRA_SECRET, &body), "serve-1").await.unwrap();
    assert_eq!(accepted.status().as_u16(), 202);
    let refused = post(hmac_hex("wrong", &body), "serve-2").await.unwrap();
    assert!(refused.status().is_client_error(), "{}", refused.status());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let health: Value = client
            .get(format!("{url}/healthz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if health["workers"]["processed"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "never processed: {health}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let _ = std::fs::remove_dir_all(&dir);
}

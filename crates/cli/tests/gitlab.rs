//! The CLI contract for GitLab, through the binary with real GitLab payloads
//! (`fixtures/gitlab/`): `replay` of a log mixing GitHub and GitLab deliveries (the secret
//! token in `X-Gitlab-Token`, GitLab 17.4's `Idempotency-Key`), `normalize --provider
//! gitlab`, `backfill --provider gitlab` against a local self-managed double, and `serve`
//! receiving `POST /webhooks/gitlab/{binding}`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const GITLAB_SECRET: &str = "gitlab-cli-secret-token";
const GITHUB_SECRET: &str = "github-cli-secret";
/// The project of go-gitlab's issue and merge request hooks.
const PROJECT: &str = "gitlabhq/gitlab-test";

fn read(path: &str) -> String {
    let full = format!("{}/../../fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    let value: Value = serde_json::from_str(
        &std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}")),
    )
    .unwrap();
    serde_json::to_string(&value).unwrap()
}

fn gitlab(name: &str) -> String {
    read(&format!("gitlab/webhooks/{name}"))
}

fn hmac_hex(secret: &str, body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A delivery as GitLab 17.4+ sends it (`WebHookService#build_headers`).
fn gitlab_delivery(binding: &str, hook: &str, id: &str, token: &str, body: &str) -> String {
    json!({
        "type": "delivery", "provider": "gitlab", "binding": binding,
        "headers": {
            "X-Gitlab-Event": hook,
            "X-Gitlab-Token": token,
            "Idempotency-Key": id,
            "X-Gitlab-Webhook-UUID": format!("{id}-request"),
            "X-Gitlab-Event-UUID": "13792a34-cac6-4fda-95a8-c58e00a3954e",
            "X-Gitlab-Instance": "https://gitlab.example.com",
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

fn replay_args() -> Vec<String> {
    vec![
        "replay".into(),
        "--secret".into(),
        format!("github={GITHUB_SECRET}"),
        "--secret".into(),
        format!("gitlab={GITLAB_SECRET}"),
        "-".into(),
    ]
}

#[test]
fn a_log_mixing_github_and_gitlab_replays_and_rejects_what_it_must() {
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
    let issue = gitlab("issue/go-gitlab-issue.json");
    let merge_request = gitlab("merge_request/go-gitlab-merge_request.json");
    // Another project's note (gitlab-org/gitlab-test) delivered to this binding.
    let foreign = gitlab("note/go-gitlab-note_issue.json");
    let lines = [
        github,
        gitlab_delivery(PROJECT, "Issue Hook", "gl-1", GITLAB_SECRET, &issue),
        // GitLab retrying the same delivery: the same Idempotency-Key.
        gitlab_delivery(PROJECT, "Issue Hook", "gl-1", GITLAB_SECRET, &issue),
        gitlab_delivery(
            PROJECT,
            "Merge Request Hook",
            "gl-2",
            GITLAB_SECRET,
            &merge_request,
        ),
        gitlab_delivery(PROJECT, "Note Hook", "gl-3", GITLAB_SECRET, &foreign),
        gitlab_delivery(PROJECT, "Issue Hook", "gl-4", "not-the-token", &issue),
    ];
    let args = replay_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&args, &lines.join("\n"), &[]);
    let doc = document(&out);
    let stats = &doc["stats"];
    assert_eq!(stats["deliveries"], 6, "{stats}");
    assert_eq!(stats["duplicates"], 1, "{stats}");
    assert_eq!(stats["rejected"], 2, "{stats}");
    assert!(object(&doc, "github", "issue", "444500041").is_some());
    let issue = object(&doc, "gitlab", "issue", "301").unwrap();
    assert_eq!(issue["binding"], PROJECT);
    let fields = &issue["fields"];
    assert_eq!(fields["number"], 23);
    assert_eq!(fields["state"], "open");
    assert_eq!(fields["labels"], json!(["API"]));
    let mr = object(&doc, "gitlab", "pull_request", "99").unwrap();
    assert_eq!(mr["fields"]["head"], "ms-viewport");
    assert!(
        object(&doc, "gitlab", "comment", "1241").is_none(),
        "the foreign note"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cross-org"), "{stderr}");
    assert!(
        !stderr.contains(GITLAB_SECRET) && !stderr.contains("not-the-token"),
        "{stderr}"
    );
    // Deterministic: a second run prints the same bytes.
    let again = run(&args, &lines.join("\n"), &[]);
    assert_eq!(out.stdout, again.stdout);
}

#[test]
fn normalize_prints_events_or_why_none() {
    let dir = format!(
        "{}/../../fixtures/gitlab/webhooks",
        env!("CARGO_MANIFEST_DIR")
    );
    // The hook guessed from the body's `object_kind`.
    let out = run(
        &[
            "normalize",
            "--provider",
            "gitlab",
            &format!("{dir}/note/go-gitlab-note_issue.json"),
        ],
        "",
        &[],
    );
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
    assert_eq!(lines[0]["kind"], "comment");
    assert_eq!(lines[0]["native_id"], "1241");
    assert_eq!(lines[1]["kind"], "issue");
    // The old name of the job hook, given with --event.
    let out = run(
        &[
            "normalize",
            "--provider",
            "gitlab",
            "--event",
            "Build Hook",
            &format!("{dir}/build/pydantic-job.json"),
        ],
        "",
        &[],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("\"kind\":\"job\""),
        "{text}"
    );
    // A note on a commit: accepted, nothing synced, and why.
    let out = run(
        &["normalize", "--provider", "gitlab", "-"],
        &gitlab("note/go-gitlab-note_commit.json"),
        &[],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.starts_with("ignored: "),
        "{text}"
    );
    // A body that is not JSON: a clear error, no panic.
    let out = run(
        &["normalize", "--provider", "gitlab", "-"],
        "{\"object_kind\":",
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && !stderr.contains("panicked"),
        "{stderr}"
    );
}

fn json_response(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "application/json")
        .set_body_json(body)
}

fn rest(p: &str) -> Value {
    serde_json::from_str(&read(&format!("gitlab/rest/{p}"))).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_reads_a_self_managed_project_under_subgroups() {
    let server = MockServer::start().await;
    let project = "/api/v4/projects/gitlab-org%2Fplatform%2Fgitlab-test";
    let mount = |p: String, body: Value| {
        let server = &server;
        async move {
            Mock::given(method("GET"))
                .and(path(p))
                .respond_with(json_response(body))
                .mount(server)
                .await;
        }
    };
    let mut issues = vec![rest("issues/go-gitlab-issue_move.json")];
    issues.extend(rest("issues/narkoz-group_issues.json").as_array().unwrap()[..1].to_vec());
    mount(format!("{project}/issues"), json!(issues)).await;
    // Derived: the documented note on issue #11 (id 92); #1 has no other notes.
    let mut note = rest("notes/gitlab-docs-search_notes.json");
    note[0]["noteable_id"] = json!(92);
    note[0]["noteable_iid"] = json!(11);
    mount(format!("{project}/issues/11/notes"), note).await;
    mount(
        format!("{project}/issues/1/notes"),
        rest("notes/gitlab-docs-list_issue_notes.json"),
    )
    .await;
    mount(
        format!("{project}/labels"),
        rest("labels/gitlab-docs-list_labels.json"),
    )
    .await;
    mount(
        format!("{project}/milestones"),
        rest("milestones/gitlab-docs-list_milestones.json"),
    )
    .await;
    mount(
        format!("{project}/merge_requests"),
        rest("merge_requests/go-gitlab-get_merge_requests.json"),
    )
    .await;
    mount(
        format!("{project}/pipelines"),
        rest("pipelines/narkoz-pipelines.json"),
    )
    .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/unexpected"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let uri = server.uri();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_kradle-sync"))
            .args([
                "backfill",
                "--provider",
                "gitlab",
                "--project",
                "gitlab-org/platform/gitlab-test",
                "--api-url",
                &uri,
                "--token-env",
                "KRADLE_TEST_GITLAB_TOKEN",
            ])
            .env(
                "KRADLE_TEST_GITLAB_TOKEN",
                "glpat-kradle-cli-backfill-token",
            )
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let doc = document(&out);
    let count = |kind: &str| {
        doc["objects"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["kind"] == kind)
            .count()
    };
    assert_eq!(count("issue"), 2);
    assert_eq!(count("comment"), 1, "system notes are not comments");
    assert_eq!(count("label"), 5);
    assert_eq!(count("milestone"), 1);
    assert_eq!(count("pull_request"), 3);
    assert_eq!(count("pipeline"), 2);
    let received = server.received_requests().await.unwrap();
    assert!(
        received
            .iter()
            .all(|r| r.url.path().starts_with("/api/v4/"))
    );
    assert!(received.iter().all(|r| {
        r.headers.get("authorization").is_none()
            && r.headers.get("private-token").unwrap().to_str().unwrap()
                == "glpat-kradle-cli-backfill-token"
    }));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("glpat-kradle-cli-backfill-token"),
        "{stderr}"
    );
    // A target that is not GROUP/…/PROJECT is a usage error, before any request.
    for (project, says) in [
        ("just-a-project", "GROUP/…/PROJECT"),
        ("gitlab-org/../secrets", "path_with_namespace"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_kradle-sync"))
            .args([
                "backfill",
                "--provider",
                "gitlab",
                "--project",
                project,
                "--api-url",
                "http://127.0.0.1:9",
            ])
            .env("GITLAB_TOKEN", "t")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(says),
            "{project}: {stderr}"
        );
    }
}

#[tokio::test]
async fn serve_receives_gitlab_webhooks() {
    let dir = std::env::temp_dir().join(format!("kradle-gitlab-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bindings = dir.join("bindings.toml");
    std::fs::write(
        &bindings,
        format!(
            "[[binding]]\nname = \"{PROJECT}\"\nprovider = \"gitlab\"\nsecret_env = \"KRADLE_GITLAB_SECRET\"\n"
        ),
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
        .env("KRADLE_GITLAB_SECRET", GITLAB_SECRET)
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
    let body = gitlab("issue/go-gitlab-issue.json");
    let client = reqwest::Client::new();
    let post = |token: Option<&'static str>, id: Option<&'static str>, body: String| {
        let mut request = client
            .post(format!("{url}/webhooks/gitlab/{PROJECT}"))
            .header("X-Gitlab-Event", "Issue Hook")
            .header("Content-Type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.header("X-Gitlab-Token", token);
        }
        if let Some(id) = id {
            request = request.header("Idempotency-Key", id);
        }
        request.send()
    };
    let accepted = post(Some(GITLAB_SECRET), Some("serve-1"), body.clone())
        .await
        .unwrap();
    assert_eq!(accepted.status().as_u16(), 202);
    let again = post(Some(GITLAB_SECRET), Some("serve-1"), body.clone())
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 200, "GitLab's retry: a duplicate");
    let wrong = post(Some("wrong"), Some("serve-2"), body.clone())
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let missing = post(None, Some("serve-3"), body.clone()).await.unwrap();
    assert_eq!(missing.status().as_u16(), 401);
    let no_id = post(Some(GITLAB_SECRET), None, body.clone()).await.unwrap();
    assert_eq!(no_id.status().as_u16(), 400, "a delivery without any id");
    let no_hook = client
        .post(format!("{url}/webhooks/gitlab/{PROJECT}"))
        .header("X-Gitlab-Token", GITLAB_SECRET)
        .header("Idempotency-Key", "serve-4")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        no_hook.status().as_u16(),
        400,
        "a delivery without X-Gitlab-Event"
    );
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

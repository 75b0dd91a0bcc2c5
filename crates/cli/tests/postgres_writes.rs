//! Writes leave through the service: host changes fed with `replay --store postgres://…`
//! become exactly one request each to a local GitHub API (wiremock serving real issue
//! representations, derived as `DERIVED.md` says), the provider's webhook for the write
//! closes the loop without another write, a worker killed mid-create leaves an intent the
//! next worker adopts by its marker instead of creating twice, and approvals gate writes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod postgres_common;

use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use postgres_common::*;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const TOKEN_ENV: &str = "KRADLE_TEST_GITHUB_TOKEN";
const TOKEN: &str = "test-token-not-real";
const REPO: &str = "/repos/Codertocat/Hello-World";
const HOOK: &str = "/webhooks/github/Codertocat/Hello-World";

/// A bindings file `name` for the fixtures' repository writing to `api` with a token from
/// [`TOKEN_ENV`] (none with `token = false`), and `extra` TOML lines for the binding.
fn bindings_file(db: &TestDb, name: &str, api: &str, token: bool, extra: &str) -> String {
    let path = db.dir.join(name);
    let token_line = if token {
        format!("token_env = \"{TOKEN_ENV}\"\n")
    } else {
        String::new()
    };
    std::fs::write(
        &path,
        format!(
            "[[binding]]\nname = \"{BINDING}\"\nprovider = \"github\"\nsecret_env = \"{SECRET_ENV}\"\napi_url = \"{api}\"\n{token_line}{extra}"
        ),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

/// Runs the binary with the store arguments, the webhook secret and the token.
fn run(db: &TestDb, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kradle-sync"))
        .args(args)
        .args(["--store", &db.url, "--schema", &db.schema])
        .env(SECRET_ENV, SECRET)
        .env(TOKEN_ENV, TOKEN)
        .env("KRADLE_LOG", "info")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Feeds host changes (and deliveries): `replay` of records into the durable store.
fn local_changes(db: &TestDb, bindings: &str, records: &[Value]) {
    let log = db.dir.join("host-changes.ndjson");
    let text: Vec<String> = records.iter().map(Value::to_string).collect();
    std::fs::write(&log, text.join("\n")).unwrap();
    let out = run(
        db,
        &[
            "replay",
            log.to_str().unwrap(),
            "--bindings",
            bindings,
            "--strict",
        ],
    );
    assert!(
        out.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn change(native_id: &str, fields: Value) -> Value {
    json!({
        "type": "local_change", "provider": "github", "binding": BINDING,
        "kind": "issue", "native_id": native_id, "fields": fields, "actor": "user:alice",
    })
}

/// `intents list --json`.
fn intents(db: &TestDb) -> Vec<Value> {
    let out = run(db, &["intents", "list", "--json"]);
    match json_of(&out) {
        Value::Array(items) => items,
        other => panic!("not a list: {other}"),
    }
}

/// A worker that writes, run until nothing is claimable.
fn drain(db: &TestDb, bindings: &str) -> (Value, String) {
    let out = run(
        db,
        &[
            "worker",
            "--bindings",
            bindings,
            "--drain",
            "--worker-id",
            "drain",
        ],
    );
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    (json_of(&out), log)
}

/// The `issue` of a real delivery: the REST API's representation of that issue.
fn rest_issue(delivery: &str) -> Value {
    serde_json::from_str::<Value>(&fixture(delivery)).unwrap()["issue"].clone()
}

/// The requests the API received, as `METHOD path`.
async fn requests(api: &MockServer) -> Vec<String> {
    api.received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect()
}

/// `PATCH …/issues/1` answered as GitHub does: the issue with the request's fields, updated
/// at `updated_at`.
fn patch_answers(updated_at: &'static str) -> impl Fn(&Request) -> ResponseTemplate {
    move |request: &Request| {
        let sent: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let mut issue = rest_issue("issues/opened.json");
        if let Some(fields) = sent.as_object() {
            for (k, v) in fields {
                issue[k.as_str()] = v.clone();
            }
        }
        issue["updated_at"] = json!(updated_at);
        ResponseTemplate::new(200).set_body_json(issue)
    }
}

/// `serve` with its workers writing (the token in its environment).
fn serve(db: &TestDb, bindings: &str) -> Server {
    spawn_server_with(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--store",
            &db.url,
            "--schema",
            &db.schema,
            "--bindings",
            bindings,
            "--workers",
            "2",
            "--poll-ms",
            "100",
        ],
        &[(TOKEN_ENV, TOKEN)],
    )
}

#[tokio::test]
async fn a_host_change_is_one_request_and_its_webhook_closes_the_loop() {
    let Some(db) = TestDb::new("writes_loop").await else {
        return;
    };
    let api = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path(format!("{REPO}/issues/1")))
        .respond_with(patch_answers("2019-05-15T15:21:18Z"))
        .mount(&api)
        .await;
    let bindings = bindings_file(&db, "bindings.toml", &api.uri(), true, "");
    let server = serve(&db, &bindings);
    let client = reqwest::Client::new();

    // The provider tells the service about the issue.
    let opened = signed("issues", "write-loop-1", fixture("issues/opened.json"));
    assert_eq!(post(&client, &server, HOOK, &opened).await.status(), 202);
    eventually("the opened issue is applied", || async {
        db.deliveries().await.iter().all(|d| d.1 == "processed")
    })
    .await;

    // The host renames it.
    let title = "Spelling error in the README";
    local_changes(
        &db,
        &bindings,
        &[change("444500041", json!({ "title": title }))],
    );
    eventually("the write is confirmed", || async {
        intents(&db).iter().any(|i| i["state"] == "confirmed")
    })
    .await;
    assert_eq!(
        requests(&api).await,
        vec![format!("PATCH {REPO}/issues/1")],
        "one host change, one request"
    );
    let sent: Value =
        serde_json::from_slice(&api.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(
        sent,
        json!({ "title": title }),
        "only the changed field is sent"
    );

    // GitHub's webhook for the edit arrives: the echo of the write changes nothing and
    // writes nothing back.
    let mut edited: Value = serde_json::from_str(&fixture("issues/edited.json")).unwrap();
    edited["issue"]["title"] = json!(title);
    edited["issue"]["updated_at"] = json!("2019-05-15T15:21:18Z");
    edited["changes"] = json!({ "title": { "from": "Spelling error in the README file" } });
    let echo = signed("issues", "write-loop-2", edited.to_string());
    assert_eq!(post(&client, &server, HOOK, &echo).await.status(), 202);
    eventually("the echo is processed", || async {
        db.deliveries().await.iter().all(|d| d.1 == "processed")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
    assert!(log.contains("write executed"), "{log}");
    assert_eq!(
        requests(&api).await.len(),
        1,
        "nothing is written back: {log}"
    );
    let all = intents(&db);
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["state"], "confirmed");
    assert_eq!(all[0]["attempts"], 1);
    let conflicts = json_of(&run(&db, &["conflicts", "--json"]));
    assert_eq!(conflicts, json!([]), "no conflict");
}

/// `POST …/issues` as GitHub answers it: a new issue (#2) with the request's title and
/// body, `201`; the listing of recent issues shows it once created.
#[derive(Clone, Default)]
struct Tracker {
    created: Arc<Mutex<Option<Value>>>,
}

impl Tracker {
    fn create(&self, request: &Request) -> Value {
        let sent: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let mut issue = rest_issue("issues/opened.json");
        issue["id"] = json!(444500099_u64);
        issue["number"] = json!(2);
        issue["title"] = sent["title"].clone();
        issue["body"] = sent["body"].clone();
        *self.created.lock().unwrap() = Some(issue.clone());
        issue
    }

    fn listing(&self) -> Value {
        Value::Array(self.created.lock().unwrap().iter().cloned().collect())
    }
}

async fn mount_issues(api: &MockServer, tracker: &Tracker, create_delay: Duration) {
    let creating = tracker.clone();
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/issues")))
        .respond_with(move |r: &Request| {
            ResponseTemplate::new(201)
                .set_body_json(creating.create(r))
                .set_delay(create_delay)
        })
        .mount(api)
        .await;
    let listing = tracker.clone();
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/issues")))
        .and(query_param("sort", "created"))
        .respond_with(move |_: &Request| {
            ResponseTemplate::new(200).set_body_json(listing.listing())
        })
        .mount(api)
        .await;
}

#[tokio::test]
async fn a_worker_killed_mid_create_is_resumed_by_the_next_without_a_second_create() {
    let Some(db) = TestDb::new("writes_sigkill").await else {
        return;
    };
    let api = MockServer::start().await;
    let tracker = Tracker::default();
    // The provider creates the issue at once and answers late: the worker is killed
    // between the provider's create and recording it.
    mount_issues(&api, &tracker, Duration::from_secs(60)).await;
    let bindings = bindings_file(&db, "bindings.toml", &api.uri(), true, "");
    local_changes(
        &db,
        &bindings,
        &[change(
            "local-1",
            json!({ "title": "From the host", "body": "Made in the app." }),
        )],
    );
    let mut first = Command::new(env!("CARGO_BIN_EXE_kradle-sync"))
        .args(["worker", "--bindings", &bindings, "--worker-id", "first"])
        .args(["--store", &db.url, "--schema", &db.schema, "--lease", "2"])
        .env(SECRET_ENV, SECRET)
        .env(TOKEN_ENV, TOKEN)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    eventually("the create reaches the provider", || async {
        tracker.created.lock().unwrap().is_some()
    })
    .await;
    first.kill().unwrap();
    first.wait().unwrap();
    let left = intents(&db);
    assert_eq!(
        left[0]["state"], "applying",
        "the outcome is unknown: {left:?}"
    );
    assert_eq!(left[0]["attempts"], 1);

    // Once the dead worker's lease ends, the next worker takes the intent and finds the
    // issue by the marker the create carried.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (totals, log) = drain(&db, &bindings);
    assert_eq!(totals["written"], 1, "{totals} {log}");
    let posts = requests(&api)
        .await
        .iter()
        .filter(|r| r.starts_with("POST"))
        .count();
    assert_eq!(posts, 1, "never created twice: {:?}", requests(&api).await);
    let done = intents(&db);
    assert_eq!(done[0]["attempts"], 2);
    assert_eq!(done[0]["result_native_id"], "444500099");
    assert!(
        matches!(done[0]["state"].as_str(), Some("confirmed" | "applied")),
        "{done:?}"
    );
    let marker = tracker.listing()[0]["body"].as_str().unwrap().to_owned();
    assert!(
        marker.contains(done[0]["idempotency_key"].as_str().unwrap()),
        "the create carried the intent's marker: {marker}"
    );
}

#[tokio::test]
async fn reviewed_writes_wait_for_an_approval_and_a_rejected_one_never_leaves() {
    let Some(db) = TestDb::new("writes_approval").await else {
        return;
    };
    let api = MockServer::start().await;
    let tracker = Tracker::default();
    mount_issues(&api, &tracker, Duration::ZERO).await;
    let bindings = bindings_file(
        &db,
        "bindings.toml",
        &api.uri(),
        true,
        "[binding.policy]\nwrite_mode = \"reviewed-write\"\n",
    );
    local_changes(
        &db,
        &bindings,
        &[
            change("local-1", json!({ "title": "Wanted" })),
            change("local-2", json!({ "title": "Not wanted" })),
        ],
    );
    let (totals, _) = drain(&db, &bindings);
    assert_eq!(totals["written"], 0);
    assert!(requests(&api).await.is_empty(), "nothing leaves unapproved");
    let waiting = intents(&db);
    assert!(
        waiting.iter().all(|i| i["state"] == "awaiting_approval"),
        "{waiting:?}"
    );
    let id_of = |native: &str| {
        waiting
            .iter()
            .find(|i| i["native_id"] == native)
            .and_then(|i| i["id"].as_str())
            .unwrap()
            .to_owned()
    };
    let (wanted, unwanted) = (id_of("local-1"), id_of("local-2"));

    let table = run(&db, &["intents", "list"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.starts_with("ID"), "{text}");
    assert!(text.contains("awaiting_approval"), "{text}");

    let approve = run(
        &db,
        &[
            "intents",
            "approve",
            "--bindings",
            &bindings,
            "--by",
            "bob",
            &wanted,
        ],
    );
    assert!(
        approve.status.success(),
        "{}",
        String::from_utf8_lossy(&approve.stderr)
    );
    assert!(String::from_utf8_lossy(&approve.stdout).contains("approved by bob"));
    let reject = run(
        &db,
        &[
            "intents",
            "reject",
            "--bindings",
            &bindings,
            "--by",
            "bob",
            "--reason",
            "duplicate",
            &unwanted,
        ],
    );
    assert!(
        reject.status.success(),
        "{}",
        String::from_utf8_lossy(&reject.stderr)
    );
    // Deciding again is refused: neither awaits approval any more.
    let again = run(
        &db,
        &[
            "intents",
            "approve",
            "--bindings",
            &bindings,
            "--by",
            "bob",
            &unwanted,
        ],
    );
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stdout).contains("does not await approval"));

    let (totals, log) = drain(&db, &bindings);
    assert_eq!(totals["written"], 1, "{totals} {log}");
    assert_eq!(requests(&api).await, vec![format!("POST {REPO}/issues")]);
    let decided = intents(&db);
    let by_id = |id: &str| decided.iter().find(|i| i["id"] == id).unwrap().clone();
    assert_eq!(by_id(&wanted)["approved_by"], "bob");
    assert_eq!(by_id(&unwanted)["state"], "dead_lettered");
    assert_eq!(by_id(&unwanted)["last_error"], "rejected: duplicate");
    assert_eq!(by_id(&unwanted)["attempts"], 0);
}

#[tokio::test]
async fn a_binding_without_credentials_only_receives_and_says_so() {
    let Some(db) = TestDb::new("writes_receive_only").await else {
        return;
    };
    let api = MockServer::start().await;
    let bindings = bindings_file(&db, "receive-only.toml", &api.uri(), false, "");
    local_changes(
        &db,
        &bindings,
        &[change("local-1", json!({ "title": "Waits" }))],
    );
    let (totals, log) = drain(&db, &bindings);
    assert_eq!(totals["written"], 0);
    assert!(log.contains("receive-only"), "{log}");
    assert!(requests(&api).await.is_empty());
    assert_eq!(intents(&db)[0]["state"], "pending");

    // A binding naming a token that is not set stops the start, naming the variable.
    let named = bindings_file(&db, "with-token.toml", &api.uri(), true, "");
    let out = Command::new(env!("CARGO_BIN_EXE_kradle-sync"))
        .args(["worker", "--bindings", &named, "--drain"])
        .args(["--store", &db.url, "--schema", &db.schema])
        .env(SECRET_ENV, SECRET)
        .env_remove(TOKEN_ENV)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("${TOKEN_ENV}")),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A delivery record of the replay log: the real body, signed as GitHub signs it.
fn delivery_record(event: &str, id: &str, body: &str) -> Value {
    let d = signed(event, id, body.to_owned());
    json!({
        "type": "delivery", "provider": "github", "binding": BINDING,
        "headers": {
            "X-GitHub-Event": d.event, "X-GitHub-Delivery": d.id,
            "X-Hub-Signature-256": d.signature, "Content-Type": "application/json",
        },
        "body": d.body,
    })
}

/// The issue opened, the host renames it, and the provider's edit to another title
/// arrives: one open conflict, whose id is returned.
fn conflict_over_the_title(db: &TestDb, bindings: &str) -> String {
    let mut edited: Value = serde_json::from_str(&fixture("issues/edited.json")).unwrap();
    edited["issue"]["title"] = json!("Their title");
    edited["issue"]["updated_at"] = json!("2019-05-15T15:21:18Z");
    edited["changes"] = json!({ "title": { "from": "Spelling error in the README file" } });
    local_changes(
        db,
        bindings,
        &[
            delivery_record("issues", "conflict-1", &fixture("issues/opened.json")),
            change("444500041", json!({ "title": "My title" })),
            delivery_record("issues", "conflict-2", &edited.to_string()),
        ],
    );
    let conflicts = json_of(&run(db, &["conflicts", "--json"]));
    assert_eq!(conflicts.as_array().map(Vec::len), Some(1), "{conflicts}");
    assert_eq!(conflicts[0]["state"], "open");
    assert_eq!(conflicts[0]["reason"], "both_changed");
    conflicts[0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn conflicts_are_resolved_from_the_command_line_in_both_directions() {
    let Some(db) = TestDb::new("writes_resolve").await else {
        return;
    };
    let api = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path(format!("{REPO}/issues/1")))
        .respond_with(patch_answers("2019-05-15T15:22:18Z"))
        .mount(&api)
        .await;
    let bindings = bindings_file(&db, "bindings.toml", &api.uri(), true, "");

    // Take the host's value: it is written, once.
    let id = conflict_over_the_title(&db, &bindings);
    let bad = run(
        &db,
        &[
            "conflicts",
            "resolve",
            "--bindings",
            &bindings,
            "--by",
            "bob",
            "--value",
            "[1]",
            &id,
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("JSON object"));
    let stray = run(
        &db,
        &[
            "conflicts",
            "resolve",
            "--bindings",
            &bindings,
            "--by",
            "bob",
            "--value",
            r#"{"body":"x"}"#,
            &id,
        ],
    );
    assert_eq!(stray.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&stray.stderr).contains("not in conflict"),
        "{}",
        String::from_utf8_lossy(&stray.stderr)
    );
    let out = run(
        &db,
        &[
            "conflicts",
            "resolve",
            "--bindings",
            &bindings,
            "--by",
            "bob",
            "--take",
            "local",
            &id,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("resolved by user:bob: the host's values win; write intent"),
        "{said}"
    );
    let again = run(
        &db,
        &[
            "conflicts",
            "resolve",
            "--bindings",
            &bindings,
            "--by",
            "eve",
            "--take",
            "external",
            &id,
        ],
    );
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already resolved by user:bob"));
    let (totals, log) = drain(&db, &bindings);
    assert_eq!(totals["written"], 1, "{totals} {log}");
    let sent: Value =
        serde_json::from_slice(&api.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(sent, json!({ "title": "My title" }));
    let conflicts = json_of(&run(&db, &["conflicts", "--json"]));
    assert_eq!(
        conflicts.as_array().map(Vec::len),
        Some(1),
        "no new conflict: {conflicts}"
    );
    assert_eq!(conflicts[0]["state"], "resolved");
    assert_eq!(conflicts[0]["resolution"]["by"], "user:bob");
    assert_eq!(
        conflicts[0]["resolution"]["decision"],
        json!({ "take": "local" })
    );
    db.drop_schema().await;
}

#[tokio::test]
async fn taking_the_providers_value_or_a_merged_one_from_the_command_line() {
    let Some(db) = TestDb::new("writes_resolve_ext").await else {
        return;
    };
    let api = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path(format!("{REPO}/issues/1")))
        .respond_with(patch_answers("2019-05-15T15:22:18Z"))
        .mount(&api)
        .await;
    let bindings = bindings_file(&db, "bindings.toml", &api.uri(), true, "");
    let id = conflict_over_the_title(&db, &bindings);
    let out = run(
        &db,
        &[
            "conflicts",
            "resolve",
            "--bindings",
            &bindings,
            "--by",
            "bob",
            "--take",
            "external",
            "--json",
            &id,
        ],
    );
    let record = json_of(&out);
    assert_eq!(record["state"], "resolved");
    assert_eq!(record["resolution"]["write_intent"], Value::Null);
    let (totals, _) = drain(&db, &bindings);
    assert_eq!(
        totals["written"], 0,
        "taking the provider's value writes nothing"
    );
    assert!(requests(&api).await.is_empty());

    // The host renames it again and the provider disagrees again: a merged value.
    let mut edited: Value = serde_json::from_str(&fixture("issues/edited.json")).unwrap();
    edited["issue"]["title"] = json!("Their second title");
    edited["issue"]["updated_at"] = json!("2019-05-15T15:23:18Z");
    local_changes(
        &db,
        &bindings,
        &[
            change("444500041", json!({ "title": "My second title" })),
            delivery_record("issues", "conflict-3", &edited.to_string()),
        ],
    );
    let open: Vec<Value> = json_of(&run(&db, &["conflicts", "--json"]))
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["state"] == "open")
        .cloned()
        .collect();
    assert_eq!(open.len(), 1, "{open:?}");
    let second = open[0]["id"].as_str().unwrap();
    let merged = run(
        &db,
        &[
            "conflicts",
            "resolve",
            "--bindings",
            &bindings,
            "--by",
            "bob",
            "--value",
            r#"{"title":"Our title"}"#,
            second,
        ],
    );
    assert!(
        merged.status.success(),
        "{}",
        String::from_utf8_lossy(&merged.stderr)
    );
    assert!(String::from_utf8_lossy(&merged.stdout).contains("the given values win"));
    let (totals, _) = drain(&db, &bindings);
    assert_eq!(totals["written"], 1);
    let sent: Value =
        serde_json::from_slice(&api.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(sent, json!({ "title": "Our title" }));
    db.drop_schema().await;
}

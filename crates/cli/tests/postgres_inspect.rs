//! `worker`, `conflicts`, `dead-letters` and `deliveries replay` on prepared PostgreSQL
//! stores, through the binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod postgres_common;

use std::process::Command;

use postgres_common::*;
use serde_json::Value;

const PATH: &str = "/webhooks/github/Codertocat/Hello-World";

fn bundled_log() -> String {
    std::fs::read_to_string(format!("{}/examples/fixtures/github-issues.ndjson", root())).unwrap()
}

fn replay_file(path: &std::path::Path, store: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_kradle-sync"))
        .args(["replay", "--secret", &format!("github={SECRET}")])
        .arg(path)
        .args(store)
        .output()
        .unwrap();
    json_of(&out)
}

#[tokio::test]
async fn workers_apply_what_serve_received_as_a_replay_would() {
    let Some(db) = TestDb::new("worker_apply").await else {
        return;
    };
    let server = db.serve(&["--workers", "0"]);
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for d in bundled_log_deliveries() {
        statuses.push(post(&client, &server, PATH, &d).await.status().as_u16());
    }
    // The log holds one duplicate and one delivery with a wrong signature.
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        1,
        "{statuses:?}"
    );
    let (ok, _) = server.terminate();
    assert!(ok);
    assert!(
        db.deliveries()
            .await
            .iter()
            .all(|(_, phase, ..)| phase == "queued"),
        "a receive-only server processed deliveries"
    );

    let out = db.run(&[
        "worker",
        "--bindings",
        &db.bindings_file(),
        "--concurrency",
        "2",
        "--batch",
        "4",
        "--drain",
    ]);
    let totals = json_of(&out);
    let stored = db.deliveries().await;
    assert!(
        stored.iter().all(
            |(_, phase, owner, _)| (phase == "processed" || phase == "rejected") && owner.is_none()
        ),
        "{stored:?}"
    );
    // The cross-org delivery of the log is accepted by the receiver (it is signed) and
    // rejected by the worker, which reads its repository.
    assert_eq!(totals["rejected"], 1, "{totals}");
    assert_eq!(totals["processed"], stored.len() as u64 - 1, "{totals}");

    // The state equals a memory replay of the same deliveries.
    let deliveries_only: String = bundled_log()
        .lines()
        .filter(|l| l.contains("\"type\": \"delivery\"") || l.contains("\"type\":\"delivery\""))
        .map(|l| format!("{l}\n"))
        .collect();
    let log = db.dir.join("deliveries.ndjson");
    std::fs::write(&log, deliveries_only).unwrap();
    let memory = replay_file(&log, &[]);
    let empty = db.dir.join("empty.ndjson");
    std::fs::write(&empty, "").unwrap();
    let durable = replay_file(&empty, &["--store", &db.url, "--schema", &db.schema]);
    assert!(!memory["objects"].as_array().unwrap().is_empty());
    assert_eq!(durable["objects"], memory["objects"]);
    assert_eq!(durable["conflicts"], memory["conflicts"]);
}

/// The bundled log (one conflict) plus a delivery whose body is a real fixture cut in
/// half, signed: malformed, so dead-lettered at once.
async fn prepared(db: &TestDb) -> (Value, String) {
    let body = fixture("issues/opened.json");
    let cut = body[..body.len() / 2].to_owned();
    let truncated = signed("issues", "truncated-1", cut);
    let record = serde_json::json!({
        "type": "delivery", "provider": "github", "binding": BINDING,
        "headers": {
            "X-GitHub-Event": truncated.event,
            "X-GitHub-Delivery": truncated.id,
            "X-Hub-Signature-256": truncated.signature,
        },
        "body": truncated.body,
    });
    let log = db.dir.join("prepared.ndjson");
    std::fs::write(&log, format!("{}{record}\n", bundled_log())).unwrap();
    let doc = replay_file(&log, &["--store", &db.url, "--schema", &db.schema]);
    assert_eq!(doc["conflicts"].as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(doc["dead_letters"].as_array().unwrap().len(), 1, "{doc}");
    (doc, truncated.id)
}

#[tokio::test]
async fn conflicts_and_dead_letters_list_the_store_as_json_and_tables() {
    let Some(db) = TestDb::new("inspect_lists").await else {
        return;
    };
    let (doc, dead_id) = prepared(&db).await;

    let conflicts = json_of(&db.run(&["conflicts", "--json"]));
    assert_eq!(conflicts, doc["conflicts"]);
    let table = db.run(&["conflicts"]);
    assert!(table.status.success());
    let table = String::from_utf8(table.stdout).unwrap();
    let id = doc["conflicts"][0]["id"].as_str().unwrap();
    assert!(table.starts_with("ID "), "{table}");
    assert!(table.contains(id), "{table}");
    assert!(table.contains("open"), "{table}");
    let mine = json_of(&db.run(&["conflicts", "--json", "--binding", BINDING]));
    assert_eq!(mine, doc["conflicts"]);
    let other = db.run(&["conflicts", "--binding", "octo/other"]);
    assert_eq!(String::from_utf8_lossy(&other.stdout), "no conflicts\n");

    let dead = json_of(&db.run(&["dead-letters", "--json"]));
    assert_eq!(dead, doc["dead_letters"]);
    let table = String::from_utf8(db.run(&["dead-letters"]).stdout).unwrap();
    assert!(table.starts_with("PROVIDER "), "{table}");
    assert!(table.contains(&dead_id), "{table}");
    assert!(table.contains("malformed"), "{table}");
}

#[tokio::test]
async fn deliveries_replay_is_a_new_attempt_of_the_same_delivery() {
    let Some(db) = TestDb::new("inspect_replay").await else {
        return;
    };
    let (_, dead_id) = prepared(&db).await;
    let bindings = db.bindings_file();
    let before = db.deliveries().await;
    let attempts_of = |rows: &[(String, String, Option<String>, i32)], id: &str| {
        rows.iter().find(|r| r.0 == id).map(|r| r.1.clone())
    };
    assert_eq!(
        attempts_of(&before, &dead_id).as_deref(),
        Some("dead_lettered")
    );

    // Still malformed: dead-lettered again, one attempt more, and the command says so.
    let out = db.run(&[
        "deliveries",
        "replay",
        "--bindings",
        &bindings,
        "--json",
        &dead_id,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report[0]["delivery_id"], dead_id.as_str());
    assert_eq!(report[0]["phase"], "dead_lettered");
    assert_eq!(report[0]["attempts"], 2, "{report}");

    // A processed delivery: processed again, nothing applied twice.
    let processed = "1310c90e-1fa1-5210-bfca-7b8c7a70ba09";
    let out = db.run(&[
        "deliveries",
        "replay",
        "--bindings",
        &bindings,
        "--json",
        processed,
    ]);
    let report = json_of(&out);
    assert_eq!(report[0]["phase"], "processed", "{report}");
    assert_eq!(report[0]["applied"], 0, "{report}");
    assert_eq!(report[0]["events"], 1, "{report}");
    let table = db.run(&["deliveries", "replay", "--bindings", &bindings, processed]);
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(table.starts_with("DELIVERY_ID "), "{table}");
    assert!(table.contains("processed"), "{table}");

    // No new delivery was created.
    let after = db.deliveries().await;
    assert_eq!(after.len(), before.len());

    let out = db.run(&[
        "deliveries",
        "replay",
        "--bindings",
        &bindings,
        "--json",
        "no-such-id",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report[0]["error"].as_str().unwrap().contains("no delivery"));
}

#[tokio::test]
async fn inspection_needs_a_durable_store() {
    let out = Command::new(env!("CARGO_BIN_EXE_kradle-sync"))
        .args(["conflicts", "--store", "memory"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a durable store"));
}

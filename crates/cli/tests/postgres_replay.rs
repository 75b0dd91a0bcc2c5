//! `replay --store postgres://…` prints the same bytes as the memory store for the same
//! log: the bundled real-payload log, replayed into both.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod postgres_common;

use std::process::Command;

use postgres_common::*;

fn replay(args: &[&str]) -> Vec<u8> {
    let log = format!("{}/examples/fixtures/github-issues.ndjson", root());
    let out = Command::new(env!("CARGO_BIN_EXE_kradle-sync"))
        .args(["replay", "--secret", &format!("github={SECRET}"), &log])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "replay {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[tokio::test]
async fn postgres_replay_prints_the_memory_store_bytes() {
    let Some(db) = TestDb::new("replay_bytes").await else {
        return;
    };
    let memory = replay(&[]);
    let postgres = replay(&["--store", &db.url, "--schema", &db.schema]);
    assert!(!memory.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&postgres),
        String::from_utf8_lossy(&memory)
    );
    // The state is durable: reading the schema back with an empty log shows the same
    // objects, conflicts, write intents and dead letters.
    let empty = db.dir.join("empty.ndjson");
    std::fs::write(&empty, "").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kradle-sync"))
        .args(["replay", "--store", &db.url, "--schema", &db.schema])
        .arg(&empty)
        .output()
        .unwrap();
    let again = json_of(&out);
    let first: serde_json::Value = serde_json::from_slice(&memory).unwrap();
    for key in ["objects", "conflicts", "write_intents", "dead_letters"] {
        assert_eq!(again[key], first[key], "{key}");
    }
}

#[tokio::test]
async fn an_unknown_store_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_kradle-sync"))
        .args(["replay", "--store", "mysql://u:hidden@h/db", "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown store"), "{stderr}");
    assert!(!stderr.contains("hidden"), "{stderr}");
}

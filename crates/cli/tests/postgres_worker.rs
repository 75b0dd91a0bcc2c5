//! `kradle-sync worker` stopped with SIGTERM in the middle of a run: it finishes the batch
//! in hand, gives back every claim, and another worker finishes the queue with nothing
//! lost and nothing applied twice.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod postgres_common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use kradle_sync_core::SyncStore;
use kradle_sync_core::store::Filter;
use postgres_common::*;

const PATH: &str = "/webhooks/github/Codertocat/Hello-World";

#[tokio::test]
async fn sigterm_mid_run_gives_back_claims_and_a_second_worker_finishes() {
    let Some(db) = TestDb::new("worker_sigterm").await else {
        return;
    };
    // 120 deliveries: the real issue deliveries of the bundled log, each under several ids.
    let server = db.serve(&["--workers", "0"]);
    let client = reqwest::Client::new();
    let originals: Vec<Delivery> = bundled_log_deliveries()
        .into_iter()
        .filter(|d| d.event == "issues" || d.event == "issue_comment")
        .collect();
    let mut sent = 0;
    'outer: for round in 0.. {
        for d in &originals {
            let copy = signed(&d.event, &format!("{}-{round}", d.id), d.body.clone());
            let status = post(&client, &server, PATH, &copy).await.status();
            if status == 202 {
                sent += 1;
            }
            if sent == 120 {
                break 'outer;
            }
        }
    }
    let (ok, _) = server.terminate();
    assert!(ok);

    let bindings = db.bindings_file();
    let mut worker = Command::new(env!("CARGO_BIN_EXE_kradle-sync"))
        .args(["worker", "--bindings", &bindings, "--store", &db.url])
        .args(["--schema", &db.schema, "--concurrency", "2", "--batch", "4"])
        .args(["--worker-id", "first"])
        .env(SECRET_ENV, SECRET)
        .env("KRADLE_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Stop it as soon as it has processed something.
    let mut log = BufReader::new(worker.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            log.read_line(&mut line).unwrap() > 0,
            "the worker exited early"
        );
        if line.contains("delivery processed") {
            break;
        }
    }
    signal(worker.id(), "TERM");
    let rest = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = log.read_to_string(&mut text);
        text
    });
    let mut stdout = String::new();
    worker
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert!(worker.wait().unwrap().success());
    let rest = rest.join().unwrap();
    assert!(!rest.contains("panicked"), "{rest}");
    let first: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();

    // No claim survives the shutdown, and nothing is half done.
    let rows = db.deliveries().await;
    assert_eq!(rows.len(), 120);
    for (id, phase, owner, _) in &rows {
        assert!(owner.is_none(), "{id} still claimed by {owner:?}");
        assert!(phase == "processed" || phase == "queued", "{id} is {phase}");
    }
    let done_first = rows.iter().filter(|r| r.1 == "processed").count() as u64;
    assert_eq!(first["processed"], done_first, "{first}");

    // A second worker drains the rest.
    let out = db.run(&[
        "worker",
        "--bindings",
        &bindings,
        "--worker-id",
        "second",
        "--drain",
    ]);
    let second = json_of(&out);
    assert_eq!(
        second["processed"].as_u64().unwrap() + done_first,
        120,
        "{second}"
    );
    let rows = db.deliveries().await;
    assert!(rows.iter().all(|r| r.1 == "processed" && r.2.is_none()));

    // Every applied event is applied once: one audit record per event key.
    let store = db.store().await;
    let applied: Vec<_> = store
        .list_audit(&Filter::all())
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.action == "event.applied")
        .map(|a| serde_json::to_string(&a.subject).unwrap() + &a.detail.to_string())
        .collect();
    assert!(!applied.is_empty());
    let mut unique = applied.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), applied.len(), "an event was applied twice");
}

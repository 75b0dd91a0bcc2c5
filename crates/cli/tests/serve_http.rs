//! `kradle-sync serve` as a child process on a free port, against PostgreSQL, with real
//! GitHub deliveries from `fixtures/github/webhooks` signed for the test binding.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod postgres_common;

use kradle_store_postgres::sqlx::{self, AssertSqlSafe};
use kradle_sync_core::SyncStore;
use kradle_sync_core::store::Filter;
use postgres_common::*;
use serde_json::Value;

const PATH: &str = "/webhooks/github/Codertocat/Hello-World";

/// Every issue-tracking fixture of the repository the binding targets.
fn real_deliveries() -> Vec<Delivery> {
    let mut out = Vec::new();
    for event in ["issues", "issue_comment", "label", "milestone"] {
        let dir = format!("{}/fixtures/github/webhooks/{event}", root());
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        for file in files {
            let body = fixture(&format!("{event}/{file}"));
            let repo: Value = serde_json::from_str(&body).unwrap();
            if repo["repository"]["full_name"] != BINDING {
                continue;
            }
            let id = format!("{event}-{}", file.trim_end_matches(".json"));
            out.push(signed(event, &id, body));
        }
    }
    out
}

#[tokio::test]
async fn signed_real_deliveries_are_stored_and_applied_by_the_in_process_workers() {
    let Some(db) = TestDb::new("serve_apply").await else {
        return;
    };
    let server = db.serve(&["--workers", "2"]);
    let client = reqwest::Client::new();
    let deliveries = real_deliveries();
    assert!(deliveries.len() > 10, "fixtures missing");
    for (n, d) in deliveries.iter().enumerate() {
        // Both spellings of a binding with a slash route to it.
        let path = if n % 2 == 0 {
            PATH.to_owned()
        } else {
            "/webhooks/github/Codertocat%2FHello-World".to_owned()
        };
        let response = post(&client, &server, &path, d).await;
        assert_eq!(
            response.status(),
            202,
            "{}: {:?}",
            d.id,
            response.text().await
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "accepted");
        assert_eq!(body["delivery_id"], d.id.as_str());
    }
    let store = db.store().await;
    eventually("every delivery processed", || async {
        db.deliveries()
            .await
            .iter()
            .all(|(_, phase, _, _)| phase == "processed")
    })
    .await;
    let stored = db.deliveries().await;
    assert_eq!(stored.len(), deliveries.len());
    let objects = store.list_objects(&Filter::all()).await.unwrap();
    assert!(
        objects
            .iter()
            .any(|o| o.key.native_id.as_str() == "444500041"),
        "issue 444500041 was not applied: {objects:?}"
    );
    let (ok, log) = server.terminate();
    assert!(ok, "serve did not exit cleanly: {log}");
    assert!(!log.contains(SECRET), "the secret reached the log");
    assert!(!log.contains("panicked"), "{log}");
}

#[tokio::test]
async fn a_bad_signature_is_401_audited_as_rejected_and_never_stored() {
    let Some(db) = TestDb::new("serve_badsig").await else {
        return;
    };
    let server = db.serve(&["--workers", "0"]);
    let client = reqwest::Client::new();
    let d = signed("issues", "bad-sig-1", fixture("issues/opened.json"))
        .with_signature(&format!("sha256={}", "0".repeat(64)));
    let response = post(&client, &server, PATH, &d).await;
    assert_eq!(response.status(), 401);
    let text = response.text().await.unwrap();
    assert!(text.contains("signature"), "{text}");
    // A body signed with another secret is refused the same way.
    let mut other = signed("issues", "bad-sig-2", fixture("issues/edited.json"));
    other.signature = kradle_provider_github::sign_webhook(
        &kradle_sync_core::Secret::new("not-the-secret"),
        other.body.as_bytes(),
    );
    assert_eq!(post(&client, &server, PATH, &other).await.status(), 401);
    // Without any signature header.
    let unsigned = client
        .post(server.url(PATH))
        .header("X-GitHub-Event", "issues")
        .header("X-GitHub-Delivery", "bad-sig-3")
        .body(fixture("issues/opened.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);

    assert!(
        db.deliveries().await.is_empty(),
        "a refused delivery was stored"
    );
    let store = db.store().await;
    let rejected = store
        .list_audit(&Filter::all())
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.action == "delivery.rejected")
        .count();
    assert_eq!(rejected, 3);
    let health: Value = client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["requests"]["rejected"], 3);
    assert_eq!(health["requests"]["accepted"], 0);
}

#[tokio::test]
async fn an_oversized_body_is_413_and_never_stored() {
    let Some(db) = TestDb::new("serve_large").await else {
        return;
    };
    let server = db.serve(&["--workers", "0", "--body-limit", "4096"]);
    let client = reqwest::Client::new();
    // A real delivery larger than the limit (issues/opened.json is several KiB).
    let big = signed("issues", "too-large-1", fixture("issues/opened.json"));
    assert!(big.body.len() > 4096);
    let response = post(&client, &server, PATH, &big).await;
    assert_eq!(response.status(), 413);
    // One that fits still goes through: a ping is small.
    let ping_body = fixture("ping/event.json");
    let small = if ping_body.len() <= 4096 {
        Some(signed("ping", "fits-1", ping_body))
    } else {
        None
    };
    if let Some(small) = &small {
        let ping_repo: Value = serde_json::from_str(&small.body).unwrap();
        let path = format!(
            "/webhooks/github/{}",
            ping_repo["repository"]["full_name"]
                .as_str()
                .unwrap_or(BINDING)
        );
        let status = post(&client, &server, &path, small).await.status();
        assert!(status == 202 || status == 404, "{status}");
    }
    assert!(
        db.deliveries()
            .await
            .iter()
            .all(|(id, ..)| id != "too-large-1"),
        "the oversized delivery was stored"
    );
    let health: Value = client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["requests"]["too_large"], 1);
}

#[tokio::test]
async fn a_duplicate_delivery_is_200_and_stored_once() {
    let Some(db) = TestDb::new("serve_dup").await else {
        return;
    };
    let server = db.serve(&["--workers", "0"]);
    let client = reqwest::Client::new();
    let d = signed("issues", "dup-1", fixture("issues/opened.json"));
    assert_eq!(post(&client, &server, PATH, &d).await.status(), 202);
    for _ in 0..3 {
        let again = post(&client, &server, PATH, &d).await;
        assert_eq!(again.status(), 200);
        let body: Value = again.json().await.unwrap();
        assert_eq!(body["status"], "duplicate");
    }
    let stored = db.deliveries().await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].1, "queued", "receive-only serve processed it");
}

#[tokio::test]
async fn unknown_providers_and_bindings_are_404() {
    let Some(db) = TestDb::new("serve_404").await else {
        return;
    };
    let server = db.serve(&["--workers", "0"]);
    let client = reqwest::Client::new();
    let d = signed("issues", "nf-1", fixture("issues/opened.json"));
    for path in [
        "/webhooks/github/octo/unknown",
        "/webhooks/gitlab/Codertocat/Hello-World",
        "/webhooks/github",
        "/nowhere",
    ] {
        let status = post(&client, &server, path, &d).await.status();
        assert_eq!(status, 404, "{path}");
    }
    assert!(db.deliveries().await.is_empty());
}

#[tokio::test]
async fn health_and_readiness_and_503_when_the_store_is_gone() {
    let Some(db) = TestDb::new("serve_503").await else {
        return;
    };
    let server = db.serve(&["--workers", "0"]);
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(server.url(path)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    assert_eq!(get("/readyz").await.unwrap().status(), 200);

    // The store goes away under the running server.
    sqlx::query(AssertSqlSafe(format!(
        "DROP SCHEMA \"{}\" CASCADE",
        db.schema
    )))
    .execute(&db.pool)
    .await
    .unwrap();
    let d = signed("issues", "down-1", fixture("issues/opened.json"));
    let response = post(&client, &server, PATH, &d).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().get("retry-after").is_some());
    let text = response.text().await.unwrap();
    assert!(!text.contains(&db.schema), "store details leaked: {text}");
    assert_eq!(get("/readyz").await.unwrap().status(), 503);
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
}

#[tokio::test]
async fn serve_refuses_a_store_it_cannot_reach() {
    let Some(db) = TestDb::new("serve_closed").await else {
        return;
    };
    let bindings = db.bindings_file();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kradle-sync"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--store",
            "postgres://nobody:pw-not-shown@127.0.0.1:1/none",
            "--bindings",
            &bindings,
        ])
        .env(SECRET_ENV, SECRET)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot reach PostgreSQL"), "{stderr}");
    assert!(!stderr.contains("pw-not-shown"), "{stderr}");
}

#[tokio::test]
async fn graceful_shutdown_gives_back_the_claims_of_its_workers() {
    let Some(db) = TestDb::new("serve_shutdown").await else {
        return;
    };
    // Two deliveries stored by a receive-only server.
    let receiver = db.serve(&["--workers", "0"]);
    let client = reqwest::Client::new();
    for (id, file) in [
        ("sd-1", "issues/opened.json"),
        ("sd-2", "issues/edited.json"),
    ] {
        let d = signed("issues", id, fixture(file));
        assert_eq!(post(&client, &receiver, PATH, &d).await.status(), 202);
    }
    let (ok, _) = receiver.terminate();
    assert!(ok);
    // They are claimed under the owner name of the server started next, as a server does
    // when it takes a batch (a long lease, so only a release can end it).
    let store = db.store().await;
    let claimed = store
        .claim_deliveries(
            "shutdown-test",
            std::time::Duration::from_secs(3600),
            10,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    assert!(!claimed.is_empty());
    assert!(
        db.deliveries()
            .await
            .iter()
            .any(|(_, _, owner, _)| owner.as_deref() == Some("shutdown-test"))
    );
    let server = db.serve(&["--workers", "1", "--worker-id", "shutdown-test"]);
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
    assert!(log.contains("gave back claims"), "{log}");
    assert!(
        db.deliveries()
            .await
            .iter()
            .all(|(_, _, owner, _)| owner.is_none()),
        "claims survived the shutdown: {:?}",
        db.deliveries().await
    );
    // And a worker then processes everything.
    let out = db.run(&["worker", "--bindings", &db.bindings_file(), "--drain"]);
    let totals = json_of(&out);
    assert_eq!(totals["processed"], 2, "{totals}");
}

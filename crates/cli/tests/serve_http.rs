//! `kradle-sync serve` as a child process on a free port, against PostgreSQL, with real
//! GitHub deliveries from `fixtures/github/webhooks` signed for the test binding.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod postgres_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kradle_store_postgres::sqlx::{self, AssertSqlSafe};
use kradle_sync_core::SyncStore;
use kradle_sync_core::store::Filter;
use postgres_common::*;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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

/// `n` distinct real deliveries: the issue and comment deliveries of the bundled log,
/// each under several ids.
fn many_deliveries(n: usize) -> Vec<Delivery> {
    let originals: Vec<Delivery> = bundled_log_deliveries()
        .into_iter()
        .filter(|d| d.event == "issues" || d.event == "issue_comment")
        .collect();
    (0..n)
        .map(|i| {
            let d = &originals[i % originals.len()];
            signed(&d.event, &format!("{}-{i}", d.id), d.body.clone())
        })
        .collect()
}

/// A webhook request written by hand over TCP whose sender stops part way: after `sent`
/// bytes of its headers and body.
struct Stalled {
    stream: TcpStream,
    rest: Vec<u8>,
}

impl Stalled {
    /// Sends the headers and half the body of `d`.
    async fn body_half(server: &Server, d: &Delivery) -> Stalled {
        let request = raw_request(server, d);
        let head = request.len() - d.body.len();
        Stalled::send(server, request, head + d.body.len() / 2).await
    }

    /// Sends the request line and part of the headers of `d`.
    async fn headers_part(server: &Server, d: &Delivery) -> Stalled {
        let request = raw_request(server, d);
        Stalled::send(server, request, 60).await
    }

    async fn send(server: &Server, request: Vec<u8>, sent: usize) -> Stalled {
        let mut stream = TcpStream::connect(server.addr()).await.unwrap();
        stream.write_all(&request[..sent]).await.unwrap();
        stream.flush().await.unwrap();
        Stalled {
            stream,
            rest: request[sent..].to_vec(),
        }
    }

    /// Sends the rest and returns the answer's status.
    async fn finish(mut self) -> Option<u16> {
        self.stream.write_all(&self.rest).await.ok()?;
        self.status().await
    }

    /// The status of the answer, or `None` when the connection closed without one. Waits
    /// (bounded) for the server to close the connection.
    async fn status(mut self) -> Option<u16> {
        let mut answer = Vec::new();
        tokio::time::timeout(
            Duration::from_secs(120),
            self.stream.read_to_end(&mut answer),
        )
        .await
        .expect("the server never closed the connection")
        .ok()?;
        let text = String::from_utf8_lossy(&answer);
        text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
    }
}

fn raw_request(server: &Server, d: &Delivery) -> Vec<u8> {
    let mut request = format!(
        "POST {PATH} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         User-Agent: GitHub-Hookshot/044aadd\r\nX-GitHub-Event: {}\r\n\
         X-GitHub-Delivery: {}\r\nX-Hub-Signature-256: {}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        server.addr(),
        d.event,
        d.id,
        d.signature,
        d.body.len()
    )
    .into_bytes();
    request.extend_from_slice(d.body.as_bytes());
    request
}

async fn health(client: &reqwest::Client, server: &Server) -> Value {
    client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_body_that_does_not_arrive_is_408_and_requests_over_the_limit_are_503() {
    let Some(db) = TestDb::new("serve_limits").await else {
        return;
    };
    let server = db.serve(&[
        "--workers",
        "0",
        "--request-timeout",
        "2",
        "--max-in-flight",
        "2",
    ]);
    let client = reqwest::Client::new();
    let deliveries = many_deliveries(3);
    // Two senders that stop half way through their bodies hold both places.
    let slow = [
        Stalled::body_half(&server, &deliveries[0]).await,
        Stalled::body_half(&server, &deliveries[1]).await,
    ];
    eventually("both slow requests are in flight", || async {
        health(&client, &server).await["in_flight"] == 2
    })
    .await;

    // A third is refused before its body is read, with a time to come back.
    let response = post(&client, &server, PATH, &deliveries[2]).await;
    assert_eq!(response.status(), 503);
    let retry_after = response.headers().get("retry-after").cloned();
    assert!(retry_after.is_some(), "503 without Retry-After");
    assert_eq!(health(&client, &server).await["requests"]["busy"], 1);

    // The slow ones are answered 408 when their time is up, and free their places.
    for stalled in slow {
        assert_eq!(stalled.status().await, Some(408));
    }
    let h = health(&client, &server).await;
    assert_eq!(h["in_flight"], 0, "{h}");
    assert_eq!(h["requests"]["timed_out"], 2, "{h}");
    // The refused delivery, redelivered, is stored; the slow ones never were.
    let response = post(&client, &server, PATH, &deliveries[2]).await;
    assert_eq!(response.status(), 202);
    let stored: Vec<String> = db.deliveries().await.into_iter().map(|r| r.0).collect();
    assert_eq!(stored, vec![deliveries[2].id.clone()]);
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_burst_answers_2xx_only_for_stored_deliveries() {
    let Some(db) = TestDb::new("serve_burst").await else {
        return;
    };
    let server = db.serve(&["--workers", "2", "--request-timeout", "10"]);
    let client = reqwest::Client::new();
    let deliveries = Arc::new(many_deliveries(400));
    // In flight when the signal comes: two requests part way through their bodies, and a
    // connection that has sent only part of its headers.
    let in_flight = [
        Stalled::body_half(&server, &deliveries[0]).await,
        Stalled::body_half(&server, &deliveries[1]).await,
    ];
    let half_headers = Stalled::headers_part(&server, &deliveries[2]).await;
    eventually("both bodies are in flight", || async {
        health(&client, &server).await["in_flight"] == 2
    })
    .await;

    // Eight senders share the rest; the signal comes once 40 answers are in.
    let answered = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..8)
        .map(|k| {
            let (client, deliveries, answered) =
                (client.clone(), deliveries.clone(), answered.clone());
            let url = server.url(PATH);
            tokio::spawn(async move {
                let mut results = Vec::new();
                for d in deliveries.iter().skip(3 + k).step_by(8) {
                    let sent = client
                        .post(&url)
                        .header("Content-Type", "application/json")
                        .header("X-GitHub-Event", &d.event)
                        .header("X-GitHub-Delivery", &d.id)
                        .header("X-Hub-Signature-256", &d.signature)
                        .body(d.body.clone())
                        .send()
                        .await;
                    answered.fetch_add(1, Ordering::SeqCst);
                    results.push((d.id.clone(), sent.map(|r| r.status().as_u16())));
                }
                results
            })
        })
        .collect();
    eventually("40 answers before the signal", || async {
        answered.load(Ordering::SeqCst) >= 40
    })
    .await;
    signal(server.child.id(), "TERM");
    // The requests in flight finish after the signal, and are stored.
    let mut in_flight_status = Vec::new();
    for stalled in in_flight {
        in_flight_status.push(stalled.finish().await);
    }
    assert_eq!(in_flight_status, vec![Some(202), Some(202)]);

    let mut ok = Vec::new();
    let mut refused = 0;
    for sender in senders {
        for (id, result) in sender.await.unwrap() {
            match result {
                Ok(status) => {
                    assert!(status == 202 || status == 200, "{id}: {status}");
                    ok.push(id);
                }
                Err(e) => {
                    assert!(e.is_connect() || e.is_request(), "{id}: {e}");
                    refused += 1;
                }
            }
        }
    }
    // The connection that never finished its headers does not hold the shutdown up.
    let (exited, log) = server.wait();
    assert!(exited, "{log}");
    assert!(!log.contains("panicked"), "{log}");
    assert!(
        log.contains("still open after the grace period"),
        "the half-sent headers were waited for, then closed: {log}"
    );
    let answer = half_headers.status().await;
    assert!(answer.is_none_or(|s| s / 100 != 2), "{answer:?}");
    eprintln!(
        "{} answered 2xx before the shutdown, {refused} refused after it",
        ok.len()
    );
    assert!(refused > 0, "the signal came after the burst");

    let rows = db.deliveries().await;
    let stored: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    for id in ok
        .iter()
        .map(String::as_str)
        .chain([deliveries[0].id.as_str(), deliveries[1].id.as_str()])
    {
        assert!(
            stored.contains(id),
            "{id} was answered 2xx and is not stored"
        );
    }
    assert!(
        !stored.contains(deliveries[2].id.as_str()),
        "a delivery whose headers never arrived was stored"
    );
    assert!(
        rows.iter().all(|r| r.2.is_none()),
        "claims survived the shutdown"
    );
}

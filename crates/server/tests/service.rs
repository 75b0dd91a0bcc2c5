//! The receiver and the worker of the server crate, on the memory store: the answers a
//! webhook sender gets, health, shutdown, and workers that apply what was received.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use kradle_provider_github::{GithubPlugin, sign_webhook};
use kradle_store_memory::MemoryStore;
use kradle_sync_core::store::Filter;
use kradle_sync_core::{Binding, Engine, ExternalTarget, Interface, Secret, SyncStore};
use kradle_sync_server::{Receiver, ReceiverSettings, Worker, WorkerSettings, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

const SECRET: &str = "server-test-secret";
const REPO: &str = "Codertocat/Hello-World";

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../fixtures/github/webhooks/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn engine(store: Arc<MemoryStore>) -> Arc<Engine> {
    let binding = Binding::new(
        REPO,
        "github",
        ExternalTarget::from_path(REPO),
        &Interface::ALL,
    )
    .with_secret(Secret::new(SECRET));
    Arc::new(
        Engine::builder(store)
            .provider(Arc::new(GithubPlugin::new()))
            .binding(binding)
            .build()
            .unwrap(),
    )
}

struct Running {
    url: String,
    receiver: Receiver,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn start(receiver: Receiver) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            listener,
            receiver.router(),
            async move {
                let _ = stopped.await;
            },
            Duration::from_secs(2),
        ));
        Self {
            url,
            receiver,
            stop: Some(stop),
            server,
        }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.server.await.unwrap().unwrap();
    }
}

async fn deliver(
    url: &str,
    event: &str,
    id: &str,
    body: Vec<u8>,
    signature: Option<String>,
) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{url}/webhooks/github/{REPO}"))
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", id)
        .header("Content-Type", "application/json");
    if let Some(signature) = signature {
        request = request.header("X-Hub-Signature-256", signature);
    }
    let response = request.body(body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

fn signed(body: &[u8]) -> Option<String> {
    Some(sign_webhook(&Secret::new(SECRET), body))
}

#[tokio::test]
async fn the_receiver_answers_as_the_readme_says() {
    let store = Arc::new(MemoryStore::new());
    let receiver = Receiver::new(
        engine(store.clone()),
        ReceiverSettings::default().with_body_limit(64 * 1024),
    );
    let running = Running::start(receiver).await;
    let url = running.url.clone();
    let body = fixture("issues/opened.json");

    let (status, answer) = deliver(&url, "issues", "d-1", body.clone(), signed(&body)).await;
    assert_eq!((status, answer["status"].as_str()), (202, Some("accepted")));
    let (status, answer) = deliver(&url, "issues", "d-1", body.clone(), signed(&body)).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("duplicate"))
    );
    let (status, _) = deliver(&url, "issues", "d-2", body.clone(), None).await;
    assert_eq!(status, 401, "unsigned");
    let (status, _) = deliver(
        &url,
        "issues",
        "d-3",
        body.clone(),
        Some(sign_webhook(&Secret::new("another"), &body)),
    )
    .await;
    assert_eq!(status, 401, "signed with another secret");
    let big = vec![b' '; 65 * 1024];
    let (status, _) = deliver(&url, "issues", "d-4", big.clone(), signed(&big)).await;
    assert_eq!(status, 413);
    let unknown = reqwest::Client::new()
        .post(format!("{url}/webhooks/github/octo/nope"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
    let wrong_provider = reqwest::Client::new()
        .post(format!("{url}/webhooks/gitlab/{REPO}"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_provider.status().as_u16(), 404);
    let no_delivery = reqwest::Client::new()
        .post(format!("{url}/webhooks/github/{REPO}"))
        .header("X-GitHub-Event", "issues")
        .header("X-Hub-Signature-256", signed(&body).unwrap())
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(no_delivery.status().as_u16(), 400);

    // Only the accepted delivery was stored; the refusals were audited, not stored.
    assert_eq!(store.delivery_count(), 1);
    let audit = store.list_audit(&Filter::all()).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "delivery.rejected"));

    let health: serde_json::Value = reqwest::get(format!("{url}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let requests = &health["requests"];
    assert_eq!(requests["accepted"], 1);
    assert_eq!(requests["duplicates"], 1);
    assert_eq!(requests["rejected"], 2);
    assert_eq!(requests["too_large"], 1);
    assert_eq!(requests["not_found"], 2);
    assert_eq!(requests["bad_request"], 1);
    assert_eq!(running.receiver.counters(), *requests);

    let ready = reqwest::get(format!("{url}/readyz")).await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    running.receiver.begin_shutdown();
    let ready = reqwest::get(format!("{url}/readyz")).await.unwrap();
    assert_eq!(ready.status().as_u16(), 503, "not ready once shutting down");
    running.stop().await;
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_answered_408() {
    let store = Arc::new(MemoryStore::new());
    let receiver = Receiver::new(
        engine(store.clone()),
        ReceiverSettings::default().with_request_timeout(Duration::from_millis(300)),
    );
    let running = Running::start(receiver).await;
    let address = running.url.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /webhooks/github/{REPO} HTTP/1.1\r\nHost: {address}\r\nX-GitHub-Event: issues\r\nX-GitHub-Delivery: slow\r\nContent-Length: 1000\r\n\r\n{{\"action\""
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(store.delivery_count(), 0, "never stored");
    running.stop().await;
}

#[tokio::test]
async fn a_host_mounts_the_webhook_route_in_its_own_app() {
    let store = Arc::new(MemoryStore::new());
    let receiver = Receiver::new(engine(store.clone()), ReceiverSettings::default());
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "the host's page" }))
        .nest("/hooks", receiver.webhook_router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    assert_eq!(
        reqwest::get(format!("{url}/"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "the host's page"
    );
    let body = fixture("label/created.json");
    let response = reqwest::Client::new()
        .post(format!("{url}/hooks/webhooks/github/{REPO}"))
        .header("X-GitHub-Event", "label")
        .header("X-GitHub-Delivery", "mounted-1")
        .header("X-Hub-Signature-256", signed(&body).unwrap())
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    assert_eq!(store.delivery_count(), 1);
    server.abort();
}

#[tokio::test]
async fn workers_apply_what_the_receiver_stored_and_stop_when_drained() {
    let store = Arc::new(MemoryStore::new());
    let engine = engine(store.clone());
    let receiver = Receiver::new(engine.clone(), ReceiverSettings::default());
    let running = Running::start(receiver).await;
    let deliveries = [
        ("issues", "issues/opened.json"),
        ("issues", "issues/edited.json"),
        ("issue_comment", "issue_comment/created.json"),
        ("label", "label/created.json"),
    ];
    for (n, (event, path)) in deliveries.iter().enumerate() {
        let body = fixture(path);
        let (status, _) = deliver(
            &running.url,
            event,
            &format!("w-{n}"),
            body.clone(),
            signed(&body),
        )
        .await;
        assert_eq!(status, 202);
    }
    running.stop().await;

    let worker = Worker::new(
        engine,
        store.clone(),
        WorkerSettings::new("test-worker")
            .with_concurrency(2)
            .with_batch(2)
            .with_drain(true),
    );
    let status = worker.status();
    let totals = tokio::time::timeout(Duration::from_secs(10), worker.run(std::future::pending()))
        .await
        .unwrap();
    assert_eq!(totals.processed, 4);
    assert_eq!(totals.failed + totals.dead_lettered + totals.rejected, 0);
    assert_eq!(status.totals(), totals);
    assert!(status.stopping(), "a drained worker reports it stopped");
    let objects = store.list_objects(&Filter::all()).await.unwrap();
    assert!(objects.len() >= 3, "{objects:?}");
    let stats = kradle_sync_core::WorkQueue::stats(store.as_ref(), chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(stats.pending, 0);
}

#[tokio::test]
async fn a_waiting_worker_wakes_on_new_work_and_stops_when_asked() {
    let store = Arc::new(MemoryStore::new());
    let engine = engine(store.clone());
    // A long poll: only the store's work signal can wake the worker in time.
    let worker = Worker::new(
        engine.clone(),
        store.clone(),
        WorkerSettings::new("waiting").with_poll(Duration::from_secs(3600)),
    );
    let status = worker.status();
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(worker.run_until(stopped));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let body = fixture("issues/opened.json");
    let request = kradle_sync_core::WebhookRequest::new(
        kradle_sync_core::Headers::from_pairs([
            ("X-GitHub-Event", "issues".to_owned()),
            ("X-GitHub-Delivery", "wake-1".to_owned()),
            ("X-Hub-Signature-256", signed(&body).unwrap()),
        ]),
        body,
    );
    engine
        .receive(&REPO.into(), request, chrono::Utc::now())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while status.totals().processed < 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker never woke"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(true).unwrap();
    let totals = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(totals.processed, 1);
}

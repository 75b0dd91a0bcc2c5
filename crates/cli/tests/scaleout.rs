//! Scaling out on PostgreSQL with the real binary: several `kradle-sync serve` receivers
//! and `kradle-sync worker` processes sharing one store (a fresh schema per test).
//!
//! - Four workers and two receivers, every real fixture delivery sent twice to both
//!   receivers at once: each delivery is stored once, each event applied once, and the
//!   projection is the one a single process reaches replaying the same deliveries.
//! - A worker killed with SIGKILL while it holds a batch: after its lease expires another
//!   worker finishes the batch; nothing is lost, nothing applied twice, the audit complete.
//! - PostgreSQL unreachable for a while (a TCP proxy between the processes and the server,
//!   cut and restored) while a worker is inside a batch: receivers answer 503, the worker
//!   reports on `/readyz` and `/healthz` that it could not give its claims back, no
//!   delivery answered 2xx is lost, and once the proxy is back the worker gives its claims
//!   back (their hour-long lease never expires during the test), the redelivered rest is
//!   stored and everything converges.
//!
//! Deliveries are real GitHub payloads from `fixtures/github/webhooks/` (provenance in
//! `fixtures/PROVENANCE.md`), signed with the demo secret as GitHub signs. Waits are
//! bounded and never assert on speed. When PostgreSQL cannot be reached the tests skip
//! with a notice, except under `CI=true`, where they fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::ops::Deref;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kradle_provider_github::{GithubWebhooks, sign_webhook};
use kradle_store_memory::MemoryStore;
use kradle_store_postgres::PostgresStore;
use kradle_store_postgres::sqlx::postgres::PgConnectOptions;
use kradle_store_postgres::sqlx::{self, AssertSqlSafe, Row};
use kradle_sync_core::store::Filter;
use kradle_sync_core::{
    Binding, BindingId, Engine, ExternalTarget, Headers, Secret, SyncStore, WebhookAdapter,
    WebhookRequest,
};
use kradle_test_support::postgres::{FreshSchema, fresh_schema};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const REPO: &str = "Codertocat/Hello-World";
const SECRET: &str = "kradle-demo-secret";
const SECRET_ENV: &str = "KRADLE_SCALEOUT_GITHUB_SECRET";
const PATH: &str = "/webhooks/github/Codertocat/Hello-World";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fresh schema (migrated) and a scratch directory for the bindings file and the
/// processes' logs; both removed when dropped. Derefs to the [`FreshSchema`] (`pool`,
/// `url`, `schema`, `dir`).
struct Db {
    fresh: FreshSchema,
    store: PostgresStore,
}

impl Deref for Db {
    type Target = FreshSchema;

    fn deref(&self) -> &FreshSchema {
        &self.fresh
    }
}

impl Db {
    async fn new(tag: &str) -> Option<Db> {
        let fresh = fresh_schema("kso", tag).await?;
        std::fs::write(
            fresh.dir.join("bindings.toml"),
            format!(
                "[[binding]]\nname = \"{REPO}\"\nprovider = \"github\"\nsecret_env = \"{SECRET_ENV}\"\n"
            ),
        )
        .unwrap();
        let store = PostgresStore::new(fresh.pool.clone(), &fresh.schema)
            .await
            .expect("migrate the test schema");
        Some(Db { fresh, store })
    }

    fn bindings(&self) -> String {
        self.dir
            .join("bindings.toml")
            .to_string_lossy()
            .into_owned()
    }

    /// Starts `serve` receiving only (`--workers 0`) against `store_url`.
    fn serve(&self, name: &str, store_url: &str) -> Proc {
        let bindings = self.bindings();
        Proc::spawn(
            self,
            name,
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--workers",
                "0",
                "--store",
                store_url,
                "--schema",
                &self.schema,
                "--bindings",
                &bindings,
            ],
            true,
        )
    }

    /// Starts a `worker` process with one slot named `name`.
    fn worker(&self, name: &str, store_url: &str, extra: &[&str]) -> Proc {
        self.spawn_worker(name, store_url, extra, false)
    }

    /// Starts a `worker` process with one slot named `name` and its health endpoints on a
    /// free port (`Proc::base`).
    fn worker_with_health(&self, name: &str, store_url: &str, extra: &[&str]) -> Proc {
        let mut args = vec!["--health-listen", "127.0.0.1:0"];
        args.extend(extra);
        self.spawn_worker(name, store_url, &args, true)
    }

    fn spawn_worker(&self, name: &str, store_url: &str, extra: &[&str], health: bool) -> Proc {
        let bindings = self.bindings();
        let mut args = vec![
            "worker",
            "--store",
            store_url,
            "--schema",
            &self.schema,
            "--bindings",
            &bindings,
            "--concurrency",
            "1",
            "--worker-id",
            name,
            "--poll-ms",
            "100",
        ];
        args.extend(extra);
        Proc::spawn(self, name, &args, health)
    }

    async fn query_i64(&self, sql: &str) -> i64 {
        let sql = sql.replace("{s}", &format!("\"{}\"", self.schema));
        sqlx::query(AssertSqlSafe(sql))
            .fetch_one(&self.pool)
            .await
            .unwrap()
            .get(0)
    }

    /// Waits (bounded) until `n` deliveries are stored and none is waiting for a worker.
    async fn wait_until_all_processed(&self, n: usize, procs: &[&Proc]) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let stored = self.query_i64("SELECT count(*) FROM {s}.deliveries").await;
            let pending = self
                .query_i64(
                    "SELECT count(*) FROM {s}.deliveries WHERE phase IN ('queued', 'failed')",
                )
                .await;
            if stored == n as i64 && pending == 0 {
                return;
            }
            if Instant::now() > deadline {
                let logs: Vec<String> = procs.iter().map(|p| p.log()).collect();
                panic!(
                    "gave up waiting: {stored} of {n} stored, {pending} pending\n{}",
                    logs.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A `kradle-sync` child process, its log in the scratch directory; killed when dropped.
struct Proc {
    child: Child,
    name: String,
    log: PathBuf,
    /// For `serve`, and a worker with health endpoints: `http://ADDR`.
    base: String,
    stdout: Option<std::thread::JoinHandle<String>>,
}

impl Proc {
    fn spawn(db: &Db, name: &str, args: &[&str], serve: bool) -> Proc {
        let log = db.dir.join(format!("{name}.log"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_kradle-sync"))
            .args(args)
            .env(SECRET_ENV, SECRET)
            .env("KRADLE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut base = String::new();
        if serve {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            match line.trim().strip_prefix("listening on ") {
                Some(b) => base = b.to_owned(),
                None => {
                    let _ = child.kill();
                    panic!(
                        "{name} did not start: {line:?}\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
            }
        }
        let stdout = std::thread::spawn(move || {
            let mut rest = String::new();
            for line in stdout.lines().map_while(Result::ok) {
                rest.push_str(&line);
                rest.push('\n');
            }
            rest
        });
        Proc {
            child,
            name: name.to_owned(),
            log,
            base,
            stdout: Some(stdout),
        }
    }

    fn log(&self) -> String {
        format!(
            "--- {} ---\n{}",
            self.name,
            std::fs::read_to_string(&self.log).unwrap_or_default()
        )
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} {}", self.name);
    }

    /// SIGTERM, then waits; asserts a clean exit and returns what it printed on stdout.
    fn terminate(mut self) -> String {
        self.signal("TERM");
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "{} exited with {status}\n{}",
            self.name,
            self.log()
        );
        self.stdout.take().unwrap().join().unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One signed delivery as GitHub sends it.
#[derive(Debug, Clone)]
struct Delivery {
    event: String,
    id: String,
    body: Vec<u8>,
}

impl Delivery {
    fn new(event: &str, id: String, body: Vec<u8>) -> Self {
        Delivery {
            event: event.to_owned(),
            id,
            body,
        }
    }

    fn signature(&self) -> String {
        sign_webhook(&Secret::new(SECRET), &self.body)
    }

    fn request(&self) -> WebhookRequest {
        WebhookRequest::new(
            Headers::from_pairs([
                ("X-GitHub-Event", self.event.clone()),
                ("X-GitHub-Delivery", self.id.clone()),
                ("X-Hub-Signature-256", self.signature()),
            ]),
            self.body.clone(),
        )
    }
}

/// Every fixture about [`REPO`], compacted as GitHub sends it, sorted by path; delivery
/// ids are `{event}-{file stem}`.
fn fixture_deliveries() -> Vec<Delivery> {
    let dir = root().join("fixtures/github/webhooks");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flat_map(|e| std::fs::read_dir(e.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| {
            let value: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            if value["repository"]["full_name"] != REPO {
                return None;
            }
            let event = p.parent()?.file_name()?.to_string_lossy().into_owned();
            let stem = p.file_stem()?.to_string_lossy().into_owned();
            Some(Delivery::new(
                &event,
                format!("{event}-{stem}"),
                value.to_string().into_bytes(),
            ))
        })
        .collect()
}

/// `n` real `issues` deliveries, each about an issue of its own: the fixtures' payloads
/// with the issue's id and number changed, so a worker can claim them all in one batch
/// (one delivery per object at a time).
fn issue_deliveries(n: usize) -> Vec<Delivery> {
    let issues: Vec<Delivery> = fixture_deliveries()
        .into_iter()
        .filter(|d| d.event == "issues")
        .collect();
    (0..n)
        .map(|i| {
            let template = &issues[i % issues.len()];
            let mut value: serde_json::Value = serde_json::from_slice(&template.body).unwrap();
            value["issue"]["id"] = serde_json::json!(90_000_000 + i);
            value["issue"]["number"] = serde_json::json!(1000 + i);
            Delivery::new(
                "issues",
                format!("{}-{i}", template.id),
                value.to_string().into_bytes(),
            )
        })
        .collect()
}

async fn post(client: &reqwest::Client, base: &str, d: &Delivery) -> reqwest::StatusCode {
    client
        .post(format!("{base}{PATH}"))
        .header("Content-Type", "application/json")
        .header("User-Agent", "GitHub-Hookshot/044aadd")
        .header("X-GitHub-Event", &d.event)
        .header("X-GitHub-Delivery", &d.id)
        .header("X-Hub-Signature-256", d.signature())
        .body(d.body.clone())
        .send()
        .await
        .map(|r| r.status())
        .unwrap_or(reqwest::StatusCode::BAD_GATEWAY)
}

/// What is compared between stores: each object's key, synced fields, tombstone and
/// hydrate flag.
type Summary = Vec<(String, serde_json::Value, bool, bool)>;

async fn summarize(store: &dyn SyncStore) -> Summary {
    store
        .list_objects(&Filter::all())
        .await
        .unwrap()
        .into_iter()
        .map(|o| {
            (
                o.key.to_string(),
                serde_json::to_value(o.fields()).unwrap(),
                o.is_tombstone(),
                o.awaiting_hydrate(),
            )
        })
        .collect()
}

fn count(audit: &[kradle_sync_core::audit::AuditRecord], action: &str) -> usize {
    audit.iter().filter(|a| a.action == action).count()
}

/// The same deliveries received and processed one by one by one engine on the memory
/// store: the projection and the number of applied events a single process reaches.
async fn single_process(deliveries: &[Delivery]) -> (Summary, usize) {
    let store: Arc<dyn SyncStore> = Arc::new(MemoryStore::new());
    let adapter = GithubWebhooks::new();
    let interfaces = adapter.descriptor().interfaces.clone();
    let binding = Binding::new(REPO, "github", ExternalTarget::from_path(REPO), &interfaces)
        .with_secret(Secret::new(SECRET));
    let engine = Engine::builder(store.clone())
        .adapter(Arc::new(adapter))
        .binding(binding)
        .build()
        .unwrap();
    for d in deliveries {
        engine
            .ingest(&BindingId::new(REPO), d.request(), chrono::Utc::now())
            .await
            .unwrap();
    }
    let audit = store.list_audit(&Filter::all()).await.unwrap();
    (
        summarize(store.as_ref()).await,
        count(&audit, "event.applied"),
    )
}

/// The checks every scenario ends with: every delivery stored once and processed once,
/// no claim left, each event applied and audited once, the projection of one process.
async fn assert_converged(db: &Db, deliveries: &[Delivery]) {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT delivery_id, phase, lease_owner FROM \"{}\".deliveries",
        db.schema
    )))
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), deliveries.len(), "every delivery stored once");
    for row in &rows {
        let (id, phase, owner): (String, String, Option<String>) =
            (row.get(0), row.get(1), row.get(2));
        assert_eq!(phase, "processed", "{id}");
        assert_eq!(owner, None, "{id}: no claim is left");
    }
    let audit = db.store.list_audit(&Filter::all()).await.unwrap();
    let mut per_delivery: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for a in &audit {
        if let kradle_sync_core::audit::AuditSubject::Delivery(id) = &a.subject {
            let e = per_delivery.entry(id.clone()).or_default();
            match a.action.as_str() {
                "delivery.accepted" => e.0 += 1,
                "delivery.processed" => e.1 += 1,
                _ => {}
            }
        }
    }
    for d in deliveries {
        assert_eq!(
            per_delivery.get(&d.id),
            Some(&(1, 1)),
            "{}: accepted once, processed once",
            d.id
        );
    }
    let keys = db
        .query_i64("SELECT count(*) FROM {s}.applied_events")
        .await;
    let applied = count(&audit, "event.applied");
    assert_eq!(applied as i64, keys, "one audit record per applied event");
    let (expected, expected_applied) = single_process(deliveries).await;
    assert_eq!(
        applied, expected_applied,
        "every event applied once, as by a single process"
    );
    assert_eq!(
        summarize(&db.store).await,
        expected,
        "the projection of a single process replaying the same deliveries"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_workers_and_two_receivers_apply_every_event_once() {
    let Some(db) = Db::new("fanout").await else {
        return;
    };
    let receivers = [
        db.serve("receiver-0", &db.url),
        db.serve("receiver-1", &db.url),
    ];
    let workers: Vec<Proc> = (0..4)
        .map(|i| db.worker(&format!("worker-{i}"), &db.url, &["--batch", "4"]))
        .collect();
    let deliveries = Arc::new(fixture_deliveries());
    let n = deliveries.len();
    assert!(n > 50, "the fixtures about {REPO}");

    // Every delivery twice to each receiver, four senders at once, each starting at a
    // different place in the list.
    let client = reqwest::Client::new();
    let mut senders = Vec::new();
    for _round in 0..2 {
        for receiver in &receivers {
            let (client, deliveries, base) =
                (client.clone(), deliveries.clone(), receiver.base.clone());
            let offset = senders.len() * n / 4;
            senders.push(tokio::spawn(async move {
                let mut statuses = Vec::with_capacity(n);
                for k in 0..n {
                    let d = &deliveries[(k + offset) % n];
                    statuses.push((d.id.clone(), post(&client, &base, d).await));
                }
                statuses
            }));
        }
    }
    let mut accepted: BTreeMap<String, usize> = BTreeMap::new();
    for sender in senders {
        for (id, status) in sender.await.unwrap() {
            assert!(
                status == reqwest::StatusCode::ACCEPTED || status == reqwest::StatusCode::OK,
                "{id}: {status}"
            );
            *accepted.entry(id).or_default() +=
                usize::from(status == reqwest::StatusCode::ACCEPTED);
        }
    }
    assert_eq!(accepted.len(), n);
    assert!(
        accepted.values().all(|&a| a == 1),
        "each delivery is accepted (202) once and a duplicate (200) three times: {accepted:?}"
    );

    let procs: Vec<&Proc> = receivers.iter().chain(workers.iter()).collect();
    db.wait_until_all_processed(n, &procs).await;
    let mut processed = 0;
    for w in workers {
        let totals: serde_json::Value = serde_json::from_str(&w.terminate()).unwrap();
        processed += totals["processed"].as_u64().unwrap();
    }
    assert_eq!(
        processed as usize, n,
        "the workers processed each delivery once"
    );
    for r in receivers {
        r.terminate();
    }

    // Per object, outcomes were recorded in the order the deliveries were stored.
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT d.ordering_key, d.delivery_id FROM \"{s}\".deliveries d
         JOIN \"{s}\".audit a ON a.record->'subject'->>'type' = 'delivery'
             AND a.record->'subject'->>'id' = d.delivery_id
             AND a.record->>'action' = 'delivery.processed'
         ORDER BY d.ordering_key, d.seq",
        s = db.schema
    )))
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in &rows {
        by_key.entry(row.get(0)).or_default().push(row.get(1));
    }
    let processed_order = sqlx::query(AssertSqlSafe(format!(
        "SELECT a.record->'subject'->>'id' FROM \"{}\".audit a
         WHERE a.record->>'action' = 'delivery.processed' ORDER BY a.seq",
        db.schema
    )))
    .fetch_all(&db.pool)
    .await
    .unwrap()
    .into_iter()
    .map(|r| r.get::<String, _>(0))
    .collect::<Vec<_>>();
    assert!(
        by_key.len() > 5,
        "deliveries about several objects: {by_key:?}"
    );
    for (key, stored) in &by_key {
        let done: Vec<&String> = processed_order
            .iter()
            .filter(|id| stored.contains(id))
            .collect();
        let stored: Vec<&String> = stored.iter().collect();
        assert_eq!(done, stored, "{key}: processed out of arrival order");
    }
    assert_converged(&db, &deliveries).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_batch_is_taken_over_after_its_lease() {
    let Some(db) = Db::new("sigkill").await else {
        return;
    };
    let receiver = db.serve("receiver", &db.url);
    let deliveries = issue_deliveries(150);
    let client = reqwest::Client::new();
    for d in &deliveries {
        assert_eq!(
            post(&client, &receiver.base, d).await,
            reqwest::StatusCode::ACCEPTED
        );
    }

    // The victim claims a large batch with a short lease. To kill it mid-batch, before its
    // deliveries' outcomes are recorded, the test locks the claimed rows: the victim stages
    // the batch, commits what the engine commits before the outcomes (events whose
    // deliveries finish later; none when each delivery's outcome commits with its only
    // event), then blocks writing the outcomes. It is killed there, and the lock let go:
    // its open transaction dies with it.
    let victim = db.worker("victim", &db.url, &["--lease", "2", "--batch", "100"]);
    let held_sql = "SELECT count(*) FROM {s}.deliveries WHERE lease_owner = 'victim' AND phase IN ('queued', 'failed')";
    let deadline = Instant::now() + Duration::from_secs(60);
    while db.query_i64(held_sql).await == 0 {
        assert!(
            Instant::now() < deadline,
            "the victim never claimed\n{}",
            victim.log()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut lock = db.pool.begin().await.unwrap();
    let locked = sqlx::query(AssertSqlSafe(format!(
        "SELECT delivery_id FROM \"{}\".deliveries WHERE lease_owner = 'victim' FOR UPDATE",
        db.schema
    )))
    .fetch_all(&mut *lock)
    .await
    .unwrap()
    .len();
    assert!(locked > 0, "the victim finished its batch before the lock");
    let blocked = format!(
        "SELECT count(*)::int8 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%\"{}\".deliveries%' AND query LIKE '%record%'",
        db.schema
    );
    while db.query_i64(&blocked).await == 0 {
        assert!(
            Instant::now() < deadline,
            "the victim never reached its outcome commit\n{}",
            victim.log()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    victim.signal("KILL");
    drop(victim);
    lock.rollback().await.unwrap();
    let held = db.query_i64(held_sql).await;
    let events_by_victim = db
        .query_i64("SELECT count(*) FROM {s}.applied_events")
        .await;
    let finished_by_victim = db
        .query_i64("SELECT count(*) FROM {s}.deliveries WHERE phase = 'processed'")
        .await;
    eprintln!(
        "killed the victim holding {held} claims with {events_by_victim} of its events applied and {finished_by_victim} outcomes recorded"
    );
    assert_eq!(
        held as usize, locked,
        "the dead worker's claims stay until their lease expires"
    );
    assert_eq!(finished_by_victim, 0, "the victim recorded no outcome");

    let rescuer = db.worker("rescuer", &db.url, &["--lease", "2", "--batch", "25"]);
    db.wait_until_all_processed(deliveries.len(), &[&receiver, &rescuer])
        .await;
    let totals: serde_json::Value = serde_json::from_str(&rescuer.terminate()).unwrap();
    assert_eq!(
        totals["processed"].as_u64().unwrap() as i64,
        deliveries.len() as i64,
        "the rescuer finished what the victim held and the rest"
    );
    receiver.terminate();
    assert_converged(&db, &deliveries).await;
}

/// A TCP proxy to PostgreSQL that can be cut (every connection dropped, new ones refused)
/// and restored.
struct Proxy {
    addr: SocketAddr,
    up: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (up, state) = watch::channel(true);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                if !*state.borrow() {
                    drop(client);
                    continue;
                }
                let mut state = state.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = state.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Proxy { addr, up, task }
    }

    fn cut(&self) {
        self.up.send_replace(false);
    }

    fn restore(&self) {
        self.up.send_replace(true);
    }

    /// `url` with its host and port replaced by the proxy's.
    fn url(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").unwrap();
        let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let userinfo = authority
            .rsplit_once('@')
            .map(|(u, _)| format!("{u}@"))
            .unwrap_or_default();
        format!("{scheme}://{userinfo}{}{tail}", self.addr)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The JSON of a worker's `/healthz` (`worker` member), or `None` when it does not answer.
async fn worker_health(client: &reqwest::Client, worker: &Proc) -> Option<serde_json::Value> {
    let health: serde_json::Value = client
        .get(format!("{}/healthz", worker.base))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    Some(health["worker"].clone())
}

async fn status_of(client: &reqwest::Client, url: String) -> reqwest::StatusCode {
    client.get(url).send().await.unwrap().status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_answered_with_503_and_nothing_accepted_is_lost() {
    let Some(db) = Db::new("outage").await else {
        return;
    };
    let options = PgConnectOptions::from_str(&db.url).unwrap();
    let upstream = tokio::net::lookup_host((options.get_host(), options.get_port()))
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = Proxy::start(upstream).await;
    let via_proxy = proxy.url(&db.url);
    let receiver = db.serve("receiver", &via_proxy);

    // The worker is caught inside a batch when the connection breaks: a lock on the
    // applied-events table, taken on a connection of the test's own (not through the
    // proxy), lets it claim and stage a batch but holds up the batch's commit.
    let mut hold = db.pool.begin().await.unwrap();
    sqlx::query(AssertSqlSafe(format!(
        "LOCK TABLE \"{}\".applied_events IN EXCLUSIVE MODE",
        db.schema
    )))
    .execute(&mut *hold)
    .await
    .unwrap();
    let client = reqwest::Client::new();
    let deliveries = fixture_deliveries();
    let (before, rest) = deliveries.split_at(deliveries.len() / 2);
    let (during, after) = rest.split_at(6);

    let mut accepted = Vec::new();
    for d in before {
        assert_eq!(
            post(&client, &receiver.base, d).await,
            reqwest::StatusCode::ACCEPTED,
            "{}",
            d.id
        );
        accepted.push(d.id.clone());
    }
    // A lease far longer than the test: the claims of the broken batch come back only if
    // the worker gives them back once the store answers again, never by expiring.
    let worker = db.worker_with_health("worker", &via_proxy, &["--batch", "8", "--lease", "3600"]);
    let blocked = format!(
        "SELECT count(*)::int8 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%\"{}\".%'",
        db.schema
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while db.query_i64(&blocked).await == 0 {
        assert!(
            Instant::now() < deadline,
            "the worker never reached a commit\n{}",
            worker.log()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let held = db
        .query_i64("SELECT count(*) FROM {s}.deliveries WHERE lease_owner = 'worker' AND phase IN ('queued', 'failed')")
        .await;
    assert!(held > 0, "the worker holds its batch");
    assert_eq!(
        status_of(&client, format!("{}/readyz", worker.base)).await,
        reqwest::StatusCode::OK
    );

    // The database goes away: receivers refuse rather than pretend.
    proxy.cut();
    let outage = Instant::now();
    let mut refused = Vec::new();
    let sends: Vec<_> = during
        .iter()
        .map(|d| {
            let (client, base, d) = (client.clone(), receiver.base.clone(), d.clone());
            tokio::spawn(async move { post(&client, &base, &d).await })
        })
        .collect();
    for (d, send) in during.iter().zip(sends) {
        let status = send.await.unwrap();
        if status.is_success() {
            accepted.push(d.id.clone());
        } else {
            assert_eq!(
                status,
                reqwest::StatusCode::SERVICE_UNAVAILABLE,
                "{}\n{}",
                d.id,
                receiver.log()
            );
            refused.push(d.clone());
        }
    }
    assert!(
        !refused.is_empty(),
        "deliveries during the outage are refused\n{}",
        receiver.log()
    );
    assert_eq!(
        status_of(&client, format!("{}/readyz", receiver.base)).await,
        reqwest::StatusCode::SERVICE_UNAVAILABLE
    );
    // The worker's batch failed and its claims could not be given back: it says so on its
    // health endpoints, and keeps them to give back later.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let health = worker_health(&client, &worker).await.unwrap_or_default();
        if health["stranded_now"].as_i64() == Some(held) {
            assert_eq!(health["store_reachable"], false, "{health}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the worker never reported its stranded claims: {health}\n{}",
            worker.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        status_of(&client, format!("{}/readyz", worker.base)).await,
        reqwest::StatusCode::SERVICE_UNAVAILABLE
    );
    hold.rollback().await.unwrap();

    // Back: the sender redelivers what was refused and sends the rest; work resumes.
    proxy.restore();
    eprintln!(
        "outage of {:.1?}: {} of {} deliveries refused with 503; the worker held {held} claims",
        outage.elapsed(),
        refused.len(),
        during.len()
    );
    for d in refused.iter().chain(after) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = post(&client, &receiver.base, d).await;
            if status.is_success() {
                accepted.push(d.id.clone());
                break;
            }
            assert_eq!(status, reqwest::StatusCode::SERVICE_UNAVAILABLE);
            assert!(Instant::now() < deadline, "{} never accepted", d.id);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    accepted.sort();
    let mut all: Vec<String> = deliveries.iter().map(|d| d.id.clone()).collect();
    all.sort();
    assert_eq!(
        accepted, all,
        "every delivery was accepted once the store was back"
    );
    db.wait_until_all_processed(deliveries.len(), &[&receiver, &worker])
        .await;
    assert_eq!(
        status_of(&client, format!("{}/readyz", worker.base)).await,
        reqwest::StatusCode::OK
    );
    let totals: serde_json::Value = serde_json::from_str(&worker.terminate()).unwrap();
    assert_eq!(totals["stranded"].as_i64(), Some(held), "{totals}");
    assert_eq!(totals["expired"], 0, "{totals}");
    assert!(
        totals["released"].as_i64().unwrap() >= held,
        "the stranded claims were given back: {totals}"
    );
    assert!(totals["store_errors"].as_u64().unwrap() > 0, "{totals}");
    receiver.terminate();

    assert_converged(&db, &deliveries).await;
}

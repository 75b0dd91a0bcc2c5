//! What the PostgreSQL tests of the binary share: a fresh schema per test on the server in
//! `DATABASE_URL` with a scratch directory, both removed at the end
//! (`kradle_test_support::postgres`), the `kradle-sync` binary as a child process, and real
//! GitHub deliveries signed for it. When the server cannot be reached a test is skipped with
//! a notice, except under `CI=true`, where it fails.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::ops::Deref;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use kradle_provider_github::sign_webhook;
use kradle_store_postgres::PostgresStore;
use kradle_store_postgres::sqlx::{self, AssertSqlSafe};
use kradle_sync_core::Secret;
use kradle_test_support::postgres::{FreshSchema, fresh_schema};
use serde_json::Value;

/// The secret the bundled log and these tests sign with.
pub const SECRET: &str = "kradle-demo-secret";
/// The environment variable the test bindings file names.
pub const SECRET_ENV: &str = "KRADLE_TEST_GITHUB_SECRET";
/// The binding of the fixtures' repository.
pub const BINDING: &str = "Codertocat/Hello-World";

pub fn root() -> String {
    format!("{}/../..", env!("CARGO_MANIFEST_DIR"))
}

/// A fresh schema on the test server and its scratch directory, both removed when the
/// value is dropped (`pool`, `url`, `schema`, `dir`, `drop_schema()` of [`FreshSchema`]).
pub struct TestDb(FreshSchema);

impl Deref for TestDb {
    type Target = FreshSchema;

    fn deref(&self) -> &FreshSchema {
        &self.0
    }
}

impl TestDb {
    /// Connects and names a fresh schema, or returns `None` (skip) outside CI when the
    /// server is unreachable.
    pub async fn new(tag: &str) -> Option<TestDb> {
        fresh_schema("kcli", tag).await.map(TestDb)
    }

    /// The store in the test's schema (migrated).
    pub async fn store(&self) -> PostgresStore {
        PostgresStore::new(self.pool.clone(), &self.schema)
            .await
            .expect("open the test schema")
    }

    /// A bindings file for the fixtures' repository, its secret read from [`SECRET_ENV`].
    pub fn bindings_file(&self) -> String {
        let path = self.dir.join("bindings.toml");
        std::fs::write(
            &path,
            format!(
                "[[binding]]\nname = \"{BINDING}\"\nprovider = \"github\"\nsecret_env = \"{SECRET_ENV}\"\n"
            ),
        )
        .unwrap();
        path.to_string_lossy().into_owned()
    }

    /// Runs the binary to completion with the store arguments appended.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--store", &self.url, "--schema", &self.schema]);
        Command::new(env!("CARGO_BIN_EXE_kradle-sync"))
            .args(&all)
            .env(SECRET_ENV, SECRET)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Starts `serve` on a free port with the store arguments and the bindings file.
    pub fn serve(&self, extra: &[&str]) -> Server {
        let bindings = self.bindings_file();
        let mut args = vec![
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--store",
            &self.url,
            "--schema",
            &self.schema,
            "--bindings",
            &bindings,
        ];
        args.extend(extra);
        spawn_server(&args)
    }

    /// Row counts and lease owners of the deliveries table.
    pub async fn deliveries(&self) -> Vec<(String, String, Option<String>, i32)> {
        sqlx::query_as::<_, (String, String, Option<String>, i32)>(AssertSqlSafe(format!(
            "SELECT delivery_id, phase, lease_owner, claims FROM \"{}\".deliveries ORDER BY seq",
            self.schema
        )))
        .fetch_all(&self.pool)
        .await
        .unwrap()
    }
}

/// A running `kradle-sync serve` (or `worker`) child; killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
    stderr: Option<std::thread::JoinHandle<String>>,
}

pub fn spawn_server(args: &[&str]) -> Server {
    spawn_server_with(args, &[])
}

/// [`spawn_server`] with more environment variables (a token, …).
pub fn spawn_server_with(args: &[&str], env: &[(&str, &str)]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kradle-sync"))
        .args(args)
        .envs(env.iter().copied())
        .env(SECRET_ENV, SECRET)
        .env("KRADLE_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| {
            let _ = child.kill();
            panic!("serve did not start: {line:?}")
        })
        .to_owned();
    Server {
        child,
        base,
        stderr: Some(stderr),
    }
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends SIGTERM and waits for the exit; returns whether it exited successfully and
    /// its log.
    pub fn terminate(mut self) -> (bool, String) {
        signal(self.child.id(), "TERM");
        let status = self.child.wait().unwrap();
        let log = self.stderr.take().unwrap().join().unwrap();
        (status.success(), log)
    }
}

impl Server {
    /// `HOST:PORT` of the server.
    pub fn addr(&self) -> &str {
        self.base.strip_prefix("http://").unwrap_or(&self.base)
    }

    /// Waits for the exit after a signal sent with [`signal`]; returns whether it exited
    /// successfully and its log.
    pub fn wait(mut self) -> (bool, String) {
        let status = self.child.wait().unwrap();
        let log = self.stderr.take().unwrap().join().unwrap();
        (status.success(), log)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends a signal to a child process by its id.
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {pid}");
}

/// A real fixture body (`fixtures/github/webhooks/<path>`), compacted as GitHub sends it.
pub fn fixture(path: &str) -> String {
    let full = format!("{}/fixtures/github/webhooks/{path}", root());
    let value: Value = serde_json::from_str(
        &std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}")),
    )
    .unwrap();
    serde_json::to_string(&value).unwrap()
}

/// One signed delivery: (headers, body).
pub struct Delivery {
    pub event: String,
    pub id: String,
    pub body: String,
    pub signature: String,
}

pub fn signed(event: &str, id: &str, body: String) -> Delivery {
    Delivery {
        event: event.to_owned(),
        id: id.to_owned(),
        signature: sign_webhook(&Secret::new(SECRET), body.as_bytes()),
        body,
    }
}

impl Delivery {
    pub fn with_signature(mut self, signature: &str) -> Self {
        self.signature = signature.to_owned();
        self
    }
}

/// Posts a delivery to `path` (e.g. `/webhooks/github/Codertocat/Hello-World`).
pub async fn post(
    client: &reqwest::Client,
    server: &Server,
    path: &str,
    d: &Delivery,
) -> reqwest::Response {
    client
        .post(server.url(path))
        .header("Content-Type", "application/json")
        .header("User-Agent", "GitHub-Hookshot/044aadd")
        .header("X-GitHub-Event", &d.event)
        .header("X-GitHub-Delivery", &d.id)
        .header("X-Hub-Signature-256", &d.signature)
        .body(d.body.clone())
        .send()
        .await
        .unwrap()
}

/// The deliveries of the bundled log (`examples/fixtures/github-issues.ndjson`), as the
/// log recorded them: event, delivery id, signature and body.
pub fn bundled_log_deliveries() -> Vec<Delivery> {
    let log = std::fs::read_to_string(format!("{}/examples/fixtures/github-issues.ndjson", root()))
        .unwrap();
    log.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["type"] == "delivery")
        .map(|r| {
            let h = &r["headers"];
            let header = |name: &str| {
                h.as_object()
                    .unwrap()
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .and_then(|(_, v)| v.as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            Delivery {
                event: header("X-GitHub-Event"),
                id: header("X-GitHub-Delivery"),
                signature: header("X-Hub-Signature-256"),
                body: r["body"].as_str().unwrap().to_owned(),
            }
        })
        .collect()
}

/// Waits (bounded, never asserting on speed) until `done` holds.
pub async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done().await {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The JSON document of an output.
pub fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

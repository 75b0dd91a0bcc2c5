//! Request → 2xx latency of `kradle-sync serve` on PostgreSQL.
//!
//! Starts the release binary on a free port against `DATABASE_URL` (default: the local
//! server) in a schema of its own, then N concurrent connections send real GitHub
//! deliveries (`fixtures/github/webhooks`, each under a fresh delivery id and signed) and
//! time each request until its 202. Runs receive-only (`--workers 0`) and with two
//! in-process workers applying what arrives. Prints p50, p99 and throughput.
//!
//! `cargo bench -p kradle-sync-cli --bench serve_latency`; `KRADLE_BENCH_REQUESTS`
//! (default 4000) and `KRADLE_BENCH_CONNECTIONS` (default 16) change the load.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kradle_provider_github::sign_webhook;
use kradle_store_postgres::sqlx::postgres::PgPoolOptions;
use kradle_store_postgres::sqlx::{self, AssertSqlSafe};
use kradle_sync_core::Secret;
use serde_json::Value;

const SECRET: &str = "bench-secret";
const BINDING: &str = "Codertocat/Hello-World";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Real issue-tracking deliveries of the binding's repository: (event, body).
fn fixtures() -> Vec<(String, String)> {
    let root = format!(
        "{}/../../fixtures/github/webhooks",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut out = Vec::new();
    for event in ["issues", "issue_comment", "label", "milestone"] {
        let mut files: Vec<_> = std::fs::read_dir(format!("{root}/{event}"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            let value: Value =
                serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
            if value["repository"]["full_name"] == BINDING {
                out.push((event.to_owned(), serde_json::to_string(&value).unwrap()));
            }
        }
    }
    out
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn start(url: &str, schema: &str, bindings: &str, workers: usize) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kradle-sync"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store", url])
        .args(["--schema", schema, "--bindings", bindings])
        .args(["--workers", &workers.to_string()])
        .env("KRADLE_BENCH_SECRET", SECRET)
        .env("KRADLE_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("serve did not start: {line:?}"))
        .to_owned();
    Server { child, base }
}

struct Run {
    latencies: Vec<Duration>,
    elapsed: Duration,
}

async fn load(
    base: &str,
    fixtures: Arc<Vec<(String, String)>>,
    tag: &str,
    requests: usize,
    connections: usize,
) -> Run {
    let url = format!("{base}/webhooks/github/{BINDING}");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let url = url.clone();
        let fixtures = fixtures.clone();
        let tag = tag.to_owned();
        let share = requests / connections + usize::from(c < requests % connections);
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap();
            let secret = Secret::new(SECRET);
            let mut latencies = Vec::with_capacity(share);
            for n in 0..share {
                let (event, body) = &fixtures[(c + n * connections) % fixtures.len()];
                let id = format!("{tag}-{c}-{n}");
                let signature = sign_webhook(&secret, body.as_bytes());
                let sent = Instant::now();
                let response = client
                    .post(&url)
                    .header("Content-Type", "application/json")
                    .header("X-GitHub-Event", event)
                    .header("X-GitHub-Delivery", &id)
                    .header("X-Hub-Signature-256", signature)
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                let _ = response.bytes().await;
                latencies.push(sent.elapsed());
                assert_eq!(status.as_u16(), 202, "{id}");
            }
            latencies
        }));
    }
    let mut latencies = Vec::with_capacity(requests);
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    Run {
        latencies,
        elapsed: started.elapsed(),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it too, briefly.
    let quick = !std::env::args().any(|a| a == "--bench");
    let requests = env_usize("KRADLE_BENCH_REQUESTS", if quick { 64 } else { 4000 });
    let connections = env_usize("KRADLE_BENCH_CONNECTIONS", 16).max(1);
    let url = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let pool = match PgPoolOptions::new().max_connections(1).connect(&url).await {
            Ok(p) => p,
            Err(e) => {
                eprintln!("serve_latency: PostgreSQL is unreachable at {url} ({e}); skipped");
                return;
            }
        };
        let dir = std::env::temp_dir().join(format!("kradle-serve-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bindings = dir.join("bindings.toml");
        std::fs::write(
            &bindings,
            format!(
                "[[binding]]\nname = \"{BINDING}\"\nprovider = \"github\"\nsecret_env = \"KRADLE_BENCH_SECRET\"\n"
            ),
        )
        .unwrap();
        let fixtures = Arc::new(fixtures());
        let mean_body =
            fixtures.iter().map(|(_, b)| b.len()).sum::<usize>() / fixtures.len().max(1);
        println!(
            "serve_latency: {requests} real deliveries ({} distinct payloads, mean {mean_body} bytes), {connections} connections",
            fixtures.len()
        );
        println!("| serve | p50 | p99 | max | throughput |");
        println!("| --- | --- | --- | --- | --- |");
        for workers in [0usize, 2] {
            let schema = format!("kbench_serve_{}_{workers}", std::process::id());
            let server = start(&url, &schema, &bindings.to_string_lossy(), workers);
            // Warm-up: connections, statements, the first pages of the tables.
            let _ = load(&server.base, fixtures.clone(), "warm", connections * 4, connections).await;
            let mut run = load(&server.base, fixtures.clone(), "run", requests, connections).await;
            run.latencies.sort();
            println!(
                "| `--workers {workers}` | {} | {} | {} | {:.0} deliveries/s |",
                ms(percentile(&run.latencies, 0.50)),
                ms(percentile(&run.latencies, 0.99)),
                ms(*run.latencies.last().unwrap()),
                run.latencies.len() as f64 / run.elapsed.as_secs_f64(),
            );
            drop(server);
            sqlx::query(AssertSqlSafe(format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")))
                .execute(&pool)
                .await
                .unwrap();
        }
        let _ = std::fs::remove_dir_all(&dir);
    });
}

//! Memory under a flood of duplicate deliveries on the PostgreSQL store: one real delivery,
//! then the same delivery again and again through `Engine::receive` (what `serve` does per
//! request). Each duplicate is verified and refused by the database's unique key; nothing of
//! it is kept in the client process, so its peak resident set stays flat. Prints the peak
//! RSS of this (client) process after 10k, 100k and 1M duplicates (Linux
//! `/proc/self/status`, `VmHWM`) and the rows stored.
//!
//! ```sh
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo bench -p kradle-benches --bench postgres_duplicates
//! ```
//!
//! `DUPLICATES=100000` stops earlier. Under `CI=true` an unreachable server fails the bench.
#![allow(missing_docs, clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use chrono::DateTime;
use kradle_provider_github::{GithubWebhooks, sign_webhook};
use kradle_store_postgres::PostgresStore;
use kradle_store_postgres::sqlx::{self, AssertSqlSafe, Row};
use kradle_sync_core::{
    Binding, BindingId, Engine, ExternalTarget, Headers, Interface, Receipt, Secret, SyncStore,
    WebhookRequest,
};

const REPO: &str = "Codertocat/Hello-World";
const SECRET: &str = "kradle-demo-secret";

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn rows(store: &PostgresStore, table: &str) -> i64 {
    sqlx::query(AssertSqlSafe(format!(
        "SELECT count(*) FROM \"{}\".{table}",
        store.schema()
    )))
    .fetch_one(store.pool())
    .await
    .expect("count")
    .get(0)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let limit: u64 = std::env::var("DUPLICATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let schema = format!("kbench_dup_{}", std::process::id());
    let store = match rt.block_on(PostgresStore::connect_with_schema(&url, &schema)) {
        Ok(store) => store,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("CI=true and PostgreSQL is unreachable: {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED duplicates bench: {e}");
            return;
        }
    };
    let binding = Binding::new(
        REPO,
        "github",
        ExternalTarget::from_path(REPO),
        &Interface::ALL,
    )
    .with_secret(Secret::new(SECRET));
    let engine = Engine::builder(Arc::new(store.clone()) as Arc<dyn SyncStore>)
        .adapter(Arc::new(GithubWebhooks::new()))
        .binding(binding)
        .build()
        .expect("a valid binding");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/github/webhooks/issues/opened.json");
    let value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect("the fixture")).expect("JSON");
    let body = value.to_string().into_bytes();
    let request = || {
        WebhookRequest::new(
            Headers::from_pairs([
                ("X-GitHub-Event", "issues".to_owned()),
                (
                    "X-GitHub-Delivery",
                    "72d3162e-cc78-11e3-81ab-4c9367dc0958".to_owned(),
                ),
                (
                    "X-Hub-Signature-256",
                    sign_webhook(&Secret::new(SECRET), &body),
                ),
            ]),
            body.clone(),
        )
    };
    let binding = BindingId::new(REPO);
    let at = DateTime::UNIX_EPOCH;
    rt.block_on(async {
        let first = engine.receive(&binding, request(), at).await.expect("receive");
        assert!(matches!(first, Receipt::Accepted(_)));
        println!(
            "after the first delivery: peak RSS {:?} KiB",
            peak_rss_kib()
        );
        let started = Instant::now();
        let mut sent = 0u64;
        for checkpoint in [10_000u64, 100_000, 1_000_000] {
            if checkpoint > limit {
                break;
            }
            while sent < checkpoint {
                let receipt = engine.receive(&binding, request(), at).await.expect("receive");
                assert!(matches!(receipt, Receipt::Duplicate(_)));
                sent += 1;
            }
            println!(
                "after {checkpoint:>9} duplicates: peak RSS {:?} KiB, stored deliveries {}, audit records {} ({:.1?} elapsed)",
                peak_rss_kib(),
                rows(&store, "deliveries").await,
                rows(&store, "audit").await,
                started.elapsed()
            );
        }
        sqlx::query(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
            .execute(store.pool())
            .await
            .expect("drop the bench schema");
    });
}

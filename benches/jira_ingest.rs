//! Jira: ingest + verify + normalize + apply on the memory store, per delivery, against the
//! floor (parsing the same bytes into `serde_json::Value` plus one HMAC-SHA256 over them);
//! normalize alone; and the rich-text round trip ADF → Markdown → ADF over every ADF
//! document of the REST fixtures, against parsing the same document's bytes.
//!
//! Every iteration replays every real Jira webhook fixture, each with its own delivery id,
//! into a fresh engine, so every delivery is verified, stored, normalized and applied.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::DateTime;
use criterion::{Criterion, Throughput};
use futures::executor::block_on;
use hmac::{KeyInit, Mac};
use kradle_provider_jira::{JiraWebhooks, markup, sign_webhook};
use kradle_store_memory::MemoryStore;
use kradle_sync_core::{
    Binding, BindingId, Engine, ExternalTarget, Headers, Interface, Secret, SyncStore,
    WebhookAdapter, WebhookRequest,
};
use serde_json::Value;
use sha2::Digest;

const SECRET: &str = "bench-secret";

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/jira")
}

fn files(dir: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![fixtures().join(dir)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// (binding, request) of every webhook fixture, bound to its own `SITE/KEY` (or a site
/// binding for Data Center comments, which name no project).
fn deliveries() -> Vec<(String, WebhookRequest)> {
    files("webhooks")
        .into_iter()
        .map(|p| {
            let body = std::fs::read(&p).unwrap();
            let target = JiraWebhooks::new()
                .normalize_webhook(&WebhookRequest::new(
                    Headers::from_pairs([("X-Atlassian-Webhook-Identifier", "x")]),
                    body.clone(),
                ))
                .unwrap()
                .target
                .map_or_else(|| "jira.example/DC".to_owned(), |t| t.path);
            let id = hex_digest(&body);
            let request = WebhookRequest::new(
                Headers::from_pairs([
                    ("X-Atlassian-Webhook-Identifier", id),
                    ("X-Hub-Signature", sign_webhook(&Secret::new(SECRET), &body)),
                ]),
                body,
            );
            (target, request)
        })
        .collect()
}

fn hex_digest(body: &[u8]) -> String {
    sha2::Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn engine(store: Arc<dyn SyncStore>, targets: &[String]) -> Engine {
    let mut builder = Engine::builder(store).adapter(Arc::new(JiraWebhooks::new()));
    let mut seen = std::collections::BTreeSet::new();
    for t in targets {
        if seen.insert(t.clone()) {
            builder = builder.binding(
                Binding::new(
                    t.as_str(),
                    "jira",
                    ExternalTarget::from_path(t.as_str()),
                    &[Interface::IssueTracking],
                )
                .with_secret(Secret::new(SECRET)),
            );
        }
    }
    builder.build().unwrap()
}

/// Every ADF document (a description or comment body) in the REST fixtures.
fn adf_documents() -> Vec<Value> {
    fn walk(v: &Value, out: &mut Vec<Value>) {
        match v {
            Value::Object(map) => {
                if map.get("type").and_then(Value::as_str) == Some("doc") {
                    out.push(v.clone());
                    return;
                }
                map.values().for_each(|c| walk(c, out));
            }
            Value::Array(items) => items.iter().for_each(|c| walk(c, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for p in files("rest") {
        let v: Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        walk(&v, &mut out);
    }
    out
}

fn bench(c: &mut Criterion) {
    let all = deliveries();
    let targets: Vec<String> = all.iter().map(|(t, _)| t.clone()).collect();
    let mut group = c.benchmark_group("jira_ingest");
    group.throughput(Throughput::Elements(all.len() as u64));
    group.bench_function("floor", |b| {
        b.iter(|| {
            for (_, r) in &all {
                let value: Value = serde_json::from_slice(black_box(&r.body)).unwrap();
                let mut mac =
                    hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
                mac.update(&r.body);
                black_box((value, mac.finalize()));
            }
        })
    });
    let adapter = JiraWebhooks::new();
    group.bench_function("normalize", |b| {
        b.iter(|| {
            for (_, r) in &all {
                black_box(adapter.normalize_webhook(black_box(r)).unwrap());
            }
        })
    });
    group.bench_function("engine_memory", |b| {
        b.iter_batched(
            || {
                let store: Arc<dyn SyncStore> = Arc::new(MemoryStore::new());
                (engine(store, &targets), all.clone())
            },
            |(e, all)| {
                for (t, r) in all {
                    black_box(
                        block_on(e.ingest(&BindingId::new(t), r, DateTime::UNIX_EPOCH)).unwrap(),
                    );
                }
            },
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();

    let docs = adf_documents();
    let bytes: Vec<Vec<u8>> = docs
        .iter()
        .map(|d| serde_json::to_vec(d).unwrap())
        .collect();
    let mut group = c.benchmark_group("jira_adf_round_trip");
    group.throughput(Throughput::Elements(docs.len() as u64));
    group.bench_function("floor", |b| {
        b.iter(|| {
            for d in &bytes {
                black_box(serde_json::from_slice::<Value>(black_box(d)).unwrap());
            }
        })
    });
    group.bench_function("adf_markdown_adf", |b| {
        b.iter(|| {
            for d in &docs {
                let md = markup::adf_to_markdown(black_box(d)).unwrap();
                black_box(markup::markdown_to_adf(&md.output));
            }
        })
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    kradle_benches::report_ratios("jira_ingest", "floor", &["normalize", "engine_memory"]);
    kradle_benches::report_ratios("jira_adf_round_trip", "floor", &["adf_markdown_adf"]);
}

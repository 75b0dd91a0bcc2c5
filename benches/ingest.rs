//! Ingest + verify + normalize + apply on the memory store, per delivery, against the
//! floor: parsing the same bytes into `serde_json::Value` plus one HMAC-SHA256 over them.
//!
//! Every iteration replays the real issue-tracking fixtures, each with its own delivery
//! id, into a fresh engine, so every delivery is verified, stored, normalized and applied.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;

use chrono::DateTime;
use criterion::{Criterion, Throughput};
use futures::executor::block_on;
use hmac::{KeyInit, Mac};
use kradle_integration_tests::{REPO, SECRET, engine, fixtures};
use kradle_store_memory::MemoryStore;
use kradle_sync_core::{BindingId, SyncStore};

fn bench(c: &mut Criterion) {
    let all = fixtures(&["issues", "issue_comment", "label", "milestone"]);
    let requests: Vec<_> = all.iter().map(|f| f.request()).collect();
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(requests.len() as u64));
    group.bench_function("floor", |b| {
        b.iter(|| {
            for r in &requests {
                let value: serde_json::Value = serde_json::from_slice(black_box(&r.body)).unwrap();
                let mut mac =
                    hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
                mac.update(&r.body);
                black_box((value, mac.finalize()));
            }
        })
    });
    let binding = BindingId::new(REPO);
    group.bench_function("engine_memory", |b| {
        b.iter_batched(
            || {
                let store: Arc<dyn SyncStore> = Arc::new(MemoryStore::new());
                (engine(store), requests.clone())
            },
            |(e, requests)| {
                for r in requests {
                    black_box(block_on(e.ingest(&binding, r, DateTime::UNIX_EPOCH)).unwrap());
                }
            },
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    kradle_benches::report_ratios("ingest", "floor", &["engine_memory"]);
}

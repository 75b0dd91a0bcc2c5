//! Memory under a flood of duplicate deliveries: one real delivery, then the same delivery
//! again and again. Each duplicate is verified and recognised by its delivery id; nothing
//! of it is kept, so the peak resident set stays flat. Prints the peak RSS after 10k, 100k
//! and 1M duplicates (Linux `/proc/self/status`, `VmHWM`).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::DateTime;
use futures::executor::block_on;
use kradle_integration_tests::{REPO, engine, fixtures};
use kradle_store_memory::MemoryStore;
use kradle_sync_core::{BindingId, Receipt, SyncStore};

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let store = Arc::new(MemoryStore::new());
    let dyn_store: Arc<dyn SyncStore> = store.clone();
    let e = engine(dyn_store);
    let binding = BindingId::new(REPO);
    let delivery = fixtures(&["issues"]).remove(0);
    let (first, _) =
        block_on(e.ingest(&binding, delivery.request(), DateTime::UNIX_EPOCH)).unwrap();
    assert!(matches!(first, Receipt::Accepted(_)));
    let baseline = peak_rss_kib();
    println!("after the first delivery: peak RSS {baseline:?} KiB");
    let checkpoints = [10_000u64, 100_000, 1_000_000];
    let mut sent = 0u64;
    let started = std::time::Instant::now();
    for checkpoint in checkpoints {
        while sent < checkpoint {
            let (receipt, _) =
                block_on(e.ingest(&binding, delivery.request(), DateTime::UNIX_EPOCH)).unwrap();
            assert!(matches!(receipt, Receipt::Duplicate(_)));
            sent += 1;
        }
        println!(
            "after {checkpoint:>9} duplicates: peak RSS {:?} KiB, stored deliveries {}, audit records {} ({:.1?} elapsed)",
            peak_rss_kib(),
            store.delivery_count(),
            store.audit_count(),
            started.elapsed()
        );
    }
}

//! Invariants 1 and 2 on real GitHub payloads: any permutation and duplication of the
//! issue-tracking fixtures gives the same projection, byte for byte.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::DateTime;
use futures::executor::block_on;
use kradle_integration_tests::{Fixture, REPO, engine, fixtures};
use kradle_store_memory::MemoryStore;
use kradle_sync_core::store::Filter;
use kradle_sync_core::testing::generators::arb_schedule;
use kradle_sync_core::{BindingId, Receipt, SyncStore};
use proptest::prelude::*;

const EVENTS: [&str; 4] = ["issues", "issue_comment", "label", "milestone"];

/// The projection without store bookkeeping (revisions count commits, which depends on
/// order by design).
fn state(store: &dyn SyncStore) -> String {
    let mut objects = block_on(store.list_objects(&Filter::all())).unwrap();
    for o in &mut objects {
        o.revision = 0;
    }
    let conflicts = block_on(store.list_conflicts(&Filter::all())).unwrap();
    let intents = block_on(store.list_write_intents(&Filter::all(), None)).unwrap();
    serde_json::to_string(&(objects, conflicts, intents)).unwrap()
}

fn run(all: &[Fixture], schedule: &[usize]) -> (String, usize) {
    let store: Arc<dyn SyncStore> = Arc::new(MemoryStore::new());
    let e = engine(store.clone());
    let mut duplicates = 0;
    for &i in schedule {
        let (receipt, _) = block_on(e.ingest(
            &BindingId::new(REPO),
            all[i].request(),
            DateTime::UNIX_EPOCH,
        ))
        .unwrap();
        duplicates += usize::from(matches!(receipt, Receipt::Duplicate(_)));
    }
    (state(store.as_ref()), duplicates)
}

#[test]
fn the_fixtures_cover_every_issue_tracking_event() {
    let all = fixtures(&EVENTS);
    assert!(
        all.len() >= 20,
        "expected the issue-tracking fixtures, found {}",
        all.len()
    );
    let (state, _) = run(&all, &(0..all.len()).collect::<Vec<_>>());
    for kind in ["\"issue\"", "\"comment\"", "\"label\"", "\"milestone\""] {
        assert!(state.contains(kind), "no {kind} projected");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn real_payloads_converge_in_any_order_with_duplicates(
        (a, b) in {
            let n = fixtures(&EVENTS).len();
            (arb_schedule(n), arb_schedule(n))
        }
    ) {
        let all = fixtures(&EVENTS);
        let (sa, da) = run(&all, &a);
        let (sb, db) = run(&all, &b);
        prop_assert_eq!(&sa, &sb, "invariant 2: real payloads converged differently");
        prop_assert_eq!(da, a.len() - all.len(), "invariant 1: duplicates miscounted");
        prop_assert_eq!(db, b.len() - all.len());
    }
}

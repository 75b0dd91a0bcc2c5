//! The memory store passes the shared conformance suite and the engine's invariants.

use std::sync::Arc;

use futures::executor::block_on;
use kradle_store_memory::MemoryStore;
use kradle_sync_core::SyncStore;
use kradle_sync_core::testing::generators::{arb_history_and_schedules, arb_issue_fields};
use kradle_sync_core::testing::{conformance, invariants, queue};
use proptest::prelude::*;

fn fresh() -> Arc<dyn SyncStore> {
    Arc::new(MemoryStore::new())
}

#[test]
fn conformance_suite() {
    block_on(conformance::run(&MemoryStore::new()));
}

#[test]
fn queue_conformance_suite() {
    let store = MemoryStore::new();
    block_on(queue::run(
        &store,
        &store,
        kradle_store_memory::DEFAULT_MAX_CLAIMS,
    ));
}

#[test]
fn http_cache_conformance() {
    block_on(conformance::run_cache(&MemoryStore::new()));
}

/// New work wakes a listener; work given back does too.
#[test]
fn the_work_signal_fires_on_new_and_released_work() {
    use futures::FutureExt;
    use kradle_sync_core::WorkQueue;
    let store = MemoryStore::new();
    let mut signal = block_on(store.listen()).unwrap();
    assert!(signal.changed().now_or_never().is_none(), "nothing yet");
    let d = conformance::delivery("wake-1", "acme/app");
    block_on(store.insert_delivery(&d)).unwrap();
    assert!(matches!(signal.changed().now_or_never(), Some(Ok(()))));
    let claimed = block_on(store.claim_deliveries(
        "w",
        std::time::Duration::from_secs(60),
        1,
        chrono::Utc::now(),
    ))
    .unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(
        signal.changed().now_or_never().is_none(),
        "claiming announces nothing"
    );
    block_on(store.release("w", &claimed)).unwrap();
    assert!(matches!(signal.changed().now_or_never(), Some(Ok(()))));
}

fn titles() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["Spelling error", "Typo in README", "Broken link"])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn permutations_and_duplicates_converge((history, a, b) in arb_history_and_schedules()) {
        block_on(invariants::check_convergence(&fresh, &history, &a, &b));
    }

    #[test]
    fn duplicates_change_nothing((history, a, _) in arb_history_and_schedules()) {
        block_on(invariants::check_duplicates_change_nothing(&fresh, &history, &a));
    }

    #[test]
    fn stale_never_overwrites((history, a, _) in arb_history_and_schedules()) {
        block_on(invariants::check_stale_never_overwrites(&fresh, &history, &a));
    }

    #[test]
    fn ties_schedule_a_hydrate(fields in arb_issue_fields(), title in titles()) {
        block_on(invariants::check_tie_schedules_hydrate(&fresh, &fields, title));
    }

    #[test]
    fn echoes_confirm_without_another_write(fields in arb_issue_fields(), title in titles()) {
        block_on(invariants::check_echo_confirms(&fresh, &fields, title));
    }

    #[test]
    fn same_field_conflicts_and_different_fields_merge(fields in arb_issue_fields(), local in titles(), external in titles()) {
        block_on(invariants::check_conflict_and_merge(&fresh, &fields, local, external));
    }

    #[test]
    fn conflicts_are_decided_once_and_never_come_back(fields in arb_issue_fields(), local in titles(), external in titles()) {
        block_on(invariants::check_conflict_decisions(&fresh, &fields, local, external));
    }

    #[test]
    fn local_owned_drift_is_reverted(fields in arb_issue_fields(), drifted in titles()) {
        block_on(invariants::check_local_owned_drift(&fresh, &fields, drifted));
    }

    #[test]
    fn mirrors_never_write(fields in arb_issue_fields(), title in titles()) {
        block_on(invariants::check_mirror_never_writes(&fresh, &fields, title));
    }

    #[test]
    fn cross_org_deliveries_are_rejected(fields in arb_issue_fields()) {
        block_on(invariants::check_cross_org_rejected(&fresh, &fields));
    }

    #[test]
    fn batches_match_one_by_one((history, a, _) in arb_history_and_schedules(), batch in 1usize..8) {
        block_on(invariants::check_batches_match_one_by_one(&fresh, &history, &a, batch));
    }

    #[test]
    fn writes_never_duplicate(fields in arb_issue_fields(), title in titles()) {
        block_on(invariants::check_writes_never_duplicate(&fresh, &fields, title));
    }

    #[test]
    fn secrets_never_leak(fields in arb_issue_fields()) {
        block_on(invariants::check_secrets_never_leak(&fresh, &fields));
    }

    #[test]
    fn audit_is_complete(fields in arb_issue_fields(), title in titles()) {
        block_on(invariants::check_audit_complete(&fresh, &fields, title));
    }

    #[test]
    fn unconfirmed_writes_become_conflicts(fields in arb_issue_fields(), title in titles()) {
        block_on(invariants::check_unconfirmed_writes_conflict(&fresh, &fields, title));
    }
}

//! The PostgreSQL store passes the shared conformance suite and the engine's invariants
//! (fewer cases than the memory store: every case migrates fresh schemas).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::TestDb;
use kradle_sync_core::SyncStore;
use kradle_sync_core::testing::generators::{arb_history_and_schedules, arb_issue_fields};
use kradle_sync_core::testing::{conformance, invariants};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tokio::runtime::Runtime;

/// Cases per invariant.
const CASES: u32 = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite() {
    let Some(db) = TestDb::connect("conformance").await else {
        return;
    };
    let store = db.store().await;
    conformance::run(&store).await;
    db.drop_schemas().await;
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs `check` on `CASES` values of `strategy`, each against stores in fresh schemas.
///
/// Proptest bodies are synchronous and the invariant checks call the store factory (also
/// synchronous) from inside their async code, so each case runs under a multi-thread
/// runtime's `block_on` and the factory leaves the async context with `block_in_place`
/// to migrate a new schema. The schemas of a case are dropped after it.
fn run_cases<S, F>(tag: &str, strategy: S, check: F)
where
    S: Strategy,
    F: AsyncFn(&(dyn Fn() -> Arc<dyn SyncStore> + Sync), S::Value),
{
    let rt = runtime();
    let Some(db) = rt.block_on(TestDb::connect(tag)) else {
        return;
    };
    let handle = rt.handle().clone();
    let factory = || -> Arc<dyn SyncStore> {
        tokio::task::block_in_place(|| Arc::new(handle.block_on(db.store())))
    };
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |value| {
        rt.block_on(async {
            check(&factory, value).await;
            db.drop_schemas().await;
        });
        Ok(())
    });
    if let Err(e) = result {
        panic!("{tag}: {e}");
    }
}

fn titles() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["Spelling error", "Typo in README", "Broken link"])
}

#[test]
fn permutations_and_duplicates_converge() {
    run_cases(
        "converge",
        arb_history_and_schedules(),
        async |f, (history, a, b)| invariants::check_convergence(f, &history, &a, &b).await,
    );
}

#[test]
fn duplicates_change_nothing() {
    run_cases(
        "duplicates",
        arb_history_and_schedules(),
        async |f, (history, a, _)| {
            invariants::check_duplicates_change_nothing(f, &history, &a).await
        },
    );
}

#[test]
fn stale_never_overwrites() {
    run_cases(
        "stale",
        arb_history_and_schedules(),
        async |f, (history, a, _)| invariants::check_stale_never_overwrites(f, &history, &a).await,
    );
}

#[test]
fn ties_schedule_a_hydrate() {
    run_cases(
        "ties",
        (arb_issue_fields(), titles()),
        async |f, (fields, title)| invariants::check_tie_schedules_hydrate(f, &fields, title).await,
    );
}

#[test]
fn echoes_confirm_without_another_write() {
    run_cases(
        "echoes",
        (arb_issue_fields(), titles()),
        async |f, (fields, title)| invariants::check_echo_confirms(f, &fields, title).await,
    );
}

#[test]
fn same_field_conflicts_and_different_fields_merge() {
    run_cases(
        "merge",
        (arb_issue_fields(), titles(), titles()),
        async |f, (fields, local, external)| {
            invariants::check_conflict_and_merge(f, &fields, local, external).await
        },
    );
}

#[test]
fn conflicts_are_decided_once_and_never_come_back() {
    run_cases(
        "decisions",
        (arb_issue_fields(), titles(), titles()),
        async |f, (fields, local, external)| {
            invariants::check_conflict_decisions(f, &fields, local, external).await
        },
    );
}

#[test]
fn local_owned_drift_is_reverted() {
    run_cases(
        "drift",
        (arb_issue_fields(), titles()),
        async |f, (fields, drifted)| invariants::check_local_owned_drift(f, &fields, drifted).await,
    );
}

#[test]
fn mirrors_never_write() {
    run_cases(
        "mirror",
        (arb_issue_fields(), titles()),
        async |f, (fields, title)| invariants::check_mirror_never_writes(f, &fields, title).await,
    );
}

#[test]
fn cross_org_deliveries_are_rejected() {
    run_cases("crossorg", arb_issue_fields(), async |f, fields| {
        invariants::check_cross_org_rejected(f, &fields).await
    });
}

#[test]
fn batches_match_one_by_one() {
    run_cases(
        "batches",
        (arb_history_and_schedules(), 1usize..8),
        async |f, ((history, a, _), batch)| {
            invariants::check_batches_match_one_by_one(f, &history, &a, batch).await
        },
    );
}

#[test]
fn writes_never_duplicate() {
    run_cases(
        "writes",
        (arb_issue_fields(), titles()),
        async |f, (fields, title)| {
            invariants::check_writes_never_duplicate(f, &fields, title).await
        },
    );
}

#[test]
fn secrets_never_leak() {
    run_cases("secrets", arb_issue_fields(), async |f, fields| {
        invariants::check_secrets_never_leak(f, &fields).await
    });
}

#[test]
fn audit_is_complete() {
    run_cases(
        "audit",
        (arb_issue_fields(), titles()),
        async |f, (fields, title)| invariants::check_audit_complete(f, &fields, title).await,
    );
}

#[test]
fn unconfirmed_writes_become_conflicts() {
    run_cases(
        "unconfirmed",
        (arb_issue_fields(), titles()),
        async |f, (fields, title)| {
            invariants::check_unconfirmed_writes_conflict(f, &fields, title).await
        },
    );
}

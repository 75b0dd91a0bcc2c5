//! The engine's write paths on the memory store: commands (actions), approvals and
//! rejections, and an intent whose worker died between the provider's answer and
//! recording it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::executor::block_on;
use kradle_store_memory::MemoryStore;
use kradle_sync_core::object::Issue;
use kradle_sync_core::store::Filter;
use kradle_sync_core::testing::simulated::{SimulatedIssues, SimulatedProvider};
use kradle_sync_core::write_intent::{Actor, WriteOperation, WritePhase};
use kradle_sync_core::{
    Binding, BindingId, Engine, Error, ExternalTarget, Interface, NativeId, ResourceKind, Secret,
    SyncPolicy, SyncStore, WriteExecutor, WriteMode,
};

const TARGET: &str = "acme/app";

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
}

fn engine(store: Arc<MemoryStore>, policy: SyncPolicy) -> Engine {
    let binding = Binding::new(
        TARGET,
        "simulated",
        ExternalTarget::from_path(TARGET),
        &Interface::ALL,
    )
    .with_secret(Secret::new("t"))
    .with_policy(policy);
    Engine::builder(store)
        .adapter(Arc::new(SimulatedProvider::new()))
        .binding(binding)
        .build()
        .unwrap()
}

#[test]
fn a_command_on_the_wrong_kind_is_refused_and_a_right_one_is_an_intent() {
    let store = Arc::new(MemoryStore::new());
    let engine = engine(store.clone(), SyncPolicy::default());
    let id = BindingId::new(TARGET);
    let wrong = block_on(engine.request_action(
        &id,
        ResourceKind::Issue,
        &NativeId::new("1"),
        WriteOperation::Rerun,
        Default::default(),
        Actor::user("alice"),
        at(0),
    ));
    assert!(
        matches!(
            wrong,
            Err(Error::Validation {
                rule: "action-kind",
                ..
            })
        ),
        "{wrong:?}"
    );
    block_on(engine.request_action(
        &id,
        ResourceKind::Pipeline,
        &NativeId::new("30433642"),
        WriteOperation::Cancel,
        Default::default(),
        Actor::user("alice"),
        at(0),
    ))
    .unwrap();
    let intents = block_on(store.list_write_intents(&Filter::all(), None)).unwrap();
    assert_eq!(intents.len(), 1);
    assert_eq!(intents[0].operation, WriteOperation::Cancel);
    assert_eq!(intents[0].phase, WritePhase::Pending);
    let audit = block_on(store.list_audit(&Filter::all())).unwrap();
    assert!(audit.iter().any(|a| a.action == "local.action_requested"));
}

#[test]
fn reviewed_writes_wait_and_a_rejected_one_is_never_sent() {
    let store = Arc::new(MemoryStore::new());
    let mut policy = SyncPolicy::default();
    policy.write_mode = WriteMode::ReviewedWrite;
    let engine = engine(store.clone(), policy);
    let provider = SimulatedIssues::new();
    let native = provider.seed_issue(1, {
        let mut issue = Issue::default();
        issue.number = 1;
        issue.title = "A bug".into();
        issue
    });
    let id = BindingId::new(TARGET);
    let exec = WriteExecutor::new(&engine, &provider);
    for (n, title) in ["first", "second"].iter().enumerate() {
        let change = [("title".to_owned(), (*title).into())].into();
        block_on(engine.local_change(
            &id,
            ResourceKind::Issue,
            &NativeId::new(format!("local-{n}")),
            change,
            Actor::user("alice"),
            at(0),
        ))
        .unwrap();
    }
    let _ = native;
    let waiting = block_on(store.list_write_intents(&Filter::all(), None)).unwrap();
    assert!(
        waiting
            .iter()
            .all(|i| i.phase == WritePhase::AwaitingApproval)
    );
    assert!(
        block_on(exec.run_due(at(1))).unwrap().is_empty(),
        "nothing is due"
    );
    let rejected =
        block_on(engine.reject_write(&waiting[0].id, "bob", "not this one", at(2))).unwrap();
    assert_eq!(rejected.phase, WritePhase::DeadLettered);
    assert_eq!(
        rejected.last_error.as_deref(),
        Some("rejected: not this one")
    );
    let approved = block_on(engine.approve_write(&waiting[1].id, "bob", at(2))).unwrap();
    assert_eq!(approved.phase, WritePhase::Approved);
    let done = block_on(exec.run_due(at(3))).unwrap();
    assert_eq!(done.len(), 1, "only the approved write is sent");
    assert_eq!(provider.creates(), 1);
}

/// A worker claimed the intent, the provider created the issue, and the worker died before
/// recording it: the intent is left `applying`. The next attempt finds the issue by its
/// marker instead of creating another.
#[test]
fn an_intent_whose_worker_died_mid_write_is_resumed_without_a_second_create() {
    let store = Arc::new(MemoryStore::new());
    let engine = engine(store.clone(), SyncPolicy::default());
    let provider = SimulatedIssues::new();
    let id = BindingId::new(TARGET);
    let change = [("title".to_owned(), "From the host".into())].into();
    block_on(engine.local_change(
        &id,
        ResourceKind::Issue,
        &NativeId::new("local-1"),
        change,
        Actor::user("alice"),
        at(0),
    ))
    .unwrap();
    let intent = block_on(store.list_write_intents(&Filter::all(), None))
        .unwrap()
        .remove(0);
    // The dead worker's part: the attempt is recorded, the create happens at the
    // provider, and nothing more.
    let started = block_on(engine.start_write(&intent.id, at(1))).unwrap();
    assert_eq!(started.phase, WritePhase::Applying);
    let mut patch = kradle_sync_core::IssuePatch::default();
    patch.title = Some("From the host".into());
    block_on(kradle_sync_core::IssueTracking::create_issue(
        &provider,
        &ExternalTarget::from_path(TARGET),
        &patch,
        &intent.idempotency_key,
    ))
    .unwrap();
    assert_eq!(provider.creates(), 1);

    // The next worker (its claim came back when the lease ran out) resumes it.
    let exec = WriteExecutor::new(&engine, &provider);
    let finished = block_on(exec.execute(&intent.id, at(100))).unwrap();
    assert!(
        matches!(finished.phase, WritePhase::Applied | WritePhase::Confirmed),
        "{finished:?}"
    );
    assert_eq!(finished.attempts, 2);
    assert_eq!(
        provider.creates(),
        1,
        "adopted by its marker, never created twice"
    );
}

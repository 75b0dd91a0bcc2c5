//! The worker's write lane on the memory store: due write intents of connected bindings
//! are written once each, by one worker, in order per object; receive-only bindings wait;
//! failures are retried; approvals gate; a write whose worker died is resumed without a
//! second create.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use kradle_store_memory::MemoryStore;
use kradle_sync_core::store::Filter;
use kradle_sync_core::testing::simulated::{SimFailure, SimulatedIssues, SimulatedProvider};
use kradle_sync_core::write_intent::{Actor, WriteIntent, WritePhase};
use kradle_sync_core::{
    Binding, BindingId, Connections, Engine, EngineConfig, ExternalTarget, Interface,
    IssueTracking, NativeId, ResourceKind, RetryPolicy, Secret, SyncPolicy, SyncStore, WorkQueue,
    WriteMode,
};
use kradle_sync_server::{Totals, Worker, WorkerSettings};
use tokio::sync::watch;

const APP: &str = "acme/app";
const OTHER: &str = "acme/other";

fn binding(name: &str, policy: SyncPolicy) -> Binding {
    Binding::new(
        name,
        "simulated",
        ExternalTarget::from_path(name),
        &Interface::ALL,
    )
    .with_secret(Secret::new("s"))
    .with_policy(policy)
}

/// An engine with two simulated bindings whose write retries come due quickly.
fn engine(store: Arc<MemoryStore>, policy: SyncPolicy) -> Arc<Engine> {
    let mut config = EngineConfig::default();
    config.intents.retry = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(100),
    };
    Arc::new(
        Engine::builder(store)
            .adapter(Arc::new(SimulatedProvider::new()))
            .binding(binding(APP, policy.clone()))
            .binding(binding(OTHER, policy))
            .config(config)
            .build()
            .unwrap(),
    )
}

async fn create_issue(engine: &Engine, binding: &str, local: &str, title: &str) {
    let change = [("title".to_owned(), title.into())].into();
    engine
        .local_change(
            &BindingId::new(binding),
            ResourceKind::Issue,
            &NativeId::new(local),
            change,
            Actor::user("alice"),
            Utc::now(),
        )
        .await
        .unwrap();
}

async fn intents(store: &MemoryStore) -> Vec<WriteIntent> {
    store
        .list_write_intents(&Filter::all(), None)
        .await
        .unwrap()
}

fn settings(id: &str) -> WorkerSettings {
    WorkerSettings::new(id)
        .with_concurrency(2)
        .with_lease(Duration::from_secs(5))
        .with_poll(Duration::from_millis(20))
}

/// Runs a worker until `done` holds for its totals (or 10 s pass), then stops it.
async fn run_until(worker: Worker, done: impl Fn(&Totals) -> bool) -> Totals {
    let status = worker.status();
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(worker.run_until(stopped));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done(&status.totals()) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.send(true).unwrap();
    task.await.unwrap()
}

#[tokio::test]
async fn a_connected_binding_is_written_and_a_receive_only_one_waits() {
    let store = Arc::new(MemoryStore::new());
    let engine = engine(store.clone(), SyncPolicy::default());
    for n in 0..3 {
        create_issue(&engine, APP, &format!("local-{n}"), &format!("Issue {n}")).await;
    }
    create_issue(&engine, OTHER, "local-x", "Nobody writes this").await;

    // Without connections a worker only processes deliveries.
    let totals = Worker::new(
        engine.clone(),
        store.clone(),
        settings("reader").with_drain(true),
    )
    .run(std::future::pending())
    .await;
    assert_eq!(totals.written, 0);
    assert!(
        intents(&store)
            .await
            .iter()
            .all(|i| i.phase == WritePhase::Pending)
    );

    let provider = Arc::new(SimulatedIssues::new());
    let connections = Connections::new().with(APP, provider.clone());
    let totals = Worker::new(
        engine.clone(),
        store.clone(),
        settings("writer").with_drain(true),
    )
    .with_writes(Arc::new(connections))
    .run(std::future::pending())
    .await;
    assert_eq!(totals.written, 3, "{totals:?}");
    assert_eq!(provider.creates(), 3);
    for intent in intents(&store).await {
        if intent.target.binding.as_str() == APP {
            assert!(
                matches!(intent.phase, WritePhase::Applied | WritePhase::Confirmed),
                "{intent:?}"
            );
            assert_eq!(intent.attempts, 1);
        } else {
            assert_eq!(
                intent.phase,
                WritePhase::Pending,
                "the receive-only binding's write waits"
            );
        }
    }
    let stats = store.stats(Utc::now()).await.unwrap();
    assert_eq!(
        (stats.intents, stats.intents_claimed),
        (1, 0),
        "every claim was released"
    );
}

#[tokio::test]
async fn two_workers_never_write_one_intent_twice() {
    let store = Arc::new(MemoryStore::new());
    let engine = engine(store.clone(), SyncPolicy::default());
    for n in 0..40 {
        create_issue(&engine, APP, &format!("local-{n}"), &format!("Issue {n}")).await;
    }
    let provider = Arc::new(SimulatedIssues::new());
    let connections = Arc::new(Connections::new().with(APP, provider.clone()));
    let a = Worker::new(
        engine.clone(),
        store.clone(),
        settings("a").with_drain(true).with_write_batch(3),
    )
    .with_writes(connections.clone())
    .run(std::future::pending());
    let b = Worker::new(
        engine.clone(),
        store.clone(),
        settings("b").with_drain(true).with_write_batch(3),
    )
    .with_writes(connections)
    .run(std::future::pending());
    let (a, b) = tokio::join!(a, b);
    assert_eq!(a.written + b.written, 40, "{a:?} {b:?}");
    assert_eq!(provider.creates(), 40, "each create was sent once");
    assert!(intents(&store).await.iter().all(|i| i.attempts == 1));
}

#[tokio::test]
async fn a_failed_write_is_retried_at_its_time() {
    let store = Arc::new(MemoryStore::new());
    let engine = engine(store.clone(), SyncPolicy::default());
    create_issue(&engine, APP, "local-1", "Flaky").await;
    let provider = Arc::new(SimulatedIssues::new());
    provider.fail_next(SimFailure::Unavailable);
    let worker = Worker::new(engine.clone(), store.clone(), settings("w"))
        .with_writes(Arc::new(Connections::new().with(APP, provider.clone())));
    let totals = run_until(worker, |t| t.written == 1).await;
    assert_eq!(
        (totals.write_failures, totals.written),
        (1, 1),
        "{totals:?}"
    );
    assert_eq!(provider.creates(), 1);
    let intent = intents(&store).await.remove(0);
    assert_eq!(intent.attempts, 2);
}

#[tokio::test]
async fn reviewed_writes_leave_only_once_approved() {
    let store = Arc::new(MemoryStore::new());
    let mut policy = SyncPolicy::default();
    policy.write_mode = WriteMode::ReviewedWrite;
    let engine = engine(store.clone(), policy);
    create_issue(&engine, APP, "local-1", "Needs a review").await;
    create_issue(&engine, APP, "local-2", "Rejected").await;
    let provider = Arc::new(SimulatedIssues::new());
    let connections = Arc::new(Connections::new().with(APP, provider.clone()));
    let drain = || {
        Worker::new(
            engine.clone(),
            store.clone(),
            settings("w").with_drain(true),
        )
        .with_writes(connections.clone())
        .run(std::future::pending())
    };
    assert_eq!(drain().await.written, 0);
    assert_eq!(provider.creates(), 0, "nothing leaves before approval");
    let waiting = intents(&store).await;
    assert!(
        waiting
            .iter()
            .all(|i| i.phase == WritePhase::AwaitingApproval)
    );
    let (first, second) = if waiting[0].target.native_id.as_str() == "local-1" {
        (&waiting[0], &waiting[1])
    } else {
        (&waiting[1], &waiting[0])
    };
    engine
        .approve_write(&first.id, "bob", Utc::now())
        .await
        .unwrap();
    engine
        .reject_write(&second.id, "bob", "not wanted", Utc::now())
        .await
        .unwrap();
    assert_eq!(drain().await.written, 1);
    assert_eq!(provider.creates(), 1);
    let rejected = store.get_write_intent(&second.id).await.unwrap().unwrap();
    assert_eq!(rejected.phase, WritePhase::DeadLettered);
    assert_eq!(rejected.attempts, 0, "a rejected write is never sent");
}

/// A worker started the write, the provider created the issue, and the worker died before
/// recording it (its lease ran out): the next worker finds the issue by its marker.
#[tokio::test]
async fn a_write_whose_worker_died_is_resumed_without_a_second_create() {
    let store = Arc::new(MemoryStore::new());
    let engine = engine(store.clone(), SyncPolicy::default());
    create_issue(&engine, APP, "local-1", "From the host").await;
    let intent = intents(&store).await.remove(0);
    let provider = Arc::new(SimulatedIssues::new());
    // The dead worker's part: its claim, the attempt, the create at the provider.
    let claimed = store
        .claim_write_intents(
            "dead",
            &[BindingId::new(APP)],
            Duration::from_millis(100),
            8,
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(claimed, vec![intent.id.clone()]);
    engine.start_write(&intent.id, Utc::now()).await.unwrap();
    let mut patch = kradle_sync_core::IssuePatch::default();
    patch.title = Some("From the host".into());
    provider
        .create_issue(
            &ExternalTarget::from_path(APP),
            &patch,
            &intent.idempotency_key,
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;

    let worker = Worker::new(
        engine.clone(),
        store.clone(),
        settings("next").with_drain(true),
    )
    .with_writes(Arc::new(Connections::new().with(APP, provider.clone())));
    let totals = worker.run(std::future::pending()).await;
    assert_eq!(totals.written, 1, "{totals:?}");
    assert_eq!(provider.creates(), 1, "adopted by its marker");
    let finished = store.get_write_intent(&intent.id).await.unwrap().unwrap();
    assert_eq!(finished.attempts, 2);
    assert!(finished.result_native_id.is_some());
}

#[tokio::test]
async fn a_refused_write_is_counted_as_a_conflict() {
    let store = Arc::new(MemoryStore::new());
    let engine = engine(store.clone(), SyncPolicy::default());
    create_issue(&engine, APP, "local-1", "Stale").await;
    let provider = Arc::new(SimulatedIssues::new());
    provider.fail_next(SimFailure::Precondition("the issue moved on".into()));
    let totals = Worker::new(
        engine.clone(),
        store.clone(),
        settings("w").with_drain(true),
    )
    .with_writes(Arc::new(Connections::new().with(APP, provider.clone())))
    .run(std::future::pending())
    .await;
    assert_eq!(totals.write_conflicts, 1, "{totals:?}");
    let conflicts = store.list_conflicts(&Filter::all()).await.unwrap();
    assert_eq!(conflicts.len(), 1);
}

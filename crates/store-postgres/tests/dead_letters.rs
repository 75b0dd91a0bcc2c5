//! Deliveries that fail: retries with backoff, poison messages that kill every worker
//! (bounded claims), replay as a new attempt of the same delivery, and the audit trail of
//! events and write intents, all on PostgreSQL.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::TestDb;
use common::github::{REPO, engine, engine_with, fixtures};
use common::probe::Probe;
use kradle_store_postgres::PostgresStore;
use kradle_store_postgres::sqlx::{self, AssertSqlSafe, Row};
use kradle_sync_core::WorkQueue;
use kradle_sync_core::audit::{AuditRecord, AuditSubject};
use kradle_sync_core::delivery::{DeliveryPhase, DeliveryRecord};
use kradle_sync_core::store::Filter;
use kradle_sync_core::testing::invariants;
use kradle_sync_core::testing::simulated::{SimFailure, SimulatedIssues};
use kradle_sync_core::write_intent::{Actor, WritePhase};
use kradle_sync_core::{
    BindingId, EngineConfig, Fields, NativeId, OwnershipMode, ResourceKind, RetryPolicy, SyncStore,
    WriteExecutor,
};

const LEASE: Duration = Duration::from_secs(2);

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
}

async fn get(store: &PostgresStore, id: &str) -> DeliveryRecord {
    store
        .get_delivery(&"github".into(), &id.into())
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{id} is stored"))
}

/// Rows of the deliveries table and their arrival sequence numbers.
async fn rows(store: &PostgresStore) -> Vec<(String, i64)> {
    sqlx::query(AssertSqlSafe(format!(
        "SELECT delivery_id, seq FROM \"{}\".deliveries ORDER BY seq",
        store.schema()
    )))
    .fetch_all(store.pool())
    .await
    .unwrap()
    .into_iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

fn about(audit: &[AuditRecord], action: &str, delivery: &str) -> usize {
    audit
        .iter()
        .filter(|a| a.action == action && a.subject == AuditSubject::Delivery(delivery.into()))
        .count()
}

fn ids(ds: &[DeliveryRecord]) -> Vec<String> {
    ds.iter().map(|d| d.delivery_id.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_delivery_is_retried_after_its_backoff() {
    let Some(db) = TestDb::connect("dl_retry").await else {
        return;
    };
    let store = db.store().await;
    let probe = Probe::new(store.clone());
    let mut config = EngineConfig::default();
    config.retry = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_secs(60),
        max_delay: Duration::from_secs(600),
    };
    let e = engine_with(Arc::new(probe.clone()), config);
    let opened = fixtures(&["issues"])
        .into_iter()
        .find(|f| f.delivery_id == "issues-opened")
        .unwrap();
    e.receive(&BindingId::new(REPO), opened.request(), at(0))
        .await
        .unwrap();

    let claimed = store.claim_deliveries("w1", LEASE, 5, at(1)).await.unwrap();
    assert_eq!(ids(&claimed), vec!["issues-opened"]);
    probe.fail_next_loads(1);
    let report = e
        .process(&"github".into(), &"issues-opened".into(), at(1))
        .await
        .unwrap();
    assert_eq!(report.phase, Some(DeliveryPhase::Failed), "{report:?}");
    let failed = get(&store, "issues-opened").await;
    assert_eq!((failed.phase, failed.attempts), (DeliveryPhase::Failed, 1));
    assert!(
        failed
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("connection to the server was lost")),
        "{failed:?}"
    );
    let retry_at = failed.next_attempt_at.expect("a retry time");
    assert!(retry_at >= at(1) && retry_at <= at(61), "{retry_at}");
    assert!(
        store
            .claim_deliveries("w2", LEASE, 5, retry_at - chrono::Duration::milliseconds(1))
            .await
            .unwrap()
            .is_empty(),
        "a retry waits for its time"
    );
    let again = store
        .claim_deliveries("w2", LEASE, 5, retry_at)
        .await
        .unwrap();
    assert_eq!(ids(&again), vec!["issues-opened"]);
    let report = e
        .process(&"github".into(), &"issues-opened".into(), retry_at)
        .await
        .unwrap();
    assert_eq!(report.phase, Some(DeliveryPhase::Processed), "{report:?}");
    assert!(report.applied >= 1);
    let done = get(&store, "issues-opened").await;
    assert_eq!((done.phase, done.attempts), (DeliveryPhase::Processed, 2));
    assert_eq!(done.next_attempt_at, None);
    let audit = store.list_audit(&Filter::all()).await.unwrap();
    assert_eq!(
        about(&audit, "delivery.processed", "issues-opened"),
        2,
        "each attempt's outcome is audited"
    );
    db.drop_schemas().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_that_kills_its_workers_is_dead_lettered_and_replay_is_a_new_attempt() {
    let Some(db) = TestDb::connect("dl_poison").await else {
        return;
    };
    let store = db.store().await.with_max_claims(3);
    let e = engine(Arc::new(store.clone()));
    let binding = BindingId::new(REPO);
    let all = fixtures(&["issues", "issue_comment"]);
    let poison = all
        .iter()
        .find(|f| f.delivery_id == "issues-opened")
        .unwrap();
    let next = all
        .iter()
        .find(|f| f.delivery_id == "issue_comment-created")
        .unwrap();
    for f in [poison, next] {
        e.receive(&binding, f.request(), at(0)).await.unwrap();
    }
    let key = store.ordering_key_of(&get(&store, "issues-opened").await);
    assert_eq!(
        key,
        store.ordering_key_of(&get(&store, "issue_comment-created").await),
        "the comment waits behind its issue"
    );
    let before = rows(&store).await;

    // Claims given back on shutdown do not count.
    for i in 0..4 {
        let polite = store
            .claim_deliveries("polite", LEASE, 5, at(i))
            .await
            .unwrap();
        assert_eq!(ids(&polite), vec!["issues-opened"]);
        assert_eq!(store.release_all("polite").await.unwrap(), 1);
    }
    // Three workers take it and die (their leases expire).
    let mut now = at(10);
    for w in 0..3 {
        let claimed = store
            .claim_deliveries(&format!("doomed-{w}"), LEASE, 5, now)
            .await
            .unwrap();
        assert_eq!(ids(&claimed), vec!["issues-opened"], "claim {w}");
        now += chrono::Duration::seconds(3);
    }
    // The fourth claim dead-letters it and hands out the next delivery of its key.
    let claimed = store.claim_deliveries("w4", LEASE, 5, now).await.unwrap();
    assert_eq!(ids(&claimed), vec!["issue_comment-created"]);
    let dead = get(&store, "issues-opened").await;
    assert_eq!(dead.phase, DeliveryPhase::DeadLettered);
    assert_eq!(
        dead.attempts, 1,
        "the attempts that never finished count as one"
    );
    let error = dead.last_error.clone().unwrap_or_default();
    assert!(
        error.contains("claimed 3 times without an outcome"),
        "{error}"
    );
    assert!(error.contains("replay"), "{error}");
    let dead_letters = store
        .list_deliveries(&Filter::all(), Some(DeliveryPhase::DeadLettered))
        .await
        .unwrap();
    assert_eq!(ids(&dead_letters), vec!["issues-opened"]);
    let audit = store.list_audit(&Filter::all()).await.unwrap();
    assert_eq!(about(&audit, "delivery.dead_lettered", "issues-opened"), 1);
    let report = e
        .process(&"github".into(), &"issue_comment-created".into(), now)
        .await
        .unwrap();
    assert_eq!(report.phase, Some(DeliveryPhase::Processed));
    assert!(
        store
            .claim_deliveries("w5", LEASE, 5, now + chrono::Duration::hours(1))
            .await
            .unwrap()
            .is_empty(),
        "a dead letter is never claimed again"
    );

    // Replay: a new attempt of the same delivery, not a new delivery.
    let report = e
        .replay_delivery(&"github".into(), &"issues-opened".into(), now)
        .await
        .unwrap();
    assert_eq!(report.phase, Some(DeliveryPhase::Processed), "{report:?}");
    let replayed = get(&store, "issues-opened").await;
    assert_eq!(
        (replayed.phase, replayed.attempts),
        (DeliveryPhase::Processed, 2)
    );
    assert_eq!(replayed.last_error, None);
    assert_eq!(
        rows(&store).await,
        before,
        "the same rows, in the same order"
    );
    let audit = store.list_audit(&Filter::all()).await.unwrap();
    assert_eq!(about(&audit, "delivery.accepted", "issues-opened"), 1);
    db.drop_schemas().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_applied_event_and_write_intent_transition_is_audited() {
    let Some(db) = TestDb::connect("dl_audit").await else {
        return;
    };
    let store = db.store().await;

    // Webhooks: real GitHub deliveries, processed as one batch.
    let e = engine(Arc::new(store.clone()));
    let binding = BindingId::new(REPO);
    let mut ids = Vec::new();
    for f in fixtures(&["issues", "issue_comment", "label", "milestone"]) {
        e.receive(&binding, f.request(), at(0)).await.unwrap();
        ids.push(("github".into(), f.delivery_id.as_str().into()));
    }
    let reports = e.process_batch(&ids, at(1)).await.unwrap();
    let events: u32 = reports.iter().map(|r| r.events).sum();
    assert!(events > 0);

    // Writes: an intent that fails once at the provider, is retried and confirmed.
    let sim = invariants::engine(Arc::new(store.clone()), OwnershipMode::Bidirectional);
    let provider = SimulatedIssues::new();
    let exec = WriteExecutor::new(&sim, &provider);
    let mut draft = Fields::new();
    draft.insert("title".into(), "Spelling error in the README".into());
    draft.insert("body".into(), "Created by the host".into());
    sim.local_change(
        &BindingId::new(kradle_sync_core::testing::generators::TARGET),
        ResourceKind::Issue,
        &NativeId::new("local-1"),
        draft,
        Actor::user("alice"),
        at(2),
    )
    .await
    .unwrap();
    provider.fail_next(SimFailure::Unavailable);
    let intents = store
        .list_write_intents(&Filter::all(), None)
        .await
        .unwrap();
    assert_eq!(intents.len(), 1);
    let failed = exec.execute(&intents[0].id, at(3)).await.unwrap();
    assert_eq!(failed.phase, WritePhase::Failed);
    let done = exec.run_due(failed.next_attempt_at.unwrap()).await.unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].phase, WritePhase::Confirmed);

    let audit = store.list_audit(&Filter::all()).await.unwrap();
    // Every event key recorded as applied has its audit record, and nothing else does.
    let keys: i64 = sqlx::query(AssertSqlSafe(format!(
        "SELECT count(*) FROM \"{}\".applied_events",
        store.schema()
    )))
    .fetch_one(store.pool())
    .await
    .unwrap()
    .get(0);
    let applied = audit.iter().filter(|a| a.action == "event.applied").count();
    assert_eq!(
        applied as i64, keys,
        "invariant 10: one audit record per applied event"
    );
    assert!(applied as u32 >= events);

    // The intent's records form an unbroken chain from creation to confirmation.
    for intent in store
        .list_write_intents(&Filter::all(), None)
        .await
        .unwrap()
    {
        let chain: Vec<&AuditRecord> = audit
            .iter()
            .filter(|a| a.subject == AuditSubject::WriteIntent(intent.id.clone()))
            .collect();
        assert_eq!(chain[0].action, "write_intent.created");
        let mut phase = chain[0].detail["phase"].clone();
        for record in &chain[1..] {
            assert_eq!(record.detail["from"], phase, "{record:?}");
            phase = record.detail["to"].clone();
            assert_eq!(
                record.action,
                format!("write_intent.{}", phase.as_str().unwrap())
            );
        }
        assert_eq!(
            phase,
            serde_json::json!(intent.phase),
            "ends where the intent is"
        );
        let actions: Vec<&str> = chain.iter().map(|a| a.action.as_str()).collect();
        for step in [
            "write_intent.applying",
            "write_intent.failed",
            "write_intent.confirmed",
        ] {
            assert!(actions.contains(&step), "{step} missing from {actions:?}");
        }
    }
    db.drop_schemas().await;
}

//! Idempotency enforced by the database under real concurrency: separate tasks on separate
//! connections, released together by a barrier.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::TestDb;
use kradle_store_postgres::PostgresStore;
use kradle_sync_core::audit::{AuditRecord, AuditSubject};
use kradle_sync_core::projection::ObjectState;
use kradle_sync_core::store::{CommitOutcome, Filter, Inserted};
use kradle_sync_core::testing::conformance::delivery;
use kradle_sync_core::{EventKey, ObjectKey, OrgId, ResourceKind, SyncStore, Transition};
use tokio::sync::Barrier;

const RACERS: usize = 6;

fn event(delivery: &str, native: &str) -> EventKey {
    EventKey {
        provider: "github".into(),
        delivery_id: delivery.into(),
        action: "opened".into(),
        kind: ResourceKind::Issue,
        native_id: native.into(),
    }
}

fn object(native: &str) -> ObjectState {
    ObjectState::new(
        ObjectKey::new("github", "acme/app", ResourceKind::Issue, native),
        OrgId::new("acme"),
    )
}

fn audit(action: &str) -> AuditRecord {
    {
        let mut v = AuditRecord::new(
            chrono::DateTime::UNIX_EPOCH,
            "acme",
            "github",
            "acme/app",
            AuditSubject::Binding("acme/app".into()),
            action,
            "engine",
        );
        v.detail = serde_json::Value::Null;
        v
    }
}

/// Runs `RACERS` copies of `race` at once, each on its own task.
async fn race<F, Fut, T>(store: &PostgresStore, race: F) -> Vec<T>
where
    F: Fn(PostgresStore, usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(RACERS));
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let barrier = barrier.clone();
        let fut = race(store.clone(), i);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            fut.await
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("racer"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_receivers_store_a_delivery_once() {
    let Some(db) = TestDb::connect("race_insert").await else {
        return;
    };
    let store = db.store().await;
    let results = race(&store, |store, i| async move {
        let mut d = delivery("same-id", "acme/app");
        d.body = format!("{{\"racer\":{i}}}").into_bytes();
        (i, store.insert_delivery(&d).await.expect("insert"))
    })
    .await;
    let winners: Vec<usize> = results
        .iter()
        .filter(|(_, r)| *r == Inserted::New)
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one receiver stores it: {results:?}"
    );
    let winner_body = format!("{{\"racer\":{}}}", winners[0]).into_bytes();
    for (_, r) in &results {
        if let Inserted::Duplicate(existing) = r {
            assert_eq!(
                existing.body, winner_body,
                "duplicates see the stored delivery"
            );
        }
    }
    let all = store
        .list_deliveries(&Filter::all(), None)
        .await
        .expect("list");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].body, winner_body);
    db.drop_schemas().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_commits_of_one_event_apply_once() {
    let Some(db) = TestDb::connect("race_event").await else {
        return;
    };
    let store = db.store().await;
    // Each racer writes a different object, so only the event key makes them collide.
    let outcomes = race(&store, |store, i| async move {
        let mut t = Transition::default();
        t.object = Some((object(&format!("n{i}")), None));
        t.events = vec![event("d-1", "42")];
        t.audit = vec![audit(&format!("racer-{i}"))];
        store.commit(t).await.expect("commit")
    })
    .await;
    let committed = outcomes
        .iter()
        .filter(|o| **o == CommitOutcome::Committed)
        .count();
    assert_eq!(committed, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, CommitOutcome::Committed | CommitOutcome::AlreadyApplied)),
        "{outcomes:?}"
    );
    assert_eq!(store.list_objects(&Filter::all()).await.unwrap().len(), 1);
    assert_eq!(store.list_audit(&Filter::all()).await.unwrap().len(), 1);
    db.drop_schemas().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_writers_of_one_object_keep_every_revision() {
    let Some(db) = TestDb::connect("race_object").await else {
        return;
    };
    let store = db.store().await;
    // Every racer loads, then writes on the revision it loaded, retrying on conflict:
    // no update may be lost, so the final revision counts every racer's write.
    let rounds = 5;
    race(&store, move |store, i| async move {
        for round in 0..rounds {
            loop {
                let key = object("shared").key;
                let loaded = store.load_object(&key).await.expect("load");
                let expected = loaded.as_ref().map(|s| s.revision);
                let mut state = loaded.unwrap_or_else(|| object("shared"));
                state.local_seq += 1;
                let mut t = Transition::default();
                t.object = Some((state, expected));
                t.events = vec![event(&format!("r{i}-{round}"), "shared")];
                match store.commit(t).await.expect("commit") {
                    CommitOutcome::Committed => break,
                    CommitOutcome::RevisionConflict => continue,
                    CommitOutcome::AlreadyApplied => panic!("fresh event refused"),
                }
            }
        }
    })
    .await;
    let state = store
        .load_object(&object("shared").key)
        .await
        .unwrap()
        .expect("stored");
    let writes = (RACERS * rounds) as u64;
    assert_eq!((state.revision, state.local_seq), (writes, writes));
    db.drop_schemas().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_batches_apply_each_event_once() {
    let Some(db) = TestDb::connect("race_batch").await else {
        return;
    };
    let store = db.store().await;
    // Overlapping batches (every racer commits the same 40 event keys, in a different
    // rotation): each key is applied by exactly one batch.
    let outcomes = race(&store, |store, i| async move {
        let batch: Vec<Transition> = (0..40)
            .map(|k| (k + i * 7) % 40)
            .map(|k| {
                let mut v = Transition::default();
                v.events = vec![event(&format!("b-{k}"), "1")];
                v.audit = vec![audit(&format!("applied b-{k}"))];
                v
            })
            .collect();
        store.commit_batch(batch).await.expect("batch")
    })
    .await;
    let committed: usize = outcomes
        .iter()
        .flatten()
        .filter(|o| **o == CommitOutcome::Committed)
        .count();
    assert_eq!(committed, 40);
    let audit = store.list_audit(&Filter::all()).await.unwrap();
    assert_eq!(audit.len(), 40, "refused transitions append no audit");
    let mut actions: Vec<String> = audit.into_iter().map(|a| a.action).collect();
    actions.sort();
    actions.dedup();
    assert_eq!(actions.len(), 40, "every event audited once");
    db.drop_schemas().await;
}

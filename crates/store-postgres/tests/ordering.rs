//! Per-object ordering with the keys the GitHub adapter chooses: real fixture deliveries,
//! several workers claiming and processing them in batches at once.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::TestDb;
use common::github::{REPO, engine, fixtures};
use common::probe::Probe;
use kradle_store_memory::MemoryStore;
use kradle_store_postgres::sqlx::{self, AssertSqlSafe, Row};
use kradle_store_postgres::{PostgresStore, binding_ordering_key};
use kradle_sync_core::delivery::DeliveryPhase;
use kradle_sync_core::store::Filter;
use kradle_sync_core::testing::invariants::summarize;
use kradle_sync_core::{BindingId, Receipt, SyncStore};

/// Events whose fixtures are about several objects of one repository: an issue and its
/// comments, labels, milestones, a pull request and its reviews, CI runs and checks.
const EVENTS: &[&str] = &[
    "issues",
    "issue_comment",
    "label",
    "milestone",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
    "check_run",
    "check_suite",
    "workflow_run",
    "workflow_job",
    "push",
];

const LEASE: Duration = Duration::from_secs(60);

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap()
}

/// The ordering key column of every delivery, by delivery id.
async fn stored_keys(store: &PostgresStore) -> BTreeMap<String, String> {
    sqlx::query(AssertSqlSafe(format!(
        "SELECT delivery_id, ordering_key FROM \"{}\".deliveries",
        store.schema()
    )))
    .fetch_all(store.pool())
    .await
    .unwrap()
    .into_iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_keep_the_ordering_key_their_adapter_chose() {
    let Some(db) = TestDb::connect("ord_keys").await else {
        return;
    };
    let store = db.store().await;
    let e = engine(Arc::new(store.clone()));
    let binding = BindingId::new(REPO);
    let all = fixtures(EVENTS);
    for f in &all {
        let receipt = e.receive(&binding, f.request(), t0()).await.unwrap();
        assert!(matches!(receipt, Receipt::Accepted(_)), "{}", f.delivery_id);
    }
    let keys = stored_keys(&store).await;
    assert_eq!(keys.len(), all.len());
    for f in &all {
        let record = store
            .get_delivery(&"github".into(), &f.delivery_id.as_str().into())
            .await
            .unwrap()
            .unwrap();
        let expected = record
            .ordering_key
            .clone()
            .unwrap_or_else(|| binding_ordering_key(&record));
        assert_eq!(keys[&f.delivery_id], expected, "{}", f.delivery_id);
    }
    // An issue and its comments share the issue's key.
    for f in all
        .iter()
        .filter(|f| f.event == "issues" || f.event == "issue_comment")
    {
        let body: serde_json::Value = serde_json::from_slice(&f.body).unwrap();
        let issue = format!("github/{REPO}/issue:{}", body["issue"]["id"]);
        assert_eq!(keys[&f.delivery_id], issue, "{}", f.delivery_id);
    }
    let distinct: BTreeSet<&String> = keys.values().collect();
    assert!(
        distinct.len() >= 5,
        "deliveries about different objects get different keys: {distinct:?}"
    );
    db.drop_schemas().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_workers_process_each_object_in_receive_order() {
    let Some(db) = TestDb::connect("ord_workers").await else {
        return;
    };
    let store = db.store().await;
    let all = fixtures(EVENTS);
    // Every delivery about one object, in the order it was received.
    let received: Vec<String> = all.iter().map(|f| f.delivery_id.clone()).collect();

    // Keys being processed, and each key's deliveries in the order their outcome was
    // recorded. The probe sees an outcome before it reaches the database, i.e. before the
    // commit ends the lease and frees the key for another worker.
    let in_flight = Arc::new(Mutex::new(HashSet::<String>::new()));
    let finished = Arc::new(Mutex::new(BTreeMap::<String, Vec<String>>::new()));
    let probe = {
        let (in_flight, finished, inner) = (in_flight.clone(), finished.clone(), store.clone());
        Probe::new(store.clone()).on_outcome(move |d| {
            let key = inner.ordering_key_of(d);
            assert!(
                in_flight.lock().unwrap().remove(&key),
                "{key} finished without being claimed"
            );
            finished
                .lock()
                .unwrap()
                .entry(key)
                .or_default()
                .push(d.delivery_id.to_string());
        })
    };
    let e = Arc::new(engine(Arc::new(probe)));
    let binding = BindingId::new(REPO);
    for f in &all {
        e.receive(&binding, f.request(), t0()).await.unwrap();
    }

    let mut workers = Vec::new();
    for w in 0..4 {
        let (store, e, in_flight) = (store.clone(), e.clone(), in_flight.clone());
        workers.push(tokio::spawn(async move {
            let worker = format!("w{w}");
            let mut idle = 0;
            while idle < 30 {
                let batch = store
                    .claim_deliveries(&worker, LEASE, 3, t0())
                    .await
                    .unwrap();
                if batch.is_empty() {
                    idle += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                idle = 0;
                let mut ids = Vec::new();
                for d in &batch {
                    let key = store.ordering_key_of(d);
                    assert!(
                        in_flight.lock().unwrap().insert(key.clone()),
                        "two workers hold {key} at once"
                    );
                    ids.push((d.provider.clone(), d.delivery_id.clone()));
                }
                let reports = e.process_batch(&ids, t0()).await.unwrap();
                for r in reports {
                    assert_eq!(r.phase, Some(DeliveryPhase::Processed), "{r:?}");
                }
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }

    let finished = finished.lock().unwrap().clone();
    assert_eq!(
        finished.values().map(Vec::len).sum::<usize>(),
        all.len(),
        "every delivery was processed once"
    );
    let keys = stored_keys(&store).await;
    for (key, order) in &finished {
        let expected: Vec<String> = received
            .iter()
            .filter(|id| &keys[*id] == key)
            .cloned()
            .collect();
        assert_eq!(order, &expected, "{key}: processed out of receive order");
    }
    assert!(
        finished.len() >= 5,
        "several objects were processed in parallel"
    );

    // The same deliveries through one engine on the memory store, one by one.
    let memory: Arc<dyn SyncStore> = Arc::new(MemoryStore::new());
    let single = engine(memory.clone());
    for f in &all {
        single.ingest(&binding, f.request(), t0()).await.unwrap();
    }
    assert_eq!(
        summarize(&store).await,
        summarize(memory.as_ref()).await,
        "four workers end where one process ends"
    );
    let applied = |audit: Vec<kradle_sync_core::audit::AuditRecord>| {
        audit.iter().filter(|a| a.action == "event.applied").count()
    };
    assert_eq!(
        applied(store.list_audit(&Filter::all()).await.unwrap()),
        applied(memory.list_audit(&Filter::all()).await.unwrap()),
        "every event applied and audited once"
    );
    db.drop_schemas().await;
}

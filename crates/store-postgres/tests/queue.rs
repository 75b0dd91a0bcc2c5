//! The work queue: claims with leases, per-key exclusion, expiry, completion through
//! commit, release, and the LISTEN/NOTIFY hint.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::TestDb;
use kradle_store_postgres::PostgresStore;
use kradle_store_postgres::sqlx::{self, AssertSqlSafe};
use kradle_sync_core::WorkQueue;
use kradle_sync_core::delivery::{DeliveryPhase, DeliveryRecord};
use kradle_sync_core::store::{Filter, Inserted};
use kradle_sync_core::testing::conformance::delivery;
use kradle_sync_core::testing::generators::TARGET;
use kradle_sync_core::testing::invariants::{TOKEN, engine};
use kradle_sync_core::testing::simulated::{SimChange, SimDelivery, SimObject};
use kradle_sync_core::{BindingId, OwnershipMode, Receipt, ResourceKind, SyncStore, Transition};

const LEASE: Duration = Duration::from_secs(30);

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap()
}

fn later(secs: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::seconds(secs)
}

/// Stores `n` deliveries named `{prefix}-{i:03}` with ordering keys from `key`.
async fn enqueue(store: &PostgresStore, prefix: &str, n: usize, key: impl Fn(usize) -> String) {
    for i in 0..n {
        let d = delivery(&format!("{prefix}-{i:03}"), "acme/app");
        let inserted = store
            .insert_delivery_with_ordering_key(&d, &key(i))
            .await
            .expect("insert");
        assert_eq!(inserted, Inserted::New);
    }
}

/// What a worker's engine commits when it finishes a delivery.
async fn complete(store: &PostgresStore, mut d: DeliveryRecord, phase: DeliveryPhase) {
    d.phase = phase;
    d.attempts += 1;
    store
        .commit({
            let mut v = Transition::default();
            v.deliveries = vec![d];
            v
        })
        .await
        .expect("commit");
}

fn ids(ds: &[DeliveryRecord]) -> Vec<String> {
    ds.iter().map(|d| d.delivery_id.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_workers_never_claim_the_same_delivery() {
    let Some(db) = TestDb::connect("q_twice").await else {
        return;
    };
    let store = db.store().await;
    let n = 120;
    enqueue(&store, "d", n, |i| format!("key-{i}")).await;
    let claimed = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut workers = Vec::new();
    for w in 0..2 {
        let (store, claimed) = (store.clone(), claimed.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let batch = store
                    .claim_deliveries(&format!("w{w}"), LEASE, 7, t0())
                    .await
                    .expect("claim");
                if batch.is_empty() {
                    break;
                }
                claimed.lock().unwrap().extend(ids(&batch));
                for d in batch {
                    complete(&store, d, DeliveryPhase::Processed).await;
                }
            }
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
    let mut claimed = claimed.lock().unwrap().clone();
    let total = claimed.len();
    claimed.sort();
    claimed.dedup();
    assert_eq!(total, claimed.len(), "a delivery was claimed twice");
    assert_eq!(claimed.len(), n, "every delivery was claimed");
    db.drop_schemas().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_ordering_key_is_never_in_flight_twice() {
    let Some(db) = TestDb::connect("q_order").await else {
        return;
    };
    let store = db.store().await;
    let (n, keys) = (60, 4);
    enqueue(&store, "d", n, |i| format!("object-{}", i % keys)).await;
    let in_flight = Arc::new(Mutex::new(HashSet::<String>::new()));
    let order = Arc::new(Mutex::new(BTreeMap::<String, Vec<String>>::new()));
    let mut workers = Vec::new();
    for w in 0..4 {
        let (store, in_flight, order) = (store.clone(), in_flight.clone(), order.clone());
        workers.push(tokio::spawn(async move {
            let mut idle = 0;
            while idle < 20 {
                let batch = store
                    .claim_deliveries(&format!("w{w}"), LEASE, 3, t0())
                    .await
                    .expect("claim");
                if batch.is_empty() {
                    idle += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                idle = 0;
                for d in batch {
                    let i: usize = d.delivery_id.as_str()[2..].parse().unwrap();
                    let key = format!("object-{}", i % keys);
                    assert!(
                        in_flight.lock().unwrap().insert(key.clone()),
                        "two workers hold {key} at once"
                    );
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    order
                        .lock()
                        .unwrap()
                        .entry(key.clone())
                        .or_default()
                        .push(d.delivery_id.to_string());
                    in_flight.lock().unwrap().remove(&key);
                    complete(&store, d, DeliveryPhase::Processed).await;
                }
            }
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
    let order = order.lock().unwrap().clone();
    assert_eq!(order.values().map(Vec::len).sum::<usize>(), n);
    for (key, seen) in order {
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(
            seen, sorted,
            "{key}: deliveries of one key run in arrival order"
        );
    }
    let left = store
        .list_deliveries(&Filter::all(), Some(DeliveryPhase::Queued))
        .await
        .unwrap();
    assert!(left.is_empty());
    db.drop_schemas().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_waits_while_its_delivery_is_leased() {
    let Some(db) = TestDb::connect("q_key").await else {
        return;
    };
    let store = db.store().await;
    enqueue(&store, "k", 3, |_| "one-object".to_owned()).await;
    let first = store.claim_deliveries("a", LEASE, 10, t0()).await.unwrap();
    assert_eq!(ids(&first), vec!["k-000"], "one per key, oldest first");
    assert!(
        store
            .claim_deliveries("b", LEASE, 10, t0())
            .await
            .unwrap()
            .is_empty(),
        "the key is in flight"
    );
    complete(
        &store,
        first.into_iter().next().unwrap(),
        DeliveryPhase::Processed,
    )
    .await;
    let next = store.claim_deliveries("b", LEASE, 10, t0()).await.unwrap();
    assert_eq!(ids(&next), vec!["k-001"], "completion frees the key");
    db.drop_schemas().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_is_reclaimed_by_another_worker() {
    let Some(db) = TestDb::connect("q_expiry").await else {
        return;
    };
    let store = db.store().await;
    enqueue(&store, "e", 1, |_| "k".to_owned()).await;
    let a = store
        .claim_deliveries("crashed", LEASE, 5, t0())
        .await
        .unwrap();
    assert_eq!(a.len(), 1);
    // The worker dies without a word.
    assert!(
        store
            .claim_deliveries("b", LEASE, 5, later(29))
            .await
            .unwrap()
            .is_empty(),
        "the lease still holds"
    );
    let b = store
        .claim_deliveries("b", LEASE, 5, later(31))
        .await
        .unwrap();
    assert_eq!(ids(&b), vec!["e-000"], "the expired claim came back");
    assert_eq!(
        store
            .renew_leases("crashed", LEASE, later(31))
            .await
            .unwrap(),
        0,
        "an expired lease cannot be renewed"
    );
    assert_eq!(store.renew_leases("b", LEASE, later(40)).await.unwrap(), 1);
    assert!(
        store
            .claim_deliveries("c", LEASE, 5, later(65))
            .await
            .unwrap()
            .is_empty(),
        "the renewed lease holds past its first end"
    );
    db.drop_schemas().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completed_deliveries_are_not_reclaimed_and_retries_wait_for_their_time() {
    let Some(db) = TestDb::connect("q_done").await else {
        return;
    };
    let store = db.store().await;
    enqueue(&store, "c", 2, |i| format!("k{i}")).await;
    let claimed = store.claim_deliveries("a", LEASE, 5, t0()).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let mut it = claimed.into_iter();
    complete(&store, it.next().unwrap(), DeliveryPhase::Processed).await;
    let mut failed = it.next().unwrap();
    failed.next_attempt_at = Some(later(60));
    failed.last_error = Some("provider timed out".into());
    complete(&store, failed, DeliveryPhase::Failed).await;
    assert!(
        store
            .claim_deliveries("b", LEASE, 5, later(59))
            .await
            .unwrap()
            .is_empty(),
        "processed is done; the retry is not due"
    );
    let retry = store
        .claim_deliveries("b", LEASE, 5, later(61))
        .await
        .unwrap();
    assert_eq!(ids(&retry), vec!["c-001"]);
    assert_eq!(retry[0].attempts, 1, "the record comes back as committed");
    assert!(
        store
            .claim_deliveries("c", LEASE, 5, later(3600))
            .await
            .unwrap()
            .len()
            <= 1,
        "only the retry can come back, once its lease expires"
    );
    db.drop_schemas().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn released_claims_are_claimable_at_once() {
    let Some(db) = TestDb::connect("q_release").await else {
        return;
    };
    let store = db.store().await;
    enqueue(&store, "r", 3, |i| format!("k{i}")).await;
    let a = store.claim_deliveries("a", LEASE, 3, t0()).await.unwrap();
    assert_eq!(a.len(), 3);
    let first = (a[0].provider.clone(), a[0].delivery_id.clone());
    assert_eq!(
        store
            .release("other", std::slice::from_ref(&first))
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.release("a", &[first]).await.unwrap(), 1);
    assert_eq!(
        ids(&store.claim_deliveries("b", LEASE, 3, t0()).await.unwrap()),
        vec!["r-000"]
    );
    assert_eq!(store.release_all("a").await.unwrap(), 2);
    assert_eq!(
        store
            .claim_deliveries("b", LEASE, 3, t0())
            .await
            .unwrap()
            .len(),
        2
    );
    db.drop_schemas().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_wake_a_waiting_worker() {
    let Some(db) = TestDb::connect("q_notify").await else {
        return;
    };
    let store = db.store().await;
    let mut listener = store.listen().await.expect("listen");
    assert!(
        !listener
            .wait_for_work(Duration::from_millis(100))
            .await
            .unwrap(),
        "nothing happened"
    );
    let inserter = store.clone();
    let insert = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        enqueue(&inserter, "n", 1, |_| "k".to_owned()).await;
    });
    assert!(
        listener
            .wait_for_work(Duration::from_secs(5))
            .await
            .unwrap(),
        "an insert wakes the worker"
    );
    insert.await.unwrap();
    // A duplicate insert is not new work.
    let d = delivery("n-000", "acme/app");
    assert!(matches!(
        store.insert_delivery(&d).await.unwrap(),
        Inserted::Duplicate(_)
    ));
    assert!(
        !listener
            .wait_for_work(Duration::from_millis(100))
            .await
            .unwrap()
    );
    store.notify_work().await.unwrap();
    assert!(
        listener
            .wait_for_work(Duration::from_secs(5))
            .await
            .unwrap()
    );
    drop(listener);
    db.drop_schemas().await;
}

fn sim(id: &str, native: &str, secs: i64, title: &str) -> SimDelivery {
    let mut fields = kradle_sync_core::Fields::new();
    fields.insert("title".into(), title.into());
    SimDelivery {
        id: id.into(),
        target: TARGET.into(),
        change: SimChange::Observed(SimObject {
            kind: ResourceKind::Issue,
            native_id: native.into(),
            updated_at: t0() + chrono::Duration::seconds(secs),
            fields,
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_workers_delivery_is_finished_by_another_exactly_once() {
    let Some(db) = TestDb::connect("q_engine").await else {
        return;
    };
    let store = db.store().await;
    let shared: Arc<dyn SyncStore> = Arc::new(store.clone());
    let e = engine(shared, OwnershipMode::Bidirectional);
    let binding = BindingId::new(TARGET);
    for (i, d) in [sim("s-1", "1", 1, "one"), sim("s-2", "2", 2, "two")]
        .iter()
        .enumerate()
    {
        let receipt = e
            .receive(&binding, d.request(TOKEN), later(i as i64))
            .await
            .unwrap();
        assert!(matches!(receipt, Receipt::Accepted(_)));
    }
    // Worker A claims, applies the events of s-1, and is killed before its final commit
    // of the delivery: simulated by putting the row back as it was, lease and all.
    let a = store
        .claim_deliveries("a", LEASE, 10, later(5))
        .await
        .unwrap();
    assert_eq!(
        ids(&a),
        vec!["s-1"],
        "one binding, one ordering key: one at a time"
    );
    let report = e
        .process(&a[0].provider, &a[0].delivery_id, later(5))
        .await
        .unwrap();
    assert_eq!(report.applied, 1);
    let before = serde_json::to_string(&a[0]).unwrap();
    let restored = sqlx::query(AssertSqlSafe(format!(
        "UPDATE \"{}\".deliveries SET phase = 'queued', record = $1::json,
             lease_owner = 'a', lease_until = $2 WHERE delivery_id = 's-1'",
        store.schema()
    )))
    .bind(before)
    .bind(later(5) + chrono::Duration::from_std(LEASE).unwrap())
    .execute(store.pool())
    .await
    .unwrap();
    assert_eq!(restored.rows_affected(), 1);
    assert!(
        store
            .claim_deliveries("b", LEASE, 10, later(20))
            .await
            .unwrap()
            .is_empty(),
        "A's lease still holds the binding's key"
    );
    // Worker B finishes everything after A's lease is over; nothing applies twice.
    let mut applied = 0;
    let mut now = later(40);
    loop {
        let batch = store.claim_deliveries("b", LEASE, 10, now).await.unwrap();
        if batch.is_empty() {
            break;
        }
        for d in batch {
            applied += e
                .process(&d.provider, &d.delivery_id, now)
                .await
                .unwrap()
                .applied;
        }
        now += chrono::Duration::seconds(1);
    }
    assert_eq!(
        applied, 1,
        "s-1's event is not applied again; only s-2's is new"
    );
    let done = store
        .list_deliveries(&Filter::all(), Some(DeliveryPhase::Processed))
        .await
        .unwrap();
    assert_eq!(ids(&done), vec!["s-1", "s-2"]);
    let objects = store.list_objects(&Filter::all()).await.unwrap();
    assert_eq!(objects.len(), 2);
    assert!(
        objects.iter().all(|o| o.revision == 1),
        "each object written once"
    );
    db.drop_schemas().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claiming_ids_takes_the_same_leases_without_the_payloads() {
    let Some(db) = TestDb::connect("q_ids").await else {
        return;
    };
    let store = db.store().await.with_max_claims(1);
    enqueue(&store, "d", 6, |i| format!("key-{i}")).await;
    let a = store.claim_delivery_ids("a", LEASE, 4, t0()).await.unwrap();
    let names: Vec<&str> = a.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(names, ["d-000", "d-001", "d-002", "d-003"], "oldest first");
    assert!(a.iter().all(|(p, _)| p.as_str() == "github"));
    let b = store.claim_deliveries("b", LEASE, 4, t0()).await.unwrap();
    assert_eq!(ids(&b), ["d-004", "d-005"], "the ids' leases hold");
    assert!(
        store
            .claim_delivery_ids("c", LEASE, 4, t0())
            .await
            .unwrap()
            .is_empty()
    );

    // Past the lease, a second claim of a delivery nobody finished dead-letters it
    // (max claims 1); the dead letter keeps the payload the ids claim never read.
    let again = store
        .claim_delivery_ids("c", LEASE, 10, later(LEASE.as_secs() as i64 + 1))
        .await
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
    let dead = store
        .list_deliveries(&Filter::all(), Some(DeliveryPhase::DeadLettered))
        .await
        .unwrap();
    assert_eq!(dead.len(), 6);
    for d in dead {
        assert_eq!(d.body, delivery(d.delivery_id.as_str(), "acme/app").body);
    }
    db.drop_schemas().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_each_get_a_full_batch() {
    let Some(db) = TestDb::connect("q_full").await else {
        return;
    };
    let store = db.store().await;
    for round in 0..10 {
        enqueue(&store, &format!("r{round}"), 40, |i| {
            format!("key-{round}-{i}")
        })
        .await;
        let (a, b) = futures::join!(
            store.claim_deliveries("a", LEASE, 10, t0()),
            store.claim_delivery_ids("b", LEASE, 10, t0())
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!((a.len(), b.len()), (10, 10), "round {round}");
        let b: HashSet<String> = b.into_iter().map(|(_, id)| id.to_string()).collect();
        assert!(a.iter().all(|d| !b.contains(d.delivery_id.as_str())));
        for d in a {
            complete(&store, d, DeliveryPhase::Processed).await;
        }
        let all = store.list_deliveries(&Filter::all(), None).await.unwrap();
        for d in all
            .into_iter()
            .filter(|d| b.contains(d.delivery_id.as_str()))
        {
            complete(&store, d, DeliveryPhase::Processed).await;
        }
        assert_eq!(
            store
                .claim_delivery_ids("c", LEASE, 100, t0())
                .await
                .unwrap()
                .len(),
            20
        );
        let rest = store
            .list_deliveries(&Filter::all(), Some(DeliveryPhase::Queued))
            .await
            .unwrap();
        for d in rest {
            complete(&store, d, DeliveryPhase::Processed).await;
        }
    }
    db.drop_schemas().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_looks_past_the_backlog_of_a_few_keys() {
    let Some(db) = TestDb::connect("q_hot").await else {
        return;
    };
    let store = db.store().await;
    // 600 deliveries of 3 keys arrive first, then one delivery each of 10 other keys.
    enqueue(&store, "hot", 600, |i| format!("hot-{}", i % 3)).await;
    enqueue(&store, "cold", 10, |i| format!("cold-{i}")).await;
    let claimed = store.claim_deliveries("a", LEASE, 20, t0()).await.unwrap();
    assert_eq!(
        ids(&claimed),
        [
            "hot-000", "hot-001", "hot-002", "cold-000", "cold-001", "cold-002", "cold-003",
            "cold-004", "cold-005", "cold-006", "cold-007", "cold-008", "cold-009"
        ],
        "the oldest delivery of every key, oldest first"
    );
    // While those are leased, no key is claimable again.
    assert!(
        store
            .claim_delivery_ids("b", LEASE, 20, t0())
            .await
            .unwrap()
            .is_empty()
    );
    for d in claimed {
        complete(&store, d, DeliveryPhase::Processed).await;
    }
    let next = store
        .claim_delivery_ids("b", LEASE, 20, t0())
        .await
        .unwrap();
    let names: Vec<&str> = next.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(names, ["hot-003", "hot-004", "hot-005"]);
    db.drop_schemas().await;
}

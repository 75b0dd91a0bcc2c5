//! `Engine::process_batch` on PostgreSQL reads ahead: one batched read of the deliveries,
//! one of the event keys and one of the objects per batch, not one of each per delivery;
//! and a read-ahead that fails costs nothing but speed.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::TestDb;
use common::github::{REPO, engine, fixtures};
use common::probe::Probe;
use kradle_sync_core::delivery::DeliveryPhase;
use kradle_sync_core::store::Filter;
use kradle_sync_core::{BindingId, DeliveryId, ProcessReport, ProviderKind, Receipt, SyncStore};

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
}

/// Receives real GitHub deliveries of several events through `probe` and returns their ids.
async fn receive_all(probe: &Probe) -> Vec<(ProviderKind, DeliveryId)> {
    let e = engine(Arc::new(probe.clone()));
    let mut ids = Vec::new();
    for f in fixtures(&["issues", "issue_comment", "label", "milestone"]) {
        match e.receive(&BindingId::new(REPO), f.request(), at(0)).await {
            Ok(Receipt::Accepted(id)) => ids.push(("github".into(), id)),
            other => panic!("{other:?}"),
        }
    }
    probe.reads.lock().unwrap().clear();
    ids
}

fn phases(reports: &[ProcessReport]) -> (usize, usize) {
    let count = |p| reports.iter().filter(|r| r.phase == Some(p)).count();
    (
        count(DeliveryPhase::Processed),
        count(DeliveryPhase::Failed),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_reads_each_kind_of_record_once() {
    let Some(db) = TestDb::connect("readahead").await else {
        return;
    };
    let probe = Probe::new(db.store().await);
    let ids = receive_all(&probe).await;
    assert!(ids.len() > 10, "{}", ids.len());
    let e = engine(Arc::new(probe.clone()));
    let reports = e.process_batch(&ids, at(1)).await.unwrap();
    assert_eq!(phases(&reports), (ids.len(), 0), "{reports:?}");
    assert!(reports.iter().map(|r| r.applied).sum::<u32>() > 0);
    for (method, calls) in [
        ("get_deliveries", 1),
        ("events_applied", 1),
        ("load_objects", 1),
        ("get_delivery", 0),
        ("event_applied", 0),
        ("load_object", 0),
    ] {
        assert_eq!(
            probe.reads_of(method),
            calls,
            "{method}: {:?}",
            probe.reads.lock().unwrap()
        );
    }
    // Processing them again (they are finished) changes nothing.
    let before = probe.inner.list_objects(&Filter::all()).await.unwrap();
    let again = e.process_batch(&ids, at(2)).await.unwrap();
    assert!(again.iter().all(|r| r.applied == 0), "{again:?}");
    assert_eq!(
        probe.inner.list_objects(&Filter::all()).await.unwrap(),
        before
    );
    db.drop_schemas().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_read_ahead_falls_back_to_reads_of_each_delivery() {
    let Some(db) = TestDb::connect("readahead_fail").await else {
        return;
    };
    // The batched read fails: each delivery reads its own objects and all are processed.
    let probe = Probe::new(db.store().await);
    let ids = receive_all(&probe).await;
    let e = engine(Arc::new(probe.clone()));
    probe.fail_next_loads(1);
    let reports = e.process_batch(&ids, at(1)).await.unwrap();
    assert_eq!(phases(&reports), (ids.len(), 0), "{reports:?}");
    assert!(probe.reads_of("load_object") > 0);
    assert!(
        probe.log.lock().unwrap()[0].ends_with(" objects"),
        "{:?}",
        probe.log
    );

    // The batched read and then one delivery's own read fail: only that delivery fails
    // (to be retried), as it would without the read-ahead.
    let probe = Probe::new(db.store().await);
    let ids = receive_all(&probe).await;
    let e = engine(Arc::new(probe.clone()));
    probe.fail_next_loads(2);
    let reports = e.process_batch(&ids, at(1)).await.unwrap();
    assert_eq!(phases(&reports), (ids.len() - 1, 1), "{reports:?}");
    let failed = reports
        .iter()
        .find(|r| r.phase == Some(DeliveryPhase::Failed))
        .unwrap();
    assert!(
        failed
            .error
            .as_deref()
            .is_some_and(|e| e.contains("connection to the server was lost")),
        "{failed:?}"
    );
    db.drop_schemas().await;
}

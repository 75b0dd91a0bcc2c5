//! The PostgreSQL store gives byte-identical results to the memory store: the same engine
//! run lists the same JSON, and random transitions (committed one by one or as one batch)
//! get the same outcomes and leave the same records.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::sync::Arc;

use chrono::DateTime;
use common::TestDb;
use kradle_store_memory::MemoryStore;
use kradle_sync_core::audit::{AuditRecord, AuditSubject};
use kradle_sync_core::delivery::DeliveryPhase;
use kradle_sync_core::projection::ObjectState;
use kradle_sync_core::store::{CommitOutcome, Filter, SyncScope, SyncState};
use kradle_sync_core::testing::conformance::delivery;
use kradle_sync_core::testing::generators::{TARGET, arb_history_and_schedules};
use kradle_sync_core::testing::invariants::{backfill_truth, deliver, engine};
use kradle_sync_core::write_intent::Actor;
use kradle_sync_core::{
    BindingId, EventKey, Fields, NativeId, ObjectKey, OrgId, OwnershipMode, ResourceKind,
    SyncStore, Transition,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Everything a store lists, as JSON text (delivery bodies included).
async fn dump(store: &dyn SyncStore, events: &[EventKey]) -> String {
    let all = Filter::all();
    let deliveries = store.list_deliveries(&all, None).await.unwrap();
    let bodies: Vec<String> = deliveries
        .iter()
        .map(|d| String::from_utf8_lossy(&d.body).into_owned())
        .collect();
    let mut applied = Vec::new();
    for e in events {
        applied.push(store.event_applied(e).await.unwrap());
    }
    serde_json::to_string_pretty(&serde_json::json!({
        "objects": store.list_objects(&all).await.unwrap(),
        "write_intents": store.list_write_intents(&all, None).await.unwrap(),
        "conflicts": store.list_conflicts(&all).await.unwrap(),
        "deliveries": deliveries,
        "bodies": bodies,
        "audit": store.list_audit(&all).await.unwrap(),
        "applied": applied,
    }))
    .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn an_engine_run_lists_the_same_json_as_on_the_memory_store() {
    let rt = runtime();
    let Some(db) = rt.block_on(TestDb::connect("parity_engine")) else {
        return;
    };
    let result = runner(10).run(&arb_history_and_schedules(), |(history, a, _)| {
        rt.block_on(async {
            let memory: Arc<dyn SyncStore> = Arc::new(MemoryStore::new());
            let postgres: Arc<dyn SyncStore> = Arc::new(db.store().await);
            let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
            let mut dumps = Vec::new();
            for store in [memory, postgres] {
                let e = engine(store.clone(), OwnershipMode::Bidirectional);
                deliver(&e, &history, &a).await;
                if let Some(first) = history.truth.first() {
                    let mut fields = Fields::new();
                    fields.insert("title".into(), "Edited in the host".into());
                    e.local_change(
                        &BindingId::new(TARGET),
                        ResourceKind::Issue,
                        &NativeId::new(first.native_id.clone()),
                        fields,
                        Actor::user("alice"),
                        now,
                    )
                    .await
                    .unwrap();
                }
                backfill_truth(&e, &history).await;
                dumps.push(dump(store.as_ref(), &[]).await);
            }
            assert_eq!(dumps[0], dumps[1], "memory and PostgreSQL differ");
            db.drop_schemas().await;
        });
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// A transition drawn from small key spaces so that duplicates, stale revisions and
/// overwrites are common.
#[derive(Debug, Clone)]
struct Spec {
    events: Vec<u8>,
    object: Option<(u8, Option<u64>, u8)>,
    delivery: Option<(u8, bool)>,
    state: Option<u8>,
    audit: u8,
}

fn arb_spec() -> impl Strategy<Value = Spec> {
    (
        prop::collection::vec(0u8..8, 0..3),
        prop::option::of((0u8..3, prop::option::of(1u64..4), 0u8..4)),
        prop::option::of((0u8..3, any::<bool>())),
        prop::option::of(0u8..2),
        0u8..3,
    )
        .prop_map(|(events, object, delivery, state, audit)| Spec {
            events,
            object,
            delivery,
            state,
            audit,
        })
}

fn event_key(n: u8) -> EventKey {
    EventKey {
        provider: "github".into(),
        delivery_id: format!("d-{n}").into(),
        action: "edited".into(),
        kind: ResourceKind::Issue,
        native_id: "1".into(),
    }
}

fn build(i: usize, spec: &Spec) -> Transition {
    {
        let mut v = Transition::default();
        v.object = spec.object.map(|(native, expected, title)| {
            let mut s = ObjectState::new(
                ObjectKey::new(
                    "github",
                    "acme/app",
                    ResourceKind::Issue,
                    native.to_string(),
                ),
                OrgId::new("acme"),
            );
            s.local_seq = u64::from(title);
            (s, expected)
        });
        v.events = spec.events.iter().map(|n| event_key(*n)).collect();
        v.deliveries = spec
            .delivery
            .map(|(id, dead)| {
                let mut d = delivery(&format!("del-{id}"), "acme/app");
                d.body = format!("{{\"transition\":{i}}}").into_bytes();
                if dead {
                    d.phase = DeliveryPhase::DeadLettered;
                    d.last_error = Some(format!("error {i}"));
                }
                d
            })
            .into_iter()
            .collect();
        v.sync_states = spec
            .state
            .map(|s| {
                let mut state = SyncState::new({
                    let mut v = SyncScope::binding("github", "acme/app");
                    v.interface = None;
                    v.kind = (s == 1).then_some(ResourceKind::Issue);
                    v
                });
                state.cursor = Some(format!("cursor-{i}"));
                state
            })
            .into_iter()
            .collect();
        v.audit = (0..spec.audit)
            .map(|k| {
                let mut v = AuditRecord::new(
                    DateTime::UNIX_EPOCH,
                    "acme",
                    "github",
                    "acme/app",
                    AuditSubject::Binding("acme/app".into()),
                    format!("t{i}.{k}"),
                    "engine",
                );
                v.detail = serde_json::json!({ "n": -0.0, "s": "nul\u{0}byte" });
                v
            })
            .collect();
        v
    }
}

#[test]
fn batches_and_single_commits_decide_like_the_memory_store() {
    let rt = runtime();
    let Some(db) = rt.block_on(TestDb::connect("parity_batch")) else {
        return;
    };
    let events: Vec<EventKey> = (0..8).map(event_key).collect();
    let scopes: Vec<SyncScope> = (0..2)
        .map(|s| {
            let mut v = SyncScope::binding("github", "acme/app");
            v.interface = None;
            v.kind = (s == 1).then_some(ResourceKind::Issue);
            v
        })
        .collect();
    let strategy = prop::collection::vec(arb_spec(), 1..24);
    let result = runner(24).run(&strategy, |specs| {
        rt.block_on(async {
            let transitions: Vec<Transition> =
                specs.iter().enumerate().map(|(i, s)| build(i, s)).collect();
            let memory = MemoryStore::new();
            let mut expected = Vec::new();
            for t in transitions.clone() {
                expected.push(memory.commit(t).await.unwrap());
            }
            let single = db.store().await;
            let mut one_by_one = Vec::new();
            for t in transitions.clone() {
                one_by_one.push(single.commit(t).await.unwrap());
            }
            let batched = db.store().await;
            let batch: Vec<CommitOutcome> = batched.commit_batch(transitions).await.unwrap();
            assert_eq!(one_by_one, expected, "single commits decide like memory");
            assert_eq!(batch, expected, "a batch decides like sequential commits");
            let want = dump(&memory, &events).await;
            assert_eq!(dump(&single, &events).await, want);
            assert_eq!(dump(&batched, &events).await, want);
            for scope in &scopes {
                let m = memory.get_sync_state(scope).await.unwrap();
                assert_eq!(single.get_sync_state(scope).await.unwrap(), m);
                assert_eq!(batched.get_sync_state(scope).await.unwrap(), m);
            }
            db.drop_schemas().await;
        });
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

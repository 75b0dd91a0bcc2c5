//! The store conformance suite: what every [`SyncStore`] must do. Run it against a fresh,
//! empty store:
//!
//! ```ignore
//! kradle_sync_core::testing::conformance::run(&MyStore::new()).await;
//! ```

use chrono::{DateTime, Utc};

use crate::audit::{AuditRecord, AuditSubject};
use crate::conflict::{ConflictReason, ConflictRecord, FieldConflict};
use crate::delivery::{DeliveryPhase, DeliveryRecord, payload_digest};
use crate::projection::ObjectState;
use crate::store::{
    CacheEntry, CommitOutcome, Filter, HttpCache, Inserted, SyncScope, SyncState, Transition,
};
use crate::write_intent::{Actor, IntentReason, WriteIntent, WriteOperation, WritePhase};
use crate::{
    DeliveryId, EventKey, Fields, Interface, ObjectKey, OrgId, ProviderKind, ResolutionPolicy,
    ResourceKind, SyncStore,
};

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap_or_default()
}

/// A delivery record for tests.
pub fn delivery(id: &str, binding: &str) -> DeliveryRecord {
    let body = format!("{{\"id\":\"{id}\"}}").into_bytes();
    DeliveryRecord {
        provider: "github".into(),
        delivery_id: id.into(),
        binding: binding.into(),
        org: binding.split('/').next().unwrap_or(binding).into(),
        event: "issues".into(),
        action: Some("opened".into()),
        received_at: at(0),
        signature_algorithm: "hmac-sha256".into(),
        verified: true,
        payload_digest: payload_digest(&body),
        body,
        phase: DeliveryPhase::Queued,
        attempts: 0,
        last_error: None,
        note: None,
        next_attempt_at: None,
        events: 0,
        ordering_key: None,
    }
}

fn key(binding: &str, kind: ResourceKind, id: &str) -> ObjectKey {
    ObjectKey::new("github", binding, kind, id)
}

fn event_key(delivery: &str, id: &str) -> EventKey {
    EventKey {
        provider: "github".into(),
        delivery_id: delivery.into(),
        action: "opened".into(),
        kind: ResourceKind::Issue,
        native_id: id.into(),
    }
}

fn object(binding: &str, id: &str, title: &str) -> ObjectState {
    let mut s = ObjectState::new(
        key(binding, ResourceKind::Issue, id),
        OrgId::new(binding.split('/').next().unwrap_or(binding)),
    );
    s.external.insert(
        "title".into(),
        crate::projection::FieldRegister {
            rank: crate::Rank {
                at: Some(at(1)),
                sequence: None,
                authority: crate::Authority::Webhook,
            },
            value: title.into(),
            ambiguous: false,
        },
    );
    s
}

/// A write intent for tests: an update of issue `1` of `binding`.
pub fn intent(id: &str, binding: &str, phase: WritePhase) -> WriteIntent {
    let target = key(binding, ResourceKind::Issue, "1");
    let fields: Fields = [("title".to_owned(), serde_json::json!("new"))]
        .into_iter()
        .collect();
    WriteIntent {
        id: id.into(),
        org: OrgId::new(binding.split('/').next().unwrap_or(binding)),
        interface: Interface::IssueTracking,
        request_digest: WriteIntent::digest_of(&WriteOperation::Update, &target, &fields),
        target,
        operation: WriteOperation::Update,
        fields,
        base: Fields::new(),
        source: Actor::user("alice"),
        reason: IntentReason::LocalChange,
        idempotency_key: format!("kradle:{id}"),
        approval_required: false,
        approved_by: None,
        phase,
        attempts: 0,
        last_error: None,
        next_attempt_at: None,
        confirm_by: None,
        result_native_id: None,
        conflict: None,
        created_at: at(2),
        updated_at: at(2),
    }
}

fn audit(binding: &str, action: &str) -> AuditRecord {
    AuditRecord {
        at: at(3),
        org: OrgId::new(binding.split('/').next().unwrap_or(binding)),
        provider: "github".into(),
        binding: binding.into(),
        subject: AuditSubject::Binding(binding.into()),
        action: action.into(),
        actor: "engine".into(),
        detail: serde_json::json!({ "n": action }),
    }
}

/// Runs every check against a fresh, empty store.
pub async fn run(store: &dyn SyncStore) {
    deliveries_are_idempotent(store).await;
    transitions_are_atomic_and_idempotent(store).await;
    revisions_detect_concurrent_writers(store).await;
    records_round_trip_and_filter(store).await;
    racing_commits_apply_once(store).await;
    batched_reads_answer_each_key_in_order(store).await;
    audited_inserts_store_both_or_neither(store).await;
}

async fn deliveries_are_idempotent(store: &dyn SyncStore) {
    let d = delivery("d-1", "acme/app");
    assert_eq!(
        store.insert_delivery(&d).await.expect("insert"),
        Inserted::New,
        "first insert is new"
    );
    let mut again = d.clone();
    again.body = b"{\"other\":true}".to_vec();
    match store.insert_delivery(&again).await.expect("insert again") {
        Inserted::Duplicate(existing) => assert_eq!(
            existing.body, d.body,
            "a duplicate must not replace the stored delivery"
        ),
        Inserted::New => panic!("invariant 1: a delivery id was stored twice"),
    }
    let got = store
        .get_delivery(&ProviderKind::new("github"), &DeliveryId::new("d-1"))
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(got, d, "a delivery (body included) must round-trip");
    let mut other_provider = delivery("d-1", "acme/app");
    other_provider.provider = "gitlab".into();
    assert_eq!(
        store
            .insert_delivery(&other_provider)
            .await
            .expect("insert"),
        Inserted::New,
        "ids are unique per provider only"
    );
    let mut processed = d.clone();
    processed.phase = DeliveryPhase::DeadLettered;
    processed.last_error = Some("malformed".into());
    processed.attempts = 1;
    let mut other_body = processed.clone();
    other_body.body = b"{\"replaced\":true}".to_vec();
    let t = Transition {
        deliveries: vec![other_body],
        ..Transition::default()
    };
    assert_eq!(
        store.commit(t).await.expect("commit"),
        CommitOutcome::Committed
    );
    assert_eq!(
        store
            .get_delivery(&ProviderKind::new("github"), &DeliveryId::new("d-1"))
            .await
            .expect("get"),
        Some(processed.clone()),
        "an update changes a stored delivery's record and keeps the body it was stored with"
    );
    let mut unstored = delivery("d-committed", "acme/app");
    unstored.phase = DeliveryPhase::Processed;
    let t = Transition {
        deliveries: vec![unstored.clone()],
        ..Transition::default()
    };
    assert_eq!(
        store.commit(t).await.expect("commit"),
        CommitOutcome::Committed
    );
    assert_eq!(
        store
            .get_delivery(
                &ProviderKind::new("github"),
                &DeliveryId::new("d-committed")
            )
            .await
            .expect("get"),
        Some(unstored.clone()),
        "a commit stores a delivery not stored before, body included"
    );
    let dead = store
        .list_deliveries(&Filter::all(), Some(DeliveryPhase::DeadLettered))
        .await
        .expect("list");
    assert_eq!(
        dead,
        vec![processed],
        "a delivery update must be visible by phase"
    );
    let all = store
        .list_deliveries(&Filter::all(), None)
        .await
        .expect("list");
    let ids: Vec<_> = all
        .iter()
        .map(|d| (d.provider.to_string(), d.delivery_id.to_string()))
        .collect();
    assert_eq!(
        ids,
        vec![
            ("github".into(), "d-1".into()),
            ("github".into(), "d-committed".into()),
            ("gitlab".into(), "d-1".into())
        ],
        "deliveries sort by (provider, id)"
    );
}

async fn transitions_are_atomic_and_idempotent(store: &dyn SyncStore) {
    let k = key("acme/app", ResourceKind::Issue, "42");
    let t = Transition {
        object: Some((object("acme/app", "42", "first"), None)),
        events: vec![event_key("e-1", "42")],
        audit: vec![audit("acme/app", "event.applied")],
        ..Transition::default()
    };
    assert_eq!(
        store.commit(t).await.expect("commit"),
        CommitOutcome::Committed
    );
    assert!(
        store
            .event_applied(&event_key("e-1", "42"))
            .await
            .expect("event"),
        "an applied event key must be recorded"
    );
    let loaded = store.load_object(&k).await.expect("load").expect("stored");
    assert_eq!(loaded.revision, 1, "a new object is stored at revision 1");
    assert_eq!(loaded.field("title"), Some(&serde_json::json!("first")));

    let replay = Transition {
        object: Some((object("acme/app", "42", "second"), Some(1))),
        events: vec![event_key("e-2", "42"), event_key("e-1", "42")],
        write_intents: vec![intent("i-atomic", "acme/app", WritePhase::Pending)],
        audit: vec![audit("acme/app", "must-not-appear")],
        ..Transition::default()
    };
    assert_eq!(
        store.commit(replay).await.expect("commit"),
        CommitOutcome::AlreadyApplied,
        "invariant 1: a repeated event key must refuse the transition"
    );
    let loaded = store.load_object(&k).await.expect("load").expect("stored");
    assert_eq!(
        loaded.field("title"),
        Some(&serde_json::json!("first")),
        "a refused transition must write nothing"
    );
    assert!(
        !store
            .event_applied(&event_key("e-2", "42"))
            .await
            .expect("event"),
        "a refused transition must record no event"
    );
    assert!(
        store
            .get_write_intent("i-atomic")
            .await
            .expect("intent")
            .is_none(),
        "a refused transition must write no intent"
    );
    let actions: Vec<String> = store
        .list_audit(&Filter::all())
        .await
        .expect("audit")
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert!(
        !actions.contains(&"must-not-appear".to_owned()),
        "a refused transition must append no audit"
    );
}

async fn revisions_detect_concurrent_writers(store: &dyn SyncStore) {
    let k = key("acme/app", ResourceKind::Issue, "43");
    let new = Transition {
        object: Some((object("acme/app", "43", "a"), None)),
        ..Transition::default()
    };
    assert_eq!(
        store.commit(new.clone()).await.expect("commit"),
        CommitOutcome::Committed
    );
    assert_eq!(
        store.commit(new).await.expect("commit"),
        CommitOutcome::RevisionConflict,
        "creating an existing object must conflict"
    );
    let stale = Transition {
        object: Some((object("acme/app", "43", "b"), Some(7))),
        ..Transition::default()
    };
    assert_eq!(
        store.commit(stale).await.expect("commit"),
        CommitOutcome::RevisionConflict,
        "a stale revision must conflict"
    );
    let good = Transition {
        object: Some((object("acme/app", "43", "c"), Some(1))),
        ..Transition::default()
    };
    assert_eq!(
        store.commit(good).await.expect("commit"),
        CommitOutcome::Committed
    );
    let loaded = store.load_object(&k).await.expect("load").expect("stored");
    assert_eq!(
        (loaded.revision, loaded.field("title")),
        (2, Some(&serde_json::json!("c")))
    );
}

async fn records_round_trip_and_filter(store: &dyn SyncStore) {
    let conflict = ConflictRecord {
        id: "c-1".into(),
        org: OrgId::new("acme"),
        object: key("acme/app", ResourceKind::Issue, "42"),
        fields: vec![FieldConflict {
            field: "title".into(),
            base: "a".into(),
            local: "b".into(),
            external: "c".into(),
        }],
        reason: ConflictReason::BothChanged,
        message: None,
        policy: ResolutionPolicy::Manual,
        write_intent: Some("i-1".into()),
        resolution: None,
        detected_at: at(4),
    };
    let state = SyncState::new(SyncScope {
        provider: "github".into(),
        binding: "acme/app".into(),
        interface: Some(Interface::IssueTracking),
        kind: Some(ResourceKind::Issue),
    });
    let mut state = state;
    state.cursor = Some("page-3".into());
    state.high_watermark = Some(at(5));
    let t = Transition {
        object: Some((object("other/lib", "77", "x"), None)),
        write_intents: vec![
            intent("i-1", "acme/app", WritePhase::Pending),
            intent("i-2", "other/lib", WritePhase::Applied),
        ],
        conflicts: vec![conflict.clone()],
        sync_states: vec![state.clone()],
        audit: vec![
            audit("acme/app", "one"),
            audit("other/lib", "two"),
            audit("acme/app", "three"),
        ],
        ..Transition::default()
    };
    assert_eq!(
        store.commit(t).await.expect("commit"),
        CommitOutcome::Committed
    );
    assert_eq!(
        store
            .get_write_intent("i-1")
            .await
            .expect("get")
            .map(|i| i.phase),
        Some(WritePhase::Pending)
    );
    let applied = store
        .list_write_intents(&Filter::all(), Some(WritePhase::Applied))
        .await
        .expect("list");
    assert_eq!(
        applied.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        vec!["i-2"]
    );
    let mine = store
        .list_write_intents(&Filter::binding("acme/app"), None)
        .await
        .expect("list");
    assert_eq!(
        mine.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        vec!["i-1"],
        "intents filter by binding"
    );
    let mut updated = intent("i-1", "acme/app", WritePhase::Confirmed);
    updated.attempts = 1;
    store
        .commit(Transition {
            write_intents: vec![updated.clone()],
            ..Transition::default()
        })
        .await
        .expect("commit");
    assert_eq!(
        store.get_write_intent("i-1").await.expect("get"),
        Some(updated),
        "intents upsert"
    );
    assert_eq!(
        store.get_conflict("c-1").await.expect("get"),
        Some(conflict.clone())
    );
    assert_eq!(
        store
            .list_conflicts(&Filter::binding("other/lib"))
            .await
            .expect("list"),
        vec![]
    );
    assert_eq!(
        store.get_sync_state(&state.scope).await.expect("get"),
        Some(state)
    );
    let objects = store
        .list_objects(&Filter {
            org: Some(OrgId::new("other")),
            ..Filter::default()
        })
        .await
        .expect("list");
    assert_eq!(objects.len(), 1, "objects filter by org");
    let kinds = store
        .list_objects(&Filter {
            kind: Some(ResourceKind::Comment),
            ..Filter::default()
        })
        .await
        .expect("list");
    assert!(kinds.is_empty(), "objects filter by kind");
    let all = store.list_objects(&Filter::all()).await.expect("list");
    let keys: Vec<_> = all.iter().map(|o| o.key.clone()).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "objects list sorted by key");
    let audit_actions: Vec<String> = store
        .list_audit(&Filter::binding("acme/app"))
        .await
        .expect("audit")
        .into_iter()
        .map(|a| a.action)
        .collect();
    let tail: Vec<&str> = audit_actions
        .iter()
        .rev()
        .take(2)
        .rev()
        .map(String::as_str)
        .collect();
    assert_eq!(
        tail,
        vec!["one", "three"],
        "audit keeps append order and filters by binding"
    );
}

/// Runs the conditional-read cache checks against `cache`: an unknown key is absent, a
/// stored entry reads back whole (body, `Last-Modified`), and a second put replaces it.
/// Panics on the first failure.
pub async fn run_cache(cache: &dyn HttpCache) {
    let key = "GET https://api.github.com/x token:1";
    assert_eq!(cache.cache_get(key).await.expect("cache"), None);
    let entry = CacheEntry::new("W/\"abc\"", b"[]".to_vec())
        .with_last_modified("Mon, 01 Jan 2024 00:00:00 GMT");
    cache.cache_put(key, entry.clone()).await.expect("cache");
    assert_eq!(cache.cache_get(key).await.expect("cache"), Some(entry));
    let newer = CacheEntry::new("\"def\"", b"[{\"id\":1}]".to_vec());
    cache.cache_put(key, newer.clone()).await.expect("cache");
    assert_eq!(cache.cache_get(key).await.expect("cache"), Some(newer));
    assert_eq!(
        cache
            .cache_get("GET https://api.github.com/x token:2")
            .await
            .expect("cache"),
        None,
        "keys of two accounts never share an entry"
    );
}

async fn racing_commits_apply_once(store: &dyn SyncStore) {
    let k = key("acme/app", ResourceKind::Issue, "race");
    let make = |title: &str, event: &str| Transition {
        object: Some((object("acme/app", "race", title), None)),
        events: vec![event_key(event, "race")],
        ..Transition::default()
    };
    let (a, b) = futures::join!(
        store.commit(make("a", "race-1")),
        store.commit(make("b", "race-2"))
    );
    let outcomes = [a.expect("commit"), b.expect("commit")];
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == CommitOutcome::Committed)
            .count(),
        1,
        "exactly one racing creator wins: {outcomes:?}"
    );
    let (a, b) = futures::join!(
        store.commit(make("a", "race-3")),
        store.commit(make("b", "race-3"))
    );
    let outcomes = [a.expect("commit"), b.expect("commit")];
    assert!(
        outcomes.iter().all(|o| *o != CommitOutcome::Committed),
        "both conflict: the object exists"
    );
    assert!(store.load_object(&k).await.expect("load").is_some());
}

async fn batched_reads_answer_each_key_in_order(store: &dyn SyncStore) {
    let github = ProviderKind::new("github");
    let (b1, b2) = (delivery("b-1", "acme/app"), delivery("b-2", "acme/app"));
    for d in [&b1, &b2] {
        assert_eq!(
            store.insert_delivery(d).await.expect("insert"),
            Inserted::New
        );
    }
    let ids = [
        (github.clone(), DeliveryId::new("b-2")),
        (github.clone(), DeliveryId::new("b-missing")),
        (ProviderKind::new("gitlab"), DeliveryId::new("b-1")),
        (github.clone(), DeliveryId::new("b-1")),
        (github.clone(), DeliveryId::new("b-2")),
    ];
    assert_eq!(
        store.get_deliveries(&ids).await.expect("get deliveries"),
        vec![Some(b2.clone()), None, None, Some(b1), Some(b2)],
        "get_deliveries answers every id in the order asked, bodies included"
    );
    assert!(
        store
            .get_deliveries(&[])
            .await
            .expect("get deliveries")
            .is_empty()
    );

    let t = Transition {
        object: Some((object("acme/app", "b-10", "batched"), None)),
        events: vec![event_key("b-1", "b-10")],
        ..Transition::default()
    };
    assert_eq!(
        store.commit(t).await.expect("commit"),
        CommitOutcome::Committed
    );
    let stored = key("acme/app", ResourceKind::Issue, "b-10");
    let keys = [
        key("acme/app", ResourceKind::Issue, "b-missing"),
        stored.clone(),
        key("acme/app", ResourceKind::Comment, "b-10"),
        key("other/app", ResourceKind::Issue, "b-10"),
        stored.clone(),
    ];
    let loaded = store.load_objects(&keys).await.expect("load objects");
    let one_by_one = store.load_object(&stored).await.expect("load");
    assert!(one_by_one.is_some());
    assert_eq!(
        loaded,
        vec![None, one_by_one.clone(), None, None, one_by_one],
        "load_objects answers every key in the order asked, as load_object does"
    );
    assert!(
        store
            .load_objects(&[])
            .await
            .expect("load objects")
            .is_empty()
    );

    let mut other_action = event_key("b-1", "b-10");
    other_action.action = "closed".into();
    let keys = [
        event_key("b-2", "b-10"),
        event_key("b-1", "b-10"),
        other_action,
        event_key("b-1", "b-11"),
        event_key("b-1", "b-10"),
    ];
    assert_eq!(
        store.events_applied(&keys).await.expect("events applied"),
        vec![false, true, false, false, true],
        "events_applied answers every key in the order asked"
    );
    assert!(
        store
            .events_applied(&[])
            .await
            .expect("events applied")
            .is_empty()
    );
}

async fn audited_inserts_store_both_or_neither(store: &dyn SyncStore) {
    let accepted = |id: &str, action: &str| AuditRecord {
        subject: AuditSubject::Delivery(id.into()),
        ..audit("acme/app", action)
    };
    let about = |records: &[AuditRecord], id: &str| -> Vec<String> {
        records
            .iter()
            .filter(|a| a.subject == AuditSubject::Delivery(id.into()))
            .map(|a| a.action.clone())
            .collect()
    };
    let d = delivery("a-1", "acme/app");
    assert_eq!(
        store
            .insert_delivery_audited(&d, accepted("a-1", "delivery.accepted"))
            .await
            .expect("insert"),
        Inserted::New
    );
    assert_eq!(
        store
            .get_delivery(&ProviderKind::new("github"), &DeliveryId::new("a-1"))
            .await
            .expect("get"),
        Some(d.clone()),
        "an audited insert stores the delivery"
    );
    let audit = store.list_audit(&Filter::all()).await.expect("audit");
    assert_eq!(
        about(&audit, "a-1"),
        vec!["delivery.accepted"],
        "an audited insert appends its audit record"
    );
    assert_eq!(
        audit.last().map(|a| &a.action),
        Some(&"delivery.accepted".to_owned()),
        "appended last"
    );

    let mut again = d.clone();
    again.body = b"{\"other\":true}".to_vec();
    match store
        .insert_delivery_audited(&again, accepted("a-1", "must-not-appear"))
        .await
        .expect("insert again")
    {
        Inserted::Duplicate(existing) => assert_eq!(
            existing.body, d.body,
            "a duplicate must not replace the stored delivery"
        ),
        Inserted::New => panic!("invariant 1: a delivery id was stored twice"),
    }
    let audit = store.list_audit(&Filter::all()).await.expect("audit");
    assert_eq!(
        about(&audit, "a-1"),
        vec!["delivery.accepted"],
        "a duplicate appends no audit record"
    );

    let racing = delivery("a-2", "acme/app");
    let (a, b) = futures::join!(
        store.insert_delivery_audited(&racing, accepted("a-2", "delivery.accepted")),
        store.insert_delivery_audited(&racing, accepted("a-2", "delivery.accepted"))
    );
    let outcomes = [a.expect("insert"), b.expect("insert")];
    assert_eq!(
        outcomes.iter().filter(|o| **o == Inserted::New).count(),
        1,
        "exactly one racing receiver stores it: {outcomes:?}"
    );
    let audit = store.list_audit(&Filter::all()).await.expect("audit");
    assert_eq!(
        about(&audit, "a-2"),
        vec!["delivery.accepted"],
        "racing receivers audit the delivery once"
    );
}

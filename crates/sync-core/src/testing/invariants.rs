//! The engine's invariants as reusable checks over any store. Each function builds a fresh
//! engine on a store from the factory, drives it through the simulated provider and asserts.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::generators::{History, TARGET};
use super::simulated::{KIND, SimChange, SimDelivery, SimObject, SimulatedProvider};
use crate::conflict::ConflictReason;
use crate::store::Filter;
use crate::write_intent::{Actor, IntentReason, WritePhase};
use crate::{
    Binding, BindingId, Engine, ExternalTarget, Fields, Interface, NativeId, OwnershipMode,
    Receipt, ResourceKind, Secret, SyncStore,
};

/// Makes a fresh, empty store.
pub type StoreFactory<'a> = &'a (dyn Fn() -> Arc<dyn SyncStore> + Sync);

/// The shared token of the simulated binding.
pub const TOKEN: &str = "sim-token";

/// The binding every check uses.
pub fn binding(mode: OwnershipMode) -> Binding {
    let mut b = Binding::new(
        TARGET,
        KIND,
        ExternalTarget::from_path(TARGET),
        &Interface::ALL,
    )
    .with_secret(Secret::new(TOKEN));
    for i in Interface::ALL {
        b = b.with_mode(i, mode);
    }
    b
}

/// An engine over `store` with the simulated provider and one binding.
pub fn engine(store: Arc<dyn SyncStore>, mode: OwnershipMode) -> Engine {
    Engine::builder(store)
        .adapter(Arc::new(SimulatedProvider::new()))
        .binding(binding(mode))
        .build()
        .expect("the simulated binding is valid")
}

/// What convergence compares: each object's provider fields, tombstone and hydrate flag.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Native id.
    pub native_id: String,
    /// Provider fields.
    pub fields: Fields,
    /// Whether it is gone.
    pub tombstone: bool,
    /// Whether a hydrate is pending.
    pub awaiting_hydrate: bool,
}

/// Summaries of every object, sorted by key.
pub async fn summarize(store: &dyn SyncStore) -> Vec<Summary> {
    store
        .list_objects(&Filter::all())
        .await
        .expect("list objects")
        .into_iter()
        .map(|o| Summary {
            native_id: o.key.native_id.to_string(),
            fields: o.fields(),
            tombstone: o.is_tombstone(),
            awaiting_hydrate: o.awaiting_hydrate(),
        })
        .collect()
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
}

/// Delivers `history` in `schedule` order; returns how many were duplicates.
pub async fn deliver(engine: &Engine, history: &History, schedule: &[usize]) -> usize {
    let binding = BindingId::new(TARGET);
    let mut duplicates = 0;
    for &i in schedule {
        let (receipt, _) = engine
            .ingest(&binding, history.deliveries[i].request(TOKEN), now())
            .await
            .expect("ingest");
        duplicates += usize::from(matches!(receipt, Receipt::Duplicate(_)));
    }
    duplicates
}

/// A complete authoritative read of the provider's true state.
pub async fn backfill_truth(engine: &Engine, history: &History) {
    let objects: Vec<serde_json::Value> = history
        .truth
        .iter()
        .map(|o| serde_json::to_value(o).expect("json"))
        .collect();
    engine
        .backfill(
            &BindingId::new(TARGET),
            ResourceKind::Issue,
            &objects,
            true,
            now(),
        )
        .await
        .expect("backfill");
}

/// Invariant 2: two schedules (permutations with duplicates) give the same projection, and
/// one complete backfill afterwards gives the provider's true state.
pub async fn check_convergence(
    factory: StoreFactory<'_>,
    history: &History,
    a: &[usize],
    b: &[usize],
) {
    let (sa, sb) = (factory(), factory());
    let (ea, eb) = (
        engine(sa.clone(), OwnershipMode::Bidirectional),
        engine(sb.clone(), OwnershipMode::Bidirectional),
    );
    deliver(&ea, history, a).await;
    deliver(&eb, history, b).await;
    let (pa, pb) = (summarize(sa.as_ref()).await, summarize(sb.as_ref()).await);
    assert_eq!(
        pa, pb,
        "invariant 2: the projection depends on delivery order"
    );
    backfill_truth(&ea, history).await;
    let after = summarize(sa.as_ref()).await;
    let by_id: BTreeMap<&str, &Summary> = after.iter().map(|s| (s.native_id.as_str(), s)).collect();
    for truth in &history.truth {
        let s = by_id
            .get(truth.native_id.as_str())
            .expect("every true object is projected");
        assert_eq!(
            s.fields, truth.fields,
            "invariant 2: backfill did not restore the true state of {}",
            truth.native_id
        );
        assert!(
            !s.tombstone && !s.awaiting_hydrate,
            "invariant 2: {} still flagged after backfill",
            truth.native_id
        );
    }
    for id in &history.deleted {
        let s = by_id
            .get(id.as_str())
            .expect("deleted objects stay as tombstones");
        assert!(s.tombstone, "invariant 7: deleted {id} is not a tombstone");
    }
}

/// Invariant 1: re-sending every delivery changes nothing.
pub async fn check_duplicates_change_nothing(
    factory: StoreFactory<'_>,
    history: &History,
    schedule: &[usize],
) {
    let store = factory();
    let e = engine(store.clone(), OwnershipMode::Bidirectional);
    deliver(&e, history, schedule).await;
    let before = store.list_objects(&Filter::all()).await.expect("list");
    let audit_before = store.list_audit(&Filter::all()).await.expect("audit").len();
    let all: Vec<usize> = (0..history.deliveries.len()).collect();
    let duplicates = deliver(&e, history, &all).await;
    assert_eq!(
        duplicates,
        all.len(),
        "invariant 1: a re-sent delivery was not recognised as a duplicate"
    );
    assert_eq!(
        store.list_objects(&Filter::all()).await.expect("list"),
        before,
        "invariant 1: duplicates changed objects"
    );
    assert_eq!(
        store.list_audit(&Filter::all()).await.expect("audit").len(),
        audit_before,
        "duplicates must not grow the audit log"
    );
}

/// Invariant 2: every field holds a value observed at the newest rank for that field, and
/// exactly that value when the newest rank is unambiguous.
pub async fn check_stale_never_overwrites(
    factory: StoreFactory<'_>,
    history: &History,
    schedule: &[usize],
) {
    let store = factory();
    let e = engine(store.clone(), OwnershipMode::Bidirectional);
    deliver(&e, history, schedule).await;
    for object in store.list_objects(&Filter::all()).await.expect("list") {
        for (field, register) in &object.external {
            let observed: Vec<(DateTime<Utc>, &serde_json::Value)> = history
                .deliveries
                .iter()
                .filter_map(|d| match &d.change {
                    SimChange::Observed(o) if o.native_id == object.key.native_id.as_str() => {
                        o.fields.get(field).map(|v| (o.updated_at, v))
                    }
                    _ => None,
                })
                .collect();
            let newest = observed
                .iter()
                .map(|(t, _)| *t)
                .max()
                .expect("a projected field was observed");
            let candidates: Vec<&serde_json::Value> = observed
                .iter()
                .filter(|(t, _)| *t == newest)
                .map(|(_, v)| *v)
                .collect();
            assert!(
                candidates.contains(&&register.value),
                "invariant 2: {field} of {} holds a stale value",
                object.key
            );
            let distinct = candidates.iter().any(|v| **v != register.value);
            assert_eq!(
                register.ambiguous, distinct,
                "invariant 2: ambiguity of {field} misjudged"
            );
        }
    }
}

fn observed(id: &str, native: &str, at: DateTime<Utc>, fields: Fields) -> SimDelivery {
    SimDelivery {
        id: id.into(),
        target: TARGET.into(),
        change: SimChange::Observed(SimObject {
            kind: ResourceKind::Issue,
            native_id: native.into(),
            updated_at: at,
            fields,
        }),
    }
}

fn with(base: &Fields, name: &str, value: &str) -> Fields {
    let mut f = base.clone();
    f.insert(name.into(), value.into());
    f
}

async fn ingest(e: &Engine, d: &SimDelivery) {
    e.ingest(&BindingId::new(TARGET), d.request(TOKEN), now())
        .await
        .expect("ingest");
}

async fn intents(store: &dyn SyncStore) -> Vec<crate::write_intent::WriteIntent> {
    store
        .list_write_intents(&Filter::all(), None)
        .await
        .expect("intents")
}

/// Invariant 2: equal timestamps with different content schedule a hydrate, whichever
/// arrives first, and an authoritative read settles it.
pub async fn check_tie_schedules_hydrate(
    factory: StoreFactory<'_>,
    fields: &Fields,
    other_title: &str,
) {
    let at = now() - Duration::hours(1);
    let a = observed("tie-a", "7", at, fields.clone());
    let b = observed("tie-b", "7", at, with(fields, "title", other_title));
    let mut results = Vec::new();
    for order in [[&a, &b], [&b, &a]] {
        let store = factory();
        let e = engine(store.clone(), OwnershipMode::Bidirectional);
        for d in order {
            ingest(&e, d).await;
        }
        let s = summarize(store.as_ref()).await;
        let differ = fields.get("title").and_then(|t| t.as_str()) != Some(other_title);
        assert_eq!(
            s[0].awaiting_hydrate, differ,
            "invariant 2: a tie with different content must await a hydrate"
        );
        if differ {
            let audit = store.list_audit(&Filter::all()).await.expect("audit");
            assert!(
                audit.iter().any(|r| r.action == "hydrate.scheduled"),
                "invariant 2: no hydrate scheduled"
            );
        }
        let truth = SimObject {
            kind: ResourceKind::Issue,
            native_id: "7".into(),
            updated_at: at,
            fields: with(fields, "title", other_title),
        };
        e.backfill(
            &BindingId::new(TARGET),
            ResourceKind::Issue,
            &[serde_json::to_value(&truth).expect("json")],
            false,
            now(),
        )
        .await
        .expect("hydrate");
        let s = summarize(store.as_ref()).await;
        assert!(
            !s[0].awaiting_hydrate,
            "an authoritative read must settle the tie"
        );
        assert_eq!(
            s[0].fields.get("title").and_then(|t| t.as_str()),
            Some(other_title)
        );
        results.push(s);
    }
    assert_eq!(
        results[0], results[1],
        "invariant 2: tie resolution depends on order"
    );
}

/// Invariant 3: a write that comes back as a webhook confirms its intent and causes no
/// further write, even when echoed twice.
pub async fn check_echo_confirms(factory: StoreFactory<'_>, fields: &Fields, title: &str) {
    let store = factory();
    let e = engine(store.clone(), OwnershipMode::Bidirectional);
    let t0 = now() - Duration::hours(2);
    ingest(&e, &observed("o", "9", t0, fields.clone())).await;
    let mut change = Fields::new();
    change.insert("title".into(), title.into());
    e.local_change(
        &BindingId::new(TARGET),
        ResourceKind::Issue,
        &NativeId::new("9"),
        change,
        Actor::user("alice"),
        now(),
    )
    .await
    .expect("local change");
    let created = intents(store.as_ref()).await;
    let unchanged = fields.get("title").and_then(|t| t.as_str()) == Some(title);
    assert_eq!(
        created.len(),
        usize::from(!unchanged),
        "a local change makes exactly one intent"
    );
    ingest(
        &e,
        &observed(
            "echo-1",
            "9",
            t0 + Duration::minutes(1),
            with(fields, "title", title),
        ),
    )
    .await;
    ingest(
        &e,
        &observed(
            "echo-2",
            "9",
            t0 + Duration::minutes(2),
            with(fields, "title", title),
        ),
    )
    .await;
    let after = intents(store.as_ref()).await;
    assert_eq!(
        after.len(),
        created.len(),
        "invariant 3: an echo caused another write"
    );
    assert!(
        after.iter().all(|i| i.phase == WritePhase::Confirmed),
        "invariant 3: the echo did not confirm the intent"
    );
    assert!(
        store
            .list_conflicts(&Filter::all())
            .await
            .expect("conflicts")
            .is_empty(),
        "an echo is not a conflict"
    );
}

/// Invariant 5: both sides changing one field to different values is a conflict with the
/// three values; changes to different fields merge.
pub async fn check_conflict_and_merge(
    factory: StoreFactory<'_>,
    fields: &Fields,
    local: &str,
    external: &str,
) {
    let base_title = fields
        .get("title")
        .and_then(|t| t.as_str())
        .unwrap_or_default()
        .to_owned();
    let t0 = now() - Duration::hours(2);
    let mut change = Fields::new();
    change.insert("title".into(), local.into());
    // Same field.
    let store = factory();
    let e = engine(store.clone(), OwnershipMode::Bidirectional);
    ingest(&e, &observed("o", "5", t0, fields.clone())).await;
    e.local_change(
        &BindingId::new(TARGET),
        ResourceKind::Issue,
        &NativeId::new("5"),
        change.clone(),
        Actor::user("alice"),
        now(),
    )
    .await
    .expect("local");
    ingest(
        &e,
        &observed(
            "x",
            "5",
            t0 + Duration::minutes(1),
            with(fields, "title", external),
        ),
    )
    .await;
    let conflicts = store
        .list_conflicts(&Filter::all())
        .await
        .expect("conflicts");
    let both_changed = local != base_title && external != base_title && local != external;
    assert_eq!(
        conflicts.len(),
        usize::from(both_changed),
        "invariant 5: same-field change conflict count"
    );
    if let Some(c) = conflicts.first() {
        assert_eq!(c.reason, ConflictReason::BothChanged);
        assert_eq!(c.fields.len(), 1);
        assert_eq!(
            (
                c.fields[0].field.as_str(),
                &c.fields[0].base,
                &c.fields[0].local,
                &c.fields[0].external
            ),
            (
                "title",
                &serde_json::json!(base_title),
                &serde_json::json!(local),
                &serde_json::json!(external)
            )
        );
        assert!(
            intents(store.as_ref())
                .await
                .iter()
                .all(|i| i.phase == WritePhase::Conflicted)
        );
    }
    // Different fields.
    let store = factory();
    let e = engine(store.clone(), OwnershipMode::Bidirectional);
    ingest(&e, &observed("o", "5", t0, fields.clone())).await;
    e.local_change(
        &BindingId::new(TARGET),
        ResourceKind::Issue,
        &NativeId::new("5"),
        change,
        Actor::user("alice"),
        now(),
    )
    .await
    .expect("local");
    let flipped = if fields.get("state").and_then(|s| s.as_str()) == Some("open") {
        "closed"
    } else {
        "open"
    };
    ingest(
        &e,
        &observed(
            "x",
            "5",
            t0 + Duration::minutes(1),
            with(fields, "state", flipped),
        ),
    )
    .await;
    assert!(
        store
            .list_conflicts(&Filter::all())
            .await
            .expect("conflicts")
            .is_empty(),
        "invariant 5: different fields must merge"
    );
    let object = store
        .list_objects(&Filter::all())
        .await
        .expect("objects")
        .remove(0);
    assert_eq!(
        object.field("state"),
        Some(&serde_json::json!(flipped)),
        "the external change is kept"
    );
    if local != base_title {
        assert_eq!(
            object.pending().get("title"),
            Some(&serde_json::json!(local)),
            "the local change is still pending"
        );
    }
}

/// A conflict is resolved, not only listed: each decision (the host's value, the
/// provider's, a merged value) ends the conflict with who decided, writes exactly what it
/// says, and the same pair of values never raises the conflict again, whatever is
/// redelivered. A second decision, a value for another field and a writing decision on a
/// mirrored object are refused.
pub async fn check_conflict_decisions(
    factory: StoreFactory<'_>,
    fields: &Fields,
    local: &str,
    external: &str,
) {
    use crate::conflict::ConflictDecision;
    let base_title = fields
        .get("title")
        .and_then(|t| t.as_str())
        .unwrap_or_default()
        .to_owned();
    if local == base_title || external == base_title || local == external {
        return; // no conflict to decide
    }
    let t0 = now() - Duration::hours(2);
    let id = BindingId::new(TARGET);
    let merged = format!("{local} / {external}");
    let decisions = [
        ConflictDecision::TakeLocal,
        ConflictDecision::TakeExternal,
        ConflictDecision::Value([("title".to_owned(), merged.clone().into())].into()),
    ];
    for decision in decisions {
        let store = factory();
        let e = engine(store.clone(), OwnershipMode::Bidirectional);
        ingest(&e, &observed("o", "5", t0, fields.clone())).await;
        e.local_change(
            &id,
            ResourceKind::Issue,
            &NativeId::new("5"),
            [("title".to_owned(), local.into())].into(),
            Actor::user("alice"),
            now(),
        )
        .await
        .expect("local");
        let theirs = with(fields, "title", external);
        ingest(
            &e,
            &observed("x", "5", t0 + Duration::minutes(1), theirs.clone()),
        )
        .await;
        let open = store
            .list_conflicts(&Filter::all())
            .await
            .expect("conflicts");
        assert_eq!(open.len(), 1, "a conflict to decide");
        let conflict = open[0].clone();
        let before = intents(store.as_ref()).await.len();

        // Only the conflict's fields can be given values.
        let stray = ConflictDecision::Value([("body".to_owned(), "x".into())].into());
        assert!(
            e.resolve_conflict(&conflict.id, stray, Actor::user("bob"), now())
                .await
                .is_err(),
            "a value for a field not in conflict is refused"
        );

        let record = e
            .resolve_conflict(&conflict.id, decision.clone(), Actor::user("bob"), now())
            .await
            .expect("resolve");
        let resolution = record.resolution.clone().expect("resolved");
        assert_eq!(resolution.by, "user:bob", "who decided is recorded");
        assert_eq!(resolution.decision.as_ref(), Some(&decision));
        let stored = store
            .get_conflict(&conflict.id)
            .await
            .expect("get")
            .expect("kept");
        assert!(!stored.is_open(), "the stored record is resolved");
        let audit = store.list_audit(&Filter::all()).await.expect("audit");
        assert!(
            audit
                .iter()
                .any(|a| a.action == "conflict.resolved" && a.actor == "user:bob"),
            "the decision is audited with who decided"
        );
        let all = intents(store.as_ref()).await;
        let object = store
            .load_object(&crate::ObjectKey::new(
                KIND,
                TARGET,
                ResourceKind::Issue,
                "5",
            ))
            .await
            .expect("load")
            .expect("object");
        let wanted = match &decision {
            ConflictDecision::TakeLocal => Some(local.to_owned()),
            ConflictDecision::Value(_) => Some(merged.clone()),
            _ => None,
        };
        match &wanted {
            Some(title) => {
                assert_eq!(all.len(), before + 1, "the decision writes once");
                let written = all
                    .iter()
                    .find(|i| Some(&i.id) == resolution.write_intent.as_ref())
                    .expect("the resolution names its intent");
                assert_eq!(written.reason, IntentReason::ConflictResolution);
                assert_eq!(written.fields.get("title"), Some(&serde_json::json!(title)));
                assert_eq!(
                    written.base.get("title"),
                    Some(&serde_json::json!(external)),
                    "based on the provider's current value"
                );
                assert_eq!(written.source, Actor::user("bob"));
                assert_eq!(
                    object.pending().get("title"),
                    Some(&serde_json::json!(title))
                );
            }
            None => {
                assert_eq!(
                    all.len(),
                    before,
                    "taking the provider's value writes nothing"
                );
                assert!(resolution.write_intent.is_none());
                assert!(object.pending().is_empty(), "the host's value is dropped");
                assert_eq!(object.field("title"), Some(&serde_json::json!(external)));
            }
        }

        // The same pair of values never comes back: redeliveries and later observations
        // of the provider's value raise nothing.
        ingest(
            &e,
            &observed("x", "5", t0 + Duration::minutes(1), theirs.clone()),
        )
        .await;
        ingest(
            &e,
            &observed("x2", "5", t0 + Duration::minutes(1), theirs.clone()),
        )
        .await;
        let later = with(&theirs, "state", "open");
        ingest(&e, &observed("x3", "5", t0 + Duration::minutes(2), later)).await;
        let conflicts = store
            .list_conflicts(&Filter::all())
            .await
            .expect("conflicts");
        assert_eq!(conflicts.len(), 1, "no new conflict for the same values");
        assert!(conflicts.iter().all(|c| !c.is_open()));

        // Deciding again is refused.
        assert!(
            e.resolve_conflict(
                &conflict.id,
                ConflictDecision::TakeExternal,
                Actor::user("eve"),
                now()
            )
            .await
            .is_err(),
            "a resolved conflict is not decided twice"
        );
    }

    // A mirrored object's conflict can only take the provider's value.
    let store = factory();
    let e = engine(store.clone(), OwnershipMode::Mirror);
    ingest(&e, &observed("o", "5", t0, fields.clone())).await;
    e.local_change(
        &id,
        ResourceKind::Issue,
        &NativeId::new("5"),
        [("title".to_owned(), local.into())].into(),
        Actor::user("alice"),
        now(),
    )
    .await
    .expect("local");
    let conflict = store
        .list_conflicts(&Filter::all())
        .await
        .expect("conflicts")
        .remove(0);
    assert!(
        e.resolve_conflict(
            &conflict.id,
            ConflictDecision::TakeLocal,
            Actor::user("bob"),
            now()
        )
        .await
        .is_err(),
        "a mirror is never written"
    );
    let record = e
        .resolve_conflict(
            &conflict.id,
            ConflictDecision::TakeExternal,
            Actor::user("bob"),
            now(),
        )
        .await
        .expect("take external");
    assert!(!record.is_open());
    assert!(intents(store.as_ref()).await.is_empty());
}

/// Invariant 6: a local-owned object's external drift yields a revert write intent, and
/// the echo of the revert causes no further write.
pub async fn check_local_owned_drift(factory: StoreFactory<'_>, fields: &Fields, drifted: &str) {
    let store = factory();
    let e = engine(store.clone(), OwnershipMode::LocalOwned);
    let t0 = now() - Duration::hours(2);
    ingest(&e, &observed("o", "3", t0, fields.clone())).await;
    assert!(
        intents(store.as_ref()).await.is_empty(),
        "adopting an object writes nothing"
    );
    ingest(
        &e,
        &observed(
            "drift",
            "3",
            t0 + Duration::minutes(1),
            with(fields, "title", drifted),
        ),
    )
    .await;
    let made = intents(store.as_ref()).await;
    let drift = fields.get("title").and_then(|t| t.as_str()) != Some(drifted);
    assert_eq!(
        made.len(),
        usize::from(drift),
        "invariant 6: drift must yield exactly one write intent"
    );
    if let Some(i) = made.first() {
        assert_eq!(i.reason, IntentReason::DriftRevert);
        assert_eq!(i.fields.get("title"), fields.get("title"));
    }
    ingest(
        &e,
        &observed(
            "revert-echo",
            "3",
            t0 + Duration::minutes(2),
            fields.clone(),
        ),
    )
    .await;
    let after = intents(store.as_ref()).await;
    assert_eq!(
        after.len(),
        made.len(),
        "invariant 3: the revert's echo caused another write"
    );
    assert!(after.iter().all(|i| i.phase == WritePhase::Confirmed));
}

/// Invariant 6: a mirror's local deletion never produces a provider delete, and a local
/// change to a mirror is a conflict, never a write.
pub async fn check_mirror_never_writes(factory: StoreFactory<'_>, fields: &Fields, title: &str) {
    let store = factory();
    let e = engine(store.clone(), OwnershipMode::Mirror);
    ingest(
        &e,
        &observed("o", "4", now() - Duration::hours(1), fields.clone()),
    )
    .await;
    let mut change = Fields::new();
    change.insert("title".into(), title.into());
    e.local_change(
        &BindingId::new(TARGET),
        ResourceKind::Issue,
        &NativeId::new("4"),
        change,
        Actor::user("alice"),
        now(),
    )
    .await
    .expect("local");
    e.local_delete(
        &BindingId::new(TARGET),
        ResourceKind::Issue,
        &NativeId::new("4"),
        Actor::user("alice"),
        now(),
    )
    .await
    .expect("delete");
    assert!(
        intents(store.as_ref()).await.is_empty(),
        "invariant 6: a mirror produced a provider write"
    );
    let conflicts = store
        .list_conflicts(&Filter::all())
        .await
        .expect("conflicts");
    let changed = fields.get("title").and_then(|t| t.as_str()) != Some(title);
    assert_eq!(
        conflicts.len(),
        usize::from(changed),
        "invariant 5: a local mutation of a mirror must be a conflict"
    );
    assert!(
        conflicts
            .iter()
            .all(|c| c.reason == ConflictReason::LocalMutationOfExternalOwned)
    );
}

/// Invariant 9: a delivery for another target is rejected and applies nothing.
pub async fn check_cross_org_rejected(factory: StoreFactory<'_>, fields: &Fields) {
    let store = factory();
    let e = engine(store.clone(), OwnershipMode::Bidirectional);
    let mut d = observed("foreign", "8", now(), fields.clone());
    d.target = "someone-else/repo".into();
    let (_, report) = e
        .ingest(&BindingId::new(TARGET), d.request(TOKEN), now())
        .await
        .expect("ingest");
    let report = report.expect("accepted then processed");
    assert_eq!(
        report.phase,
        Some(crate::delivery::DeliveryPhase::Rejected),
        "invariant 9: a cross-org delivery was not rejected"
    );
    assert!(
        store
            .list_objects(&Filter::all())
            .await
            .expect("objects")
            .is_empty(),
        "invariant 9: a cross-org delivery was applied"
    );
}

/// Invariant 9: the webhook secret never appears in errors, audit records, stored records
/// or the Debug output of the engine's bindings.
pub async fn check_secrets_never_leak(factory: StoreFactory<'_>, fields: &Fields) {
    let store = factory();
    let e = engine(store.clone(), OwnershipMode::Bidirectional);
    let good = observed("s-1", "11", now(), fields.clone());
    ingest(&e, &good).await;
    let mut errors = Vec::new();
    for token in ["wrong-token", ""] {
        let mut d = observed("s-2", "11", now(), fields.clone());
        d.id = format!("s-{token}");
        let err = e
            .ingest(&BindingId::new(TARGET), d.request(token), now())
            .await
            .expect_err("a wrong token is refused");
        errors.push(format!("{err} {err:?}"));
    }
    let bindings: Vec<String> = e
        .bindings()
        .map(|b| format!("{b:?} {}", serde_json::to_string(b).unwrap_or_default()))
        .collect();
    let audit = serde_json::to_string(&store.list_audit(&Filter::all()).await.expect("audit"))
        .expect("json");
    let deliveries = format!(
        "{:?}",
        store
            .list_deliveries(&Filter::all(), None)
            .await
            .expect("deliveries")
    );
    for (what, text) in [
        ("errors", errors.join(" ")),
        ("bindings", bindings.join(" ")),
        ("audit", audit),
        ("deliveries", deliveries),
    ] {
        assert!(
            !text.contains(TOKEN),
            "invariant 9: the secret leaked into {what}"
        );
    }
}

/// Invariant 10: every applied event, every rejected delivery and every write-intent
/// transition leaves an audit record.
pub async fn check_audit_complete(factory: StoreFactory<'_>, fields: &Fields, title: &str) {
    let store = factory();
    let e = engine(store.clone(), OwnershipMode::Bidirectional);
    let t0 = now() - Duration::hours(1);
    ingest(&e, &observed("a-1", "12", t0, fields.clone())).await;
    let _ = e
        .ingest(
            &BindingId::new(TARGET),
            observed("a-bad", "12", t0, fields.clone()).request("nope"),
            now(),
        )
        .await;
    let mut change = Fields::new();
    change.insert("title".into(), title.into());
    e.local_change(
        &BindingId::new(TARGET),
        ResourceKind::Issue,
        &NativeId::new("12"),
        change,
        Actor::user("alice"),
        now(),
    )
    .await
    .expect("local");
    ingest(
        &e,
        &observed(
            "a-2",
            "12",
            t0 + Duration::minutes(1),
            with(fields, "title", title),
        ),
    )
    .await;
    let audit = store.list_audit(&Filter::all()).await.expect("audit");
    let count = |action: &str| audit.iter().filter(|r| r.action == action).count();
    assert_eq!(
        count("event.applied"),
        2,
        "invariant 10: every applied event is audited"
    );
    assert_eq!(
        count("delivery.accepted"),
        2,
        "invariant 10: every accepted delivery is audited"
    );
    assert_eq!(
        count("delivery.rejected"),
        1,
        "invariant 10: a rejected delivery is audited"
    );
    let changed = fields.get("title").and_then(|t| t.as_str()) != Some(title);
    assert_eq!(
        count("write_intent.created"),
        usize::from(changed),
        "invariant 10: intent creation is audited"
    );
    assert_eq!(
        count("write_intent.confirmed"),
        usize::from(changed),
        "invariant 10: intent confirmation is audited"
    );
    assert!(
        audit.iter().all(|r| r.org.as_str() == "acme"),
        "every audit record carries its org"
    );
}

/// Invariants 5 and 7: an applied write that is never confirmed becomes a conflict after
/// its deadline; a local deletion of a bidirectional object is a delete intent when the
/// provider can delete.
pub async fn check_unconfirmed_writes_conflict(
    factory: StoreFactory<'_>,
    fields: &Fields,
    title: &str,
) {
    let store = factory();
    let e = engine(store.clone(), OwnershipMode::Bidirectional);
    ingest(
        &e,
        &observed("u-1", "13", now() - Duration::hours(1), fields.clone()),
    )
    .await;
    let mut change = Fields::new();
    change.insert("title".into(), format!("{title} (edited)").into());
    e.local_change(
        &BindingId::new(TARGET),
        ResourceKind::Issue,
        &NativeId::new("13"),
        change,
        Actor::user("alice"),
        now(),
    )
    .await
    .expect("local");
    let id = intents(store.as_ref()).await.remove(0).id;
    e.start_write(&id, now()).await.expect("start");
    let applied = e
        .finish_write(
            &id,
            crate::WriteResult::Succeeded {
                native_id: None,
                version: Default::default(),
            },
            now(),
        )
        .await
        .expect("finish");
    assert_eq!(applied.phase, WritePhase::Applied);
    assert_eq!(
        e.tick(now() + Duration::minutes(5)).await.expect("tick"),
        0,
        "not yet past the deadline"
    );
    assert_eq!(
        e.tick(now() + Duration::hours(1)).await.expect("tick"),
        1,
        "invariant 5: an unconfirmed write past its deadline is a conflict"
    );
    let conflicts = store
        .list_conflicts(&Filter::all())
        .await
        .expect("conflicts");
    assert!(
        conflicts
            .iter()
            .any(|c| c.reason == ConflictReason::UnconfirmedWrite
                && c.write_intent.as_deref() == Some(id.as_str()))
    );
    assert_eq!(
        store
            .get_write_intent(&id)
            .await
            .expect("get")
            .map(|i| i.phase),
        Some(WritePhase::Conflicted)
    );

    e.local_delete(
        &BindingId::new(TARGET),
        ResourceKind::Issue,
        &NativeId::new("13"),
        Actor::user("alice"),
        now(),
    )
    .await
    .expect("delete");
    let delete = intents(store.as_ref())
        .await
        .into_iter()
        .find(|i| i.operation == crate::write_intent::WriteOperation::Delete);
    assert!(
        delete.is_some(),
        "invariant 7: a provider that can delete gets a delete intent"
    );
}

/// Invariant 4: a create whose response was lost is retried by adopting the object that
/// carries its idempotency marker, never by creating a second one; an update applied
/// through the executor is confirmed by its read-back and causes no further write; a
/// precondition failure becomes a conflict with the provider's message.
pub async fn check_writes_never_duplicate(factory: StoreFactory<'_>, fields: &Fields, title: &str) {
    use super::simulated::{SimFailure, SimulatedIssues};
    let store = factory();
    let e = engine(store.clone(), OwnershipMode::Bidirectional);
    let provider = SimulatedIssues::new();
    let exec = crate::WriteExecutor::new(&e, &provider);
    let binding = BindingId::new(TARGET);

    // A create whose first response is lost.
    let mut draft = Fields::new();
    draft.insert("title".into(), title.into());
    draft.insert("body".into(), "Created by the host".into());
    e.local_change(
        &binding,
        ResourceKind::Issue,
        &NativeId::new("local-1"),
        draft,
        Actor::user("alice"),
        now(),
    )
    .await
    .expect("local");
    let id = intents(store.as_ref()).await.remove(0).id;
    provider.fail_next(SimFailure::LoseResponse);
    let first = exec.execute(&id, now()).await.expect("execute");
    assert_eq!(
        first.phase,
        WritePhase::Failed,
        "an unknown outcome is retried"
    );
    assert_eq!(provider.creates(), 1);
    let later = first.next_attempt_at.expect("a retry time");
    assert!(
        exec.run_due(later - Duration::milliseconds(1))
            .await
            .expect("run")
            .is_empty(),
        "a retry waits for its time"
    );
    let second = exec.run_due(later).await.expect("run");
    assert_eq!(second.len(), 1);
    assert_eq!(
        provider.creates(),
        1,
        "invariant 4: a retried create created a second object"
    );
    assert_eq!(
        second[0].phase,
        WritePhase::Confirmed,
        "the adopted object confirms the create"
    );
    let created = second[0]
        .result_native_id
        .clone()
        .expect("the created native id");
    let local_ref = crate::ObjectKey::new(KIND, TARGET, ResourceKind::Issue, "local-1");
    let local_ref = store
        .load_object(&local_ref)
        .await
        .expect("load")
        .expect("the host's local ref");
    assert_eq!(
        local_ref.created_as.as_ref(),
        Some(&created),
        "the local ref names the created object"
    );
    assert!(
        local_ref.pending().is_empty(),
        "nothing of the create is still pending on the local ref"
    );
    let real = crate::ObjectKey::new(KIND, TARGET, ResourceKind::Issue, created.as_str());
    let real = store
        .load_object(&real)
        .await
        .expect("load")
        .expect("the created object is projected");
    assert_eq!(real.field("title"), Some(&serde_json::json!(title)));

    // An update through the executor: confirmed by the read-back, no further write.
    let native = provider.seed_issue(
        40,
        crate::object::Issue::from_fields(&with(&with(fields, "title", "seeded"), "number", "40"))
            .unwrap_or_else(|_| {
                crate::object::Issue::from_fields(&issue_fields(fields)).expect("complete issue")
            }),
    );
    let seeded = provider
        .get_issue(&ExternalTarget::from_path(TARGET), 40)
        .await
        .expect("seeded");
    let read = SimObject {
        kind: ResourceKind::Issue,
        native_id: native.to_string(),
        updated_at: seeded.version.updated_at.unwrap_or_default(),
        fields: seeded.object.to_fields(),
    };
    e.backfill(
        &binding,
        ResourceKind::Issue,
        &[serde_json::to_value(&read).expect("json")],
        false,
        now(),
    )
    .await
    .expect("backfill");
    let mut change = Fields::new();
    change.insert("title".into(), format!("{title} (host)").into());
    e.local_change(
        &binding,
        ResourceKind::Issue,
        &native,
        change,
        Actor::user("alice"),
        now(),
    )
    .await
    .expect("local");
    let done = exec.run_due(now()).await.expect("run");
    assert_eq!(done.len(), 1);
    assert_eq!(
        done[0].phase,
        WritePhase::Confirmed,
        "the read-back confirms the update"
    );
    assert!(
        exec.run_due(now() + Duration::hours(1))
            .await
            .expect("run")
            .is_empty(),
        "invariant 3: nothing more to write"
    );

    // A precondition failure.
    let current = provider
        .get_issue(&ExternalTarget::from_path(TARGET), 40)
        .await
        .expect("issue")
        .object
        .state;
    let flipped = if current == crate::object::IssueState::Open {
        "closed"
    } else {
        "open"
    };
    let mut change = Fields::new();
    change.insert("state".into(), flipped.into());
    e.local_change(
        &binding,
        ResourceKind::Issue,
        &native,
        change,
        Actor::user("alice"),
        now(),
    )
    .await
    .expect("local");
    provider.fail_next(SimFailure::Precondition(
        "Validation Failed: state is locked".into(),
    ));
    let done = exec.run_due(now()).await.expect("run");
    assert_eq!(done[0].phase, WritePhase::Conflicted);
    let conflicts = store
        .list_conflicts(&Filter::all())
        .await
        .expect("conflicts");
    assert!(
        conflicts
            .iter()
            .any(|c| c.reason == ConflictReason::PreconditionFailed
                && c.message.as_deref() == Some("Validation Failed: state is locked"))
    );

    // A write the provider cannot perform as asked: a conflict with its reason, and the
    // provider's form of the field beside the host's.
    let mut change = Fields::new();
    change.insert("body".into(), "a plain body".into());
    e.local_change(
        &binding,
        ResourceKind::Issue,
        &native,
        change,
        Actor::user("alice"),
        now(),
    )
    .await
    .expect("local");
    let mut original = Fields::new();
    original.insert(
        "body".into(),
        serde_json::json!({"type": "doc", "content": []}),
    );
    provider.fail_next(SimFailure::Refuse(
        ConflictReason::LossyFormat,
        "the description holds a panel Markdown cannot".into(),
        original,
    ));
    let done = exec.run_due(now()).await.expect("run");
    assert_eq!(done[0].phase, WritePhase::Conflicted);
    let conflicts = store
        .list_conflicts(&Filter::all())
        .await
        .expect("conflicts");
    let lossy = conflicts
        .iter()
        .find(|c| c.reason == ConflictReason::LossyFormat)
        .expect("a lossy_format conflict");
    assert_eq!(lossy.fields[0].local, "a plain body");
    assert_eq!(lossy.fields[0].external["type"], "doc");
}

use crate::IssueTracking as _;
use crate::object::Canonical as _;

/// Complete issue fields from generated ones (number 40, the rest defaulted).
fn issue_fields(fields: &Fields) -> Fields {
    let mut f = crate::object::Issue {
        number: 40,
        title: String::new(),
        body: None,
        state: crate::object::IssueState::Open,
        state_reason: None,
        labels: vec![],
        assignees: vec![],
        milestone: None,
        locked: false,
        author: None,
        created_at: None,
        closed_at: None,
        html_url: None,
        pull_request: false,
    }
    .to_fields();
    f.extend(fields.clone());
    f.insert("title".into(), "seeded".into());
    f
}

/// Batched processing is only an optimisation: receiving a schedule of deliveries and
/// processing them in batches (several about one object in the same batch included)
/// gives the state, audit of applied events and reports that one-by-one processing gives.
pub async fn check_batches_match_one_by_one(
    factory: StoreFactory<'_>,
    history: &History,
    schedule: &[usize],
    batch: usize,
) {
    let (one, many) = (factory(), factory());
    let e1 = engine(one.clone(), OwnershipMode::Bidirectional);
    deliver(&e1, history, schedule).await;
    let e2 = engine(many.clone(), OwnershipMode::Bidirectional);
    let mut accepted = Vec::new();
    for &i in schedule {
        if let Receipt::Accepted(id) = e2
            .receive(
                &BindingId::new(TARGET),
                history.deliveries[i].request(TOKEN),
                now(),
            )
            .await
            .expect("receive")
        {
            accepted.push((crate::ProviderKind::new(KIND), id));
        }
    }
    let mut applied = 0;
    for chunk in accepted.chunks(batch.max(1)) {
        let reports = e2.process_batch(chunk, now()).await.expect("process batch");
        assert_eq!(reports.len(), chunk.len());
        assert!(
            reports
                .iter()
                .all(|r| r.phase == Some(crate::delivery::DeliveryPhase::Processed)),
            "{reports:?}"
        );
        applied += reports.iter().map(|r| r.events).sum::<u32>();
    }
    assert_eq!(
        applied as usize,
        accepted.len(),
        "one event per simulated delivery"
    );
    assert_eq!(
        summarize(one.as_ref()).await,
        summarize(many.as_ref()).await,
        "batched processing changed the projection"
    );
    let events = |audit: Vec<crate::audit::AuditRecord>| {
        audit
            .into_iter()
            .filter(|a| a.action == "event.applied")
            .count()
    };
    assert_eq!(
        events(one.list_audit(&Filter::all()).await.expect("audit")),
        events(many.list_audit(&Filter::all()).await.expect("audit")),
        "invariant 10: batched processing audits every event once"
    );
    let processed = many
        .list_deliveries(
            &Filter::all(),
            Some(crate::delivery::DeliveryPhase::Processed),
        )
        .await
        .expect("deliveries");
    assert_eq!(processed.len(), accepted.len());
}

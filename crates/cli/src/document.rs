//! The replay output: one deterministic JSON document of the final state.

use kradle_sync_core::SyncStore;
use kradle_sync_core::conflict::ConflictRecord;
use kradle_sync_core::delivery::{DeliveryPhase, DeliveryRecord};
use kradle_sync_core::projection::ObjectState;
use kradle_sync_core::store::Filter;
use kradle_sync_core::write_intent::WriteIntent;
use serde::Serialize;
use serde_json::{Value, json};

/// Counters of a replay run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Delivery records read.
    pub deliveries: u64,
    /// Deliveries already seen (same provider and delivery id).
    pub duplicates: u64,
    /// Deliveries refused: bad or missing signature, too large, unknown binding or
    /// provider, or a payload for another target than the binding's.
    pub rejected: u64,
    /// Canonical events produced.
    pub events: u64,
    /// Events older than what was known.
    pub stale: u64,
    /// Events that changed the projection.
    pub applied: u64,
    /// Deliveries of event types or actions out of scope.
    pub ignored: u64,
    /// Deliveries that could not be processed (malformed payloads).
    pub dead_lettered: u64,
    /// Local changes applied.
    pub local_changes: u64,
    /// Objects read from backfill records.
    pub backfilled: u64,
    /// Lines that were not valid records.
    pub invalid_lines: u64,
}

fn object(o: &ObjectState) -> Value {
    let version = o.version();
    let mut v = json!({
        "provider": o.key.provider,
        "binding": o.key.binding,
        "org": o.org,
        "kind": o.key.kind,
        "native_id": o.key.native_id,
        "fields": o.fields(),
        "version": version,
        "tombstone": o.is_tombstone(),
        "awaiting_hydrate": o.awaiting_hydrate(),
    });
    if let Some(r) = o.removed.as_ref().filter(|_| o.is_tombstone()) {
        v["removal"] = json!(r.removal);
    }
    let pending = o.pending();
    if !pending.is_empty() {
        v["local_pending"] = json!(pending);
    }
    if let Some(created) = &o.created_as {
        v["created_as"] = json!(created);
    }
    if o.local_deleted {
        v["local_deleted"] = json!(true);
    }
    if o.link != Default::default() {
        v["link"] = json!(o.link);
    }
    v
}

/// A conflict as the output shows it.
pub fn conflict(c: &ConflictRecord) -> Value {
    json!({
        "id": c.id,
        "provider": c.object.provider,
        "binding": c.object.binding,
        "kind": c.object.kind,
        "native_id": c.object.native_id,
        "reason": c.reason,
        "policy": c.policy,
        "fields": c.fields,
        "message": c.message,
        "write_intent": c.write_intent,
        "state": if c.is_open() { "open" } else { "resolved" },
        "resolution": c.resolution,
    })
}

/// A write intent as the output shows it.
pub fn intent(i: &WriteIntent) -> Value {
    json!({
        "id": i.id,
        "provider": i.target.provider,
        "binding": i.target.binding,
        "kind": i.target.kind,
        "native_id": i.target.native_id,
        "operation": i.operation,
        "fields": i.fields,
        "base": i.base,
        "state": i.phase.as_str(),
        "reason": i.reason,
        "source": format!("{}:{}", i.source.kind, i.source.name),
        "idempotency_key": i.idempotency_key,
        "request_digest": i.request_digest,
        "approval_required": i.approval_required,
        "attempts": i.attempts,
        "conflict": i.conflict,
    })
}

/// A dead-lettered delivery as the output shows it.
pub fn dead_letter(d: &DeliveryRecord) -> Value {
    json!({
        "provider": d.provider,
        "delivery_id": d.delivery_id,
        "binding": d.binding,
        "event": d.event,
        "action": d.action,
        "error": d.last_error,
        "attempts": d.attempts,
        "payload_digest": d.payload_digest,
    })
}

/// Builds the document from a store: sorted, with no engine clock and no random ids, so
/// two runs compare byte for byte.
pub async fn build(store: &dyn SyncStore, stats: &Stats) -> Result<Value, kradle_sync_core::Error> {
    let all = Filter::all();
    let objects: Vec<Value> = store.list_objects(&all).await?.iter().map(object).collect();
    let conflicts: Vec<Value> = store
        .list_conflicts(&all)
        .await?
        .iter()
        .map(conflict)
        .collect();
    let intents: Vec<Value> = store
        .list_write_intents(&all, None)
        .await?
        .iter()
        .map(intent)
        .collect();
    let dead: Vec<Value> = store
        .list_deliveries(&all, Some(DeliveryPhase::DeadLettered))
        .await?
        .iter()
        .map(dead_letter)
        .collect();
    Ok(json!({
        "objects": objects,
        "conflicts": conflicts,
        "write_intents": intents,
        "dead_letters": dead,
        "stats": stats,
    }))
}

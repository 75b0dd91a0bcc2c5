//! Authoritative reads: backfill passes and the tombstones of complete listings.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::delivery::payload_digest;
use crate::store::{CommitOutcome, SyncScope, SyncState, Transition};
use crate::{
    Authority, BindingId, CanonicalEvent, Change, DeliveryId, Error, ExternalVersion, Removal,
    ResourceKind,
};

use super::stage::Stage;
use super::{Engine, EventOutcome};

/// What a backfill pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BackfillReport {
    /// Objects read.
    pub objects: u32,
    /// Objects skipped (listed under the kind but not of it).
    pub skipped: u32,
    /// Events that changed the projection.
    pub applied: u32,
    /// Events older than the projection.
    pub stale: u32,
    /// Objects tombstoned because a complete listing no longer has them.
    pub tombstoned: u32,
}

impl Engine {
    /// Applies objects as the provider's REST API listed them: authoritative observations
    /// that settle ambiguous fields. With `complete`, the listing is the whole set of the
    /// kind, and known objects missing from it become tombstones.
    pub async fn backfill(
        &self,
        binding: &BindingId,
        kind: ResourceKind,
        objects: &[serde_json::Value],
        complete: bool,
        now: DateTime<Utc>,
    ) -> Result<BackfillReport, Error> {
        let binding = self.binding(binding)?;
        let adapter = self.adapter(&binding.provider)?;
        let read_id = DeliveryId::new(format!(
            "backfill:{}",
            payload_digest(
                serde_json::to_string(objects)
                    .unwrap_or_default()
                    .as_bytes()
            )
        ));
        let mut report = BackfillReport::default();
        let mut seen = std::collections::BTreeSet::new();
        let mut high_watermark = None;
        // One page of objects is staged and committed as one batch; an object that changed
        // concurrently is applied again on its own.
        let mut stage = Stage::default();
        let mut staged = Vec::new();
        let mut transitions = Vec::new();
        for object in objects {
            report.objects += 1;
            let Some(event) = adapter.parse_rest_object(kind, object, &read_id)? else {
                report.skipped += 1;
                continue;
            };
            seen.insert(event.native_id.clone());
            if let Change::Observed { version, .. } = &event.change {
                high_watermark = high_watermark.max(version.updated_at);
            }
            if let (outcome, Some(t)) = self.stage_event(binding, &event, now, &mut stage).await? {
                staged.push((event, outcome));
                transitions.push(t);
            }
        }
        let outcomes = self.store.commit_many(transitions).await?;
        for ((event, staged_outcome), committed) in staged.into_iter().zip(outcomes) {
            let outcome = match committed {
                CommitOutcome::Committed => staged_outcome,
                CommitOutcome::AlreadyApplied => EventOutcome::Duplicate,
                CommitOutcome::RevisionConflict => self.apply_event(binding, event, now).await?,
            };
            match outcome {
                EventOutcome::Applied => report.applied += 1,
                EventOutcome::Stale => report.stale += 1,
                _ => {}
            }
        }
        if complete {
            let filter = crate::store::Filter {
                binding: Some(binding.id.clone()),
                kind: Some(kind),
                ..Default::default()
            };
            for state in self.store.list_objects(&filter).await? {
                if seen.contains(&state.key.native_id)
                    || state.is_tombstone()
                    || !state.exists_externally()
                {
                    continue;
                }
                let event = CanonicalEvent {
                    provider: binding.provider.clone(),
                    delivery_id: read_id.clone(),
                    interface: kind.interface(),
                    kind,
                    native_id: state.key.native_id.clone(),
                    action: "missing".into(),
                    event_time: None,
                    target: None,
                    link: Default::default(),
                    authority: Authority::Authoritative,
                    change: Change::Removed {
                        version: ExternalVersion {
                            etag: None,
                            ..state.version()
                        },
                        removal: Removal::Missing,
                    },
                };
                if self.apply_event(binding, event, now).await? == EventOutcome::Applied {
                    report.tombstoned += 1;
                }
            }
        }
        let scope = SyncScope {
            provider: binding.provider.clone(),
            binding: binding.id.clone(),
            interface: Some(kind.interface()),
            kind: Some(kind),
        };
        let mut state = self
            .store
            .get_sync_state(&scope)
            .await?
            .unwrap_or_else(|| SyncState::new(scope));
        state.high_watermark = state.high_watermark.max(high_watermark);
        if complete {
            state.last_full_backfill_at = Some(now);
        }
        self.store
            .commit(Transition {
                sync_states: vec![state],
                ..Transition::default()
            })
            .await?;
        Ok(report)
    }
}

//! Conflicts decided by a person.

use chrono::{DateTime, Utc};

use crate::audit::AuditSubject;
use crate::conflict::{ConflictDecision, ConflictRecord, Resolution};
use crate::projection::{ProjectionEffect, ProjectionInput};
use crate::write_intent::Actor;
use crate::{Error, ResolutionPolicy};

use super::Engine;

impl Engine {
    /// Resolves an open conflict as a person decided: take the host's values (written to the
    /// provider through a new write intent), take the provider's (the host's values are
    /// dropped), or take given values (written where they differ from the provider's). The
    /// object's change, the intent, the resolved record and the audit entry (with who
    /// decided) are one commit. The fields leave conflict with the provider's current
    /// values as their new base, so the same pair of values never raises it again.
    ///
    /// Refused with [`Error::Validation`]: an unknown or already resolved conflict, a
    /// writing decision on a mirrored object, taking the host's value again when the
    /// provider cannot take it as it is (`lossy_format`, `no_transition`), a value for a
    /// field not in the conflict, or a field the host changed again since.
    ///
    /// ```no_run
    /// # use kradle_sync_core::{Engine, Error, conflict::ConflictDecision, write_intent::Actor};
    /// # async fn decide(engine: &Engine, id: &str) -> Result<(), Error> {
    /// let record = engine
    ///     .resolve_conflict(id, ConflictDecision::TakeLocal, Actor::user("alice"), chrono::Utc::now())
    ///     .await?;
    /// assert!(!record.is_open());
    /// # Ok(()) }
    /// ```
    pub async fn resolve_conflict(
        &self,
        id: &str,
        decision: ConflictDecision,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<ConflictRecord, Error> {
        let refuse = |rule: &'static str, detail: String| Error::Validation { rule, detail };
        let record = self.store.get_conflict(id).await?.ok_or_else(|| {
            refuse(
                "conflict-unknown",
                format!("no conflict {id} is stored; `kradle-sync conflicts` lists their ids"),
            )
        })?;
        if let Some(done) = &record.resolution {
            return Err(refuse(
                "conflict-decided",
                format!("conflict {id} was already resolved by {}", done.by),
            ));
        }
        let by = format!("{}:{}", actor.kind, actor.name);
        let input = ProjectionInput::Resolve {
            conflict: Box::new(record.clone()),
            decision: decision.clone(),
            actor: actor.clone(),
        };
        let resolved = std::sync::Mutex::new(None);
        let extend = |binding: &crate::Binding,
                      effects: &[ProjectionEffect],
                      t: &mut crate::store::Transition| {
            let intent = effects.iter().find_map(|e| match e {
                ProjectionEffect::CreateIntent(draft) => Some(draft.id.clone()),
                _ => None,
            });
            let mut done = record.clone();
            done.resolution = Some(Resolution {
                policy: ResolutionPolicy::Manual,
                by: by.clone(),
                note: None,
                decision: Some(decision.clone()),
                write_intent: intent.clone(),
            });
            let detail = serde_json::json!({
                "decision": decision,
                "write_intent": intent,
                "reason": record.reason,
                "fields": record.fields.iter().map(|f| &f.field).collect::<Vec<_>>(),
            });
            t.audit.push(Self::audit(
                binding,
                now,
                AuditSubject::Conflict(id.to_owned()),
                "conflict.resolved",
                &by,
                detail,
            ));
            t.conflicts.push(done.clone());
            if let Ok(mut slot) = resolved.lock() {
                *slot = Some(done);
            }
        };
        self.local_with(
            &record.object.binding,
            record.object.kind,
            &record.object.native_id,
            input,
            actor,
            now,
            &extend,
        )
        .await?;
        resolved
            .into_inner()
            .ok()
            .flatten()
            .ok_or_else(|| Error::Store {
                store: "engine",
                message: format!("conflict {id} was not recorded as resolved"),
                source: None,
            })
    }
}

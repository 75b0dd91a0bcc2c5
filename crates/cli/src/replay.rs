//! `kradle-sync replay`: a delivery log into a store, run to quiescence, final state out.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use kradle_sync_core::delivery::DeliveryPhase;
use kradle_sync_core::write_intent::Actor;
use kradle_sync_core::{
    Binding, BindingId, Engine, Error, Fields, Headers, NativeId, ProviderKind, ProviderRegistry,
    Receipt, ResourceKind, Secret, SyncStore, WebhookRequest,
};

use crate::document::Stats;
use crate::error::CliError;
use crate::records::{self, Record};

/// Options of a replay run.
pub struct ReplayOptions {
    /// Webhook secrets by provider.
    pub secrets: BTreeMap<String, Secret>,
    /// Declared bindings.
    pub bindings: Vec<Binding>,
    /// Stop at the first invalid line.
    pub strict: bool,
}

/// Replays `input` into `store` and returns the run's counters. Problems with single lines
/// are reported on `warn` with their line number and the run goes on (unless strict).
pub async fn run(
    input: &mut dyn BufRead,
    store: Arc<dyn SyncStore>,
    registry: &ProviderRegistry,
    options: ReplayOptions,
    warn: &mut dyn FnMut(String),
) -> Result<Stats, CliError> {
    let mut engine = Engine::builder(store).registry(registry).build()?;
    for binding in options.bindings {
        engine.add_binding(binding)?;
    }
    let mut replay = Replay {
        engine,
        secrets: options.secrets,
        stats: Stats::default(),
        warned_secret: Default::default(),
    };
    let mut line = String::new();
    let mut number = 0usize;
    loop {
        line.clear();
        let read = input.read_line(&mut line).map_err(|e| CliError::Line {
            line: number + 1,
            message: format!("cannot read: {e}"),
        })?;
        if read == 0 {
            break;
        }
        number += 1;
        if line.trim().is_empty() {
            continue;
        }
        // A logical clock: record N happens N seconds after the epoch. Output never shows
        // it, so runs stay byte-identical.
        let now = DateTime::<Utc>::UNIX_EPOCH
            + Duration::seconds(i64::try_from(number).unwrap_or(i64::MAX));
        if let Err(message) = replay.record(line.trim_end(), now, warn).await {
            if options.strict {
                return Err(CliError::Line {
                    line: number,
                    message,
                });
            }
            warn(format!("line {number}: {message}"));
        }
    }
    Ok(replay.stats)
}

struct Replay {
    engine: Engine,
    secrets: BTreeMap<String, Secret>,
    stats: Stats,
    warned_secret: std::collections::BTreeSet<String>,
}

impl Replay {
    /// Makes sure the binding a record names exists, declaring it by the naming rule.
    fn binding(&mut self, provider: &str, name: &str) -> Result<BindingId, String> {
        let id = BindingId::new(name);
        if let Ok(binding) = self.engine.binding(&id) {
            if binding.provider.as_str() != provider {
                return Err(format!(
                    "binding {name} belongs to provider {}, not {provider}",
                    binding.provider
                ));
            }
            return Ok(id);
        }
        let descriptor = self
            .engine
            .registry()
            .get(&ProviderKind::new(provider))
            .map_err(|_| crate::providers::unknown(self.engine.registry(), provider))?;
        let secret = self.secrets.get(provider).cloned();
        let binding = crate::bindings::implicit(name, descriptor, secret);
        self.engine.add_binding(binding).map_err(|e| match e {
            Error::Validation {
                rule: "webhook-secret",
                ..
            } => {
                format!(
                    "no webhook secret for provider {provider}; pass --secret {provider}=SECRET"
                )
            }
            other => other.to_string(),
        })?;
        Ok(id)
    }

    async fn record(
        &mut self,
        line: &str,
        now: DateTime<Utc>,
        warn: &mut dyn FnMut(String),
    ) -> Result<(), String> {
        let record = match records::parse(line) {
            Ok(r) => r,
            Err(message) => {
                self.stats.invalid_lines += 1;
                return Err(message);
            }
        };
        if let Record::Delivery { .. } = &record {
            self.stats.deliveries += 1;
        }
        let (provider, binding) = record.provider_and_binding();
        let binding = match self.binding(provider, binding) {
            Ok(b) => b,
            Err(message) => {
                if matches!(record, Record::Delivery { .. }) {
                    self.stats.rejected += 1;
                    if !self.warned_secret.insert(message.clone()) {
                        return Ok(());
                    }
                }
                return Err(message);
            }
        };
        match record {
            Record::Delivery { headers, body, .. } => {
                let request = WebhookRequest::new(Headers::from_pairs(headers), body.into_bytes());
                match self.engine.ingest(&binding, request, now).await {
                    Ok((Receipt::Duplicate(_), _)) => self.stats.duplicates += 1,
                    Ok((Receipt::Accepted(id), report)) => {
                        let report = report.unwrap_or_default();
                        self.stats.events += u64::from(report.events);
                        self.stats.applied += u64::from(report.applied);
                        self.stats.stale += u64::from(report.stale);
                        match report.phase {
                            Some(DeliveryPhase::Rejected) => {
                                self.stats.rejected += 1;
                                warn(format!(
                                    "delivery {id} rejected: {}",
                                    report.error.unwrap_or_default()
                                ));
                            }
                            Some(DeliveryPhase::DeadLettered | DeliveryPhase::Failed) => {
                                self.stats.dead_lettered += 1;
                                warn(format!(
                                    "delivery {id} dead-lettered: {}",
                                    report.error.unwrap_or_default()
                                ));
                            }
                            _ if report.ignored.is_some() => self.stats.ignored += 1,
                            _ => {}
                        }
                    }
                    Ok((other, _)) => {
                        return Err(format!(
                            "delivery received as {other:?}, which replay does not count"
                        ));
                    }
                    Err(err @ (Error::Store { .. } | Error::Contention { .. })) => {
                        return Err(err.to_string());
                    }
                    Err(err) => {
                        self.stats.rejected += 1;
                        return Err(format!("delivery rejected: {err}"));
                    }
                }
            }
            Record::LocalChange {
                kind,
                native_id,
                fields,
                delete,
                actor,
                ..
            } => {
                let kind = parse_kind(&kind)?;
                let actor = parse_actor(actor.as_deref());
                let native_id = NativeId::new(native_id);
                let result = if delete {
                    self.engine
                        .local_delete(&binding, kind, &native_id, actor, now)
                        .await
                } else {
                    self.engine
                        .local_change(
                            &binding,
                            kind,
                            &native_id,
                            Fields::clone(&fields),
                            actor,
                            now,
                        )
                        .await
                };
                result.map_err(|e| e.to_string())?;
                self.stats.local_changes += 1;
            }
            Record::Backfill {
                kind,
                objects,
                complete,
                ..
            } => {
                let kind = parse_kind(&kind)?;
                let report = self
                    .engine
                    .backfill(&binding, kind, &objects, complete, now)
                    .await
                    .map_err(|e| e.to_string())?;
                self.stats.backfilled += u64::from(report.objects);
                self.stats.applied += u64::from(report.applied);
                self.stats.stale += u64::from(report.stale);
            }
        }
        Ok(())
    }
}

fn parse_kind(kind: &str) -> Result<ResourceKind, String> {
    ResourceKind::parse(kind).ok_or_else(|| {
        let known: Vec<&str> = ResourceKind::ALL.iter().map(|k| k.as_str()).collect();
        format!("unknown kind `{kind}`; use one of {}", known.join(", "))
    })
}

fn parse_actor(actor: Option<&str>) -> Actor {
    match actor.and_then(|a| a.split_once(':')) {
        Some(("agent", name)) => Actor::agent(name),
        Some((_, name)) => Actor::user(name),
        None => Actor::user(actor.unwrap_or("replay")),
    }
}

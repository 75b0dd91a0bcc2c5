//! `kradle-sync conflicts`, `dead-letters`, `intents` and `deliveries replay`: inspect and
//! act on a durable store. Tables for people by default, JSON with `--json`.

use std::io::Write;

use chrono::Utc;
use kradle_sync_core::delivery::DeliveryPhase;
use kradle_sync_core::store::Filter;
use kradle_sync_core::write_intent::{WriteIntent, WritePhase};
use kradle_sync_core::{BindingId, DeliveryId, Engine, ProviderKind, SyncStore};
use serde_json::{Value, json};

use crate::document;
use crate::error::CliError;

fn filter(binding: Option<&str>) -> Filter {
    match binding {
        Some(b) => Filter::binding(BindingId::new(b)),
        None => Filter::all(),
    }
}

/// A table cell: strings as they are, `-` for nothing, other values as compact JSON.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Writes rows under a header, each column as wide as its widest cell.
fn table(out: &mut dyn Write, header: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(c);
            } else {
                text.push_str(&format!("{c:<w$}  "));
            }
        }
        text.trim_end().to_owned()
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for row in rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

fn print_json(out: &mut dyn Write, value: &Value) -> Result<(), CliError> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(|e| CliError::Usage(e.to_string()))?;
    writeln!(out)?;
    Ok(())
}

/// `conflicts`: conflict records, open ones first, then by id.
pub async fn conflicts(
    store: &dyn SyncStore,
    binding: Option<&str>,
    as_json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let mut records = store.list_conflicts(&filter(binding)).await?;
    records.sort_by(|a, b| (!a.is_open(), &a.id).cmp(&(!b.is_open(), &b.id)));
    let values: Vec<Value> = records.iter().map(document::conflict).collect();
    if as_json {
        return print_json(out, &Value::Array(values));
    }
    if values.is_empty() {
        writeln!(out, "no conflicts")?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = values
        .iter()
        .map(|c| {
            let fields: Vec<String> = c["fields"]
                .as_array()
                .map(|fs| fs.iter().map(|f| cell(&f["field"])).collect())
                .unwrap_or_default();
            vec![
                cell(&c["id"]),
                cell(&c["state"]),
                cell(&c["binding"]),
                cell(&c["kind"]),
                cell(&c["native_id"]),
                cell(&c["reason"]),
                cell(&c["policy"]),
                if fields.is_empty() {
                    "-".to_owned()
                } else {
                    fields.join(",")
                },
            ]
        })
        .collect();
    table(
        out,
        &[
            "ID",
            "STATE",
            "BINDING",
            "KIND",
            "NATIVE_ID",
            "REASON",
            "POLICY",
            "FIELDS",
        ],
        &rows,
    )?;
    Ok(())
}

/// `conflicts resolve`: the resolved conflict, as a line or as JSON.
pub fn resolved(
    record: &kradle_sync_core::conflict::ConflictRecord,
    as_json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let value = document::conflict(record);
    if as_json {
        return print_json(out, &value);
    }
    let resolution = &value["resolution"];
    let taken = match resolution["decision"]["take"].as_str() {
        Some("local") => "the host's values",
        Some("external") => "the provider's values",
        Some("value") => "the given values",
        _ => "a decision",
    };
    let then = match resolution["write_intent"].as_str() {
        Some(intent) => format!("; write intent {intent} sends them"),
        None => "; nothing is written".to_owned(),
    };
    writeln!(
        out,
        "conflict {} resolved by {}: {taken} win{then}",
        cell(&value["id"]),
        cell(&resolution["by"])
    )?;
    Ok(())
}

/// `dead-letters`: deliveries that ran out of attempts or could not be processed.
pub async fn dead_letters(
    store: &dyn SyncStore,
    binding: Option<&str>,
    as_json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let records = store
        .list_deliveries(&filter(binding), Some(DeliveryPhase::DeadLettered))
        .await?;
    let values: Vec<Value> = records.iter().map(document::dead_letter).collect();
    if as_json {
        return print_json(out, &Value::Array(values));
    }
    if values.is_empty() {
        writeln!(out, "no dead letters")?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = values
        .iter()
        .map(|d| {
            let event = match d["action"].as_str() {
                Some(action) => format!("{}.{action}", cell(&d["event"])),
                None => cell(&d["event"]),
            };
            vec![
                cell(&d["provider"]),
                cell(&d["delivery_id"]),
                cell(&d["binding"]),
                event,
                cell(&d["attempts"]),
                cell(&d["error"]),
            ]
        })
        .collect();
    table(
        out,
        &[
            "PROVIDER",
            "DELIVERY_ID",
            "BINDING",
            "EVENT",
            "ATTEMPTS",
            "ERROR",
        ],
        &rows,
    )?;
    Ok(())
}

/// The phases `intents list --phase` takes, by name.
pub const PHASES: [WritePhase; 10] = [
    WritePhase::Pending,
    WritePhase::AwaitingApproval,
    WritePhase::Approved,
    WritePhase::Applying,
    WritePhase::Applied,
    WritePhase::Confirmed,
    WritePhase::Conflicted,
    WritePhase::Failed,
    WritePhase::DeadLettered,
    WritePhase::Superseded,
];

/// A phase by its name (`awaiting_approval`, `awaiting-approval`, …).
pub fn parse_phase(name: &str) -> Result<WritePhase, CliError> {
    let wanted = name.trim().replace('-', "_");
    PHASES
        .into_iter()
        .find(|p| p.as_str() == wanted)
        .ok_or_else(|| {
            let names: Vec<&str> = PHASES.iter().map(|p| p.as_str()).collect();
            CliError::Usage(format!(
                "unknown phase `{name}`; use one of {}",
                names.join(", ")
            ))
        })
}

/// An intent as `intents` shows it: the replay document's form, and how its attempts went.
fn intent_value(i: &WriteIntent) -> Value {
    let mut value = document::intent(i);
    if let Some(map) = value.as_object_mut() {
        map.insert("approved_by".into(), json!(i.approved_by));
        map.insert("last_error".into(), json!(i.last_error));
        map.insert("next_attempt_at".into(), json!(i.next_attempt_at));
        map.insert("result_native_id".into(), json!(i.result_native_id));
        map.insert("created_at".into(), json!(i.created_at));
    }
    value
}

/// `intents list`: write intents, those awaiting approval first, then oldest first.
pub async fn intents(
    store: &dyn SyncStore,
    binding: Option<&str>,
    phase: Option<WritePhase>,
    as_json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let mut records = store.list_write_intents(&filter(binding), phase).await?;
    records.sort_by(|a, b| {
        let waiting = |i: &WriteIntent| i.phase != WritePhase::AwaitingApproval;
        (waiting(a), a.created_at, &a.id).cmp(&(waiting(b), b.created_at, &b.id))
    });
    let values: Vec<Value> = records.iter().map(intent_value).collect();
    if as_json {
        return print_json(out, &Value::Array(values));
    }
    if values.is_empty() {
        writeln!(out, "no write intents")?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = values
        .iter()
        .map(|i| {
            let fields: Vec<String> = i["fields"]
                .as_object()
                .map(|f| f.keys().cloned().collect())
                .unwrap_or_default();
            vec![
                cell(&i["id"]),
                cell(&i["state"]),
                cell(&i["binding"]),
                cell(&i["kind"]),
                cell(&i["native_id"]),
                cell(&i["operation"]),
                cell(&i["source"]),
                if fields.is_empty() {
                    "-".to_owned()
                } else {
                    fields.join(",")
                },
                cell(&i["attempts"]),
                cell(&i["last_error"]),
            ]
        })
        .collect();
    table(
        out,
        &[
            "ID",
            "STATE",
            "BINDING",
            "KIND",
            "NATIVE_ID",
            "OPERATION",
            "SOURCE",
            "FIELDS",
            "ATTEMPTS",
            "ERROR",
        ],
        &rows,
    )?;
    Ok(())
}

/// What `intents approve` and `intents reject` do to each intent.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Approve: a worker sends it next.
    Approve,
    /// Reject with this reason: dead-lettered, never sent.
    Reject(String),
}

/// `intents approve|reject`: decides each intent that awaits approval. Returns whether
/// every one was found awaiting approval and decided.
pub async fn decide(
    engine: &Engine,
    ids: &[String],
    decision: &Decision,
    by: &str,
    out: &mut dyn Write,
) -> Result<bool, CliError> {
    let mut all_ok = true;
    let mut rows = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(before) = engine.store().get_write_intent(id).await? else {
            all_ok = false;
            rows.push(vec![
                id.clone(),
                "-".into(),
                "no such write intent; `kradle-sync intents list` shows their ids".into(),
            ]);
            continue;
        };
        if before.phase != WritePhase::AwaitingApproval {
            all_ok = false;
            rows.push(vec![
                id.clone(),
                before.phase.as_str().into(),
                "does not await approval; left as it is".into(),
            ]);
            continue;
        }
        let now = Utc::now();
        let after = match decision {
            Decision::Approve => engine.approve_write(id, by, now).await?,
            Decision::Reject(reason) => engine.reject_write(id, by, reason, now).await?,
        };
        let note = match decision {
            Decision::Approve => format!("approved by {by}; a worker sends it next"),
            Decision::Reject(_) => format!("rejected by {by}; it is never sent"),
        };
        rows.push(vec![id.clone(), after.phase.as_str().into(), note]);
    }
    table(out, &["ID", "STATE", "RESULT"], &rows)?;
    Ok(all_ok)
}

/// `deliveries replay`: a new processing attempt of each stored delivery (not a new
/// delivery). Returns whether every one was found and processed.
pub async fn replay_deliveries(
    engine: &Engine,
    provider: Option<&str>,
    ids: &[String],
    as_json: bool,
    out: &mut dyn Write,
) -> Result<bool, CliError> {
    // Without --provider, every provider of the engine is asked for the id.
    let providers: Vec<ProviderKind> = match provider {
        Some(p) => vec![ProviderKind::new(p)],
        None => engine.registry().iter().map(|d| d.kind.clone()).collect(),
    };
    let mut results = Vec::with_capacity(ids.len());
    let mut all_ok = true;
    for id in ids {
        let delivery_id = DeliveryId::new(id.as_str());
        let mut found = Vec::new();
        for provider in &providers {
            if engine
                .store()
                .get_delivery(provider, &delivery_id)
                .await?
                .is_some()
            {
                found.push(provider.clone());
            }
        }
        let value = match found.as_slice() {
            [] => {
                all_ok = false;
                let of = provider.map(|p| format!(" of {p}")).unwrap_or_default();
                json!({ "delivery_id": id, "error": format!("no delivery {id}{of} is stored") })
            }
            [_, _, ..] => {
                all_ok = false;
                let names: Vec<&str> = found.iter().map(ProviderKind::as_str).collect();
                json!({ "delivery_id": id, "error": format!("delivery {id} is stored for {}; say which with --provider", names.join(" and ")) })
            }
            [provider] => {
                let report = engine
                    .replay_delivery(provider, &delivery_id, Utc::now())
                    .await?;
                let attempts = engine
                    .store()
                    .get_delivery(provider, &delivery_id)
                    .await?
                    .map(|d| d.attempts);
                if report.phase != Some(DeliveryPhase::Processed) {
                    all_ok = false;
                }
                json!({
                    "delivery_id": id,
                    "phase": report.phase.map(DeliveryPhase::as_str),
                    "attempts": attempts,
                    "events": report.events,
                    "applied": report.applied,
                    "stale": report.stale,
                    "ignored": report.ignored,
                    "error": report.error,
                })
            }
        };
        results.push(value);
    }
    if as_json {
        print_json(out, &Value::Array(results))?;
        return Ok(all_ok);
    }
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| {
            vec![
                cell(&r["delivery_id"]),
                cell(&r["phase"]),
                cell(&r["attempts"]),
                cell(&r["events"]),
                cell(&r["applied"]),
                cell(&r["error"]),
            ]
        })
        .collect();
    table(
        out,
        &[
            "DELIVERY_ID",
            "PHASE",
            "ATTEMPTS",
            "EVENTS",
            "APPLIED",
            "ERROR",
        ],
        &rows,
    )?;
    Ok(all_ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_and_trim_line_ends() {
        let mut out = Vec::new();
        table(
            &mut out,
            &["A", "BB"],
            &[
                vec!["long".into(), "x".into()],
                vec!["s".into(), "-".into()],
            ],
        )
        .unwrap_or_default();
        assert_eq!(
            String::from_utf8_lossy(&out),
            "A     BB\nlong  x\ns     -\n"
        );
    }
}

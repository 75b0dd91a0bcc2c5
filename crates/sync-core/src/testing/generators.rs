//! proptest generators of provider histories and delivery schedules.

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

use super::simulated::{SimChange, SimDelivery, SimObject};
use crate::{Fields, ResourceKind};

/// The target every generated delivery names.
pub const TARGET: &str = "acme/widgets";

/// A provider's history: the webhooks it sent, and the true final state a complete read
/// returns.
#[derive(Debug, Clone)]
pub struct History {
    /// Every delivery, each once, in the order the provider sent them.
    pub deliveries: Vec<SimDelivery>,
    /// The final state of every object that still exists.
    pub truth: Vec<SimObject>,
    /// Native ids of objects deleted at the end.
    pub deleted: Vec<String>,
}

fn base_time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_557_933_618, 0).unwrap_or_default()
}

/// Complete issue fields drawn from small sets, so different versions often share values.
pub fn arb_issue_fields() -> impl Strategy<Value = Fields> {
    (
        prop::sample::select(vec!["Spelling error", "Typo in README", "Broken link"]),
        prop::sample::select(vec!["open", "closed"]),
        prop::sample::subsequence(vec!["bug", "docs", "ui"], 0..=3),
    )
        .prop_map(|(title, state, labels)| {
            let mut f = Fields::new();
            f.insert("title".into(), title.into());
            f.insert("state".into(), state.into());
            f.insert("labels".into(), serde_json::json!(labels));
            f
        })
}

/// One object's versions: times that never decrease but often tie, complete fields, and
/// for each version which of its fields the webhook carried.
fn arb_object_versions() -> impl Strategy<Value = (Vec<(i64, Fields, Vec<bool>)>, bool)> {
    (
        prop::collection::vec(
            (
                0i64..4,
                arb_issue_fields(),
                prop::collection::vec(any::<bool>(), 3),
            ),
            1..6,
        ),
        prop::bool::weighted(0.2),
    )
}

/// A history of 1 to 4 issues with ties, partial webhooks and deletions.
pub fn arb_history() -> impl Strategy<Value = History> {
    prop::collection::vec(arb_object_versions(), 1..5).prop_map(|objects| {
        let mut deliveries = Vec::new();
        let mut truth = Vec::new();
        let mut deleted = Vec::new();
        for (n, (versions, delete)) in objects.into_iter().enumerate() {
            let native_id = format!("{}", 1000 + n);
            let mut at = base_time();
            let mut last = None;
            for (i, (step, fields, carried)) in versions.into_iter().enumerate() {
                at += Duration::seconds(step);
                let mut sent: Fields = fields
                    .iter()
                    .zip(carried.iter().chain(std::iter::repeat(&true)))
                    .filter(|(_, keep)| **keep)
                    .map(|((k, v), _)| (k.clone(), v.clone()))
                    .collect();
                if sent.is_empty() {
                    sent = fields.clone();
                }
                let object = SimObject {
                    kind: ResourceKind::Issue,
                    native_id: native_id.clone(),
                    updated_at: at,
                    fields: sent,
                };
                deliveries.push(SimDelivery {
                    id: format!("d-{native_id}-{i}"),
                    target: TARGET.into(),
                    change: SimChange::Observed(object),
                });
                last = Some(SimObject {
                    kind: ResourceKind::Issue,
                    native_id: native_id.clone(),
                    updated_at: at,
                    fields,
                });
            }
            if delete {
                at += Duration::seconds(1);
                deliveries.push(SimDelivery {
                    id: format!("d-{native_id}-deleted"),
                    target: TARGET.into(),
                    change: SimChange::Deleted {
                        kind: ResourceKind::Issue,
                        native_id: native_id.clone(),
                        updated_at: at,
                    },
                });
                deleted.push(native_id);
            } else if let Some(last) = last {
                truth.push(last);
            }
        }
        History {
            deliveries,
            truth,
            deleted,
        }
    })
}

/// A schedule of `n` deliveries: a permutation of every index plus duplicates inserted
/// anywhere after their first copy.
pub fn arb_schedule(n: usize) -> impl Strategy<Value = Vec<usize>> {
    let order = Just((0..n).collect::<Vec<_>>()).prop_shuffle();
    let dups = prop::collection::vec((0..n.max(1), any::<prop::sample::Index>()), 0..=n);
    (order, dups).prop_map(move |(mut order, dups)| {
        for (d, at) in dups {
            if n == 0 {
                break;
            }
            let first = order.iter().position(|x| *x == d).unwrap_or(0);
            let pos = first + 1 + at.index(order.len() - first);
            order.insert(pos.min(order.len()), d);
        }
        order
    })
}

/// A history with two independent schedules of its deliveries.
pub fn arb_history_and_schedules() -> impl Strategy<Value = (History, Vec<usize>, Vec<usize>)> {
    arb_history().prop_flat_map(|h| {
        let n = h.deliveries.len();
        (Just(h), arb_schedule(n), arb_schedule(n))
    })
}

//! Invariants 1 and 2 on real Jira payloads: any permutation and duplication of the Cloud
//! deliveries about one project (issue created and updated in every way Mattermost's
//! recordings show, comments created, updated and deleted), including a changelog-only
//! partial update, gives the same projection, byte for byte; and one authoritative read
//! afterwards brings every issue field to the provider's true state.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;

use chrono::DateTime;
use futures::executor::block_on;
use kradle_provider_jira::{JiraWebhooks, sign_webhook};
use kradle_store_memory::MemoryStore;
use kradle_sync_core::store::Filter;
use kradle_sync_core::testing::generators::arb_schedule;
use kradle_sync_core::{
    Binding, BindingId, Engine, ExternalTarget, Headers, Interface, NativeId, ObjectKey, Receipt,
    ResourceKind, Secret, SyncStore, WebhookRequest,
};
use proptest::prelude::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const SECRET: &str = "jira-integration-secret";
const SITE: &str = "some-instance-test.atlassian.net/TES";

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/jira/webhooks")
}

/// The compact body of every webhook fixture about `SITE` (by its issue's `self` and
/// project), sorted by path, then the derived changelog-only update.
fn bodies() -> Vec<String> {
    let mut paths = Vec::new();
    for event in std::fs::read_dir(fixtures_dir()).unwrap() {
        for file in std::fs::read_dir(event.unwrap().path()).unwrap() {
            paths.push(file.unwrap().path());
        }
    }
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let value: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let host = value
            .pointer("/issue/self")
            .and_then(Value::as_str)
            .and_then(|u| u.split('/').nth(2))
            .unwrap_or_default();
        let project = value
            .pointer("/issue/key")
            .and_then(Value::as_str)
            .and_then(|k| k.rsplit_once('-'))
            .map(|(p, _)| p)
            .unwrap_or_default();
        if format!("{host}/{project}") == SITE {
            out.push(value.to_string());
        }
    }
    out.push(changelog_only().to_string());
    out
}

/// Derived from the real `labels` delivery: its issue without `fields` (as a payload whose
/// issue lacks them), so only the changelog says what changed (the labels).
fn changelog_only() -> Value {
    let path = fixtures_dir().join("jira_issue_updated/mattermost-issue-updated-labels.json");
    let mut value: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    value["issue"]["fields"] = json!({});
    value
}

fn request(body: &str) -> WebhookRequest {
    let id = hex::encode(Sha256::digest(body.as_bytes()));
    WebhookRequest::new(
        Headers::from_pairs([
            ("X-Atlassian-Webhook-Identifier", id),
            (
                "X-Hub-Signature",
                sign_webhook(&Secret::new(SECRET), body.as_bytes()),
            ),
        ]),
        body.as_bytes().to_vec(),
    )
}

fn engine(store: Arc<dyn SyncStore>) -> Engine {
    let binding = Binding::new(
        SITE,
        "jira",
        ExternalTarget::from_path(SITE),
        &[Interface::IssueTracking],
    )
    .with_secret(Secret::new(SECRET));
    Engine::builder(store)
        .adapter(Arc::new(JiraWebhooks::new()))
        .binding(binding)
        .build()
        .unwrap()
}

fn state(store: &dyn SyncStore) -> String {
    let mut objects = block_on(store.list_objects(&Filter::all())).unwrap();
    for o in &mut objects {
        o.revision = 0;
    }
    let conflicts = block_on(store.list_conflicts(&Filter::all())).unwrap();
    serde_json::to_string(&(objects, conflicts)).unwrap()
}

fn run(all: &[String], schedule: &[usize]) -> (Arc<dyn SyncStore>, Engine, usize) {
    let store: Arc<dyn SyncStore> = Arc::new(MemoryStore::new());
    let e = engine(store.clone());
    let mut duplicates = 0;
    for &i in schedule {
        let (receipt, _) = block_on(e.ingest(
            &BindingId::new(SITE),
            request(&all[i]),
            DateTime::UNIX_EPOCH,
        ))
        .unwrap();
        duplicates += usize::from(matches!(receipt, Receipt::Duplicate(_)));
    }
    (store, e, duplicates)
}

/// The issue as the latest delivery shows it (the `raised-priority` one): Jira's v2 REST
/// representation, read as an authoritative REST object.
fn true_issue() -> Value {
    let path =
        fixtures_dir().join("jira_issue_updated/mattermost-issue-updated-raised-priority.json");
    let value: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    value["issue"].clone()
}

#[test]
fn the_fixtures_cover_issues_comments_and_a_partial_update() {
    let all = bodies();
    assert!(all.len() >= 30, "found {}", all.len());
    let (store, _, _) = run(&all, &(0..all.len()).collect::<Vec<_>>());
    let state = state(store.as_ref());
    for kind in ["\"issue\"", "\"comment\""] {
        assert!(state.contains(kind), "no {kind} projected");
    }
}

/// The changelog-only update arriving first sets only the labels; the full issues that
/// follow fill the rest and nothing is blanked.
#[test]
fn a_changelog_only_update_before_the_full_issue_blanks_nothing() {
    let all = bodies();
    let partial = all.len() - 1;
    let full = all
        .iter()
        .position(|b| {
            b.contains("\"issue_event_type_name\":\"issue_created\"") && b.contains("TES-41")
        })
        .unwrap();
    let (store, _, _) = run(&all, &[partial, full]);
    let key = ObjectKey::new("jira", SITE, ResourceKind::Issue, NativeId::new("10040"));
    let issue = block_on(store.load_object(&key)).unwrap().unwrap();
    assert_eq!(issue.field("labels"), Some(&json!(["sad", "test-label"])));
    // The full issue (older) filled what the partial update did not carry.
    let summary: Value =
        serde_json::from_str::<Value>(&all[full]).unwrap()["issue"]["fields"]["summary"].clone();
    assert_eq!(issue.field("title"), Some(&summary));
    assert_eq!(issue.field("status"), Some(&json!("To Do")));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn real_jira_payloads_converge_in_any_order_with_duplicates_then_to_the_true_state(
        (a, b) in {
            let n = bodies().len();
            (arb_schedule(n), arb_schedule(n))
        }
    ) {
        let all = bodies();
        let (sa, ea, da) = run(&all, &a);
        let (sb, eb, db) = run(&all, &b);
        prop_assert_eq!(state(sa.as_ref()), state(sb.as_ref()), "invariant 2: converged differently");
        prop_assert_eq!(da, a.len() - all.len(), "invariant 1: duplicates miscounted");
        prop_assert_eq!(db, b.len() - all.len());
        // One authoritative read of the issue: every field it carries is the projection's.
        let truth = true_issue();
        for (store, e) in [(&sa, &ea), (&sb, &eb)] {
            block_on(e.backfill(
                &BindingId::new(SITE),
                ResourceKind::Issue,
                std::slice::from_ref(&truth),
                false,
                DateTime::UNIX_EPOCH,
            ))
            .unwrap();
            let read = JiraWebhooks::new();
            let event = kradle_sync_core::WebhookAdapter::parse_rest_object(
                &read,
                ResourceKind::Issue,
                &truth,
                &kradle_sync_core::DeliveryId::new("truth"),
            )
            .unwrap()
            .unwrap();
            let kradle_sync_core::Change::Observed { fields, .. } = event.change else {
                panic!("observed")
            };
            let key = ObjectKey::new("jira", SITE, ResourceKind::Issue, NativeId::new("10040"));
            let issue = block_on(store.load_object(&key)).unwrap().unwrap();
            for (name, value) in &fields {
                prop_assert_eq!(issue.field(name), Some(value), "field {}", name);
            }
        }
        prop_assert_eq!(state(sa.as_ref()), state(sb.as_ref()));
    }
}

/// Every bad-input class, through the engine with the Jira adapter: refused with a typed
/// error (audited, never stored) or accepted and never applied; nothing panics, nothing
/// already accepted is lost.
#[test]
fn bad_jira_input_is_refused_or_never_applied() {
    use kradle_sync_core::Error;
    use kradle_sync_core::delivery::DeliveryPhase;
    let store: Arc<dyn SyncStore> = Arc::new(MemoryStore::new());
    let e = engine(store.clone());
    let binding = BindingId::new(SITE);
    let now = DateTime::UNIX_EPOCH;
    let assigned = std::fs::read_to_string(
        fixtures_dir().join("jira_issue_updated/mattermost-issue-updated-assigned.json"),
    )
    .unwrap();
    // A good delivery first: it must survive everything that follows.
    block_on(e.ingest(&binding, request(&assigned), now)).unwrap();

    // Wrong signature, and none at all.
    let mut forged = request(&assigned);
    forged.headers = Headers::from_pairs(forged.headers.iter().map(|(k, v)| {
        if k == "X-Hub-Signature" {
            (
                k.to_owned(),
                sign_webhook(&Secret::new("wrong"), assigned.as_bytes()),
            )
        } else {
            (k.to_owned(), v.to_owned())
        }
    }));
    assert!(matches!(
        block_on(e.ingest(&binding, forged, now)),
        Err(Error::Signature { .. })
    ));
    let mut unsigned = request(&assigned);
    unsigned.headers = Headers::from_pairs(
        unsigned
            .headers
            .iter()
            .filter(|(k, _)| *k != "X-Hub-Signature"),
    );
    assert!(matches!(
        block_on(e.ingest(&binding, unsigned, now)),
        Err(Error::Signature { .. })
    ));
    // Oversized (derived: the real body padded with whitespace past the 25 MiB limit).
    let oversized = format!("{assigned}{}", " ".repeat(25 * 1024 * 1024));
    assert!(matches!(
        block_on(e.ingest(&binding, request(&oversized), now)),
        Err(Error::PayloadTooLarge { .. })
    ));
    // Truncated, signed: stored, fails to normalize, never applied.
    let truncated = &assigned[..assigned.len() / 2];
    let (_, report) = block_on(e.ingest(&binding, request(truncated), now)).unwrap();
    assert!(
        report
            .unwrap()
            .error
            .unwrap()
            .contains("malformed jira payload")
    );
    // An unknown event: accepted, ignored with a reason.
    let unknown = assigned.replace("jira:issue_updated", "kradle:unknown_event");
    let (_, report) = block_on(e.ingest(&binding, request(&unknown), now)).unwrap();
    assert!(
        report
            .unwrap()
            .ignored
            .unwrap()
            .contains("kradle:unknown_event")
    );
    // Another site's payload: rejected as cross-org.
    let foreign = std::fs::read_to_string(
        fixtures_dir().join("comment_deleted/mattermost-cloud-comment-deleted.json"),
    )
    .unwrap();
    let (_, report) = block_on(e.ingest(&binding, request(&foreign), now)).unwrap();
    let report = report.unwrap();
    assert_eq!(report.phase, Some(DeliveryPhase::Rejected));
    assert!(report.error.unwrap().contains("mmtest.atlassian.net/KT"));

    // Refused deliveries were audited and never stored; the good one is applied.
    let audit = block_on(store.list_audit(&Filter::all())).unwrap();
    let rejected = audit
        .iter()
        .filter(|a| a.action == "delivery.rejected")
        .count();
    assert_eq!(rejected, 3);
    let stored = block_on(store.list_deliveries(&Filter::all(), None)).unwrap();
    assert_eq!(stored.len(), 4);
    let key = ObjectKey::new("jira", SITE, ResourceKind::Issue, NativeId::new("10040"));
    let issue = block_on(store.load_object(&key)).unwrap().unwrap();
    assert_eq!(
        issue.field("assignees"),
        Some(&json!(["5c5f880629be9642ba529340"]))
    );
    let comment = ObjectKey::new("jira", SITE, ResourceKind::Comment, NativeId::new("10757"));
    assert!(block_on(store.load_object(&comment)).unwrap().is_none());
}

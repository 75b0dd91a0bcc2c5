//! Binding conditions from real GitHub deliveries: a ping proves the webhook, installation
//! events set `InstallationReady`, whatever interfaces the binding syncs; an installation
//! delivery naming several repositories applies to each repository's binding only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::DateTime;
use futures::executor::block_on;
use kradle_integration_tests::{engine_for, fixture};
use kradle_store_memory::MemoryStore;
use kradle_sync_core::delivery::DeliveryPhase;
use kradle_sync_core::store::SyncScope;
use kradle_sync_core::{BindingId, Interface, SyncStore};

fn condition(store: &dyn SyncStore, repo: &str, name: &str) -> Option<bool> {
    let scope = SyncScope::binding("github", repo);
    block_on(store.get_sync_state(&scope))
        .unwrap()
        .and_then(|s| s.conditions.get(name).map(|c| c.status))
}

#[test]
fn installation_repositories_reach_the_binding_of_the_added_repository() {
    let store: Arc<dyn SyncStore> = Arc::new(MemoryStore::new());
    // Only issue tracking is synced: conditions still apply.
    let e = engine_for(
        store.clone(),
        "Codertocat/Space",
        &[Interface::IssueTracking],
    );
    let (_, report) = block_on(e.ingest(
        &BindingId::new("Codertocat/Space"),
        fixture("installation_repositories", "added").request(),
        DateTime::UNIX_EPOCH,
    ))
    .unwrap();
    assert_eq!(report.unwrap().phase, Some(DeliveryPhase::Processed));
    assert_eq!(
        condition(store.as_ref(), "Codertocat/Space", "InstallationReady"),
        Some(true)
    );
}

#[test]
fn an_installation_delivery_for_other_repositories_is_cross_org() {
    let store: Arc<dyn SyncStore> = Arc::new(MemoryStore::new());
    let e = engine_for(store.clone(), "Codertocat/Hello-World", &Interface::ALL);
    let (_, report) = block_on(e.ingest(
        &BindingId::new("Codertocat/Hello-World"),
        fixture("installation_repositories", "added").request(),
        DateTime::UNIX_EPOCH,
    ))
    .unwrap();
    let report = report.unwrap();
    assert_eq!(report.phase, Some(DeliveryPhase::Rejected));
    assert!(report.error.unwrap().contains("cross-org"));
    assert_eq!(
        condition(
            store.as_ref(),
            "Codertocat/Hello-World",
            "InstallationReady"
        ),
        None
    );
}

#[test]
fn a_ping_marks_the_webhook_ready() {
    let store: Arc<dyn SyncStore> = Arc::new(MemoryStore::new());
    let ping = fixture("ping", "event");
    let repo =
        serde_json::from_str::<serde_json::Value>(&ping.body).unwrap()["repository"]["full_name"]
            .as_str()
            .unwrap()
            .to_owned();
    let e = engine_for(store.clone(), &repo, &[Interface::IssueTracking]);
    block_on(e.ingest(
        &BindingId::new(repo.as_str()),
        ping.request(),
        DateTime::UNIX_EPOCH,
    ))
    .unwrap();
    assert_eq!(condition(store.as_ref(), &repo, "WebhookReady"), Some(true));
}

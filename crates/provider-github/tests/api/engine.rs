//! The adapter under the core's write executor: a host-created issue whose `POST` times
//! out is not found at once, fails retryable, and the executor's retry adopts it by its
//! marker and confirms the intent. One `POST` in all (invariant 4).

use std::sync::Arc;
use std::time::Duration;

use kradle_provider_github::GithubWebhooks;
use kradle_store_memory::MemoryStore;
use kradle_sync_core::store::Filter;
use kradle_sync_core::write_intent::{Actor, WritePhase};
use kradle_sync_core::{
    Binding, BindingId, Engine, Fields, Interface, NativeId, ResourceKind, Secret, SyncStore,
    WriteExecutor, marker,
};
use kradle_test_support::recorded::received_of;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

use crate::common::{self, at};

#[tokio::test]
async fn the_executor_retries_an_unknown_create_by_adopting_it() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let now = at("2017-10-10T15:00:00Z");
    let store: Arc<dyn SyncStore> = Arc::new(MemoryStore::new());
    let repo = "octokit-fixture-org/add-labels-to-issue";
    let binding = Binding::new(
        repo,
        "github",
        common::target("add-labels-to-issue"),
        &Interface::ALL,
    )
    .with_secret(Secret::new("webhook secret"));
    let engine = Engine::builder(store.clone())
        .adapter(Arc::new(GithubWebhooks::new()))
        .binding(binding)
        .build()
        .unwrap();

    let mut draft = Fields::new();
    draft.insert("title".into(), json!("Issue without a label"));
    draft.insert("body".into(), json!("Created by the host"));
    engine
        .local_change(
            &BindingId::new(repo),
            ResourceKind::Issue,
            &NativeId::new("local-1"),
            draft,
            Actor::user("alice"),
            now,
        )
        .await
        .unwrap();
    let intent = store
        .list_write_intents(&Filter::all(), None)
        .await
        .unwrap()
        .remove(0);
    let key = intent.idempotency_key.clone();

    // GitHub creates the issue, but answers after the client's timeout.
    let created = common::session("add-labels-to-issue").remove(0);
    let mut stored = created.body.clone();
    stored["body"] = json!(marker::embed("Created by the host", &key));
    Mock::given(method("POST"))
        .and(path(&created.path))
        .respond_with(
            created
                .clone()
                .with_status(201, stored.clone())
                .respond(&server)
                .set_delay(Duration::from_secs(3)),
        )
        .expect(1)
        .mount(&server)
        .await;
    // The first lookup does not see it yet (GitHub's listing lags); the next one does.
    let last_page = common::session("paginate-issues")
        .remove(4)
        .without_header("link");
    Mock::given(method("GET"))
        .and(path(&created.path))
        .respond_with(last_page.respond(&server))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(&created.path))
        .respond_with(
            last_page
                .clone()
                .with_status(200, Value::Array(vec![stored]))
                .respond(&server),
        )
        .mount(&server)
        .await;
    let github = common::builder(&server, &clock)
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let exec = WriteExecutor::new(&engine, &github);

    let first = exec.execute(&intent.id, now).await.unwrap();
    assert_eq!(
        first.phase,
        WritePhase::Failed,
        "unknown outcome: retried later"
    );
    let later = first.next_attempt_at.unwrap();
    let second = exec.run_due(later).await.unwrap();

    assert_eq!(second.len(), 1);
    assert_eq!(second[0].phase, WritePhase::Confirmed);
    assert_eq!(
        second[0]
            .result_native_id
            .as_ref()
            .map(|n| n.as_str().to_owned()),
        Some("1000".to_owned())
    );
    assert_eq!(
        received_of(&server, "POST").await.len(),
        1,
        "never created twice"
    );
    assert_eq!(received_of(&server, "GET").await.len(), 2);
}

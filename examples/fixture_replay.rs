//! Replays the bundled log of real GitHub deliveries through the library (what
//! `kradle-sync replay` does, in a few lines) and prints conflicts and write intents.
//! Run it with `cargo run -p kradle-examples --example fixture_replay`.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use kradle_provider_github::GithubWebhooks;
use kradle_store_memory::MemoryStore;
use kradle_sync_core::store::Filter;
use kradle_sync_core::write_intent::Actor;
use kradle_sync_core::{
    Binding, BindingId, Engine, ExternalTarget, Headers, Interface, NativeId, ResourceKind, Secret,
    SyncStore, WebhookRequest,
};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Record {
    Delivery {
        headers: std::collections::BTreeMap<String, String>,
        body: String,
    },
    LocalChange {
        kind: String,
        native_id: String,
        fields: kradle_sync_core::Fields,
    },
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let log = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/github-issues.ndjson"
    ))?;
    let store: Arc<dyn SyncStore> = Arc::new(MemoryStore::new());
    let repo = "Codertocat/Hello-World";
    let binding = Binding::new(
        repo,
        "github",
        ExternalTarget::from_path(repo),
        &Interface::ALL,
    )
    .with_secret(Secret::new("kradle-demo-secret"));
    let engine = Engine::builder(store.clone())
        .adapter(Arc::new(GithubWebhooks::new()))
        .binding(binding)
        .build()?;
    let id = BindingId::new(repo);
    futures::executor::block_on(async {
        for (n, line) in log.lines().enumerate() {
            let now = DateTime::<Utc>::UNIX_EPOCH + Duration::seconds(n as i64);
            match serde_json::from_str::<Record>(line)? {
                Record::Delivery { headers, body } => {
                    let request =
                        WebhookRequest::new(Headers::from_pairs(headers), body.into_bytes());
                    match engine.ingest(&id, request, now).await {
                        Ok((receipt, _)) => println!("line {}: {receipt:?}", n + 1),
                        Err(e) => println!("line {}: rejected: {e}", n + 1),
                    }
                }
                Record::LocalChange {
                    kind,
                    native_id,
                    fields,
                } => {
                    let kind = ResourceKind::parse(&kind).ok_or("unknown kind")?;
                    engine
                        .local_change(
                            &id,
                            kind,
                            &NativeId::new(native_id),
                            fields,
                            Actor::user("alice"),
                            now,
                        )
                        .await?;
                    println!("line {}: local change", n + 1);
                }
            }
        }
        for c in store.list_conflicts(&Filter::all()).await? {
            println!("conflict on {}: {:?}", c.object, c.fields);
        }
        for i in store.list_write_intents(&Filter::all(), None).await? {
            println!(
                "write intent {} {:?} {}",
                i.target,
                i.fields,
                i.phase.as_str()
            );
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}

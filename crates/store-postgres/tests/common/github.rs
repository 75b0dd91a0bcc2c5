//! Real GitHub webhook payloads from `fixtures/github/webhooks/` (provenance in
//! `fixtures/PROVENANCE.md`), signed the way GitHub signs, and an engine that receives them.

use std::path::PathBuf;
use std::sync::Arc;

use kradle_provider_github::{GithubWebhooks, sign_webhook};
use kradle_sync_core::{
    Binding, Engine, EngineConfig, ExternalTarget, Headers, Interface, Secret, SyncStore,
    WebhookRequest,
};

/// The repository of most fixtures.
pub const REPO: &str = "Codertocat/Hello-World";

/// The secret deliveries are signed with.
pub const SECRET: &str = "kradle-demo-secret";

/// One fixture: the event header, a delivery id and the body as sent.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub event: String,
    pub delivery_id: String,
    pub body: Vec<u8>,
}

impl Fixture {
    /// The signed request GitHub would send.
    pub fn request(&self) -> WebhookRequest {
        let signature = sign_webhook(&Secret::new(SECRET), &self.body);
        WebhookRequest::new(
            Headers::from_pairs([
                ("X-GitHub-Event", self.event.clone()),
                ("X-GitHub-Delivery", self.delivery_id.clone()),
                ("X-Hub-Signature-256", signature),
            ]),
            self.body.clone(),
        )
    }
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/github/webhooks")
}

/// Every fixture of these events about [`REPO`], in the order given and then by file
/// name; delivery ids are `{event}-{action}`. The bodies are the files' bytes.
pub fn fixtures(events: &[&str]) -> Vec<Fixture> {
    let mut out = Vec::new();
    for event in events {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir().join(event))
            .expect("a fixture directory")
            .map(|e| e.expect("a directory entry").path())
            .collect();
        paths.sort();
        for path in paths {
            let body = std::fs::read(&path).expect("a fixture");
            let value: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
            if value["repository"]["full_name"] != REPO {
                continue;
            }
            let stem = path.file_stem().expect("a file name").to_string_lossy();
            out.push(Fixture {
                event: (*event).to_owned(),
                delivery_id: format!("{event}-{stem}"),
                body,
            });
        }
    }
    out
}

/// An engine over `store` with the GitHub adapter and a bidirectional binding of [`REPO`].
pub fn engine(store: Arc<dyn SyncStore>) -> Engine {
    engine_with(store, EngineConfig::default())
}

/// Like [`engine`], with a configuration.
pub fn engine_with(store: Arc<dyn SyncStore>, config: EngineConfig) -> Engine {
    let binding = Binding::new(
        REPO,
        "github",
        ExternalTarget::from_path(REPO),
        &Interface::ALL,
    )
    .with_secret(Secret::new(SECRET));
    Engine::builder(store)
        .adapter(Arc::new(GithubWebhooks::new()))
        .binding(binding)
        .config(config)
        .build()
        .expect("the test binding is valid")
}

//! Shared helpers of the cross-crate tests: real GitHub webhook fixtures as signed
//! deliveries, and an engine wired with the GitHub adapter over any store.

use std::path::PathBuf;
use std::sync::Arc;

use hmac::{KeyInit, Mac};
use kradle_provider_github::GithubWebhooks;
use kradle_sync_core::{
    Binding, Engine, ExternalTarget, Headers, Interface, Secret, SyncStore, WebhookRequest,
};

/// The secret test deliveries are signed with.
pub const SECRET: &str = "integration-secret";

/// The repository of most GitHub webhook fixtures.
pub const REPO: &str = "Codertocat/Hello-World";

/// A real webhook fixture: its event name, a stable delivery id and its compact body.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// `X-GitHub-Event`.
    pub event: String,
    /// `X-GitHub-Delivery`.
    pub delivery_id: String,
    /// The body.
    pub body: String,
}

impl Fixture {
    /// The fixture as a signed request.
    pub fn request(&self) -> WebhookRequest {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(self.body.as_bytes());
        let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        WebhookRequest::new(
            Headers::from_pairs([
                ("X-GitHub-Event", self.event.clone()),
                ("X-GitHub-Delivery", self.delivery_id.clone()),
                ("X-Hub-Signature-256", signature),
            ]),
            self.body.clone().into_bytes(),
        )
    }
}

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/github/webhooks")
}

/// Every fixture of these events whose repository is [`REPO`], sorted by path.
pub fn fixtures(events: &[&str]) -> Vec<Fixture> {
    fixtures_where(events, |value| value["repository"]["full_name"] == REPO)
}

/// One fixture by event and action (file stem), whatever its repository.
pub fn fixture(event: &str, action: &str) -> Fixture {
    let found = fixtures_where(&[event], |_| true)
        .into_iter()
        .find(|f| f.delivery_id == format!("{event}-{action}"));
    found.unwrap_or_else(|| panic!("no fixture {event}/{action}.json"))
}

fn fixtures_where(events: &[&str], keep: impl Fn(&serde_json::Value) -> bool) -> Vec<Fixture> {
    let mut out = Vec::new();
    for event in events {
        let dir = fixtures_dir().join(event);
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        paths.sort();
        for path in paths {
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            if !keep(&value) {
                continue;
            }
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push(Fixture {
                event: (*event).to_owned(),
                delivery_id: format!("{event}-{name}"),
                body: value.to_string(),
            });
        }
    }
    out
}

/// An engine over `store` with the GitHub adapter and a bidirectional binding of [`REPO`].
pub fn engine(store: Arc<dyn SyncStore>) -> Engine {
    engine_for(store, REPO, &Interface::ALL)
}

/// An engine over `store` with the GitHub adapter and a bidirectional binding of `repo`
/// syncing `interfaces`.
pub fn engine_for(store: Arc<dyn SyncStore>, repo: &str, interfaces: &[Interface]) -> Engine {
    let binding = Binding::new(repo, "github", ExternalTarget::from_path(repo), interfaces)
        .with_secret(Secret::new(SECRET));
    Engine::builder(store)
        .adapter(Arc::new(GithubWebhooks::new()))
        .binding(binding)
        .build()
        .unwrap_or_else(|e| unreachable!("the test binding is valid: {e}"))
}

/// The workspace README's Rust examples, compiled and run as doctests so they stay true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

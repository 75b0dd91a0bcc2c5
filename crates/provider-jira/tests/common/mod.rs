//! What the Jira provider's tests share: the fixtures and signed deliveries of them.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use kradle_provider_jira::{app_token, sign_webhook};
use kradle_sync_core::{Headers, Secret, WebhookRequest};
use sha2::{Digest, Sha256};

/// The test-only webhook secret (an admin webhook's, or an app's client secret).
pub const SECRET: &str = "kradle-jira-test-secret";
/// The issuer app tokens name in tests.
pub const ISSUER: &str = "kradle-test-app";

/// `fixtures/jira` of the workspace.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/jira")
}

/// A fixture's bytes, as found.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = fixtures().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fixture as JSON.
pub fn fixture_json(name: &str) -> serde_json::Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

/// Every webhook fixture, `event/file.json`, sorted.
pub fn webhook_names() -> Vec<String> {
    let root = fixtures().join("webhooks");
    let mut names = Vec::new();
    for event in std::fs::read_dir(&root).unwrap() {
        let event = event.unwrap();
        for file in std::fs::read_dir(event.path()).unwrap() {
            let file = file.unwrap();
            names.push(format!(
                "{}/{}",
                event.file_name().to_string_lossy(),
                file.file_name().to_string_lossy()
            ));
        }
    }
    names.sort();
    names
}

/// A delivery id derived from a body (Jira's are UUIDs; any stable string does).
pub fn delivery_id(body: &[u8]) -> String {
    let digest = hex::encode(Sha256::digest(body));
    format!(
        "{}-{}-{}-{}-{}",
        &digest[..8],
        &digest[8..12],
        &digest[12..16],
        &digest[16..20],
        &digest[20..32]
    )
}

/// A delivery as an admin webhook with a secret sends it.
pub fn signed(body: Vec<u8>) -> WebhookRequest {
    let headers = Headers::from_pairs([
        (
            "X-Atlassian-Webhook-Identifier".to_owned(),
            delivery_id(&body),
        ),
        (
            "X-Hub-Signature".to_owned(),
            sign_webhook(&Secret::new(SECRET), &body),
        ),
        ("Content-Type".to_owned(), "application/json".to_owned()),
        (
            "User-Agent".to_owned(),
            "Atlassian Webhook HTTP Client".to_owned(),
        ),
    ]);
    WebhookRequest::new(headers, body)
}

/// A delivery as an OAuth 2.0 app's webhook carries it: an HS256 token issued at `now`,
/// valid three minutes.
pub fn with_app_token(body: Vec<u8>, now: DateTime<Utc>) -> WebhookRequest {
    let token = app_token(
        &Secret::new(SECRET),
        ISSUER,
        now,
        now + Duration::minutes(3),
    );
    let headers = Headers::from_pairs([
        (
            "X-Atlassian-Webhook-Identifier".to_owned(),
            delivery_id(&body),
        ),
        ("Authorization".to_owned(), format!("Bearer {token}")),
        ("Content-Type".to_owned(), "application/json".to_owned()),
    ]);
    WebhookRequest::new(headers, body)
}

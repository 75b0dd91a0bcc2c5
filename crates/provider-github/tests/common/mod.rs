//! Helpers shared by the integration tests: fixture paths and signed requests.

#![allow(dead_code, clippy::expect_used)]

use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use kradle_sync_core::{Headers, WebhookRequest};
use sha2::Sha256;

/// The secret every test delivery is signed with.
pub const SECRET: &str = "test-webhook-secret";

/// `fixtures/github` at the workspace root.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/github")
}

/// The bytes of a fixture under `fixtures/github`.
pub fn fixture(relative: &str) -> Vec<u8> {
    let path = fixtures().join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A fixture parsed as JSON.
pub fn fixture_json(relative: &str) -> serde_json::Value {
    serde_json::from_slice(&fixture(relative)).unwrap_or_else(|e| panic!("parse {relative}: {e}"))
}

/// `sha256=<hex>` computed here, independently of the crate under test.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A request as GitHub would send it: event, delivery and a valid signature over `body`.
pub fn signed(event: &str, body: Vec<u8>) -> WebhookRequest {
    let headers = Headers::from_pairs([
        ("X-GitHub-Event".to_owned(), event.to_owned()),
        (
            "X-GitHub-Delivery".to_owned(),
            "72d3162e-cc78-11e3-81ab-4c9367dc0958".to_owned(),
        ),
        ("X-Hub-Signature-256".to_owned(), signature(SECRET, &body)),
        (
            "User-Agent".to_owned(),
            "GitHub-Hookshot/044aadd".to_owned(),
        ),
        ("Content-Type".to_owned(), "application/json".to_owned()),
    ]);
    WebhookRequest::new(headers, body)
}

/// A request with only the given headers.
pub fn with_headers(pairs: &[(&str, &str)], body: Vec<u8>) -> WebhookRequest {
    WebhookRequest::new(Headers::from_pairs(pairs.iter().copied()), body)
}

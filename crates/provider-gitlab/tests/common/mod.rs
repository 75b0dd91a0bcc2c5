//! Helpers shared by the integration tests: fixture paths and deliveries with the headers
//! GitLab sends.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};

use kradle_sync_core::{Headers, WebhookRequest};

/// The secret token every test delivery carries.
pub const SECRET: &str = "test-gitlab-webhook-token";

/// The `Idempotency-Key` of a test delivery (the form GitLab sends: a UUID).
pub const IDEMPOTENCY_KEY: &str = "f5e5f430-f57b-4e6e-9fac-d9128cd7232f";

/// `fixtures/gitlab` at the workspace root.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/gitlab")
}

/// The bytes of a fixture under `fixtures/gitlab`.
pub fn fixture(relative: &str) -> Vec<u8> {
    let path = fixtures().join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A fixture parsed as JSON.
pub fn fixture_json(relative: &str) -> serde_json::Value {
    serde_json::from_slice(&fixture(relative)).unwrap_or_else(|e| panic!("parse {relative}: {e}"))
}

/// The `X-Gitlab-Event` GitLab sends with payloads of the fixture folder `kind` (the
/// payload's `object_kind`; member hooks have none and live in `member/`).
pub fn hook_of(kind: &str) -> &'static str {
    match kind {
        "issue" => "Issue Hook",
        "note" => "Note Hook",
        "merge_request" => "Merge Request Hook",
        "pipeline" => "Pipeline Hook",
        "build" => "Job Hook",
        "push" => "Push Hook",
        "tag_push" => "Tag Push Hook",
        "deployment" => "Deployment Hook",
        "release" => "Release Hook",
        "member" => "Member Hook",
        other => panic!("no hook for fixture folder {other}"),
    }
}

/// The headers GitLab 17.4 and later send with a delivery (`WebHookService#build_headers`):
/// the hook, the secret token, `Idempotency-Key`, `X-Gitlab-Webhook-UUID`,
/// `X-Gitlab-Event-UUID`, `X-Gitlab-Instance`, `User-Agent` and `Content-Type`.
pub fn gitlab_headers(event: &str, token: &str, idempotency_key: &str) -> Vec<(String, String)> {
    [
        ("Content-Type", "application/json"),
        ("User-Agent", "GitLab/17.6.0"),
        ("Idempotency-Key", idempotency_key),
        ("X-Gitlab-Event", event),
        (
            "X-Gitlab-Webhook-UUID",
            "02affd2d-2cba-4033-917d-ec22d5dc4b38",
        ),
        ("X-Gitlab-Instance", "https://gitlab.example.com"),
        ("X-Gitlab-Token", token),
        (
            "X-Gitlab-Event-UUID",
            "13792a34-cac6-4fda-95a8-c58e00a3954e",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// A request as GitLab 17.4+ would send it, carrying the test secret.
pub fn delivery(event: &str, body: Vec<u8>) -> WebhookRequest {
    WebhookRequest::new(
        Headers::from_pairs(gitlab_headers(event, SECRET, IDEMPOTENCY_KEY)),
        body,
    )
}

/// A request with only the given headers.
pub fn with_headers(pairs: &[(&str, &str)], body: Vec<u8>) -> WebhookRequest {
    WebhookRequest::new(Headers::from_pairs(pairs.iter().copied()), body)
}

/// `request` without the header `name`.
pub fn without(request: &WebhookRequest, name: &str) -> WebhookRequest {
    WebhookRequest::new(
        Headers::from_pairs(
            request
                .headers
                .iter()
                .filter(|(k, _)| !k.eq_ignore_ascii_case(name)),
        ),
        request.body.clone(),
    )
}

/// `request` with the header `name` set to `value`.
pub fn with(request: &WebhookRequest, name: &str, value: &str) -> WebhookRequest {
    let mut out = without(request, name);
    out.headers.insert(name, value);
    out
}

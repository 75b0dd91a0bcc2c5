//! `verify_webhook`: the secret token GitLab sends in `X-Gitlab-Token`, compared with the
//! binding's secret, and the delivery id read from the headers each GitLab version sends.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use common::{IDEMPOTENCY_KEY, SECRET, delivery, fixture, with, with_headers, without};
use kradle_provider_gitlab::GitlabWebhooks;
use kradle_sync_core::{
    Error, Secret, SignatureScheme, VerifiedWebhook, WebhookAdapter, WebhookKey, WebhookRequest,
};

const ISSUE: &str = "webhooks/issue/go-gitlab-issue.json";
/// The `X-Gitlab-Webhook-UUID` of [`common::gitlab_headers`].
const WEBHOOK_UUID: &str = "02affd2d-2cba-4033-917d-ec22d5dc4b38";
/// The `X-Gitlab-Event-UUID` of [`common::gitlab_headers`].
const EVENT_UUID: &str = "13792a34-cac6-4fda-95a8-c58e00a3954e";

fn verify_with(
    request: &WebhookRequest,
    secret: &str,
    scheme: SignatureScheme,
) -> Result<VerifiedWebhook, Error> {
    GitlabWebhooks::new().verify_webhook(
        request,
        &WebhookKey::new(&Secret::new(secret), scheme, chrono::Utc::now()),
    )
}

fn verify(request: &WebhookRequest) -> Result<VerifiedWebhook, Error> {
    verify_with(request, SECRET, SignatureScheme::Token)
}

fn issue() -> WebhookRequest {
    delivery("Issue Hook", fixture(ISSUE))
}

/// The reason of a signature error; fails the test on any other outcome.
fn token_reason(result: Result<VerifiedWebhook, Error>) -> String {
    match result {
        Err(Error::Signature { provider, reason }) => {
            assert_eq!(provider.as_str(), "gitlab");
            reason
        }
        other => panic!("expected a signature error, got {other:?}"),
    }
}

/// Everything an error shows: its message, its `Debug` form.
fn shown(error: &Error) -> String {
    format!("{error} {error:?}")
}

#[test]
fn the_right_token_verifies_and_names_the_delivery_by_its_idempotency_key() {
    let verified = verify(&issue()).expect("the token is the binding's secret");
    assert_eq!(verified.event, "Issue Hook");
    assert_eq!(verified.delivery_id.as_str(), IDEMPOTENCY_KEY);
    assert_eq!(verified.algorithm, "token");
}

#[test]
fn header_names_are_case_insensitive() {
    let request = with_headers(
        &[
            ("x-gitlab-event", "Issue Hook"),
            ("x-gitlab-token", SECRET),
            ("idempotency-key", IDEMPOTENCY_KEY),
        ],
        fixture(ISSUE),
    );
    let verified = verify(&request).unwrap();
    assert_eq!(verified.delivery_id.as_str(), IDEMPOTENCY_KEY);
}

#[test]
fn a_wrong_token_is_rejected_without_showing_either_token() {
    let request = with(&issue(), "X-Gitlab-Token", "not-the-secret-token");
    let error = verify(&request).err().unwrap();
    assert!(!shown(&error).contains(SECRET));
    assert!(!shown(&error).contains("not-the-secret-token"));
    let reason = token_reason(Err(error));
    assert!(reason.contains("does not match"), "{reason}");
}

#[test]
fn a_token_differing_only_by_case_whitespace_or_a_prefix_is_wrong() {
    for sent in [
        SECRET.to_uppercase(),
        format!(" {SECRET}"),
        format!("{SECRET} "),
        format!("{SECRET}x"),
        SECRET[..SECRET.len() - 1].to_owned(),
        String::new(),
    ] {
        let request = with(&issue(), "X-Gitlab-Token", &sent);
        token_reason(verify(&request));
    }
}

#[test]
fn a_missing_token_is_rejected_and_says_where_to_set_it() {
    let reason = token_reason(verify(&without(&issue(), "X-Gitlab-Token")));
    assert!(reason.contains("X-Gitlab-Token"), "{reason}");
    assert!(reason.contains("secret token"), "{reason}");
}

#[test]
fn an_empty_binding_secret_verifies_nothing() {
    let request = with(&issue(), "X-Gitlab-Token", "");
    let reason = token_reason(verify_with(&request, "", SignatureScheme::Token));
    assert!(reason.contains("empty"), "{reason}");
}

#[test]
fn a_binding_expecting_signatures_is_told_gitlab_sends_a_token() {
    let reason = token_reason(verify_with(&issue(), SECRET, SignatureScheme::HmacSha256));
    assert!(reason.contains("token"), "{reason}");
}

#[test]
fn the_token_is_checked_before_anything_else_is_read() {
    // No hook name and no delivery id either: the token error comes first, so an
    // unauthenticated sender learns nothing about what else is missing.
    let request = with_headers(&[("X-Gitlab-Token", "wrong")], b"not json".to_vec());
    token_reason(verify(&request));
}

#[test]
fn a_missing_hook_header_is_a_missing_header_error() {
    match verify(&without(&issue(), "X-Gitlab-Event")) {
        Err(Error::MissingHeader { header, .. }) => assert_eq!(header, "X-Gitlab-Event"),
        other => panic!("expected a missing header, got {other:?}"),
    }
}

/// GitLab 17.4 and later: every retry of one delivery carries the same `Idempotency-Key`
/// and a new `X-Gitlab-Webhook-UUID`.
#[test]
fn a_retry_on_17_4_keeps_its_delivery_id() {
    let first = verify(&issue()).unwrap();
    let retry = with(
        &issue(),
        "X-Gitlab-Webhook-UUID",
        "9b1c27e0-4ba8-4b9e-8a67-5bd7b1e2c2d4",
    );
    assert_eq!(verify(&retry).unwrap().delivery_id, first.delivery_id);
}

/// GitLab 16.2 to 17.3 send no `Idempotency-Key`: the per-request
/// `X-Gitlab-Webhook-UUID` names the delivery (a resent request is a new delivery, whose
/// events the engine's version checks order).
#[test]
fn before_17_4_the_webhook_uuid_names_the_delivery() {
    let request = without(&issue(), "Idempotency-Key");
    assert_eq!(verify(&request).unwrap().delivery_id.as_str(), WEBHOOK_UUID);
    let resent = with(
        &request,
        "X-Gitlab-Webhook-UUID",
        "9b1c27e0-4ba8-4b9e-8a67-5bd7b1e2c2d4",
    );
    assert_ne!(
        verify(&resent).unwrap().delivery_id.as_str(),
        WEBHOOK_UUID,
        "a new request is a new delivery id before 17.4"
    );
}

/// GitLab 15.x to 16.1 send only `X-Gitlab-Event-UUID` (added with webhook recursion
/// detection in 14.x), shared by every hook one request fires: it names a delivery
/// together with the hook and the body.
#[test]
fn before_16_2_the_event_uuid_and_the_body_name_the_delivery() {
    let old = without(
        &without(&issue(), "Idempotency-Key"),
        "X-Gitlab-Webhook-UUID",
    );
    let id = verify(&old).unwrap().delivery_id;
    assert!(id.as_str().starts_with(&format!("{EVENT_UUID}:")), "{id}");
    assert_eq!(
        verify(&old).unwrap().delivery_id,
        id,
        "stable across retries"
    );
    let note = delivery(
        "Note Hook",
        fixture("webhooks/note/go-gitlab-note_issue.json"),
    );
    let note = without(&without(&note, "Idempotency-Key"), "X-Gitlab-Webhook-UUID");
    assert_ne!(
        verify(&note).unwrap().delivery_id,
        id,
        "another hook fired by the same request is another delivery"
    );
}

#[test]
fn a_delivery_with_no_id_at_all_is_a_clear_error() {
    let bare = with_headers(
        &[("X-Gitlab-Event", "Issue Hook"), ("X-Gitlab-Token", SECRET)],
        fixture(ISSUE),
    );
    match verify(&bare) {
        Err(Error::MissingHeader { header, .. }) => {
            assert!(header.contains("Idempotency-Key"), "{header}");
            assert!(header.contains("X-Gitlab-Event-UUID"), "{header}");
        }
        other => panic!("expected a missing header, got {other:?}"),
    }
}

#[test]
fn an_oversized_or_control_character_id_is_malformed() {
    let long = "a".repeat(201);
    for bad in [long.as_str(), "id\u{7}bell"] {
        match verify(&with(&issue(), "Idempotency-Key", bad)) {
            Err(Error::MalformedPayload { reason, .. }) => {
                assert!(reason.contains("Idempotency-Key"), "{reason}");
            }
            other => panic!("expected a malformed payload, got {other:?}"),
        }
    }
}

#[test]
fn the_instance_header_is_optional() {
    let request = without(&issue(), "X-Gitlab-Instance");
    assert!(verify(&request).is_ok());
}

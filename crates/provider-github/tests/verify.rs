//! `verify_webhook`: HMAC-SHA256 signatures over the raw body, and the headers GitHub sends.

// A test states its expectation by failing loudly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{SECRET, fixture, signature, signed, with_headers};
use kradle_provider_github::{GithubWebhooks, sign_webhook};
use kradle_sync_core::{Error, Secret, WebhookAdapter, WebhookRequest};

const OPENED: &str = "webhooks/issues/opened.json";

fn verify(request: &WebhookRequest) -> Result<kradle_sync_core::VerifiedWebhook, Error> {
    GithubWebhooks::new().verify_webhook(
        request,
        &kradle_sync_core::WebhookKey::new(
            &kradle_sync_core::Secret::new(SECRET),
            kradle_sync_core::SignatureScheme::HmacSha256,
            chrono::Utc::now(),
        ),
    )
}

/// The reason of a signature error; fails the test on any other outcome.
fn signature_reason(result: Result<kradle_sync_core::VerifiedWebhook, Error>) -> String {
    match result {
        Err(Error::Signature { provider, reason }) => {
            assert_eq!(provider.as_str(), "github");
            reason
        }
        other => panic!("expected a signature error, got {other:?}"),
    }
}

fn replace_header(request: &mut WebhookRequest, name: &str, value: Option<&str>) {
    let mut headers = kradle_sync_core::Headers::default();
    for (k, v) in request.headers.iter() {
        if !k.eq_ignore_ascii_case(name) {
            headers.insert(k, v);
        }
    }
    if let Some(value) = value {
        headers.insert(name, value);
    }
    request.headers = headers;
}

#[test]
fn a_correct_signature_over_the_fixture_bytes_verifies() {
    let request = signed("issues", fixture(OPENED));
    let verified = verify(&request).expect("signed with the configured secret");
    assert_eq!(verified.event, "issues");
    assert_eq!(
        verified.delivery_id.as_str(),
        "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    );
    assert_eq!(verified.algorithm, "hmac-sha256");
}

#[test]
fn header_names_are_case_insensitive() {
    let body = fixture(OPENED);
    let sig = signature(SECRET, &body);
    let request = with_headers(
        &[
            ("x-github-event", "issues"),
            ("x-github-delivery", "d-1"),
            ("x-hub-signature-256", sig.as_str()),
        ],
        body,
    );
    assert!(verify(&request).is_ok());
}

#[test]
fn the_crates_signer_matches_an_independent_hmac() {
    let body = fixture(OPENED);
    assert_eq!(
        sign_webhook(&Secret::new(SECRET), &body),
        signature(SECRET, &body)
    );
}

#[test]
fn a_signature_made_with_another_secret_is_rejected() {
    let mut request = signed("issues", fixture(OPENED));
    let forged = signature("another-secret", &request.body);
    replace_header(&mut request, "X-Hub-Signature-256", Some(&forged));
    let reason = signature_reason(verify(&request));
    assert!(reason.contains("does not match"), "{reason}");
}

#[test]
fn a_body_changed_after_signing_is_rejected() {
    let mut request = signed("issues", fixture(OPENED));
    if let Some(byte) = request.body.iter_mut().find(|b| **b == b'1') {
        *byte = b'2';
    }
    signature_reason(verify(&request));
}

#[test]
fn a_missing_signature_header_is_rejected_and_says_what_to_do() {
    let mut request = signed("issues", fixture(OPENED));
    replace_header(&mut request, "X-Hub-Signature-256", None);
    let reason = signature_reason(verify(&request));
    assert!(reason.contains("X-Hub-Signature-256"), "{reason}");
    assert!(reason.contains("secret"), "{reason}");
}

#[test]
fn a_sha1_only_request_is_rejected() {
    let mut request = signed("issues", fixture(OPENED));
    replace_header(&mut request, "X-Hub-Signature-256", None);
    request.headers.insert(
        "X-Hub-Signature",
        "sha1=7d38cdd689735b008b3c702edd92eea23791c5f6",
    );
    let reason = signature_reason(verify(&request));
    assert!(reason.contains("SHA-1"), "{reason}");
}

#[test]
fn a_wrong_prefix_is_rejected() {
    let mut request = signed("issues", fixture(OPENED));
    let valid = signature(SECRET, &request.body);
    let hex = valid.trim_start_matches("sha256=");
    replace_header(
        &mut request,
        "X-Hub-Signature-256",
        Some(&format!("sha1={hex}")),
    );
    let reason = signature_reason(verify(&request));
    assert!(reason.contains("sha256="), "{reason}");
}

#[test]
fn non_hex_and_short_signatures_are_rejected() {
    for bad in [
        "sha256=zz",
        "sha256=",
        &format!("sha256={}", "g".repeat(64)),
        "sha256=abcd",
    ] {
        let mut request = signed("issues", fixture(OPENED));
        replace_header(&mut request, "X-Hub-Signature-256", Some(bad));
        let reason = signature_reason(verify(&request));
        assert!(reason.contains("64 hexadecimal digits"), "{bad}: {reason}");
    }
}

#[test]
fn uppercase_hex_is_accepted() {
    let mut request = signed("issues", fixture(OPENED));
    let upper = format!(
        "sha256={}",
        signature(SECRET, &request.body)[7..].to_uppercase()
    );
    replace_header(&mut request, "X-Hub-Signature-256", Some(&upper));
    assert!(verify(&request).is_ok());
}

#[test]
fn missing_delivery_or_event_headers_are_missing_header_errors() {
    for header in ["X-GitHub-Delivery", "X-GitHub-Event"] {
        let mut request = signed("issues", fixture(OPENED));
        replace_header(&mut request, header, None);
        match verify(&request) {
            Err(Error::MissingHeader {
                header: missing, ..
            }) => assert_eq!(missing, header),
            other => panic!("{header}: expected MissingHeader, got {other:?}"),
        }
        match GithubWebhooks::new().normalize_webhook(&request) {
            Err(Error::MissingHeader {
                header: missing, ..
            }) => assert_eq!(missing, header),
            other => panic!("{header}: expected MissingHeader, got {other:?}"),
        }
    }
}

#[test]
fn an_empty_secret_never_verifies() {
    let body = fixture(OPENED);
    let mut request = signed("issues", body.clone());
    replace_header(
        &mut request,
        "X-Hub-Signature-256",
        Some(&signature("", &body)),
    );
    let result = GithubWebhooks::new().verify_webhook(
        &request,
        &kradle_sync_core::WebhookKey::new(
            &kradle_sync_core::Secret::new(""),
            kradle_sync_core::SignatureScheme::HmacSha256,
            chrono::Utc::now(),
        ),
    );
    let reason = signature_reason(result);
    assert!(reason.contains("empty"), "{reason}");
}

#[test]
fn the_secret_never_appears_in_errors() {
    let secret = "s3cr3t-that-must-not-leak";
    let mut request = signed("issues", fixture(OPENED));
    replace_header(&mut request, "X-Hub-Signature-256", Some("sha256=00"));
    for result in [
        GithubWebhooks::new().verify_webhook(
            &request,
            &kradle_sync_core::WebhookKey::new(
                &kradle_sync_core::Secret::new(secret),
                kradle_sync_core::SignatureScheme::HmacSha256,
                chrono::Utc::now(),
            ),
        ),
        GithubWebhooks::new().verify_webhook(
            &signed("issues", b"{}".to_vec()),
            &kradle_sync_core::WebhookKey::new(
                &kradle_sync_core::Secret::new(secret),
                kradle_sync_core::SignatureScheme::HmacSha256,
                chrono::Utc::now(),
            ),
        ),
    ] {
        let error = result.expect_err("rejected");
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains(secret), "{shown}");
    }
}

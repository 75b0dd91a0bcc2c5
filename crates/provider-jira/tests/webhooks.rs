//! Verification and normalization of Jira deliveries, and every class of bad input: wrong
//! or missing signatures, expired or foreign app tokens, truncated and hostile bodies,
//! unknown events, partial payloads. Each test uses a real fixture or a body derived from
//! one in code (the derivation is said where it is made).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine as _;
use chrono::{Duration, TimeZone, Utc};
use common::{ISSUER, SECRET, fixture, fixture_json, signed, with_app_token};
use kradle_provider_jira::{JiraWebhooks, app_token, sign_webhook};
use kradle_sync_core::{
    Change, Error, Headers, Secret, SignatureScheme, WebhookAdapter, WebhookKey, WebhookRequest,
};
use serde_json::{Value, json};

const ASSIGNED: &str = "webhooks/jira_issue_updated/mattermost-issue-updated-assigned.json";

fn hmac_key(secret: &Secret) -> WebhookKey<'_> {
    WebhookKey::new(secret, SignatureScheme::HmacSha256, Utc::now())
}

fn jwt_key(secret: &Secret) -> WebhookKey<'_> {
    WebhookKey::new(secret, SignatureScheme::JwtHs256, Utc::now()).with_issuer(Some(ISSUER))
}

fn reason(result: Result<impl std::fmt::Debug, Error>) -> String {
    match result {
        Err(Error::Signature { reason, .. }) => {
            assert!(!reason.contains(SECRET), "{reason}");
            reason
        }
        other => panic!("expected a signature error, got {other:?}"),
    }
}

fn with_headers(request: &WebhookRequest, drop: &[&str], add: &[(&str, String)]) -> WebhookRequest {
    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .filter(|(k, _)| !drop.iter().any(|d| d.eq_ignore_ascii_case(k)))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    headers.extend(add.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    WebhookRequest::new(Headers::from_pairs(headers), request.body.clone())
}

#[test]
fn an_admin_webhook_verifies_with_its_secret_only() {
    let adapter = JiraWebhooks::new();
    let secret = Secret::new(SECRET);
    let request = signed(fixture(ASSIGNED));
    let verified = adapter
        .verify_webhook(&request, &hmac_key(&secret))
        .unwrap();
    assert_eq!(verified.event, "jira:issue_updated");
    assert_eq!(verified.algorithm, "hmac-sha256");
    assert_eq!(
        Some(verified.delivery_id.as_str()),
        request.headers.get("X-Atlassian-Webhook-Identifier")
    );

    let wrong = Secret::new("another secret");
    assert!(reason(adapter.verify_webhook(&request, &hmac_key(&wrong))).contains("does not match"));
    let unsigned = with_headers(&request, &["X-Hub-Signature"], &[]);
    assert!(
        reason(adapter.verify_webhook(&unsigned, &hmac_key(&secret)))
            .contains("no X-Hub-Signature")
    );
    let sha1 = with_headers(
        &request,
        &["X-Hub-Signature"],
        &[("X-Hub-Signature", "sha1=0a1b".into())],
    );
    assert!(
        reason(adapter.verify_webhook(&sha1, &hmac_key(&secret)))
            .contains("must start with `sha256=`")
    );
    let short = with_headers(
        &request,
        &["X-Hub-Signature"],
        &[("X-Hub-Signature", "sha256=zz".into())],
    );
    assert!(reason(adapter.verify_webhook(&short, &hmac_key(&secret))).contains("64 hexadecimal"));
    let empty = Secret::new("");
    assert!(reason(adapter.verify_webhook(&request, &hmac_key(&empty))).contains("empty"));
    let mut tampered = request.clone();
    tampered.body = tampered
        .body
        .replace_first(b"Unit test summary 1", b"Unit test summary 2");
    assert!(
        reason(adapter.verify_webhook(&tampered, &hmac_key(&secret))).contains("does not match")
    );
    // An app's delivery sent to an admin-webhook binding names the fix.
    let app = with_app_token(fixture(ASSIGNED), Utc::now());
    assert!(reason(adapter.verify_webhook(&app, &hmac_key(&secret))).contains("jwt-hs256"));
}

trait ReplaceFirst {
    fn replace_first(self, from: &[u8], to: &[u8]) -> Vec<u8>;
}

impl ReplaceFirst for Vec<u8> {
    fn replace_first(self, from: &[u8], to: &[u8]) -> Vec<u8> {
        let at = self.windows(from.len()).position(|w| w == from).unwrap();
        [&self[..at], to, &self[at + from.len()..]].concat()
    }
}

#[test]
fn a_delivery_without_its_identifier_is_refused_as_missing_a_header() {
    let request = with_headers(
        &signed(fixture(ASSIGNED)),
        &["X-Atlassian-Webhook-Identifier"],
        &[],
    );
    let secret = Secret::new(SECRET);
    assert!(matches!(
        JiraWebhooks::new().verify_webhook(&request, &hmac_key(&secret)),
        Err(Error::MissingHeader {
            header: "X-Atlassian-Webhook-Identifier",
            ..
        })
    ));
    assert!(matches!(
        JiraWebhooks::new().normalize_webhook(&request),
        Err(Error::MissingHeader { .. })
    ));
}

#[test]
fn an_app_token_is_checked_for_signature_expiry_issuer_and_algorithm() {
    let adapter = JiraWebhooks::new();
    let secret = Secret::new(SECRET);
    let now = Utc::now();
    let request = with_app_token(fixture(ASSIGNED), now);
    let verified = adapter.verify_webhook(&request, &jwt_key(&secret)).unwrap();
    assert_eq!(verified.algorithm, "jwt-hs256");

    // Connect apps send the same token as `JWT <token>`.
    let token = app_token(&secret, ISSUER, now, now + Duration::minutes(3));
    let connect = with_headers(
        &request,
        &["Authorization"],
        &[("Authorization", format!("JWT {token}"))],
    );
    assert!(adapter.verify_webhook(&connect, &jwt_key(&secret)).is_ok());

    // Expired: checked against the receiver's clock.
    let later = WebhookKey::new(
        &secret,
        SignatureScheme::JwtHs256,
        now + Duration::minutes(4),
    )
    .with_issuer(Some(ISSUER));
    assert!(reason(adapter.verify_webhook(&request, &later)).contains("expired"));
    // Another app.
    let other =
        WebhookKey::new(&secret, SignatureScheme::JwtHs256, now).with_issuer(Some("other-app"));
    assert!(reason(adapter.verify_webhook(&request, &other)).contains("not by `other-app`"));
    // Another secret.
    let wrong = Secret::new("not the client secret");
    assert!(reason(adapter.verify_webhook(&request, &jwt_key(&wrong))).contains("does not match"));
    // `alg: none` and a forged signature-less token.
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let none = format!(
        "{}.{}.",
        b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(
            json!({"iss": ISSUER, "exp": (now + Duration::minutes(3)).timestamp()}).to_string()
        )
    );
    let forged = with_headers(
        &request,
        &["Authorization"],
        &[("Authorization", format!("Bearer {none}"))],
    );
    assert!(reason(adapter.verify_webhook(&forged, &jwt_key(&secret))).contains("HS256"));
    for garbage in [
        "Bearer",
        "Bearer a.b",
        "Basic dXNlcjpwYXNz",
        "Bearer !!.??.**",
    ] {
        let bad = with_headers(
            &request,
            &["Authorization"],
            &[("Authorization", garbage.into())],
        );
        let text = reason(adapter.verify_webhook(&bad, &jwt_key(&secret)));
        assert!(!text.is_empty());
    }
    // No token at all, and an admin webhook's signature instead.
    let unsigned = with_headers(&request, &["Authorization"], &[]);
    assert!(
        reason(adapter.verify_webhook(&unsigned, &jwt_key(&secret))).contains("no Authorization")
    );
    let admin = signed(fixture(ASSIGNED));
    assert!(reason(adapter.verify_webhook(&admin, &jwt_key(&secret))).contains("hmac-sha256"));
    // The token never shows in an error.
    let text = reason(adapter.verify_webhook(&request, &later));
    assert!(!text.contains(&token[..20]));
}

#[test]
fn schemes_jira_does_not_send_are_refused() {
    let secret = Secret::new(SECRET);
    let key = WebhookKey::new(&secret, SignatureScheme::Token, Utc::now());
    let text = reason(JiraWebhooks::new().verify_webhook(&signed(fixture(ASSIGNED)), &key));
    assert!(text.contains("hmac-sha256") && text.contains("jwt-hs256"));
}

#[test]
fn the_documented_hmac_example_signs_as_jira_does() {
    // The HMAC-SHA256 test vector GitHub documents for the same `sha256=` header format.
    assert_eq!(
        sign_webhook(&Secret::new("It's a Secret to Everybody"), b"Hello, World!"),
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
}

#[test]
fn bad_bodies_are_typed_errors_never_panics() {
    let adapter = JiraWebhooks::new();
    let body = fixture(ASSIGNED);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", body[..body.len() / 2].to_vec()),
        ("empty", Vec::new()),
        ("not JSON", b"<html>502</html>".to_vec()),
        ("an array", b"[1,2]".to_vec()),
        ("no webhookEvent", b"{\"timestamp\":1}".to_vec()),
        (
            "an issue event without its issue",
            b"{\"webhookEvent\":\"jira:issue_updated\"}".to_vec(),
        ),
        (
            "an issue without an id",
            b"{\"webhookEvent\":\"jira:issue_updated\",\"issue\":{\"key\":\"X-1\"}}".to_vec(),
        ),
        (
            "a comment event without its comment",
            b"{\"webhookEvent\":\"comment_created\"}".to_vec(),
        ),
        (
            "deep nesting",
            [vec![b'['; 100_000], vec![b']'; 100_000]].concat(),
        ),
    ];
    for (what, bytes) in cases {
        match adapter.normalize_webhook(&signed(bytes)) {
            Err(Error::MalformedPayload { reason, .. }) => assert!(!reason.is_empty(), "{what}"),
            other => panic!("{what}: {other:?}"),
        }
    }
}

#[test]
fn unknown_and_out_of_scope_events_are_ignored_with_a_reason() {
    let adapter = JiraWebhooks::new();
    let mut body = fixture_json(ASSIGNED);
    for event in [
        "worklog_created",
        "jira:version_released",
        "sprint_started",
        "kradle_unknown",
    ] {
        body["webhookEvent"] = json!(event);
        let normalized = adapter
            .normalize_webhook(&signed(serde_json::to_vec(&body).unwrap()))
            .unwrap();
        assert!(normalized.events.is_empty(), "{event}");
        let reason = normalized.ignored.unwrap();
        assert!(
            reason.contains(event) && reason.contains("accepted"),
            "{reason}"
        );
        // The project is still named, so a foreign site's delivery is rejected as such.
        assert_eq!(
            normalized.target.map(|t| t.path).as_deref(),
            Some("some-instance-test.atlassian.net/TES")
        );
    }
}

/// Derived from the real `assigned` delivery: its issue reduced to `id`, `key` and `self`
/// (as a payload whose issue lacks the fields), the changelog kept. Only what the changelog
/// states whole is observed; nothing else is blanked.
#[test]
fn a_changelog_only_update_observes_only_the_changed_fields() {
    let mut body = fixture_json(ASSIGNED);
    body["issue"]["fields"] = json!({});
    body["changelog"]["items"].as_array_mut().unwrap().push(
        json!({"field": "summary", "fieldtype": "jira", "fieldId": "summary",
            "from": null, "fromString": "Unit test summary 1", "to": null,
            "toString": "Unit test summary 2"}),
    );
    let normalized = JiraWebhooks::new()
        .normalize_webhook(&signed(serde_json::to_vec(&body).unwrap()))
        .unwrap();
    let Change::Observed { fields, version } = &normalized.events[0].change else {
        panic!("observed")
    };
    let keys: Vec<&str> = fields.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "assignees",
            "html_url",
            "key",
            "locked",
            "number",
            "pull_request",
            "title"
        ]
    );
    assert_eq!(fields["assignees"], json!(["admin"]));
    assert_eq!(fields["title"], "Unit test summary 2");
    // No `updated` in the payload: the delivery's `timestamp` is the version.
    assert_eq!(
        version.updated_at,
        Utc.timestamp_millis_opt(1_550_287_081_752).single()
    );
}

#[test]
fn comments_order_by_their_issue_and_carry_it() {
    let adapter = JiraWebhooks::new();
    let server = signed(fixture(
        "webhooks/comment_created/mattermost-server-comment-created.json",
    ));
    assert_eq!(
        adapter.ordering_key(&server).as_deref(),
        Some("issue:10013")
    );
    let normalized = adapter.normalize_webhook(&server).unwrap();
    // Data Center sends the comment alone: no project is named.
    assert!(normalized.target.is_none());
    let Change::Observed { fields, .. } = &normalized.events[0].change else {
        panic!("observed")
    };
    assert_eq!(fields["issue_native_id"], "10013");
    let cloud = signed(fixture(
        "webhooks/comment_created/mattermost-cloud-comment-created.json",
    ));
    assert_eq!(adapter.ordering_key(&cloud).as_deref(), Some("issue:10040"));
    let n = adapter.normalize_webhook(&cloud).unwrap();
    let Change::Observed { fields, .. } = &n.events[0].change else {
        panic!("observed")
    };
    assert_eq!(fields["issue_number"], 41);
    assert_eq!(
        n.target.unwrap().path,
        "some-instance-test.atlassian.net/TES"
    );
}

#[test]
fn every_fixture_names_its_site_and_project_or_none() {
    let adapter = JiraWebhooks::new();
    for name in common::webhook_names() {
        let body = fixture(&format!("webhooks/{name}"));
        let value: Value = serde_json::from_slice(&body).unwrap();
        let n = adapter.normalize_webhook(&signed(body)).unwrap();
        match value.pointer("/issue/self").and_then(Value::as_str) {
            Some(url) => {
                let host = url.split('/').nth(2).unwrap().to_ascii_lowercase();
                let path = n.target.unwrap().path;
                assert!(path.starts_with(&format!("{host}/")), "{name}: {path}");
            }
            None => assert!(n.target.is_none(), "{name}"),
        }
    }
}

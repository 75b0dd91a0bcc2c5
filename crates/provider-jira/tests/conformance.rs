//! The provider conformance kit of `kradle-sync-core` run over every real Jira webhook
//! fixture, twice: as admin webhooks signed with `X-Hub-Signature` (HMAC-SHA256), and as an
//! OAuth 2.0 app's webhooks carrying an HS256 app token.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::Utc;
use common::{ISSUER, SECRET, fixture, signed, webhook_names, with_app_token};
use kradle_provider_jira::{JiraAuth, JiraClient, JiraPlugin, JiraWebhooks};
use kradle_sync_core::testing::provider::{Fixture, ProviderHarness, Rule, assert_conforms, check};
use kradle_sync_core::{
    ConnectOptions, Credentials, ExternalTarget, Headers, ProviderPlugin, Secret, SignatureScheme,
    WebhookAdapter, WebhookRequest,
};

struct Jira {
    adapter: JiraWebhooks,
    scheme: SignatureScheme,
}

impl Jira {
    fn sign(&self, body: Vec<u8>) -> WebhookRequest {
        match self.scheme {
            SignatureScheme::JwtHs256 => with_app_token(body, Utc::now()),
            _ => signed(body),
        }
    }
}

/// Which recording a fixture comes from: the source project and the site its payloads
/// name. Different recordings reuse keys and ids for other issues.
fn recording(name: &str) -> String {
    let file = name.rsplit('/').next().unwrap_or(name);
    let source = if file.starts_with("jira-trigger-") {
        "jira-trigger"
    } else {
        "mattermost"
    };
    let body: serde_json::Value =
        serde_json::from_slice(&fixture(&format!("webhooks/{name}"))).unwrap_or_default();
    let url = body
        .pointer("/issue/self")
        .or_else(|| body.pointer("/comment/self"))
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let host = url.split('/').nth(2).unwrap_or_default();
    format!("{source}@{host}")
}

impl ProviderHarness for Jira {
    fn adapter(&self) -> &dyn WebhookAdapter {
        &self.adapter
    }

    fn secret(&self) -> Secret {
        Secret::new(SECRET)
    }

    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }

    fn issuer(&self) -> Option<String> {
        (self.scheme == SignatureScheme::JwtHs256).then(|| ISSUER.to_owned())
    }

    fn fixtures(&self) -> Vec<Fixture> {
        webhook_names()
            .into_iter()
            .map(|name| {
                let body = fixture(&format!("webhooks/{name}"));
                Fixture::new(name, self.sign(body))
            })
            .collect()
    }

    fn signature_headers(&self) -> Vec<String> {
        vec!["X-Hub-Signature".into(), "Authorization".into()]
    }

    fn resign(&self, request: &WebhookRequest, body: Vec<u8>) -> WebhookRequest {
        let mut again = self.sign(body);
        // Keep the delivery id of the original request.
        let id = request
            .headers
            .get("X-Atlassian-Webhook-Identifier")
            .unwrap_or_default()
            .to_owned();
        again.headers = Headers::from_pairs(again.headers.iter().map(|(k, v)| {
            if k.eq_ignore_ascii_case("X-Atlassian-Webhook-Identifier") {
                (k.to_owned(), id.clone())
            } else {
                (k.to_owned(), v.to_owned())
            }
        }));
        again
    }

    /// Jira names its event in the body: the unknown event is written there.
    fn with_unknown_event(&self, request: &WebhookRequest) -> WebhookRequest {
        let mut body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        body["webhookEvent"] = serde_json::json!("kradle_conformance_unknown");
        self.resign(request, serde_json::to_vec(&body).unwrap())
    }

    fn id_scope(&self, fixture: &str) -> String {
        recording(fixture)
    }

    /// One issue (TES-41 on some-instance-test.atlassian.net) in the order Mattermost's
    /// recordings show it changing (their `timestamp`s and `updated` agree).
    fn sequences(&self) -> Vec<Vec<String>> {
        let seq = |names: &[&str]| {
            names
                .iter()
                .map(|n| format!("jira_issue_updated/mattermost-{n}.json"))
                .collect::<Vec<_>>()
        };
        let mut tes41 = vec!["jira_issue_created/mattermost-issue-created.json".to_owned()];
        tes41.extend(seq(&[
            "issue-updated-fix-version",
            "issue-updated-edited",
            "issue-updated-started-working",
            "issue-updated-resolved",
            "issue-updated-reopened",
            "issue-updated-assigned",
            "issue-updated-assigned-nobody",
            "issue-updated-labels",
            "issue-updated-lowered-priority",
            "issue-updated-raised-priority",
        ]));
        vec![tes41]
    }

    fn secret_holders(&self) -> Vec<String> {
        let token = Secret::new(SECRET);
        let options =
            ConnectOptions::new(ExternalTarget::from_path("example.atlassian.net/KRADLE"))
                .with_api_url("https://example.atlassian.net")
                .with_credentials(Credentials::Basic {
                    username: "me@example.com".into(),
                    token: token.clone(),
                });
        let client = JiraClient::builder(reqwest::Client::new(), "https://example.atlassian.net")
            .auth(JiraAuth::basic("me@example.com", token.clone()))
            .build()
            .unwrap();
        let plugin = JiraPlugin::new();
        vec![
            format!("{options:?}"),
            format!("{client:?}"),
            format!("{:?}", JiraAuth::oauth(token.clone())),
            format!("{:?}", JiraAuth::token(token)),
            format!("{plugin:?}"),
            format!("{:?}", plugin.connect(options.clone()).map(|_| ())),
        ]
    }
}

#[test]
fn jira_admin_webhooks_conform_on_every_fixture() {
    assert_conforms(&Jira {
        adapter: JiraWebhooks::new(),
        scheme: SignatureScheme::HmacSha256,
    });
}

/// An app token signs its claims, not the body (Jira's app JWTs carry no hash of the
/// body), so a body altered in transit cannot be detected from the token: the kit's
/// `RefusesTampered` rule cannot hold for this scheme, and is the only rule allowed to
/// break. Every other rule holds.
#[test]
fn jira_app_webhooks_conform_on_every_fixture_but_body_tampering() {
    let violations = check(&Jira {
        adapter: JiraWebhooks::new(),
        scheme: SignatureScheme::JwtHs256,
    });
    let other: Vec<String> = violations
        .iter()
        .filter(|v| v.rule != Rule::RefusesTampered)
        .map(ToString::to_string)
        .collect();
    assert!(other.is_empty(), "{}", other.join("\n"));
}

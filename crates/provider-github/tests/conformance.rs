//! The provider conformance kit of `kradle-sync-core` run over every real GitHub webhook
//! fixture.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{SECRET, fixture, fixtures, signature, signed};
use kradle_provider_github::{GithubPlugin, GithubWebhooks};
use kradle_sync_core::testing::provider::{Fixture, ProviderHarness, assert_conforms};
use kradle_sync_core::{
    ConnectOptions, Credentials, ExternalTarget, Headers, ProviderPlugin, Secret, WebhookAdapter,
    WebhookRequest,
};

struct Github {
    adapter: GithubWebhooks,
}

/// `event/action.json` of every webhook fixture, sorted.
fn fixture_names() -> Vec<String> {
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

impl ProviderHarness for Github {
    fn adapter(&self) -> &dyn WebhookAdapter {
        &self.adapter
    }

    fn secret(&self) -> Secret {
        Secret::new(SECRET)
    }

    fn fixtures(&self) -> Vec<Fixture> {
        fixture_names()
            .into_iter()
            .map(|name| {
                let event = name.split('/').next().unwrap_or_default().to_owned();
                let body = fixture(&format!("webhooks/{name}"));
                Fixture::new(name, signed(&event, body))
            })
            .collect()
    }

    fn signature_headers(&self) -> Vec<String> {
        vec!["X-Hub-Signature-256".into(), "X-Hub-Signature".into()]
    }

    fn resign(&self, request: &WebhookRequest, body: Vec<u8>) -> WebhookRequest {
        let sig = signature(SECRET, &body);
        let headers = Headers::from_pairs(request.headers.iter().map(|(k, v)| {
            if k.eq_ignore_ascii_case("X-Hub-Signature-256") {
                (k.to_owned(), sig.clone())
            } else {
                (k.to_owned(), v.to_owned())
            }
        }));
        WebhookRequest::new(headers, body)
    }

    fn with_unknown_event(&self, request: &WebhookRequest) -> WebhookRequest {
        let headers = Headers::from_pairs(request.headers.iter().map(|(k, v)| {
            if k.eq_ignore_ascii_case("X-GitHub-Event") {
                (k, "kradle_conformance_unknown")
            } else {
                (k, v)
            }
        }));
        WebhookRequest::new(headers, request.body.clone())
    }

    /// Two octokit examples are spliced from other deliveries, which the kit's id check
    /// found: `pull_request_review/dismissed.json` carries pull request 370123640
    /// (hellomouse/GNS#902 by its `url`) under Codertocat/Hello-World's number 2, and
    /// `installation/suspend.json` and `unsuspend.json` carry installation 16598467 with
    /// installation 957387's `html_url`. Those are recordings of their own; the rest are
    /// one.
    fn id_scope(&self, fixture: &str) -> String {
        match fixture {
            "pull_request_review/dismissed.json" => fixture.to_owned(),
            "installation/suspend.json" | "installation/unsuspend.json" => "suspension".into(),
            _ => String::new(),
        }
    }

    /// Two sessions in which octokit recorded one issue and one pull request changing,
    /// in the order the actions were taken (their `updated_at` and the actions agree).
    fn sequences(&self) -> Vec<Vec<String>> {
        let seq = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect();
        vec![
            seq(&[
                "issues/opened.json",
                "issues/unassigned.json",
                "issues/unlabeled.json",
                "issues/locked.json",
                "issues/unlocked.json",
            ]),
            seq(&[
                "pull_request/opened.json",
                "pull_request/labeled.json",
                "pull_request/locked.json",
                "pull_request/unlocked.json",
                "pull_request/closed.json",
            ]),
        ]
    }

    fn secret_holders(&self) -> Vec<String> {
        let token = Secret::new(SECRET);
        let options = ConnectOptions::new(ExternalTarget::from_path("octo/repo"))
            .with_credentials(Credentials::Token(token.clone()));
        let client = kradle_provider_github::GithubClient::builder(reqwest::Client::new())
            .auth(kradle_provider_github::GithubAuth::token(token))
            .build()
            .unwrap();
        let plugin = GithubPlugin::new();
        vec![
            format!("{options:?}"),
            format!("{client:?}"),
            format!("{plugin:?}"),
            format!("{:?}", plugin.connect(options.clone()).map(|_| ())),
        ]
    }
}

#[test]
fn github_conforms_on_every_webhook_fixture() {
    assert_conforms(&Github {
        adapter: GithubWebhooks::new(),
    });
}

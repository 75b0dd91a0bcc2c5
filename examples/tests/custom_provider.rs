//! The provider conformance kit run over the custom provider of
//! `examples/custom_provider.rs`, with the real GitLab pipeline hook it reads.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "../custom_provider.rs"]
mod custom_provider;

use custom_provider::GitlabPipelines;
use kradle_sync_core::testing::provider::{Fixture, ProviderHarness, assert_conforms};
use kradle_sync_core::{Headers, Secret, WebhookAdapter, WebhookRequest};

const TOKEN: &str = "hook-token";

struct Harness(GitlabPipelines);

fn request(event: &str, body: Vec<u8>) -> WebhookRequest {
    WebhookRequest::new(
        Headers::from_pairs([
            ("X-Gitlab-Event", event),
            ("X-Gitlab-Token", TOKEN),
            (
                "X-Gitlab-Event-UUID",
                "6b5ef6c8-d2b1-4f2e-9b0a-3d9a0f0c1e42",
            ),
        ]),
        body,
    )
}

impl ProviderHarness for Harness {
    fn adapter(&self) -> &dyn WebhookAdapter {
        &self.0
    }

    fn secret(&self) -> Secret {
        Secret::new(TOKEN)
    }

    fn fixtures(&self) -> Vec<Fixture> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/gitlab/webhooks/pipeline.json"
        );
        let body = std::fs::read(path).unwrap();
        vec![Fixture::new(
            "pipeline.json",
            request("Pipeline Hook", body),
        )]
    }

    fn signature_headers(&self) -> Vec<String> {
        vec!["X-Gitlab-Token".into()]
    }

    /// GitLab's token does not sign the body: the same headers go with any body.
    fn resign(&self, request: &WebhookRequest, body: Vec<u8>) -> WebhookRequest {
        WebhookRequest::new(request.headers.clone(), body)
    }

    fn with_unknown_event(&self, request: &WebhookRequest) -> WebhookRequest {
        let headers = Headers::from_pairs(request.headers.iter().map(|(k, v)| {
            if k.eq_ignore_ascii_case("X-Gitlab-Event") {
                (k, "Kradle Conformance Hook")
            } else {
                (k, v)
            }
        }));
        WebhookRequest::new(headers, request.body.clone())
    }
}

#[test]
fn the_custom_provider_conforms() {
    assert_conforms(&Harness(GitlabPipelines::new()));
}

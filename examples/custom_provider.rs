//! A provider written outside kradle-sync: a CI-only adapter for GitLab pipeline hooks.
//!
//! It declares one interface (CI/CD), verifies GitLab's `X-Gitlab-Token` in constant time,
//! and turns a real Pipeline Hook payload (`fixtures/gitlab/webhooks/pipeline.json`) into a
//! pipeline and its jobs. The engine does the rest: deduplication, ordering, org checks,
//! audit. Run it with `cargo run -p kradle-examples --example custom_provider`.

use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, Utc};
use kradle_store_memory::MemoryStore;
use kradle_sync_core::object::{Job, Pipeline};
use kradle_sync_core::store::Filter;
use kradle_sync_core::{
    AuthMode, Authority, Binding, BindingId, Canonical, CanonicalEvent, Capabilities, Change,
    DeliveryId, Engine, Error, ExternalTarget, ExternalVersion, Headers, Interface, NativeId,
    NormalizedWebhook, ProviderDescriptor, ResourceKind, Secret, SignatureScheme, SyncStore,
    VerifiedWebhook, WebhookAdapter, WebhookKey, WebhookRequest,
};
use serde::Deserialize;

/// The provider type name.
pub const KIND: &str = "gitlab-pipelines";

/// The parts of a Pipeline Hook this adapter reads.
#[derive(Deserialize)]
struct PipelineHook {
    object_attributes: Attributes,
    project: Project,
    #[serde(default)]
    builds: Vec<Build>,
}

#[derive(Deserialize)]
struct Attributes {
    id: u64,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    sha: Option<String>,
    status: Option<String>,
    source: Option<String>,
    created_at: Option<String>,
    finished_at: Option<String>,
}

#[derive(Deserialize)]
struct Project {
    path_with_namespace: String,
    web_url: Option<String>,
}

#[derive(Deserialize)]
struct Build {
    id: u64,
    name: String,
    status: Option<String>,
    started_at: Option<String>,
    finished_at: Option<String>,
}

/// GitLab writes hook times as `2016-08-12 15:23:28 UTC`.
fn time(s: &Option<String>) -> Option<DateTime<Utc>> {
    let s = s.as_deref()?.trim_end_matches(" UTC");
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|t| t.and_utc())
}

/// The adapter: GitLab's Pipeline Hook into a pipeline and its jobs.
pub struct GitlabPipelines {
    descriptor: ProviderDescriptor,
}

impl Default for GitlabPipelines {
    fn default() -> Self {
        Self::new()
    }
}

impl GitlabPipelines {
    /// The adapter.
    pub fn new() -> Self {
        Self {
            descriptor: ProviderDescriptor::new(KIND, &[Interface::Cicd], SignatureScheme::Token)
                .with_display_name("GitLab pipelines")
                .with_hosting(&["saas", "self-managed"])
                .with_auth_modes(&[AuthMode::Token])
                .with_delivery_header("X-Gitlab-Event-UUID")
                .with_event_header("X-Gitlab-Event")
                .with_capabilities(
                    Capabilities::default()
                        .with_conditional_reads(true)
                        .with_merge_with_expected_sha(true)
                        .with_reviewed_writes(true),
                ),
        }
    }

    fn event(
        &self,
        delivery: &DeliveryId,
        target: &ExternalTarget,
        kind: ResourceKind,
        id: u64,
        at: Option<DateTime<Utc>>,
        fields: kradle_sync_core::Fields,
    ) -> CanonicalEvent {
        let mut version = ExternalVersion::default();
        version.updated_at = at;
        CanonicalEvent::new(
            self.descriptor.kind.clone(),
            delivery.clone(),
            kind,
            NativeId::new(id.to_string()),
            "status",
            Authority::Webhook,
            Change::Observed { version, fields },
        )
        .with_event_time(at)
        .with_target(Some(target.clone()))
    }
}

impl WebhookAdapter for GitlabPipelines {
    fn descriptor(&self) -> &ProviderDescriptor {
        &self.descriptor
    }

    fn verify_webhook(
        &self,
        request: &WebhookRequest,
        key: &WebhookKey<'_>,
    ) -> Result<VerifiedWebhook, Error> {
        let provider = self.descriptor.kind.clone();
        let token = request
            .headers
            .get("X-Gitlab-Token")
            .ok_or_else(|| Error::Signature {
                provider: provider.clone(),
                reason: "no X-Gitlab-Token header".into(),
            })?;
        // `matches` compares in constant time.
        if key.scheme != SignatureScheme::Token || !key.secret.matches(token.as_bytes()) {
            return Err(Error::Signature {
                provider,
                reason: "X-Gitlab-Token does not match".into(),
            });
        }
        let delivery = request
            .headers
            .get("X-Gitlab-Event-UUID")
            .ok_or(Error::MissingHeader {
                provider: self.descriptor.kind.clone(),
                header: "X-Gitlab-Event-UUID",
            })?;
        let event = request.headers.get("X-Gitlab-Event").unwrap_or("unknown");
        Ok(VerifiedWebhook::new(delivery, event, "token"))
    }

    fn normalize_webhook(&self, request: &WebhookRequest) -> Result<NormalizedWebhook, Error> {
        let event = request
            .headers
            .get("X-Gitlab-Event")
            .unwrap_or_default()
            .to_owned();
        if event != "Pipeline Hook" {
            let reason = format!("{event} is not a pipeline event");
            return Ok(NormalizedWebhook::ignored(event, reason));
        }
        let hook: PipelineHook =
            serde_json::from_slice(&request.body).map_err(|e| Error::MalformedPayload {
                provider: self.descriptor.kind.clone(),
                reason: e.to_string(),
            })?;
        let delivery = DeliveryId::new(
            request
                .headers
                .get("X-Gitlab-Event-UUID")
                .unwrap_or_default(),
        );
        let target = ExternalTarget::from_path(hook.project.path_with_namespace);
        let a = &hook.object_attributes;
        let at = time(&a.finished_at).or(time(&a.created_at));
        let mut pipeline = Pipeline::default();
        pipeline.number = Some(a.id);
        pipeline.status = a.status.clone();
        pipeline.head_branch = a.git_ref.clone();
        pipeline.head_sha = a.sha.clone();
        pipeline.event = a.source.clone();
        pipeline.started_at = time(&a.created_at);
        pipeline.html_url = hook
            .project
            .web_url
            .as_ref()
            .map(|u| format!("{u}/-/pipelines/{}", a.id));
        let mut events = vec![self.event(
            &delivery,
            &target,
            ResourceKind::Pipeline,
            a.id,
            at,
            pipeline.to_fields(),
        )];
        for b in &hook.builds {
            let mut job = Job::default();
            job.pipeline_native_id = Some(a.id.to_string());
            job.name = b.name.clone();
            job.status = b.status.clone();
            job.head_sha = a.sha.clone();
            job.started_at = time(&b.started_at);
            job.completed_at = time(&b.finished_at);
            events.push(self.event(
                &delivery,
                &target,
                ResourceKind::Job,
                b.id,
                time(&b.finished_at).or(at),
                job.to_fields(),
            ));
        }
        Ok(NormalizedWebhook::events(event, events)
            .with_action(a.status.clone())
            .with_target(Some(target)))
    }

    fn parse_rest_object(
        &self,
        kind: ResourceKind,
        _: &serde_json::Value,
        _: &DeliveryId,
    ) -> Result<Option<CanonicalEvent>, Error> {
        Err(Error::Unsupported {
            kind,
            detail: "backfill in this example".into(),
        })
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/gitlab/webhooks/pipeline.json"
    );
    let body = std::fs::read(path)?;
    let store: Arc<dyn SyncStore> = Arc::new(MemoryStore::new());
    let binding = Binding::new(
        "gitlab-org/gitlab-test",
        KIND,
        ExternalTarget::from_path("gitlab-org/gitlab-test"),
        &[Interface::Cicd],
    )
    .with_secret(Secret::new("hook-token"));
    let engine = Engine::builder(store.clone())
        .adapter(Arc::new(GitlabPipelines::new()))
        .binding(binding)
        .build()?;
    let request = WebhookRequest::new(
        Headers::from_pairs([
            ("X-Gitlab-Event", "Pipeline Hook"),
            ("X-Gitlab-Token", "hook-token"),
            (
                "X-Gitlab-Event-UUID",
                "6b5ef6c8-d2b1-4f2e-9b0a-3d9a0f0c1e42",
            ),
        ]),
        body,
    );
    let id = BindingId::new("gitlab-org/gitlab-test");
    futures::executor::block_on(async {
        let (receipt, report) = engine.ingest(&id, request.clone(), Utc::now()).await?;
        println!("first delivery: {receipt:?}, {report:?}");
        let (receipt, _) = engine.ingest(&id, request, Utc::now()).await?;
        println!("redelivery: {receipt:?}");
        for object in store.list_objects(&Filter::all()).await? {
            println!(
                "{} {} {}",
                object.key.kind,
                object.key.native_id,
                serde_json::to_string(&object.fields())?
            );
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    Ok(())
}

//! GitLab: ingest + verify + normalize + apply on the memory store, per delivery, against
//! the floor (parsing the same bytes into `serde_json::Value` plus one constant-time compare
//! of the `X-Gitlab-Token` with the secret); and normalize alone.
//!
//! Every iteration replays every real GitLab webhook fixture that names its project, each
//! with its own `Idempotency-Key`, into a fresh engine with a binding per project, so every
//! delivery is verified, stored, normalized and applied.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::DateTime;
use criterion::{Criterion, Throughput};
use futures::executor::block_on;
use kradle_provider_gitlab::GitlabWebhooks;
use kradle_store_memory::MemoryStore;
use kradle_sync_core::{
    Binding, BindingId, Engine, ExternalTarget, Headers, Interface, Secret, SyncStore,
    WebhookAdapter, WebhookRequest,
};
use serde_json::Value;
use subtle::ConstantTimeEq;

const SECRET: &str = "bench-gitlab-secret-token";

fn hook_of(folder: &str) -> &'static str {
    match folder {
        "issue" => "Issue Hook",
        "note" => "Note Hook",
        "merge_request" => "Merge Request Hook",
        "pipeline" => "Pipeline Hook",
        "build" => "Job Hook",
        "push" => "Push Hook",
        "tag_push" => "Tag Push Hook",
        "deployment" => "Deployment Hook",
        "release" => "Release Hook",
        _ => "Member Hook",
    }
}

/// (project, request) of every webhook fixture that names its project, as GitLab 17.4+
/// sends it.
fn deliveries() -> Vec<(String, WebhookRequest)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/gitlab/webhooks");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .flat_map(|d| std::fs::read_dir(d).unwrap().map(|e| e.unwrap().path()))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|path| {
            let folder = path.parent()?.file_name()?.to_string_lossy().into_owned();
            let body = std::fs::read(&path).unwrap();
            let value: Value = serde_json::from_slice(&body).unwrap();
            let project = value["project"]["path_with_namespace"].as_str()?.to_owned();
            let id = format!("bench-{}", path.display());
            let request = WebhookRequest::new(
                Headers::from_pairs([
                    ("X-Gitlab-Event", hook_of(&folder).to_owned()),
                    ("X-Gitlab-Token", SECRET.to_owned()),
                    ("Idempotency-Key", id),
                ]),
                body,
            );
            Some((project, request))
        })
        .collect()
}

fn engine(store: Arc<dyn SyncStore>, projects: &[String]) -> Engine {
    let mut builder = Engine::builder(store).adapter(Arc::new(GitlabWebhooks::new()));
    for p in projects {
        builder = builder.binding(
            Binding::new(
                p.as_str(),
                "gitlab",
                ExternalTarget::from_path(p),
                &Interface::ALL,
            )
            .with_secret(Secret::new(SECRET)),
        );
    }
    builder.build().unwrap()
}

fn bench(c: &mut Criterion) {
    let deliveries = deliveries();
    let mut projects: Vec<String> = deliveries.iter().map(|(p, _)| p.clone()).collect();
    projects.sort();
    projects.dedup();
    let mut group = c.benchmark_group("gitlab_ingest");
    group.throughput(Throughput::Elements(deliveries.len() as u64));
    group.bench_function("floor", |b| {
        b.iter(|| {
            for (_, r) in &deliveries {
                let value: Value = serde_json::from_slice(black_box(&r.body)).unwrap();
                let token = r.headers.get("X-Gitlab-Token").unwrap_or_default();
                let same: bool = token.as_bytes().ct_eq(SECRET.as_bytes()).into();
                black_box((value, same));
            }
        })
    });
    let adapter = GitlabWebhooks::new();
    group.bench_function("normalize", |b| {
        b.iter(|| {
            for (_, r) in &deliveries {
                black_box(adapter.normalize_webhook(black_box(r)).unwrap());
            }
        })
    });
    group.bench_function("engine_memory", |b| {
        b.iter_batched(
            || {
                let store: Arc<dyn SyncStore> = Arc::new(MemoryStore::new());
                (engine(store, &projects), deliveries.clone())
            },
            |(e, deliveries)| {
                for (project, r) in deliveries {
                    let binding = BindingId::new(project);
                    black_box(block_on(e.ingest(&binding, r, DateTime::UNIX_EPOCH)).unwrap());
                }
            },
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    kradle_benches::report_ratios("gitlab_ingest", "floor", &["normalize", "engine_memory"]);
}

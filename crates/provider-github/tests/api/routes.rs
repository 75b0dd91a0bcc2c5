//! Every write the provider traits declare, asked for by a host through the engine and
//! executed by the write executor over the GitHub client: each becomes the one request
//! GitHub documents (method, path, body), answered with GitHub's documented response.

use std::sync::Arc;

use kradle_provider_github::GithubPlugin;
use kradle_store_memory::MemoryStore;
use kradle_sync_core::store::Filter;
use kradle_sync_core::write_intent::{Actor, WriteOperation, WritePhase};
use kradle_sync_core::{
    Binding, BindingId, Connections, Engine, ExternalTarget, Fields, Interface, NativeId, Provider,
    ResourceKind, Secret, SyncStore, WriteExecutor, marker,
};
use kradle_test_support::recorded::received;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

use kradle_test_support::recorded::Exchange;

use crate::common::{self, at};

// The REST examples are about octocat/Hello-World, but for the check run, about
// github/hello-world: two bindings.
const REPO: &str = "octocat/Hello-World";
const API: &str = "/repos/octocat/Hello-World";
const CHECKS_REPO: &str = "github/hello-world";
const CHECKS_API: &str = "/repos/github/hello-world";

async fn serve(server: &MockServer, verb: &str, at: &str, answer: &Exchange) {
    Mock::given(method(verb))
        .and(path(at))
        .respond_with(answer.respond(server))
        .expect(1)
        .mount(server)
        .await;
}

fn fields(pairs: Value) -> Fields {
    pairs
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[tokio::test]
async fn every_declared_write_is_routed_to_its_endpoint() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let now = at("2017-10-10T15:00:00Z");
    let store: Arc<dyn SyncStore> = Arc::new(MemoryStore::new());
    let binding = Binding::new(
        REPO,
        "github",
        ExternalTarget::from_path(REPO),
        &Interface::ALL,
    )
    .with_secret(Secret::new("webhook secret"));
    let checks = Binding::new(
        CHECKS_REPO,
        "github",
        ExternalTarget::from_path(CHECKS_REPO),
        &Interface::ALL,
    )
    .with_secret(Secret::new("webhook secret"));
    let engine = Engine::builder(store.clone())
        .provider(Arc::new(GithubPlugin::new()))
        .binding(binding)
        .binding(checks)
        .build()
        .unwrap();
    let id = BindingId::new(REPO);
    let checks_id = BindingId::new(CHECKS_REPO);
    let user = || Actor::user("alice");

    // What the host knows: the objects its updates and deletes are about, as REST returns
    // them (commands on pipelines and jobs need no stored object).
    for (binding, kind, file) in [
        (&id, ResourceKind::PullRequest, "forge/pull-request.json"),
        (&checks_id, ResourceKind::CheckRun, "checks/check-run.json"),
        (&id, ResourceKind::DeployKey, "forge/deploy-key.json"),
    ] {
        engine
            .backfill(binding, kind, &[common::rest(file)], false, now)
            .await
            .unwrap();
    }

    // The documented answers.
    let ex = |file: &str| common::example(200, common::rest(file));
    let created = |file: &str| common::example(201, common::rest(file));
    let no_content = || common::example(204, Value::Null);
    let mut pull = common::rest("forge/pull-request.json");
    serve(
        &server,
        "POST",
        &format!("{API}/actions/runs/30433642/rerun"),
        &common::example(201, json!({})),
    )
    .await;
    serve(
        &server,
        "POST",
        &format!("{API}/actions/jobs/399444496/rerun"),
        &common::example(201, json!({})),
    )
    .await;
    serve(
        &server,
        "PATCH",
        &format!("{CHECKS_API}/check-runs/4"),
        &ex("checks/check-run.json"),
    )
    .await;
    serve(
        &server,
        "POST",
        &format!("{CHECKS_API}/check-runs"),
        &created("checks/check-run.json"),
    )
    .await;
    serve(
        &server,
        "POST",
        &format!("{API}/statuses/6dcb09b5b57875f334f61aebed695e2e4193db5e"),
        &created("checks/status.json"),
    )
    .await;
    serve(
        &server,
        "PATCH",
        &format!("{API}/pulls/1347"),
        &ex("forge/pull-request.json"),
    )
    .await;
    let key_of = |store_intents: &[kradle_sync_core::write_intent::WriteIntent], native: &str| {
        store_intents
            .iter()
            .find(|i| i.target.native_id.as_str() == native)
            .map(|i| i.idempotency_key.clone())
            .unwrap()
    };
    serve(
        &server,
        "PUT",
        &format!("{API}/pulls/1347/merge"),
        &ex("forge/pull-request-merge-result-response-if-merge-was-successful.json"),
    )
    .await;
    serve(
        &server,
        "POST",
        &format!("{API}/pulls/1347/reviews"),
        &ex("forge/pull-request-review.json"),
    )
    .await;
    let protect = common::session("branch-protection").remove(1);
    serve(
        &server,
        "PUT",
        &format!("{API}/branches/main/protection"),
        &protect,
    )
    .await;
    serve(
        &server,
        "POST",
        &format!("{API}/keys"),
        &created("forge/deploy-key.json"),
    )
    .await;
    serve(&server, "DELETE", &format!("{API}/keys/1"), &no_content()).await;
    serve(
        &server,
        "PUT",
        &format!("{API}/collaborators/octocat"),
        &created("forge/repository-invitation.json"),
    )
    .await;

    // The host's writes.
    let pipeline = |kind, native: &str, op| {
        let engine = &engine;
        let id = &id;
        let native = NativeId::new(native);
        async move {
            engine
                .request_action(id, kind, &native, op, Fields::new(), user(), now)
                .await
                .unwrap()
        }
    };
    pipeline(ResourceKind::Pipeline, "30433642", WriteOperation::Rerun).await;
    pipeline(ResourceKind::Job, "399444496", WriteOperation::Rerun).await;
    pipeline(ResourceKind::Job, "399444496", WriteOperation::Cancel).await;
    let change_in = |id: &BindingId, kind, native: &str, values: Value| {
        let engine = &engine;
        let id = id.clone();
        let native = NativeId::new(native);
        async move {
            engine
                .local_change(&id, kind, &native, fields(values), user(), now)
                .await
                .unwrap()
        }
    };
    let change = |kind, native: &str, values: Value| change_in(&id, kind, native, values);
    change_in(
        &checks_id,
        ResourceKind::CheckRun,
        "4",
        json!({"status": "in_progress"}),
    )
    .await;
    change_in(
        &checks_id,
        ResourceKind::CheckRun,
        "local-check",
        json!({"name": "mighty_readme", "head_sha": "ce587453ced02b1526dfb4cb910479d431683101", "status": "in_progress"}),
    )
    .await;
    change(
        ResourceKind::CommitStatus,
        "local-status",
        json!({"sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e", "state": "success",
               "context": "continuous-integration/jenkins", "description": "Build has completed successfully",
               "target_url": "https://ci.example.com/1000/output"}),
    )
    .await;
    change(
        ResourceKind::PullRequest,
        "1",
        json!({"title": "new-feature, reviewed"}),
    )
    .await;
    engine
        .request_action(
            &id,
            ResourceKind::PullRequest,
            &NativeId::new("1"),
            WriteOperation::Merge {
                expected_head_sha: "6dcb09b5b57875f334f61aebed695e2e4193db5e".into(),
            },
            Fields::new(),
            user(),
            now,
        )
        .await
        .unwrap();
    change(
        ResourceKind::Review,
        "local-review",
        json!({"pull_number": 1347, "state": "CHANGES_REQUESTED", "body": "Please fix the tests"}),
    )
    .await;
    let rules = json!({"required_status_checks": null, "required_pull_request_reviews": null, "restrictions": null, "enforce_admins": false});
    change(
        ResourceKind::BranchProtection,
        "main",
        json!({ "rules": rules }),
    )
    .await;
    change(
        ResourceKind::DeployKey,
        "local-key",
        json!({"title": "octocat@octomac", "key": "ssh-rsa AAA...", "read_only": true}),
    )
    .await;
    engine
        .local_delete(
            &id,
            ResourceKind::DeployKey,
            &NativeId::new("1"),
            user(),
            now,
        )
        .await
        .unwrap();
    change(
        ResourceKind::Collaborator,
        "octocat",
        json!({"permission": "push"}),
    )
    .await;

    // A new pull request, created with its marker in the body.
    change(
        ResourceKind::PullRequest,
        "local-pr",
        json!({"title": "Amazing new feature", "body": "Please pull these awesome changes in!",
               "head": "octocat:new-feature", "base": "master"}),
    )
    .await;
    let intents = store
        .list_write_intents(&Filter::all(), None)
        .await
        .unwrap();
    pull["body"] = json!(marker::embed(
        "Please pull these awesome changes in!",
        &key_of(&intents, "local-pr")
    ));
    serve(
        &server,
        "POST",
        &format!("{API}/pulls"),
        &common::example(201, pull),
    )
    .await;

    // The worker's part.
    let github: Arc<dyn Provider> = Arc::new(common::client(&server, &clock));
    let connections = Connections::new()
        .with(REPO, github.clone())
        .with(CHECKS_REPO, github);
    let done = WriteExecutor::with_connections(&engine, &connections)
        .run_due(now)
        .await
        .unwrap();
    assert_eq!(done.len(), 14, "{done:#?}");

    let phase_of = |kind: ResourceKind, native: &str| {
        done.iter()
            .filter(|i| i.target.kind == kind && i.target.native_id.as_str() == native)
            .map(|i| (format!("{:?}", i.operation), i.phase))
            .collect::<Vec<_>>()
    };
    // GitHub cancels whole runs, never one job: that write is refused for good.
    assert!(
        phase_of(ResourceKind::Job, "399444496")
            .contains(&("Cancel".into(), WritePhase::DeadLettered))
    );
    for i in &done {
        if !(i.target.kind == ResourceKind::Job && i.operation == WriteOperation::Cancel) {
            assert!(
                matches!(i.phase, WritePhase::Applied | WritePhase::Confirmed),
                "{:?} {} {:?}: {:?} {:?}",
                i.target.kind,
                i.target.native_id,
                i.operation,
                i.phase,
                i.last_error
            );
        }
    }

    let sent: Vec<(String, String, Value)> = received(&server)
        .await
        .iter()
        .map(|r| {
            let body = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            (r.method.to_string(), r.url.path().to_owned(), body)
        })
        .collect();
    let body_of = |verb: &str, at: &str| {
        sent.iter()
            .find(|(m, p, _)| m == verb && p.ends_with(at))
            .map(|(_, _, b)| b.clone())
            .unwrap_or_else(|| panic!("no {verb} {at} in {sent:#?}"))
    };
    assert_eq!(
        body_of("PATCH", "/check-runs/4"),
        json!({"status": "in_progress"})
    );
    assert_eq!(
        body_of("POST", "/check-runs")["external_id"],
        json!(key_of(&intents, "local-check"))
    );
    assert_eq!(
        body_of("POST", "/statuses/6dcb09b5b57875f334f61aebed695e2e4193db5e"),
        json!({"state": "success", "context": "continuous-integration/jenkins",
               "description": "Build has completed successfully",
               "target_url": "https://ci.example.com/1000/output"})
    );
    assert_eq!(
        body_of("PATCH", "/pulls/1347"),
        json!({"title": "new-feature, reviewed"})
    );
    assert_eq!(
        body_of("PUT", "/pulls/1347/merge"),
        json!({"sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e"})
    );
    assert_eq!(
        body_of("POST", "/pulls/1347/reviews"),
        json!({"event": "REQUEST_CHANGES", "body": "Please fix the tests"})
    );
    assert_eq!(body_of("PUT", "/branches/main/protection"), rules);
    assert_eq!(
        body_of("POST", "/keys"),
        json!({"title": "octocat@octomac", "key": "ssh-rsa AAA...", "read_only": true})
    );
    assert_eq!(
        body_of("PUT", "/collaborators/octocat"),
        json!({"permission": "push"})
    );
    assert_eq!(body_of("POST", "/pulls")["head"], "octocat:new-feature");
    // One request per write (fourteen intents): nothing was sent twice, and the job
    // cancel was never sent.
    assert_eq!(sent.len(), 13, "{sent:#?}");
}

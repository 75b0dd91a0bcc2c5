//! The adapter under the core's backfill driver (`Engine::backfill_pass`): a first pass
//! reads issues and, through the comment walk, the notes of the issues that have any; an
//! idle incremental pass costs one request per listing (its first page, answered `304`);
//! a pass after one issue gained a note reads that page again and that issue's notes, and
//! no other issue's.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use kradle_provider_gitlab::GitlabWebhooks;
use kradle_store_memory::MemoryStore;
use kradle_sync_core::store::Filter;
use kradle_sync_core::{
    BackfillResource, Binding, BindingId, Engine, HttpCache, Interface, PassOptions, PassReport,
    ResourceKind, Secret, SyncStore,
};
use kradle_test_support::recorded::received;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer};

use crate::common::{self, PROJECT, get, items, rest, target};

const BINDING: &str = "gitlab-test";

/// The project at the provider: two issues and the user notes of the first.
///
/// Derived from real bodies: go-gitlab's moved issue (92, `#11`) last changed when its
/// note (the documented note 191, moved onto `#11`) was written, and one note more
/// (`user_notes_count`); narkoz's group issue (41, `#1`) without user notes.
fn project(notes: &[Value]) -> (Vec<Value>, Vec<Value>) {
    let mut a = rest("issues/go-gitlab-issue_move.json");
    let newest = notes
        .iter()
        .filter_map(|n| n["updated_at"].as_str())
        .max()
        .unwrap();
    a["updated_at"] = json!(newest);
    a["user_notes_count"] = json!(notes.len());
    let mut b = items("issues/narkoz-group_issues.json").remove(0);
    b["user_notes_count"] = json!(0);
    (vec![a, b], notes.to_vec())
}

fn note_191() -> Value {
    let mut note = items("notes/gitlab-docs-search_notes.json").remove(0);
    note["noteable_id"] = json!(92);
    note["noteable_iid"] = json!(11);
    note
}

/// Note 191 as edited a day later.
fn note_191_edited() -> Value {
    let mut note = note_191();
    note["body"] = json!("Harum maxime consequuntur et et deleniti assumenda facilis. (edited)");
    note["updated_at"] = json!("2017-09-06T08:01:32.068Z");
    note
}

/// Serves `body` at `p`: `304` to a request whose `If-None-Match` is its ETag, `200`
/// otherwise (what GitLab's weak ETags do for an unchanged response).
async fn serve(server: &MockServer, p: &str, body: Value) {
    let fresh = get(p, body.clone());
    Mock::given(method("GET"))
        .and(path(p))
        .and(header("if-none-match", common::etag_of(&body).as_str()))
        .respond_with(fresh.not_modified().respond(server))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(p))
        .respond_with(fresh.respond(server))
        .mount(server)
        .await;
}

async fn mount(server: &MockServer, issues: &[Value], notes: &[Value]) {
    server.reset().await;
    // `list_issues` and the comment walk (`state=all`) read the same issues.
    serve(server, &format!("{PROJECT}/issues"), json!(issues)).await;
    let notes_path = format!("{PROJECT}/issues/11/notes");
    let mut newest_first = notes.to_vec();
    newest_first.sort_by(|a, b| b["updated_at"].as_str().cmp(&a["updated_at"].as_str()));
    Mock::given(method("GET"))
        .and(path(&notes_path))
        .and(query_param("order_by", "updated_at"))
        .respond_with(get(&notes_path, json!(newest_first)).respond(server))
        .mount(server)
        .await;
}

fn engine(store: &Arc<MemoryStore>) -> Engine {
    let binding = Binding::new(BINDING, "gitlab", target(), &[Interface::IssueTracking])
        .with_secret(Secret::new(common::TOKEN));
    let store: Arc<dyn SyncStore> = store.clone();
    Engine::builder(store)
        .adapter(Arc::new(GitlabWebhooks::new()))
        .binding(binding)
        .build()
        .unwrap()
}

fn now() -> DateTime<Utc> {
    common::at("2021-01-05T10:30:00Z")
}

async fn pass(
    engine: &Engine,
    gitlab: &kradle_provider_gitlab::GitlabClient,
    full: bool,
) -> PassReport {
    let options = PassOptions::default()
        .full(full)
        .resources([BackfillResource::Issues, BackfillResource::Comments]);
    engine
        .backfill_pass(&BindingId::new(BINDING), gitlab, &options, &mut (), now())
        .await
        .unwrap()
}

fn requests(report: &PassReport, resource: BackfillResource) -> u64 {
    report.resource(resource).unwrap().requests
}

#[tokio::test]
async fn backfill_passes_cost_what_changed() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let store = Arc::new(MemoryStore::new());
    let cache: Arc<dyn HttpCache> = store.clone();
    let gitlab = common::cached(&server, &clock, cache).for_backfill();
    let engine = engine(&store);

    // First pass: everything.
    let (issues, notes) = project(&[note_191()]);
    mount(&server, &issues, &notes).await;
    let first = pass(&engine, &gitlab, false).await;
    let objects = store.list_objects(&Filter::all()).await.unwrap();
    let kinds: Vec<_> = objects.iter().map(|o| o.key.kind).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == ResourceKind::Issue).count(),
        2
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == ResourceKind::Comment)
            .count(),
        1
    );
    assert!(
        requests(&first, BackfillResource::Comments) >= 2,
        "{first:?}"
    );

    // Nothing changed: one request per listing, answered 304.
    mount(&server, &issues, &notes).await;
    let idle = pass(&engine, &gitlab, false).await;
    assert_eq!(requests(&idle, BackfillResource::Issues), 1, "{idle:?}");
    assert_eq!(requests(&idle, BackfillResource::Comments), 1, "{idle:?}");
    assert_eq!(idle.not_modified(), 2);
    let sent = received(&server).await;
    assert_eq!(sent.len(), 2);
    assert!(
        sent.iter()
            .all(|r| r.headers.get("if-none-match").is_some())
    );

    // The note of #11 was edited (and #11 with it): the issues' first page again, and the
    // notes of #11 only.
    let (issues, notes) = project(&[note_191_edited()]);
    mount(&server, &issues, &notes).await;
    let changed = pass(&engine, &gitlab, false).await;
    assert_eq!(
        requests(&changed, BackfillResource::Issues),
        1,
        "{changed:?}"
    );
    assert_eq!(
        requests(&changed, BackfillResource::Comments),
        2,
        "{changed:?}"
    );
    let sent = received(&server).await;
    assert!(
        !sent
            .iter()
            .any(|r| r.url.path().ends_with("/issues/1/notes")),
        "the unchanged issue's notes were not read"
    );
    let comment = store
        .list_objects(&Filter::all())
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.key.kind == ResourceKind::Comment)
        .unwrap();
    assert_eq!(
        comment.field("body"),
        Some(&json!(
            "Harum maxime consequuntur et et deleniti assumenda facilis. (edited)"
        ))
    );
}

/// `n` issues derived from go-gitlab's moved issue (ids 1000+, iids 1+), the newest changed
/// at `newest` and each next one a minute earlier, without user notes.
fn many(n: u64, changed: u64, newest: &str) -> Vec<Value> {
    let base = rest("issues/go-gitlab-issue_move.json");
    let top = common::at(newest);
    (0..n)
        .map(|i| {
            let mut issue = base.clone();
            issue["id"] = json!(1000 + i);
            issue["iid"] = json!(i + 1);
            issue["user_notes_count"] = json!(0);
            // The first `changed` are newer than the last pass; the rest are not.
            let at = if i < changed {
                top - chrono::Duration::minutes(i64::try_from(i).unwrap())
            } else {
                common::at("2016-04-07T12:20:17.596Z")
                    - chrono::Duration::minutes(i64::try_from(i).unwrap())
            };
            issue["updated_at"] = json!(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
            issue
        })
        .collect()
}

/// Serves `issues` 100 a page with the documented offset headers (`ETag`s per page).
async fn mount_pages(server: &MockServer, issues: &[Value]) {
    server.reset().await;
    let p = format!("{PROJECT}/issues");
    let pages: Vec<&[Value]> = issues.chunks(100).collect();
    let count = u32::try_from(pages.len()).unwrap();
    let total = u32::try_from(issues.len()).unwrap();
    for (i, chunk) in pages.iter().enumerate() {
        let n = u32::try_from(i).unwrap() + 1;
        let page = common::offset_page(
            get(&p, json!(chunk)),
            "order_by=updated_at&sort=desc&scope=all&per_page=100",
            n,
            count,
            total,
        );
        let mock = Mock::given(method("GET")).and(path(&p));
        let mock = if n == 1 {
            mock.and(wiremock::matchers::query_param_is_missing("page"))
        } else {
            mock.and(query_param("page", n.to_string()))
        };
        mock.respond_with(page.respond(server)).mount(server).await;
    }
}

#[tokio::test]
async fn n_changed_issues_cost_ceil_n_over_100_requests() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let store = Arc::new(MemoryStore::new());
    let cache: Arc<dyn HttpCache> = store.clone();
    let gitlab = common::cached(&server, &clock, cache).for_backfill();
    let engine = engine(&store);
    let options = PassOptions::default().resources([BackfillResource::Issues]);
    let binding = BindingId::new(BINDING);

    // 250 issues: the first pass reads them all.
    mount_pages(&server, &many(250, 0, "2016-04-07T12:20:17.596Z")).await;
    let first = engine
        .backfill_pass(&binding, &gitlab, &options, &mut (), now())
        .await
        .unwrap();
    assert_eq!(
        first.resource(BackfillResource::Issues).unwrap().objects,
        250
    );

    // 150 of them changed since: two pages, the second holding the first unchanged one.
    mount_pages(&server, &many(250, 150, "2017-01-01T00:00:00.000Z")).await;
    let incremental = engine
        .backfill_pass(&binding, &gitlab, &options, &mut (), now())
        .await
        .unwrap();
    let issues = incremental.resource(BackfillResource::Issues).unwrap();
    assert_eq!(issues.requests, 2, "⌈150/100⌉: {issues:?}");
}

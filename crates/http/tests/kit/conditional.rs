//! Conditional requests: the ETag of a `200` is kept in the `SyncStore`; the next read
//! sends `If-None-Match`, a `304` is answered from the cache and costs no budget, and a
//! paginated listing re-read entirely with `304`s still walks every page.

use std::sync::Arc;

use kradle_http::{ApiRequest, LinkPagination, Priority};
use kradle_store_memory::MemoryStore;
use kradle_sync_core::HttpCache;
use kradle_test_support::recorded::received;
use serde_json::Value;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request};

use crate::common;

fn unconditional(r: &Request) -> bool {
    !r.headers.contains_key("if-none-match")
}

#[tokio::test]
async fn etag_then_304_from_the_cache_without_spending_budget() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let label = common::session("labels").remove(2);
    assert_eq!((label.method.as_str(), label.status), ("GET", 200));
    let etag = label.header("etag").unwrap().to_owned();
    Mock::given(method("GET"))
        .and(path(&label.path))
        .and(unconditional)
        .respond_with(label.respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(&label.path))
        .and(header("if-none-match", etag.as_str()))
        .respond_with(label.not_modified().respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    let store = Arc::new(MemoryStore::new());
    let client = common::builder(&server, &clock)
        .cache(store.clone())
        .build()
        .unwrap();
    let request = ApiRequest::get(&label.path);

    let first = client.send(request.clone()).await.unwrap();
    assert_eq!(first.status.as_u16(), 200);
    assert!(!first.not_modified);
    let budget_before = client.budget().unwrap();

    let second = client.send(request).await.unwrap();
    assert_eq!(second.status.as_u16(), 304);
    assert!(second.not_modified);
    assert_eq!(second.body, first.body);
    assert_eq!(second.json::<Value>().unwrap()["name"], "test-label");

    assert_eq!(received(&server).await.len(), 2);
    let budget_after = client.budget().unwrap();
    assert_eq!(
        budget_after.remaining, budget_before.remaining,
        "a 304 costs nothing"
    );
    assert_eq!(budget_after.remaining, Some(4999));

    // The entry is keyed by method, full URL and account, and holds the ETag.
    let key = format!("GET {}{} installation-1", server.uri(), label.path);
    let entry = store.cache_get(&key).await.unwrap().unwrap();
    assert_eq!(entry.etag, etag);
    assert_eq!(
        entry.last_modified.as_deref(),
        Some("Tue, 10 Oct 2017 16:00:00 GMT")
    );
}

#[tokio::test]
async fn uncached_clients_and_opted_out_reads_are_never_conditional() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let label = common::session("labels").remove(2);
    Mock::given(method("GET"))
        .and(unconditional)
        .respond_with(label.respond(&server))
        .expect(4)
        .mount(&server)
        .await;
    // No store: both reads are full reads.
    let plain = common::client(&server, &clock);
    // A store, but the request opts out.
    let store = Arc::new(MemoryStore::new());
    let cached = common::builder(&server, &clock)
        .cache(store)
        .build()
        .unwrap();
    for _ in 0..2 {
        let r = plain.send(ApiRequest::get(&label.path)).await.unwrap();
        assert!(!r.not_modified);
        let r = cached
            .send(ApiRequest::get(&label.path).conditional(false))
            .await
            .unwrap();
        assert!(!r.not_modified);
    }
}

/// The idle resync of DESIGN.md: the second walk of an unchanged listing is all `304`s,
/// costs no budget, and still follows every page through the cached `Link` headers.
#[tokio::test]
async fn idle_resync_of_a_paginated_listing_is_all_304() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let pages = common::session("paginate-issues");
    for page in &pages {
        let etag = page.header("etag").unwrap().to_owned();
        let full = page.given("", &["page"]).and(unconditional);
        let cond = page
            .given("", &["page"])
            .and(header("if-none-match", etag.as_str()));
        full.respond_with(page.respond(&server))
            .expect(1)
            .mount(&server)
            .await;
        cond.respond_with(page.not_modified().respond(&server))
            .expect(1)
            .mount(&server)
            .await;
    }
    let store = Arc::new(MemoryStore::new());
    let client = common::builder(&server, &clock)
        .cache(store)
        .build()
        .unwrap();
    let request = ApiRequest::get("/repos/octokit-fixture-org/paginate-issues/issues")
        .priority(Priority::Backfill);

    let first = client
        .fetch_all(request.clone(), &LinkPagination::new(), 3)
        .await
        .unwrap();
    let budget = client.budget().unwrap().remaining;
    let second = client
        .fetch_all(request, &LinkPagination::new(), 3)
        .await
        .unwrap();

    assert_eq!(first.items.len(), 13);
    assert_eq!(second.items, first.items);
    assert!(!first.not_modified);
    assert!(second.not_modified, "every page answered from the cache");
    assert_eq!(client.budget().unwrap().remaining, budget);
    let got = received(&server).await;
    assert_eq!(got.len(), 10);
    assert_eq!(
        got.iter()
            .filter(|r| r.headers.contains_key("if-none-match"))
            .count(),
        5
    );
}

//! The PostgreSQL store passes the shared work-queue and HTTP-cache conformance suites.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use common::TestDb;
use kradle_store_postgres::DEFAULT_MAX_CLAIMS;
use kradle_sync_core::testing::{conformance, queue};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_conformance_suite() {
    let Some(db) = TestDb::connect("queue_conformance").await else {
        return;
    };
    let store = db.store().await;
    queue::run(&store, &store, DEFAULT_MAX_CLAIMS).await;
    db.drop_schemas().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_cache_conformance() {
    let Some(db) = TestDb::connect("cache_conformance").await else {
        return;
    };
    let store = db.store().await;
    conformance::run_cache(&store).await;
    db.drop_schemas().await;
}

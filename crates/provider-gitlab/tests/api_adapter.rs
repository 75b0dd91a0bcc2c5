//! The HTTP adapter against a local server answering with real GitLab REST bodies
//! (`fixtures/gitlab/rest/`) and the headers GitLab documents for its REST API (pagination,
//! `RateLimit-*`, `Retry-After`, weak ETags; see `tests/DERIVED.md`). Waits go through a
//! manual clock: nothing sleeps.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "api/common.rs"]
mod common;

#[path = "api/engine.rs"]
mod engine;
#[path = "api/limits.rs"]
mod limits;
#[path = "api/reads.rs"]
mod reads;
#[path = "api/writes.rs"]
mod writes;

//! The HTTP adapter against a local server replaying real GitHub responses (recorded
//! sessions and REST examples under `fixtures/github/`, with their real `link`, `etag` and
//! `x-ratelimit-*` headers). Waits go through a manual clock: nothing sleeps but the few
//! request timeouts under test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "api/common.rs"]
mod common;

#[path = "api/auth.rs"]
mod auth;
#[path = "api/engine.rs"]
mod engine;
#[path = "api/limits.rs"]
mod limits;
#[path = "api/reads.rs"]
mod reads;
#[path = "api/routes.rs"]
mod routes;
#[path = "api/surface.rs"]
mod surface;
#[path = "api/writes.rs"]
mod writes;

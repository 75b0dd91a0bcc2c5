//! What the tests of the workspace's crates share, and nothing else: this crate is never
//! published and no library depends on it; each crate takes it as a dev-dependency. It
//! holds the helpers that several crates' tests would otherwise copy:
//!
//! - [`postgres`]: a connection to the test server in `DATABASE_URL` and a fresh schema
//!   per test (so tests run in parallel), dropped when the test ends; without a reachable
//!   server a test is skipped with a notice, except under `CI=true`, where it fails.
//! - [`recorded`]: recorded HTTP sessions (method, path, query, status, headers, body)
//!   served by `wiremock` with their real headers, and the requests it received.
//! - [`traces`]: everything `tracing` records while a test runs, as text, and the text of
//!   an error with its sources, so a test can assert that a secret never shows.
//!
//! What is specific to a provider or a crate (which fixture files, which derivations, the
//! store a schema holds) stays in the tests that use it.

pub mod postgres;
pub mod recorded;
pub mod traces;

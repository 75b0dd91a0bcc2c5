//! The HTTP kit against a local server (wiremock) serving real recorded provider
//! responses with their real headers. Time is a manual clock: no test sleeps for a
//! backoff or a `Retry-After`; each asserts the waits it asked for.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod budget;
mod common;
mod conditional;
mod errors;
mod pagination;
mod retries;

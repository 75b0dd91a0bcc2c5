//! Test kit, behind the `testing` feature: the store conformance suite, a simulated
//! provider, proptest generators and the engine's invariant checks, so every store and
//! third-party provider runs the same checks.
//!
//! The checks assert (they panic with a message naming the invariant), as test code does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod conformance;
pub mod generators;
pub mod invariants;
pub mod provider;
pub mod queue;
pub mod simulated;

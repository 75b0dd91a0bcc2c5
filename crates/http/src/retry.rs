//! Retries: exponential backoff with full jitter as a `backon` backoff, bounded by the
//! core's [`RetryPolicy`], and the retry hint each failed attempt carries.
//!
//! `backon`'s own `ExponentialBuilder::with_jitter` adds up to one more delay on top of
//! the exponential one (`d + rand·d`); full jitter draws uniformly in `[0, d]`, which
//! spreads a thundering herd better. The iterator below yields exactly
//! [`RetryPolicy::delay`], so the engine and the kit agree on the schedule.

use std::time::Duration;

use kradle_sync_core::{RetryPolicy, jitter_for};

use crate::error::HttpError;

/// The random draw of full jitter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Jitter {
    /// A fresh draw per request and retry (the default).
    Random,
    /// Always this draw in `[0, 1]`: `1.0` gives the full exponential delay. For tests and
    /// reproducible runs.
    Fixed(f64),
}

/// The delays between attempts: `max_attempts - 1` of them, each
/// `RetryPolicy::delay(n, draw)`.
#[derive(Debug, Clone)]
pub(crate) struct FullJitter {
    policy: RetryPolicy,
    jitter: Jitter,
    seed: String,
    failures: u32,
}

impl FullJitter {
    pub(crate) fn new(policy: RetryPolicy, jitter: Jitter, seed: String) -> Self {
        Self {
            policy,
            jitter,
            seed,
            failures: 0,
        }
    }
}

impl Iterator for FullJitter {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.failures = self.failures.saturating_add(1);
        if !self.policy.may_retry(self.failures) {
            return None;
        }
        let draw = match self.jitter {
            Jitter::Fixed(d) => d,
            Jitter::Random => jitter_for(&self.seed, self.failures),
        };
        Some(self.policy.delay(self.failures, draw))
    }
}

/// Whether and how a failed attempt may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryHint {
    /// After the backoff delay.
    Backoff,
    /// After the server's wait (or the backoff, if longer).
    After(Duration),
}

/// A failed attempt.
#[derive(Debug)]
pub(crate) struct Failed {
    pub(crate) error: HttpError,
    pub(crate) retry: Option<RetryHint>,
}

impl Failed {
    pub(crate) fn fatal(error: HttpError) -> Self {
        Self { error, retry: None }
    }

    /// The delay before the next attempt, given the backoff's (`None`: stop).
    pub(crate) fn delay(&self, backoff: Option<Duration>, max_wait: Duration) -> Option<Duration> {
        match (self.retry?, backoff?) {
            (RetryHint::Backoff, d) => Some(d),
            (RetryHint::After(wait), _) if wait > max_wait => None,
            (RetryHint::After(wait), d) => Some(d.max(wait)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_full_jitter() {
        let policy = RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(3),
        };
        let full: Vec<Duration> = FullJitter::new(policy, Jitter::Fixed(1.0), "x".into()).collect();
        assert_eq!(full, [1, 2, 3].map(Duration::from_secs));
        let none: Vec<Duration> = FullJitter::new(policy, Jitter::Fixed(0.0), "x".into()).collect();
        assert_eq!(none, [Duration::ZERO; 3]);
        for d in FullJitter::new(policy, Jitter::Random, "seed".into()) {
            assert!(d <= Duration::from_secs(3));
        }
        let once = RetryPolicy {
            max_attempts: 1,
            ..policy
        };
        assert_eq!(
            FullJitter::new(once, Jitter::Random, String::new()).count(),
            0
        );
    }
}

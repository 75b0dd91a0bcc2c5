//! Bounded retries with exponential backoff and full jitter, as a pure function: the
//! caller passes the random draw, so decisions are reproducible.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How often and how patiently a failing operation is retried before it is dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; after the last failure the work is
    /// dead-lettered.
    pub max_attempts: u32,
    /// Delay cap of the first retry.
    pub base_delay: Duration,
    /// Largest delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `attempt` (1 for the first retry) with full jitter:
    /// uniformly in `[0, min(max_delay, base_delay * 2^(attempt-1))]`, where `jitter` in
    /// `[0, 1]` is the caller's random draw. A server's `Retry-After` should be honoured
    /// on top of this by taking the larger of the two.
    ///
    /// ```
    /// use std::time::Duration;
    /// use kradle_sync_core::RetryPolicy;
    /// let p = RetryPolicy::default();
    /// assert_eq!(p.delay(3, 1.0), Duration::from_secs(4));
    /// assert_eq!(p.delay(3, 0.0), Duration::ZERO);
    /// assert_eq!(p.delay(30, 1.0), Duration::from_secs(300));
    /// ```
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(31);
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay);
        ceiling.mul_f64(jitter.clamp(0.0, 1.0))
    }

    /// Whether another attempt is allowed after `attempts` have failed.
    pub fn may_retry(&self, attempts: u32) -> bool {
        attempts < self.max_attempts
    }
}

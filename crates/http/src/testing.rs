//! Test doubles for time (feature `testing`): a clock that only moves when someone
//! sleeps, so a test of a one-hour `Retry-After` finishes at once and can assert the wait.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use crate::time::{Clock, Sleeper};

#[derive(Debug)]
struct State {
    now: DateTime<Utc>,
    sleeps: Vec<Duration>,
}

/// A [`Clock`] and [`Sleeper`] in one: `sleep` returns at once, records the requested
/// duration and advances the clock by it. Clones share the same time.
///
/// ```
/// use std::time::Duration;
/// use chrono::{TimeZone, Utc};
/// use kradle_http::testing::ManualClock;
/// use kradle_http::{Clock, Sleeper};
///
/// let clock = ManualClock::new(Utc.with_ymd_and_hms(2017, 10, 10, 15, 0, 0).unwrap());
/// futures::executor::block_on(clock.sleep(Duration::from_secs(60)));
/// assert_eq!(clock.sleeps(), vec![Duration::from_secs(60)]);
/// assert_eq!(clock.now(), Utc.with_ymd_and_hms(2017, 10, 10, 15, 1, 0).unwrap());
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    state: Arc<Mutex<State>>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                now: start,
                sleeps: Vec::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves the clock forward without recording a sleep.
    pub fn advance(&self, by: Duration) {
        let mut s = self.lock();
        s.now = later(s.now, by);
    }

    /// Sets the clock.
    pub fn set(&self, now: DateTime<Utc>) {
        self.lock().now = now;
    }

    /// Every sleep requested so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.lock().sleeps.clone()
    }

    /// The sum of all sleeps.
    pub fn slept(&self) -> Duration {
        self.lock().sleeps.iter().sum()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.lock().now
    }
}

impl Sleeper for ManualClock {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        {
            let mut s = self.lock();
            s.sleeps.push(duration);
            s.now = later(s.now, duration);
        }
        Box::pin(std::future::ready(()))
    }
}

fn later(now: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(by)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

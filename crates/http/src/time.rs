//! Time as an input: the clock that reads "now" and the sleeper that waits. Both are
//! injected, so retries, `Retry-After` waits and budget pauses are testable without
//! sleeping (see `ManualClock` behind the `testing` feature).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

/// Reads the current time.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// Waits. Every wait of the kit (backoff, `Retry-After`, a budget pause) goes through it.
pub trait Sleeper: Send + Sync + 'static {
    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Sleeps on the tokio timer (reqwest already runs on tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(backon::Sleeper::sleep(&backon::TokioSleeper, duration))
    }
}

/// Lets `backon` wait through the injected [`Sleeper`].
pub(crate) struct BackonSleeper(pub(crate) Arc<dyn Sleeper>);

impl backon::Sleeper for BackonSleeper {
    type Sleep = BoxFuture<'static, ()>;

    fn sleep(&self, dur: Duration) -> Self::Sleep {
        self.0.sleep(dur)
    }
}

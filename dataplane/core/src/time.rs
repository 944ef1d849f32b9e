//! Time as the core sees it: a monotonic nanosecond count handed in by the caller.
//!
//! Nothing in the sans-IO core reads a clock; the edge passes `Time` in, so tests drive
//! timeouts deterministically (the quinn-proto way).

use std::ops::{Add, Sub};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(pub u64);

impl Time {
    pub const ZERO: Time = Time(0);

    pub fn from_secs(s: u64) -> Time {
        Time(s * 1_000_000_000)
    }
    pub fn from_millis(ms: u64) -> Time {
        Time(ms * 1_000_000)
    }
    pub fn as_nanos(self) -> u64 {
        self.0
    }
    /// Time left until `later`, zero if it is past.
    pub fn until(self, later: Time) -> Duration {
        Duration::from_nanos(later.0.saturating_sub(self.0))
    }
}

impl Add<Duration> for Time {
    type Output = Time;
    fn add(self, d: Duration) -> Time {
        Time(self.0.saturating_add(d.as_nanos() as u64))
    }
}

impl Sub<Time> for Time {
    type Output = Duration;
    fn sub(self, earlier: Time) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

/// A monotonic clock for the edge: nanoseconds since the process started.
pub struct Clock {
    start: std::time::Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Clock { start: std::time::Instant::now() }
    }
}

impl Clock {
    pub fn now(&self) -> Time {
        Time(self.start.elapsed().as_nanos() as u64)
    }
}

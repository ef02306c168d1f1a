//! Where the fake reads "now": the wall clock, or whatever the caller hands
//! it (a test's manual clock, shared with the agent under test), so that a
//! 60-day expiry passes in one call instead of 60 days.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, TimeZone, Utc};

/// The fake's source of "now".
#[derive(Clone)]
pub struct Now(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Now {
    /// The wall clock.
    #[allow(clippy::disallowed_methods)] // the fake's one reading of the wall clock
    pub fn system() -> Now {
        Now(Arc::new(Utc::now))
    }

    /// Whatever `read` says.
    pub fn from_fn(read: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Now {
        Now(Arc::new(read))
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

impl fmt::Debug for Now {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Now({})", self.now())
    }
}

/// A clock that moves only when told: for the fake's own tests, and for
/// any caller without a clock of its own.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> ManualClock {
        ManualClock(Arc::new(AtomicI64::new(start.timestamp_millis())))
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.0.load(Ordering::SeqCst))
            .single()
            .expect("a manual clock holds a valid timestamp")
    }

    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.num_milliseconds(), Ordering::SeqCst);
    }
}

impl From<ManualClock> for Now {
    fn from(clock: ManualClock) -> Now {
        Now::from_fn(move || clock.now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_its_readers_follow() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let clock = ManualClock::new(start);
        let now: Now = clock.clone().into();
        assert_eq!(now.now(), start);
        clock.advance(Duration::days(60));
        assert_eq!(now.now(), start + Duration::days(60));
    }
}

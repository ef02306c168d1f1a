//! The one source of "now". Production reads the system clock; tests and the
//! fake Graph API share a manual clock so that a 60-day expiry passes in a
//! single call instead of 60 days.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, TimeZone, Utc};

#[derive(Clone, Debug, Default)]
pub enum Clock {
    #[default]
    System,
    /// Milliseconds since the Unix epoch, moved only by `set` and `advance`.
    Manual(Arc<AtomicI64>),
}

impl Clock {
    pub fn manual(start: DateTime<Utc>) -> Self {
        Clock::Manual(Arc::new(AtomicI64::new(start.timestamp_millis())))
    }

    #[allow(clippy::disallowed_methods)] // the one place allowed to read the wall clock
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Manual(ms) => Utc
                .timestamp_millis_opt(ms.load(Ordering::SeqCst))
                .single()
                .expect("manual clock holds a valid timestamp"),
        }
    }

    /// Moves a manual clock forward; the system clock cannot be moved.
    pub fn advance(&self, by: Duration) {
        match self {
            Clock::System => panic!("the system clock cannot be advanced"),
            Clock::Manual(ms) => {
                ms.fetch_add(by.num_milliseconds(), Ordering::SeqCst);
            }
        }
    }

    pub fn set(&self, to: DateTime<Utc>) {
        match self {
            Clock::System => panic!("the system clock cannot be set"),
            Clock::Manual(ms) => ms.store(to.timestamp_millis(), Ordering::SeqCst),
        }
    }
}

/// The fake Graph API (`demo`, the tests) reads the same clock.
impl From<Clock> for fake_graph::Now {
    fn from(clock: Clock) -> fake_graph::Now {
        fake_graph::Now::from_fn(move || clock.now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let clock = Clock::manual(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::days(60));
        assert_eq!(clock.now(), start + Duration::days(60));
        let copy = clock.clone();
        copy.advance(Duration::hours(1));
        assert_eq!(clock.now(), start + Duration::days(60) + Duration::hours(1));
    }
}

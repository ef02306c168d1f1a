//! Failed fetches, remembered briefly per cache key: the callers waiting on
//! a fetch that failed, and those arriving just after, get the same answer
//! instead of calling upstream again one by one.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use lru::LruCache;

use crate::upstream::UpstreamError;

/// How long a failure stands for its key.
pub const FAILURE_TTL: Duration = Duration::seconds(30);
/// Keys remembered at most; the least recently used go first.
const CAPACITY: usize = 4096;

pub(super) struct Failures {
    keys: Mutex<LruCache<String, (DateTime<Utc>, UpstreamError)>>,
}

impl Default for Failures {
    fn default() -> Failures {
        Failures {
            keys: Mutex::new(LruCache::new(
                NonZeroUsize::new(CAPACITY).expect("a positive capacity"),
            )),
        }
    }
}

impl Failures {
    /// The failure that stands for `key` now, if any.
    pub(super) fn get(&self, key: &str, now: DateTime<Utc>) -> Option<UpstreamError> {
        let mut keys = self.keys.lock().expect("failure map");
        match keys.get(key) {
            Some((until, error)) if now < *until => Some(error.clone()),
            Some(_) => {
                keys.pop(key);
                None
            }
            None => None,
        }
    }

    pub(super) fn put(&self, key: &str, error: &UpstreamError, now: DateTime<Utc>) {
        self.keys
            .lock()
            .expect("failure map")
            .put(key.to_string(), (now + FAILURE_TTL, error.clone()));
    }

    pub(super) fn clear(&self, key: &str) {
        self.keys.lock().expect("failure map").pop(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_failure_stands_for_its_key_for_a_while() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let failures = Failures::default();
        failures.put("k", &UpstreamError::garbage("not JSON"), now);
        assert!(failures.get("k", now + Duration::seconds(29)).is_some());
        assert!(failures.get("other", now).is_none());
        assert!(failures.get("k", now + FAILURE_TTL).is_none());
        failures.put("k", &UpstreamError::garbage("not JSON"), now);
        failures.clear("k");
        assert!(failures.get("k", now).is_none());
    }
}

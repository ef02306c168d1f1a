//! A bound on the cache misses one client may cause: each miss can cost an
//! upstream call from the owner's budget, so a script calling in a loop with
//! ever new parameters is refused (429) once it has caused its share in a
//! minute. Hits cost nothing and are never counted.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use lru::LruCache;

use crate::domain::ClientKey;

const WINDOW: Duration = Duration::minutes(1);
/// Clients remembered at most; the least recently seen go first.
const CAPACITY: usize = 10_000;

pub(super) struct Misses {
    per_minute: u32,
    clients: Mutex<LruCache<ClientKey, (DateTime<Utc>, u32)>>,
}

impl Misses {
    /// `per_minute` 0: no bound.
    pub(super) fn new(per_minute: u32) -> Misses {
        Misses {
            per_minute,
            clients: Mutex::new(LruCache::new(
                NonZeroUsize::new(CAPACITY).expect("a positive capacity"),
            )),
        }
    }

    /// Counts one miss for `client`, or says how long until it may cause
    /// another.
    pub(super) fn spend(&self, client: ClientKey, now: DateTime<Utc>) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let mut clients = self.clients.lock().expect("miss map");
        let (start, count) = clients.get_or_insert_mut(client, || (now, 0));
        if now >= *start + WINDOW {
            *start = now;
            *count = 0;
        }
        if *count >= self.per_minute {
            return Err(*start + WINDOW - now);
        }
        *count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn each_client_has_its_share_per_minute() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let misses = Misses::new(3);
        let a = ClientKey::of("198.51.100.7".parse().unwrap());
        let b = ClientKey::of("2001:db8::1".parse().unwrap());
        for _ in 0..3 {
            assert!(misses.spend(a, now).is_ok());
        }
        assert_eq!(
            misses.spend(a, now + Duration::seconds(20)),
            Err(Duration::seconds(40))
        );
        assert!(misses.spend(b, now).is_ok(), "another client is not held");
        assert!(misses.spend(a, now + WINDOW).is_ok(), "a new minute");
        let unbounded = Misses::new(0);
        for _ in 0..1000 {
            assert!(unbounded.spend(a, now).is_ok());
        }
    }
}

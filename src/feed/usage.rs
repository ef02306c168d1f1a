//! Leaving Instagram alone while it asks us to: after a throttled answer,
//! or a usage reading above 80%, no upstream call is made for that account
//! until the time Meta gave to regain access (at least a cool-down). The
//! proxy answers from its cached copies meanwhile, or says when to retry.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use crate::upstream::Usage;

/// Above this usage percentage the agent stops calling.
const USAGE_HIGH: u32 = 80;
/// The least time a throttle or high reading keeps the agent off upstream.
const COOL_DOWN: Duration = Duration::minutes(10);

/// How long an account is left alone after Instagram said it would regain
/// access in `minutes` (or did not say).
pub fn throttle_wait(minutes: Option<u32>) -> Duration {
    minutes
        .map(|m| Duration::minutes(i64::from(m)))
        .unwrap_or(COOL_DOWN)
        .max(COOL_DOWN)
}

/// Per account: until when upstream is left alone.
#[derive(Default)]
pub(super) struct Quiet {
    until: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl Quiet {
    /// Until when upstream is off limits for `account`, if it is now.
    pub(super) fn until(&self, account: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut until = self.until.lock().expect("quiet map");
        match until.get(account) {
            Some(t) if now < *t => Some(*t),
            Some(_) => {
                until.remove(account);
                None
            }
            None => None,
        }
    }

    fn hold(&self, account: &str, now: DateTime<Utc>, minutes: Option<u32>) {
        let wait = throttle_wait(minutes);
        let mut until = self.until.lock().expect("quiet map");
        let entry = until.entry(account.to_string()).or_insert(now);
        *entry = (*entry).max(now + wait);
    }

    /// A usage reading from a successful call.
    pub(super) fn note_usage(&self, account: &str, usage: &Usage, now: DateTime<Utc>) {
        if usage.max_percent.is_some_and(|p| p > USAGE_HIGH) {
            tracing::warn!(account, percent = ?usage.max_percent, "Instagram usage is high; no upstream calls for this account until it regains access");
            self.hold(account, now, usage.regain_access_minutes);
        }
    }

    /// A throttled answer: Meta's own estimate, or the cool-down.
    pub(super) fn note_throttled(&self, account: &str, minutes: Option<u32>, now: DateTime<Utc>) {
        tracing::warn!(account, regain_minutes = ?minutes, "Instagram throttled this account; no upstream calls until it regains access");
        self.hold(account, now, minutes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn high_usage_or_a_throttle_stops_calls_for_that_account_until_it_regains() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let quiet = Quiet::default();
        quiet.note_usage(
            "a",
            &Usage::parse(Some(r#"{"call_count":50}"#), None, None),
            now,
        );
        assert_eq!(quiet.until("a", now), None);
        quiet.note_usage(
            "a",
            &Usage::parse(Some(r#"{"call_count":95}"#), None, None),
            now,
        );
        assert_eq!(
            quiet.until("a", now + Duration::minutes(9)),
            Some(now + COOL_DOWN)
        );
        assert_eq!(quiet.until("b", now), None, "other accounts call on");
        assert_eq!(quiet.until("a", now + Duration::minutes(10)), None);

        quiet.note_throttled("b", Some(45), now);
        assert_eq!(
            quiet.until("b", now + Duration::minutes(44)),
            Some(now + Duration::minutes(45))
        );
        // A shorter estimate later never shortens the wait.
        quiet.note_throttled("b", Some(1), now + Duration::minutes(1));
        assert_eq!(
            quiet.until("b", now + Duration::minutes(30)),
            Some(now + Duration::minutes(45))
        );
    }
}

//! Backing off while Instagram reports high usage: above 80% the proxy
//! prefers its cached copies for a while, so the owner's app is never
//! throttled by its own feed.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};

use crate::upstream::Usage;

/// Above this usage percentage the agent prefers its cached copies.
const USAGE_HIGH: u32 = 80;
/// How long a high-usage reading keeps the agent on cached copies.
const USAGE_COOL_DOWN: Duration = Duration::minutes(10);

#[derive(Default)]
pub(super) struct UsageGate {
    /// Until when (ms) upstream usage counts as high.
    high_until: AtomicI64,
}

impl UsageGate {
    pub(super) fn is_high(&self, now: DateTime<Utc>) -> bool {
        now.timestamp_millis() < self.high_until.load(Ordering::Relaxed)
    }

    pub(super) fn note(&self, usage: Usage, now: DateTime<Utc>) {
        if usage.max_percent.is_some_and(|p| p > USAGE_HIGH) {
            let wait = usage
                .regain_access_minutes
                .map(|m| Duration::minutes(i64::from(m)))
                .unwrap_or(USAGE_COOL_DOWN)
                .max(USAGE_COOL_DOWN);
            self.high_until
                .store((now + wait).timestamp_millis(), Ordering::Relaxed);
            tracing::warn!(percent = ?usage.max_percent, "Instagram usage is high; serving cached pages where possible");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn high_usage_keeps_the_proxy_on_cached_copies_for_the_cool_down() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let gate = UsageGate::default();
        gate.note(Usage::parse(Some(r#"{"call_count":50}"#), None, None), now);
        assert!(!gate.is_high(now));
        gate.note(Usage::parse(Some(r#"{"call_count":95}"#), None, None), now);
        assert!(gate.is_high(now + Duration::minutes(9)));
        assert!(!gate.is_high(now + Duration::minutes(10)));
    }
}

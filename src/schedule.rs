//! When to refresh: pure arithmetic over times, tested with fixed dates.

use chrono::{DateTime, Duration, Utc};

use crate::config::RefreshMode;

/// Instagram refuses to refresh a token younger than this.
pub const MIN_TOKEN_AGE: Duration = Duration::hours(24);
/// Lifetime of a long-lived Instagram token, used when upstream omits it.
pub const TOKEN_LIFETIME: Duration = Duration::days(60);
/// In `scheduled` mode the refresh happens this long before expiry, which
/// leaves four days of retries before the ten-day warning would go out.
pub const SCHEDULED_LEAD: Duration = Duration::days(14);
/// However the schedule falls, never wait until the last days of a token.
pub const LAST_SAFE_MARGIN: Duration = Duration::days(3);
/// A pause after the 24-hour mark, so clocks that differ a little agree.
const AGE_SLACK: Duration = Duration::minutes(5);
/// How long one process may hold an account's refresh lease.
pub const LEASE: Duration = Duration::minutes(2);

/// The earliest moment a token obtained at `issued_at` may be refreshed.
pub fn old_enough_at(issued_at: DateTime<Utc>) -> DateTime<Utc> {
    issued_at + MIN_TOKEN_AGE + AGE_SLACK
}

/// When to refresh a token next, after it was obtained or refreshed at
/// `issued_at` and expires at `expires_at`.
pub fn next_refresh(
    mode: RefreshMode,
    issued_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
) -> DateTime<Utc> {
    let expires_at = expires_at.unwrap_or(issued_at + TOKEN_LIFETIME);
    let wanted = match mode {
        RefreshMode::Cron(frequency) => issued_at + frequency.period(),
        RefreshMode::Scheduled => expires_at - SCHEDULED_LEAD,
    };
    wanted
        .min(expires_at - LAST_SAFE_MARGIN)
        .max(old_enough_at(issued_at))
}

/// When to try again after the `failures`-th failure in a row: 5 minutes,
/// then three times longer each time, at most 6 hours; a throttled call
/// waits at least as long as upstream asked.
pub fn retry_after(
    now: DateTime<Utc>,
    failures: i32,
    upstream_wait: Option<Duration>,
) -> DateTime<Utc> {
    let exponent = failures.clamp(1, 6) - 1;
    let backoff = (Duration::minutes(5) * 3_i32.pow(exponent as u32)).min(Duration::hours(6));
    now + backoff.max(upstream_wait.unwrap_or_else(Duration::zero))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Frequency;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    #[test]
    fn cron_refreshes_one_period_after_the_last_refresh() {
        let expires = Some(t0() + Duration::days(60));
        for (frequency, days) in [
            (Frequency::Daily, 1),
            (Frequency::Weekly, 7),
            (Frequency::Monthly, 30),
        ] {
            let next = next_refresh(RefreshMode::Cron(frequency), t0(), expires);
            let expected = (t0() + Duration::days(days)).max(old_enough_at(t0()));
            assert_eq!(next, expected, "{frequency:?}");
        }
    }

    #[test]
    fn a_daily_refresh_still_waits_for_the_token_to_be_24_hours_old() {
        let next = next_refresh(
            RefreshMode::Cron(Frequency::Daily),
            t0(),
            Some(t0() + Duration::days(60)),
        );
        assert!(next >= t0() + MIN_TOKEN_AGE, "{next}");
        assert!(next <= t0() + MIN_TOKEN_AGE + Duration::minutes(10));
    }

    #[test]
    fn scheduled_mode_refreshes_two_weeks_before_expiry() {
        let next = next_refresh(
            RefreshMode::Scheduled,
            t0(),
            Some(t0() + Duration::days(60)),
        );
        assert_eq!(next, t0() + Duration::days(46));
    }

    #[test]
    fn a_short_lived_token_is_refreshed_before_its_last_days_but_not_before_a_day() {
        // A token with 10 days left: monthly would be too late, so refresh 3 days before expiry.
        let next = next_refresh(
            RefreshMode::Cron(Frequency::Monthly),
            t0(),
            Some(t0() + Duration::days(10)),
        );
        assert_eq!(next, t0() + Duration::days(7));
        // A token with hours left can still not be refreshed before it is a day old.
        let next = next_refresh(
            RefreshMode::Scheduled,
            t0(),
            Some(t0() + Duration::hours(30)),
        );
        assert_eq!(next, old_enough_at(t0()));
    }

    #[test]
    fn an_unknown_expiry_is_taken_as_sixty_days() {
        assert_eq!(
            next_refresh(RefreshMode::Scheduled, t0(), None),
            t0() + Duration::days(46)
        );
    }

    #[test]
    fn retries_back_off_and_honour_upstream_waits() {
        assert_eq!(retry_after(t0(), 1, None), t0() + Duration::minutes(5));
        assert_eq!(retry_after(t0(), 2, None), t0() + Duration::minutes(15));
        assert_eq!(retry_after(t0(), 3, None), t0() + Duration::minutes(45));
        assert_eq!(retry_after(t0(), 50, None), t0() + Duration::hours(6));
        assert_eq!(
            retry_after(t0(), 1, Some(Duration::minutes(60))),
            t0() + Duration::minutes(60)
        );
    }
}

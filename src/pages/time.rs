//! Times as the pages show them: an absolute UTC time for the record and a
//! plain-words distance from now ("in 45 days", "2 hours ago").

use chrono::{DateTime, Duration, SecondsFormat, Utc};

/// One point in time, ready for a template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Moment {
    /// RFC 3339, for `<time datetime=…>`.
    pub iso: String,
    /// "31 July 2026, 09:00 UTC".
    pub absolute: String,
    /// "in 45 days", "2 hours ago", "just now".
    pub relative: String,
    pub past: bool,
}

impl Moment {
    pub fn new(t: DateTime<Utc>, now: DateTime<Utc>) -> Moment {
        Moment {
            iso: t.to_rfc3339_opts(SecondsFormat::Secs, true),
            absolute: t.format("%-d %B %Y, %H:%M UTC").to_string(),
            relative: relative(t, now),
            past: t < now,
        }
    }

    pub fn of(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<Moment> {
        t.map(|t| Moment::new(t, now))
    }
}

/// "in 3 days", "5 minutes ago", "just now".
pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let distance = (t - now).abs();
    if distance < Duration::minutes(1) {
        return "just now".into();
    }
    let words = span(distance);
    if t > now {
        format!("in {words}")
    } else {
        format!("{words} ago")
    }
}

/// A distance in the largest unit that reads naturally, rounded down:
/// minutes under an hour, hours under two days, days beyond.
fn span(d: Duration) -> String {
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    if d < Duration::hours(1) {
        plural(d.num_minutes(), "minute")
    } else if d < Duration::hours(48) {
        plural(d.num_hours(), "hour")
    } else {
        plural(d.num_days(), "day")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).unwrap()
    }

    #[test]
    fn distances_read_as_plain_words() {
        let now = now();
        assert_eq!(relative(now + Duration::seconds(20), now), "just now");
        assert_eq!(relative(now - Duration::minutes(1), now), "1 minute ago");
        assert_eq!(relative(now + Duration::minutes(59), now), "in 59 minutes");
        assert_eq!(relative(now - Duration::hours(5), now), "5 hours ago");
        assert_eq!(relative(now + Duration::hours(47), now), "in 47 hours");
        assert_eq!(
            relative(now + Duration::days(45) + Duration::hours(3), now),
            "in 45 days"
        );
        assert_eq!(relative(now - Duration::days(2), now), "2 days ago");
    }

    #[test]
    fn a_moment_has_an_absolute_utc_time_and_a_machine_readable_one() {
        let now = now();
        let m = Moment::new(Utc.with_ymd_and_hms(2026, 7, 31, 9, 5, 0).unwrap(), now);
        assert_eq!(m.iso, "2026-07-31T09:05:00Z");
        assert_eq!(m.absolute, "31 July 2026, 09:05 UTC");
        assert_eq!(m.relative, "in 60 days");
        assert!(!m.past);
    }
}

//! When Meta ends each Graph API version. After its end a call naming the
//! version is answered as the oldest version still available, so the agent
//! keeps working but on shapes it was not written for: the owner should
//! move GRAPH_API_VERSION before then.
//!
//! End dates from the Graph API changelog (developers.facebook.com/docs/
//! graph-api/changelog, updated 2026-10-29; instagram-api.md §14). A
//! version missing here (v26.0, released 2026-07-29, and v27.0, 2026-11-04,
//! have no end date yet) neither warns nor is refused. Neither changed the
//! shape of IG Media: the fields added since v25.0 (`is_ai_generated`,
//! `media_audio_type`, the `*_count` totals) came to every version at once
//! (Instagram Platform changelog, 2026-04 to 2026-06).

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// Versions and the day they end.
const ENDS: [(&str, (i32, u32, u32)); 6] = [
    ("v20.0", (2026, 9, 24)),
    ("v21.0", (2027, 1, 21)),
    ("v22.0", (2027, 5, 20)),
    ("v23.0", (2027, 10, 8)),
    ("v24.0", (2028, 2, 18)),
    ("v25.0", (2028, 7, 29)),
];

/// How long before a version ends the owner is told.
pub const WARN_BEFORE: Duration = Duration::days(90);

/// When `version` ends, if the table knows.
pub fn ends(version: &str) -> Option<DateTime<Utc>> {
    let (_, (y, m, d)) = ENDS.iter().find(|(v, _)| *v == version)?;
    let day = NaiveDate::from_ymd_opt(*y, *m, *d)?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc())
}

/// The end of `version` when it is at most [`WARN_BEFORE`] away (or past).
pub fn ending(version: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    ends(version).filter(|end| *end - now <= WARN_BEFORE)
}

/// The newest version the table knows, to move to.
pub fn newest() -> &'static str {
    ENDS[ENDS.len() - 1].0
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_version_warns_from_ninety_days_before_its_end() {
        let end = Utc.with_ymd_and_hms(2027, 1, 21, 0, 0, 0).unwrap();
        assert_eq!(ends("v21.0"), Some(end));
        assert_eq!(ending("v21.0", end - Duration::days(91)), None);
        assert_eq!(ending("v21.0", end - Duration::days(90)), Some(end));
        assert_eq!(ending("v21.0", end + Duration::days(1)), Some(end));
        assert_eq!(ending("v25.0", end), None);
    }

    #[test]
    fn a_version_the_table_does_not_know_never_warns() {
        let far = Utc.with_ymd_and_hms(2040, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(ends("v26.0"), None);
        assert_eq!(ending("v26.0", far), None);
        assert_eq!(newest(), "v25.0");
    }
}

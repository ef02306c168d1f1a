//! Meta's rate-limit usage headers (instagram-api.md §6.2). Each carries
//! percentages of an allowance; throttling starts when one reaches 100.
//! Absent headers mean "not reported", not "zero".
//!
//! graph.facebook.com's `X-App-Usage` counts `call_count`, `total_time` and
//! `total_cputime`; graph.instagram.com's counts `call_volume` and
//! `cpu_time` (restfb/restfb#1571, 2025-04-30). Both sets are read into the
//! same `max_percent`, so whatever consumes the usage works for both hosts.
//! Whether Instagram's values are percentages is not documented; they are
//! read as such.

use serde_json::Value;

/// The usage Meta reported on one answer: the highest percentage across
/// `X-App-Usage`, `X-Business-Use-Case-Usage` and `X-Page-Usage`, and the
/// longest `estimated_time_to_regain_access`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub max_percent: Option<u32>,
    pub regain_access_minutes: Option<u32>,
}

impl Usage {
    pub const APP_HEADER: &str = "x-app-usage";
    pub const BUSINESS_HEADER: &str = "x-business-use-case-usage";
    pub const PAGE_HEADER: &str = "x-page-usage";

    pub fn from_headers(headers: &reqwest::header::HeaderMap) -> Usage {
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        Usage::parse(
            get(Self::APP_HEADER),
            get(Self::BUSINESS_HEADER),
            get(Self::PAGE_HEADER),
        )
    }

    /// Parses the header values; a malformed header is ignored.
    pub fn parse(app: Option<&str>, business: Option<&str>, page: Option<&str>) -> Usage {
        let mut usage = Usage::default();
        for flat in [app, page].into_iter().flatten() {
            if let Ok(Value::Object(counts)) = serde_json::from_str::<Value>(flat) {
                usage.absorb(&counts);
            }
        }
        if let Some(business) = business
            && let Ok(Value::Object(by_id)) = serde_json::from_str::<Value>(business)
        {
            for entries in by_id.values() {
                // An array of objects per business id; tolerate a bare object.
                let entries = match entries {
                    Value::Array(list) => list.iter().collect(),
                    other => vec![other],
                };
                for counts in entries.into_iter().filter_map(Value::as_object) {
                    usage.absorb(counts);
                }
            }
        }
        usage
    }

    /// True when some allowance is used up: further calls will be refused.
    pub fn is_exhausted(&self) -> bool {
        self.max_percent.is_some_and(|p| p >= 100)
    }

    /// True when any usage header was present.
    pub fn is_reported(&self) -> bool {
        self.max_percent.is_some() || self.regain_access_minutes.is_some()
    }

    fn absorb(&mut self, counts: &serde_json::Map<String, Value>) {
        const KEYS: [&str; 5] = [
            "call_count",
            "total_time",
            "total_cputime",
            "call_volume",
            "cpu_time",
        ];
        for key in KEYS {
            if let Some(percent) = counts.get(key).and_then(whole_number) {
                self.max_percent = self.max_percent.max(Some(percent));
            }
        }
        if let Some(minutes) = counts
            .get("estimated_time_to_regain_access")
            .and_then(whole_number)
        {
            self.regain_access_minutes = self.regain_access_minutes.max(Some(minutes));
        }
    }
}

/// A non-negative number, rounded up and saturated to u32; also from a
/// numeric string.
fn whole_number(value: &Value) -> Option<u32> {
    let number = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (number.is_finite() && number >= 0.0).then(|| number.ceil().min(u32::MAX as f64) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_usage_reports_its_highest_percentage() {
        let usage = Usage::parse(
            Some(r#"{"call_count":28,"total_time":25,"total_cputime":31}"#),
            None,
            None,
        );
        assert_eq!(
            usage,
            Usage {
                max_percent: Some(31),
                regain_access_minutes: None
            }
        );
        assert!(!usage.is_exhausted());
    }

    #[test]
    fn instagram_logins_app_usage_keys_report_the_same_percentage() {
        // graph.instagram.com's header as restfb/restfb#1571 quotes it.
        assert_eq!(
            Usage::parse(Some(r#"{"call_volume":0,"cpu_time":0}"#), None, None).max_percent,
            Some(0)
        );
        let usage = Usage::parse(Some(r#"{"call_volume":91,"cpu_time":12}"#), None, None);
        assert_eq!(usage.max_percent, Some(91));
        let usage = Usage::parse(Some(r#"{"call_volume":3,"cpu_time":100}"#), None, None);
        assert!(usage.is_exhausted());
    }

    #[test]
    fn business_use_case_usage_reports_percent_and_regain_minutes_across_ids() {
        let header = r#"{
            "17841405822304914":[{"type":"instagram","call_count":28,"total_cputime":25,"total_time":25,"estimated_time_to_regain_access":0}],
            "17841400000000001":[{"type":"instagram","call_count":100,"total_cputime":5,"total_time":7,"estimated_time_to_regain_access":12},
                                 {"type":"pages","call_count":3,"total_cputime":1,"total_time":1,"estimated_time_to_regain_access":4}]
        }"#;
        let usage = Usage::parse(None, Some(header), None);
        assert_eq!(
            usage,
            Usage {
                max_percent: Some(100),
                regain_access_minutes: Some(12)
            }
        );
        assert!(usage.is_exhausted());
    }

    #[test]
    fn the_maximum_is_taken_across_headers() {
        let usage = Usage::parse(
            Some(r#"{"call_count":64,"total_time":2,"total_cputime":2}"#),
            Some(
                r#"{"1":[{"call_count":10,"total_cputime":70,"total_time":1,"estimated_time_to_regain_access":0}]}"#,
            ),
            Some(r#"{"call_count":5.5,"total_time":0,"total_cputime":0}"#),
        );
        assert_eq!(
            usage,
            Usage {
                max_percent: Some(70),
                regain_access_minutes: Some(0)
            }
        );
    }

    #[test]
    fn malformed_or_absent_headers_report_nothing() {
        assert_eq!(Usage::parse(None, None, None), Usage::default());
        let usage = Usage::parse(
            Some("call_count=5"),
            Some("[1,2]"),
            Some(r#"{"call_count":-3}"#),
        );
        assert!(!usage.is_reported());
    }

    #[test]
    fn headers_are_read_from_a_header_map() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "X-App-Usage",
            r#"{"call_count":99,"total_time":1,"total_cputime":1}"#
                .parse()
                .unwrap(),
        );
        assert_eq!(Usage::from_headers(&headers).max_percent, Some(99));
    }
}

//! The two error envelopes Meta uses, and the messages the fake puts in them.
//!
//! * Graph (`graph.instagram.com`, `graph.facebook.com`):
//!   `{"error":{"message","type","code","error_subcode"?,"fbtrace_id"}}`.
//! * Instagram OAuth (`api.instagram.com`, `www.instagram.com`):
//!   `{"error_type":"OAuthException","code":400,"error_message":…}`.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use serde_json::{Value, json};

use super::ids;
use super::reply::Reply;

/// A Graph API error, rendered into the real envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GraphError {
    pub status: u16,
    pub code: i64,
    pub subcode: Option<i64>,
    pub kind: String,
    pub message: String,
    pub is_transient: bool,
}

impl GraphError {
    /// HTTP 400, or 500 for the "unknown"/"service" codes 1 and 2.
    pub(crate) fn new(code: i64, kind: &str, message: impl Into<String>) -> Self {
        GraphError {
            status: if matches!(code, 1 | 2) { 500 } else { 400 },
            code,
            subcode: None,
            kind: kind.to_string(),
            message: message.into(),
            is_transient: matches!(code, 1 | 2),
        }
    }

    pub(crate) fn with_subcode(mut self, subcode: Option<i64>) -> Self {
        self.subcode = subcode;
        self
    }

    pub(crate) fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// Code 100, the catch-all for a bad parameter.
    pub(crate) fn param(message: impl Into<String>) -> Self {
        GraphError::new(100, "OAuthException", message)
    }

    pub(crate) fn missing_param(name: &str) -> Self {
        GraphError::param(format!("(#100) The parameter {name} is required"))
    }

    pub(crate) fn param_not_one_of(name: &str, allowed: &str, got: &str) -> Self {
        GraphError::param(format!(
            "(#100) Param {name} must be one of {{{allowed}}} - got \"{got}\""
        ))
    }

    pub(crate) fn token_missing() -> Self {
        GraphError::new(
            104,
            "OAuthException",
            "An access token is required to request this resource.",
        )
    }

    pub(crate) fn token_unparsable() -> Self {
        GraphError::new(
            190,
            "OAuthException",
            "Invalid OAuth access token - Cannot parse access token",
        )
    }

    /// graph.instagram.com sends no subcode here; graph.facebook.com sends 463.
    pub(crate) fn session_expired(
        expired_at: DateTime<Utc>,
        now: DateTime<Utc>,
        subcode: Option<i64>,
    ) -> Self {
        let message = format!(
            "Error validating access token: Session has expired on {}. The current time is {}.",
            pacific(expired_at),
            pacific(now)
        );
        GraphError::new(190, "OAuthException", message).with_subcode(subcode)
    }

    pub(crate) fn unsupported_method(method: &str) -> Self {
        GraphError::new(
            100,
            "IGApiException",
            format!(
                "Unsupported request - method type: {}",
                method.to_ascii_lowercase()
            ),
        )
    }

    pub(crate) fn nonexisting_object(id: &str, method: &str) -> Self {
        GraphError::new(
            100,
            "GraphMethodException",
            format!(
                "Unsupported {} request. Object with ID '{id}' does not exist, cannot be loaded \
                 due to missing permissions, or does not support this operation. Please read the \
                 Graph API documentation at https://developers.facebook.com/docs/graph-api",
                method.to_ascii_lowercase()
            ),
        )
        .with_subcode(Some(33))
    }

    pub(crate) fn nonexisting_field(field: &str, node_type: &str) -> Self {
        GraphError::param(format!(
            "(#100) Tried accessing nonexisting field ({field}) on node type ({node_type})"
        ))
    }

    /// The rate-limit bodies of instagram-api.md §6.3.
    pub(crate) fn throttle(code: i64) -> Self {
        const SEE: &str = "For more info, please refer to \
                           https://developers.facebook.com/docs/graph-api/overview/rate-limiting.";
        let message = match code {
            4 => "(#4) Application request limit reached".to_string(),
            17 => "(#17) User request limit reached".to_string(),
            32 => "(#32) Page request limit reached".to_string(),
            613 => "(#613) Calls to this api have exceeded the rate limit.".to_string(),
            80001 => format!(
                "(#80001) There have been too many calls to this Page account. Wait a bit and try again. {SEE}"
            ),
            80002 => format!(
                "(#80002) There have been too many calls to this Instagram account. Wait a bit and try again. {SEE}"
            ),
            other => format!("(#{other}) Too many calls. Wait a bit and try again."),
        };
        let mut error = GraphError::new(code, "OAuthException", message).with_status(400);
        error.is_transient = true;
        error
    }

    pub(crate) fn body(&self) -> Value {
        let mut error = json!({
            "message": self.message,
            "type": self.kind,
            "code": self.code,
            "fbtrace_id": ids::fbtrace_id(),
        });
        if let Some(subcode) = self.subcode {
            error["error_subcode"] = json!(subcode);
        }
        if self.is_transient {
            error["is_transient"] = json!(true);
        }
        json!({ "error": error })
    }

    pub(crate) fn into_reply(self) -> Reply {
        Reply::json(self.status, &self.body())
    }
}

/// `{"error_type":"OAuthException","code":400,"error_message":…}`, always HTTP 400.
pub(crate) fn instagram_oauth_error(message: &str) -> Reply {
    Reply::json(
        400,
        &json!({ "error_type": "OAuthException", "code": 400, "error_message": message }),
    )
}

/// Either envelope; handlers return `Result<Reply, ApiError>`.
#[derive(Debug)]
pub(crate) enum ApiError {
    Graph(GraphError),
    InstagramOAuth(String),
}

impl ApiError {
    pub(crate) fn into_reply(self) -> Reply {
        match self {
            ApiError::Graph(error) => error.into_reply(),
            ApiError::InstagramOAuth(message) => instagram_oauth_error(&message),
        }
    }
}

impl From<GraphError> for ApiError {
    fn from(error: GraphError) -> Self {
        ApiError::Graph(error)
    }
}

/// Meta prints times in its own zone: `Tuesday, 28-Sep-21 03:00:00 PDT`.
fn pacific(at: DateTime<Utc>) -> String {
    let (offset_hours, zone) = if is_us_daylight_time(at) {
        (-7, "PDT")
    } else {
        (-8, "PST")
    };
    let local = at.naive_utc() + Duration::hours(offset_hours);
    format!("{} {zone}", local.format("%A, %d-%b-%y %H:%M:%S"))
}

/// US daylight time: second Sunday of March 10:00 UTC to first Sunday of November 09:00 UTC.
fn is_us_daylight_time(at: DateTime<Utc>) -> bool {
    let year = at.year();
    let (Some(start), Some(end)) = (
        nth_sunday(year, 3, 2).and_then(|d| d.and_hms_opt(10, 0, 0)),
        nth_sunday(year, 11, 1).and_then(|d| d.and_hms_opt(9, 0, 0)),
    ) else {
        return false;
    };
    let naive = at.naive_utc();
    naive >= start && naive < end
}

fn nth_sunday(year: i32, month: u32, n: u8) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Sun, n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn expiry_messages_use_pacific_time_like_meta() {
        let summer = Utc.with_ymd_and_hms(2021, 9, 28, 10, 0, 0).unwrap();
        assert_eq!(pacific(summer), "Tuesday, 28-Sep-21 03:00:00 PDT");
        let winter = Utc.with_ymd_and_hms(2022, 11, 16, 15, 45, 51).unwrap();
        assert_eq!(pacific(winter), "Wednesday, 16-Nov-22 07:45:51 PST");
    }

    #[test]
    fn service_errors_are_http_500_and_others_400() {
        assert_eq!(GraphError::new(2, "OAuthException", "x").status, 500);
        assert_eq!(GraphError::param("x").status, 400);
    }

    #[test]
    fn the_envelope_omits_an_absent_subcode() {
        let body = GraphError::token_unparsable().body();
        assert_eq!(body["error"]["code"], 190);
        assert!(body["error"].get("error_subcode").is_none());
        assert!(body["error"]["fbtrace_id"].is_string());
    }
}

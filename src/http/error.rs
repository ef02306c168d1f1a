//! Every failure the HTTP layer answers, and the one place its status is
//! decided: by the variant, in [`ApiError::status_code`] for the JSON URLs
//! (`{"error": {"code": "…", "message": "…"}}`) and [`PageError::status_code`]
//! for the owner's HTML pages. Every conversion from an error of the rest
//! of the agent is here too, so a handler only says `?`.
//!
//! A refusal (bad input, unknown account, a site not allowed) says what was
//! wrong. An internal failure (database, cache, I/O) is logged with a short
//! request id, and the answer names only that id: no driver, cache or
//! transport text ever reaches a client.

use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt::Display;

use bytes::Bytes;
use warp::http::{self, HeaderValue, StatusCode, header};
use warp::reply::Response;

use crate::connect::ConnectError;
use crate::feed::{FeedError, FilterError, throttle_wait};
use crate::mirror::ReadError;
pub use crate::pages::Onward;
use crate::signed_request::SignedRequestError;
pub use crate::telemetry::{internal_message, log_internal};
use crate::upstream::ErrorKind;

type Text = Cow<'static, str>;

/// A JSON URL's failure. The variant decides the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// 400: a parameter, header or form the agent cannot take.
    BadRequest { code: &'static str, message: Text },
    /// 401: sign in (ADMIN_PASSWORD, or the METRICS_TOKEN bearer).
    Unauthorized,
    /// 403: the caller may not have this (a site not allowed, a bad signature).
    Forbidden { code: &'static str, message: Text },
    /// 404: nothing here, or a feature that is off.
    NotFound { code: &'static str, message: Text },
    /// 405
    MethodNotAllowed { message: &'static str },
    /// 409: the account cannot do this.
    Conflict { code: &'static str, message: Text },
    /// 411: a form without a Content-Length.
    LengthRequired,
    /// 413
    TooLarge,
    /// 429: this client, or the owner's budget, must wait.
    TooManyRequests {
        code: &'static str,
        message: Text,
        retry_after: u64,
    },
    /// 502: Instagram failed or refused; the message says only which kind.
    Upstream { code: &'static str, message: Text },
    /// 503: Instagram asked the agent to slow down.
    UpstreamThrottled { message: Text, retry_after: u64 },
    /// 503: something inside the agent failed; logged under `id`.
    Unavailable { id: String },
    /// 500: a handler panicked; logged under `id`.
    Bug { id: String },
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<Text>) -> ApiError {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn forbidden(code: &'static str, message: impl Into<Text>) -> ApiError {
        ApiError::Forbidden {
            code,
            message: message.into(),
        }
    }

    pub fn missing(code: &'static str, message: impl Into<Text>) -> ApiError {
        ApiError::NotFound {
            code,
            message: message.into(),
        }
    }

    pub fn not_found() -> ApiError {
        ApiError::missing("not_found", "There is nothing at this URL.")
    }

    pub fn unknown_account() -> ApiError {
        ApiError::missing(
            "unknown_account",
            "There is no token for this account yet. Add one with STARTING_TOKEN, `token-agent accounts add`, or the admin page.",
        )
    }

    pub fn method_not_allowed(message: &'static str) -> ApiError {
        ApiError::MethodNotAllowed { message }
    }

    /// A failure of something the agent depends on (the database, say):
    /// logged with `what` and the cause under a new request id; the client
    /// is told 503 and the id.
    pub fn unavailable(what: &str, cause: impl Display) -> ApiError {
        ApiError::Unavailable {
            id: log_internal(what, cause),
        }
    }

    /// A handler that panicked (the panic itself is already in the log).
    pub fn bug() -> ApiError {
        ApiError::Bug {
            id: log_internal("a request handler panicked", "see the panic above"),
        }
    }

    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::LengthRequired => StatusCode::LENGTH_REQUIRED,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Upstream { .. } => StatusCode::BAD_GATEWAY,
            ApiError::UpstreamThrottled { .. } | ApiError::Unavailable { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Bug { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::Forbidden { code, .. }
            | ApiError::NotFound { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::TooManyRequests { code, .. }
            | ApiError::Upstream { code, .. } => code,
            ApiError::Unauthorized => "unauthorized",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::LengthRequired => "length_required",
            ApiError::TooLarge => "too_large",
            ApiError::UpstreamThrottled { .. } => "upstream_throttled",
            ApiError::Unavailable { .. } | ApiError::Bug { .. } => "internal",
        }
    }

    pub fn message(&self) -> Text {
        match self {
            ApiError::BadRequest { message, .. }
            | ApiError::Forbidden { message, .. }
            | ApiError::NotFound { message, .. }
            | ApiError::Conflict { message, .. }
            | ApiError::TooManyRequests { message, .. }
            | ApiError::Upstream { message, .. }
            | ApiError::UpstreamThrottled { message, .. } => message.clone(),
            ApiError::Unauthorized => "Sign in with ADMIN_PASSWORD (any user name).".into(),
            ApiError::MethodNotAllowed { message } => Cow::Borrowed(message),
            ApiError::LengthRequired => "Send the form with a Content-Length.".into(),
            ApiError::TooLarge => "The request body is too large.".into(),
            ApiError::Unavailable { id } | ApiError::Bug { id } => internal_message(id).into(),
        }
    }

    /// Seconds to wait before asking again, for `Retry-After`.
    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::TooManyRequests { retry_after, .. }
            | ApiError::UpstreamThrottled { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// The answer: the JSON body, `Retry-After` when there is a wait, the
    /// Basic challenge for a sign-in.
    pub fn answer(&self) -> http::Response<Bytes> {
        let body = serde_json::json!({
            "error": { "code": self.code(), "message": self.message() }
        });
        let mut response = http::Response::new(Bytes::from(body.to_string()));
        *response.status_mut() = self.status_code();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(seconds) = self.retry_after() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if matches!(self, ApiError::Unauthorized) {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"token-agent admin\", charset=\"UTF-8\""),
            );
        }
        response
    }
}

/// Whole seconds to wait, at least one.
fn seconds(after: chrono::Duration) -> u64 {
    u64::try_from(after.num_seconds()).unwrap_or(0).max(1)
}

impl warp::Reply for ApiError {
    fn into_response(self) -> Response {
        self.answer().map(Into::into)
    }
}

impl warp::reject::Reject for ApiError {}

impl From<FilterError> for ApiError {
    fn from(error: FilterError) -> ApiError {
        ApiError::bad_request(error.code(), error.to_string())
    }
}

impl From<FeedError> for ApiError {
    fn from(error: FeedError) -> ApiError {
        let message = error.to_string().into();
        match error {
            FeedError::UnknownAccount(_) => ApiError::NotFound {
                code: "unknown_account",
                message,
            },
            FeedError::NeedsFacebookAccount(_) => ApiError::Conflict {
                code: "facebook_account_required",
                message,
            },
            FeedError::HashtagBudget { retry_after } => ApiError::TooManyRequests {
                code: "hashtag_limit",
                message,
                retry_after: seconds(retry_after),
            },
            FeedError::TooManyMisses { retry_after } => ApiError::TooManyRequests {
                code: "too_many_requests",
                message,
                retry_after: seconds(retry_after),
            },
            FeedError::Throttled { retry_after } => ApiError::UpstreamThrottled {
                message,
                retry_after: seconds(retry_after),
            },
            FeedError::NoSuchHashtag(_) => ApiError::NotFound {
                code: "unknown_hashtag",
                message,
            },
            FeedError::HashtagNotAllowed(_) => ApiError::NotFound {
                code: "hashtag_not_allowed",
                message,
            },
            FeedError::BadCursor => ApiError::BadRequest {
                code: "invalid_cursor",
                message,
            },
            FeedError::Store(_) | FeedError::Encode(_) => {
                ApiError::unavailable("a feed request failed inside the agent", &error)
            }
            FeedError::Upstream(e) => {
                // What Meta said is the owner's to read (in the log; the
                // refresher shows token verdicts on /status), never a
                // stranger's: the answer says only what kind of failure it was.
                let (code, message) = match e.kind {
                    ErrorKind::TokenDead => (
                        "upstream_token_invalid",
                        "Instagram no longer accepts this account's token; the owner can reconnect it on the admin page.",
                    ),
                    ErrorKind::Throttled { .. } => (
                        "upstream_throttled",
                        "Instagram asked the agent to slow down; try again later.",
                    ),
                    ErrorKind::Transient => (
                        "upstream_unavailable",
                        "Instagram did not answer; try again shortly.",
                    ),
                    ErrorKind::Garbage => (
                        "upstream_garbage",
                        "Instagram sent an answer the agent could not read; try again shortly.",
                    ),
                    ErrorKind::Rejected => (
                        "upstream_rejected",
                        "Instagram refused the request; the agent's log says why.",
                    ),
                };
                tracing::warn!(code, error = %e, "feed request failed upstream");
                match e.kind {
                    ErrorKind::Throttled {
                        retry_after_minutes,
                    } => ApiError::UpstreamThrottled {
                        message: message.into(),
                        retry_after: seconds(throttle_wait(retry_after_minutes)),
                    },
                    _ => ApiError::Upstream {
                        code,
                        message: message.into(),
                    },
                }
            }
        }
    }
}

impl From<&ReadError> for ApiError {
    fn from(error: &ReadError) -> ApiError {
        match error {
            // Removed since the index was read (another instance evicted it).
            ReadError::Gone => ApiError::not_mirrored(),
            ReadError::Store(_) => {
                ApiError::unavailable("a mirrored image could not be read", error)
            }
        }
    }
}

impl ApiError {
    pub fn not_mirrored() -> ApiError {
        ApiError::missing(
            "not_mirrored",
            "The agent keeps no copy of this image at this width.",
        )
    }
}

impl From<SignedRequestError> for ApiError {
    fn from(error: SignedRequestError) -> ApiError {
        tracing::warn!(%error, "refused a Meta callback");
        match error {
            SignedRequestError::BadSignature => ApiError::forbidden(
                "bad_signature",
                "The signed_request is not signed with this app's secret.",
            ),
            stale @ SignedRequestError::Stale(_) => {
                ApiError::bad_request("stale_signed_request", stale.to_string())
            }
            other => ApiError::bad_request("malformed_signed_request", other.to_string()),
        }
    }
}

/// The one answer for warp's own rejections and for the guards' refusals.
pub async fn recover(rejection: warp::Rejection) -> Result<Response, Infallible> {
    Ok(warp::Reply::into_response(from_rejection(&rejection)))
}

fn from_rejection(rejection: &warp::Rejection) -> ApiError {
    if let Some(error) = rejection.find::<ApiError>() {
        error.clone()
    } else if rejection.is_not_found() {
        ApiError::not_found()
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::method_not_allowed("This URL does not answer that method.")
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        ApiError::TooLarge
    } else if rejection
        .find::<warp::filters::body::BodyDeserializeError>()
        .is_some()
        || rejection
            .find::<warp::reject::UnsupportedMediaType>()
            .is_some()
    {
        ApiError::bad_request("invalid_form", "The form could not be read.")
    } else if rejection.find::<warp::reject::LengthRequired>().is_some() {
        // A chunked or length-less body: the forms need a Content-Length.
        ApiError::LengthRequired
    } else if rejection.find::<warp::reject::InvalidHeader>().is_some() {
        // A header that is not text (a non-ASCII Origin, say): refused
        // quietly, as a script can send one on every request.
        ApiError::invalid_header()
    } else if rejection.find::<warp::reject::InvalidQuery>().is_some() {
        ApiError::bad_request("invalid_query", "The query string could not be read.")
    } else if format!("{rejection:?}").contains("BodyReadError") {
        // A body cut short: the client hung up, or the server's limits
        // closed a body that did not arrive in time. Nobody reads this
        // answer; warp does not name the type, only its Debug does.
        tracing::debug!(?rejection, "a request body could not be read");
        ApiError::bad_request("bad_request", "The request body could not be read.")
    } else {
        tracing::warn!(?rejection, "unhandled rejection");
        ApiError::bad_request("bad_request", "The request could not be handled.")
    }
}

impl ApiError {
    pub fn invalid_header() -> ApiError {
        ApiError::bad_request("invalid_header", "A request header could not be read.")
    }
}

/// An owner's page's failure (admin, connect, a deletion's status), shown
/// as a page of its own. The variant decides the status.
#[derive(Debug)]
pub enum PageError {
    /// 400: the form or link is not one the agent can take.
    Invalid { title: &'static str, text: Text },
    /// 403: an admin form whose token is not the agent's, or has expired.
    FormExpired,
    /// 404
    NotFound { title: &'static str, text: Text },
    /// 409: the agent cannot do this as it is set up.
    Conflict { title: &'static str, text: Text },
    /// 502: Instagram refused; the text says what the owner can do.
    Upstream { title: Text, text: Text },
    /// 503: something inside the agent failed; logged under `id`.
    Unavailable { title: &'static str, id: String },
}

impl PageError {
    pub fn invalid(title: &'static str, text: impl Into<Text>) -> PageError {
        PageError::Invalid {
            title,
            text: text.into(),
        }
    }

    /// A failure inside the agent: logged with `what` and its cause; the
    /// page names only the request id.
    pub fn unavailable(title: &'static str, what: &str, cause: impl Display) -> PageError {
        PageError::Unavailable {
            title,
            id: log_internal(what, cause),
        }
    }

    pub fn status_code(&self) -> StatusCode {
        match self {
            PageError::Invalid { .. } => StatusCode::BAD_REQUEST,
            PageError::FormExpired => StatusCode::FORBIDDEN,
            PageError::NotFound { .. } => StatusCode::NOT_FOUND,
            PageError::Conflict { .. } => StatusCode::CONFLICT,
            PageError::Upstream { .. } => StatusCode::BAD_GATEWAY,
            PageError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The page, leading `onward`.
    pub fn page(self, onward: Onward) -> Response {
        let status = self.status_code();
        let (title, text): (Text, Text) = match self {
            PageError::Invalid { title, text }
            | PageError::NotFound { title, text }
            | PageError::Conflict { title, text } => (title.into(), text),
            PageError::FormExpired => (
                "Form expired".into(),
                "This form could not be verified. Open the admin page again and retry.".into(),
            ),
            PageError::Upstream { title, text } => (title, text),
            PageError::Unavailable { title, id } => (title.into(), internal_message(&id).into()),
        };
        crate::pages::message(status, &title, &text, onward)
    }
}

impl From<ConnectError> for PageError {
    /// A login that cannot start: the error says what to set, or (for the
    /// database, already logged) the request id.
    fn from(error: ConnectError) -> PageError {
        PageError::Conflict {
            title: "Cannot connect",
            text: error.to_string().into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_failure_answers_only_its_request_id() {
        let error = ApiError::unavailable(
            "reading accounts failed",
            "error returned from database: no such table: accounts",
        );
        assert_eq!(error.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(error.code(), "internal");
        let ApiError::Unavailable { id } = &error else {
            panic!("{error:?}");
        };
        let message = error.message();
        assert!(message.contains(id.as_str()), "{message}");
        assert!(!message.contains("table"), "{message}");
        let body = error.answer().into_body();
        assert!(!String::from_utf8_lossy(&body).contains("table"));
    }

    #[test]
    fn every_wait_is_told_in_retry_after() {
        let minute = chrono::Duration::seconds(60);
        for error in [
            FeedError::HashtagBudget {
                retry_after: minute,
            },
            FeedError::TooManyMisses {
                retry_after: minute,
            },
            FeedError::Throttled {
                retry_after: minute,
            },
        ] {
            let answer = ApiError::from(error).answer();
            assert!(
                answer.status() == StatusCode::TOO_MANY_REQUESTS
                    || answer.status() == StatusCode::SERVICE_UNAVAILABLE
            );
            assert_eq!(answer.headers()[header::RETRY_AFTER], "60");
        }
    }
}

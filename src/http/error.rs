//! Every failure the HTTP layer answers, mapped to a status and a JSON body
//! in this one place: `{"error": {"code": "…", "message": "…"}}`.
//!
//! A refusal (bad input, unknown account, a site not allowed) says what was
//! wrong. An internal failure (database, cache, I/O) is logged with a short
//! request id, and the answer names only that id: no driver, cache or
//! transport text ever reaches a client.

use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt::Display;

use warp::Reply;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

pub use crate::telemetry::{internal_message, log_internal};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// The request cannot be served as asked; the message says why.
    Refused {
        status: StatusCode,
        code: &'static str,
        message: Cow<'static, str>,
        /// Seconds, for `Retry-After`.
        retry_after: Option<u64>,
    },
    /// Something inside the agent failed; already logged under `id`.
    Internal { status: StatusCode, id: String },
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> ApiError {
        ApiError::Refused {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The same refusal, saying when to try again (at least a second).
    pub fn retry_after(self, after: chrono::Duration) -> ApiError {
        match self {
            ApiError::Refused {
                status,
                code,
                message,
                ..
            } => ApiError::Refused {
                status,
                code,
                message,
                retry_after: Some(u64::try_from(after.num_seconds()).unwrap_or(0).max(1)),
            },
            internal => internal,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<Cow<'static, str>>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "There is nothing at this URL.",
        )
    }

    pub fn method_not_allowed(message: &'static str) -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            message,
        )
    }

    /// A failure of something the agent depends on (the database, say):
    /// logged with `what` and the cause under a new request id; the client
    /// is told 503 and the id.
    pub fn unavailable(what: &str, cause: impl Display) -> ApiError {
        ApiError::Internal {
            status: StatusCode::SERVICE_UNAVAILABLE,
            id: log_internal(what, cause),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Refused { status, .. } | ApiError::Internal { status, .. } => *status,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Refused { code, .. } => code,
            ApiError::Internal { .. } => "internal",
        }
    }

    pub fn message(&self) -> Cow<'static, str> {
        match self {
            ApiError::Refused { message, .. } => message.clone(),
            ApiError::Internal { id, .. } => internal_message(id).into(),
        }
    }
}

impl warp::Reply for ApiError {
    fn into_response(self) -> Response {
        let mut response = json(self.status(), self.code(), &self.message());
        if let ApiError::Refused {
            retry_after: Some(seconds),
            ..
        } = self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

fn json(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": { "code": code, "message": message } }).to_string();
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The one answer for warp's own rejections and for the guards' refusals.
pub async fn recover(rejection: warp::Rejection) -> Result<Response, Infallible> {
    let error = if let Some(refusal) = rejection.find::<Refusal>() {
        return Ok(refusal.response());
    } else if let Some(error) = rejection.find::<ApiError>() {
        error.clone()
    } else if rejection.is_not_found() {
        ApiError::not_found()
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::method_not_allowed("This URL does not answer that method.")
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "The request body is too large.",
        )
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
        ApiError::new(
            StatusCode::LENGTH_REQUIRED,
            "length_required",
            "Send the form with a Content-Length.",
        )
    } else if rejection.find::<warp::reject::InvalidHeader>().is_some() {
        // A header that is not text (a non-ASCII Origin, say): refused
        // quietly, as a script can send one on every request.
        ApiError::bad_request("invalid_header", "A request header could not be read.")
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
    };
    Ok(error.into_response())
}

impl warp::reject::Reject for ApiError {}

/// Why the admin gate refused a request.
#[derive(Debug)]
pub enum Refusal {
    /// ADMIN_PASSWORD is unset: admin URLs do not exist.
    Disabled,
    Unauthorized,
}

impl warp::reject::Reject for Refusal {}

impl Refusal {
    pub fn response(&self) -> Response {
        match self {
            Refusal::Disabled => ApiError::new(
                StatusCode::NOT_FOUND,
                "admin_disabled",
                "Admin pages are off. Set ADMIN_PASSWORD to turn them on.",
            )
            .into_response(),
            Refusal::Unauthorized => {
                let mut r = ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "Sign in with ADMIN_PASSWORD (any user name).",
                )
                .into_response();
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(
                        "Basic realm=\"token-agent admin\", charset=\"UTF-8\"",
                    ),
                );
                r
            }
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
        assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(error.code(), "internal");
        let ApiError::Internal { id, .. } = &error else {
            panic!("{error:?}");
        };
        let message = error.message();
        assert!(message.contains(id.as_str()), "{message}");
        assert!(!message.contains("table"), "{message}");
    }
}

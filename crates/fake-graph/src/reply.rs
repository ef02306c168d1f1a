//! The one response type every fake handler builds.

use bytes::Bytes;
use serde_json::Value;
use warp::http::{HeaderValue, Response, StatusCode, header};

#[derive(Debug)]
pub(crate) struct Reply {
    status: StatusCode,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
}

impl Reply {
    pub(crate) fn new(status: u16, content_type: &'static str, body: impl Into<Bytes>) -> Self {
        Reply {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub(crate) fn json(status: u16, value: &Value) -> Self {
        Reply::new(status, "application/json; charset=UTF-8", value.to_string())
    }

    pub(crate) fn ok(value: &Value) -> Self {
        Reply::json(200, value)
    }

    pub(crate) fn html(status: u16, body: String) -> Self {
        Reply::new(status, "text/html; charset=utf-8", body)
    }

    pub(crate) fn redirect(location: &str) -> Self {
        Reply::new(302, "text/html; charset=utf-8", "").with_header("location", location)
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub(crate) fn into_response(self) -> Response<Bytes> {
        let mut response = Response::new(self.body);
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        response
    }
}

//! Meta's error bodies: the Graph envelope, api.instagram.com's OAuth
//! envelope (and its legacy `meta` wrapper), and the plain OAuth 2 string.

use serde_json::{Map, Value};

use super::codes::{graph_kind, throttled};
use super::scrub::clean_message;
use super::{ErrorKind, UpstreamError};
use crate::upstream::usage::Usage;

/// The parts of any of Meta's error envelopes that we act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Envelope {
    shape: Shape,
    code: Option<i64>,
    subcode: Option<i64>,
    message: String,
    is_transient: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `{"error":{"message","type","code","error_subcode","is_transient","fbtrace_id"}}`
    Graph,
    /// `{"error_type":"OAuthException","code":400,"error_message":"…"}` from
    /// api.instagram.com; `code` mirrors the HTTP status.
    InstagramOAuth,
}

impl Envelope {
    pub(super) fn parse(body: &Value) -> Option<Envelope> {
        let object = body.as_object()?;
        match object.get("error") {
            Some(Value::Object(error)) => {
                let envelope = Envelope::from_graph_object(error);
                if let Some(trace) = error.get("fbtrace_id").and_then(Value::as_str) {
                    tracing::debug!(fbtrace_id = trace, code = envelope.code, "upstream error");
                }
                return Some(envelope);
            }
            // Plain OAuth 2 style: {"error":"invalid_request","error_description":"…"}
            Some(Value::String(error)) => {
                let message = object
                    .get("error_description")
                    .and_then(Value::as_str)
                    .unwrap_or(error);
                return Some(Envelope {
                    shape: Shape::Graph,
                    code: int_field(object, "code"),
                    subcode: None,
                    message: message.to_owned(),
                    is_transient: false,
                });
            }
            _ => {}
        }
        // The legacy Instagram API wrapped the same fields in "meta".
        let oauth = match object.get("meta").and_then(Value::as_object) {
            Some(meta) if meta.contains_key("error_type") => meta,
            _ => object,
        };
        if oauth.contains_key("error_type") || oauth.contains_key("error_message") {
            let message = oauth
                .get("error_message")
                .and_then(Value::as_str)
                .or_else(|| oauth.get("error_type").and_then(Value::as_str))
                .unwrap_or("(no message)");
            return Some(Envelope {
                shape: Shape::InstagramOAuth,
                code: int_field(oauth, "code"),
                subcode: None,
                message: message.to_owned(),
                is_transient: false,
            });
        }
        None
    }

    /// Reads a Graph `error` object; debug_token's embedded error uses
    /// `subcode` instead of `error_subcode`, so both are read.
    pub(super) fn from_graph_object(error: &Map<String, Value>) -> Envelope {
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .or_else(|| error.get("error_user_msg").and_then(Value::as_str))
            .unwrap_or("(no message)");
        Envelope {
            shape: Shape::Graph,
            code: int_field(error, "code"),
            subcode: int_field(error, "error_subcode").or_else(|| int_field(error, "subcode")),
            message: message.to_owned(),
            is_transient: match error.get("is_transient") {
                Some(Value::Bool(b)) => *b,
                Some(Value::String(s)) => s == "true",
                _ => false,
            },
        }
    }

    fn kind(&self, status: u16, usage: Usage) -> ErrorKind {
        match self.shape {
            Shape::InstagramOAuth => match self.code {
                Some(429) => throttled(usage),
                Some(code) if code >= 500 => ErrorKind::Transient,
                None if status >= 500 => ErrorKind::Transient,
                _ => ErrorKind::Rejected,
            },
            Shape::Graph => graph_kind(self.code, self.subcode, self.is_transient, status, usage),
        }
    }

    pub(super) fn into_error(self, status: u16, usage: Usage, secrets: &[&str]) -> UpstreamError {
        let kind = self.kind(status, usage);
        let message = match self.code {
            Some(code) => strip_code_prefix(&self.message, code),
            None => &self.message,
        };
        UpstreamError {
            kind,
            status: Some(status),
            code: self.code,
            subcode: self.subcode,
            message: clean_message(message, secrets),
        }
    }
}

fn int_field(object: &Map<String, Value>, key: &str) -> Option<i64> {
    match object.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Meta prefixes many messages with the code, "(#4) Application request
/// limit reached"; our Display already shows it.
fn strip_code_prefix(message: &str, code: i64) -> &str {
    message
        .strip_prefix(&format!("(#{code})"))
        .map(str::trim_start)
        .unwrap_or(message)
}

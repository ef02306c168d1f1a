//! debug_token's verdict on a token: HTTP 200 whether the token is good or
//! not, so the answer's `data` decides.

use serde_json::Value;

use super::envelope::Envelope;
use super::{ErrorKind, UpstreamError};
use crate::upstream::usage::Usage;

/// Reads a `debug_token` answer (instagram-api.md §3.5): HTTP 200 with
/// `data.is_valid` and, for a bad token, `data.error{code,message,subcode}`.
/// Returns `None` when the inspected token is valid.
pub fn classify_debug_token(body: &Value) -> Option<UpstreamError> {
    if let Some(envelope) = Envelope::parse(body) {
        return Some(envelope.into_error(200, Usage::default(), &[]));
    }
    let Some(data) = body.get("data").and_then(Value::as_object) else {
        return Some(UpstreamError::garbage(
            "debug_token answer has no data object",
        ));
    };
    let is_valid = data.get("is_valid").and_then(Value::as_bool);
    let embedded = data
        .get("error")
        .and_then(Value::as_object)
        .map(Envelope::from_graph_object);
    match (is_valid, embedded) {
        (Some(true), None) => None,
        (Some(false), None) => Some(UpstreamError::new(
            ErrorKind::TokenDead,
            "debug_token says the token is not valid",
            &[],
        )),
        (is_valid, Some(envelope)) => {
            let mut error = envelope.into_error(200, Usage::default(), &[]);
            // Meta declared the token invalid: whatever the code, it is dead.
            if is_valid != Some(true) {
                error.kind = ErrorKind::TokenDead;
            }
            Some(error)
        }
        (None, None) => Some(UpstreamError::garbage("debug_token answer has no is_valid")),
    }
}

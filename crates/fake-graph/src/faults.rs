//! Injected failures: what the next matching request gets instead of the
//! normal answer (except `Delay`, which the server waits out first).

use std::time::Duration;

use serde_json::json;

use super::error::GraphError;
use super::model::State;
use super::reply::Reply;
use super::request::{Host, Request};

/// A failure for `FakeGraph::inject`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// A raw status and body (JSON content type if the body parses as JSON).
    Status(u16, String),
    /// A Graph-envelope error with exactly these fields.
    GraphError {
        status: u16,
        code: i64,
        subcode: Option<i64>,
        message: String,
        kind: String,
    },
    /// An HTML error page, as a proxy or Meta's edge sends in outages.
    Html(u16),
    /// HTTP 200 with the valid start of a JSON body, cut off.
    Truncated,
    /// HTTP 200 with a (valid, whitespace-padded) JSON body of this many bytes.
    Huge(usize),
    /// A throttle error with this code (4, 17, 32, 613, 80001, 80002…) and full usage headers.
    Throttle { code: i64 },
}

/// Minutes a forced throttle claims it takes to regain access.
const FORCED_THROTTLE_MINUTES: i64 = 30;

/// What a fault does to the request it hits.
pub(crate) enum Effect {
    /// Wait, then answer normally.
    Wait(Duration),
    /// Answer this instead.
    Replace(Reply),
}

pub(crate) fn effect(state: &State, request: &Request, fault: Fault) -> Effect {
    let reply = match fault {
        Fault::Delay(wait) => return Effect::Wait(wait),
        Fault::Status(status, body) => {
            let content_type = if serde_json::from_str::<serde_json::Value>(&body).is_ok() {
                "application/json; charset=UTF-8"
            } else {
                "text/plain; charset=utf-8"
            };
            Reply::new(status, content_type, body)
        }
        Fault::GraphError {
            status,
            code,
            subcode,
            message,
            kind,
        } => GraphError::new(code, &kind, message)
            .with_subcode(subcode)
            .with_status(status)
            .into_reply(),
        Fault::Html(status) => Reply::html(status, html_page(status)),
        Fault::Truncated => Reply::new(
            200,
            "application/json; charset=UTF-8",
            r#"{"data":[{"id":"17895695668004550","caption":"Morning li"#,
        ),
        Fault::Huge(size) => Reply::new(200, "application/json; charset=UTF-8", huge_body(size)),
        Fault::Throttle { code } => throttle(state, request, code),
    };
    Effect::Replace(reply)
}

fn html_page(status: u16) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Error</title></head><body><h1>Sorry, something went wrong.</h1>\
         <p>We're working on getting this fixed as soon as we can. ({status})</p></body></html>\n"
    )
}

/// `{"data":[]}` padded with spaces to `size` bytes (cut short if `size` is tiny).
fn huge_body(size: usize) -> String {
    let mut body = String::from(r#"{"data":[]}"#);
    body.truncate(size);
    body.extend(std::iter::repeat_n(' ', size.saturating_sub(body.len())));
    body
}

fn throttle(state: &State, request: &Request, code: i64) -> Reply {
    let mut reply = GraphError::throttle(code).into_reply();
    if !state.options.usage_headers {
        return reply;
    }
    let full = match request.host {
        Host::InstagramGraph => json!({ "call_volume": 100, "cpu_time": 100 }),
        _ => json!({ "call_count": 100, "total_time": 100, "total_cputime": 100 }),
    };
    reply = reply.with_header("x-app-usage", full.to_string());
    let owner = request
        .access_token()
        .and_then(|token| state.tokens.get(&token))
        .and_then(|record| state.users.get(record.user));
    if let Some(user) = owner {
        let buc = json!({ user.public.ig_user_id.clone(): [{
            "type": "instagram",
            "call_count": 100,
            "total_cputime": 100,
            "total_time": 100,
            "estimated_time_to_regain_access": FORCED_THROTTLE_MINUTES,
        }]});
        reply = reply.with_header("x-business-use-case-usage", buc.to_string());
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_bodies_have_the_exact_size_and_stay_json() {
        let body = huge_body(10_000);
        assert_eq!(body.len(), 10_000);
        assert!(serde_json::from_str::<serde_json::Value>(&body).is_ok());
        assert_eq!(huge_body(3).len(), 3);
    }
}

//! The one error type of the upstream client, and the rules that turn Meta's
//! answers (three different error envelopes, see instagram-api.md §5) into it.
//!
//! The kind is decided by the body, not the status: Meta sends throttling
//! code 4 with HTTP 403 and server codes 1/2 with HTTP 500. The status only
//! decides when there is no envelope to read (an HTML error page, say).

use std::fmt;

use serde_json::{Map, Value};

use super::usage::Usage;

/// Upstream messages can be long; we keep one readable line.
const MAX_MESSAGE_CHARS: usize = 300;

/// `code` 190 means the token is dead whatever the subcode; these subcodes
/// mean the same even under another code (instagram-api.md §5.4).
const DEAD_CODES: &[i64] = &[102, 190];
const DEAD_SUBCODES: &[i64] = &[458, 459, 460, 463, 464, 466, 467, 492];

/// Platform throttling (4, 17, 32, 341, 613) and Business Use Case
/// throttling (800xx; 80002 is Instagram).
const THROTTLE_CODES: &[i64] = &[
    4, 17, 32, 341, 613, 80000, 80001, 80002, 80003, 80004, 80005, 80006, 80008, 80009, 80014,
];

/// Meta's "try again later" codes.
const TRANSIENT_CODES: &[i64] = &[1, 2];

/// Codes that say "your request is wrong" even when they arrive with a 5xx.
const PERMANENT_CODES: &[i64] = &[3, 10, 100, 101, 104, 110, 368, 506, 2500];

/// Query or JSON keys whose values are secrets. Their values are scrubbed
/// from any text that reaches an error message.
const SECRET_KEYS: &[&str] = &[
    "access_token",
    "client_secret",
    "fb_exchange_token",
    "input_token",
    "appsecret_proof",
];

/// Every failure of an upstream call. `message` is one short line, already
/// scrubbed of tokens and secrets, safe to log and to show to the owner.
#[derive(Debug, Clone)]
pub struct UpstreamError {
    pub kind: ErrorKind,
    /// The HTTP status, when an answer arrived.
    pub status: Option<u16>,
    /// Meta's `error.code` (or the Instagram OAuth envelope's `code`).
    pub code: Option<i64>,
    /// Meta's `error.error_subcode` (`subcode` inside debug_token).
    pub subcode: Option<i64>,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The token can never work again (190, 102, dead subcodes): the owner
    /// must reconnect. Never retried.
    TokenDead,
    /// Meta asked us to slow down. `retry_after_minutes` comes from the
    /// `estimated_time_to_regain_access` of `X-Business-Use-Case-Usage`.
    Throttled { retry_after_minutes: Option<u32> },
    /// Timeouts, connection failures, Meta's codes 1 and 2, 5xx pages.
    Transient,
    /// A success status with a body we cannot use (HTML, invalid JSON,
    /// missing token, bad `expires_in`, over the size cap).
    Garbage,
    /// Everything else: bad parameters, missing permissions, a refused
    /// authorization code. Retrying the same request will not help.
    Rejected,
}

impl ErrorKind {
    /// Whether the same call may succeed later without the owner acting.
    /// Garbage is retryable: a proxy's error page or a half-deployed
    /// upstream is usually gone an hour later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ErrorKind::Throttled { .. } | ErrorKind::Transient | ErrorKind::Garbage
        )
    }

    /// A stable snake_case name for logs, metrics and the status page.
    pub fn label(&self) -> &'static str {
        match self {
            ErrorKind::TokenDead => "token_dead",
            ErrorKind::Throttled { .. } => "throttled",
            ErrorKind::Transient => "transient",
            ErrorKind::Garbage => "garbage",
            ErrorKind::Rejected => "rejected",
        }
    }
}

impl UpstreamError {
    /// Builds an error whose message is scrubbed of `secrets` (exact values,
    /// also in URL-encoded form) and of every `access_token=…`-like value,
    /// flattened to one line and capped.
    pub(crate) fn new(kind: ErrorKind, message: &str, secrets: &[&str]) -> Self {
        UpstreamError {
            kind,
            status: None,
            code: None,
            subcode: None,
            message: clean_message(message, secrets),
        }
    }

    pub(crate) fn garbage(message: &str) -> Self {
        Self::new(ErrorKind::Garbage, message, &[])
    }

    pub(crate) fn rejected(message: &str) -> Self {
        Self::new(ErrorKind::Rejected, message, &[])
    }

    pub(crate) fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// True when the owner must connect the account again.
    pub fn needs_reconnect(&self) -> bool {
        self.kind == ErrorKind::TokenDead
    }

    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }

    /// graph.instagram.com's answer to every GET when the account may not
    /// use the app: no accepted Instagram Tester role while the app is in
    /// Development mode (instagram-api.md §13; the same body in
    /// stevenschobert/instafeed.js#654). Retrying will not help until the
    /// owner acts.
    pub fn is_app_not_permitted(&self) -> bool {
        self.code == Some(100)
            && self
                .message
                .to_ascii_lowercase()
                .starts_with("unsupported request - method type: get")
    }

    /// A stable name for logs, metrics and the status page: the kind's, or
    /// `app_not_permitted`.
    pub fn label(&self) -> &'static str {
        if self.is_app_not_permitted() {
            "app_not_permitted"
        } else {
            self.kind.label()
        }
    }

    /// What the owner can do, for the answers whose fix is in Meta's app
    /// dashboard rather than in a retry.
    pub fn advice(&self) -> Option<&'static str> {
        let message = self.message.to_ascii_lowercase();
        if self.is_app_not_permitted() {
            Some(
                "Instagram does not let this account use the app: while the Meta app is in \
                 Development mode, add the account under App roles > Roles > Instagram Testers \
                 and accept the invitation in Instagram (Settings > Apps and websites > Tester \
                 invites), or switch the app to Live mode. The agent tries again once a day.",
            )
        } else if message.contains("appsecret_proof") {
            Some(
                "the app requires appsecret_proof (Require App Secret): set FACEBOOK_APP_SECRET \
                 to the secret of the Meta app that issued the token.",
            )
        } else if message.contains("redirect_uri") {
            Some(
                "the redirect URI must be listed exactly (scheme, host, path, no trailing slash) \
                 among the app's valid OAuth redirect URIs, and APP_URL must be the address the \
                 browser came back to.",
            )
        } else {
            None
        }
    }
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.subcode, self.status) {
            (Some(code), Some(subcode), _) => {
                write!(f, "upstream said (#{code}/{subcode}): {}", self.message)
            }
            (Some(code), None, _) => write!(f, "upstream said (#{code}): {}", self.message),
            (None, _, Some(status)) => write!(f, "upstream HTTP {status}: {}", self.message),
            (None, _, None) => write!(f, "upstream: {}", self.message),
        }
    }
}

impl std::error::Error for UpstreamError {}

/// Turns a non-success answer, or a success status carrying an error
/// envelope, into an error. Returns the JSON body when the answer is a
/// usable success.
pub(crate) fn interpret(
    status: u16,
    usage: Usage,
    body: &[u8],
    secrets: &[&str],
) -> Result<Value, UpstreamError> {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    if let Some(envelope) = parsed.as_ref().and_then(Envelope::parse) {
        return Err(envelope.into_error(status, usage, secrets));
    }
    match parsed {
        Some(value) if is_success(status) => Ok(value),
        _ if is_success(status) => Err(UpstreamError::garbage(&format!(
            "sent {} instead of JSON",
            describe_body(body)
        ))
        .with_status(status)),
        _ => Err(without_envelope(
            status,
            usage,
            &format!("sent {} without an error envelope", describe_body(body)),
        )),
    }
}

/// The error for an answer we could not read as an envelope (HTML page,
/// truncated JSON, body over the cap): only the status and usage speak.
pub(crate) fn without_envelope(status: u16, usage: Usage, message: &str) -> UpstreamError {
    let kind = if is_success(status) {
        ErrorKind::Garbage
    } else if status >= 500 {
        ErrorKind::Transient
    } else if status == 429 || usage.is_exhausted() {
        throttled(usage)
    } else {
        ErrorKind::Rejected
    };
    UpstreamError::new(kind, message, &[]).with_status(status)
}

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

fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

fn throttled(usage: Usage) -> ErrorKind {
    ErrorKind::Throttled {
        // 0 means "no estimate"; let the caller's own backoff decide.
        retry_after_minutes: usage.regain_access_minutes.filter(|minutes| *minutes > 0),
    }
}

fn describe_body(body: &[u8]) -> &'static str {
    let start = body.iter().position(|b| !b.is_ascii_whitespace());
    match start.map(|i| body[i]) {
        None => "an empty body",
        Some(b'<') => "an HTML page",
        Some(b'{' | b'[') => "truncated or invalid JSON",
        Some(_) => "a body that is not JSON",
    }
}

/// The parts of any of Meta's error envelopes that we act on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Envelope {
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
    fn parse(body: &Value) -> Option<Envelope> {
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
    fn from_graph_object(error: &Map<String, Value>) -> Envelope {
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

    fn into_error(self, status: u16, usage: Usage, secrets: &[&str]) -> UpstreamError {
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

/// The classification table of instagram-api.md §5, in priority order.
fn graph_kind(
    code: Option<i64>,
    subcode: Option<i64>,
    is_transient: bool,
    status: u16,
    usage: Usage,
) -> ErrorKind {
    let is = |list: &[i64], value: Option<i64>| value.is_some_and(|v| list.contains(&v));
    if is(DEAD_CODES, code) || is(DEAD_SUBCODES, subcode) {
        ErrorKind::TokenDead
    } else if is(THROTTLE_CODES, code) || usage.is_exhausted() {
        throttled(usage)
    } else if is(TRANSIENT_CODES, code) || is_transient {
        ErrorKind::Transient
    } else if is(PERMANENT_CODES, code) || code.is_some_and(|c| (200..300).contains(&c)) {
        ErrorKind::Rejected
    } else if status >= 500 {
        ErrorKind::Transient
    } else if status == 429 {
        throttled(usage)
    } else {
        ErrorKind::Rejected
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

/// Scrubs secrets, flattens to one line and caps the length.
pub(crate) fn clean_message(raw: &str, secrets: &[&str]) -> String {
    let mut text = raw.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 6) {
        text = text.replace(secret, "[redacted]");
        let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        if encoded != *secret {
            text = text.replace(&encoded, "[redacted]");
        }
    }
    let text = scrub_token_like(&scrub_secret_values(&text));
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

/// Replaces anything shaped like an access token, even one this call did
/// not send: words starting with Meta's token prefixes, and any unbroken
/// run of 40 or more token characters.
fn scrub_token_like(text: &str) -> String {
    const PREFIXES: &[&str] = &["IGAA", "IGQV", "EAA"];
    let is_token_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(is_token_char) {
        out.push_str(&rest[..start]);
        let word_len = rest[start..]
            .find(|c: char| !is_token_char(c))
            .unwrap_or(rest.len() - start);
        let word = &rest[start..start + word_len];
        let looks_like_token =
            word.len() >= 40 || (word.len() >= 20 && PREFIXES.iter().any(|p| word.starts_with(p)));
        out.push_str(if looks_like_token { "[redacted]" } else { word });
        rest = &rest[start + word_len..];
    }
    out.push_str(rest);
    out
}

/// Replaces the value after `access_token=`, `client_secret%3D`,
/// `"access_token":"` and friends with `[redacted]`.
fn scrub_secret_values(text: &str) -> String {
    const SEPARATORS: &[&str] = &["=", "%3d", "\":\"", "\": \"", "\\\":\\\"", ": ", ":"];
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some((key_at, key)) = next_key(&lower, search) {
        let after_key = key_at + key.len();
        search = after_key;
        let Some(separator) = SEPARATORS
            .iter()
            .find(|sep| lower[after_key..].starts_with(**sep))
        else {
            continue;
        };
        let value_at = after_key + separator.len();
        let value_len = text[value_at..]
            .find(|c: char| c.is_whitespace() || "&\"'<>,;()[]{}\\".contains(c))
            .unwrap_or(text.len() - value_at);
        if value_len == 0 {
            continue;
        }
        out.push_str(&text[copied..value_at]);
        out.push_str("[redacted]");
        copied = value_at + value_len;
        search = copied;
    }
    out.push_str(&text[copied..]);
    out
}

fn next_key(lower: &str, from: usize) -> Option<(usize, &'static str)> {
    SECRET_KEYS
        .iter()
        .filter_map(|key| lower[from..].find(key).map(|at| (from + at, *key)))
        .min_by_key(|(at, _)| *at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn graph(status: u16, body: Value) -> UpstreamError {
        graph_with_usage(status, body, Usage::default())
    }

    fn graph_with_usage(status: u16, body: Value, usage: Usage) -> UpstreamError {
        interpret(status, usage, body.to_string().as_bytes(), &[]).unwrap_err()
    }

    fn raw(status: u16, body: &str) -> UpstreamError {
        interpret(status, Usage::default(), body.as_bytes(), &[]).unwrap_err()
    }

    #[test]
    fn unsupported_get_on_graph_instagram_means_the_account_may_not_use_the_app() {
        // The body of instafeed.js#654 and of the 2026 deployment notes.
        let error = graph(
            400,
            json!({"error":{"message":"Unsupported request - method type: get","type":"IGApiException","code":100,"fbtrace_id":"AbC"}}),
        );
        assert!(error.is_app_not_permitted());
        assert_eq!(error.label(), "app_not_permitted");
        assert!(!error.is_retryable() && !error.needs_reconnect());
        assert!(error.advice().unwrap().contains("Instagram Testers"));
        let other = graph(
            400,
            json!({"error":{"message":"(#100) Tried accessing nonexisting field (x) on node type (User)","type":"OAuthException","code":100}}),
        );
        assert!(!other.is_app_not_permitted());
        assert_eq!(other.label(), "rejected");
        assert!(other.advice().is_none());
    }

    #[test]
    fn appsecret_proof_and_redirect_uri_refusals_come_with_advice() {
        let proof = graph(
            400,
            json!({"error":{"message":"Invalid appsecret_proof provided in the API argument","type":"GraphMethodException","code":100}}),
        );
        assert!(proof.advice().unwrap().contains("FACEBOOK_APP_SECRET"));
        let redirect = graph(
            400,
            json!({"error_type":"OAuthException","code":400,"error_message":"Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request"}),
        );
        assert!(redirect.advice().unwrap().contains("redirect URI"));
    }

    #[test]
    fn code_190_without_subcode_means_the_token_is_dead() {
        let error = graph(
            400,
            json!({"error":{"message":"Error validating access token: Session has expired on Tuesday, 28-Sep-21 03:00:00 PDT.","type":"OAuthException","code":190,"fbtrace_id":"AbC"}}),
        );
        assert_eq!(error.kind, ErrorKind::TokenDead);
        assert_eq!(
            (error.status, error.code, error.subcode),
            (Some(400), Some(190), None)
        );
        assert!(error.needs_reconnect());
        assert!(!error.is_retryable());
        assert_eq!(
            error.to_string(),
            "upstream said (#190): Error validating access token: Session has expired on Tuesday, 28-Sep-21 03:00:00 PDT."
        );
    }

    #[test]
    fn a_password_change_190_460_is_dead_and_displays_code_and_subcode() {
        let error = graph(
            400,
            json!({"error":{"message":"Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.","type":"OAuthException","code":190,"error_subcode":460}}),
        );
        assert_eq!(error.kind, ErrorKind::TokenDead);
        assert_eq!(error.subcode, Some(460));
        assert!(
            error.to_string().starts_with(
                "upstream said (#190/460): Error validating access token: The session"
            )
        );
    }

    #[test]
    fn an_expired_190_463_is_dead() {
        let error = graph(
            400,
            json!({"error":{"message":"Error validating access token: Session has expired","type":"OAuthException","code":190,"error_subcode":463}}),
        );
        assert_eq!(error.kind, ErrorKind::TokenDead);
        assert_eq!(error.subcode, Some(463));
    }

    #[test]
    fn code_102_is_dead() {
        let error = graph(
            400,
            json!({"error":{"message":"Session key invalid","code":102}}),
        );
        assert_eq!(error.kind, ErrorKind::TokenDead);
    }

    #[test]
    fn a_dead_subcode_under_another_code_is_dead() {
        for subcode in [458, 459, 460, 463, 464, 467, 492] {
            let error = graph(
                400,
                json!({"error":{"message":"x","code":2500,"error_subcode":subcode}}),
            );
            assert_eq!(error.kind, ErrorKind::TokenDead, "subcode {subcode}");
        }
    }

    #[test]
    fn code_4_with_http_403_is_throttled_not_rejected() {
        let error = graph(
            403,
            json!({"error":{"message":"(#4) Application request limit reached","type":"OAuthException","is_transient":true,"code":4,"fbtrace_id":"FlQgl+5U8pF"}}),
        );
        assert_eq!(
            error.kind,
            ErrorKind::Throttled {
                retry_after_minutes: None
            }
        );
        assert!(error.is_retryable());
        assert_eq!(
            error.to_string(),
            "upstream said (#4): Application request limit reached"
        );
    }

    #[test]
    fn codes_17_32_341_and_613_are_throttled() {
        for code in [17, 32, 341, 613, 80001] {
            let error = graph(
                400,
                json!({"error":{"message":"(#17) User request limit reached","code":code}}),
            );
            assert!(
                matches!(error.kind, ErrorKind::Throttled { .. }),
                "code {code}"
            );
        }
    }

    #[test]
    fn code_80002_takes_its_wait_from_the_business_use_case_header() {
        let usage = Usage::parse(
            None,
            Some(
                r#"{"17841405822304914":[{"type":"instagram","call_count":100,"total_cputime":20,"total_time":30,"estimated_time_to_regain_access":17}]}"#,
            ),
            None,
        );
        let error = graph_with_usage(
            400,
            json!({"error":{"message":"(#80002) There have been too many calls to this Instagram account. Wait a bit and try again.","type":"OAuthException","code":80002,"fbtrace_id":"x"}}),
            usage,
        );
        assert_eq!(
            error.kind,
            ErrorKind::Throttled {
                retry_after_minutes: Some(17)
            }
        );
    }

    #[test]
    fn a_zero_regain_estimate_is_no_estimate() {
        let usage = Usage {
            max_percent: Some(100),
            regain_access_minutes: Some(0),
        };
        let error = graph_with_usage(400, json!({"error":{"message":"x","code":80002}}), usage);
        assert_eq!(
            error.kind,
            ErrorKind::Throttled {
                retry_after_minutes: None
            }
        );
    }

    #[test]
    fn is_transient_with_a_throttle_code_is_throttled_and_otherwise_transient() {
        let throttle = graph(
            400,
            json!({"error":{"message":"x","code":613,"is_transient":true}}),
        );
        assert!(matches!(throttle.kind, ErrorKind::Throttled { .. }));
        let other = graph(
            400,
            json!({"error":{"message":"x","code":12345,"is_transient":true}}),
        );
        assert_eq!(other.kind, ErrorKind::Transient);
    }

    #[test]
    fn codes_1_and_2_with_http_500_are_transient() {
        for code in [1, 2] {
            let error = graph(
                500,
                json!({"error":{"message":"An unexpected error has occurred. Please retry your request later.","type":"OAuthException","is_transient":true,"code":code}}),
            );
            assert_eq!(error.kind, ErrorKind::Transient, "code {code}");
        }
        let without_flag = graph(
            200,
            json!({"error":{"message":"An unknown error occurred","code":1}}),
        );
        assert_eq!(without_flag.kind, ErrorKind::Transient);
    }

    #[test]
    fn code_100_10_and_200_are_rejected() {
        for (status, code) in [(400, 100), (400, 10), (403, 200), (400, 299), (500, 100)] {
            let error = graph(
                status,
                json!({"error":{"message":"Unsupported request - method type: get","type":"IGApiException","code":code}}),
            );
            assert_eq!(error.kind, ErrorKind::Rejected, "code {code}");
            assert!(!error.is_retryable());
        }
    }

    #[test]
    fn an_unknown_code_is_rejected_on_4xx_and_transient_on_5xx() {
        let body = json!({"error":{"message":"Something","code":-3}});
        assert_eq!(graph(400, body.clone()).kind, ErrorKind::Rejected);
        assert_eq!(graph(503, body).kind, ErrorKind::Transient);
    }

    #[test]
    fn an_exhausted_usage_header_turns_an_error_into_throttling() {
        let usage = Usage {
            max_percent: Some(100),
            regain_access_minutes: Some(9),
        };
        let error = graph_with_usage(400, json!({"error":{"message":"x","code":12345}}), usage);
        assert_eq!(
            error.kind,
            ErrorKind::Throttled {
                retry_after_minutes: Some(9)
            }
        );
        let dead = graph_with_usage(400, json!({"error":{"message":"x","code":190}}), usage);
        assert_eq!(dead.kind, ErrorKind::TokenDead);
    }

    #[test]
    fn the_instagram_oauth_envelope_is_rejected_not_dead() {
        let error = graph(
            400,
            json!({"error_type":"OAuthException","code":400,"error_message":"Matching code was not found or was already used"}),
        );
        assert_eq!(error.kind, ErrorKind::Rejected);
        assert_eq!(error.code, Some(400));
        assert_eq!(
            error.to_string(),
            "upstream said (#400): Matching code was not found or was already used"
        );
    }

    #[test]
    fn the_legacy_instagram_meta_envelope_is_read() {
        let error = graph(
            400,
            json!({"meta":{"error_type":"OAuthAccessTokenException","code":400,"error_message":"The access_token provided is invalid."}}),
        );
        assert_eq!(error.kind, ErrorKind::Rejected);
        assert_eq!(error.message, "The access_token provided is invalid.");
    }

    #[test]
    fn an_oauth2_string_error_is_read() {
        let error = graph(
            400,
            json!({"error":"invalid_request","error_description":"Bad redirect"}),
        );
        assert_eq!(error.kind, ErrorKind::Rejected);
        assert_eq!(error.message, "Bad redirect");
    }

    #[test]
    fn an_error_envelope_with_a_200_status_is_still_an_error() {
        let error = graph(
            200,
            json!({"error":{"message":"x","code":190,"error_subcode":"467"}}),
        );
        assert_eq!(error.kind, ErrorKind::TokenDead);
        assert_eq!(error.subcode, Some(467));
    }

    #[test]
    fn an_html_502_is_transient() {
        let error = raw(502, "<html><body><h1>502 Bad Gateway</h1></body></html>");
        assert_eq!(error.kind, ErrorKind::Transient);
        assert_eq!(error.status, Some(502));
        assert_eq!(
            error.to_string(),
            "upstream HTTP 502: sent an HTML page without an error envelope"
        );
    }

    #[test]
    fn an_html_4xx_is_rejected_and_an_html_429_throttled() {
        assert_eq!(
            raw(404, "<!doctype html><p>Not found</p>").kind,
            ErrorKind::Rejected
        );
        assert!(matches!(
            raw(429, "<p>slow down</p>").kind,
            ErrorKind::Throttled { .. }
        ));
    }

    #[test]
    fn an_html_200_is_garbage() {
        let error = raw(
            200,
            "  <!DOCTYPE html><html>Sorry, something went wrong.</html>",
        );
        assert_eq!(error.kind, ErrorKind::Garbage);
        assert!(error.is_retryable());
        assert_eq!(
            error.to_string(),
            "upstream HTTP 200: sent an HTML page instead of JSON"
        );
    }

    #[test]
    fn truncated_json_is_garbage_on_200_and_transient_on_500() {
        let body = r#"{"access_token":"IGAAabc","token_type":"bea"#;
        assert_eq!(raw(200, body).kind, ErrorKind::Garbage);
        assert_eq!(
            raw(500, r#"{"error":{"message":"x","co"#).kind,
            ErrorKind::Transient
        );
        assert_eq!(raw(200, "").kind, ErrorKind::Garbage);
    }

    #[test]
    fn a_success_body_is_returned() {
        let value = interpret(200, Usage::default(), br#"{"id":"1"}"#, &[]).unwrap();
        assert_eq!(value, json!({"id":"1"}));
    }

    #[test]
    fn secrets_inside_an_upstream_message_are_scrubbed() {
        let error = graph(
            400,
            json!({"error":{"message":"Bad request GET /oauth/access_token?client_id=1&client_secret=s3cr3tValue&access_token=IGAAtok.en-1|x%7Cy and ACCESS_TOKEN%3DEAAsecond, {\"fb_exchange_token\":\"EAAthird\"}","code":100}}),
        );
        let shown = error.to_string();
        for secret in ["s3cr3tValue", "IGAAtok", "EAAsecond", "EAAthird"] {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
        assert!(shown.contains("client_id=1&client_secret=[redacted]&access_token=[redacted]"));
        assert!(!format!("{error:?}").contains("s3cr3tValue"));
    }

    #[test]
    fn known_secret_values_are_scrubbed_even_without_a_key() {
        let token = "IGAA-very-secret|token";
        let body = json!({"error":{"message":format!("token {token} or IGAA-very-secret%7Ctoken is bad"),"code":190}});
        let error =
            interpret(400, Usage::default(), body.to_string().as_bytes(), &[token]).unwrap_err();
        assert!(!error.to_string().contains("very-secret"), "{error}");
        assert_eq!(error.message, "token [redacted] or [redacted] is bad");
    }

    #[test]
    fn long_messages_are_capped_and_flattened() {
        let long = format!("line one\n\tline two {}", "xx ".repeat(400));
        let error = graph(400, json!({"error":{"message":long,"code":100}}));
        assert!(error.message.starts_with("line one line two xx xx"));
        assert_eq!(error.message.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(error.message.ends_with('…'));
    }

    #[test]
    fn labels_and_retryability_follow_the_kinds() {
        let kinds = [
            (ErrorKind::TokenDead, "token_dead", false),
            (
                ErrorKind::Throttled {
                    retry_after_minutes: None,
                },
                "throttled",
                true,
            ),
            (ErrorKind::Transient, "transient", true),
            (ErrorKind::Garbage, "garbage", true),
            (ErrorKind::Rejected, "rejected", false),
        ];
        for (kind, label, retryable) in kinds {
            assert_eq!(kind.label(), label);
            assert_eq!(kind.is_retryable(), retryable);
        }
    }

    #[test]
    fn debug_token_for_a_valid_token_is_fine() {
        let body = json!({"data":{"app_id":"257422819769992","type":"USER","is_valid":true,"expires_at":1673934788,"scopes":["public_profile"],"user_id":"123"}});
        assert!(classify_debug_token(&body).is_none());
    }

    #[test]
    fn debug_token_with_an_embedded_190_463_is_dead() {
        let body = json!({"data":{"app_id":"1","type":"USER","error":{"code":190,"message":"Error validating access token: Session has expired on Wednesday, 16-Nov-22 07:45:51 PST.","subcode":463},"is_valid":false,"scopes":["email"]}});
        let error = classify_debug_token(&body).unwrap();
        assert_eq!(error.kind, ErrorKind::TokenDead);
        assert_eq!((error.code, error.subcode), (Some(190), Some(463)));
    }

    #[test]
    fn debug_token_for_an_unparseable_or_invalid_token_is_dead() {
        let unparseable = json!({"data":{"error":{"code":190,"message":"Invalid OAuth access token - Cannot parse access token"},"is_valid":false,"scopes":[]}});
        assert_eq!(
            classify_debug_token(&unparseable).unwrap().kind,
            ErrorKind::TokenDead
        );
        let bare = json!({"data":{"is_valid":false}});
        assert_eq!(
            classify_debug_token(&bare).unwrap().kind,
            ErrorKind::TokenDead
        );
        let other_code = json!({"data":{"error":{"code":1,"message":"x"},"is_valid":false}});
        assert_eq!(
            classify_debug_token(&other_code).unwrap().kind,
            ErrorKind::TokenDead
        );
    }

    #[test]
    fn debug_token_called_with_a_wrong_app_token_is_rejected() {
        let body = json!({"error":{"message":"(#100) You must provide an app access token, or a user access token that is an owner or developer of the app","type":"OAuthException","code":100}});
        assert_eq!(
            classify_debug_token(&body).unwrap().kind,
            ErrorKind::Rejected
        );
        assert_eq!(
            classify_debug_token(&json!({"x":1})).unwrap().kind,
            ErrorKind::Garbage
        );
    }

    #[test]
    fn token_shaped_words_are_redacted_even_when_not_sent() {
        let other = format!("IGAA{}", "x".repeat(150));
        let cleaned = clean_message(
            &format!("Cannot parse access token {other} (trace AbC12)"),
            &[],
        );
        assert!(!cleaned.contains(&other), "{cleaned}");
        assert!(
            cleaned.contains("[redacted]") && cleaned.contains("AbC12"),
            "{cleaned}"
        );
        let long = "a1".repeat(25);
        assert!(!clean_message(&format!("value {long}."), &[]).contains(&long));
        assert_eq!(
            clean_message("Session has expired on Tuesday", &[]),
            "Session has expired on Tuesday"
        );
    }
}

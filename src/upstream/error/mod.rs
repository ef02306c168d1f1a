//! The one error type of the upstream client, and the rules that turn Meta's
//! answers (three different error envelopes, see instagram-api.md §5) into it.
//!
//! The kind is decided by the body, not the status: Meta sends throttling
//! code 4 with HTTP 403 and server codes 1/2 with HTTP 500. The status only
//! decides when there is no envelope to read (an HTML error page, say).
//!
//! This file holds the error and the entry points; `envelope.rs` reads
//! Meta's error bodies, `codes.rs` says what each family of codes means,
//! `debug_token.rs` reads debug_token's verdict, and `scrub.rs` keeps
//! tokens and secrets out of every message.

use std::fmt;

use serde_json::Value;

use super::usage::Usage;
use codes::throttled;
use envelope::Envelope;

mod codes;
mod debug_token;
mod envelope;
mod scrub;

pub use debug_token::classify_debug_token;

pub(crate) use scrub::clean_message;

#[cfg(test)]
mod tests;

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

fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
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

//! Meta's error codes by family (dead token, throttling, transient,
//! permanent) and the order in which they decide an answer's kind.

use super::ErrorKind;
use crate::upstream::usage::Usage;

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

/// The classification table of instagram-api.md §5, in priority order.
pub(super) fn graph_kind(
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

pub(super) fn throttled(usage: Usage) -> ErrorKind {
    ErrorKind::Throttled {
        // 0 means "no estimate"; let the caller's own backoff decide.
        retry_after_minutes: usage.regain_access_minutes.filter(|minutes| *minutes > 0),
    }
}

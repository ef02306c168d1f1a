//! Property tests for everything that reads untrusted input: the domain
//! allow-list, the `const` name of token.js, Meta's `signed_request`, feed
//! cursors, and every upstream answer parser (the public ones directly, the
//! crate-private token, code and profile parsers through the public client
//! against the fake Graph API). Case counts stay moderate so the suite is fast.

mod allowlist;
mod cursors;
mod jsident;
mod signed_requests;
mod upstream;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use serde_json::{Value, json};
use token_agent::domain::allowlist::{Access, AllowListError, AllowedDomains};
use token_agent::domain::is_valid_cursor;
use token_agent::domain::jsident::JsIdentifier;
use token_agent::feed::{Links, Page, Paging, render};
use token_agent::mirror::Dressing;
use token_agent::signed_request::{self, SignedRequestError};
use token_agent::upstream::media::{MediaPage, signed_expiry};
use token_agent::upstream::{
    MediaOwner, PageRequest, Upstream, UpstreamConfig, Usage, classify_debug_token,
};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // A failure is reported with its minimal input; no files are written.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Any JSON value, with numbers at the edges (ids past 2^53, floats,
/// negatives) and the keys the parsers look for.
pub(crate) fn json_value() -> impl Strategy<Value = Value> {
    let key = prop::sample::select(vec![
        "data",
        "id",
        "media_type",
        "media_url",
        "thumbnail_url",
        "caption",
        "timestamp",
        "children",
        "paging",
        "cursors",
        "after",
        "before",
        "next",
        "previous",
        "error",
        "code",
        "message",
        "error_subcode",
        "is_valid",
        "access_token",
        "expires_in",
        "user_id",
        "username",
        "like_count",
        "comments_count",
        "x",
    ])
    .prop_map(str::to_string);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        Just(json!(9_007_199_254_740_993_u64)),
        Just(json!(u64::MAX)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "\\PC{0,16}".prop_map(Value::String),
        Just(json!("2026-05-01T10:00:00+0000")),
        Just(json!(
            "https://scontent.cdninstagram.com/v/1.jpg?oe=6A000000"
        )),
        Just(json!("https://x/y.jpg?oe=7FFFFFFFFFFFFFFF")),
        Just(json!("https://x/y.jpg?oe=-8000000000000000")),
        Just(json!("QVFIUk1")),
        Just(json!("IMAGE")),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

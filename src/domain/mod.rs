//! Types that parse: a value of one of these has been checked once, at the
//! edge where it came in, and is trusted everywhere after that.
//!
//! * `account.rs` — account names (`/accounts/{name}/…`, `?account=`).
//! * `allowlist/` — ALLOWED_DOMAINS and the Origin/Referer check.
//! * `jsident.rs` — the `const` name of `/token.js` (and JS_CONSTANT_NAME).
//! * `hashtag.rs` — a hashtag as Instagram accepts it.
//! * `host.rs` — which hosts are this machine.
//! * `cursor.rs` — paging cursors.
//! * `cdn_hosts.rs` — MEDIA_CDN_HOSTS, the hosts images are downloaded from.
//! * `client.rs` — who a request comes from (TRUST_PROXY), for limits.

pub mod account;
pub mod allowlist;
pub mod cdn_hosts;
pub mod client;
pub mod cursor;
pub mod hashtag;
pub mod host;
pub mod jsident;

pub use account::{AccountName, DEFAULT_ACCOUNT};
pub use cdn_hosts::CdnHosts;
pub use client::{ClientKey, Platform, TrustProxy};
pub use cursor::{Cursor, is_valid_cursor};
pub use hashtag::{is_hashtag_char, parse_hashtag};

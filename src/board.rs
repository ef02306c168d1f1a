//! The tokens being served, held in memory.
//!
//! Token URLs answer from here alone: no database or cache round trip per
//! request, and they keep answering while the database is down. The board is
//! replaced as a whole (copy on write) whenever a token changes, which is
//! rare, so readers never wait for a lock.
//!
//! Each token's answers are made here once, when it changes: the bodies and
//! the header values that depend only on the token (ETag, Cache-Control), so
//! a request copies none of them.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption};
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};
use warp::http::HeaderValue;

use crate::store::{Account, AccountKind};

/// One account's token, with what every request needs precomputed.
pub struct Served {
    pub kind: AccountKind,
    /// The account's epoch: which placement of a token it is on.
    pub epoch: i64,
    pub token: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub next_refresh_at: Option<DateTime<Utc>>,
    /// A strong validator for the token and its expiry.
    pub etag: String,
    /// `etag` as a header value.
    pub etag_header: HeaderValue,
    /// `{"token": …, "expires_at": …}`
    pub json: Bytes,
    /// The token alone, the body of `/token`.
    pub text: Bytes,
    /// The token as a JavaScript string literal, quotes included.
    pub js_literal: String,
    /// The latest token.js body, with the constant name it was made for: a
    /// site asks with one name, so it is made once, not per request.
    js: ArcSwapOption<(String, Bytes)>,
    /// The latest Cache-Control value, with its max-age: it changes at most
    /// once a second, and only in the token's last day before expiry or refresh.
    cache_control: ArcSwapOption<(i64, HeaderValue)>,
}

impl Served {
    pub fn new(
        token: &str,
        expires_at: Option<DateTime<Utc>>,
        next_refresh_at: Option<DateTime<Utc>>,
    ) -> Served {
        let expires = expires_at.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true));
        let json = serde_json::json!({ "token": token, "expires_at": expires }).to_string();
        let digest = Sha256::new()
            .chain_update(token.as_bytes())
            .chain_update(b"|")
            .chain_update(expires.as_deref().unwrap_or("").as_bytes())
            .finalize();
        let etag = format!("\"{}\"", hex::encode(&digest[..12]));
        Served {
            kind: AccountKind::Instagram,
            epoch: 0,
            token: token.to_string(),
            expires_at,
            next_refresh_at,
            etag_header: HeaderValue::from_str(&etag).expect("hex digits in quotes"),
            etag,
            json: Bytes::from(json),
            text: Bytes::copy_from_slice(token.as_bytes()),
            js_literal: js_string_literal(token),
            js: ArcSwapOption::empty(),
            cache_control: ArcSwapOption::empty(),
        }
    }

    /// `const {name} = "…";`, the body of token.js. `name` must be a valid
    /// [`JsIdentifier`](crate::domain::jsident::JsIdentifier).
    pub fn js_body(&self, name: &str) -> Bytes {
        if let Some(made) = self.js.load().as_deref()
            && made.0 == name
        {
            return made.1.clone();
        }
        let body = Bytes::from(format!("const {name} = {};\n", self.js_literal));
        self.js
            .store(Some(Arc::new((name.to_string(), body.clone()))));
        body
    }

    /// Whether token.js was last made for `name`, which was then valid.
    pub fn js_made_for(&self, name: &str) -> bool {
        self.js.load().as_deref().is_some_and(|made| made.0 == name)
    }

    /// `private, max-age={max_age}`. Private: a shared cache in front would
    /// hand one site's token to every site and keep a rotated or removed one.
    pub fn cache_control(&self, max_age: i64) -> HeaderValue {
        if let Some(made) = self.cache_control.load().as_deref()
            && made.0 == max_age
        {
            return made.1.clone();
        }
        let value =
            HeaderValue::from_str(&format!("private, max-age={max_age}")).expect("ASCII digits");
        self.cache_control
            .store(Some(Arc::new((max_age, value.clone()))));
        value
    }

    fn from_account(account: &Account) -> Served {
        Served {
            kind: account.kind,
            epoch: account.epoch,
            ..Served::new(&account.token, account.expires_at, account.next_refresh_at)
        }
    }
}

/// A double-quoted JavaScript string that cannot end a `<script>` element
/// or break out of the literal, whatever the input.
pub fn js_string_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '-' | '.' | '|' => out.push(c),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
    out
}

#[derive(Default)]
pub struct Board {
    tokens: ArcSwap<HashMap<String, Arc<Served>>>,
}

impl Board {
    pub fn get(&self, account: &str) -> Option<Arc<Served>> {
        self.tokens.load().get(account).cloned()
    }

    /// Replaces everything with what the database holds.
    pub fn load(&self, accounts: &[Account]) {
        let map = accounts
            .iter()
            .map(|a| (a.name.clone(), Arc::new(Served::from_account(a))))
            .collect();
        self.tokens.store(Arc::new(map));
    }

    pub fn put(&self, account: &Account) {
        let served = Arc::new(Served::from_account(account));
        self.tokens.rcu(|old| {
            let mut map = HashMap::clone(old);
            map.insert(account.name.clone(), served.clone());
            map
        });
    }

    pub fn remove(&self, account: &str) {
        self.tokens.rcu(|old| {
            let mut map = HashMap::clone(old);
            map.remove(account);
            map
        });
    }

    /// The first account of a kind, by name.
    pub fn first_of_kind(&self, kind: AccountKind) -> Option<String> {
        self.names()
            .into_iter()
            .find(|name| self.get(name).is_some_and(|s| s.kind == kind))
    }

    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tokens.load().keys().cloned().collect();
        names.sort();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_json_body_has_the_token_and_an_rfc3339_expiry() {
        let expires = Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap();
        let served = Served::new("IGAAabc", Some(expires), None);
        let body: serde_json::Value = serde_json::from_slice(&served.json).unwrap();
        assert_eq!(body["token"], "IGAAabc");
        assert_eq!(body["expires_at"], "2026-05-01T10:00:00Z");
        assert!(served.etag.starts_with('"') && served.etag.ends_with('"'));
        assert_eq!(served.etag_header, served.etag.as_str());
        assert_eq!(served.text, "IGAAabc");
    }

    #[test]
    fn token_js_and_cache_control_are_remade_only_when_what_they_name_changes() {
        let served = Served::new("IGAAabc", None, None);
        assert!(!served.js_made_for("Token"));
        let body = served.js_body("Token");
        assert_eq!(body, "const Token = \"IGAAabc\";\n");
        assert!(served.js_made_for("Token"));
        // The same bytes, not a copy.
        assert_eq!(served.js_body("Token").as_ptr(), body.as_ptr());
        assert_eq!(served.js_body("Other"), "const Other = \"IGAAabc\";\n");
        assert!(!served.js_made_for("Token"));

        let day = served.cache_control(86_400);
        assert_eq!(day, "private, max-age=86400");
        assert_eq!(
            served.cache_control(86_400).as_bytes().as_ptr(),
            day.as_bytes().as_ptr()
        );
        assert_eq!(served.cache_control(59), "private, max-age=59");
    }

    #[test]
    fn the_etag_changes_with_the_token_or_its_expiry() {
        let t = Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap();
        let a = Served::new("IGAAabc", Some(t), None).etag;
        assert_eq!(a, Served::new("IGAAabc", Some(t), None).etag);
        assert_ne!(a, Served::new("IGAAabd", Some(t), None).etag);
        assert_ne!(a, Served::new("IGAAabc", None, None).etag);
    }

    #[test]
    fn js_literals_cannot_break_out_of_a_script() {
        assert_eq!(js_string_literal("IGAA_x-1"), "\"IGAA_x-1\"");
        let input = "\"</script><script>alert(1)//\u{2028}😀\\";
        let literal = js_string_literal(input);
        let inner = &literal[1..literal.len() - 1];
        assert!(
            !inner.contains(['"', '<', '>', '\'', '\n', '\u{2028}']),
            "{literal}"
        );
        assert!(inner.split('\\').skip(1).all(|rest| rest.starts_with('u')));
        // The literal is also valid JSON, which decodes back to the input.
        assert_eq!(serde_json::from_str::<String>(&literal).unwrap(), input);
    }
}

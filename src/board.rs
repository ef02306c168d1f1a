//! The tokens being served, held in memory.
//!
//! Token URLs answer from here alone: no database or cache round trip per
//! request, and they keep answering while the database is down. The board is
//! replaced as a whole (copy on write) whenever a token changes, which is
//! rare, so readers never wait for a lock.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};

use crate::store::{Account, AccountKind};

/// One account's token, with what every request needs precomputed.
pub struct Served {
    pub kind: AccountKind,
    pub token: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub next_refresh_at: Option<DateTime<Utc>>,
    /// A strong validator for the token and its expiry.
    pub etag: String,
    /// `{"token": …, "expires_at": …}`
    pub json: Bytes,
    /// The token as a JavaScript string literal, quotes included.
    pub js_literal: String,
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
        Served {
            kind: AccountKind::Instagram,
            token: token.to_string(),
            expires_at,
            next_refresh_at,
            etag: format!("\"{}\"", hex::encode(&digest[..12])),
            json: Bytes::from(json),
            js_literal: js_string_literal(token),
        }
    }

    fn from_account(account: &Account) -> Served {
        Served {
            kind: account.kind,
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

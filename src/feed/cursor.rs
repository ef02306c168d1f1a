//! The agent's own paging cursors: where a page starts (an upstream page and
//! an offset into it), signed with a key kept in the database, so that only
//! cursors this agent handed out, for this feed, reach a cache key or
//! upstream. A made-up or copied-across cursor is refused before either.
//!
//! Form: `BASE64URL(json).BASE64URL(first 16 bytes of HMAC-SHA256(key,
//! scope NUL json))`, where the scope names the feed (account, and the tag
//! and edge for hashtag feeds). Upstream's next link inside a position is
//! encrypted as well (XChaCha20-Poly1305 under the same key), so a client
//! sees nothing of it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::config::Secret;
use crate::crypto::TokenCipher;
use crate::domain::Cursor;
use crate::signing::{hmac_sha256, verify_hmac_sha256_prefix};

/// Bytes of the MAC kept in a cursor: 128 bits.
const MAC_BYTES: usize = 16;

/// Where a page the agent serves starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The upstream page: none for the first.
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<Cursor>,
    /// Forward: the items of that upstream page before the answer;
    /// backward: the items of it the answer ends before.
    #[serde(rename = "o", default, skip_serializing_if = "is_zero")]
    pub offset: u32,
    /// Whether the answer is the items before `offset` (a `previous` link)
    /// rather than those from it on.
    #[serde(rename = "b", default, skip_serializing_if = "is_false")]
    pub back: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The key cursors are signed with: random, made once, shared by every
/// instance through the database.
#[derive(Clone)]
pub struct CursorKey {
    mac: Vec<u8>,
    cipher: std::sync::Arc<TokenCipher>,
}

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(…)")
    }
}

impl CursorKey {
    pub fn new(secret: &str) -> CursorKey {
        CursorKey {
            mac: secret.as_bytes().to_vec(),
            cipher: std::sync::Arc::new(TokenCipher::from_secret(&Secret::new(format!(
                "cursor link key {secret}"
            )))),
        }
    }

    /// What the MAC covers: the feed's scope and the position.
    fn message(scope: &str, payload: &[u8]) -> Vec<u8> {
        let mut message = Vec::with_capacity(scope.len() + 1 + payload.len());
        message.extend_from_slice(scope.as_bytes());
        message.push(0);
        message.extend_from_slice(payload);
        message
    }

    /// The cursor for `position` in the feed named by `scope`.
    pub fn seal(&self, scope: &str, position: &Position) -> String {
        let sealed;
        let position = match &position.upstream {
            Some(Cursor::Next(query)) => {
                sealed = Position {
                    upstream: Some(Cursor::Next(self.cipher.encrypt(query))),
                    offset: position.offset,
                    back: position.back,
                };
                &sealed
            }
            _ => position,
        };
        let payload = serde_json::to_vec(position).expect("a position serializes");
        let mac = hmac_sha256(&self.mac, &Self::message(scope, &payload));
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(&mac[..MAC_BYTES])
        )
    }

    /// The position a cursor stands for, if this key sealed it for `scope`.
    pub fn open(&self, scope: &str, cursor: &str) -> Option<Position> {
        let (payload, mac) = cursor.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
        if mac.len() != MAC_BYTES {
            return None;
        }
        if !verify_hmac_sha256_prefix(&self.mac, &Self::message(scope, &payload), &mac) {
            return None;
        }
        let mut position: Position = serde_json::from_slice(&payload).ok()?;
        if let Some(Cursor::Next(sealed)) = &position.upstream {
            position.upstream = Some(Cursor::Next(self.cipher.decrypt(sealed).ok()?));
        }
        Some(position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position() -> Position {
        Position {
            upstream: Some(Cursor::After("QVFIUk2".into())),
            offset: 7,
            back: false,
        }
    }

    #[test]
    fn a_sealed_cursor_opens_only_with_its_key_and_scope() {
        let key = CursorKey::new("one key");
        let cursor = key.seal("feed:shop", &position());
        assert!(crate::domain::is_valid_cursor(&cursor), "{cursor}");
        assert_eq!(key.open("feed:shop", &cursor), Some(position()));
        assert_eq!(key.open("feed:other", &cursor), None, "another feed's");
        assert_eq!(
            CursorKey::new("another key").open("feed:shop", &cursor),
            None
        );
    }

    #[test]
    fn made_up_and_altered_cursors_are_refused() {
        let key = CursorKey::new("k");
        let cursor = key.seal("feed:shop", &position());
        let (payload, mac) = cursor.split_once('.').unwrap();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"u":{"after":"BOGUS"},"o":0}"#);
        for bad in [
            "BOGUS".to_string(),
            "QVFIUkVl".to_string(),
            format!("{forged}.{mac}"),
            format!("{payload}.{}", URL_SAFE_NO_PAD.encode([0u8; 16])),
            format!("{payload}."),
            format!("{payload}.{mac}x"),
        ] {
            assert_eq!(key.open("feed:shop", &bad), None, "{bad}");
        }
    }

    #[test]
    fn a_next_link_inside_is_sealed_out_of_sight() {
        let key = CursorKey::new("k");
        let p = Position {
            upstream: Some(Cursor::Next(
                "user_id=17841&after=QVFI&__after_id=50".into(),
            )),
            offset: 3,
            back: true,
        };
        let cursor = key.seal("tag", &p);
        let (payload, _) = cursor.split_once('.').unwrap();
        let shown = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert!(
            !shown.contains("17841") && !shown.contains("after_id"),
            "{shown}"
        );
        assert_eq!(key.open("tag", &cursor), Some(p));
        assert_eq!(CursorKey::new("other").open("tag", &cursor), None);
    }

    #[test]
    fn the_first_page_at_an_offset_is_a_position_too() {
        let key = CursorKey::new("k");
        let p = Position {
            upstream: None,
            offset: 12,
            back: false,
        };
        assert_eq!(key.open("s", &key.seal("s", &p)), Some(p));
    }
}

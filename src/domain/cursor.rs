//! Paging cursors: `?after=` / `?before=` on the feed and hashtag URLs.

/// Which way a page is asked for, and from where.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cursor {
    After(String),
    Before(String),
    /// Upstream's `paging.next` link, to follow as given: its query without
    /// the access token (hashtag edges, whose `after` cursor is the same on
    /// every page).
    Next(String),
}

impl Cursor {
    /// `a:…` / `b:…`, for cache keys.
    pub fn key(cursor: &Option<Cursor>) -> String {
        match cursor {
            None => String::new(),
            Some(Cursor::After(c)) => format!("a:{c}"),
            Some(Cursor::Before(c)) => format!("b:{c}"),
            Some(Cursor::Next(q)) => format!("n:{q}"),
        }
    }
}

/// Upstream cursors are opaque base64-like strings; anything else is refused
/// before it reaches upstream or a cache key.
pub fn is_valid_cursor(cursor: &str) -> bool {
    (1..=2048).contains(&cursor.len())
        && cursor.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'=' | b'+' | b'/' | b'.')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_opaque_but_plain() {
        assert!(is_valid_cursor("QVFIUkVlZAbc-_=="));
        for bad in ["", "a b", "a&b", "<script>", &"a".repeat(2049)] {
            assert!(!is_valid_cursor(bad), "{bad}");
        }
    }

    #[test]
    fn cache_keys_tell_the_direction() {
        assert_eq!(Cursor::key(&None), "");
        assert_eq!(Cursor::key(&Some(Cursor::After("x".into()))), "a:x");
        assert_eq!(Cursor::key(&Some(Cursor::Before("x".into()))), "b:x");
    }
}

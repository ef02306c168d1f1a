//! Random values shaped like Meta's: numeric ids, tokens, codes, trace ids.

use rand::Rng;
use rand::distr::Alphanumeric;

const URL_SAFE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn alphanumeric(len: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn url_safe(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(URL_SAFE[rng.random_range(0..URL_SAFE.len())]))
        .collect()
}

/// `prefix` followed by `digits` random decimal digits.
pub(crate) fn numeric(prefix: &str, digits: usize) -> String {
    let mut rng = rand::rng();
    let tail: String = (0..digits)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect();
    format!("{prefix}{tail}")
}

/// An Instagram User token: `IGAA` and about 150 alphanumerics.
pub(crate) fn instagram_token() -> String {
    let len = rand::rng().random_range(140..170);
    format!("IGAA{}", alphanumeric(len))
}

/// A Facebook User or Page token: `EAA` and about 180 alphanumerics.
pub(crate) fn facebook_token() -> String {
    let len = rand::rng().random_range(170..200);
    format!("EAA{}", alphanumeric(len))
}

/// An OAuth authorization code, like the `AQ…` codes both dialogs hand out.
pub(crate) fn auth_code() -> String {
    format!("AQ{}", url_safe(190))
}

pub(crate) fn fbtrace_id() -> String {
    format!("A{}", alphanumeric(22))
}

/// An 11-character Instagram shortcode, as in `/p/{shortcode}/`.
pub(crate) fn shortcode() -> String {
    format!("C{}", url_safe(10))
}

/// The first characters of a token, for logs; never the whole value.
pub(crate) fn fingerprint(token: &str) -> String {
    let head: String = token.chars().take(8).collect();
    format!("{head}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_look_like_meta_tokens() {
        let ig = instagram_token();
        assert!(ig.starts_with("IGAA") && ig.len() > 140);
        assert!(ig.chars().all(|c| c.is_ascii_alphanumeric()));
        assert!(facebook_token().starts_with("EAA"));
    }

    #[test]
    fn numeric_ids_have_the_asked_length() {
        let id = numeric("17841", 12);
        assert_eq!(id.len(), 17);
        assert!(id.chars().all(|c| c.is_ascii_digit()));
    }

    #[test]
    fn fingerprints_hide_the_token() {
        assert_eq!(fingerprint("IGAAabcdefghij"), "IGAAabcd…");
    }
}

//! `If-None-Match`, read one way for every public URL: a client that holds
//! the answer's version gets a 304 without the body.

use bytes::Bytes;
use warp::http::{Response, StatusCode, header};

/// Whether an `If-None-Match` value names `etag` (weak or strong, in a
/// list, or `*`).
pub fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match
        .split(',')
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == etag)
}

/// `response` as it is, or a 304 without its body when `if_none_match`
/// names its `ETag`.
pub fn unless_held(mut response: Response<Bytes>, if_none_match: Option<&str>) -> Response<Bytes> {
    let held = if_none_match
        .zip(response.headers().get(header::ETAG))
        .is_some_and(|(given, etag)| etag.to_str().is_ok_and(|etag| etag_matches(given, etag)));
    if held {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        *response.body_mut() = Bytes::new();
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_the_client_holds_is_a_304_without_its_body() {
        let file = || crate::pages::embed_file("embed.js").unwrap();
        let etag = file().headers()[header::ETAG].to_str().unwrap().to_string();
        for given in [etag.clone(), format!("\"x\", W/{etag}"), "*".into()] {
            let again = unless_held(file(), Some(&given));
            assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{given}");
            assert_eq!(again.headers()[header::ETAG], etag.as_str());
            assert!(again.body().is_empty());
        }
        let other = unless_held(file(), Some("\"older\""));
        assert_eq!(other.status(), StatusCode::OK);
        assert!(!other.body().is_empty());
        assert_eq!(unless_held(file(), None).status(), StatusCode::OK);
    }

    #[test]
    fn if_none_match_accepts_lists_weak_tags_and_star() {
        assert!(etag_matches("\"abc\"", "\"abc\""));
        assert!(etag_matches("\"x\", W/\"abc\"", "\"abc\""));
        assert!(etag_matches("*", "\"abc\""));
        assert!(!etag_matches("\"abd\"", "\"abc\""));
    }
}

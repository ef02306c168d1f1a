//! `GET /media/{account}/{media id}/{width}.jpg`: the agent's own copies of
//! the newest posts' images, behind the same allow-list as the feed.
//!
//! What exists is decided in memory, so an unknown account, id or width
//! costs no database round trip however often a script asks; the bytes of
//! the most requested copies are in memory too. A copy never changes under
//! its ETag, so browsers and CDNs may keep it for a year.

use bytes::Bytes;
use warp::http::{HeaderValue, Response, header};

use super::error::ApiError;
use crate::app::App;
use crate::domain::AccountName;
use crate::mirror::is_media_id;

/// `640.jpg` → 640, or the 400 that says what is wrong. One spelling per
/// width (no leading zero), so one image is one URL and one cache entry.
fn parse_file(file: &str) -> Result<u32, ApiError> {
    let Some((width, "jpg")) = file.rsplit_once('.') else {
        return Err(ApiError::bad_request(
            "invalid_extension",
            "images are served as {width}.jpg",
        ));
    };
    let digits = !width.is_empty()
        && width.len() <= 5
        && !width.starts_with('0')
        && width.bytes().all(|b| b.is_ascii_digit());
    width
        .parse::<u32>()
        .ok()
        .filter(|w| digits && *w > 0)
        .ok_or_else(|| {
            ApiError::bad_request("invalid_width", "the width is a whole number of pixels")
        })
}

/// The copy of `account`'s `id` at the width `file` names, with its ETag
/// (the door answers 304 for a copy the client holds).
pub(super) async fn media(
    app: &App,
    account: &str,
    id: &str,
    file: &str,
    if_none_match: Option<&str>,
) -> Result<Response<Bytes>, ApiError> {
    let width = parse_file(file)?;
    if AccountName::parse(account).is_err() || !is_media_id(id) {
        return Err(ApiError::not_mirrored());
    }
    let found = app
        .mirror
        .find(account, id, width)
        .ok_or_else(ApiError::not_mirrored)?;
    let held = if_none_match.is_some_and(|given| super::etag::etag_matches(given, &found.etag));
    let bytes = if held {
        // A 304 for it: its bytes are not needed.
        Bytes::new()
    } else {
        app.mirror
            .read(account, id, width, &found)
            .await
            .map_err(|error| ApiError::from(error.as_ref()))?
    };
    let mut response = Response::new(bytes);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    if let Ok(etag) = HeaderValue::from_str(&found.etag) {
        headers.insert(header::ETAG, etag);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_a_width_and_jpg() {
        assert_eq!(parse_file("640.jpg").ok(), Some(640));
        for (file, code) in [
            ("640.png", "invalid_extension"),
            ("640.webp", "invalid_extension"),
            ("640", "invalid_extension"),
            ("wide.jpg", "invalid_width"),
            ("0.jpg", "invalid_width"),
            ("-1.jpg", "invalid_width"),
            ("+640.jpg", "invalid_width"),
            ("0640.jpg", "invalid_width"),
            ("00640.jpg", "invalid_width"),
            ("99999999999.jpg", "invalid_width"),
        ] {
            assert_eq!(
                parse_file(file).err().map(|e| e.code()),
                Some(code),
                "{file}"
            );
        }
    }
}

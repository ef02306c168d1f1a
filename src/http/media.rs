//! `GET /media/{account}/{media id}/{width}.jpg`: the agent's own copies of
//! the newest posts' images, behind the same allow-list as the feed.
//!
//! What exists is decided in memory, so an unknown account, id or width
//! costs no database round trip however often a script asks; the bytes of
//! the most requested copies are in memory too. A copy never changes under
//! its ETag, so browsers and CDNs may keep it for a year.

use std::sync::Arc;

use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, HeaderValue, StatusCode, header};
use warp::reply::Response;

use super::error::ApiError;
use super::guard::{self, Site};
use super::with_app;
use crate::app::App;
use crate::domain::AccountName;
use crate::mirror::{Found, is_media_id};

/// Behind the feed's allow-list; the agent's own `/feed.html`, framed by an
/// allowed site, shows these images too and is their Referer.
pub fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    warp::path!("media" / String / String / String)
        .and(guard::site_or_own_page(
            app.clone(),
            super::embed::FEED_PAGE,
        ))
        .and(warp::header::headers_cloned())
        .and(with_app(app))
        .then(
            |account: String, id: String, file: String, site: Site, headers, app| {
                site.answer(media(app, account, id, file, headers))
            },
        )
        .boxed()
}

/// `640.jpg` → 640, or the 400 that says what is wrong.
fn parse_file(file: &str) -> Result<u32, ApiError> {
    let Some((width, "jpg")) = file.rsplit_once('.') else {
        return Err(ApiError::bad_request(
            "invalid_extension",
            "images are served as {width}.jpg",
        ));
    };
    let digits = !width.is_empty() && width.len() <= 5 && width.bytes().all(|b| b.is_ascii_digit());
    width
        .parse::<u32>()
        .ok()
        .filter(|w| digits && *w > 0)
        .ok_or_else(|| {
            ApiError::bad_request("invalid_width", "the width is a whole number of pixels")
        })
}

fn not_mirrored() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_mirrored",
        "The agent keeps no copy of this image at this width.",
    )
}

/// Whether the client already holds the copy tagged `etag`.
fn already_held(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == etag || tag == "*")
}

async fn media(
    app: Arc<App>,
    account: String,
    id: String,
    file: String,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let width = parse_file(&file)?;
    if AccountName::parse(&account).is_err() || !is_media_id(&id) {
        return Err(not_mirrored());
    }
    let found = app
        .mirror
        .find(&account, &id, width)
        .ok_or_else(not_mirrored)?;
    let mut response = if already_held(&headers, &found.etag) {
        let mut response = Response::default();
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        let bytes = read(&app, &account, &id, width, &found).await?;
        let mut response = Response::new(bytes.into());
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
        response
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    if let Ok(etag) = HeaderValue::from_str(&found.etag) {
        headers.insert(header::ETAG, etag);
    }
    Ok(response)
}

async fn read(
    app: &App,
    account: &str,
    id: &str,
    width: u32,
    found: &Found,
) -> Result<bytes::Bytes, ApiError> {
    app.mirror
        .read(account, id, width, found)
        .await
        .map_err(|error| match error.as_ref() {
            // Removed since the index was read (another instance evicted it).
            crate::mirror::ReadError::Gone => not_mirrored(),
            crate::mirror::ReadError::Store(_) => {
                ApiError::unavailable("a mirrored image could not be read", error)
            }
        })
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
            ("99999999999.jpg", "invalid_width"),
        ] {
            assert_eq!(
                parse_file(file).err().map(|e| e.code()),
                Some(code),
                "{file}"
            );
        }
    }

    #[test]
    fn if_none_match_lists_are_read() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"a\", \"b\""),
        );
        assert!(already_held(&headers, "\"b\""));
        assert!(!already_held(&headers, "\"c\""));
        assert!(!already_held(&HeaderMap::new(), "\"a\""));
    }
}

//! `GET /media/{account}/{media id}/{width}.jpg`: the agent's own copies of
//! the newest posts' images, behind the same allow-list as the feed.
//!
//! What exists is decided in memory, so an unknown account, id or width
//! costs no database round trip however often a script asks; the bytes of
//! the most requested copies are in memory too. A copy never changes under
//! its ETag, so browsers and CDNs may keep it for a year.

use std::future::Future;
use std::sync::Arc;

use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::{self, HeaderMap, HeaderValue, StatusCode, header};
use warp::reply::Response;

use super::embed::FEED_PAGE;
use super::error::ApiError;
use super::guard::{self, KnownOrigins, Site};
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

/// `/media/…` answered ahead of the router, by the route's own handler
/// ([`media`] and [`Site::answer`]), for GET and HEAD from a site whose
/// origin the allow-list already knows: an image is about a hundred
/// kilobytes from memory, and the router's work before the handler (trying
/// each route, copying every header) is what is left to save. A request
/// the agent's own page may have sent goes to the router, which decides it.
pub struct Shortcut {
    app: Arc<App>,
    origins: KnownOrigins,
}

impl Shortcut {
    pub fn new(app: Arc<App>) -> Shortcut {
        Shortcut {
            origins: KnownOrigins::new(&app),
            app,
        }
    }

    /// The answer to `request`, to wait for; `None` to leave it to the router.
    pub fn answer<B>(
        &self,
        request: &http::Request<B>,
    ) -> Option<impl Future<Output = Response> + Send + 'static> {
        let (account, id, file) = segments(request.uri().path())?;
        let headers = request.headers();
        let referer = headers.get(header::REFERER).map(HeaderValue::as_bytes);
        let maybe_own_page = !headers.contains_key(header::ORIGIN)
            && referer.is_some_and(|r| {
                r.windows(FEED_PAGE.len())
                    .any(|w| w == FEED_PAGE.as_bytes())
            });
        if maybe_own_page {
            return None;
        }
        let site = self.origins.site_for_read(request)?;
        let mut conditional = HeaderMap::new();
        for tag in headers.get_all(header::IF_NONE_MATCH) {
            conditional.append(header::IF_NONE_MATCH, tag.clone());
        }
        let (account, id, file) = (account.to_string(), id.to_string(), file.to_string());
        let app = self.app.clone();
        Some(async move {
            let metrics = app.metrics.clone();
            let answer = site
                .answer(media(app, account, id, file, conditional))
                .await;
            metrics.record_request("/media", answer.status().as_u16());
            answer
        })
    }
}

/// The account, id and file of a `/media/…` path, as
/// `warp::path!("media" / String / String / String)` matches it: whole
/// segments, none empty.
fn segments(path: &str) -> Option<(&str, &str, &str)> {
    let mut parts = path.strip_prefix("/media/")?.split('/');
    let (account, id, file) = (parts.next()?, parts.next()?, parts.next()?);
    let whole = parts.next().is_none() && ![account, id, file].contains(&"");
    whole.then_some((account, id, file))
}

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

    #[test]
    fn the_shortcut_takes_the_paths_the_route_matches() {
        assert_eq!(
            segments("/media/shop/17/640.jpg"),
            Some(("shop", "17", "640.jpg"))
        );
        for path in [
            "/media/shop/17",
            "/media/shop/17/640.jpg/x",
            "/media/shop//640.jpg",
            "/media/shop/17/",
            "/medias/shop/17/640.jpg",
        ] {
            assert_eq!(segments(path), None, "{path}");
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

//! `GET /static/{path}`: the stylesheet, icon and copy-button script, and
//! `GET /embed.js`, `/embed.css`: the feed embed for owners' sites; all
//! embedded in the binary so that a single file is the whole deployment.

use bytes::Bytes;
use warp::http::{self, HeaderValue, header};
use warp::reply::Response;

#[derive(rust_embed::Embed)]
#[folder = "static/"]
struct Static;

/// The agent's own pages' files are kept a day.
const PAGE_ASSET_CACHE: &str = "public, max-age=86400";
/// The embed's URLs never change while the agent is upgraded under them, so
/// sites revalidate (a 304 against the ETag) after an hour.
const EMBED_CACHE: &str = "public, max-age=3600";

/// The embedded file at `path`, or `None` (a 404 for the caller) for an
/// unknown name. Only names that were embedded can match, so `..` cannot
/// reach outside `static/`; such paths are refused before the lookup anyway.
pub fn asset(path: &str) -> Option<Response> {
    Some(file(path, PAGE_ASSET_CACHE)?.map(Into::into))
}

/// `embed.js` or `embed.css` for another site's page, with its `ETag`.
pub fn embed_file(name: &str) -> Option<http::Response<Bytes>> {
    file(name, EMBED_CACHE)
}

fn file(path: &str, cache_control: &'static str) -> Option<http::Response<Bytes>> {
    let safe = !path.is_empty()
        && !path.contains('\\')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if !safe {
        return None;
    }
    let file = Static::get(path)?;
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    // Scripts carry the type token.js has, whatever mime_guess's table says.
    let content_type = match (mime.type_(), mime.subtype()) {
        (_, mime_guess::mime::JAVASCRIPT) => "application/javascript; charset=utf-8".to_string(),
        (mime_guess::mime::TEXT, _) => format!("{mime}; charset=utf-8"),
        _ => mime.to_string(),
    };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));

    let mut response = http::Response::new(Bytes::from(file.data.into_owned()));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stylesheet_is_served_as_css_with_a_day_of_caching_and_an_etag() {
        let response = asset("style.css").expect("style.css is embedded");
        let headers = response.headers();
        assert_eq!(headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
        assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=86400");
        let etag = headers[header::ETAG].to_str().unwrap();
        assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() == 34);
    }

    #[test]
    fn the_icon_and_the_script_have_their_own_types() {
        let icon = asset("favicon.svg").unwrap();
        assert_eq!(icon.headers()[header::CONTENT_TYPE], "image/svg+xml");
        let script = asset("copy.js").unwrap();
        assert!(
            script.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .contains("javascript")
        );
    }

    #[test]
    fn the_embed_is_javascript_revalidated_hourly() {
        let script = embed_file("embed.js").unwrap();
        let headers = script.headers();
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "application/javascript; charset=utf-8"
        );
        assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=3600");
        assert!(headers.contains_key(header::ETAG));
        let css = embed_file("embed.css").unwrap();
        assert_eq!(
            css.headers()[header::CONTENT_TYPE],
            "text/css; charset=utf-8"
        );
    }

    #[test]
    fn unknown_names_and_paths_out_of_the_folder_are_not_found() {
        for path in [
            "",
            "nope.css",
            "../Cargo.toml",
            "..%2FCargo.toml",
            "/etc/passwd",
            "./style.css",
            "a/../style.css",
            "..\\Cargo.toml",
            "style.css/",
        ] {
            assert!(asset(path).is_none(), "{path:?}");
        }
    }
}

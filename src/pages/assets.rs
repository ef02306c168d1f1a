//! `GET /static/{path}`: the stylesheet, icon and copy-button script,
//! embedded in the binary so that a single file is the whole deployment.

use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

#[derive(rust_embed::Embed)]
#[folder = "static/"]
struct Static;

/// The embedded file at `path`, or `None` (a 404 for the caller) for an
/// unknown name. Only names that were embedded can match, so `..` cannot
/// reach outside `static/`; such paths are refused before the lookup anyway.
pub fn asset(path: &str) -> Option<Response> {
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
    let content_type = match (mime.type_(), mime.subtype()) {
        (mime_guess::mime::TEXT, _) | (_, mime_guess::mime::JAVASCRIPT) => {
            format!("{mime}; charset=utf-8")
        }
        _ => mime.to_string(),
    };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));

    let mut response = Response::new(file.data.into_owned().into());
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
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

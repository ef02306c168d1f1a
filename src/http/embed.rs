//! `GET /feed.html` (routed by `door.rs`): the feed on an owner's site from
//! an `<iframe>`, with no script at all. `/embed.js` and `/embed.css`, the
//! one-script-tag way, are files (`static/`). The token never leaves the
//! server: both render `/feed.json`'s answer.

use std::sync::Arc;

use bytes::Bytes;
use warp::http::Response;

use super::error::ApiError;
use super::feed::{self, FeedRequest, Form};
use crate::app::App;
use crate::feed::FeedError;
use crate::pages;

/// `/feed.html`: bad parameters get `/feed.json`'s 400 (the owner's snippet
/// is wrong, and says so); a feed that cannot be had right now gets the
/// page's polite error state with the same status.
pub(super) async fn feed_page(
    app: Arc<App>,
    request: FeedRequest,
) -> Result<Response<Bytes>, ApiError> {
    let asked = request.feed_query()?;
    let csp = frame_policy(&app);
    let answer = match app.feeds.feed(&asked, &request.base).await {
        Ok(answer) => answer,
        // A cursor this agent did not sign is a bad parameter like any other.
        Err(error @ FeedError::BadCursor) => return Err(ApiError::from(error)),
        Err(error) => {
            let error = ApiError::from(error);
            return Ok(pages::feed_frame_error(error.status_code(), &csp));
        }
    };
    let now = app.clock.now();
    // The page is rendered from the answer alone: a client holding this
    // version gets a 304 without it being rendered again.
    if let Some(held) = feed::held(&answer, Form::Html, now, request.if_none_match.as_deref()) {
        return Ok(held);
    }
    let mut response =
        pages::feed_frame(&answer.body, request.query.as_deref(), &csp).ok_or_else(|| {
            ApiError::unavailable("a feed answer could not be read back", "not a feed")
        })?;
    feed::freshness_headers(&answer, Form::Html, now, response.headers_mut());
    Ok(response)
}

/// The page's own stylesheet, images from anywhere on the web (Instagram's
/// CDN or the agent's copies), no script, and framed only by the sites in
/// ALLOWED_DOMAINS.
fn frame_policy(app: &App) -> String {
    let ancestors: Vec<String> = app
        .config
        .allowed_domains
        .as_ref()
        .map(|d| d.entries().collect())
        .unwrap_or_default();
    let ancestors = if ancestors.is_empty() {
        "'none'".to_string()
    } else {
        ancestors.join(" ")
    };
    format!(
        "default-src 'none'; style-src 'self'; img-src http: https:; \
         frame-ancestors {ancestors}; base-uri 'none'; form-action 'none'"
    )
}

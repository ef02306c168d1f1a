//! `GET /embed.js`, `/embed.css` and `/feed.html`: the feed on an owner's
//! site from one script tag, or from an `<iframe>` with no script at all.
//! The token never leaves the server: both render `/feed.json`'s answer.

use std::sync::Arc;

use url::Url;
use warp::Filter;
use warp::Reply;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use super::client::client;
use super::error::ApiError;
use super::guard::{self, Site};
use super::{feed, optional_query, with_app};
use crate::app::App;
use crate::domain::ClientKey;
use crate::feed::FeedError;
use crate::pages;

pub(super) const FEED_PAGE: &str = "/feed.html";

/// `/embed.js` and `/embed.css` for any page (they hold no data);
/// `/feed.html` behind the allow-list, as `/feed.json`.
pub fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    let get = || warp::get().or(warp::head()).unify();
    let file = |name: &'static str| {
        warp::path(name)
            .and(warp::path::end())
            .and(get())
            .and(warp::header::optional::<String>("if-none-match"))
            .map(move |given: Option<String>| {
                pages::embed_file(name, given.as_deref())
                    .unwrap_or_else(|| ApiError::not_found().into_response())
            })
    };
    let frame = warp::path!("feed.html")
        .and(guard::site_or_own_page(app.clone(), FEED_PAGE))
        .and(optional_query())
        .and(client(app.clone()))
        .and(super::request_url::for_shared_answers(app.clone()))
        .and(with_app(app))
        .then(
            |site: Site, query: Option<String>, client: ClientKey, base: Url, app: Arc<App>| {
                site.answer(feed_page(app, query, client, base))
            },
        );
    file("embed.js")
        .or(file("embed.css"))
        .unify()
        .or(frame)
        .unify()
        .boxed()
}

/// `/feed.html`: bad parameters get `/feed.json`'s 400 (the owner's snippet
/// is wrong, and says so); a feed that cannot be had right now gets the
/// page's polite error state with the same status.
async fn feed_page(
    app: Arc<App>,
    query: Option<String>,
    client: ClientKey,
    base: Url,
) -> Result<Response, ApiError> {
    let asked = feed::feed_query(query.as_deref(), client)?;
    let csp = frame_policy(&app);
    let answer = match app.feeds.feed(&asked, &base).await {
        Ok(answer) => answer,
        // A cursor this agent did not sign is a bad parameter like any other.
        Err(error @ FeedError::BadCursor) => return Err(ApiError::from(error)),
        Err(error) => {
            let error = ApiError::from(error);
            return Ok(pages::feed_frame_error(error.status(), &csp));
        }
    };
    let mut response =
        pages::feed_frame(&answer.body, query.as_deref(), &csp).ok_or_else(|| {
            ApiError::unavailable("a feed answer could not be read back", "not a feed")
        })?;
    let headers = response.headers_mut();
    feed::freshness_headers(&answer, app.clock.now(), headers);
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

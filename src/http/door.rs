//! The front door: every public URL a website, a visitor's browser or a
//! script calls, read once from its path into a [`Route`] and answered
//! here, from the allow-list's decision to the metrics label. This table is
//! the only router for these URLs: a new public URL is a new [`Route`], and
//! the compiler asks for the rest (who may call it, its label, its handler).
//!
//! What is done once for all of them: the allow-list ([`Gate`]), CORS and
//! preflight, `If-None-Match` (`etag.rs`), the method check and the
//! metrics label. The handlers (`token.rs`, `feed.rs`, `media.rs`,
//! `embed.rs`) get the request's facts and answer or fail with an
//! [`ApiError`]. The owner's pages, forms and Meta's callbacks stay with
//! warp's router (`mod.rs`), which sees only what this door does not take.
//!
//! No public URL reads a request body, so none can be held by one that
//! never comes. The token URLs are answered at once, from memory, with no
//! allocation beyond hyper's own; the others are answers to wait for.

use std::sync::Arc;

use bytes::Bytes;
use warp::http::{HeaderValue, Method, Request, Response, StatusCode, header};

use super::client;
use super::error::ApiError;
use super::etag::unless_held;
use super::feed::FeedRequest;
use super::guard::{Gate, Site, header_text};
use super::server::{Front, Peer, Taken};
use super::token::{Format, TokenRequest};
use super::{embed, feed, media, request_url, token};
use crate::app::App;
use crate::domain::{ClientKey, DEFAULT_ACCOUNT};

/// A public URL, read from its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// `/token.json`, `/token.js`, `/token`, `/accounts/{name}/token…`
    Token { account: &'a str, format: Format },
    /// `/feed.json`
    Feed,
    /// `/hashtags/{tag}/{recent,top}.json` (another file is a 404)
    Hashtag { tag: &'a str, file: &'a str },
    /// `/feed.html`: the feed as a page for an `<iframe>`
    FeedPage,
    /// `/feed.rss`: the feed for feed readers
    FeedRss,
    /// `/media/{account}/{media id}/{width}.jpg`
    Media {
        account: &'a str,
        id: &'a str,
        file: &'a str,
    },
    /// `/embed.js`, `/embed.css`
    EmbedFile { name: &'static str },
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callers {
    /// Anyone: the route holds no data of the owner's (`/embed.js`).
    Anyone,
    /// The sites in ALLOWED_DOMAINS (see `guard.rs`), with CORS; and with
    /// `feed_page`, the agent's own `/feed.html` framed by one of them (its
    /// "Load more" link and its images name it as Referer); and with
    /// `readers`, a request that names no site at all, as feed readers
    /// send `/feed.rss` and the images it names. A site not in the list
    /// is refused either way.
    Sites { feed_page: bool, readers: bool },
}

/// The agent's own page that other routes may be called from.
pub const FEED_PAGE: &str = "/feed.html";

impl<'a> Route<'a> {
    /// The route `path` names, if it is a public URL: whole segments, none
    /// empty.
    pub fn parse(path: &'a str) -> Option<Route<'a>> {
        // The first five segments, read once; `None` past the last.
        let mut parts = path.strip_prefix('/')?.split('/');
        let segments: [Option<&str>; 5] = std::array::from_fn(|_| parts.next());
        let filled = |parts: &[&str]| !parts.contains(&"");
        let route = match segments {
            [Some("feed.json"), None, ..] => Route::Feed,
            [Some("feed.html"), None, ..] => Route::FeedPage,
            [Some("feed.rss"), None, ..] => Route::FeedRss,
            [Some("embed.js"), None, ..] => Route::EmbedFile { name: "embed.js" },
            [Some("embed.css"), None, ..] => Route::EmbedFile { name: "embed.css" },
            [Some(file), None, ..] => Route::Token {
                account: DEFAULT_ACCOUNT,
                format: token_format(file)?,
            },
            [Some("accounts"), Some(account), Some(file), None, _] if filled(&[account]) => {
                Route::Token {
                    account,
                    format: token_format(file)?,
                }
            }
            [Some("hashtags"), Some(tag), Some(file), None, _] if filled(&[tag, file]) => {
                Route::Hashtag { tag, file }
            }
            [Some("media"), Some(account), Some(id), Some(file), None]
                if filled(&[account, id, file]) =>
            {
                Route::Media { account, id, file }
            }
            _ => return None,
        };
        Some(route)
    }

    pub fn callers(&self) -> Callers {
        match self {
            Route::EmbedFile { .. } => Callers::Anyone,
            Route::Token { .. } | Route::Feed | Route::Hashtag { .. } => Callers::Sites {
                feed_page: false,
                readers: false,
            },
            Route::FeedPage => Callers::Sites {
                feed_page: true,
                readers: false,
            },
            Route::FeedRss => Callers::Sites {
                feed_page: false,
                readers: true,
            },
            Route::Media { .. } => Callers::Sites {
                feed_page: true,
                readers: true,
            },
        }
    }

    /// The `route` label of `token_agent_http_requests_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Route::Token { .. } => "token",
            Route::Feed | Route::FeedRss => "feed",
            Route::Hashtag { .. } => "hashtags",
            Route::Media { .. } => "media",
            Route::FeedPage | Route::EmbedFile { .. } => "embed",
        }
    }
}

fn token_format(file: &str) -> Option<Format> {
    match file {
        "token.json" => Some(Format::Json),
        "token.js" => Some(Format::Js),
        "token" => Some(Format::Text),
        _ => None,
    }
}

/// The door: the allow-list and the app, for answering [`Route`]s.
pub struct Door {
    app: Arc<App>,
    gate: Gate,
}

impl Door {
    pub fn new(app: Arc<App>) -> Door {
        Door {
            gate: Gate::new(&app),
            app,
        }
    }

    /// The answer to a request for `route`.
    fn take<B>(&self, route: Route<'_>, request: &Request<B>, peer: Peer) -> Taken {
        let method = request.method();
        let headers = request.headers();
        let site = match route.callers() {
            Callers::Anyone => None,
            Callers::Sites { feed_page, readers } => {
                let own_page = feed_page.then_some(FEED_PAGE);
                Some(self.gate.check(headers, own_page, readers))
            }
        };
        let site = match site {
            None => Site::anyone(),
            Some(Ok(site)) => site,
            Some(Err(refused)) => return self.now(route, refused.answer()),
        };
        let reading = matches!(*method, Method::GET | Method::HEAD);
        if *method == Method::OPTIONS && route.callers() != Callers::Anyone {
            return self.now(route, site.cors(preflight()));
        }
        if !reading {
            let refused = ApiError::method_not_allowed("This URL answers GET only.");
            return self.now(route, site.cors(refused.answer()));
        }
        let if_none_match = match header_text(headers, header::IF_NONE_MATCH) {
            Ok(given) => given,
            Err(refused) => return self.now(route, site.cors(refused.answer())),
        };
        let query = request.uri().query();
        match route {
            Route::Token { account, format } => {
                let request = TokenRequest {
                    head: *method == Method::HEAD,
                    account,
                    format,
                    query,
                };
                let answer = token::respond(&self.app, &request)
                    .map(|answer| unless_held(answer, if_none_match));
                self.now(route, site.cors(answer.unwrap_or_else(|e| e.answer())))
            }
            Route::EmbedFile { name } => {
                let answer = crate::pages::embed_file(name)
                    .map(|file| unless_held(file, if_none_match))
                    .unwrap_or_else(|| ApiError::not_found().answer());
                self.now(route, answer)
            }
            Route::Feed | Route::Hashtag { .. } | Route::FeedPage | Route::FeedRss => {
                let app = self.app.clone();
                let client = ClientKey::of(client::address(
                    &app.config.guard.trust_proxy,
                    Some(peer),
                    headers,
                ));
                let request = FeedRequest {
                    query: query.map(str::to_string),
                    client,
                    base: request_url::shared_answer_base(&app, headers),
                    if_none_match: if_none_match.map(str::to_string),
                };
                let answer = match route {
                    Route::Hashtag { tag, file } => {
                        let (tag, file) = (tag.to_string(), file.to_string());
                        Box::pin(feed::hashtag(app, tag, file, request)) as Handler
                    }
                    Route::FeedPage => Box::pin(embed::feed_page(app, request)),
                    Route::FeedRss => Box::pin(feed::rss(app, request)),
                    _ => Box::pin(feed::feed(app, request)),
                };
                self.later(route, site, answer)
            }
            Route::Media { account, id, file } => {
                let (app, if_none_match) = (self.app.clone(), if_none_match.map(str::to_string));
                let (account, id, file) = (account.to_string(), id.to_string(), file.to_string());
                let answer = Box::pin(async move {
                    let held = if_none_match.as_deref();
                    let answer = media::media(&app, &account, &id, &file, held).await?;
                    Ok(unless_held(answer, held))
                });
                self.later(route, site, answer)
            }
        }
    }

    /// An answer made at once, counted.
    fn now(&self, route: Route<'_>, answer: Response<Bytes>) -> Taken {
        self.app
            .metrics
            .record_request(route.label(), answer.status().as_u16());
        Taken::Now(answer)
    }

    /// An answer to wait for, with CORS, counted when it is ready.
    fn later(&self, route: Route<'_>, site: Site, answer: Handler) -> Taken {
        let metrics = self.app.metrics.clone();
        let label = route.label();
        Taken::Later(Box::pin(async move {
            let answer = site.cors(answer.await.unwrap_or_else(|e| e.answer()));
            metrics.record_request(label, answer.status().as_u16());
            answer
        }))
    }
}

/// A handler's answer to come.
type Handler = std::pin::Pin<Box<dyn Future<Output = Result<Response<Bytes>, ApiError>> + Send>>;

impl Front for Door {
    fn answer(&self, request: &Request<hyper::body::Incoming>, peer: Peer) -> Option<Taken> {
        let route = Route::parse(request.uri().path())?;
        Some(self.take(route, request, peer))
    }
}

/// The answer to a CORS preflight.
fn preflight() -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("If-None-Match, Content-Type"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_paths_name_a_route_and_nothing_else_does() {
        let token = |account, format| Some(Route::Token { account, format });
        for (path, route) in [
            ("/token.json", token("default", Format::Json)),
            ("/token.js", token("default", Format::Js)),
            ("/token", token("default", Format::Text)),
            ("/accounts/shop/token.js", token("shop", Format::Js)),
            ("/feed.json", Some(Route::Feed)),
            ("/feed.html", Some(Route::FeedPage)),
            ("/feed.rss", Some(Route::FeedRss)),
            ("/embed.css", Some(Route::EmbedFile { name: "embed.css" })),
            (
                "/hashtags/bread/top.json",
                Some(Route::Hashtag {
                    tag: "bread",
                    file: "top.json",
                }),
            ),
            (
                "/media/shop/17/640.jpg",
                Some(Route::Media {
                    account: "shop",
                    id: "17",
                    file: "640.jpg",
                }),
            ),
        ] {
            assert_eq!(Route::parse(path), route, "{path}");
        }
        for other in [
            "/",
            "/tokens",
            "/token.json/x",
            "/feed.json/",
            "/accounts//token",
            "/accounts/a/b/token",
            "/accounts/token",
            "/accounts",
            "/hashtags/x",
            "/hashtags//top.json",
            "/media/shop/17",
            "/media/shop/17/640.jpg/x",
            "/media/shop//640.jpg",
            "/media/shop/17/",
            "/medias/shop/17/640.jpg",
            "/status",
            "/admin",
            "token.json",
        ] {
            assert_eq!(Route::parse(other), None, "{other}");
        }
    }

    #[test]
    fn every_route_is_counted_under_a_label_of_its_own() {
        for path in [
            "/token.json",
            "/feed.json",
            "/hashtags/x/top.json",
            "/media/a/1/640.jpg",
            "/feed.html",
            "/feed.rss",
            "/embed.js",
        ] {
            let label = Route::parse(path).unwrap().label();
            assert!(crate::metrics::ROUTES[..5].contains(&label), "{path}");
        }
    }
}

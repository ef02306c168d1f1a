//! The HTML pages: `/` (setup help), `/status`, `/admin`, the data
//! deletion status page, small message pages, `/feed.html`, and the files
//! under `/static/` with the embed's `/embed.js` and `/embed.css`.
//!
//! Pages are askama templates in `templates/`, rendered from plain view
//! structs built here, so everything shown is escaped and checked at
//! compile time. No page ever receives a token or a secret: the views are
//! built from names, times and flags only.

mod admin;
mod assets;
mod budget;
mod feed;
mod home;
mod rss;
mod served;
mod status;
mod time;

use askama::Template;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use url::Url;
use warp::http::{self, HeaderValue, StatusCode, header};
use warp::reply::Response;

use crate::app::App;
use crate::store::{Account, AccountKind};

pub use assets::{asset, embed_file};
pub use feed::{feed_frame, feed_frame_error};
pub use rss::feed_rss;

/// Tight by default: our own CSS, images and one small script, nothing inline.
const CSP: &str = "default-src 'self'; img-src 'self' https: data:; style-src 'self'; \
     script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// `GET /`: what the agent is, a checklist of its configuration, and the
/// snippets to paste into a site, with the URL the request came to
/// (`detected`) unless APP_URL is set. 204 when HIDE_HELP_PAGES is set.
pub async fn home(app: &App, detected: Option<&Url>) -> Response {
    if app.config.hide_help_pages {
        return no_content();
    }
    render(StatusCode::OK, &home::page(app, detected).await, CSP)
}

/// `GET /status` for the signed-in owner: every account, its expiry, last
/// refresh and error. 204 when HIDE_HELP_PAGES is set.
pub async fn status(app: &App) -> Response {
    if app.config.hide_help_pages {
        return no_content();
    }
    render(StatusCode::OK, &status::page(app).await, CSP)
}

/// `GET /status` for anyone else (PUBLIC_STATUS, or no ADMIN_PASSWORD to
/// sign in with): how many accounts, and whether all is well. No names,
/// expiries or errors. 204 when HIDE_HELP_PAGES is set.
pub async fn status_summary(app: &App) -> Response {
    if app.config.hide_help_pages {
        return no_content();
    }
    let text = match status::summary(app).await {
        None => "The agent cannot read its accounts right now.".to_string(),
        Some((0, _)) => "No accounts yet.".to_string(),
        Some((n, 0)) => format!(
            "{n} account{}; all are well.",
            if n == 1 { "" } else { "s" }
        ),
        Some((n, k)) => format!(
            "{n} account{}; {k} need{} the owner's attention.",
            if n == 1 { "" } else { "s" },
            if k == 1 { "s" } else { "" }
        ),
    };
    if app.config.admin_password.is_some() {
        message(StatusCode::OK, "Status", &text, Onward::SignIn)
    } else {
        message(
            StatusCode::OK,
            "Status",
            &format!(
                "{text} The details (names, expiry, errors) are for the owner: set ADMIN_PASSWORD to see them here, or run `token-agent status`."
            ),
            Onward::Nowhere,
        )
    }
}

/// `GET /admin`, once the caller has checked the admin password. Every
/// POST form carries `csrf`; `hook_url` is the signed external refresh hook
/// when WEBHOOK_SECRET is set; the URLs to register with Meta are on
/// APP_URL, else on the URL the request came to (`detected`).
pub async fn admin(
    app: &App,
    csrf: &str,
    hook_url: Option<&str>,
    detected: Option<&Url>,
) -> Response {
    let page = admin::page(app, csrf, hook_url, &base_url(app, detected)).await;
    render(StatusCode::OK, &page, &admin::csp(&app.config))
}

#[derive(Template)]
#[template(path = "connect.html")]
struct ConnectPage<'a> {
    layout: Layout,
    provider: &'a str,
    provider_label: &'a str,
    account: &'a str,
    csrf: &'a str,
}

/// `GET /connect/{provider}?account=NAME` (a reconnect link, as in warning
/// e-mails): one button that starts the login with a POST carrying `csrf`.
pub fn connect(app: &App, provider: &str, account: &str, csrf: &str) -> Response {
    let provider_label = if provider == "facebook" {
        "Facebook Login"
    } else {
        "Instagram Login"
    };
    let page = ConnectPage {
        layout: Layout::for_app(app, "Connect", "admin"),
        provider,
        provider_label,
        account,
        csrf,
    };
    render(StatusCode::OK, &page, &admin::csp(&app.config))
}

/// What the data deletion status URL reports about one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeletionInfo {
    pub requested_at: DateTime<Utc>,
    pub accounts_deleted: i64,
}

#[derive(Template)]
#[template(path = "deletion.html")]
struct DeletionPage<'a> {
    layout: Layout,
    code: &'a str,
    received: time::Moment,
    accounts_deleted: i64,
}

/// `GET /callbacks/data-deletion/{code}`: the page Meta links people to
/// after they ask for their data to be deleted.
pub fn deletion_status(code: &str, info: DeletionInfo) -> Response {
    let page = DeletionPage {
        layout: Layout::bare("Data deletion"),
        code,
        // The request's own time: this page has no clock and needs none.
        received: time::Moment::new(info.requested_at, info.requested_at),
        accounts_deleted: info.accounts_deleted,
    };
    render(StatusCode::OK, &page, CSP)
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    layout: Layout,
    title: &'a str,
    text: &'a str,
    link: Option<(&'a str, &'a str)>,
}

/// Where a message page leads on.
#[derive(Clone, Copy, Debug)]
pub enum Onward {
    /// Nowhere: a page of its own (connect, a deletion's status).
    Nowhere,
    /// Back to the admin page.
    Admin,
    /// To the admin page, to sign in.
    SignIn,
}

/// A small page with a title, a sentence and the way `onward`: a result,
/// or (through `http::error::PageError`) a failure.
pub fn message(status: StatusCode, title: &str, text: &str, onward: Onward) -> Response {
    let link = match onward {
        Onward::Nowhere => None,
        Onward::Admin => Some(("/admin", "Back to the admin page")),
        Onward::SignIn => Some(("/admin", "Sign in for the details")),
    };
    let page = MessagePage {
        layout: Layout::bare(title),
        title,
        text,
        link,
    };
    render(status, &page, CSP)
}

/// A result page with the way back to the admin page.
pub fn done(title: &str, text: &str) -> Response {
    message(StatusCode::OK, title, text, Onward::Admin)
}

/// What the shared page frame (`templates/base.html`) needs.
struct Layout {
    title: String,
    /// Which navigation entry is the current page: "home", "status", "admin" or "".
    current: &'static str,
    /// Links to `/` and `/status`; off when HIDE_HELP_PAGES hides them.
    help_links: bool,
    /// A link to `/admin`; off when ADMIN_PASSWORD is unset.
    admin_link: bool,
    version: &'static str,
}

impl Layout {
    fn for_app(app: &App, title: &str, current: &'static str) -> Layout {
        Layout {
            title: title.to_string(),
            current,
            help_links: !app.config.hide_help_pages,
            admin_link: app.config.admin_password.is_some(),
            version: env!("CARGO_PKG_VERSION"),
        }
    }

    /// No navigation: for pages seen by people other than the owner.
    fn bare(title: &str) -> Layout {
        Layout {
            title: title.to_string(),
            current: "",
            help_links: false,
            admin_link: false,
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

/// "Instagram Login" / "Facebook Login", as Meta's documentation names them.
fn kind_label(kind: AccountKind) -> &'static str {
    match kind {
        AccountKind::Instagram => "Instagram Login",
        AccountKind::Facebook => "Facebook Login",
    }
}

/// The base URL for the links in one request's answer, without a trailing
/// slash: APP_URL, else the URL the request came to (see
/// `public_url.rs`).
pub fn base_url(app: &App, detected: Option<&Url>) -> String {
    app.public_url
        .for_request(detected)
        .as_str()
        .trim_end_matches('/')
        .to_string()
}

/// The URL path of an account's token script.
fn token_js_path(name: &str) -> String {
    if name == crate::domain::DEFAULT_ACCOUNT {
        "/token.js".to_string()
    } else {
        format!("/accounts/{}/token.js", path_segment(name))
    }
}

/// Account names are validated to `[A-Za-z0-9_-]`, but a name read back
/// from the database is encoded anyway before it goes into a URL.
fn path_segment(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC)
        .to_string()
        .replace("%2D", "-")
        .replace("%5F", "_")
}

/// The accounts, or `None` when the database does not answer within a few
/// seconds: the pages then fall back to the names in memory.
async fn accounts(app: &App) -> Option<Vec<Account>> {
    match tokio::time::timeout(std::time::Duration::from_secs(3), app.store.accounts()).await {
        Ok(Ok(accounts)) => Some(accounts),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "pages: cannot read the accounts");
            None
        }
        Err(_) => {
            tracing::warn!("pages: the database did not answer within 3 seconds");
            None
        }
    }
}

fn render(status: StatusCode, page: &impl Template, csp: &str) -> Response {
    render_page(status, page, csp).map(Into::into)
}

/// [`render`], as bytes (for the front door's answers).
fn render_page(status: StatusCode, page: &impl Template, csp: &str) -> http::Response<Bytes> {
    match page.render() {
        Ok(body) => html(status, body, csp),
        Err(e) => {
            tracing::error!(error = %e, "cannot render a page");
            html(
                StatusCode::INTERNAL_SERVER_ERROR,
                "<!doctype html><title>Error</title><p>This page could not be shown; the log says why.</p>"
                    .to_string(),
                CSP,
            )
        }
    }
}

fn html(status: StatusCode, body: String, csp: &str) -> http::Response<Bytes> {
    let mut response = http::Response::new(Bytes::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(csp).unwrap_or(HeaderValue::from_static(CSP)),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

fn no_content() -> Response {
    let mut response = Response::default();
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use warp::Filter;

    /// Reads a response's body through warp's test client.
    async fn body(response: Response) -> String {
        let slot = std::sync::Arc::new(std::sync::Mutex::new(Some(response)));
        let filter = warp::any().map(move || slot.lock().unwrap().take().unwrap());
        let reply = warp::test::request().reply(&filter).await;
        String::from_utf8(reply.body().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_message_page_escapes_its_text_and_carries_the_security_headers() {
        let response = message(
            StatusCode::BAD_REQUEST,
            "Not <done>",
            "The name \"<b>x</b>\" is not allowed.",
            Onward::Nowhere,
        );
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let headers = response.headers();
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::REFERRER_POLICY], "same-origin");
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
        let html = body(response).await;
        assert!(html.contains("Not &#60;done&#62;"), "{html}");
        assert!(!html.contains("<b>x</b>"));
    }

    #[tokio::test]
    async fn a_deletion_status_page_names_the_code_and_the_count() {
        let at = Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 0).unwrap();
        let response = deletion_status(
            "abc123",
            DeletionInfo {
                requested_at: at,
                accounts_deleted: 2,
            },
        );
        assert_eq!(response.status(), StatusCode::OK);
        let html = body(response).await;
        assert!(html.contains("abc123"));
        assert!(html.contains("4 March 2026"), "{html}");
        assert!(html.contains("2 accounts"));
    }

    #[test]
    fn account_names_are_encoded_in_urls() {
        assert_eq!(token_js_path("default"), "/token.js");
        assert_eq!(token_js_path("shop_2-eu"), "/accounts/shop_2-eu/token.js");
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
    }
}

//! The URL a request came to: `Host`, or `X-Forwarded-Host` and
//! `X-Forwarded-Proto` where a proxy (Heroku's router, Render's, Fly's)
//! sets them. A client may send any of these, so what they say shapes only
//! that request's own answer; `public_url.rs` keeps nothing from them but a
//! signed-in admin request's.

use std::cell::RefCell;
use std::convert::Infallible;

use url::Url;
use warp::Filter;

use crate::app::App;
use crate::domain::TrustProxy;

/// Extracts the URL the request came to, if its headers name a host.
pub fn detected() -> impl Filter<Extract = (Option<Url>,), Error = Infallible> + Clone {
    warp::header::headers_cloned().map(|headers: warp::http::HeaderMap| of_headers(&headers))
}

/// The URL a request with these headers came to (see [`from_headers`]).
pub fn of_headers(headers: &warp::http::HeaderMap) -> Option<Url> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    from_headers(
        get("host"),
        get("x-forwarded-host"),
        get("x-forwarded-proto"),
    )
}

/// The base for links in an answer a shared cache may keep and hand to
/// other sites (the feed's paging links): APP_URL, else from `Host` alone
/// (a cache keys on it; never X-Forwarded-Host, which it does not), https
/// only when a proxy TRUST_PROXY believes says so, and the platform's URL
/// for the platform's own host. See `PublicUrl::for_shared_answer`.
pub fn shared_answer_base(app: &App, headers: &warp::http::HeaderMap) -> Url {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let proxied = app.config.guard.trust_proxy != TrustProxy::Nobody;
    let proto = if proxied {
        get("x-forwarded-proto")
    } else {
        None
    };
    let here = from_headers(get("host"), None, proto);
    app.public_url.for_shared_answer(here.as_ref())
}

/// `scheme://host[:port]/` from the headers: the first X-Forwarded-Host
/// entry (the host the client asked for) when it is a valid host, else
/// Host; https when the first X-Forwarded-Proto entry says so, else http.
pub fn from_headers(
    host: Option<&str>,
    forwarded_host: Option<&str>,
    forwarded_proto: Option<&str>,
) -> Option<Url> {
    let https = first(forwarded_proto).is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let scheme = if https { "https" } else { "http" };
    first(forwarded_host)
        .and_then(|h| base(scheme, h))
        .or_else(|| host.and_then(|h| base(scheme, h.trim())))
}

fn first(list: Option<&str>) -> Option<&str> {
    list.and_then(|l| l.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// A host as [`base`] last read it, on this thread.
struct Parsed {
    scheme: &'static str,
    authority: String,
    url: Option<Url>,
}

/// Only `host` or `host:port`: no user, path, query or odd characters.
fn base(scheme: &'static str, authority: &str) -> Option<Url> {
    let plain = !authority.is_empty()
        && authority.len() <= 255
        && authority
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !plain {
        return None;
    }
    // Nearly every request of a site names the same host: each thread
    // keeps the last one parsed, which spares a hit its URL parsing.
    thread_local! {
        static LAST: RefCell<Option<Parsed>> = const { RefCell::new(None) };
    }
    LAST.with_borrow_mut(|last| {
        let known = last
            .as_ref()
            .filter(|p| p.scheme == scheme && p.authority == authority);
        if let Some(parsed) = known {
            return parsed.url.clone();
        }
        let url = Url::parse(&format!("{scheme}://{authority}/")).ok();
        let url = url.filter(|u| u.host_str().is_some_and(|h| !h.is_empty()) && u.path() == "/");
        *last = Some(Parsed {
            scheme,
            authority: authority.to_string(),
            url: url.clone(),
        });
        url
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(host: Option<&str>, fh: Option<&str>, fp: Option<&str>) -> Option<String> {
        from_headers(host, fh, fp).map(String::from)
    }

    #[test]
    fn herokus_router_gives_the_host_and_https() {
        assert_eq!(
            url(
                Some("my-app-1a2b3c4d5e6f.herokuapp.com"),
                None,
                Some("https")
            )
            .as_deref(),
            Some("https://my-app-1a2b3c4d5e6f.herokuapp.com/")
        );
    }

    #[test]
    fn a_forwarded_host_wins_over_host_and_the_first_entry_counts() {
        assert_eq!(
            url(
                Some("10.0.0.3:8080"),
                Some("tokens.example.com, proxy.internal"),
                Some("https, http")
            )
            .as_deref(),
            Some("https://tokens.example.com/")
        );
    }

    #[test]
    fn a_plain_request_is_http_and_keeps_its_port() {
        assert_eq!(
            url(Some("localhost:3000"), None, None).as_deref(),
            Some("http://localhost:3000/")
        );
        assert_eq!(
            url(Some("[::1]:3000"), None, Some("gopher")).as_deref(),
            Some("http://[::1]:3000/")
        );
    }

    #[test]
    fn hosts_with_paths_users_or_markup_are_not_urls() {
        for bad in [
            "evil.example/path",
            "user@evil.example",
            "\"><script>",
            "a b",
            "",
            "evil.example?x=1",
        ] {
            assert_eq!(url(Some(bad), None, None), None, "{bad}");
        }
        // A bad forwarded host falls back to Host.
        assert_eq!(
            url(Some("tokens.example.com"), Some("x/y"), None).as_deref(),
            Some("http://tokens.example.com/")
        );
    }

    #[test]
    fn the_last_host_read_is_answered_again_only_for_the_same_scheme_and_host() {
        let https = Some("https");
        let host = Some("tokens.example.com");
        for _ in 0..2 {
            assert_eq!(
                url(host, None, https).as_deref(),
                Some("https://tokens.example.com/")
            );
            assert_eq!(
                url(host, None, None).as_deref(),
                Some("http://tokens.example.com/")
            );
        }
        // A bad host after a good one, and the good one after it.
        assert_eq!(url(Some("tokens.example.com:x"), None, None), None);
        assert_eq!(url(Some("tokens.example.com:x"), None, None), None);
        assert_eq!(
            url(Some("tokens.example.com:8080"), None, None).as_deref(),
            Some("http://tokens.example.com:8080/")
        );
    }
}

//! An incoming request, reduced to what the fake routes on: which Meta host
//! (the first path segment), the optional `/vNN.N` version, the endpoint path,
//! and the parameters from the query string and a form body.

use bytes::Bytes;
use warp::http::{HeaderMap, Method, header};

/// The Meta hosts the fake emulates, each under a path prefix of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Host {
    InstagramGraph,
    InstagramApi,
    InstagramWww,
    FacebookGraph,
    FacebookWww,
}

impl Host {
    pub(crate) const ALL: [Host; 5] = [
        Host::InstagramGraph,
        Host::InstagramApi,
        Host::InstagramWww,
        Host::FacebookGraph,
        Host::FacebookWww,
    ];

    pub(crate) fn prefix(self) -> &'static str {
        match self {
            Host::InstagramGraph => "graph.instagram.com",
            Host::InstagramApi => "api.instagram.com",
            Host::InstagramWww => "www.instagram.com",
            Host::FacebookGraph => "graph.facebook.com",
            Host::FacebookWww => "www.facebook.com",
        }
    }

    pub(crate) fn from_prefix(segment: &str) -> Option<Host> {
        Host::ALL.into_iter().find(|h| h.prefix() == segment)
    }
}

/// The default version written into `next`/`previous` links of unversioned calls.
pub(crate) const DEFAULT_VERSION: &str = "v25.0";

#[derive(Debug)]
pub(crate) struct Request {
    pub method: Method,
    pub host: Host,
    pub version: Option<String>,
    /// The endpoint after host and version, e.g. `/me/media`; `/` for the root.
    pub path: String,
    pub params: Vec<(String, String)>,
    pub headers: HeaderMap,
    /// `http://127.0.0.1:PORT`, for links the fake writes into bodies.
    pub base_url: String,
}

impl Request {
    /// `None` when the first segment names no emulated host.
    pub(crate) fn parse(
        method: Method,
        full_path: &str,
        query: &str,
        headers: HeaderMap,
        body: &Bytes,
        base_url: String,
    ) -> Option<Request> {
        let mut segments = full_path.split('/').filter(|s| !s.is_empty()).peekable();
        let host = Host::from_prefix(segments.next()?)?;
        let version = segments.next_if(|s| is_version(s)).map(str::to_string);
        let rest: Vec<&str> = segments.collect();
        let mut params = parse_pairs(query.as_bytes());
        params.extend(body_params(&headers, body));
        Some(Request {
            method,
            host,
            version,
            path: format!("/{}", rest.join("/")),
            params,
            headers,
            base_url,
        })
    }

    /// The first value of a parameter; an empty value counts as absent.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn segments(&self) -> Vec<&str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }

    /// `access_token` parameter, else `Authorization: Bearer …` (or `OAuth …`).
    pub(crate) fn access_token(&self) -> Option<String> {
        if let Some(token) = self.param("access_token") {
            return Some(token.to_string());
        }
        let value = self.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = value.trim().split_once(' ')?;
        let known = scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth");
        (known && !token.trim().is_empty()).then(|| token.trim().to_string())
    }

    /// The URL of this endpoint on this host, always versioned, for paging links.
    pub(crate) fn link_base(&self, path: &str) -> String {
        let version = self.version.as_deref().unwrap_or(DEFAULT_VERSION);
        format!("{}/{}/{version}{path}", self.base_url, self.host.prefix())
    }
}

/// `v25.0`, `v19`, …
fn is_version(segment: &str) -> bool {
    segment.strip_prefix('v').is_some_and(|rest| {
        !rest.is_empty()
            && rest.chars().next().is_some_and(|c| c.is_ascii_digit())
            && rest.chars().all(|c| c.is_ascii_digit() || c == '.')
    })
}

fn parse_pairs(input: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(input).into_owned().collect()
}

fn body_params(headers: &HeaderMap, body: &Bytes) -> Vec<(String, String)> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/x-www-form-urlencoded") {
        parse_pairs(body)
    } else if content_type.starts_with("multipart/form-data") {
        multipart_fields(content_type, body)
    } else {
        Vec::new()
    }
}

/// Text fields of a `multipart/form-data` body (the docs' `curl -F` form).
fn multipart_fields(content_type: &str, body: &Bytes) -> Vec<(String, String)> {
    let Some(boundary) = content_type
        .split(';')
        .filter_map(|part| part.trim().strip_prefix("boundary="))
        .next()
    else {
        return Vec::new();
    };
    let delimiter = format!("--{}", boundary.trim_matches('"'));
    let text = String::from_utf8_lossy(body);
    text.split(delimiter.as_str())
        .filter_map(multipart_part)
        .collect()
}

fn multipart_part(part: &str) -> Option<(String, String)> {
    let (head, value) = part.split_once("\r\n\r\n")?;
    let name = head
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("name="))
        .next()?
        .trim_matches('"')
        .to_string();
    Some((name, value.trim_end_matches("\r\n").to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use warp::http::HeaderValue;

    fn parse(path: &str, query: &str) -> Request {
        Request::parse(
            Method::GET,
            path,
            query,
            HeaderMap::new(),
            &Bytes::new(),
            "http://x".into(),
        )
        .unwrap()
    }

    #[test]
    fn the_version_segment_is_optional() {
        let versioned = parse("/graph.instagram.com/v25.0/me/media", "");
        assert_eq!(versioned.host, Host::InstagramGraph);
        assert_eq!(versioned.version.as_deref(), Some("v25.0"));
        assert_eq!(versioned.path, "/me/media");
        let bare = parse("/graph.instagram.com/me/media/", "");
        assert_eq!(bare.version, None);
        assert_eq!(bare.path, "/me/media");
    }

    #[test]
    fn unknown_hosts_do_not_parse() {
        let request = Request::parse(
            Method::GET,
            "/example.com/me",
            "",
            HeaderMap::new(),
            &Bytes::new(),
            String::new(),
        );
        assert!(request.is_none());
    }

    #[test]
    fn the_token_comes_from_the_query_or_the_bearer_header() {
        assert_eq!(
            parse("/graph.instagram.com/me", "access_token=IGAAx")
                .access_token()
                .as_deref(),
            Some("IGAAx")
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer IGAAy"),
        );
        let request = Request::parse(
            Method::GET,
            "/graph.instagram.com/me",
            "",
            headers,
            &Bytes::new(),
            String::new(),
        )
        .unwrap();
        assert_eq!(request.access_token().as_deref(), Some("IGAAy"));
    }

    #[test]
    fn form_and_multipart_bodies_are_parameters() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("multipart/form-data; boundary=XyZ"),
        );
        let body = Bytes::from(
            "--XyZ\r\nContent-Disposition: form-data; name=\"code\"\r\n\r\nAQabc\r\n--XyZ--\r\n",
        );
        let request = Request::parse(
            Method::POST,
            "/api.instagram.com/oauth/access_token",
            "",
            headers,
            &body,
            String::new(),
        )
        .unwrap();
        assert_eq!(request.param("code"), Some("AQabc"));
    }
}

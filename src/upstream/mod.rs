//! The Graph API client: the only code that talks to Meta.
//!
//! * `instagram.rs` — Instagram Login: code exchange, long-lived exchange,
//!   refresh, `/me` (api.instagram.com and graph.instagram.com).
//! * `facebook.rs` — Facebook Login token exchanges (graph.facebook.com).
//! * `graph.rs` — reads with an account's token: media, Pages, the business
//!   account, hashtag search and media, `debug_token`.
//! * `media.rs` — media pages, parsed into known fields only.
//! * `error/` — [`UpstreamError`] and the rules that classify Meta's answers.
//! * `grants.rs` — the success bodies, parsed strictly.
//! * `usage.rs` — the rate-limit usage headers.
//!
//! SECURITY: tokens and secrets travel in query strings, as Meta documents.
//! So no URL with a query is ever logged or put into an error, reqwest
//! errors are stripped of their URL, and every error message is scrubbed.

mod error;
mod facebook;
mod grants;
mod graph;
mod instagram;
pub mod media;
mod usage;
pub mod versions;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value;

use crate::telemetry::error_chain;
use url::Url;

pub use crate::config::UpstreamConfig;
pub use error::{ErrorKind, UpstreamError, classify_debug_token};
pub use grants::{CodeGrant, InstagramProfile, TokenGrant};
pub use graph::{AppToken, HashtagEdge, LinkedInstagram, MediaOwner, PageRequest, TokenCheck};
pub use media::MediaPage;
pub use usage::Usage;

/// One HTTP client, built once; clones share it and the observed [`Usage`].
#[derive(Clone)]
pub struct Upstream {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    instagram_graph: Url,
    instagram_oauth: Url,
    facebook_graph: Url,
    version: String,
    /// Keys `appsecret_proof` on graph.facebook.com calls (FACEBOOK_APP_SECRET).
    facebook_app_secret: Option<crate::config::Secret>,
    max_body_bytes: usize,
    usage: Mutex<Usage>,
    calls: Mutex<HashMap<(String, &'static str), u64>>,
    /// Hosts (graph.instagram.com, graph.facebook.com) that answered
    /// `nonexisting field (alt_text)`: this process asks them no more.
    alt_text_refused: [std::sync::atomic::AtomicBool; 2],
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upstream")
            .field("instagram_graph", &self.inner.instagram_graph.as_str())
            .field("instagram_oauth", &self.inner.instagram_oauth.as_str())
            .field("facebook_graph", &self.inner.facebook_graph.as_str())
            .field("version", &self.inner.version)
            .finish_non_exhaustive()
    }
}

/// A usable success: its status, usage headers and JSON body.
struct Reply {
    status: u16,
    usage: Usage,
    body: Value,
}

impl Upstream {
    /// Validates the base URLs and version and builds the HTTP client.
    /// Configuration problems come back as `ErrorKind::Rejected`.
    pub fn new(cfg: &UpstreamConfig) -> Result<Upstream, UpstreamError> {
        let http = crate::tls::http_client()
            .user_agent(cfg.user_agent.as_str())
            .timeout(cfg.timeout)
            .connect_timeout(cfg.connect_timeout)
            // Meta's API does not redirect; following one could carry the
            // token in the query to another host.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                let e = e.without_url();
                UpstreamError::rejected(&format!(
                    "could not build the HTTP client: {}",
                    error_chain(&e)
                ))
            })?;
        Ok(Upstream {
            inner: Arc::new(Inner {
                http,
                instagram_graph: base_url("instagram_graph_url", &cfg.instagram_graph_url)?,
                instagram_oauth: base_url("instagram_oauth_url", &cfg.instagram_oauth_url)?,
                facebook_graph: base_url("facebook_graph_url", &cfg.facebook_graph_url)?,
                version: graph_version(&cfg.graph_version)?,
                facebook_app_secret: cfg.facebook_app_secret.clone(),
                max_body_bytes: cfg.max_body_bytes,
                usage: Mutex::new(Usage::default()),
                calls: Mutex::new(HashMap::new()),
                alt_text_refused: Default::default(),
            }),
        })
    }

    /// The usage reported by the most recent answer that carried usage
    /// headers, shared across clones.
    pub fn usage(&self) -> Usage {
        *self
            .inner
            .usage
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// `{instagram_graph_url}/{version}/{path}`, for media reads.
    fn instagram_graph_url(&self, path: &str) -> String {
        self.versioned(&self.inner.instagram_graph, path)
    }

    /// `{facebook_graph_url}/{version}/{path}`.
    fn facebook_graph_url(&self, path: &str) -> String {
        self.versioned(&self.inner.facebook_graph, path)
    }

    /// A GET of a Graph URL: adds `access_token` (replacing one already
    /// in the URL, as in a paging `next` link) and returns the JSON body and
    /// the usage reported with it. Only URLs on a configured upstream origin
    /// are accepted, so a token is never sent anywhere else.
    async fn get_json(&self, url: &str, token: &str) -> Result<(Value, Usage), UpstreamError> {
        require("access token", token)?;
        let mut url = Url::parse(url)
            .map_err(|_| UpstreamError::rejected("get_json needs an absolute URL"))?;
        let origin = url.origin();
        let known = [
            &self.inner.instagram_graph,
            &self.inner.instagram_oauth,
            &self.inner.facebook_graph,
        ];
        if !known.iter().any(|base| base.origin() == origin) {
            return Err(UpstreamError::rejected(
                "refusing to send a token to a host that is not a configured upstream",
            ));
        }
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(key, _)| key != "access_token" && key != "appsecret_proof")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let proof = match &self.inner.facebook_app_secret {
            Some(secret) if is_under(&self.inner.facebook_graph, &url) => {
                Some(appsecret_proof(secret.expose(), token))
            }
            _ => None,
        };
        {
            let mut query = url.query_pairs_mut();
            query
                .clear()
                .extend_pairs(kept)
                .append_pair("access_token", token);
            if let Some(proof) = &proof {
                query.append_pair("appsecret_proof", proof);
            }
        }
        let endpoint = url.path().to_owned();
        let secrets: Vec<&str> = std::iter::once(token).chain(proof.as_deref()).collect();
        let reply = self
            .send(&endpoint, self.inner.http.get(url), &secrets)
            .await?;
        Ok((reply.body, reply.usage))
    }

    fn versioned(&self, base: &Url, path: &str) -> String {
        format!(
            "{}/{}/{}",
            base.as_str().trim_end_matches('/'),
            self.inner.version,
            path.trim_start_matches('/')
        )
    }

    /// `{base}/{path}`, unversioned.
    fn endpoint(base: &Url, path: &str) -> String {
        format!("{}/{}", base.as_str().trim_end_matches('/'), path)
    }

    /// Calls made so far, by endpoint (ids replaced by `{id}`) and outcome
    /// (`ok` or the error kind's label), for the metrics page.
    pub fn call_counts(&self) -> Vec<(String, &'static str, u64)> {
        let calls = self.inner.calls.lock().unwrap_or_else(|p| p.into_inner());
        let mut counts: Vec<_> = calls
            .iter()
            .map(|((e, o), n)| (e.clone(), *o, *n))
            .collect();
        counts.sort();
        counts
    }

    /// Sends a request and returns a usable success, or the classified
    /// error. `secrets` are scrubbed from every error message, and so are
    /// the app secrets this client knows and the secret half of an app
    /// token (`{app-id}|{app-secret}`): upstream may echo any of them.
    async fn send(
        &self,
        endpoint: &str,
        request: reqwest::RequestBuilder,
        secrets: &[&str],
    ) -> Result<Reply, UpstreamError> {
        let mut all: Vec<&str> = secrets.to_vec();
        all.extend(
            secrets
                .iter()
                .filter_map(|s| s.split_once('|').map(|(_, secret)| secret)),
        );
        all.extend(self.inner.facebook_app_secret.as_ref().map(|s| s.expose()));
        let result = self.send_once(endpoint, request, &all).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.kind.label(),
        };
        *self
            .inner
            .calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((endpoint_label(endpoint), outcome))
            .or_insert(0) += 1;
        result
    }

    async fn send_once(
        &self,
        endpoint: &str,
        request: reqwest::RequestBuilder,
        secrets: &[&str],
    ) -> Result<Reply, UpstreamError> {
        let started = Instant::now();
        let response = request
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| transport_error(e, secrets))?;
        let status = response.status().as_u16();
        let usage = Usage::from_headers(response.headers());
        if usage.is_reported() {
            *self
                .inner
                .usage
                .lock()
                .unwrap_or_else(|poison| poison.into_inner()) = usage;
        }
        let body = read_capped(response, self.inner.max_body_bytes).await;
        tracing::debug!(
            endpoint,
            status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            usage_percent = usage.max_percent,
            "upstream answered"
        );
        let body = match body {
            Ok(body) => body,
            Err(BodyError::TooLarge) => {
                let message = format!(
                    "sent a body larger than {} bytes",
                    self.inner.max_body_bytes
                );
                return Err(error::without_envelope(status, usage, &message));
            }
            Err(BodyError::Read(e)) => return Err(transport_error(e, secrets).with_status(status)),
        };
        let value = error::interpret(status, usage, &body, secrets)?;
        Ok(Reply {
            status,
            usage,
            body: value,
        })
    }
}

/// Whether `url` lies under `base` (same origin, path below base's path):
/// tests and the demo serve every host from one origin under path prefixes.
fn is_under(base: &Url, url: &Url) -> bool {
    let prefix = base.path().trim_end_matches('/');
    base.origin() == url.origin()
        && url
            .path()
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Meta's `appsecret_proof`: lower-case hex HMAC-SHA256 of the access token,
/// keyed with the app secret (instagram-api.md §8). With "Require App
/// Secret" on, graph.facebook.com refuses user and Page token calls without
/// it (<https://developers.facebook.com/docs/facebook-login/security/>).
pub fn appsecret_proof(app_secret: &str, token: &str) -> String {
    crate::signing::hmac_sha256_hex(app_secret.as_bytes(), token.as_bytes())
}

/// `/v25.0/17841400000000001/media` → `{id}/media`: versions and host
/// prefixes dropped, numeric ids folded, so labels stay few.
fn endpoint_label(path: &str) -> String {
    path.split('/')
        .filter(|s| !s.is_empty() && !s.contains('.'))
        .map(|s| {
            if s.bytes().all(|b| b.is_ascii_digit()) {
                "{id}"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

enum BodyError {
    TooLarge,
    Read(reqwest::Error),
}

/// Reads the body chunk by chunk, stopping as soon as it passes `cap`.
async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|len| len > cap as u64)
    {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Read)? {
        if body.len() + chunk.len() > cap {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A failure before or while receiving the answer. The URL (with its
/// query of tokens) is dropped before anything is formatted.
fn transport_error(error: reqwest::Error, secrets: &[&str]) -> UpstreamError {
    let error = error.without_url();
    let (kind, what) = if error.is_builder() {
        (ErrorKind::Rejected, "could not build the request")
    } else if error.is_timeout() {
        (ErrorKind::Transient, "timed out")
    } else if error.is_connect() {
        (ErrorKind::Transient, "could not connect")
    } else if error.is_body() || error.is_decode() {
        (
            ErrorKind::Transient,
            "connection failed while reading the answer",
        )
    } else {
        (ErrorKind::Transient, "request failed")
    };
    UpstreamError::new(kind, &format!("{what} ({})", error_chain(&error)), secrets)
}

fn base_url(name: &str, value: &str) -> Result<Url, UpstreamError> {
    let trimmed = value.trim().trim_end_matches('/');
    let url = Url::parse(trimmed)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
        .filter(|u| u.query().is_none() && u.fragment().is_none())
        .ok_or_else(|| {
            UpstreamError::rejected(&format!("{name} must be an http(s) URL without a query"))
        })?;
    Ok(url)
}

/// Accepts `v25.0`, `25.0` or `/v25.0/`.
fn graph_version(value: &str) -> Result<String, UpstreamError> {
    let trimmed = value.trim().trim_matches('/');
    let number = trimmed.strip_prefix('v').unwrap_or(trimmed);
    let valid = !number.is_empty()
        && number
            .split('.')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
    if valid {
        Ok(format!("v{number}"))
    } else {
        Err(UpstreamError::rejected(
            "graph_version must look like v25.0",
        ))
    }
}

/// Refuses to call Meta with an empty token, secret or code.
fn require(what: &str, value: &str) -> Result<(), UpstreamError> {
    if value.trim().is_empty() {
        Err(UpstreamError::rejected(&format!("no {what} given")))
    } else {
        Ok(())
    }
}

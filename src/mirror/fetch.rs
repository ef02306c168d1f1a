//! Downloads one image from the CDN, safely: the URL came from an upstream
//! body, so it is fetched only from MEDIA_CDN_HOSTS, redirects are followed
//! only within that list, the body is read in chunks and given up past a
//! byte cap, and the whole download has a deadline.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::redirect::{Attempt, Policy};
use url::Url;

use super::skip::{MAX_REDIRECTS, Skip};
use crate::domain::CdnHosts;

/// The one HTTP client the mirror downloads with.
pub struct Fetcher {
    client: reqwest::Client,
    hosts: CdnHosts,
    max_bytes: usize,
}

/// How the fetcher is bounded.
pub struct FetchLimits {
    pub hosts: CdnHosts,
    pub max_bytes: usize,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub user_agent: String,
}

impl Fetcher {
    pub fn new(limits: FetchLimits) -> anyhow::Result<Fetcher> {
        let allowed = limits.hosts.clone();
        let policy = Policy::custom(move |attempt: Attempt| {
            if attempt.previous().len() > MAX_REDIRECTS || !allowed.allows(attempt.url()) {
                // Answers the redirect itself, which `get` refuses.
                attempt.stop()
            } else {
                attempt.follow()
            }
        });
        let client = crate::tls::http_client()
            .redirect(policy)
            .timeout(limits.timeout)
            .connect_timeout(limits.connect_timeout)
            .user_agent(limits.user_agent)
            .build()?;
        Ok(Fetcher {
            client,
            hosts: limits.hosts,
            max_bytes: limits.max_bytes,
        })
    }

    /// The body at `url`, or why it was not fetched or not kept.
    pub async fn get(&self, url: &str) -> Result<Bytes, Skip> {
        let url = Url::parse(url).map_err(|_| Skip::HostNotAllowed)?;
        if !self.hosts.allows(&url) {
            return Err(Skip::HostNotAllowed);
        }
        let mut response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| Skip::from_request(&e))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(Skip::Redirected);
        }
        if !status.is_success() {
            return Err(Skip::Status(status.as_u16()));
        }
        let too_large = Skip::TooLarge(self.max_bytes);
        if response
            .content_length()
            .is_some_and(|n| n > self.max_bytes as u64)
        {
            return Err(too_large);
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| Skip::from_request(&e))? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(too_large);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }
}

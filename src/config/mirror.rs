//! MIRROR_POSTS, MIRROR_MAX_MB and MEDIA_CDN_HOSTS: what the image mirror
//! keeps, and where it may download from.

use std::time::Duration;

use super::vars::{parse_number, present};
use super::{ConfigError, bad};
use crate::domain::CdnHosts;
use crate::domain::cdn_hosts::DEFAULT_CDN_HOSTS;

/// What the image mirror keeps, and where it may download from (see
/// `mirror/`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MirrorConfig {
    /// MIRROR_POSTS: how many of each account's newest posts have their
    /// images copied; 0 turns the mirror off.
    pub posts: usize,
    /// MIRROR_MAX_MB, in bytes: all copies together; the oldest posts go first.
    pub max_bytes: u64,
    /// MEDIA_CDN_HOSTS.
    pub cdn_hosts: CdnHosts,
    /// A larger download is refused (Instagram's largest images, 1440
    /// pixels wide, weigh well under 2 MB).
    pub max_download_bytes: usize,
    /// An image with more pixels is refused before it is decoded (twice
    /// Instagram's largest, 1440×1800).
    pub max_pixels: u64,
    /// Downloads at a time (they are decoded one at a time).
    pub concurrency: usize,
    /// One download's deadline, connecting included: longer than a Graph
    /// call's, as an image weighs a hundred times a page of JSON.
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

/// MIRROR_POSTS when unset: a grid of 24 is what most sites show.
pub const DEFAULT_MIRROR_POSTS: usize = 24;
/// The most MIRROR_POSTS may be: the mirror reads the first upstream page
/// only, which holds `feed::UPSTREAM_PAGE` items (`app.rs` checks they agree).
pub const MAX_MIRROR_POSTS: usize = 50;
/// MIRROR_MAX_MB when unset: a small share of a free Postgres plan.
pub const DEFAULT_MIRROR_MAX_MB: u64 = 100;

impl Default for MirrorConfig {
    fn default() -> Self {
        MirrorConfig {
            posts: DEFAULT_MIRROR_POSTS,
            max_bytes: DEFAULT_MIRROR_MAX_MB * 1024 * 1024,
            cdn_hosts: CdnHosts::parse(DEFAULT_CDN_HOSTS).expect("the default list parses"),
            max_download_bytes: 8 * 1024 * 1024,
            max_pixels: 2 * 1440 * 1800,
            concurrency: 2,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

pub(super) fn parse_mirror(
    posts: Option<String>,
    max_mb: Option<String>,
    hosts: Option<String>,
) -> Result<MirrorConfig, ConfigError> {
    let defaults = MirrorConfig::default();
    let most = MAX_MIRROR_POSTS as u64;
    let posts = parse_number("MIRROR_POSTS", posts, DEFAULT_MIRROR_POSTS as u64)?;
    if posts > most {
        return Err(bad(
            "MIRROR_POSTS",
            format!("must be from 0 to {most} (one upstream page), got {posts}"),
        ));
    }
    let max_mb = parse_number("MIRROR_MAX_MB", max_mb, DEFAULT_MIRROR_MAX_MB)?;
    if !(1..=1024 * 1024).contains(&max_mb) {
        return Err(bad(
            "MIRROR_MAX_MB",
            format!("must be from 1 to 1048576 megabytes, got {max_mb}"),
        ));
    }
    let cdn_hosts = match present(hosts) {
        None => defaults.cdn_hosts.clone(),
        Some(raw) => CdnHosts::parse(&raw).map_err(|e| bad("MEDIA_CDN_HOSTS", e))?,
    };
    Ok(MirrorConfig {
        posts: posts as usize,
        max_bytes: max_mb * 1024 * 1024,
        cdn_hosts,
        ..defaults
    })
}

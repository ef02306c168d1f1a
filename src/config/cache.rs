//! MEMCACHIER_SERVERS or MEMCACHE_SERVERS, and MemCachier's credentials:
//! the shared cache, checked at start-up.

use super::vars::present;
use super::{ConfigError, bad};
use crate::cache::CacheConfig;

/// The memcache servers and their credentials; MEMCACHIER_SERVERS wins over
/// MEMCACHE_SERVERS. No servers: the in-process cache only.
pub(super) fn parse_cache(
    memcachier_servers: Option<String>,
    memcache_servers: Option<String>,
    username: Option<String>,
    password: Option<String>,
) -> Result<CacheConfig, ConfigError> {
    let (memcache_servers, memcache_var) =
        match (present(memcachier_servers), present(memcache_servers)) {
            (Some(s), _) => (s, "MEMCACHIER_SERVERS"),
            (None, Some(s)) => (s, "MEMCACHE_SERVERS"),
            (None, None) => (String::new(), "MEMCACHE_SERVERS"),
        };
    let cache = CacheConfig {
        servers: parse_servers(memcache_var, &memcache_servers)?,
        username: present(username),
        password: present(password),
        ..CacheConfig::default()
    };
    cache.check().map_err(|e| {
        let var = match &e {
            crate::cache::CacheError::UnsendableCredential { var } => var,
            crate::cache::CacheError::HalfCredentials => "MEMCACHIER_PASSWORD",
            _ => memcache_var,
        };
        bad(var, e.to_string())
    })?;
    Ok(cache)
}

fn parse_servers(var: &'static str, raw: &str) -> Result<Vec<String>, ConfigError> {
    raw.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|server| {
            let (host, port) = server
                .rsplit_once(':')
                .ok_or_else(|| bad(var, format!("entries must be host:port, got {server:?}")))?;
            if host.is_empty() || port.parse::<u16>().is_err() {
                return Err(bad(
                    var,
                    format!("entries must be host:port, got {server:?}"),
                ));
            }
            Ok(server.to_string())
        })
        .collect()
}

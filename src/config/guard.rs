//! ALLOWED_DOMAINS and the rules for strangers (TRUST_PROXY,
//! FEED_MISSES_PER_MINUTE, ADMIN_FAILURE_DELAY_MS, ADMIN_FAILURE_WARN_AFTER,
//! METRICS_TOKEN, PUBLIC_STATUS).

use std::time::Duration;

use super::vars::{parse_bool, parse_number, present};
use super::{ConfigError, Secret, bad};
use crate::domain::allowlist::AllowedDomains;

/// The rules for requests from anyone: which proxies to believe about the
/// client's address, how many feed cache misses one client may cause, and
/// how failed sign-ins are slowed.
#[derive(Clone, Debug)]
pub struct GuardConfig {
    /// TRUST_PROXY (on Heroku and Fly.io, the platform's router by default).
    pub trust_proxy: crate::domain::TrustProxy,
    /// FEED_MISSES_PER_MINUTE: cache misses (upstream calls) one client
    /// address may cause per minute; 0 for no bound.
    pub feed_misses_per_minute: u32,
    /// ADMIN_FAILURE_DELAY_MS: how long a failed sign-in's answer is held;
    /// each further failure from the client doubles it (up to 128 times).
    pub admin_failure_delay: Duration,
    /// ADMIN_FAILURE_WARN_AFTER: failed sign-ins (of every client) within
    /// an hour after which the owner is warned, at most once an hour; 0
    /// never.
    pub admin_failure_warn_after: u32,
    /// METRICS_TOKEN: `/metrics` answers a request bearing it, as well as
    /// the signed-in admin.
    pub metrics_token: Option<Secret>,
    /// PUBLIC_STATUS: `/status` shows strangers a summary (how many
    /// accounts, whether all is well); the details are the admin's alone.
    pub public_status: bool,
}

/// ADMIN_FAILURE_WARN_AFTER when unset: more than a forgetful owner types
/// in an hour, and far fewer than a guesser tries.
const DEFAULT_FAILURE_WARN_AFTER: u64 = 20;

/// ALLOWED_DOMAINS; `None` while it is unset.
pub(super) fn parse_allowed_domains(
    raw: Option<String>,
) -> Result<Option<AllowedDomains>, ConfigError> {
    present(raw)
        .map(|raw| AllowedDomains::parse(&raw).map_err(|e| bad("ALLOWED_DOMAINS", e.to_string())))
        .transpose()
}

pub(super) fn parse_guard(
    trust_proxy: Option<String>,
    platform: crate::domain::Platform,
    feed_misses_per_minute: Option<String>,
    admin_failure_delay_ms: Option<String>,
    admin_failure_warn_after: Option<String>,
    metrics_token: Option<String>,
    public_status: Option<String>,
) -> Result<GuardConfig, ConfigError> {
    Ok(GuardConfig {
        trust_proxy: crate::domain::TrustProxy::parse(present(trust_proxy).as_deref(), platform)
            .map_err(|e| bad("TRUST_PROXY", e))?,
        feed_misses_per_minute: u32::try_from(parse_number(
            "FEED_MISSES_PER_MINUTE",
            feed_misses_per_minute,
            60,
        )?)
        .map_err(|_| bad("FEED_MISSES_PER_MINUTE", "is too large"))?,
        admin_failure_delay: Duration::from_millis(parse_number(
            "ADMIN_FAILURE_DELAY_MS",
            admin_failure_delay_ms,
            250,
        )?),
        admin_failure_warn_after: u32::try_from(parse_number(
            "ADMIN_FAILURE_WARN_AFTER",
            admin_failure_warn_after,
            DEFAULT_FAILURE_WARN_AFTER,
        )?)
        .map_err(|_| bad("ADMIN_FAILURE_WARN_AFTER", "is too large"))?,
        metrics_token: present(metrics_token).map(Secret),
        public_status: parse_bool("PUBLIC_STATUS", public_status)?,
    })
}

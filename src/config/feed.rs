//! HASHTAGS, how long a stale feed page is kept by default, and
//! FEED_TRIAL_REELS.

use super::mirror::MirrorConfig;
use super::vars::present;
use super::{ConfigError, bad};

/// HASHTAGS: tags separated by commas and/or spaces, `#` optional.
pub(super) fn parse_hashtags(raw: Option<String>) -> Result<Vec<String>, ConfigError> {
    present(raw)
        .unwrap_or_default()
        .split([',', ' '])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            crate::domain::parse_hashtag(t).ok_or_else(|| {
                bad(
                    "HASHTAGS",
                    format!("entries are hashtags (letters, digits, _), got {t:?}"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()
}

/// FEED_STALE_TTL when unset, in seconds: a day, since Instagram's signed
/// image links last a few days; 30 days when the newest posts' images are
/// mirrored, since a stale page then shows its posts from the agent's own
/// copies once those links have expired.
pub(super) fn default_stale_ttl(mirror: &MirrorConfig) -> u64 {
    if mirror.posts > 0 {
        30 * 86_400
    } else {
        86_400
    }
}

/// FEED_TRIAL_REELS: `include` serves trial reels too; `exclude` (the
/// default) leaves them out, as Instagram's grid does for followers.
pub(super) fn parse_trial_reels(raw: Option<String>) -> Result<bool, ConfigError> {
    match present(raw)
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("exclude") => Ok(false),
        Some("include") => Ok(true),
        Some(other) => Err(bad(
            "FEED_TRIAL_REELS",
            format!("is include or exclude, got {other:?}"),
        )),
    }
}

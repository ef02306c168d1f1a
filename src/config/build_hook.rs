//! BUILD_HOOK_URL, BUILD_HOOK_ON and BUILD_HOOK_CHECK_MINUTES: the URL
//! that starts a site's build (Netlify, Vercel and Cloudflare Pages give
//! each site one), what changes start it, and how often the agent looks
//! for new posts itself.

use std::time::Duration;

use url::Url;

use super::vars::{parse_number, present};
use super::{ConfigError, Secret, bad};

/// Minutes between checks for new posts unless set.
const DEFAULT_CHECK_MINUTES: u64 = 15;
/// Fewer would spend Instagram's budget for little.
const MIN_CHECK_MINUTES: u64 = 5;

/// The build hook, when BUILD_HOOK_URL is set.
#[derive(Clone, Debug)]
pub struct BuildHookConfig {
    /// A credential: whoever has it can start builds. Only its host is
    /// ever shown.
    pub url: Secret,
    pub host: String,
    pub on: HookOn,
    pub check_every: Duration,
}

/// Which changes start a build (BUILD_HOOK_ON).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HookOn {
    pub new_post: bool,
    pub removed_post: bool,
    pub token: bool,
}

pub(super) fn parse(
    url: Option<String>,
    on: Option<String>,
    minutes: Option<String>,
) -> Result<Option<BuildHookConfig>, ConfigError> {
    let on = parse_on(on)?;
    let minutes = parse_number("BUILD_HOOK_CHECK_MINUTES", minutes, DEFAULT_CHECK_MINUTES)?;
    if minutes < MIN_CHECK_MINUTES {
        return Err(bad(
            "BUILD_HOOK_CHECK_MINUTES",
            format!("must be at least {MIN_CHECK_MINUTES}, got {minutes}"),
        ));
    }
    let Some(raw) = present(url) else {
        return Ok(None);
    };
    // The value is a credential: errors never repeat it.
    let parsed = Url::parse(&raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "https" | "http"))
        .and_then(|u| u.host_str().map(str::to_string))
        .ok_or_else(|| bad("BUILD_HOOK_URL", "must be an http(s) URL"))?;
    Ok(Some(BuildHookConfig {
        url: Secret::new(raw),
        host: parsed,
        on,
        check_every: Duration::from_secs(minutes * 60),
    }))
}

/// BUILD_HOOK_ON: any of `new_post`, `removed_post`, `token`, separated by
/// commas or spaces; `new_post` when unset.
fn parse_on(raw: Option<String>) -> Result<HookOn, ConfigError> {
    let Some(raw) = present(raw) else {
        return Ok(HookOn {
            new_post: true,
            ..HookOn::default()
        });
    };
    let mut on = HookOn::default();
    for word in raw
        .split([',', ' '])
        .map(str::trim)
        .filter(|w| !w.is_empty())
    {
        match word.to_ascii_lowercase().as_str() {
            "new_post" => on.new_post = true,
            "removed_post" => on.removed_post = true,
            "token" => on.token = true,
            _ => {
                return Err(bad(
                    "BUILD_HOOK_ON",
                    format!("entries are new_post, removed_post or token, got {word:?}"),
                ));
            }
        }
    }
    Ok(on)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn the_hook_is_off_unless_its_url_is_set() {
        assert!(parse(None, None, None).unwrap().is_none());
        let hook = parse(s("https://api.netlify.com/build_hooks/abc123"), None, None)
            .unwrap()
            .unwrap();
        assert_eq!(hook.host, "api.netlify.com");
        assert_eq!(
            hook.on,
            HookOn {
                new_post: true,
                ..HookOn::default()
            }
        );
        assert_eq!(hook.check_every, Duration::from_secs(15 * 60));
    }

    #[test]
    fn bad_values_name_the_variable_and_never_repeat_the_url() {
        let error = parse(s("ftp://hooks.example/SECRETPATH"), None, None).unwrap_err();
        assert_eq!(error.var, "BUILD_HOOK_URL");
        assert!(!error.to_string().contains("SECRETPATH"), "{error}");
        let error = parse(None, s("new_post, deploy"), None).unwrap_err();
        assert_eq!(error.var, "BUILD_HOOK_ON");
        let error = parse(None, None, s("4")).unwrap_err();
        assert_eq!(error.var, "BUILD_HOOK_CHECK_MINUTES");
        let on = parse_on(s("token removed_post,NEW_POST")).unwrap();
        assert_eq!(
            on,
            HookOn {
                new_post: true,
                removed_post: true,
                token: true
            }
        );
    }
}

//! The agent's own public URL, for the links it makes.
//!
//! Inside a request: APP_URL when set, else the URL the request itself came
//! to (see `http/request_url.rs`). Outside one (expiry warnings, `hook-url`,
//! the User-Agent): APP_URL, else the platform's variable
//! (HEROKU_APP_DEFAULT_DOMAIN_NAME, RENDER_EXTERNAL_URL, FLY_APP_NAME), else
//! the URL of the last signed-in admin request, stored in the database;
//! else it is not known yet, and what uses it says so.
//!
//! Only a signed-in admin request is ever remembered: a stranger's `Host`
//! header changes their own answer and nothing anyone else is shown or sent.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use url::Url;

use crate::config::Config;
use crate::store::{Store, StoreError};

/// The settings key of the last signed-in admin request's URL.
const SEEN_KEY: &str = "public_url_seen";

/// Where the public URL used outside requests comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Known {
    /// From a variable: APP_URL or the platform's.
    Configured { url: Url, var: &'static str },
    /// From the last signed-in admin request.
    SignedIn(Url),
    /// No variable names it and no admin has signed in yet.
    Unknown,
}

impl Known {
    pub fn url(&self) -> Option<&Url> {
        match self {
            Known::Configured { url, .. } | Known::SignedIn(url) => Some(url),
            Known::Unknown => None,
        }
    }
}

/// What to say where the public URL is not known yet.
pub const UNKNOWN: &str =
    "this agent does not know its public URL yet: set APP_URL, or open /admin once";

pub struct PublicUrl {
    /// APP_URL, when set.
    app_url: Option<Url>,
    /// APP_URL or else the platform's variable.
    configured: Option<(Url, &'static str)>,
    /// The last signed-in admin request's URL, as stored.
    seen: ArcSwapOption<Url>,
    /// `http://localhost:PORT`, for a request that names no host at all.
    this_machine: Url,
}

impl PublicUrl {
    pub fn new(config: &Config) -> PublicUrl {
        PublicUrl {
            app_url: config.app_url.clone(),
            configured: config.configured_url().map(|(u, var)| (u.clone(), var)),
            seen: ArcSwapOption::empty(),
            this_machine: Url::parse(&format!("http://localhost:{}", config.port))
                .expect("a localhost URL parses"),
        }
    }

    /// The URL for links made outside a request, and where it came from.
    pub fn known(&self) -> Known {
        if let Some((url, var)) = &self.configured {
            return Known::Configured {
                url: url.clone(),
                var,
            };
        }
        match self.seen.load_full() {
            Some(url) => Known::SignedIn((*url).clone()),
            None => Known::Unknown,
        }
    }

    /// [`PublicUrl::known`], with the stored admin URL read again first, so
    /// that what another instance remembered counts here too.
    pub async fn known_now(&self, store: &Store) -> Known {
        if self.configured.is_none() {
            match store.setting(SEEN_KEY).await {
                Ok(Some(raw)) => {
                    if let Ok(url) = Url::parse(&raw) {
                        self.seen.store(Some(Arc::new(url)));
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot read the remembered public URL"),
            }
        }
        self.known()
    }

    /// The base for links in the answer to a request that came to
    /// `detected`: APP_URL when set, else `detected`, else the URL known
    /// outside requests, else this machine (a request with no Host at all).
    pub fn for_request(&self, detected: Option<&Url>) -> Url {
        self.app_url
            .as_ref()
            .or(detected)
            .cloned()
            .or_else(|| self.known().url().cloned())
            .unwrap_or_else(|| self.this_machine.clone())
    }

    /// The base for links in an answer that a shared cache may keep and
    /// hand to others (the feed's paging links), for a request whose Host
    /// (and a trusted proxy's scheme) make `host_url`: APP_URL when set,
    /// else the URL known outside requests when it names the same host
    /// (its scheme is the platform's or the owner's), else `host_url`.
    pub fn for_shared_answer(&self, host_url: Option<&Url>) -> Url {
        if let Some(url) = &self.app_url {
            return url.clone();
        }
        let known = self.known();
        // The scheme of a plain Host is a guess; the port, when given, is not.
        let same_site = |known: &Url, here: &Url| {
            known.host_str() == here.host_str()
                && (here.port().is_none()
                    || here.port_or_known_default() == known.port_or_known_default())
        };
        match (known.url(), host_url) {
            (Some(known), Some(here)) if same_site(known, here) => known.clone(),
            (_, Some(here)) => here.clone(),
            (Some(known), None) => known.clone(),
            (None, None) => self.this_machine.clone(),
        }
    }

    /// Keeps `url`, the URL a signed-in admin request came to, for work
    /// outside requests when no variable names the public URL. Written only
    /// when it changes. Never call this for a request that is not signed in.
    pub async fn remember_signed_in(&self, store: &Store, url: &Url) -> Result<(), StoreError> {
        if self.configured.is_some() || self.seen.load().as_deref() == Some(url) {
            return Ok(());
        }
        store.set_setting(SEEN_KEY, url.as_str()).await?;
        self.seen.store(Some(Arc::new(url.clone())));
        tracing::info!(url = %url, "public URL taken from the signed-in admin request (set APP_URL to fix it)");
        Ok(())
    }

    /// Joins `path` (no leading slash) to the URL known outside requests, or
    /// says plainly that it is not known yet.
    pub fn link(&self, path: &str) -> Result<String, &'static str> {
        match self.known().url() {
            Some(url) => Ok(join(url, path)),
            None => Err(UNKNOWN),
        }
    }
}

/// `base` + `path` (no leading slash), whatever path `base` has.
pub fn join(base: &Url, path: &str) -> String {
    format!("{}/{path}", base.as_str().trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Config {
        Config::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap()
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn a_request_uses_app_url_when_set_and_its_own_url_otherwise() {
        let detected = url("https://my-app-1a2b3c4d5e6f.herokuapp.com");
        let set = PublicUrl::new(&config(&[("APP_URL", "https://tokens.example.com")]));
        assert_eq!(
            set.for_request(Some(&detected)).as_str(),
            "https://tokens.example.com/"
        );
        let unset = PublicUrl::new(&config(&[(
            "HEROKU_APP_DEFAULT_DOMAIN_NAME",
            "other-000000000000.herokuapp.com",
        )]));
        assert_eq!(unset.for_request(Some(&detected)), detected);
        assert_eq!(
            unset.for_request(None).as_str(),
            "https://other-000000000000.herokuapp.com/"
        );
        let nothing = PublicUrl::new(&config(&[]));
        assert_eq!(nothing.for_request(None).as_str(), "http://localhost:3000/");
    }

    #[test]
    fn a_shared_answer_takes_the_platforms_scheme_for_the_platforms_host() {
        let render = PublicUrl::new(&config(&[(
            "RENDER_EXTERNAL_URL",
            "https://tokens.onrender.com",
        )]));
        // Render's proxy is not believed, so the request looks plain.
        let here = url("http://tokens.onrender.com/");
        assert_eq!(
            render.for_shared_answer(Some(&here)).as_str(),
            "https://tokens.onrender.com/"
        );
        let custom = url("http://tokens.example.com/");
        assert_eq!(render.for_shared_answer(Some(&custom)), custom);
        let set = PublicUrl::new(&config(&[("APP_URL", "https://a.example")]));
        assert_eq!(
            set.for_shared_answer(Some(&custom)).as_str(),
            "https://a.example/"
        );
    }

    #[test]
    fn outside_a_request_an_unknown_url_is_said_plainly() {
        let nothing = PublicUrl::new(&config(&[]));
        assert_eq!(nothing.known(), Known::Unknown);
        assert_eq!(nothing.link("admin"), Err(UNKNOWN));
        let fly = PublicUrl::new(&config(&[("FLY_APP_NAME", "tokens")]));
        assert_eq!(fly.link("admin").unwrap(), "https://tokens.fly.dev/admin");
    }

    #[test]
    fn a_path_joins_a_base_with_or_without_its_own_path() {
        assert_eq!(
            join(&url("https://a.example"), "x/y"),
            "https://a.example/x/y"
        );
        assert_eq!(
            join(&url("https://a.example/agent/"), "x"),
            "https://a.example/agent/x"
        );
    }
}

//! Connecting an account through Meta's login windows, instead of pasting a
//! token from a generator: Instagram Login (refreshable tokens) and
//! Facebook Login (hashtags; not refreshable, so the owner reconnects).

use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::app::App;
use crate::config::AppCredentials;
use crate::domain::AccountName;
use crate::schedule;
use crate::store::{AccountKind, NewToken, StateClaim, StoreError};
use crate::upstream::{AppToken, UpstreamError};

/// How long the owner has to finish the login window.
pub const STATE_LIFETIME: Duration = Duration::minutes(10);
const INSTAGRAM_SCOPE: &str = "instagram_business_basic";
/// `business_management`: since Graph v17 `/me/accounts` lists Pages owned
/// through a business portfolio only when it is granted (Graph v17
/// changelog, quoted in fbsamples/reels_publishing_apis#38).
const FACEBOOK_SCOPE: &str =
    "instagram_basic,pages_show_list,pages_read_engagement,business_management";
/// The settings key the status page reads the last connect result from.
pub const LAST_CONNECT: &str = "last_connect";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    Instagram,
    Facebook,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Instagram => "instagram",
            Provider::Facebook => "facebook",
        }
    }

    pub fn kind(self) -> AccountKind {
        match self {
            Provider::Instagram => AccountKind::Instagram,
            Provider::Facebook => AccountKind::Facebook,
        }
    }

    fn credentials(self, app: &App) -> Option<&AppCredentials> {
        match self {
            Provider::Instagram => app.config.instagram_app.as_ref(),
            Provider::Facebook => app.config.facebook_app.as_ref(),
        }
    }

    /// The redirect URI on `base`, the agent's URL for this login (APP_URL,
    /// else the URL the admin's request came to).
    pub fn callback_url(self, base: &Url) -> String {
        crate::public_url::join(base, &format!("connect/{}/callback", self.as_str()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0} is not set up: set {1}")]
    NotConfigured(&'static str, &'static str),
    #[error("this login link has expired or was already used; start again from the admin page")]
    BadState,
    #[error("the login was cancelled{0}")]
    Denied(String),
    #[error("Meta did not accept the login: {0}{advice}", advice = advice(.0))]
    Upstream(#[from] UpstreamError),
    #[error("{0}")]
    NoInstagramAccount(String),
    /// The database failed; its text stays in the log (`request_id`).
    #[error(
        "the agent could not store the account; try again shortly (request id {request_id} in the agent's log)"
    )]
    Store { request_id: String },
}

/// Meta's refusal, with what to do about it when that is known.
fn advice(error: &UpstreamError) -> String {
    error.advice().map(|a| format!("; {a}")).unwrap_or_default()
}

impl From<StoreError> for ConnectError {
    fn from(error: StoreError) -> ConnectError {
        ConnectError::Store {
            request_id: crate::telemetry::log_internal(
                "a connect could not use the database",
                error,
            ),
        }
    }
}

/// What the status page shows about the last connect attempt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConnectNotice {
    pub at: i64,
    pub account: String,
    pub outcome: String,
    pub message: String,
}

/// A login begun: where to send the owner's browser, and the value its
/// cookie must carry back to the callback (a MAC of the `state` under the
/// agent's key), so that only the browser that started the login can
/// finish it.
#[derive(Debug)]
pub struct Started {
    pub authorize_url: String,
    pub browser_binding: String,
}

/// The cookie value that ties a `state` to the browser that started it.
/// The state travels in URLs anyone along the way may see; this value is
/// given only to the starting browser, in an HttpOnly cookie, and cannot be
/// made from the state without the agent's key (shared by its processes
/// through the database, so any of them may finish the login).
pub fn browser_binding(app: &App, state: &str) -> String {
    let message = format!("token-agent connect binding {state}");
    crate::signing::hmac_sha256_hex(app.form_key.expose().as_bytes(), message.as_bytes())
}

/// Where to send the owner's browser to log in: the authorize window with
/// a fresh single-use `state`, and a redirect URI on `base` that is stored
/// with the state so that the callback exchanges the identical value.
pub async fn start(
    app: &App,
    provider: Provider,
    account: &AccountName,
    base: &Url,
) -> Result<Started, ConnectError> {
    let credentials = provider.credentials(app).ok_or(match provider {
        Provider::Instagram => ConnectError::NotConfigured(
            "Instagram Login",
            "INSTAGRAM_APP_ID and INSTAGRAM_APP_SECRET",
        ),
        Provider::Facebook => {
            ConnectError::NotConfigured("Facebook Login", "FACEBOOK_APP_ID and FACEBOOK_APP_SECRET")
        }
    })?;
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    let state = hex::encode(bytes);
    let now = app.clock.now();
    let redirect_uri = provider.callback_url(base);
    app.store
        .save_oauth_state(
            &state,
            provider.as_str(),
            account.as_str(),
            &redirect_uri,
            now + STATE_LIFETIME,
        )
        .await?;
    let (base, scope) = match provider {
        Provider::Instagram => (
            &app.config.upstream.instagram_authorize_url,
            INSTAGRAM_SCOPE,
        ),
        Provider::Facebook => (&app.config.upstream.facebook_dialog_url, FACEBOOK_SCOPE),
    };
    let mut url = Url::parse(base).map_err(|e| UpstreamError::rejected(&e.to_string()))?;
    // Facebook Login for Business names a dashboard configuration instead
    // of the permissions (Meta's IG-with-Facebook-Login get-started guide).
    let permissions = match (provider, &app.config.facebook_config_id) {
        (Provider::Facebook, Some(config_id)) => ("config_id", config_id.as_str()),
        _ => ("scope", scope),
    };
    url.query_pairs_mut()
        .append_pair("client_id", &credentials.id)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("response_type", "code")
        .append_pair(permissions.0, permissions.1)
        .append_pair("state", &state);
    Ok(Started {
        authorize_url: url.to_string(),
        browser_binding: browser_binding(app, &state),
    })
}

/// The login window's answer, as query parameters of the callback.
#[derive(Debug, Default, Deserialize)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_reason: Option<String>,
    pub error_description: Option<String>,
    pub error_message: Option<String>,
}

/// Finishes a login: checks that `state` is one this agent issued to the
/// browser that comes back (`binding`, from its cookie), exchanges the code
/// for a long-lived token and stores the account. What happens to a login
/// the owner started is recorded for the status page; a callback with a
/// state this browser was never given changes nothing and records nothing
/// (`None`), so a stranger can neither attach an account nor write the notice.
pub async fn finish(
    app: &App,
    provider: Provider,
    params: &CallbackParams,
    binding: Option<&str>,
) -> Option<ConnectNotice> {
    let now = app.clock.now();
    let state = params.state.as_deref()?;
    let bound = binding.is_some_and(|b| {
        subtle::ConstantTimeEq::ct_eq(b.as_bytes(), browser_binding(app, state).as_bytes()).into()
    });
    if !bound {
        tracing::warn!(
            provider = provider.as_str(),
            "a connect callback came from a browser that did not start it; ignored"
        );
        return None;
    }
    let claimed = app
        .store
        .take_oauth_state(state, provider.as_str(), now)
        .await;
    let (account, result) = match claimed {
        Ok(StateClaim::Account {
            account,
            redirect_uri,
        }) => {
            let result = exchange(app, provider, &account, &redirect_uri, params).await;
            (account, result)
        }
        Ok(StateClaim::Unknown) => return None,
        Ok(StateClaim::Expired) => (String::new(), Err(ConnectError::BadState)),
        Err(e) => (String::new(), Err(e.into())),
    };
    let notice = match &result {
        Ok(Connected::As(username)) => ConnectNotice {
            at: now.timestamp_millis(),
            account: account.clone(),
            outcome: "connected".into(),
            message: format!(
                "Connected {} with {}{}.",
                account,
                match provider {
                    Provider::Instagram => "Instagram Login",
                    Provider::Facebook => "Facebook Login",
                },
                username
                    .as_deref()
                    .map(|u| format!(" as @{u}"))
                    .unwrap_or_default()
            ),
        },
        Ok(Connected::Choose(count)) => ConnectNotice {
            at: now.timestamp_millis(),
            account: account.clone(),
            outcome: "choose".into(),
            message: format!(
                "Connected {account} with Facebook Login; its Pages have {count} Instagram accounts: choose one on the admin page."
            ),
        },
        Err(e) => ConnectNotice {
            at: now.timestamp_millis(),
            account: account.clone(),
            outcome: if matches!(e, ConnectError::Denied(_)) {
                "denied"
            } else {
                "failed"
            }
            .into(),
            message: e.to_string(),
        },
    };
    match &result {
        Ok(_) => {
            tracing::info!(account = %account, provider = provider.as_str(), "account connected")
        }
        Err(e) => {
            tracing::warn!(account = %account, provider = provider.as_str(), error = %e, "connect failed")
        }
    }
    let json = serde_json::to_string(&notice).unwrap_or_default();
    if let Err(e) = app.store.set_setting(LAST_CONNECT, &json).await {
        tracing::warn!(error = %e, "could not record the connect result");
    }
    Some(notice)
}

async fn exchange(
    app: &App,
    provider: Provider,
    account: &str,
    redirect_uri: &str,
    params: &CallbackParams,
) -> Result<Connected, ConnectError> {
    if params.error.is_some() || params.error_message.is_some() {
        let why = params
            .error_description
            .as_deref()
            .or(params.error_message.as_deref())
            .or(params.error_reason.as_deref())
            .map(|d| format!(": {}", d.chars().take(200).collect::<String>()))
            .unwrap_or_default();
        return Err(ConnectError::Denied(why));
    }
    let code = params
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or(ConnectError::Denied(String::new()))?;
    let credentials = provider
        .credentials(app)
        .ok_or(ConnectError::NotConfigured(
            "this login",
            "the app id and secret",
        ))?;
    // The value the login window was opened with; a flow begun before it
    // was stored falls back to the URL known outside requests.
    let redirect = match redirect_uri {
        "" => app
            .public_url
            .link(&format!("connect/{}/callback", provider.as_str()))
            .unwrap_or_default(),
        stored => stored.to_string(),
    };
    let upstream = &app.upstream;
    let now = app.clock.now();
    let mut choices = Vec::new();
    let stored = match provider {
        Provider::Instagram => {
            let short = upstream
                .exchange_instagram_code(
                    &credentials.id,
                    credentials.secret.expose(),
                    &redirect,
                    code,
                )
                .await?;
            let long = upstream
                .exchange_instagram_long_lived(credentials.secret.expose(), &short.access_token)
                .await?;
            let profile = upstream.instagram_me(&long.access_token).await?;
            let expires_at = now
                + Duration::seconds(
                    long.expires_in
                        .unwrap_or(schedule::TOKEN_LIFETIME.num_seconds()),
                );
            StoredConnection {
                token: long.access_token,
                user_id: Some(profile.user_id.unwrap_or(short.user_id)),
                scoped_user_id: Some(profile.id),
                username: profile.username,
                expires_at,
                next_refresh_at: Some(schedule::next_refresh(
                    app.config.refresh_mode,
                    now,
                    Some(expires_at),
                )),
            }
        }
        Provider::Facebook => {
            let short = upstream
                .exchange_facebook_code(
                    &credentials.id,
                    credentials.secret.expose(),
                    &redirect,
                    code,
                )
                .await?;
            let long = upstream
                .exchange_facebook_long_lived(
                    &credentials.id,
                    credentials.secret.expose(),
                    &short.access_token,
                )
                .await?;
            let identity = facebook_identity(app, &long.access_token).await?;
            choices = identity.choices;
            let expires_at = match long.expires_in {
                Some(seconds) => now + Duration::seconds(seconds),
                None => debug_token_expiry(app, credentials, &long.access_token)
                    .await
                    .unwrap_or(now + schedule::TOKEN_LIFETIME),
            };
            StoredConnection {
                token: long.access_token,
                user_id: identity.user_id,
                scoped_user_id: identity.scoped_user_id,
                username: identity.username,
                expires_at,
                next_refresh_at: None,
            }
        }
    };
    app.store
        .put_token(
            &NewToken {
                name: account.to_string(),
                kind: provider.kind(),
                token: stored.token,
                user_id: stored.user_id,
                username: stored.username.clone(),
                issued_at: Some(now),
                expires_at: Some(stored.expires_at),
                next_refresh_at: stored.next_refresh_at,
            },
            now,
        )
        .await?;
    app.store
        .set_scoped_user_id(account, stored.scoped_user_id.as_deref())
        .await?;
    let pending = serde_json::to_string(&choices).unwrap_or_else(|_| "[]".into());
    app.store
        .set_setting(&crate::profile::choices_key(account), &pending)
        .await?;
    app.feeds.forget_account(account).await;
    if let Some(stored) = app.store.account(account).await? {
        app.board.put(&stored);
    }
    if !choices.is_empty() {
        return Ok(Connected::Choose(choices.len()));
    }
    Ok(Connected::As(stored.username))
}

/// A finished exchange: connected as a username, or waiting for the owner
/// to choose among this many Instagram accounts on the admin page.
enum Connected {
    As(Option<String>),
    Choose(usize),
}

struct StoredConnection {
    token: String,
    user_id: Option<String>,
    scoped_user_id: Option<String>,
    username: Option<String>,
    expires_at: DateTime<Utc>,
    next_refresh_at: Option<DateTime<Utc>>,
}

/// The Instagram business account behind a Facebook user token (`None`
/// when its Pages have several and the owner must choose), its username,
/// and the Facebook user's app-scoped id.
async fn facebook_identity(
    app: &App,
    token: &str,
) -> Result<crate::profile::Profile, ConnectError> {
    let profile = crate::profile::facebook_profile(&app.upstream, token, None)
        .await
        .map_err(|e| match e {
            crate::profile::ProfileError::Upstream(e) => ConnectError::Upstream(e),
            other => ConnectError::NoInstagramAccount(other.to_string()),
        })?;
    if profile.user_id.is_none() && profile.choices.is_empty() {
        return Err(ConnectError::NoInstagramAccount(
            "none of the Facebook Pages you granted has an Instagram professional account linked; link one in the Page's settings (for a Page of a business portfolio, also grant business management), then connect again".into(),
        ));
    }
    Ok(profile)
}

/// The expiry `debug_token` reports, when the exchange did not say.
async fn debug_token_expiry(
    app: &App,
    credentials: &AppCredentials,
    token: &str,
) -> Option<DateTime<Utc>> {
    let app_token = AppToken::new(&credentials.id, credentials.secret.expose());
    app.upstream
        .debug_token(token, &app_token)
        .await
        .ok()?
        .expires_at
}

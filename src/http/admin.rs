//! The admin gate (HTTP Basic auth with ADMIN_PASSWORD, failed sign-ins
//! slowed per client: `signin.rs`) and the admin actions behind it.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::client;
use super::error::{ApiError, Onward, PageError};
use super::signin::SignIns;
use super::{form, with_app};
use crate::accounts;
use crate::app::App;
use crate::domain::{AccountName, ClientKey};
use crate::pages;
use crate::refresher;
use crate::signing::same_secret;
use crate::store::AccountKind;

/// The password from `Authorization: Basic …`, whatever the user name.
fn basic_password(authorization: &str) -> Option<String> {
    // The scheme is case-insensitive (RFC 9110 §11.1): `Basic`, `basic`, `BASIC`.
    let (scheme, encoded) = authorization.trim_start().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':')
        .map(|(_, password)| password.to_string())
}

/// Passes only requests signed in with ADMIN_PASSWORD; `sign_ins` slows
/// each client's failures down.
pub fn gate(
    app: Arc<App>,
    sign_ins: Arc<SignIns>,
) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization")
        .and(client::client(app.clone()))
        .and_then(move |authorization: Option<String>, client: ClientKey| {
            let app = app.clone();
            let sign_ins = sign_ins.clone();
            async move {
                let Some(password) = &app.config.admin_password else {
                    return Err(warp::reject::custom(ApiError::missing(
                        "admin_disabled",
                        "Admin pages are off. Set ADMIN_PASSWORD to turn them on.",
                    )));
                };
                // No credentials yet: the browser's first request, which
                // asks for them. Nothing to count.
                let Some(given) = authorization.as_deref().and_then(basic_password) else {
                    return Err(warp::reject::custom(ApiError::Unauthorized));
                };
                // The right password gets in at once, whatever else comes
                // from the same address.
                if sign_ins.check(client, &given, password.expose()).await {
                    Ok(())
                } else {
                    tracing::warn!(%client, "failed admin sign-in");
                    Err(warp::reject::custom(ApiError::Unauthorized))
                }
            }
        })
        .untuple_one()
}

/// `GET /admin` and its POST actions, behind the gate.
pub fn routes(
    app: Arc<App>,
    gate: impl Filter<Extract = (), Error = Rejection> + Clone + Send + Sync + 'static,
) -> BoxedFilter<(Response,)> {
    let with_app = with_app(app);
    let page = warp::path!("admin")
        .and(warp::get().or(warp::head()).unify())
        .and(gate.clone())
        .and(super::request_url::detected())
        .and(with_app.clone())
        .then(admin_page);
    let put = warp::path!("admin" / "accounts")
        .and(warp::post())
        .and(gate.clone())
        .and(with_app.clone())
        .and(form())
        .then(put_token)
        .map(on_admin_page);
    let refresh = warp::path!("admin" / "accounts" / String / "refresh")
        .and(warp::post())
        .and(gate.clone())
        .and(with_app.clone())
        .and(form())
        .then(refresh_now)
        .map(on_admin_page);
    let removal = warp::path!("admin" / "accounts" / String / "remove")
        .and(warp::post())
        .and(gate.clone())
        .and(with_app.clone())
        .and(form())
        .then(remove)
        .map(on_admin_page);
    let choice = warp::path!("admin" / "accounts" / String / "instagram")
        .and(warp::post())
        .and(gate.clone())
        .and(with_app.clone())
        .and(form())
        .then(choose_instagram)
        .map(on_admin_page);
    let hashtags = warp::path!("admin" / "hashtags")
        .and(warp::post())
        .and(gate)
        .and(with_app)
        .and(form())
        .then(hashtag)
        .map(on_admin_page);
    page.or(put)
        .unify()
        .or(choice)
        .unify()
        .or(hashtags)
        .unify()
        .or(refresh)
        .unify()
        .or(removal)
        .unify()
        .boxed()
}

/// An admin action's answer: its result page, or its failure's, each
/// leading back to the admin page.
fn on_admin_page(answer: Result<Response, PageError>) -> Response {
    answer.unwrap_or_else(|e| e.page(Onward::Admin))
}

/// `GET /admin`. A signed-in request's URL is remembered for work outside
/// requests while no variable names the public URL.
async fn admin_page(detected: Option<url::Url>, app: Arc<App>) -> Response {
    if let Some(url) = &detected
        && let Err(e) = app.public_url.remember_signed_in(&app.store, url).await
    {
        tracing::warn!(error = %e, "cannot store the public URL of the admin page");
    }
    let base = pages::base_url(&app, detected.as_ref());
    let hook = app
        .config
        .webhook_secret
        .as_ref()
        .map(|secret| format!("{base}/{}", crate::hook::hook_path(secret.expose())));
    pages::admin(&app, &csrf_token(&app), hook.as_deref(), detected.as_ref()).await
}

/// How long an admin form stays good after the page was shown.
const FORM_LIFETIME: chrono::Duration = chrono::Duration::hours(12);

/// The token every admin form carries, so another site cannot make a
/// signed-in browser post to the admin actions: `EXPIRY.MAC`, the expiry in
/// Unix seconds and HMAC-SHA256 of it under the app's random form key
/// (never the password, so a form seen gives nothing to guess it by).
pub fn csrf_token(app: &App) -> String {
    let expires = (app.clock.now() + FORM_LIFETIME).timestamp();
    format!("{expires}.{}", form_mac(app, expires))
}

fn form_mac(app: &App, expires: i64) -> String {
    let message = format!("token-agent admin form until {expires}");
    crate::signing::hmac_sha256_hex(app.form_key.expose().as_bytes(), message.as_bytes())
}

fn csrf_ok(app: &App, form: &HashMap<String, String>) -> bool {
    let Some((expires, mac)) = form.get("csrf").and_then(|t| t.split_once('.')) else {
        return false;
    };
    let Ok(expires) = expires.parse::<i64>() else {
        return false;
    };
    expires > app.clock.now().timestamp() && same_secret(mac, &form_mac(app, expires))
}

/// The form carries a current admin form token, or the 403 that says so.
pub(super) fn check_form(app: &App, form: &HashMap<String, String>) -> Result<(), PageError> {
    if csrf_ok(app, form) {
        Ok(())
    } else {
        Err(PageError::FormExpired)
    }
}

/// `POST /admin/accounts/{name}/refresh`
async fn refresh_now(
    name: String,
    app: Arc<App>,
    form: HashMap<String, String>,
) -> Result<Response, PageError> {
    check_form(&app, &form)?;
    let outcome = refresher::refresh_account(&app, &name, true)
        .await
        .map_err(|e| {
            PageError::unavailable("Refresh could not run", "an admin refresh could not run", e)
        })?;
    let title = format!("Refresh of {name}");
    if outcome.is_failure() {
        return Err(PageError::Upstream {
            title: title.into(),
            text: outcome.describe().into(),
        });
    }
    Ok(pages::done(&title, &outcome.describe()))
}

/// `POST /admin/accounts/{name}/instagram` (with `ig_user`): which of a
/// Facebook-Login account's Instagram accounts it serves.
async fn choose_instagram(
    name: String,
    app: Arc<App>,
    form: HashMap<String, String>,
) -> Result<Response, PageError> {
    check_form(&app, &form)?;
    let ig_user = form.get("ig_user").map(|v| v.trim()).unwrap_or_default();
    accounts::choose_instagram(&app, &name, ig_user)
        .await
        .map_err(|e| match e {
            crate::profile::ProfileError::NotAChoice(why) => PageError::invalid("Not saved", why),
            e => PageError::unavailable("Not saved", "an Instagram account choice failed", e),
        })?;
    Ok(pages::done(
        "Saved",
        &format!("{name} now serves Instagram account {ig_user}."),
    ))
}

/// `POST /admin/accounts/{name}/remove` (with `confirm=yes`)
async fn remove(
    name: String,
    app: Arc<App>,
    form: HashMap<String, String>,
) -> Result<Response, PageError> {
    check_form(&app, &form)?;
    if form.get("confirm").map(String::as_str) != Some("yes") {
        return Err(PageError::invalid(
            "Not removed",
            "Tick the confirmation box to remove the account.",
        ));
    }
    let removed = app
        .remove_account(&name)
        .await
        .map_err(|e| PageError::unavailable("Not removed", "an admin removal failed", e))?;
    if !removed {
        return Err(PageError::NotFound {
            title: "Not found",
            text: format!("There is no account {name}.").into(),
        });
    }
    Ok(pages::done(
        "Removed",
        &format!("The account {name} and its token are gone."),
    ))
}

/// `POST /admin/hashtags` (`tag`, `action=allow|withdraw`): which tags the
/// hashtag URLs may look up, besides HASHTAGS.
async fn hashtag(app: Arc<App>, form: HashMap<String, String>) -> Result<Response, PageError> {
    check_form(&app, &form)?;
    let tag = form
        .get("tag")
        .and_then(|t| crate::domain::parse_hashtag(t.trim()))
        .ok_or_else(|| {
            PageError::invalid(
                "Not changed",
                "A hashtag is 1 to 100 letters, digits or underscores.",
            )
        })?;
    let allow = form.get("action").map(String::as_str) != Some("withdraw");
    accounts::approve_hashtag(&app, &tag, allow)
        .await
        .map_err(|e| PageError::unavailable("Not changed", "a hashtag could not be allowed", e))?;
    Ok(if allow {
        pages::done("Hashtag allowed", &format!("#{tag} may now be looked up."))
    } else {
        pages::done(
            "Hashtag withdrawn",
            &format!("#{tag} is no longer looked up (unless HASHTAGS names it)."),
        )
    })
}

/// `POST /admin/accounts`: add an account or replace its token by pasting one.
async fn put_token(app: Arc<App>, form: HashMap<String, String>) -> Result<Response, PageError> {
    check_form(&app, &form)?;
    let name = form.get("name").map(|n| n.trim()).unwrap_or_default();
    let token = form.get("token").map(|t| t.trim()).unwrap_or_default();
    let kind = form
        .get("kind")
        .map(String::as_str)
        .unwrap_or("instagram")
        .parse::<AccountKind>()
        .map_err(|e| PageError::invalid("Not saved", e))?;
    let name = AccountName::parse(name).map_err(|_| {
        PageError::invalid(
            "Not saved",
            "Account names are 1 to 64 letters, digits, - or _.",
        )
    })?;
    if token.is_empty() || token.len() > 2048 || token.chars().any(char::is_whitespace) {
        return Err(PageError::invalid(
            "Not saved",
            "Paste the whole token, without spaces.",
        ));
    }
    let ig_user = form
        .get("ig_user")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty());
    let pasted = accounts::paste_token(&app, &name, kind, token, ig_user)
        .await
        .map_err(|e| {
            PageError::unavailable(
                "Could not finish",
                "a pasted token could not be stored or checked",
                e,
            )
        })?;
    Ok(pages::done(
        &format!("Token saved for {name}"),
        &pasted.describe(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_read_from_basic_auth_whatever_the_user() {
        let header = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("anyone:pa:ss")
        );
        assert_eq!(basic_password(&header).as_deref(), Some("pa:ss"));
        let shouted = header.replacen("Basic", "BASIC", 1);
        assert_eq!(basic_password(&shouted).as_deref(), Some("pa:ss"));
        assert_eq!(basic_password("Bearer abc"), None);
        assert_eq!(basic_password("Basic !!!"), None);
    }

    #[test]
    fn secrets_compare_equal_only_when_equal() {
        assert!(same_secret("hunter2", "hunter2"));
        assert!(!same_secret("hunter2", "hunter3"));
        assert!(!same_secret("", "hunter2"));
    }
}

//! `GET /connect/{instagram,facebook}` (admin) sends the owner to Meta's
//! login window; `GET /connect/{provider}/callback` is where Meta sends them
//! back. The flow itself is in `src/connect.rs`.

use std::collections::HashMap;
use std::sync::Arc;

use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::error::{Onward, PageError};
use super::{form, with_app};
use crate::app::App;
use crate::connect::{self, CallbackParams, Provider};
use crate::domain::{AccountName, DEFAULT_ACCOUNT};
use crate::pages;

/// The cookie that ties a login to the browser that started it.
const COOKIE: &str = "token_agent_connect";

pub fn routes(
    app: Arc<App>,
    gate: impl Filter<Extract = (), Error = Rejection> + Clone + Send + Sync + 'static,
) -> BoxedFilter<(Response,)> {
    let provider = warp::path::param::<String>().and_then(|p: String| async move {
        match p.as_str() {
            "instagram" => Ok(Provider::Instagram),
            "facebook" => Ok(Provider::Facebook),
            _ => Err(warp::reject::not_found()),
        }
    });
    let confirm = warp::path("connect")
        .and(provider)
        .and(warp::path::end())
        .and(warp::get())
        .and(gate.clone())
        .and(warp::query::<HashMap<String, String>>())
        .and(with_app(app.clone()))
        .map(confirm);
    let start = warp::path("connect")
        .and(provider)
        .and(warp::path::end())
        .and(warp::post())
        .and(gate)
        .and(form())
        .and(super::request_url::detected())
        .and(with_app(app.clone()))
        .then(start);
    let callback = warp::path("connect")
        .and(provider)
        .and(warp::path!("callback"))
        .and(warp::get())
        .and(warp::query::<CallbackParams>())
        .and(warp::cookie::optional::<String>(COOKIE))
        .and(with_app(app))
        .then(callback);
    confirm.or(start).unify().or(callback).unify().boxed()
}

fn account_of(form: &HashMap<String, String>) -> Option<AccountName> {
    let name = form
        .get("account")
        .map(String::as_str)
        .unwrap_or(DEFAULT_ACCOUNT);
    AccountName::parse(name.trim()).ok()
}

fn bad_name() -> PageError {
    PageError::invalid(
        "Not connected",
        "Account names are 1 to 64 letters, digits, - or _.",
    )
}

/// `GET /connect/{provider}?account=NAME`: a page with one button, so that
/// a link (from a warning e-mail, say) cannot start a login by itself.
fn confirm(provider: Provider, query: HashMap<String, String>, app: Arc<App>) -> Response {
    let Some(account) = account_of(&query) else {
        return bad_name().page(Onward::Nowhere);
    };
    pages::connect(
        &app,
        provider.as_str(),
        account.as_str(),
        &super::admin::csrf_token(&app),
    )
}

/// `POST /connect/{provider}`: to Meta's login window, with the cookie the
/// callback checks. The redirect URI is on APP_URL, else on the URL this
/// (signed-in) request came to.
async fn start(
    provider: Provider,
    form: HashMap<String, String>,
    detected: Option<url::Url>,
    app: Arc<App>,
) -> Response {
    login(provider, &form, detected, &app)
        .await
        .unwrap_or_else(|e| e.page(Onward::Nowhere))
}

async fn login(
    provider: Provider,
    form: &HashMap<String, String>,
    detected: Option<url::Url>,
    app: &App,
) -> Result<Response, PageError> {
    super::admin::check_form(app, form)?;
    let account = account_of(form).ok_or_else(bad_name)?;
    let base = app.public_url.for_request(detected.as_ref());
    let started = connect::start(app, provider, &account, &base).await?;
    let mut response = redirect(&started.authorize_url);
    let secure = if base.scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE}={}; Path=/connect; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
        started.browser_binding,
        connect::STATE_LIFETIME.num_seconds()
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// `GET /connect/{provider}/callback`: Meta sends the owner back here.
async fn callback(
    provider: Provider,
    params: CallbackParams,
    binding: Option<String>,
    app: Arc<App>,
) -> Response {
    match connect::finish(&app, provider, &params, binding.as_deref()).await {
        Some(_) => {
            let mut response = redirect("/status");
            let clear = format!("{COOKIE}=; Path=/connect; Max-Age=0; HttpOnly; SameSite=Lax");
            if let Ok(value) = HeaderValue::from_str(&clear) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        None => PageError::invalid(
            "Not connected",
            "This login was not started from this browser, or it was already used. Start again from the admin page.",
        )
        .page(Onward::Nowhere),
    }
}

/// 303 See Other: the owner's browser goes on to `location`.
fn redirect(location: &str) -> Response {
    let mut response = Response::default();
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

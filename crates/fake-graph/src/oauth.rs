//! Instagram Login's OAuth half: the authorization window
//! (`www.instagram.com/oauth/authorize`) and the code exchange
//! (`POST api.instagram.com/oauth/access_token`). Errors use the Instagram
//! OAuth envelope, not the Graph one.

use serde_json::{Value, json};
use url::Url;
use warp::http::Method;

use super::error::ApiError;
use super::ids;
use super::model::{AuthCode, CODE_LIFETIME, Dialog, State, TokenKind};
use super::options::{CodeExchangeShape, FakeApp};
use super::reply::Reply;
use super::request::Request;

const INSTAGRAM_SCOPES: &[&str] = &[
    "instagram_business_basic",
    "instagram_business_content_publish",
    "instagram_business_manage_comments",
    "instagram_business_manage_messages",
    "instagram_business_manage_insights",
];

const NO_MATCHING_CODE: &str = "Matching code was not found or was already used";
const REDIRECT_MISMATCH: &str = "Error validating verification code. Please make sure your \
     redirect_uri is identical to the one you used in the OAuth dialog request";

fn oauth_error(message: impl Into<String>) -> ApiError {
    ApiError::InstagramOAuth(message.into())
}

/// `api.instagram.com`: the code exchange, and the older authorize address.
pub(crate) fn handle_api(state: &mut State, request: &Request) -> Result<Reply, ApiError> {
    match request.path.as_str() {
        "/oauth/access_token" => exchange_code(state, request),
        "/oauth/authorize" => authorize(state, request),
        other => Err(oauth_error(format!("Unsupported request path: {other}"))),
    }
}

/// `www.instagram.com`: the authorization window only.
pub(crate) fn handle_www(state: &mut State, request: &Request) -> Result<Reply, ApiError> {
    match request.path.as_str() {
        "/oauth/authorize" => authorize(state, request),
        _ => Ok(Reply::html(404, page("Sorry, this page isn't available."))),
    }
}

fn page(message: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><title>Instagram</title></head>\
         <body><h1>{message}</h1></body></html>"
    )
}

/// Splits `a,b` or `a b` (a URL-encoded space) into scope names.
pub(crate) fn split_scopes(raw: &str) -> Vec<String> {
    raw.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The checks both dialogs make before showing the login window.
pub(crate) fn check_client(
    app_id: &str,
    app: &FakeApp,
    request: &Request,
) -> Result<String, ApiError> {
    if request.param("client_id") != Some(app_id) {
        return Err(oauth_error("Invalid platform app"));
    }
    let redirect_uri = request
        .param("redirect_uri")
        .filter(|uri| app.redirect_uris.iter().any(|allowed| allowed == uri))
        .ok_or_else(|| oauth_error("Invalid redirect_uri"))?;
    match request.param("response_type") {
        Some("code") => Ok(redirect_uri.to_string()),
        other => Err(oauth_error(format!(
            "Invalid response_type: {}",
            other.unwrap_or("")
        ))),
    }
}

fn authorize(state: &mut State, request: &Request) -> Result<Reply, ApiError> {
    let app = state.options.app.clone();
    let redirect_uri = check_client(&app.ig_app_id, &app, request)?;
    let scopes = split_scopes(request.param("scope").unwrap_or(""));
    if scopes.is_empty() {
        return Err(oauth_error("Invalid scope: []"));
    }
    if let Some(bad) = scopes
        .iter()
        .find(|s| !INSTAGRAM_SCOPES.contains(&s.as_str()))
    {
        return Err(oauth_error(format!("Invalid scope: [{bad}]")));
    }
    let state_param = request.param("state");
    if std::mem::take(&mut state.dialog.deny_next) {
        return Ok(Reply::redirect(&denied_location(
            &redirect_uri,
            state_param,
            "The user denied your request",
        )));
    }
    let Some(user) = state
        .dialog
        .login_as
        .or((!state.users.is_empty()).then_some(0))
    else {
        return Ok(Reply::html(
            400,
            page(
                "The fake has no Instagram account to log in with: call add_instagram_user first.",
            ),
        ));
    };
    let code = issue_code(state, Dialog::Instagram, user, &redirect_uri, scopes);
    Ok(Reply::redirect(&granted_location(
        &redirect_uri,
        &code,
        state_param,
        Some("_"),
    )))
}

pub(crate) fn issue_code(
    state: &mut State,
    dialog: Dialog,
    user: usize,
    redirect_uri: &str,
    scopes: Vec<String>,
) -> String {
    let code = ids::auth_code();
    let record = AuthCode {
        dialog,
        user,
        redirect_uri: redirect_uri.to_string(),
        scopes,
        issued_at: state.now(),
        used: false,
    };
    state.codes.insert(code.clone(), record);
    state.issued_codes.push(code.clone());
    code
}

/// `redirect_uri?code=…&state=…#_` (Instagram appends `#_`, Facebook does not).
pub(crate) fn granted_location(
    redirect_uri: &str,
    code: &str,
    state: Option<&str>,
    fragment: Option<&str>,
) -> String {
    let mut pairs = vec![("code", code)];
    pairs.extend(state.map(|s| ("state", s)));
    with_query(redirect_uri, &pairs, fragment)
}

/// `redirect_uri?error=access_denied&error_reason=user_denied&error_description=…`.
pub(crate) fn denied_location(
    redirect_uri: &str,
    state: Option<&str>,
    description: &str,
) -> String {
    let mut pairs = vec![
        ("error", "access_denied"),
        ("error_reason", "user_denied"),
        ("error_description", description),
    ];
    pairs.extend(state.map(|s| ("state", s)));
    with_query(redirect_uri, &pairs, None)
}

fn with_query(base: &str, pairs: &[(&str, &str)], fragment: Option<&str>) -> String {
    let Ok(mut url) = Url::parse(base) else {
        return base.to_string();
    };
    url.query_pairs_mut().extend_pairs(pairs);
    url.set_fragment(fragment);
    url.to_string()
}

/// `POST /oauth/access_token`: a single-use, one-hour code → a short-lived token.
fn exchange_code(state: &mut State, request: &Request) -> Result<Reply, ApiError> {
    if request.method != Method::POST {
        return Err(oauth_error(format!(
            "Invalid request: Request method {} not supported",
            request.method
        )));
    }
    for field in [
        "client_id",
        "client_secret",
        "grant_type",
        "redirect_uri",
        "code",
    ] {
        if request.param(field).is_none() {
            return Err(oauth_error(format!("You must provide a {field}")));
        }
    }
    let app = &state.options.app;
    if request.param("client_id") != Some(app.ig_app_id.as_str()) {
        return Err(oauth_error("Invalid platform app"));
    }
    if request.param("client_secret") != Some(app.ig_app_secret.as_str()) {
        return Err(oauth_error("Invalid client secret"));
    }
    if request.param("grant_type") != Some("authorization_code") {
        return Err(oauth_error("Invalid grant_type"));
    }
    let code = redeem(
        state,
        request.param("code").unwrap_or(""),
        request.param("redirect_uri").unwrap_or(""),
        Dialog::Instagram,
    )
    .map_err(|problem| match problem {
        // Msameim181/n8n-nodes-instagram-integrations#2 (2025-10): a
        // redirect_uri mismatch has its own message, not the used-code one.
        CodeProblem::RedirectMismatch => oauth_error(REDIRECT_MISMATCH),
        _ => oauth_error(NO_MATCHING_CODE),
    })?;
    let now = state.now();
    let token = state.issue_token(
        TokenKind::InstagramShort,
        code.user,
        code.scopes.clone(),
        now,
    );
    let ig_user_id = state.users[code.user].public.ig_user_id.clone();
    let body = exchange_body(
        state.options.code_exchange_shape,
        &token,
        &ig_user_id,
        &code.scopes,
    );
    Ok(Reply::ok(&body))
}

/// Why a code cannot be redeemed (Facebook tells them apart; Instagram
/// tells only a redirect_uri mismatch apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CodeProblem {
    Unknown,
    Used,
    Expired,
    RedirectMismatch,
}

/// Marks the code used and returns it, if it exists for this dialog, is
/// unused, unexpired, and was issued for exactly this redirect URI.
pub(crate) fn redeem(
    state: &mut State,
    code: &str,
    redirect_uri: &str,
    dialog: Dialog,
) -> Result<AuthCode, CodeProblem> {
    let now = state.now();
    let record = state
        .codes
        .get_mut(code)
        .filter(|r| r.dialog == dialog)
        .ok_or(CodeProblem::Unknown)?;
    if record.used {
        return Err(CodeProblem::Used);
    }
    if now >= record.issued_at + CODE_LIFETIME {
        return Err(CodeProblem::Expired);
    }
    if record.redirect_uri != redirect_uri {
        return Err(CodeProblem::RedirectMismatch);
    }
    record.used = true;
    Ok(record.clone())
}

fn exchange_body(
    shape: CodeExchangeShape,
    token: &str,
    ig_user_id: &str,
    scopes: &[String],
) -> Value {
    // A JSON number above 2^53, as the live API sends it.
    let numeric_id: Value = ig_user_id
        .parse::<u64>()
        .map_or_else(|_| json!(ig_user_id), |n| json!(n));
    match shape {
        CodeExchangeShape::Flat => {
            json!({ "access_token": token, "user_id": numeric_id, "permissions": scopes })
        }
        CodeExchangeShape::Wrapped => json!({ "data": [{
            "access_token": token,
            "user_id": ig_user_id,
            "permissions": scopes.join(","),
        }]}),
        CodeExchangeShape::BasicDisplay => json!({ "access_token": token, "user_id": numeric_id }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_split_on_commas_and_spaces() {
        assert_eq!(
            split_scopes("instagram_business_basic, instagram_business_manage_comments"),
            [
                "instagram_business_basic",
                "instagram_business_manage_comments"
            ]
        );
    }

    #[test]
    fn the_granted_redirect_keeps_existing_query_and_ends_with_hash_underscore() {
        let location =
            granted_location("https://site.test/cb?x=1", "AQcode", Some("s1"), Some("_"));
        assert_eq!(location, "https://site.test/cb?x=1&code=AQcode&state=s1#_");
    }

    #[test]
    fn the_flat_shape_sends_user_id_as_a_big_number() {
        let body = exchange_body(
            CodeExchangeShape::Flat,
            "IGAAx",
            "17841400000000001",
            &["instagram_business_basic".to_string()],
        );
        assert_eq!(
            body.to_string(),
            r#"{"access_token":"IGAAx","permissions":["instagram_business_basic"],"user_id":17841400000000001}"#
        );
    }
}

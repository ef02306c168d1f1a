//! Checks every Graph call passes, in Meta's order (instagram-api.md §10.10):
//! token present (104), known (190), unexpired (190), not invalidated (190 +
//! subcode), then the hourly budget (throttle codes); and the usage headers
//! that successes carry.

use serde_json::json;

use super::error::{ApiError, GraphError};
use super::model::{Standing, State, TokenKind};
use super::reply::Reply;
use super::request::{Host, Request};

/// The authenticated caller of a Graph call.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub token: String,
    pub kind: TokenKind,
    /// Index into `State::users`.
    pub user: usize,
}

/// Which usage headers a route's successes carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Metering {
    /// `X-App-Usage` only (token endpoints, Facebook Platform-limited calls).
    App,
    /// `X-App-Usage` and `X-Business-Use-Case-Usage` keyed by the IG user id.
    BusinessUseCase,
}

pub(crate) fn authenticate(state: &State, request: &Request) -> Result<Caller, GraphError> {
    let token = request
        .access_token()
        .ok_or_else(GraphError::token_missing)?;
    let record = state
        .tokens
        .get(&token)
        .filter(|r| r.kind.is_instagram() == (request.host == Host::InstagramGraph))
        .ok_or_else(GraphError::token_unparsable)?;
    if request.host == Host::FacebookGraph {
        check_appsecret_proof(state, request, &token)?;
    }
    match record.standing(state.now()) {
        Standing::Live => Ok(Caller {
            kind: record.kind,
            user: record.user,
            token,
        }),
        Standing::Expired(at) => {
            // graph.instagram.com sends no subcode; graph.facebook.com sends 463.
            let subcode = (request.host == Host::FacebookGraph).then_some(463);
            Err(GraphError::session_expired(at, state.now(), subcode))
        }
        Standing::Invalidated(invalidation) => {
            Err(
                GraphError::new(190, "OAuthException", invalidation.message.clone())
                    .with_subcode(invalidation.subcode.map(i64::from)),
            )
        }
    }
}

/// `appsecret_proof` on graph.facebook.com: a proof that is sent must be
/// right, and with "Require App Secret" on it must be sent. Both answers are
/// 400, code 100, GraphMethodException (instagram-api.md §8; seen by
/// sromku/android-simple-facebook#160 and markbates/goth#96; Meta's
/// <https://developers.facebook.com/docs/facebook-login/security/>).
/// Meta's `appsecret_proof`: HMAC-SHA256 of the token under the app
/// secret, in lower-case hex.
pub(crate) fn appsecret_proof(secret: &str, token: &str) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts a key of any length");
    mac.update(token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn check_appsecret_proof(state: &State, request: &Request, token: &str) -> Result<(), GraphError> {
    match request.param("appsecret_proof") {
        Some(proof) => {
            let expected = appsecret_proof(&state.options.app.fb_app_secret, token);
            if subtle::ConstantTimeEq::ct_eq(proof.as_bytes(), expected.as_bytes()).into() {
                Ok(())
            } else {
                Err(GraphError::new(
                    100,
                    "GraphMethodException",
                    "Invalid appsecret_proof provided in the API argument",
                ))
            }
        }
        None if state.options.require_app_secret => Err(GraphError::new(
            100,
            "GraphMethodException",
            "API calls from the server require an appsecret_proof argument",
        )),
        None => Ok(()),
    }
}

/// Authenticates, meters, runs `handler`, and adds usage headers.
pub(crate) fn call(
    state: &mut State,
    request: &Request,
    metering: Metering,
    handler: impl FnOnce(&mut State, &Caller) -> Result<Reply, ApiError>,
) -> Result<Reply, ApiError> {
    let caller = authenticate(state, request)?;
    let now = state.now();
    let count = state.usage.record(caller.user, now);
    let budget = state.options.hourly_call_budget.max(1) as usize;
    if count > budget {
        let code = throttle_code(state, request.host);
        return Ok(throttled(state, request.host, &caller, code, metering));
    }
    let reply = handler(state, &caller)?;
    Ok(with_usage(
        state,
        request.host,
        &caller,
        reply,
        count,
        metering,
        0,
    ))
}

fn throttle_code(state: &State, host: Host) -> i64 {
    match host {
        Host::FacebookGraph => state.options.facebook_throttle_code,
        _ => state.options.instagram_throttle_code,
    }
}

/// A throttle error whose usage headers say when access comes back.
pub(crate) fn throttled(
    state: &State,
    host: Host,
    caller: &Caller,
    code: i64,
    metering: Metering,
) -> Reply {
    let now = state.now();
    let budget = state.options.hourly_call_budget.max(1) as usize;
    let regain = state
        .usage
        .minutes_to_regain(caller.user, now, budget)
        .max(1);
    let reply = GraphError::throttle(code).into_reply();
    let calls = budget.max(state.usage.count(caller.user, now));
    with_usage(state, host, caller, reply, calls, metering, regain)
}

fn with_usage(
    state: &State,
    host: Host,
    caller: &Caller,
    reply: Reply,
    calls: usize,
    metering: Metering,
    regain_minutes: i64,
) -> Reply {
    if !state.options.usage_headers {
        return reply;
    }
    let budget = state.options.hourly_call_budget.max(1) as usize;
    let percent = calls * 100 / budget;
    // graph.instagram.com names its keys differently (restfb/restfb#1571:
    // `x-app-usage -> {"call_volume":0,"cpu_time":0}`).
    let app = match host {
        Host::InstagramGraph => json!({ "call_volume": percent, "cpu_time": percent }),
        _ => json!({ "call_count": percent, "total_time": percent, "total_cputime": percent }),
    };
    let reply = reply.with_header("x-app-usage", app.to_string());
    let business = match host {
        Host::InstagramGraph => state.options.instagram_business_usage_header,
        _ => true,
    };
    if metering == Metering::App || !business {
        return reply;
    }
    let Some(user) = state.users.get(caller.user) else {
        return reply;
    };
    let buc = json!({ user.public.ig_user_id.clone(): [{
        "type": "instagram",
        "call_count": percent,
        "total_cputime": percent,
        "total_time": percent,
        "estimated_time_to_regain_access": regain_minutes,
    }]});
    reply.with_header("x-business-use-case-usage", buc.to_string())
}

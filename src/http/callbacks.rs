//! Calls from outside: Meta's deauthorize and data deletion callbacks, and
//! the signed external refresh hook.

use std::collections::HashMap;
use std::sync::Arc;

use hmac::{KeyInit, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use warp::http::StatusCode;
use warp::reply::Response;

use super::json_error;
use crate::app::App;
use crate::config::Config;
use crate::pages;
use crate::refresher;
use crate::signed_request::{self, SignedRequestError};

/// The message WEBHOOK_SECRET signs for the refresh hook URL.
pub const HOOK_MESSAGE: &[u8] = b"token-agent refresh hook";

/// hex(HMAC-SHA256(WEBHOOK_SECRET, "token-agent refresh hook")).
pub fn hook_signature(secret: &str) -> String {
    let mut mac =
        <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(HOOK_MESSAGE);
    hex::encode(mac.finalize().into_bytes())
}

/// The full external refresh URL, when WEBHOOK_SECRET is set.
pub fn hook_url(config: &Config) -> Option<String> {
    let secret = config.webhook_secret.as_ref()?;
    config
        .app_url
        .join(&format!(
            "hooks/refresh/{}",
            hook_signature(secret.expose())
        ))
        .ok()
        .map(String::from)
}

/// `POST /hooks/refresh/{signature}`: runs due refreshes now.
pub async fn refresh_hook(app: Arc<App>, signature: String) -> Response {
    let Some(secret) = &app.config.webhook_secret else {
        return json_error(
            StatusCode::NOT_FOUND,
            "hook_disabled",
            "Set WEBHOOK_SECRET to enable the refresh hook.",
        );
    };
    let expected = hook_signature(secret.expose());
    if !bool::from(signature.as_bytes().ct_eq(expected.as_bytes())) {
        tracing::warn!("refresh hook called with a wrong signature");
        return json_error(
            StatusCode::FORBIDDEN,
            "bad_signature",
            "This hook URL is not signed with WEBHOOK_SECRET.",
        );
    }
    let mut results = serde_json::Map::new();
    for (name, outcome) in refresher::refresh_due(&app).await {
        let text = match outcome {
            Ok(outcome) => outcome.describe(),
            Err(e) => format!("could not run: {e}"),
        };
        results.insert(name, serde_json::Value::String(text));
    }
    warp::Reply::into_response(warp::reply::json(
        &serde_json::json!({ "refreshed": results }),
    ))
}

fn app_secrets(app: &App) -> Vec<&[u8]> {
    [&app.config.instagram_app, &app.config.facebook_app]
        .into_iter()
        .flatten()
        .map(|c| c.secret.expose().as_bytes())
        .collect()
}

/// Verifies the form's `signed_request` and deletes the accounts of the
/// user it names. Returns the user id and how many accounts went.
async fn delete_user_data(
    app: &App,
    form: &HashMap<String, String>,
) -> Result<(String, i64), Response> {
    let secrets = app_secrets(app);
    if secrets.is_empty() {
        return Err(json_error(
            StatusCode::NOT_FOUND,
            "callbacks_disabled",
            "Set INSTAGRAM_APP_SECRET or FACEBOOK_APP_SECRET to receive Meta's callbacks.",
        ));
    }
    let Some(raw) = form.get("signed_request") else {
        return Err(json_error(
            StatusCode::BAD_REQUEST,
            "missing_signed_request",
            "The form has no signed_request.",
        ));
    };
    let request = signed_request::verify_any(raw, &secrets).map_err(|e| {
        tracing::warn!(error = %e, "refused a Meta callback");
        match e {
            SignedRequestError::BadSignature => json_error(
                StatusCode::FORBIDDEN,
                "bad_signature",
                "The signed_request is not signed with this app's secret.",
            ),
            other => json_error(
                StatusCode::BAD_REQUEST,
                "malformed_signed_request",
                &other.to_string(),
            ),
        }
    })?;
    let names = app
        .store
        .accounts_of_user(&request.user_id)
        .await
        .map_err(|e| {
            json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                &e.to_string(),
            )
        })?;
    for name in &names {
        if let Err(e) = app.remove_account(name).await {
            return Err(json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                &e.to_string(),
            ));
        }
    }
    tracing::info!(
        accounts = names.len(),
        "deleted a Meta user's data on request"
    );
    Ok((request.user_id, names.len() as i64))
}

/// `POST /callbacks/deauthorize`: the user removed the app.
pub async fn deauthorize(app: Arc<App>, form: HashMap<String, String>) -> Response {
    match delete_user_data(&app, &form).await {
        Ok(_) => warp::Reply::into_response(warp::reply::json(&serde_json::json!({ "ok": true }))),
        Err(refusal) => refusal,
    }
}

/// `POST /callbacks/data-deletion`: answers with the status URL and a
/// confirmation code, as Meta requires.
pub async fn data_deletion(app: Arc<App>, form: HashMap<String, String>) -> Response {
    let (user_id, deleted) = match delete_user_data(&app, &form).await {
        Ok(done) => done,
        Err(refusal) => return refusal,
    };
    let mut bytes = [0u8; 10];
    rand::rng().fill_bytes(&mut bytes);
    let code = hex::encode(bytes);
    if let Err(e) = app
        .store
        .record_deletion(&code, &user_id, app.clock.now(), deleted)
        .await
    {
        return json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            &e.to_string(),
        );
    }
    let url = app
        .config
        .app_url
        .join(&format!("callbacks/data-deletion/{code}"))
        .expect("a path joins a URL");
    warp::Reply::into_response(warp::reply::json(&serde_json::json!({
        "url": url.as_str(),
        "confirmation_code": code,
    })))
}

/// `GET /callbacks/data-deletion/{code}`: the human-readable status.
pub async fn deletion_status(app: Arc<App>, code: String) -> Response {
    let valid = code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric());
    let found = if valid {
        match app.store.deletion(&code).await {
            Ok(found) => found,
            Err(e) => {
                return pages::message(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Try again shortly",
                    &e.to_string(),
                );
            }
        }
    } else {
        None
    };
    pages::deletion_status(
        &code,
        found.map(|(requested_at, accounts_deleted)| pages::DeletionInfo {
            requested_at,
            accounts_deleted,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hook_signature_is_an_hmac_of_a_fixed_message() {
        // echo -n "token-agent refresh hook" | openssl dgst -sha256 -hmac secret
        assert_eq!(
            hook_signature("secret"),
            "7d7a82864f9f70481b57acb5165aca6d9dec3a8e4d33669154d43b7204fca6b2"
        );
    }
}

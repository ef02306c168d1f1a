//! Calls from outside: Meta's deauthorize and data deletion callbacks, and
//! the signed external refresh hook.

use std::collections::HashMap;
use std::sync::Arc;

use rand::RngCore;
use subtle::ConstantTimeEq;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::error::{ApiError, Onward, PageError, log_internal};
use super::{form, with_app};
use crate::app::App;
use crate::hook::hook_signature;
use crate::pages;
use crate::refresher;
use crate::signed_request;

/// Meta's `POST /callbacks/deauthorize` and `/callbacks/data-deletion`,
/// the deletion status page, and `POST /hooks/refresh/{signature}`.
pub fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    let with_app = with_app(app.clone());
    let deauthorize = warp::path!("callbacks" / "deauthorize")
        .and(warp::post())
        .and(callbacks_on(app.clone()))
        .and(with_app.clone())
        .and(form())
        .then(deauthorize)
        .map(Reply::into_response);
    let deletion = warp::path!("callbacks" / "data-deletion")
        .and(warp::post())
        .and(callbacks_on(app.clone()))
        .and(with_app.clone())
        .and(form())
        .and(super::request_url::detected())
        .then(data_deletion)
        .map(Reply::into_response);
    let deletion_status = warp::path!("callbacks" / "data-deletion" / String)
        .and(warp::get().or(warp::head()).unify())
        .and(with_app.clone())
        .then(deletion_status);
    let hook = warp::path!("hooks" / "refresh" / String)
        .and(warp::post())
        .and(with_app)
        .then(refresh_hook)
        .map(Reply::into_response);
    deauthorize
        .or(deletion)
        .unify()
        .or(deletion_status)
        .unify()
        .or(hook)
        .unify()
        .boxed()
}

/// Meta's callbacks need an app secret to check their signature: without
/// one they are off, and say so before a byte of the body is read, so a
/// stranger's unfinished body holds nothing.
fn callbacks_on(app: Arc<App>) -> impl Filter<Extract = (), Error = warp::Rejection> + Clone {
    warp::any()
        .and_then(move || {
            let on = !app_secrets(&app).is_empty();
            async move {
                if on {
                    Ok(())
                } else {
                    Err(warp::reject::custom(ApiError::missing(
                        "callbacks_disabled",
                        "Set INSTAGRAM_APP_SECRET or FACEBOOK_APP_SECRET to receive Meta's callbacks.",
                    )))
                }
            }
        })
        .untuple_one()
}

/// `POST /hooks/refresh/{signature}`: runs due refreshes now.
async fn refresh_hook(signature: String, app: Arc<App>) -> Result<Response, ApiError> {
    let Some(secret) = &app.config.webhook_secret else {
        return Err(ApiError::missing(
            "hook_disabled",
            "Set WEBHOOK_SECRET to enable the refresh hook.",
        ));
    };
    let expected = hook_signature(secret.expose());
    if !bool::from(signature.as_bytes().ct_eq(expected.as_bytes())) {
        tracing::warn!("refresh hook called with a wrong signature");
        return Err(ApiError::forbidden(
            "bad_signature",
            "This hook URL is not signed with WEBHOOK_SECRET.",
        ));
    }
    let mut results = serde_json::Map::new();
    for (name, outcome) in refresher::refresh_due(&app).await {
        let text = match outcome {
            Ok(outcome) => outcome.describe(),
            Err(e) => {
                let id = log_internal("a hooked refresh could not run", e);
                format!("could not run (request id {id})")
            }
        };
        results.insert(name, serde_json::Value::String(text));
    }
    Ok(warp::reply::json(&serde_json::json!({ "refreshed": results })).into_response())
}

fn app_secrets(app: &App) -> Vec<&[u8]> {
    [&app.config.instagram_app, &app.config.facebook_app]
        .into_iter()
        .flatten()
        .map(|c| c.secret.expose().as_bytes())
        .collect()
}

/// What a verified callback did.
enum Deletion {
    /// This request's first arrival: the user's accounts were deleted, and
    /// `code` is its confirmation code.
    Done {
        user_id: String,
        deleted: i64,
        code: String,
        /// The request's claim, given up if its deletion cannot be recorded.
        digest: String,
    },
    /// The same signed_request came again while fresh: nothing more was
    /// done; `code` is the first arrival's.
    Again { code: String },
}

/// Verifies the form's `signed_request` and, the first time it arrives (in
/// any process), deletes the accounts of the user it names.
async fn delete_user_data(app: &App, form: &HashMap<String, String>) -> Result<Deletion, ApiError> {
    // Only reached with a secret: see `callbacks_on`.
    let secrets = app_secrets(app);
    let Some(raw) = form.get("signed_request") else {
        return Err(ApiError::bad_request(
            "missing_signed_request",
            "The form has no signed_request.",
        ));
    };
    let now = app.clock.now();
    let request = signed_request::verify_any(raw, &secrets).and_then(|request| {
        request.check_fresh(now.timestamp())?;
        Ok(request)
    })?;
    let unavailable =
        |e: anyhow::Error| ApiError::unavailable("a Meta data deletion request could not run", e);
    // Kept as long as the request could pass `check_fresh`.
    let digest = {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(raw.as_bytes()))
    };
    let issued = request.issued_at.unwrap_or(now.timestamp());
    let fresh_until =
        chrono::DateTime::from_timestamp(issued.saturating_add(signed_request::MAX_AGE_SECONDS), 0)
            .unwrap_or(now);
    let mut bytes = [0u8; 10];
    rand::rng().fill_bytes(&mut bytes);
    let code = hex::encode(bytes);
    let first = app
        .store
        .claim_signed_request(&digest, &code, now, fresh_until)
        .await
        .map_err(|e| unavailable(e.into()))?;
    if let Some(code) = first {
        tracing::info!("a Meta callback came again; answered as the first time");
        return Ok(Deletion::Again { code });
    }
    let deleted = remove_accounts_of(app, &request.user_id).await;
    let deleted = match deleted {
        Ok(deleted) => deleted,
        Err(e) => {
            // Meta retries; the retry must act.
            release(app, &digest).await;
            return Err(unavailable(e));
        }
    };
    tracing::info!(accounts = deleted, "deleted a Meta user's data on request");
    Ok(Deletion::Done {
        user_id: request.user_id,
        deleted,
        code,
        digest,
    })
}

/// Gives up a claim whose action failed, so that Meta's retry acts.
async fn release(app: &App, digest: &str) {
    if let Err(e) = app.store.release_signed_request(digest).await {
        tracing::warn!(error = %e, "could not release a Meta callback's claim");
    }
}

/// Removes every account of the app-scoped user `user_id`.
async fn remove_accounts_of(app: &App, user_id: &str) -> anyhow::Result<i64> {
    let names = app.store.accounts_of_user(user_id).await?;
    for name in &names {
        app.remove_account(name).await?;
    }
    Ok(names.len() as i64)
}

/// `POST /callbacks/deauthorize`: the user removed the app.
async fn deauthorize(app: Arc<App>, form: HashMap<String, String>) -> Result<Response, ApiError> {
    delete_user_data(&app, &form).await?;
    Ok(warp::reply::json(&serde_json::json!({ "ok": true })).into_response())
}

/// `POST /callbacks/data-deletion`: answers with the status URL and a
/// confirmation code, as Meta requires (the same code for the same request).
async fn data_deletion(
    app: Arc<App>,
    form: HashMap<String, String>,
    detected: Option<url::Url>,
) -> Result<Response, ApiError> {
    let code = match delete_user_data(&app, &form).await? {
        Deletion::Done {
            user_id,
            deleted,
            code,
            digest,
        } => {
            let recorded = app
                .store
                .record_deletion(&code, &user_id, app.clock.now(), deleted)
                .await;
            if let Err(e) = recorded {
                // Meta's retry records it (the accounts are gone already).
                release(&app, &digest).await;
                return Err(ApiError::unavailable(
                    "a data deletion could not be recorded",
                    e,
                ));
            }
            code
        }
        Deletion::Again { code } => code,
    };
    // Meta, which signed the request, shows this URL to the person.
    let url = format!(
        "{}/callbacks/data-deletion/{code}",
        pages::base_url(&app, detected.as_ref())
    );
    Ok(warp::reply::json(&serde_json::json!({
        "url": url,
        "confirmation_code": code,
    }))
    .into_response())
}

/// `GET /callbacks/data-deletion/{code}`: the human-readable status.
async fn deletion_status(code: String, app: Arc<App>) -> Response {
    deletion_page(&code, &app)
        .await
        .unwrap_or_else(|e| e.page(Onward::Nowhere))
}

async fn deletion_page(code: &str, app: &App) -> Result<Response, PageError> {
    let valid = code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric());
    let found = if valid {
        app.store.deletion(code).await.map_err(|e| {
            PageError::unavailable(
                "Try again shortly",
                "a data deletion status could not be read",
                e,
            )
        })?
    } else {
        None
    };
    let (requested_at, accounts_deleted) = found.ok_or(PageError::NotFound {
        title: "Unknown deletion request",
        text: "There is no data deletion request with this confirmation code.".into(),
    })?;
    Ok(pages::deletion_status(
        code,
        pages::DeletionInfo {
            requested_at,
            accounts_deleted,
        },
    ))
}

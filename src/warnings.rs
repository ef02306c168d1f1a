//! Expiry warnings: one when an account that cannot renew itself has ten
//! days or less left, one when it has expired. Each is sent once (the time
//! is stored), retried while delivery fails, and reset on reconnect.

use chrono::{DateTime, Duration, Utc};

use crate::app::App;
use crate::notify::{SignInAlert, VersionNotice, Warning, WarningKind};
use crate::public_url::Known;
use crate::store::{Account, AccountKind, StoreError};

/// How long before expiry the first warning goes out.
pub const WARN_BEFORE: Duration = Duration::days(10);

/// The warning an account is owed now, if any.
pub fn due(account: &Account, now: DateTime<Utc>) -> Option<WarningKind> {
    let expires_at = account.expires_at?;
    if expires_at <= now {
        return account
            .warned_expired_at
            .is_none()
            .then_some(WarningKind::Expired);
    }
    let cannot_renew = account.kind == AccountKind::Facebook
        || account.needs_reconnect
        || account.last_result.as_deref() == Some("failed");
    (expires_at - now <= WARN_BEFORE && cannot_renew && account.warned_expiring_at.is_none())
        .then_some(WarningKind::ExpiresSoon)
}

/// Why the owner has to act, in words; never a token.
fn reason(account: &Account, kind: WarningKind) -> String {
    let last_error = account
        .last_error
        .as_deref()
        .unwrap_or("no answer from Instagram");
    match (kind, account.kind) {
        (WarningKind::Expired, _) => "The token has expired and no longer works; connect the account again.".into(),
        (_, AccountKind::Facebook) if account.token_type.as_deref() == Some("SYSTEM_USER") => {
            "A system user's token is not refreshed by the agent (Meta documents no refresh for the tokens of Instagram API with Unified Login); generate a new one in Meta Business Settings, or connect the account with Facebook Login, and paste it before this one expires.".into()
        }
        (_, AccountKind::Facebook) => {
            "Facebook-Login tokens cannot be refreshed by API; connect the account again before it expires.".into()
        }
        _ if account.needs_reconnect => format!("Instagram no longer accepts this token: {last_error}"),
        _ => format!("Refreshing the token keeps failing: {last_error}"),
    }
}

/// Where the owner reconnects: the full URL when the agent knows its own,
/// else the path and a plain sentence saying why it is only a path.
fn reconnect_url(app: &App, base: &Known, account: &Account) -> String {
    let configured = match account.kind {
        AccountKind::Instagram => app.config.instagram_app.is_some(),
        AccountKind::Facebook => app.config.facebook_app.is_some(),
    };
    let path = if configured {
        format!("connect/{}?account={}", account.kind.as_str(), account.name)
    } else {
        "admin".to_string()
    };
    link(base, &path)
}

/// `path` on the agent's URL when it knows it, else the path and a plain
/// sentence saying why it is only a path.
fn link(base: &Known, path: &str) -> String {
    match base.url() {
        Some(url) => crate::public_url::join(url, path),
        None => format!("/{path} ({})", crate::public_url::UNKNOWN),
    }
}

/// The setting that holds when the owner was last told of failed sign-ins
/// (Unix seconds), so that every process together tells them at most once
/// an hour.
const SIGN_INS_TOLD_AT: &str = "sign_in_warning_at";

/// Failed sign-ins passed ADMIN_FAILURE_WARN_AFTER within an hour: in the
/// log always, and on the warning channels unless any process told the
/// owner within the hour.
pub async fn sign_ins(app: &App, failures: u32) {
    let threshold = app.config.guard.admin_failure_warn_after;
    tracing::warn!(
        failures,
        threshold,
        "failed sign-ins passed ADMIN_FAILURE_WARN_AFTER in the last hour"
    );
    let now = app.clock.now();
    let told_at = match app.store.setting(SIGN_INS_TOLD_AT).await {
        Ok(told) => told
            .and_then(|at| at.parse::<i64>().ok())
            .and_then(|at| DateTime::from_timestamp(at, 0)),
        Err(error) => {
            tracing::warn!(%error, "cannot read when the owner was last told of failed sign-ins");
            return;
        }
    };
    if told_at.is_some_and(|at| now - at < Duration::hours(1)) {
        return;
    }
    if let Err(error) = app
        .store
        .set_setting(SIGN_INS_TOLD_AT, &now.timestamp().to_string())
        .await
    {
        tracing::warn!(%error, "cannot record the sign-in warning");
        return;
    }
    if !app.notifier.is_configured() {
        return;
    }
    let base = app.public_url.known_now(&app.store).await;
    let alert = SignInAlert {
        failures,
        threshold,
        admin_url: link(&base, "admin"),
    };
    if let Err(error) = app.notifier.send_sign_in_alert(&alert).await {
        tracing::warn!(%error, "the sign-in warning was not delivered");
    }
}

/// The setting that names the Graph API version the owner was told ends.
const VERSION_TOLD: &str = "graph_version_warning";

/// Tells the owner, once per version, when GRAPH_API_VERSION ends within
/// `versions::WARN_BEFORE`: in the log each time this runs, and on the
/// warning channels once (recorded only when delivered).
pub async fn version_due(app: &App) -> Result<(), StoreError> {
    let version = &app.config.upstream.graph_version;
    let Some(ends_at) = crate::upstream::versions::ending(version, app.clock.now()) else {
        return Ok(());
    };
    let newest = crate::upstream::versions::newest();
    tracing::warn!(%version, %ends_at, newest, "GRAPH_API_VERSION ends soon; move it to a newer version");
    if app.store.setting(VERSION_TOLD).await?.as_deref() == Some(version.as_str())
        || !app.notifier.is_configured()
    {
        return Ok(());
    }
    let notice = VersionNotice {
        version: version.clone(),
        ends_at,
        newest: newest.to_string(),
    };
    match app.notifier.send_version_notice(&notice).await {
        Ok(()) => app.store.set_setting(VERSION_TOLD, version).await,
        Err(error) => {
            tracing::warn!(%error, "the Graph API version notice was not delivered; will try again");
            Ok(())
        }
    }
}

/// Sends every warning that is due. Returns what happened per account.
pub async fn send_due(app: &App) -> Result<Vec<(String, Result<WarningKind, String>)>, StoreError> {
    let now = app.clock.now();
    let mut results = Vec::new();
    let base = app.public_url.known_now(&app.store).await;
    for account in app.store.accounts().await? {
        let Some(kind) = due(&account, now) else {
            continue;
        };
        let warning = Warning {
            account: account.name.clone(),
            kind,
            expires_at: account.expires_at,
            reconnect_url: reconnect_url(app, &base, &account),
            reason: reason(&account, kind),
        };
        tracing::warn!(
            account = %account.name,
            event = kind.event(),
            expires_at = ?account.expires_at,
            reason = %warning.reason,
            "the token needs the owner's attention"
        );
        let sent = if app.notifier.is_configured() {
            app.notifier.send(&warning).await.map_err(|e| e.to_string())
        } else {
            Ok(())
        };
        match &sent {
            Ok(()) => {
                app.store
                    .record_warning(&account.name, kind == WarningKind::Expired, now, None)
                    .await?
            }
            Err(error) => {
                tracing::warn!(account = %account.name, error = %error, "warning not delivered; will retry");
                app.store
                    .record_warning(
                        &account.name,
                        kind == WarningKind::Expired,
                        now,
                        Some(error),
                    )
                    .await?
            }
        }
        results.push((account.name, sent.map(|()| kind)));
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn account(kind: AccountKind, expires_in: Duration, result: Option<&str>) -> Account {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        Account {
            name: "default".into(),
            kind,
            user_id: None,
            username: None,
            token: "t".into(),
            issued_at: None,
            placed_at: now,
            expires_at: Some(now + expires_in),
            refreshed_at: None,
            next_refresh_at: None,
            last_attempt_at: None,
            last_result: result.map(str::to_string),
            last_error: None,
            last_error_kind: None,
            failures: 0,
            needs_reconnect: false,
            warned_expiring_at: None,
            warned_expired_at: None,
            lease_owner: None,
            lease_until: None,
            notify_error: None,
            epoch: 0,
            token_type: None,
            never_expires: false,
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    #[test]
    fn a_healthy_refreshable_token_is_never_warned_about_before_expiry() {
        let a = account(AccountKind::Instagram, Duration::days(5), Some("ok"));
        assert_eq!(due(&a, now()), None);
    }

    #[test]
    fn a_facebook_token_is_warned_about_at_ten_days_then_at_expiry() {
        let mut a = account(AccountKind::Facebook, Duration::days(11), None);
        assert_eq!(due(&a, now()), None);
        a.expires_at = Some(now() + Duration::days(10));
        assert_eq!(due(&a, now()), Some(WarningKind::ExpiresSoon));
        a.warned_expiring_at = Some(now());
        assert_eq!(due(&a, now()), None, "sent once");
        a.expires_at = Some(now());
        assert_eq!(due(&a, now()), Some(WarningKind::Expired));
        a.warned_expired_at = Some(now());
        assert_eq!(due(&a, now()), None);
    }

    #[test]
    fn a_failing_refresh_is_warned_about_and_the_reason_has_the_error() {
        let mut a = account(AccountKind::Instagram, Duration::days(9), Some("failed"));
        a.last_error = Some("upstream said (#1): An unknown error".into());
        assert_eq!(due(&a, now()), Some(WarningKind::ExpiresSoon));
        assert!(reason(&a, WarningKind::ExpiresSoon).contains("An unknown error"));
    }

    #[test]
    fn an_account_of_unknown_expiry_is_not_warned_about() {
        let mut a = account(AccountKind::Facebook, Duration::days(1), None);
        a.expires_at = None;
        assert_eq!(due(&a, now()), None);
    }
}

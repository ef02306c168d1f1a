//! `GET /status`: one card per account with its expiry, last refresh,
//! upstream error and warnings, and what to do when something is wrong.

use askama::Template;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::Deserialize;

use super::time::Moment;
use super::{Layout, kind_label, token_js_path};
use crate::app::App;
use crate::store::{Account, AccountKind};

/// Expiry warnings go out this long before expiry; the page flags the same.
const EXPIRING_SOON: i64 = 10;
/// How long the result of a connect flow is shown after it happened.
const CONNECT_NOTICE_MINUTES: i64 = 15;

#[derive(Template)]
#[template(path = "status.html")]
pub(super) struct StatusPage {
    layout: Layout,
    now: Moment,
    cards: Vec<Card>,
    /// Set when the database did not answer: `memory` lists what is known
    /// from the tokens held in memory instead of `cards`.
    database_down: bool,
    memory: Vec<MemoryRow>,
    last_connect: Option<ConnectNotice>,
    encrypted: bool,
    allowed_domains_set: bool,
    admin_enabled: bool,
    database: &'static str,
    cache: &'static str,
    /// "reachable" / "not reachable" for memcached; `None` in-process.
    cache_state: Option<&'static str>,
    refresh: String,
    budgets: Vec<super::budget::Budget>,
    budget_limit: i64,
    /// GRAPH_API_VERSION, when it ends within 90 days (or has ended).
    version_end: Option<(String, Moment, &'static str)>,
    build_hook: Option<HookState>,
}

/// BUILD_HOOK_URL's host (never the rest of it) and its deliveries.
struct HookState {
    host: String,
    last: Option<Moment>,
    pending: i64,
    error: Option<String>,
}

/// One account, as the status page shows it.
struct Card {
    name: String,
    kind_label: &'static str,
    username: Option<String>,
    /// CSS modifier and words of the badge: ok, warn or bad.
    tone: &'static str,
    verdict: &'static str,
    expires: Option<Moment>,
    expires_words: String,
    /// "bad" when expired, "warn" when expiring soon, else "".
    expires_tone: &'static str,
    placed: Moment,
    refreshed: Option<Moment>,
    last_attempt: Option<Moment>,
    last_failed: bool,
    last_error: Option<String>,
    last_error_kind: Option<String>,
    failures: i32,
    needs_reconnect: bool,
    refreshable: bool,
    never_expires: bool,
    next_refresh: Option<Moment>,
    warned_expiring: Option<Moment>,
    warned_expired: Option<Moment>,
    notify_error: Option<String>,
    token_path: String,
}

struct MemoryRow {
    name: String,
    expires: Option<Moment>,
    expires_words: String,
    next_refresh: Option<Moment>,
}

struct ConnectNotice {
    /// ok or bad, for the CSS class.
    tone: &'static str,
    headline: String,
    message: Option<String>,
    at: Moment,
}

/// The settings row `last_connect`, written by the connect callback.
#[derive(Deserialize)]
struct LastConnect {
    at: i64,
    account: String,
    outcome: String,
    #[serde(default)]
    message: Option<String>,
}

pub(super) async fn page(app: &App) -> StatusPage {
    let now = app.clock.now();
    let listed = super::accounts(app).await;
    let budgets = match &listed {
        Some(accounts) => super::budget::budgets(app, accounts).await,
        None => Vec::new(),
    };
    let (cards, memory, database_down) = match listed {
        Some(accounts) => (
            accounts.iter().map(|a| card(a, now)).collect(),
            Vec::new(),
            false,
        ),
        None => (Vec::new(), memory_rows(app, now), true),
    };
    let last_connect = if database_down {
        None
    } else {
        last_connect(app, now).await
    };
    let build_hook = match &app.build_hook {
        Some(hook) if !database_down => {
            let delivery = app.store.hook_delivery().await.ok().flatten();
            Some(HookState {
                host: hook.host().to_string(),
                last: delivery.as_ref().and_then(|d| Moment::of(d.last, now)),
                pending: delivery.as_ref().map_or(0, |d| d.pending),
                error: delivery.and_then(|d| d.last_error),
            })
        }
        _ => None,
    };
    StatusPage {
        layout: Layout::for_app(app, "Status", "status"),
        build_hook,
        now: Moment::new(now, now),
        cards,
        database_down,
        memory,
        last_connect,
        encrypted: app.config.token_encryption_key.is_some(),
        allowed_domains_set: app.config.allowed_domains.is_some(),
        admin_enabled: app.config.admin_password.is_some(),
        database: app.store.backend(),
        cache: app.cache.backend(),
        cache_state: app.cache.memcached_up().map(|up| {
            if up {
                "reachable"
            } else {
                "not reachable: feeds are cached in this process only"
            }
        }),
        refresh: super::home::describe_refresh(&app.config),
        budgets,
        budget_limit: crate::feed::HASHTAG_LIMIT,
        version_end: crate::upstream::versions::ending(&app.config.upstream.graph_version, now)
            .map(|end| {
                (
                    app.config.upstream.graph_version.clone(),
                    Moment::new(end, now),
                    crate::upstream::versions::newest(),
                )
            }),
    }
}

/// What strangers may know: how many accounts, and how many need the
/// owner. `None` when the database does not answer.
pub(super) async fn summary(app: &App) -> Option<(usize, usize)> {
    let now = app.clock.now();
    let accounts = super::accounts(app).await?;
    let attention = accounts
        .iter()
        .filter(|a| card(a, now).tone != "ok")
        .count();
    Some((accounts.len(), attention))
}

pub(super) fn expires_words(expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match expires_at {
        None => "not known yet: the agent learns it at the first refresh".into(),
        Some(t) if t <= now => format!("expired {}", super::time::relative(t, now)),
        Some(t) => format!("expires {}", super::time::relative(t, now)),
    }
}

fn card(a: &Account, now: DateTime<Utc>) -> Card {
    let expired = a.expires_at.is_some_and(|t| t <= now);
    let soon = a
        .expires_at
        .is_some_and(|t| t - now < Duration::days(EXPIRING_SOON));
    let last_failed = a.last_result.as_deref() == Some("failed");
    let (tone, verdict) = if a.needs_reconnect {
        ("bad", "Needs reconnect")
    } else if expired {
        ("bad", "Expired")
    } else if last_failed {
        ("warn", "Last refresh failed")
    } else if soon {
        ("warn", "Expires soon")
    } else if a.expires_at.is_none() && !a.never_expires {
        ("warn", "Expiry not known yet")
    } else {
        ("ok", "OK")
    };
    Card {
        name: a.name.clone(),
        kind_label: if a.token_type.as_deref() == Some("SYSTEM_USER") {
            "Facebook Login (a system user token)"
        } else {
            kind_label(a.kind)
        },
        username: a.username.clone(),
        tone,
        verdict,
        expires: Moment::of(a.expires_at, now),
        expires_words: match (a.never_expires, a.kind) {
            (true, _) => "never: Meta says this token does not expire".into(),
            (false, AccountKind::Facebook) if a.expires_at.is_none() => {
                "not known yet: the agent asks Meta once a day when FACEBOOK_APP_ID and \
                 FACEBOOK_APP_SECRET are set"
                    .into()
            }
            _ => expires_words(a.expires_at, now),
        },
        expires_tone: if expired {
            "bad"
        } else if soon {
            "warn"
        } else {
            ""
        },
        placed: Moment::new(a.placed_at, now),
        refreshed: Moment::of(a.refreshed_at, now),
        last_attempt: Moment::of(a.last_attempt_at, now),
        last_failed,
        last_error: a.last_error.clone(),
        last_error_kind: a.last_error_kind.clone(),
        failures: a.failures,
        needs_reconnect: a.needs_reconnect,
        refreshable: a.kind == AccountKind::Instagram,
        never_expires: a.never_expires,
        next_refresh: Moment::of(a.next_refresh_at, now),
        warned_expiring: Moment::of(a.warned_expiring_at, now),
        warned_expired: Moment::of(a.warned_expired_at, now),
        notify_error: a.notify_error.clone(),
        token_path: token_js_path(&a.name),
    }
}

fn memory_rows(app: &App, now: DateTime<Utc>) -> Vec<MemoryRow> {
    app.board
        .names()
        .into_iter()
        .map(|name| {
            let served = app.board.get(&name);
            let expires_at = served.as_ref().and_then(|s| s.expires_at);
            MemoryRow {
                expires: Moment::of(expires_at, now),
                expires_words: expires_words(expires_at, now),
                next_refresh: Moment::of(served.and_then(|s| s.next_refresh_at), now),
                name,
            }
        })
        .collect()
}

async fn last_connect(app: &App, now: DateTime<Utc>) -> Option<ConnectNotice> {
    let raw = app.store.setting("last_connect").await.ok()??;
    connect_notice(&raw, now)
}

fn connect_notice(raw: &str, now: DateTime<Utc>) -> Option<ConnectNotice> {
    let last: LastConnect = serde_json::from_str(raw).ok()?;
    let at = Utc.timestamp_millis_opt(last.at).single()?;
    let age = now - at;
    if age > Duration::minutes(CONNECT_NOTICE_MINUTES) || age < -Duration::minutes(1) {
        return None;
    }
    let (tone, headline) = match last.outcome.as_str() {
        "connected" => ("ok", format!("Account “{}” is connected.", last.account)),
        "denied" => (
            "warn",
            format!(
                "Connecting “{}” was cancelled: permission was not granted.",
                last.account
            ),
        ),
        _ => ("bad", format!("Connecting “{}” failed.", last.account)),
    };
    Some(ConnectNotice {
        tone,
        headline,
        message: last.message.filter(|m| !m.is_empty()),
        at: Moment::new(at, now),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).unwrap()
    }

    fn connect_json(minutes_ago: i64, outcome: &str) -> String {
        serde_json::json!({
            "at": (now() - Duration::minutes(minutes_ago)).timestamp_millis(),
            "account": "shop",
            "outcome": outcome,
            "message": "Instagram said no",
        })
        .to_string()
    }

    #[test]
    fn a_recent_connect_result_is_shown_and_an_old_one_is_not() {
        let notice = connect_notice(&connect_json(3, "connected"), now()).unwrap();
        assert_eq!(notice.tone, "ok");
        assert!(notice.headline.contains("shop"));
        assert_eq!(notice.at.relative, "3 minutes ago");
        assert!(connect_notice(&connect_json(16, "connected"), now()).is_none());
        assert!(connect_notice("not json", now()).is_none());
    }

    #[test]
    fn a_denied_or_failed_connect_is_not_shown_as_success() {
        assert_eq!(
            connect_notice(&connect_json(1, "denied"), now())
                .unwrap()
                .tone,
            "warn"
        );
        let failed = connect_notice(&connect_json(1, "failed"), now()).unwrap();
        assert_eq!(failed.tone, "bad");
        assert_eq!(failed.message.as_deref(), Some("Instagram said no"));
    }

    #[test]
    fn expiry_reads_as_words() {
        let now = now();
        assert_eq!(
            expires_words(Some(now + Duration::days(45)), now),
            "expires in 45 days"
        );
        assert_eq!(
            expires_words(Some(now - Duration::days(2)), now),
            "expired 2 days ago"
        );
        assert!(expires_words(None, now).starts_with("not known yet"));
    }
}

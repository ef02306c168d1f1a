//! Keeps tokens alive: one refresh step that tests and the CLI call
//! directly, and a thin loop that runs it when work is due.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::app::App;
use crate::schedule::{self, LEASE};
use crate::store::{Account, AccountKind, Attempt, StoreError};
use crate::upstream::{AppToken, ErrorKind};

/// What one refresh step did for one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Refreshed {
        expires_at: DateTime<Utc>,
    },
    NotDue {
        next_refresh_at: Option<DateTime<Utc>>,
    },
    /// Instagram refuses to refresh a token younger than 24 hours.
    TooYoung {
        until: DateTime<Utc>,
    },
    /// Facebook-Login tokens cannot be refreshed by API.
    NotRefreshable,
    /// The token is dead upstream; only a new token helps.
    NeedsReconnect,
    /// Another process is refreshing this account right now.
    Busy,
    Failed {
        kind: &'static str,
        message: String,
        retry_at: Option<DateTime<Utc>>,
    },
    UnknownAccount,
}

impl Outcome {
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            Outcome::Failed { .. } | Outcome::NeedsReconnect | Outcome::UnknownAccount
        )
    }

    /// A short name for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Refreshed { .. } => "refreshed",
            Outcome::NotDue { .. } => "not_due",
            Outcome::TooYoung { .. } => "too_young",
            Outcome::NotRefreshable => "not_refreshable",
            Outcome::NeedsReconnect => "token_dead",
            Outcome::Busy => "busy",
            Outcome::Failed { kind, .. } => kind,
            Outcome::UnknownAccount => "unknown_account",
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Outcome::Refreshed { expires_at } => format!("refreshed, now expires {expires_at}"),
            Outcome::NotDue { next_refresh_at: Some(t) } => format!("not due until {t}"),
            Outcome::NotDue { next_refresh_at: None } => "no refresh scheduled".into(),
            Outcome::TooYoung { until } => {
                format!("token is less than 24 hours old; it can be refreshed from {until}")
            }
            Outcome::NotRefreshable => {
                "Facebook-Login tokens cannot be refreshed; reconnect before expiry".into()
            }
            Outcome::NeedsReconnect => {
                "the token is no longer valid upstream; connect the account again or add a new token"
                    .into()
            }
            Outcome::Busy => "another process is refreshing this account".into(),
            Outcome::Failed { message, .. } => format!("failed: {message}"),
            Outcome::UnknownAccount => "no such account".into(),
        }
    }
}

fn is_due(account: &Account, now: DateTime<Utc>) -> bool {
    !account.needs_reconnect && account.next_refresh_at.is_some_and(|t| t <= now)
}

/// When the token may be refreshed at the earliest, or `None` if now.
/// A token of unknown age (pasted by hand) gets one try at once; after
/// that it must have been here a full day.
fn too_young_until(account: &Account, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let from = match account.issued_at {
        Some(issued) => schedule::old_enough_at(issued),
        None if account.failures == 0 => return None,
        None => schedule::old_enough_at(account.placed_at),
    };
    (now < from).then_some(from)
}

/// Refreshes one account if it is due (or `force`d), holding the account's
/// database lease so that two processes never refresh it twice.
pub async fn refresh_account(app: &App, name: &str, force: bool) -> Result<Outcome, StoreError> {
    let now = app.clock.now();
    let Some(account) = app.store.account(name).await? else {
        return Ok(Outcome::UnknownAccount);
    };
    if let Some(outcome) = precheck(&account, now, force) {
        return Ok(outcome);
    }
    if !app
        .store
        .try_lease(name, &app.instance, now, now + LEASE)
        .await?
    {
        return Ok(Outcome::Busy);
    }
    // Another process may have refreshed it between our read and the lease.
    let account = match app.store.account(name).await? {
        Some(account) => account,
        None => return Ok(Outcome::UnknownAccount),
    };
    if let Some(outcome) = precheck(&account, now, force) {
        app.store.release_lease(name, &app.instance).await?;
        return Ok(outcome);
    }
    let outcome = attempt(app, &account).await?;
    app.metrics.record_refresh(outcome.label());
    Ok(outcome)
}

fn precheck(account: &Account, now: DateTime<Utc>, force: bool) -> Option<Outcome> {
    if account.kind == AccountKind::Facebook {
        return Some(Outcome::NotRefreshable);
    }
    if !force && !is_due(account, now) {
        return Some(if account.needs_reconnect {
            Outcome::NeedsReconnect
        } else {
            Outcome::NotDue {
                next_refresh_at: account.next_refresh_at,
            }
        });
    }
    too_young_until(account, now).map(|until| Outcome::TooYoung { until })
}

async fn attempt(app: &App, account: &Account) -> Result<Outcome, StoreError> {
    let name = account.name.as_str();
    let result = app.upstream.refresh_instagram_token(&account.token).await;
    // Time may have passed during the call; record when it ended.
    let now = app.clock.now();
    match result {
        Ok(grant) => {
            let expires_in = grant
                .expires_in
                .map(Duration::seconds)
                .unwrap_or(schedule::TOKEN_LIFETIME);
            let expires_at = now + expires_in;
            let next_refresh_at =
                schedule::next_refresh(app.config.refresh_mode, now, Some(expires_at));
            let written = app
                .store
                .finish_attempt(
                    name,
                    &app.instance,
                    Attempt::Refreshed {
                        token: &grant.access_token,
                        issued_at: now,
                        expires_at,
                        next_refresh_at,
                    },
                    now,
                )
                .await?;
            if !written {
                tracing::warn!(
                    account = name,
                    "refresh lease lapsed before the new token was saved; keeping the stored one"
                );
                return Ok(Outcome::Busy);
            }
            tracing::info!(account = name, %expires_at, %next_refresh_at, "token refreshed");
            if account.user_id.is_none() {
                learn_profile(app, name, &grant.access_token).await;
            }
            publish(app, name).await?;
            Ok(Outcome::Refreshed { expires_at })
        }
        Err(error) => {
            let kind = error.kind;
            let label = error.label();
            let young = might_be_young(account, now);
            // Meta does not document its answer to refreshing a token under
            // 24 hours old; if it is a 190, a token that still reads its
            // own profile is young, not dead.
            let dead = kind == ErrorKind::TokenDead
                && !(young && app.upstream.instagram_me(&account.token).await.is_ok());
            let message = match error.advice() {
                Some(advice) => format!("{error}; {advice}"),
                None if kind == ErrorKind::TokenDead && !dead => format!(
                    "{error} (the token still works: Instagram refreshes tokens only once they \
                     are 24 hours old)"
                ),
                None => error.to_string(),
            };
            let retry_at = (!dead).then(|| {
                if error.is_app_not_permitted() {
                    // Only the owner can fix it; once a day is enough to notice.
                    return now + NOT_PERMITTED_RETRY;
                }
                let upstream_wait = match kind {
                    ErrorKind::Throttled {
                        retry_after_minutes,
                    } => retry_after_minutes.map(|m| Duration::minutes(i64::from(m))),
                    _ => None,
                };
                let retry = schedule::retry_after(now, account.failures + 1, upstream_wait);
                match account.issued_at {
                    Some(_) if !young => retry,
                    Some(issued) => retry.max(schedule::old_enough_at(issued)),
                    None => retry.max(schedule::old_enough_at(account.placed_at)),
                }
            });
            app.store
                .finish_attempt(
                    name,
                    &app.instance,
                    Attempt::Failed {
                        kind: label,
                        message: &message,
                        needs_reconnect: dead,
                        next_refresh_at: retry_at,
                    },
                    now,
                )
                .await?;
            tracing::warn!(account = name, kind = label, error = %message, retry_at = ?retry_at, "refresh failed; the current token is kept");
            publish(app, name).await?;
            Ok(if dead {
                Outcome::NeedsReconnect
            } else {
                Outcome::Failed {
                    kind: label,
                    message,
                    retry_at,
                }
            })
        }
    }
}

/// How long to wait after Meta says the account may not use the app.
const NOT_PERMITTED_RETRY: Duration = Duration::days(1);

/// Whether the token may be under 24 hours old: issued within the last
/// day, or of unknown age and placed here within the last day.
fn might_be_young(account: &Account, now: DateTime<Utc>) -> bool {
    let since = account.issued_at.unwrap_or(account.placed_at);
    now < schedule::old_enough_at(since)
}

/// Records whose token this is, for the status page. Best effort.
async fn learn_profile(app: &App, name: &str, token: &str) {
    let learnt = crate::profile::learn(
        &app.upstream,
        &app.store,
        name,
        AccountKind::Instagram,
        token,
        None,
    )
    .await;
    if let Err(e) = learnt {
        tracing::warn!(account = name, error = %e, "could not read the account's profile");
    }
}

/// Puts the account's current row on the board, so token URLs serve it.
async fn publish(app: &App, name: &str) -> Result<(), StoreError> {
    match app.store.account(name).await? {
        Some(account) => app.board.put(&account),
        None => app.board.remove(name),
    }
    Ok(())
}

/// How often a token that cannot be refreshed is checked with debug_token.
const CHECK_EVERY: Duration = Duration::days(1);

/// Checks Facebook-Login tokens once a day with `debug_token` (when the
/// Facebook app is configured), so a revoked token shows up on the status
/// page and in a warning long before its expiry would.
pub async fn check_unrefreshable(app: &App) -> Result<usize, StoreError> {
    let Some(credentials) = &app.config.facebook_app else {
        return Ok(0);
    };
    let now = app.clock.now();
    let due: Vec<Account> = app
        .store
        .accounts()
        .await?
        .into_iter()
        .filter(|a| a.kind == AccountKind::Facebook && !a.needs_reconnect)
        .filter(|a| a.last_attempt_at.is_none_or(|t| now - t >= CHECK_EVERY))
        .collect();
    let app_token = AppToken::new(&credentials.id, credentials.secret.expose());
    for account in &due {
        check_token(app, &app_token, account, now).await?;
    }
    Ok(due.len())
}

/// Checks a Facebook-Login account's token at once (a pasted one, whose
/// expiry and type are not known), when the Facebook app is configured.
pub async fn check_now(app: &App, name: &str) -> Result<(), StoreError> {
    let Some(credentials) = &app.config.facebook_app else {
        return Ok(());
    };
    let Some(account) = app.store.account(name).await? else {
        return Ok(());
    };
    let app_token = AppToken::new(&credentials.id, credentials.secret.expose());
    check_token(app, &app_token, &account, app.clock.now()).await
}

/// Asks `debug_token` about `account`'s token and records the verdict:
/// its expiry, whether it never expires, its type; or, for a token Meta
/// refuses, the error.
async fn check_token(
    app: &App,
    app_token: &AppToken,
    account: &Account,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    match app.upstream.debug_token(&account.token, app_token).await {
        Ok(check) => {
            if check.is_system_user() {
                tracing::info!(account = %account.name, never_expires = check.never_expires,
                    "a system user's token: the agent checks it daily and warns before it expires");
            }
            app.store
                .record_check(&account.name, now, Ok(&check))
                .await?
        }
        Err(e) => {
            let dead = e.kind == ErrorKind::TokenDead;
            tracing::warn!(account = %account.name, error = %e, dead, "Facebook token check failed");
            // Only a verdict on the token itself is recorded; a failure
            // to ask (network, throttling) is retried next time.
            if !dead && e.kind != ErrorKind::Rejected {
                return Ok(());
            }
            let message = e.to_string();
            let verdict = Err((e.kind.label(), message.as_str(), dead));
            app.store.record_check(&account.name, now, verdict).await?;
        }
    }
    publish(app, &account.name).await
}

/// The build hook's share of a pass: the check for new posts when due (in
/// any process), token changes, and the deliveries due.
async fn build_hook_pass(app: &App) -> Result<(), StoreError> {
    let Some(hook) = &app.build_hook else {
        return Ok(());
    };
    let now = app.clock.now();
    let accounts = app.store.accounts().await?;
    if hook.check_due(&app.store, now).await? {
        for account in &accounts {
            // Through the cache: a page read within FEED_CACHE_TTL was
            // compared when it was read, and costs nothing now.
            if let Err(e) = app.feeds.first_page(&account.name).await {
                tracing::warn!(account = %account.name, error = %e, "the build hook's check could not read the feed");
            }
        }
    }
    for account in &accounts {
        hook.token(&app.store, account, now).await?;
    }
    hook.deliver_due(&app.store, now).await?;
    Ok(())
}

/// Refreshes every account that is due.
pub async fn refresh_due(app: &App) -> Vec<(String, Result<Outcome, StoreError>)> {
    let accounts = match app.store.accounts().await {
        Ok(accounts) => accounts,
        Err(e) => return vec![("*".into(), Err(e))],
    };
    let now = app.clock.now();
    let mut results = Vec::new();
    for account in accounts
        .iter()
        .filter(|a| a.kind == AccountKind::Instagram && is_due(a, now))
    {
        let outcome = refresh_account(app, &account.name, false).await;
        results.push((account.name.clone(), outcome));
    }
    results
}

/// Runs due refreshes at start, then every `refresh_check_interval` and
/// whenever woken (but at most once per `refresh_wake_gap`, so a burst of
/// requests for an overdue token cannot hammer a struggling database),
/// until `shutdown` completes; or, at [`Pace::Stepped`], only the passes
/// asked for.
pub async fn run(app: Arc<App>, pace: Pace, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut steps = match pace {
        Pace::Free => None,
        Pace::Stepped(steps) => Some(steps),
    };
    loop {
        let done = match &mut steps {
            None => None,
            Some(steps) => tokio::select! {
                _ = &mut shutdown => return,
                step = steps.recv() => match step {
                    Some(done) => Some(done),
                    None => return,
                },
            },
        };
        // Each pass is its own task: should one ever panic, the next pass
        // still runs (a lease it held lapses by itself).
        if let Err(e) = tokio::spawn(pass(app.clone())).await {
            tracing::error!(error = %e, "a refresh pass failed unexpectedly; the next one runs as usual");
        }
        if let Some(done) = done {
            let _ = done.send(());
            continue;
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(app.config.refresh_check_interval) => {}
            _ = async {
                tokio::time::sleep(app.config.refresh_wake_gap).await;
                app.wake.notified().await
            } => {}
        }
    }
}

/// When the refresher's passes run.
#[derive(Debug)]
pub enum Pace {
    /// At start, then every REFRESH_CHECK_INTERVAL and whenever a request
    /// finds an overdue token: how the agent serves.
    Free,
    /// One pass each time [`Steps::pass`] asks, and none otherwise: for
    /// tests that count the calls the agent makes upstream.
    Stepped(tokio::sync::mpsc::Receiver<tokio::sync::oneshot::Sender<()>>),
}

/// Asks a [`Pace::Stepped`] refresher for passes.
#[derive(Clone, Debug)]
pub struct Steps(tokio::sync::mpsc::Sender<tokio::sync::oneshot::Sender<()>>);

impl Pace {
    /// A refresher that waits to be stepped, and the handle that steps it.
    pub fn stepped() -> (Pace, Steps) {
        let (ask, asked) = tokio::sync::mpsc::channel(1);
        (Pace::Stepped(asked), Steps(ask))
    }
}

impl Steps {
    /// Runs one pass of the refresher's loop and waits for it to end;
    /// false once the refresher has stopped.
    pub async fn pass(&self) -> bool {
        let (done, finished) = tokio::sync::oneshot::channel();
        self.0.send(done).await.is_ok() && finished.await.is_ok()
    }
}

/// One round of the refresher's work.
async fn pass(app: Arc<App>) {
    // Pick up tokens that another process (the CLI, a second instance) put
    // in the database; on failure keep serving what we have.
    if let Err(e) = app.reload().await {
        tracing::warn!(error = %e, "cannot read accounts; serving the tokens in memory");
    }
    for (name, outcome) in refresh_due(&app).await {
        if let Err(e) = outcome {
            tracing::warn!(account = %name, error = %e, "refresh could not run; will try again");
        }
    }
    if let Err(e) = check_unrefreshable(&app).await {
        tracing::warn!(error = %e, "could not check Facebook tokens; will try again");
    }
    if let Err(e) = build_hook_pass(&app).await {
        tracing::warn!(error = %e, "the build hook's pass failed; will try again");
    }
    if let Err(e) = crate::warnings::send_due(&app).await {
        tracing::warn!(error = %e, "could not check for expiry warnings; will try again");
    }
    if let Err(e) = crate::warnings::version_due(&app).await {
        tracing::warn!(error = %e, "could not check the Graph API version; will try again");
    }
}

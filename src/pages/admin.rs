//! `GET /admin`: refresh, remove, reconnect or replace an account's token,
//! start a connect flow, and the URLs to register with Meta.

use askama::Template;

use super::budget::{Budget, budgets};
use super::time::Moment;
use super::{Layout, kind_label, path_segment};
use crate::app::App;
use crate::config::Config;
use crate::store::AccountKind;

#[derive(Template)]
#[template(path = "admin.html")]
pub(super) struct AdminPage<'a> {
    layout: Layout,
    csrf: &'a str,
    rows: Vec<Row>,
    database_down: bool,
    instagram_app: bool,
    facebook_app: bool,
    instagram_callback: String,
    facebook_callback: String,
    deauthorize: String,
    data_deletion: String,
    hook_url: Option<&'a str>,
    /// Tags from HASHTAGS (fixed here) and allowed on this page.
    configured_tags: Vec<String>,
    approved_tags: Vec<String>,
    /// Per Facebook-Login account: tags used of the weekly budget, and when one frees.
    budgets: Vec<Budget>,
    budget_limit: i64,
}

struct Row {
    name: String,
    /// The name as a URL path segment.
    segment: String,
    /// `None` when only the token in memory is known (database down).
    kind_label: Option<&'static str>,
    username: Option<String>,
    expires: Option<Moment>,
    expires_words: String,
    needs_reconnect: bool,
    /// Instagram Login tokens can be refreshed by API; Facebook Login ones cannot.
    refreshable: bool,
    /// `/connect/{kind}?account=NAME` when that kind's app is configured.
    reconnect: Option<String>,
    /// The app id and secret variables to set to reconnect here, when unset.
    reconnect_needs: Option<(&'static str, &'static str)>,
    /// A Facebook-Login account's Instagram accounts to choose from.
    choices: Vec<crate::upstream::LinkedInstagram>,
}

pub(super) async fn page<'a>(
    app: &App,
    csrf: &'a str,
    hook_url: Option<&'a str>,
    base: &str,
) -> AdminPage<'a> {
    let now = app.clock.now();
    let config = &app.config;
    let connect = |kind: AccountKind, name: &str| {
        let (configured, path) = match kind {
            AccountKind::Instagram => (config.instagram_app.is_some(), "instagram"),
            AccountKind::Facebook => (config.facebook_app.is_some(), "facebook"),
        };
        configured.then(|| format!("/connect/{path}?account={}", path_segment(name)))
    };
    let needs = |kind: AccountKind| match kind {
        AccountKind::Instagram => ("INSTAGRAM_APP_ID", "INSTAGRAM_APP_SECRET"),
        AccountKind::Facebook => ("FACEBOOK_APP_ID", "FACEBOOK_APP_SECRET"),
    };
    let listed = super::accounts(app).await;
    let budgets = match &listed {
        Some(accounts) => budgets(app, accounts).await,
        None => Vec::new(),
    };
    let (configured_tags, approved_tags) = app.feeds.hashtags();
    let (rows, database_down) = match listed {
        Some(accounts) => (
            accounts
                .iter()
                .map(|a| {
                    let reconnect = connect(a.kind, &a.name);
                    Row {
                        segment: path_segment(&a.name),
                        kind_label: Some(kind_label(a.kind)),
                        username: a.username.clone(),
                        expires: Moment::of(a.expires_at, now),
                        expires_words: super::status::expires_words(a.expires_at, now),
                        needs_reconnect: a.needs_reconnect,
                        refreshable: a.kind == AccountKind::Instagram,
                        reconnect_needs: reconnect.is_none().then(|| needs(a.kind)),
                        reconnect,
                        name: a.name.clone(),
                        choices: Vec::new(),
                    }
                })
                .collect::<Vec<_>>(),
            false,
        ),
        None => (
            app.board
                .names()
                .into_iter()
                .map(|name| {
                    let expires_at = app.board.get(&name).and_then(|s| s.expires_at);
                    Row {
                        segment: path_segment(&name),
                        kind_label: None,
                        username: None,
                        expires: Moment::of(expires_at, now),
                        expires_words: super::status::expires_words(expires_at, now),
                        needs_reconnect: false,
                        refreshable: true,
                        reconnect: None,
                        reconnect_needs: None,
                        name,
                        choices: Vec::new(),
                    }
                })
                .collect(),
            true,
        ),
    };
    let mut rows = rows;
    for row in rows
        .iter_mut()
        .filter(|r| !database_down && r.kind_label == Some(kind_label(AccountKind::Facebook)))
    {
        match crate::profile::choices(&app.store, &row.name).await {
            Ok(choices) => row.choices = choices,
            Err(e) => {
                tracing::warn!(account = %row.name, error = %e, "could not read the Instagram accounts to choose from")
            }
        }
    }
    AdminPage {
        layout: Layout::for_app(app, "Admin", "admin"),
        csrf,
        rows,
        database_down,
        instagram_app: config.instagram_app.is_some(),
        facebook_app: config.facebook_app.is_some(),
        instagram_callback: format!("{base}/connect/instagram/callback"),
        facebook_callback: format!("{base}/connect/facebook/callback"),
        deauthorize: format!("{base}/callbacks/deauthorize"),
        data_deletion: format!("{base}/callbacks/data-deletion"),
        hook_url,
        configured_tags,
        approved_tags: approved_tags.into_iter().collect(),
        budgets,
        budget_limit: crate::feed::HASHTAG_LIMIT,
    }
}

/// The admin page's policy. Its connect forms are POST submissions to
/// `/connect/*`, which redirect to Meta's authorization page, and Chrome
/// applies `form-action` to the redirect too: the configured authorization
/// hosts are allowed as form targets here, and nowhere else.
pub(super) fn csp(config: &Config) -> String {
    let mut targets = vec!["'self'".to_string()];
    let configured = [
        (
            config.instagram_app.is_some(),
            &config.upstream.instagram_authorize_url,
        ),
        (
            config.facebook_app.is_some(),
            &config.upstream.facebook_dialog_url,
        ),
    ];
    for (enabled, url) in configured {
        let Some(url) = enabled.then(|| url::Url::parse(url).ok()).flatten() else {
            continue;
        };
        targets.push(url.origin().ascii_serialization());
        // Meta may bounce the login to another of its hosts (m.facebook.com).
        for site in ["facebook.com", "instagram.com"] {
            if url.scheme() == "https"
                && url
                    .host_str()
                    .is_some_and(|h| h == site || h.ends_with(&format!(".{site}")))
            {
                targets.push(format!("https://*.{site}"));
            }
        }
    }
    targets.dedup();
    super::CSP.replace(
        "form-action 'self'",
        &format!("form-action {}", targets.join(" ")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Config {
        Config::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap()
    }

    #[test]
    fn without_connect_apps_forms_may_only_post_to_the_agent() {
        assert_eq!(csp(&config(&[])), super::super::CSP);
    }

    #[test]
    fn a_configured_connect_app_lets_its_form_reach_meta() {
        let csp = csp(&config(&[
            ("FACEBOOK_APP_ID", "1"),
            ("FACEBOOK_APP_SECRET", "s"),
        ]));
        assert!(
            csp.contains("form-action 'self' https://www.facebook.com https://*.facebook.com;"),
            "{csp}"
        );
        assert!(!csp.contains("instagram"));
        assert!(csp.contains("frame-ancestors 'none'"));
    }
}

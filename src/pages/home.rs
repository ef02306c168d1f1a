//! `GET /`: the setup page. A checklist of what is configured and what is
//! missing, then the snippets to paste into a site.

use askama::Template;

use url::Url;

use super::{Layout, base_url};
use crate::app::App;
use crate::config::{Config, RefreshMode};
use crate::domain::DEFAULT_ACCOUNT;

#[derive(Template)]
#[template(path = "home.html")]
pub(super) struct HomePage {
    layout: Layout,
    /// The base of every URL on the page: APP_URL, else `detected`.
    app_url: String,
    /// The URL this request came to, when its headers name one.
    detected: Option<String>,
    /// Whether APP_URL is set.
    app_url_set: bool,
    /// The URL warnings and `hook-url` use, and where it comes from; `None`
    /// while the agent does not know it.
    outside: Option<(String, String)>,
    /// ALLOWED_DOMAINS entries, normalised; `None` while unset.
    allowed: Option<Vec<String>>,
    /// Account names: from the database, or from the tokens in memory
    /// when the database does not answer (`database_down`).
    accounts: Vec<String>,
    /// Whether account `default`, which the plain URLs serve, exists.
    has_default: bool,
    database_down: bool,
    admin_enabled: bool,
    instagram_app: bool,
    facebook_app: bool,
    encrypted: bool,
    notify_email: bool,
    notify_webhook: bool,
    hook_enabled: bool,
    database: &'static str,
    cache: &'static str,
    refresh: String,
    js_name: String,
    script_snippet: String,
    instafeed_snippet: String,
    fetch_snippet: String,
    embed_snippet: String,
    frame_snippet: String,
    /// The script tag for each account other than `default`.
    named_snippets: Vec<(String, String)>,
}

pub(super) async fn page(app: &App, detected: Option<&Url>) -> HomePage {
    let config = &app.config;
    let base = base_url(app, detected);
    let outside = match app.public_url.known() {
        crate::public_url::Known::Configured { url, var } => Some((
            url.as_str().trim_end_matches('/').to_string(),
            var.to_string(),
        )),
        crate::public_url::Known::SignedIn(url) => Some((
            url.as_str().trim_end_matches('/').to_string(),
            "the last admin sign-in".to_string(),
        )),
        crate::public_url::Known::Unknown => None,
    };
    let (accounts, database_down) = match super::accounts(app).await {
        Some(accounts) => (accounts.into_iter().map(|a| a.name).collect(), false),
        None => (app.board.names(), true),
    };
    let js_name = config.js_constant_name.as_str().to_string();
    let named_snippets = accounts
        .iter()
        .filter(|name| name.as_str() != DEFAULT_ACCOUNT)
        .map(|name| {
            (
                name.clone(),
                format!(
                    "<script src=\"{base}{}\"></script>",
                    super::token_js_path(name)
                ),
            )
        })
        .collect();
    HomePage {
        layout: Layout::for_app(app, "Setup", "home"),
        script_snippet: format!("<script src=\"{base}/token.js\"></script>"),
        instafeed_snippet: instafeed_snippet(&base, &js_name),
        fetch_snippet: fetch_snippet(&base),
        embed_snippet: embed_snippet(&base),
        frame_snippet: frame_snippet(&base),
        named_snippets,
        app_url: base,
        detected: detected.map(|u| u.as_str().trim_end_matches('/').to_string()),
        app_url_set: config.app_url.is_some(),
        outside,
        has_default: accounts.iter().any(|n| n == DEFAULT_ACCOUNT),
        allowed: config
            .allowed_domains
            .as_ref()
            .map(|d| d.entries().collect()),
        accounts,
        database_down,
        admin_enabled: config.admin_password.is_some(),
        instagram_app: config.instagram_app.is_some(),
        facebook_app: config.facebook_app.is_some(),
        encrypted: config.token_encryption_key.is_some(),
        notify_email: config.email.is_some(),
        notify_webhook: config.notify_webhook_url.is_some(),
        hook_enabled: config.webhook_secret.is_some(),
        database: app.store.backend(),
        cache: app.cache.backend(),
        refresh: describe_refresh(config),
        js_name,
    }
}

/// "every week (REFRESH_MODE=cron)" and the like.
pub(super) fn describe_refresh(config: &Config) -> String {
    match config.refresh_mode {
        RefreshMode::Cron(frequency) => {
            let every = match frequency {
                crate::config::Frequency::Daily => "every day",
                crate::config::Frequency::Weekly => "every week",
                crate::config::Frequency::Monthly => "every 30 days",
            };
            format!("{every} (REFRESH_MODE=cron)")
        }
        RefreshMode::Scheduled => "two weeks before expiry (REFRESH_MODE=scheduled)".into(),
    }
}

fn instafeed_snippet(base: &str, js_name: &str) -> String {
    format!(
        r#"<div id="instafeed"></div>

<script src="{base}/token.js"></script>
<script src="https://cdn.jsdelivr.net/npm/instafeed.js@2"></script>
<script>
  new Instafeed({{
    accessToken: {js_name},
    target: 'instafeed'
  }}).run();
</script>"#
    )
}

/// Renders the feed with DOM calls, not `innerHTML`, so that a caption can
/// never inject markup into the owner's site.
fn fetch_snippet(base: &str) -> String {
    format!(
        r#"<div id="feed"></div>

<script>
  fetch('{base}/feed.json?limit=12')
    .then((response) => response.json())
    .then(({{ data }}) => {{
      const feed = document.getElementById('feed');
      for (const post of data) {{
        const link = document.createElement('a');
        link.href = post.permalink;
        const image = document.createElement('img');
        image.src = post.media_type === 'VIDEO' ? post.thumbnail_url : post.media_url;
        image.alt = post.caption || '';
        image.loading = 'lazy';
        link.append(image);
        feed.append(link);
      }}
    }});
</script>"#
    )
}

/// The grid from one script tag (`/embed.js`); the token stays on the agent.
fn embed_snippet(base: &str) -> String {
    format!(
        r#"<div data-token-agent data-limit="12"></div>
<script src="{base}/embed.js" async></script>"#
    )
}

/// The same grid with no script at all (`/feed.html`). The frame is let in
/// by the page's Referer, so the snippet asks for one even where the site
/// sends none by default.
fn frame_snippet(base: &str) -> String {
    format!(
        r#"<iframe src="{base}/feed.html?limit=12" title="Instagram posts"
        height="640" referrerpolicy="strict-origin-when-cross-origin"></iframe>"#
    )
}

//! `token-agent demo`: the agent wired to the built-in fake Graph API, with
//! a sample Instagram account and posts, so a newcomer sees every URL work
//! without a Meta developer account.

use chrono::Duration;
use fake_graph::{FakeApp, FakeGraph, FakeOptions};

use crate::clock::Clock;
use crate::config::{AppCredentials, Config, DatabaseUrl, Secret};
use crate::startup::Application;
use crate::store::{AccountKind, NewToken};

pub async fn run(mut config: Config) -> anyhow::Result<()> {
    let clock = Clock::System;
    let fake = FakeGraph::start(clock.clone()).await;
    // Images come from the fake too, so the page works offline.
    let cdn = fake.cdn_url();
    fake.set_options(|o: &mut FakeOptions| o.media_base_url = Some(cdn));
    // And the mirror may copy them.
    config
        .mirror
        .cdn_hosts
        .add(&fake.cdn().host())
        .map_err(anyhow::Error::msg)?;
    // A grid of 24, as most sites show and MIRROR_POSTS keeps.
    let user = fake.add_instagram_user("demo_bakery", 24);
    let brand = fake.add_instagram_user("demo_brand", 6);

    let dir = tempfile_dir()?;
    config.database = DatabaseUrl::Sqlite(dir.join("demo.db"));
    point(&fake, &mut config.upstream);
    if config.hashtags.is_empty() {
        // The demo's hashtag URL, /hashtags/bakery/top.json.
        config.hashtags = vec!["bakery".into()];
    }
    config.starting_token = None;
    let base = format!("http://localhost:{}", config.port);
    if config.allowed_domains.is_none() {
        let own = format!("{base} http://127.0.0.1:{}", config.port);
        config.allowed_domains = Some(crate::domain::allowlist::AllowedDomains::parse(&own)?);
        // curl sends no Origin or Referer; let it in for the demo.
        config.allow_empty_referer = true;
    }
    config.set_app_url(url::Url::parse(&base)?);
    // The connect buttons work too: the fake plays Meta's login windows.
    let fake_app = FakeApp {
        redirect_uris: vec![
            format!("{base}/connect/instagram/callback"),
            format!("{base}/connect/facebook/callback"),
        ],
        ..FakeApp::default()
    };
    if config.instagram_app.is_none() {
        config.instagram_app = Some(AppCredentials {
            id: fake_app.ig_app_id.clone(),
            secret: Secret::new(fake_app.ig_app_secret.clone()),
        });
    }
    if config.facebook_app.is_none() {
        config.facebook_app = Some(AppCredentials {
            id: fake_app.fb_app_id.clone(),
            secret: Secret::new(fake_app.fb_app_secret.clone()),
        });
    }
    fake.set_options(|o| o.app = fake_app);

    let application = Application::build(config, clock.clone()).await?;
    let app = application.app().clone();
    let now = clock.now();
    for (name, kind, token) in [
        (
            "default",
            AccountKind::Instagram,
            fake.issue_long_lived_token(&user, now - Duration::days(2)),
        ),
        (
            "brand",
            AccountKind::Facebook,
            fake.issue_facebook_user_token(&brand, now - Duration::days(2), true),
        ),
    ] {
        let issued = now - Duration::days(2);
        app.store
            .put_token(
                &NewToken {
                    name: name.into(),
                    kind,
                    token,
                    user_id: None,
                    username: None,
                    issued_at: Some(issued),
                    expires_at: Some(issued + Duration::days(60)),
                    next_refresh_at: (kind == AccountKind::Instagram).then_some(now),
                },
                now,
            )
            .await?;
    }
    app.reload().await?;
    println!(
        "token-agent demo: a fake Instagram with @demo_bakery (Instagram Login) and @demo_brand (Facebook Login)\n\
         \n  {base}/token.json\n  {base}/token.js\n  {base}/feed.json?limit=6\n  {base}/hashtags/bakery/top.json\n  {base}/healthz\n\
         \n  {base}/            setup and help\n  {base}/status      accounts and expiry\n  {base}/admin       {}\
         \n\nThe fake Graph API is at {} (its image host at {}).\
         \nData lives in {} and is gone when you stop the demo (Ctrl-C).",
        if app.config.admin_password.is_some() {
            "connect, refresh, remove (sign in with ADMIN_PASSWORD)"
        } else {
            "off: run with ADMIN_PASSWORD=something to try connecting accounts"
        },
        fake.base_url(),
        fake.cdn_url(),
        dir.display()
    );
    application.run_until_signalled().await
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("token-agent-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Points every upstream base of `upstream` at `fake`.
fn point(fake: &FakeGraph, upstream: &mut crate::config::UpstreamConfig) {
    upstream.instagram_graph_url = fake.instagram_graph_url();
    upstream.instagram_oauth_url = fake.instagram_oauth_url();
    upstream.instagram_authorize_url = fake.instagram_authorize_url();
    upstream.facebook_graph_url = fake.facebook_graph_url();
    upstream.facebook_dialog_url = fake.facebook_dialog_url();
}

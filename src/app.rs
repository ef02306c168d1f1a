//! The running agent: configuration, storage, upstream client, the tokens
//! in memory, and the clock, built once and shared by the server, the
//! refresher and the CLI.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use crate::board::Board;
use crate::cache::{Cache, CacheConfig};
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::TokenCipher;
use crate::notify::Notifier;
use crate::proxy::Proxy;
use crate::store::{AccountKind, NewToken, Store};
use crate::upstream::{Upstream, UpstreamConfig};

/// The account that un-prefixed token URLs and STARTING_TOKEN use.
pub const DEFAULT_ACCOUNT: &str = "default";
const STARTING_TOKEN_KEY: &str = "starting_token_sha256";

pub struct App {
    pub config: Config,
    pub clock: Clock,
    pub store: Store,
    pub upstream: Upstream,
    pub board: Board,
    /// Feed and hashtag pages: memcached when configured, in-process always.
    pub cache: Cache,
    pub proxy: Proxy,
    /// Where expiry warnings go (e-mail, webhook, or only the log).
    pub notifier: Notifier,
    pub metrics: crate::metrics::Metrics,
    /// Failed admin sign-ins, per client.
    pub admin_gate: crate::http::admin::Gate,
    /// Wakes the refresher early, e.g. when a request sees an overdue token.
    pub wake: Notify,
    /// Names this process in refresh leases.
    pub instance: String,
}

impl App {
    /// Opens the database (applying migrations), seeds STARTING_TOKEN and
    /// loads the tokens into memory.
    pub async fn open(config: Config, clock: Clock) -> anyhow::Result<Arc<App>> {
        let mut store = Store::connect(&config.database).await.with_context(|| {
            format!("cannot open the database ({})", config.database.describe())
        })?;
        store.migrate().await?;
        let cipher = config
            .token_encryption_key
            .as_ref()
            .map(TokenCipher::from_secret);
        if cipher.is_none() {
            tracing::warn!("TOKEN_ENCRYPTION_KEY is not set: tokens are stored unencrypted");
        }
        store.use_cipher(cipher).await?;
        let upstream = Upstream::new(UpstreamConfig {
            instagram_graph_url: config.upstream.instagram_graph.clone(),
            instagram_oauth_url: config.upstream.instagram_oauth.clone(),
            facebook_graph_url: config.upstream.facebook_graph.clone(),
            graph_version: "v25.0".into(),
            user_agent: config.user_agent(),
            timeout: config.upstream_timeout,
            connect_timeout: config.upstream_timeout.min(Duration::from_secs(5)),
            max_body_bytes: 2 * 1024 * 1024,
        })?;
        let cache = Cache::new(CacheConfig {
            servers: config.memcache_servers.clone(),
            username: config.memcache_username.clone(),
            password: config
                .memcache_password
                .as_ref()
                .map(|p| p.expose().to_string()),
            ..CacheConfig::default()
        })?;
        let notifier = Notifier::new(
            config.notify_email.clone().zip(config.smtp_url.clone()),
            config.notify_webhook_url.clone(),
            config.webhook_secret.clone(),
            config.user_agent(),
            "token-agent",
            clock.clone(),
        )?;
        let app = Arc::new(App {
            config,
            clock,
            store,
            upstream,
            board: Board::default(),
            cache,
            proxy: Proxy::default(),
            notifier,
            metrics: Default::default(),
            admin_gate: Default::default(),
            wake: Notify::new(),
            instance: format!("{}-{:08x}", std::process::id(), rand::random::<u32>()),
        });
        app.seed_starting_token().await?;
        app.reload().await?;
        Ok(app)
    }

    /// Removes an account, its token and its cached pages.
    pub async fn remove_account(&self, name: &str) -> anyhow::Result<bool> {
        let removed = self.store.remove(name).await?;
        self.board.remove(name);
        self.proxy.forget_account(&self.cache, name).await;
        Ok(removed)
    }

    /// Re-reads every account into memory.
    pub async fn reload(&self) -> anyhow::Result<()> {
        let accounts = self.store.accounts().await?;
        self.board.load(&accounts);
        Ok(())
    }

    /// STARTING_TOKEN creates the `default` account on first start. A later
    /// change of the variable replaces the token on purpose; an unchanged
    /// variable never puts back a token that has since been refreshed.
    async fn seed_starting_token(&self) -> anyhow::Result<()> {
        let Some(token) = &self.config.starting_token else {
            return Ok(());
        };
        let fingerprint = hex::encode(Sha256::digest(token.expose().as_bytes()));
        if self.store.setting(STARTING_TOKEN_KEY).await?.as_deref() == Some(fingerprint.as_str()) {
            return Ok(());
        }
        let existing = self.store.account(DEFAULT_ACCOUNT).await?;
        if existing.as_ref().map(|a| a.token.as_str()) != Some(token.expose()) {
            let now = self.clock.now();
            self.store
                .put_token(
                    // Its age is unknown: the refresher tries once now to
                    // learn its expiry, and otherwise a day later.
                    &NewToken::pasted(DEFAULT_ACCOUNT, AccountKind::Instagram, token.expose(), now),
                    now,
                )
                .await?;
            tracing::info!(
                account = DEFAULT_ACCOUNT,
                replaced = existing.is_some(),
                "STARTING_TOKEN put in place"
            );
        }
        self.store
            .set_setting(STARTING_TOKEN_KEY, &fingerprint)
            .await?;
        Ok(())
    }
}

//! The running agent's handles: configuration, clock, storage, upstream
//! client, the tokens in memory, the cache, the feed proxy, the image mirror,
//! the notifier and
//! the metrics, built once and shared by the server, the refresher and the
//! CLI. `App` knows nothing of HTTP or pages; `startup.rs` serves it.

use std::sync::Arc;

use anyhow::Context;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use crate::board::Board;
use crate::cache::Cache;
use crate::clock::Clock;
use crate::config::{Config, Secret};
use crate::crypto::TokenCipher;
use crate::domain::DEFAULT_ACCOUNT;
use crate::feed::{CursorKey, FeedHandles, FeedSettings, Feeds};
use crate::metrics::Metrics;
use crate::mirror::Mirror;
use crate::notify::Notifier;
use crate::public_url::PublicUrl;
use crate::store::{AccountKind, NewToken, Store};
use crate::upstream::Upstream;

// MIRROR_POSTS reaches no further than the first upstream page.
const _: () = assert!(crate::config::MAX_MIRROR_POSTS == crate::feed::UPSTREAM_PAGE as usize);

const STARTING_TOKEN_KEY: &str = "starting_token_sha256";
const FORM_KEY: &str = "admin_form_key";
const CURSOR_KEY: &str = "feed_cursor_key";

/// A key made once, at random, and shared through the database: the admin
/// forms' and the feed cursors'.
async fn shared_key(store: &Store, name: &str) -> anyhow::Result<String> {
    let fresh = hex::encode(rand::random::<[u8; 32]>());
    Ok(store.setting_or_insert(name, &fresh).await?)
}

pub struct App {
    pub config: Config,
    pub clock: Clock,
    pub store: Store,
    pub upstream: Upstream,
    pub board: Arc<Board>,
    /// Feed and hashtag pages: memcached when configured, in-process always.
    pub cache: Cache,
    /// The feed and hashtag proxy.
    pub feeds: Feeds,
    /// The copies of the newest posts' images, served at `/media/…`.
    pub mirror: Mirror,
    /// Where expiry warnings go (e-mail, webhook, or only the log).
    pub notifier: Notifier,
    /// BUILD_HOOK_URL, when set: builds the owner's site on a change.
    pub build_hook: Option<Arc<crate::build_hook::BuildHook>>,
    /// The agent's own public URL, for the links it makes.
    pub public_url: PublicUrl,
    pub metrics: Arc<Metrics>,
    /// Wakes the refresher early, e.g. when a request sees an overdue token.
    pub wake: Notify,
    /// Names this process in refresh leases.
    pub instance: String,
    /// Keys the admin forms' CSRF tokens: random, kept in the database so
    /// every instance shares it, and never derived from ADMIN_PASSWORD.
    pub form_key: Secret,
    reloading: tokio::sync::Mutex<()>,
}

impl App {
    /// Opens the database (applying migrations), seeds STARTING_TOKEN and
    /// loads the tokens into memory.
    pub async fn open(mut config: Config, clock: Clock) -> anyhow::Result<Arc<App>> {
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
        if config.app_name_ignored {
            tracing::info!(
                "APP_NAME is set and ignored: Heroku apps made since 2023 do not live at APP_NAME.herokuapp.com; set APP_URL to the app's real URL"
            );
        }
        let public_url = PublicUrl::new(&config);
        let known = public_url.known_now(&store).await;
        // Upstream calls name the agent by the URL known at start.
        config.upstream.user_agent = crate::config::user_agent(known.url());
        let upstream = Upstream::new(&config.upstream)?;
        let cache = Cache::new(config.cache.clone())?;
        let notifier = Notifier::new(
            config.email.as_ref(),
            config.notify_webhook_url.clone(),
            config.webhook_secret.clone(),
            config.upstream.user_agent.clone(),
            "token-agent",
            clock.clone(),
        )?;
        let instance = format!("{}-{:08x}", std::process::id(), rand::random::<u32>());
        let build_hook = match &config.build_hook {
            Some(hook) => Some(Arc::new(crate::build_hook::BuildHook::new(
                hook.clone(),
                config.webhook_secret.clone(),
                &config.upstream.user_agent,
                &instance,
            )?)),
            None => None,
        };
        let form_key = Secret::new(shared_key(&store, FORM_KEY).await?);
        let cursor_key = CursorKey::new(&shared_key(&store, CURSOR_KEY).await?);
        let board = Arc::new(Board::default());
        let metrics = Arc::new(Metrics::default());
        let mirror = Mirror::new(
            store.clone(),
            clock.clone(),
            &config.mirror,
            &config.upstream,
        )?;
        let feeds = Feeds::new(
            FeedHandles {
                store: store.clone(),
                cache: cache.clone(),
                upstream: upstream.clone(),
                board: board.clone(),
                clock: clock.clone(),
                metrics: metrics.clone(),
                mirror: mirror.clone(),
                build_hook: build_hook.clone(),
            },
            FeedSettings {
                ttl: chrono::Duration::from_std(config.feed_cache_ttl)
                    .unwrap_or(chrono::Duration::minutes(5)),
                stale_ttl: chrono::Duration::from_std(config.feed_stale_ttl)
                    .unwrap_or(chrono::Duration::days(1)),
                hashtags: config.hashtags.clone(),
                trial_reels: config.feed_trial_reels,
                misses_per_minute: config.guard.feed_misses_per_minute,
                cursor_key,
            },
        );
        let app = Arc::new(App {
            config,
            clock,
            store,
            upstream,
            board,
            cache,
            feeds,
            mirror,
            notifier,
            build_hook,
            public_url,
            metrics,
            wake: Notify::new(),
            instance,
            form_key,
            reloading: tokio::sync::Mutex::new(()),
        });
        app.seed_starting_token().await?;
        app.reload().await?;
        Ok(app)
    }

    /// Removes an account, its token, its cached pages and its images:
    /// the one place every removal (the CLI, the admin page, Meta's
    /// callbacks) goes through.
    pub async fn remove_account(&self, name: &str) -> anyhow::Result<bool> {
        let removed = self.store.remove(name).await?;
        self.board.remove(name);
        self.feeds.forget_account(name).await;
        self.mirror.forget_account(name).await?;
        Ok(removed)
    }

    /// Re-reads every account, and the hashtags allowed on the admin page,
    /// into memory. One reload at a time: of two
    /// that overlap (the change listener's and the refresher's), the one
    /// that read the database last must be the one the board keeps.
    pub async fn reload(&self) -> anyhow::Result<()> {
        let _one_at_a_time = self.reloading.lock().await;
        let accounts = self.store.accounts().await?;
        self.board.load(&accounts);
        self.feeds
            .set_approved_hashtags(self.store.approved_hashtags().await?);
        // Another instance may have mirrored images, or removed an account.
        self.mirror.reload().await?;
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
            // Whose token it is, at once: Meta's deletion callback names it.
            let learnt = crate::profile::learn(
                &self.upstream,
                &self.store,
                DEFAULT_ACCOUNT,
                AccountKind::Instagram,
                token.expose(),
                None,
            )
            .await;
            if let Err(e) = learnt {
                tracing::warn!(account = DEFAULT_ACCOUNT, error = %e, "could not learn whose STARTING_TOKEN is");
            }
        }
        self.store
            .set_setting(STARTING_TOKEN_KEY, &fingerprint)
            .await?;
        Ok(())
    }
}

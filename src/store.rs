//! Accounts and their tokens, in SQLite (the default) or PostgreSQL.
//!
//! Both backends run the same SQL text: times are stored as Unix
//! milliseconds and placeholders are `$n`, which SQLite also accepts. Each
//! statement is written once and run on whichever pool is configured.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use std::sync::Arc;

use crate::config::DatabaseUrl;
use crate::crypto::TokenCipher;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Clone, Debug)]
enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The database, and the cipher that seals tokens at rest when
/// TOKEN_ENCRYPTION_KEY is set.
#[derive(Clone)]
pub struct Store {
    db: Db,
    cipher: Option<Arc<TokenCipher>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .field("encrypted", &self.cipher.is_some())
            .finish()
    }
}

/// Runs one body against whichever pool the store holds. The body is
/// expanded once per backend, so the same SQL serves both.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.db {
            Db::Sqlite($pool) => $body,
            Db::Postgres($pool) => $body,
        }
    };
}

/// Where the key check value is kept, to tell a wrong key at start-up.
const KEY_CHECK: &str = "token_key_check";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot create the SQLite folder {path}: {source}")]
    Folder {
        path: String,
        source: std::io::Error,
    },
    #[error("DATABASE_URL: {0}")]
    Url(String),
    #[error("TOKEN_ENCRYPTION_KEY: {0}")]
    Key(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountKind {
    /// Instagram Login: refreshable with `refresh_access_token`.
    Instagram,
    /// Facebook Login: cannot be refreshed by API; the owner reconnects.
    Facebook,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Instagram => "instagram",
            AccountKind::Facebook => "facebook",
        }
    }
}

impl FromStr for AccountKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "instagram" => Ok(AccountKind::Instagram),
            "facebook" => Ok(AccountKind::Facebook),
            other => Err(format!("kind must be instagram or facebook, got {other:?}")),
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub kind: AccountKind,
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub token: String,
    pub issued_at: Option<DateTime<Utc>>,
    pub placed_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub refreshed_at: Option<DateTime<Utc>>,
    pub next_refresh_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_result: Option<String>,
    pub last_error: Option<String>,
    pub last_error_kind: Option<String>,
    pub failures: i32,
    pub needs_reconnect: bool,
    pub warned_expiring_at: Option<DateTime<Utc>>,
    pub warned_expired_at: Option<DateTime<Utc>>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub notify_error: Option<String>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("expires_at", &self.expires_at)
            .field("next_refresh_at", &self.next_refresh_at)
            .field("last_result", &self.last_result)
            .finish_non_exhaustive()
    }
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    name: String,
    kind: String,
    user_id: Option<String>,
    username: Option<String>,
    token: String,
    issued_at: Option<i64>,
    placed_at: i64,
    expires_at: Option<i64>,
    refreshed_at: Option<i64>,
    next_refresh_at: Option<i64>,
    last_attempt_at: Option<i64>,
    last_result: Option<String>,
    last_error: Option<String>,
    last_error_kind: Option<String>,
    failures: i32,
    needs_reconnect: bool,
    warned_expiring_at: Option<i64>,
    warned_expired_at: Option<i64>,
    lease_owner: Option<String>,
    lease_until: Option<i64>,
    notify_error: Option<String>,
}

const ACCOUNT_COLUMNS: &str = "name, kind, user_id, username, token, issued_at, placed_at, expires_at, \
     refreshed_at, next_refresh_at, last_attempt_at, last_result, last_error, last_error_kind, failures, \
     needs_reconnect, warned_expiring_at, warned_expired_at, lease_owner, lease_until, notify_error";

fn from_ms(ms: Option<i64>) -> Option<DateTime<Utc>> {
    ms.and_then(|ms| Utc.timestamp_millis_opt(ms).single())
}

fn ms(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(|t| t.timestamp_millis())
}

impl Store {
    fn account_from(&self, r: AccountRow) -> Result<Account, StoreError> {
        Ok(Account {
            kind: r
                .kind
                .parse()
                .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
            token: self.open(&r.token)?,
            name: r.name,
            user_id: r.user_id,
            username: r.username,
            issued_at: from_ms(r.issued_at),
            placed_at: from_ms(Some(r.placed_at)).unwrap_or_default(),
            expires_at: from_ms(r.expires_at),
            refreshed_at: from_ms(r.refreshed_at),
            next_refresh_at: from_ms(r.next_refresh_at),
            last_attempt_at: from_ms(r.last_attempt_at),
            last_result: r.last_result,
            last_error: r.last_error,
            last_error_kind: r.last_error_kind,
            failures: r.failures,
            needs_reconnect: r.needs_reconnect,
            warned_expiring_at: from_ms(r.warned_expiring_at),
            warned_expired_at: from_ms(r.warned_expired_at),
            lease_owner: r.lease_owner,
            lease_until: from_ms(r.lease_until),
            notify_error: r.notify_error,
        })
    }
}

/// A token put in place by hand, by STARTING_TOKEN or by a connect flow.
/// It replaces whatever the account had and clears its error state.
#[derive(Clone)]
pub struct NewToken {
    pub name: String,
    pub kind: AccountKind,
    pub token: String,
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub issued_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub next_refresh_at: Option<DateTime<Utc>>,
}

impl NewToken {
    /// A token pasted by hand (STARTING_TOKEN, the CLI, the admin page):
    /// its age and expiry are unknown, so an Instagram token is due for one
    /// refresh at once, which tells its expiry.
    pub fn pasted(name: &str, kind: AccountKind, token: &str, now: DateTime<Utc>) -> NewToken {
        NewToken {
            name: name.to_string(),
            kind,
            token: token.to_string(),
            user_id: None,
            username: None,
            issued_at: None,
            expires_at: None,
            next_refresh_at: (kind == AccountKind::Instagram).then_some(now),
        }
    }
}

/// The result of one refresh attempt, written together with its history row.
pub enum Attempt<'a> {
    Refreshed {
        token: &'a str,
        issued_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        next_refresh_at: DateTime<Utc>,
    },
    Failed {
        kind: &'a str,
        message: &'a str,
        needs_reconnect: bool,
        next_refresh_at: Option<DateTime<Utc>>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct HistoryRow {
    pub account: String,
    pub at: i64,
    pub outcome: String,
    pub error_kind: Option<String>,
    pub message: Option<String>,
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host.starts_with('/')
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

impl Store {
    /// Opens the database named by the configuration. SQLite files and
    /// their folder are created on first use; PostgreSQL off loopback must
    /// use TLS.
    pub async fn connect(url: &DatabaseUrl) -> Result<Store, StoreError> {
        match url {
            DatabaseUrl::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|source| StoreError::Folder {
                        path: dir.display().to_string(),
                        source,
                    })?;
                }
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(10));
                let pool = SqlitePoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?;
                Ok(Store {
                    db: Db::Sqlite(pool),
                    cipher: None,
                })
            }
            DatabaseUrl::Postgres(secret) => {
                let mut options = PgConnectOptions::from_str(secret.expose())
                    .map_err(|e| StoreError::Url(format!("cannot be used ({e})")))?;
                if !is_loopback(options.get_host()) {
                    match options.get_ssl_mode() {
                        PgSslMode::Disable | PgSslMode::Allow => {
                            return Err(StoreError::Url(
                                "sslmode must not disable TLS for a database that is not on this machine"
                                    .into(),
                            ));
                        }
                        PgSslMode::Prefer => options = options.ssl_mode(PgSslMode::Require),
                        _ => {}
                    }
                }
                let pool = PgPoolOptions::new()
                    .max_connections(5)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options)
                    .await?;
                Ok(Store {
                    db: Db::Postgres(pool),
                    cipher: None,
                })
            }
        }
    }

    pub fn backend(&self) -> &'static str {
        match self.db {
            Db::Sqlite(_) => "SQLite",
            Db::Postgres(_) => "PostgreSQL",
        }
    }

    pub fn encrypts_tokens(&self) -> bool {
        self.cipher.is_some()
    }

    /// Turns on encryption at rest: checks that the key is the one the
    /// tokens were sealed with, then seals any token still in plain text.
    /// Without a key, refuses a database whose tokens are sealed.
    pub async fn use_cipher(&mut self, cipher: Option<TokenCipher>) -> Result<(), StoreError> {
        let stored_check = self.setting(KEY_CHECK).await?;
        let Some(cipher) = cipher else {
            if stored_check.is_some() {
                return Err(StoreError::Key(
                    "the stored tokens are encrypted; set TOKEN_ENCRYPTION_KEY to the key they were encrypted with".into(),
                ));
            }
            return Ok(());
        };
        match stored_check {
            Some(check) if check != cipher.fingerprint() => {
                return Err(StoreError::Key(
                    "does not match the key the stored tokens were encrypted with".into(),
                ));
            }
            Some(_) => {}
            None => self.set_setting(KEY_CHECK, &cipher.fingerprint()).await?,
        }
        self.cipher = Some(Arc::new(cipher));
        const PLAIN: &str = "SELECT name, token FROM accounts";
        const SEAL: &str = "UPDATE accounts SET token = $2 WHERE name = $1 AND token = $3";
        let rows: Vec<(String, String)> =
            on_pool!(self, pool => sqlx::query_as(PLAIN).fetch_all(pool).await?);
        for (name, token) in rows
            .into_iter()
            .filter(|(_, t)| !TokenCipher::is_encrypted(t))
        {
            let sealed = self.seal(&token);
            on_pool!(self, pool => {
                sqlx::query(SEAL).bind(&name).bind(&sealed).bind(&token).execute(pool).await?;
            });
            tracing::info!(account = %name, "token encrypted at rest");
        }
        Ok(())
    }

    fn seal(&self, token: &str) -> String {
        match &self.cipher {
            Some(cipher) => cipher.encrypt(token),
            None => token.to_string(),
        }
    }

    fn open(&self, stored: &str) -> Result<String, StoreError> {
        match (&self.cipher, TokenCipher::is_encrypted(stored)) {
            (Some(cipher), true) => cipher
                .decrypt(stored)
                .map_err(|e| StoreError::Key(format!("a stored token cannot be decrypted ({e})"))),
            (None, true) => Err(StoreError::Key(
                "the stored tokens are encrypted; set TOKEN_ENCRYPTION_KEY".into(),
            )),
            (_, false) => Ok(stored.to_string()),
        }
    }

    /// Applies pending migrations. On PostgreSQL sqlx holds an advisory lock
    /// meanwhile, so two instances starting together migrate once.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.db {
            Db::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
            Db::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, pool => { sqlx::query("SELECT 1").execute(pool).await?; });
        Ok(())
    }

    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }

    pub async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY name"
        ));
        let rows: Vec<AccountRow> =
            on_pool!(self, pool => sqlx::query_as(sql).fetch_all(pool).await?);
        rows.into_iter().map(|r| self.account_from(r)).collect()
    }

    pub async fn account(&self, name: &str) -> Result<Option<Account>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = $1"
        ));
        let row: Option<AccountRow> =
            on_pool!(self, pool => sqlx::query_as(sql).bind(name).fetch_optional(pool).await?);
        row.map(|r| self.account_from(r)).transpose()
    }

    /// Puts a token in place, creating the account or replacing its token.
    /// A replacement starts afresh: errors, failures and warnings are cleared.
    pub async fn put_token(&self, new: &NewToken, now: DateTime<Utc>) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO accounts (name, kind, token, user_id, username, issued_at, expires_at, \
                next_refresh_at, placed_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $9) \
             ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, token = excluded.token, \
                user_id = COALESCE(excluded.user_id, accounts.user_id), \
                username = COALESCE(excluded.username, accounts.username), \
                issued_at = excluded.issued_at, expires_at = excluded.expires_at, \
                placed_at = excluded.placed_at, next_refresh_at = excluded.next_refresh_at, refreshed_at = NULL, \
                last_result = NULL, last_error = NULL, last_error_kind = NULL, failures = 0, \
                needs_reconnect = FALSE, warned_expiring_at = NULL, warned_expired_at = NULL, \
                notify_error = NULL, updated_at = excluded.updated_at";
        on_pool!(self, pool => {
            sqlx::query(SQL)
                .bind(&new.name)
                .bind(new.kind.as_str())
                .bind(self.seal(&new.token))
                .bind(&new.user_id)
                .bind(&new.username)
                .bind(ms(new.issued_at))
                .bind(ms(new.expires_at))
                .bind(ms(new.next_refresh_at))
                .bind(now.timestamp_millis())
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Records who the token belongs to upstream.
    pub async fn set_profile(
        &self,
        name: &str,
        user_id: Option<&str>,
        username: Option<&str>,
    ) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE accounts SET user_id = COALESCE($2, user_id), username = COALESCE($3, username) \
             WHERE name = $1";
        on_pool!(self, pool => {
            sqlx::query(SQL).bind(name).bind(user_id).bind(username).execute(pool).await?;
        });
        Ok(())
    }

    pub async fn remove(&self, name: &str) -> Result<bool, StoreError> {
        let done = on_pool!(self, pool => sqlx::query("DELETE FROM accounts WHERE name = $1")
            .bind(name)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(done > 0)
    }

    /// Claims the right to refresh an account until `until`. Exactly one of
    /// several processes racing for the same account gets `true`; a lease
    /// left by a killed process lapses at its end time.
    pub async fn try_lease(
        &self,
        name: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE accounts SET lease_owner = $2, lease_until = $4 \
             WHERE name = $1 AND (lease_until IS NULL OR lease_until < $3 OR lease_owner = $2)";
        let done = on_pool!(self, pool => sqlx::query(SQL)
            .bind(name)
            .bind(owner)
            .bind(now.timestamp_millis())
            .bind(until.timestamp_millis())
            .execute(pool)
            .await?
            .rows_affected());
        Ok(done == 1)
    }

    pub async fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE accounts SET lease_owner = NULL, lease_until = NULL \
             WHERE name = $1 AND lease_owner = $2";
        on_pool!(self, pool => {
            sqlx::query(SQL).bind(name).bind(owner).execute(pool).await?;
        });
        Ok(())
    }

    /// Writes the outcome of a refresh and its history row in one
    /// transaction, and releases the lease. A new token replaces the old one
    /// in a single statement: a crash leaves one or the other, never neither.
    /// Returns false when the lease was lost (nothing is written then).
    pub async fn finish_attempt(
        &self,
        name: &str,
        owner: &str,
        attempt: Attempt<'_>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        const REFRESHED: &str = "UPDATE accounts SET token = $3, issued_at = $4, placed_at = $6, expires_at = $5, \
                refreshed_at = $6, next_refresh_at = $7, last_attempt_at = $6, last_result = 'ok', \
                last_error = NULL, last_error_kind = NULL, failures = 0, needs_reconnect = FALSE, \
                warned_expiring_at = NULL, warned_expired_at = NULL, \
                lease_owner = NULL, lease_until = NULL, updated_at = $6 \
             WHERE name = $1 AND lease_owner = $2";
        const FAILED: &str = "UPDATE accounts SET last_attempt_at = $3, last_result = 'failed', \
                last_error = $4, last_error_kind = $5, failures = failures + 1, \
                needs_reconnect = $6, next_refresh_at = $7, \
                lease_owner = NULL, lease_until = NULL, updated_at = $3 \
             WHERE name = $1 AND lease_owner = $2";
        const HISTORY: &str = "INSERT INTO refresh_history (account, at, outcome, error_kind, message, \
                old_expires_at, new_expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)";
        let old_expires = self.account(name).await?.and_then(|a| ms(a.expires_at));
        let now_ms = now.timestamp_millis();
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let (updated, outcome, kind, message, new_expires) = match &attempt {
                Attempt::Refreshed { token, issued_at, expires_at, next_refresh_at } => {
                    let updated = sqlx::query(REFRESHED)
                        .bind(name)
                        .bind(owner)
                        .bind(self.seal(token))
                        .bind(issued_at.timestamp_millis())
                        .bind(expires_at.timestamp_millis())
                        .bind(now_ms)
                        .bind(next_refresh_at.timestamp_millis())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    (updated, "ok", None, None, Some(expires_at.timestamp_millis()))
                }
                Attempt::Failed { kind, message, needs_reconnect, next_refresh_at } => {
                    let updated = sqlx::query(FAILED)
                        .bind(name)
                        .bind(owner)
                        .bind(now_ms)
                        .bind(*message)
                        .bind(*kind)
                        .bind(*needs_reconnect)
                        .bind(ms(*next_refresh_at))
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    (updated, "failed", Some(*kind), Some(*message), old_expires)
                }
            };
            if updated != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            sqlx::query(HISTORY)
                .bind(name)
                .bind(now_ms)
                .bind(outcome)
                .bind(kind)
                .bind(message)
                .bind(old_expires)
                .bind(new_expires)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Moves an account's next refresh, e.g. when it is not yet old enough.
    pub async fn reschedule(
        &self,
        name: &str,
        next_refresh_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("UPDATE accounts SET next_refresh_at = $2 WHERE name = $1")
                .bind(name)
                .bind(ms(next_refresh_at))
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    pub async fn history(&self, name: &str) -> Result<Vec<HistoryRow>, StoreError> {
        const SQL: &str = "SELECT account, at, outcome, error_kind, message FROM refresh_history \
             WHERE account = $1 ORDER BY id";
        Ok(on_pool!(self, pool => sqlx::query_as(SQL).bind(name).fetch_all(pool).await?))
    }

    pub async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(
            on_pool!(self, pool => sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(pool)
            .await?),
        )
    }

    pub async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO settings (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value";
        on_pool!(self, pool => {
            sqlx::query(SQL).bind(key).bind(value).execute(pool).await?;
        });
        Ok(())
    }

    pub async fn hashtag_id(&self, name: &str) -> Result<Option<String>, StoreError> {
        const SQL: &str = "SELECT hashtag_id FROM hashtags WHERE name = $1";
        Ok(on_pool!(self, pool => sqlx::query_scalar(SQL).bind(name).fetch_optional(pool).await?))
    }

    pub async fn save_hashtag_id(
        &self,
        name: &str,
        hashtag_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO hashtags (name, hashtag_id, looked_up_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING";
        on_pool!(self, pool => {
            sqlx::query(SQL).bind(name).bind(hashtag_id).bind(now.timestamp_millis()).execute(pool).await?;
        });
        Ok(())
    }

    /// Counts a query of hashtag `name` for `account` against the weekly
    /// budget. Returns false, recording nothing, when the tag is not already
    /// counted in the current window and `limit` distinct tags are.
    pub async fn count_hashtag_query(
        &self,
        account: &str,
        name: &str,
        now: DateTime<Utc>,
        window: chrono::Duration,
        limit: i64,
    ) -> Result<bool, StoreError> {
        const ACTIVE: &str =
            "SELECT COUNT(*) FROM hashtag_queries WHERE account = $1 AND window_start > $2";
        const THIS: &str = "SELECT COUNT(*) FROM hashtag_queries \
             WHERE account = $1 AND name = $2 AND window_start > $3";
        const RECORD: &str = "INSERT INTO hashtag_queries (account, name, window_start) VALUES ($1, $2, $3) \
             ON CONFLICT (account, name) DO UPDATE SET window_start = excluded.window_start";
        let since = (now - window).timestamp_millis();
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let counted: i64 = sqlx::query_scalar(THIS).bind(account).bind(name).bind(since).fetch_one(&mut *tx).await?;
            if counted > 0 {
                return Ok(true);
            }
            let active: i64 = sqlx::query_scalar(ACTIVE).bind(account).bind(since).fetch_one(&mut *tx).await?;
            if active >= limit {
                return Ok(false);
            }
            sqlx::query(RECORD).bind(account).bind(name).bind(now.timestamp_millis()).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(true)
    }

    pub async fn save_oauth_state(
        &self,
        state: &str,
        provider: &str,
        account: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO oauth_states (state, provider, account, expires_at) VALUES ($1, $2, $3, $4)";
        const SWEEP: &str = "DELETE FROM oauth_states WHERE expires_at < $1";
        on_pool!(self, pool => {
            sqlx::query(SWEEP).bind(expires_at.timestamp_millis() - 86_400_000).execute(pool).await?;
            sqlx::query(SQL)
                .bind(state)
                .bind(provider)
                .bind(account)
                .bind(expires_at.timestamp_millis())
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Consumes a connect `state`: the account it was issued for, if it
    /// exists, belongs to `provider` and has not expired. A state works once.
    pub async fn take_oauth_state(
        &self,
        state: &str,
        provider: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        const SQL: &str =
            "DELETE FROM oauth_states WHERE state = $1 RETURNING provider, account, expires_at";
        let row: Option<(String, String, i64)> =
            on_pool!(self, pool => sqlx::query_as(SQL).bind(state).fetch_optional(pool).await?);
        Ok(row
            .filter(|(p, _, expires)| p == provider && *expires > now.timestamp_millis())
            .map(|(_, account, _)| account))
    }

    pub async fn set_scoped_user_id(
        &self,
        name: &str,
        scoped: Option<&str>,
    ) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE accounts SET scoped_user_id = $2 WHERE name = $1";
        on_pool!(self, pool => {
            sqlx::query(SQL).bind(name).bind(scoped).execute(pool).await?;
        });
        Ok(())
    }

    /// Names of the accounts a Meta user id (app-scoped or Instagram) owns.
    pub async fn accounts_of_user(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        const SQL: &str =
            "SELECT name FROM accounts WHERE scoped_user_id = $1 OR user_id = $1 ORDER BY name";
        Ok(on_pool!(self, pool => sqlx::query_scalar(SQL).bind(user_id).fetch_all(pool).await?))
    }

    pub async fn record_deletion(
        &self,
        code: &str,
        user_id: &str,
        now: DateTime<Utc>,
        accounts_deleted: i64,
    ) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO deletions (code, user_id, requested_at, accounts_deleted) VALUES ($1, $2, $3, $4)";
        on_pool!(self, pool => {
            sqlx::query(SQL)
                .bind(code)
                .bind(user_id)
                .bind(now.timestamp_millis())
                .bind(accounts_deleted)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// When a deletion request was received and how many accounts it removed.
    pub async fn deletion(&self, code: &str) -> Result<Option<(DateTime<Utc>, i64)>, StoreError> {
        const SQL: &str = "SELECT requested_at, accounts_deleted FROM deletions WHERE code = $1";
        let row: Option<(i64, i64)> =
            on_pool!(self, pool => sqlx::query_as(SQL).bind(code).fetch_optional(pool).await?);
        Ok(row.and_then(|(at, n)| from_ms(Some(at)).map(|at| (at, n))))
    }

    /// Records a warning as delivered (or, with `error`, as failed, to be
    /// tried again and shown on the status page).
    pub async fn record_warning(
        &self,
        name: &str,
        expired: bool,
        now: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        const SENT_EXPIRING: &str =
            "UPDATE accounts SET warned_expiring_at = $2, notify_error = NULL WHERE name = $1";
        const SENT_EXPIRED: &str =
            "UPDATE accounts SET warned_expired_at = $2, notify_error = NULL WHERE name = $1";
        const FAILED: &str = "UPDATE accounts SET notify_error = $2 WHERE name = $1";
        on_pool!(self, pool => {
            match error {
                Some(error) => sqlx::query(FAILED).bind(name).bind(error).execute(pool).await?,
                None => sqlx::query(if expired { SENT_EXPIRED } else { SENT_EXPIRING })
                    .bind(name)
                    .bind(now.timestamp_millis())
                    .execute(pool)
                    .await?,
            };
        });
        Ok(())
    }

    /// Records a validity check of a token that cannot be refreshed (a
    /// Facebook-Login token, through debug_token): `Ok(expiry)` when valid,
    /// or the error and whether the token is dead.
    pub async fn record_check(
        &self,
        name: &str,
        now: DateTime<Utc>,
        result: Result<Option<DateTime<Utc>>, (&str, &str, bool)>,
    ) -> Result<(), StoreError> {
        const VALID: &str = "UPDATE accounts SET last_attempt_at = $2, last_result = 'ok', last_error = NULL, \
                last_error_kind = NULL, failures = 0, expires_at = COALESCE($3, expires_at) WHERE name = $1";
        const INVALID: &str = "UPDATE accounts SET last_attempt_at = $2, last_result = 'failed', last_error = $3, \
                last_error_kind = $4, failures = failures + 1, needs_reconnect = $5 WHERE name = $1";
        on_pool!(self, pool => {
            match result {
                Ok(expires_at) => sqlx::query(VALID)
                    .bind(name)
                    .bind(now.timestamp_millis())
                    .bind(ms(expires_at))
                    .execute(pool)
                    .await?,
                Err((kind, message, dead)) => sqlx::query(INVALID)
                    .bind(name)
                    .bind(now.timestamp_millis())
                    .bind(message)
                    .bind(kind)
                    .bind(dead)
                    .execute(pool)
                    .await?,
            };
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised() {
        for host in [
            "localhost",
            "127.0.0.1",
            "::1",
            "[::1]",
            "/var/run/postgresql",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "db.example.com",
            "10.0.0.5",
            "ec2-1-2-3-4.compute.amazonaws.com",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn account_kinds_round_trip() {
        for kind in [AccountKind::Instagram, AccountKind::Facebook] {
            assert_eq!(kind.as_str().parse::<AccountKind>(), Ok(kind));
        }
        assert!("tiktok".parse::<AccountKind>().is_err());
    }
}

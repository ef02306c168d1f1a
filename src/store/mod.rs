//! The database: SQLite (the default) or PostgreSQL, opened, migrated and
//! closed here, with the cipher that seals tokens at rest. The queries live
//! beside it, one file per table: `accounts.rs` (accounts and their tokens),
//! `history.rs`, `settings.rs`, `hashtags.rs`, `oauth.rs`, `deletions.rs`,
//! `pages.rs` (the last good feed pages) and `mirror.rs` (the image copies);
//! `changes.rs` tells when another process has changed the accounts.
//!
//! Both backends run the same SQL text: times are stored as Unix
//! milliseconds and placeholders are `$n`, which SQLite also accepts. Each
//! statement is written once and run on whichever pool is configured.

mod accounts;
mod build_hook;
mod changes;
mod deletions;
mod hashtags;
mod history;
mod mirror;
mod oauth;
mod pages;
mod settings;

pub use accounts::{Account, AccountKind, Attempt, NewToken};
pub use build_hook::{HookDelivery, HookEvent};
pub use changes::Changes;
pub use history::HistoryRow;
pub use mirror::{MirrorCopy, MirrorEntry, MirrorPlace, MirrorPost};
pub use oauth::StateClaim;
pub use pages::PAGES_PER_ACCOUNT;

use std::path::{Path, PathBuf};
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
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}

/// Lets the table files beside this one run their SQL through `on_pool!`.
use on_pool;

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
    #[error("cannot lock {path} to migrate the SQLite database: {source}")]
    Lock {
        path: String,
        source: std::io::Error,
    },
    #[error("DATABASE_URL: {0}")]
    Url(String),
    #[error("TOKEN_ENCRYPTION_KEY: {0}")]
    Key(String),
}

fn from_ms(ms: Option<i64>) -> Option<DateTime<Utc>> {
    ms.and_then(|ms| Utc.timestamp_millis_opt(ms).single())
}

fn ms(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(|t| t.timestamp_millis())
}

/// A loopback host or a Unix socket path: nothing crosses a network.
fn is_loopback(host: &str) -> bool {
    host.starts_with('/') || crate::domain::host::is_loopback_host(host)
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
                // The first connection sets WAL, which on a new file takes
                // a lock SQLite does not wait for: processes starting
                // together on one file open it in turns.
                let pool = {
                    let _held = lock_beside(path).await?;
                    SqlitePoolOptions::new()
                        .max_connections(4)
                        .acquire_timeout(Duration::from_secs(10))
                        .connect_with(options)
                        .await?
                };
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

    /// Applies pending migrations, one process at a time, so that processes
    /// starting together (a server and a `refresh` cron, two replicas)
    /// migrate once. On PostgreSQL sqlx holds an advisory lock meanwhile;
    /// SQLite has none, so a file lock beside the database stands in.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.db {
            Db::Sqlite(pool) => {
                let _held = lock_beside(pool.connect_options().get_filename()).await?;
                SQLITE_MIGRATIONS.run(pool).await?
            }
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
}

/// Waits for an exclusive lock on `<database>.lock`, held until the file
/// is dropped (or the process ends, however it ends).
async fn lock_beside(database: &Path) -> Result<std::fs::File, StoreError> {
    let mut path = database.as_os_str().to_owned();
    path.push(".lock");
    let path = PathBuf::from(path);
    let failed = |source| StoreError::Lock {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(failed)?;
    // The wait blocks a thread, not the runtime.
    tokio::task::spawn_blocking(move || file.lock().map(|()| file))
        .await
        .map_err(std::io::Error::other)
        .and_then(|locked| locked)
        .map_err(failed)
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
}

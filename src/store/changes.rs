//! Changes to accounts made by any process on the same database: a second
//! instance, the command line, an admin action or a refresh elsewhere.
//!
//! PostgreSQL: a trigger on `accounts` (migration 0004) notifies a channel
//! on every write, and a dedicated connection LISTENs on it. SQLite has no
//! notifications, so one dedicated connection polls `PRAGMA data_version`,
//! which moves whenever another connection commits (this process's own pool
//! included, and writes to other tables too: a spare re-read is cheap).
//!
//! A notice says only "something changed": the caller re-reads everything.
//! Notices sent while the listener was disconnected are lost, so the first
//! `next()` and the first after a reconnection return at once.

use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::sqlite::SqliteConnection;

use super::{Db, Store, StoreError};

/// The channel migration 0004's trigger notifies.
const CHANNEL: &str = "token_agent_accounts";

/// How often SQLite is asked whether anything was committed.
const POLL_EVERY: Duration = Duration::from_millis(250);

/// Yields whenever the accounts may have changed. Built by
/// [`Store::changes`].
pub struct Changes {
    source: Source,
    /// Something may have changed that no notice will tell.
    missed: bool,
}

enum Source {
    Sqlite {
        connection: SqliteConnection,
        version: i64,
        poll: tokio::time::Interval,
    },
    Postgres(PgListener),
}

impl Store {
    /// Starts watching the accounts for changes, on a connection of its own.
    pub async fn changes(&self) -> Result<Changes, StoreError> {
        let source = match &self.db {
            Db::Sqlite(pool) => {
                let mut connection = pool.connect_options().connect().await?;
                let version = data_version(&mut connection).await?;
                let mut poll = tokio::time::interval(POLL_EVERY);
                poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                Source::Sqlite {
                    connection,
                    version,
                    poll,
                }
            }
            Db::Postgres(pool) => {
                // A pool of one of its own, so the listener neither takes a
                // connection from the app's pool nor has it retired.
                let own = PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(5))
                    .max_lifetime(None)
                    .idle_timeout(None)
                    .connect_lazy_with((*pool.connect_options()).clone());
                let mut listener = PgListener::connect_with(&own).await?;
                listener.listen(CHANNEL).await?;
                Source::Postgres(listener)
            }
        };
        Ok(Changes {
            source,
            missed: true,
        })
    }
}

impl Changes {
    /// Waits until the accounts may have changed. An error means the
    /// connection is lost for now: build a new `Changes` to carry on.
    pub async fn next(&mut self) -> Result<(), StoreError> {
        if std::mem::take(&mut self.missed) {
            return Ok(());
        }
        match &mut self.source {
            Source::Sqlite {
                connection,
                version,
                poll,
            } => loop {
                poll.tick().await;
                let now = data_version(connection).await?;
                if now != *version {
                    *version = now;
                    return Ok(());
                }
            },
            Source::Postgres(listener) => {
                // `None`: the connection was lost and is back, listening
                // again; what was notified in between is gone.
                if listener.try_recv().await?.is_none() {
                    tracing::info!("change listener reconnected to the database");
                }
                Ok(())
            }
        }
    }
}

async fn data_version(connection: &mut SqliteConnection) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("PRAGMA data_version")
        .fetch_one(connection)
        .await?)
}

//! The `feed_pages` table: the last good copy of each feed page, in the
//! cache's byte form, so that a restart during an outage, or an instance
//! whose cache is empty, still has something to serve.

use chrono::{DateTime, Utc};

use super::{Store, StoreError, on_pool};

/// Pages kept per account: the newest, by when they were fetched. Enough
/// for an embed's first pages and a few "load more" clicks; deeper pages
/// are served from the cache alone.
pub const PAGES_PER_ACCOUNT: i64 = 32;

impl Store {
    /// The stored copy of the page cached under `key`.
    pub async fn feed_page(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        const SQL: &str = "SELECT page FROM feed_pages WHERE key = $1";
        Ok(on_pool!(self, pool => sqlx::query_scalar(SQL).bind(key).fetch_optional(pool).await?))
    }

    /// Keeps `page` as the last good copy under `key`, and lets the
    /// account's oldest copies beyond [`PAGES_PER_ACCOUNT`] go.
    pub async fn save_feed_page(
        &self,
        account: &str,
        key: &str,
        page: &[u8],
        fetched_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const SAVE: &str = "INSERT INTO feed_pages (key, account, page, fetched_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (key) DO UPDATE SET account = excluded.account, page = excluded.page, \
             fetched_at = excluded.fetched_at";
        const PRUNE: &str = "DELETE FROM feed_pages WHERE account = $1 AND key NOT IN \
             (SELECT key FROM feed_pages WHERE account = $1 ORDER BY fetched_at DESC LIMIT $2)";
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(SAVE)
                .bind(key)
                .bind(account)
                .bind(page)
                .bind(fetched_at.timestamp_millis())
                .execute(&mut *tx)
                .await?;
            sqlx::query(PRUNE).bind(account).bind(PAGES_PER_ACCOUNT).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Deletes every stored page of `account`.
    pub async fn forget_feed_pages(&self, account: &str) -> Result<(), StoreError> {
        const SQL: &str = "DELETE FROM feed_pages WHERE account = $1";
        on_pool!(self, pool => {
            sqlx::query(SQL).bind(account).execute(pool).await?;
        });
        Ok(())
    }
}

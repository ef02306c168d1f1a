//! The `hashtags` table (hashtag ids, looked up once) and the
//! `hashtag_queries` table (the weekly budget of distinct hashtags per
//! account).

use chrono::{DateTime, Utc};

use super::{Store, StoreError, on_pool};

impl Store {
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

    /// How many distinct hashtags `account` has queried in the window, and
    /// when the oldest of them leaves it (so another may be queried).
    pub async fn hashtag_budget(
        &self,
        account: &str,
        now: DateTime<Utc>,
        window: chrono::Duration,
    ) -> Result<(i64, Option<DateTime<Utc>>), StoreError> {
        const SQL: &str = "SELECT COUNT(*), MIN(window_start) FROM hashtag_queries \
             WHERE account = $1 AND window_start > $2";
        let since = (now - window).timestamp_millis();
        let (used, oldest): (i64, Option<i64>) = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(account)
            .bind(since)
            .fetch_one(pool)
            .await?);
        let frees = oldest
            .and_then(|ms| chrono::TimeZone::timestamp_millis_opt(&Utc, ms).single())
            .map(|t| t + window);
        Ok((used, frees))
    }
}

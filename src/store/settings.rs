//! The `settings` table: small named values the agent keeps for itself,
//! such as the encryption key's check value, the STARTING_TOKEN last put in
//! place, the outcome of the last connect and the hashtags allowed on the
//! admin page.

use std::collections::BTreeSet;

use super::{Store, StoreError, on_pool};

/// The hashtags allowed on the admin page, as a JSON list.
const APPROVED_HASHTAGS: &str = "approved_hashtags";

impl Store {
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

    /// Takes the turn kept at `key` for `now` (Unix ms) when the last taken
    /// is at least `every` ms ago, or none was: `true` for exactly one of
    /// the processes that ask at once.
    pub async fn take_turn(&self, key: &str, now: i64, every: i64) -> Result<bool, StoreError> {
        const SQL: &str = "INSERT INTO settings (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value \
             WHERE CAST(settings.value AS BIGINT) <= $3";
        let taken = on_pool!(self, pool => sqlx::query(SQL)
            .bind(key)
            .bind(now.to_string())
            .bind(now - every)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(taken == 1)
    }

    /// The stored value of `key`, storing `value` first if there is none:
    /// of two processes starting at once, both end up with the first one's.
    pub async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError> {
        const SQL: &str =
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";
        on_pool!(self, pool => {
            sqlx::query(SQL).bind(key).bind(value).execute(pool).await?;
        });
        Ok(self
            .setting(key)
            .await?
            .unwrap_or_else(|| value.to_string()))
    }

    /// The hashtags allowed on the admin page.
    pub async fn approved_hashtags(&self) -> Result<BTreeSet<String>, StoreError> {
        let raw = self.setting(APPROVED_HASHTAGS).await?;
        Ok(raw
            .and_then(|raw| serde_json::from_str(&raw).ok())
            .unwrap_or_default())
    }

    /// Replaces the hashtags allowed on the admin page.
    pub async fn set_approved_hashtags(&self, tags: &BTreeSet<String>) -> Result<(), StoreError> {
        let json = serde_json::to_string(tags).unwrap_or_else(|_| "[]".into());
        self.set_setting(APPROVED_HASHTAGS, &json).await
    }
}

//! The `settings` table: small named values the agent keeps for itself,
//! such as the encryption key's check value, the STARTING_TOKEN last put in
//! place and the outcome of the last connect.

use super::{Store, StoreError, on_pool};

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
}

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
}

//! The `deletions` table: Meta's data-deletion requests, kept so the
//! confirmation code can be looked up afterwards.

use chrono::{DateTime, Utc};

use super::{Store, StoreError, from_ms, on_pool};

impl Store {
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
}

//! The `deletions` table: Meta's data-deletion requests, kept so the
//! confirmation code can be looked up afterwards; and `signed_requests`,
//! the callbacks already acted on, so that each acts once.

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

    /// Claims the signed_request whose digest is `digest` for this arrival,
    /// with `code` as its answer, until `expires_at`: `None` when it is the
    /// first arrival (in any process), else the first arrival's code.
    pub async fn claim_signed_request(
        &self,
        digest: &str,
        code: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        const FORGET: &str = "DELETE FROM signed_requests WHERE expires_at <= $1";
        const CLAIM: &str = "INSERT INTO signed_requests (digest, code, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (digest) DO NOTHING";
        const FIRST: &str = "SELECT code FROM signed_requests WHERE digest = $1";
        on_pool!(self, pool => {
            sqlx::query(FORGET)
                .bind(now.timestamp_millis())
                .execute(pool)
                .await?;
            // A claim released between our insert and our read (its action
            // failed) is claimed again.
            loop {
                let claimed = sqlx::query(CLAIM)
                    .bind(digest)
                    .bind(code)
                    .bind(expires_at.timestamp_millis())
                    .execute(pool)
                    .await?
                    .rows_affected();
                if claimed == 1 {
                    return Ok(None);
                }
                let first: Option<String> = sqlx::query_scalar(FIRST)
                    .bind(digest)
                    .fetch_optional(pool)
                    .await?;
                if let Some(first) = first {
                    return Ok(Some(first));
                }
            }
        })
    }

    /// Gives up a claim whose action failed, so that Meta's retry acts.
    pub async fn release_signed_request(&self, digest: &str) -> Result<(), StoreError> {
        const SQL: &str = "DELETE FROM signed_requests WHERE digest = $1";
        on_pool!(self, pool => {
            sqlx::query(SQL).bind(digest).execute(pool).await?;
        });
        Ok(())
    }
}

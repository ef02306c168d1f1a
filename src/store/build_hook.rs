//! The `build_hook_events` table: BUILD_HOOK_URL's outbox (migration 0011).
//! A change is written once whichever process notices it (its id is made
//! from the change), claimed by one process before it is POSTed, retried
//! until delivered, and so survives restarts.

use chrono::{DateTime, Duration, Utc};

use super::{Store, StoreError, from_ms, on_pool};

/// A change to deliver.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct HookEvent {
    pub id: String,
    pub account: String,
    pub body: String,
    pub attempts: i32,
}

/// The deliveries, for the status page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookDelivery {
    /// The last one, if any.
    pub last: Option<DateTime<Utc>>,
    /// Waiting to be sent (or sent again).
    pub pending: i64,
    pub last_error: Option<String>,
}

/// Delivered changes are dropped after this long.
const KEEP: Duration = Duration::days(7);

impl Store {
    /// Writes a change to deliver; `false` when it was already written
    /// (by this process or another that noticed it too).
    pub async fn enqueue_hook_event(
        &self,
        id: &str,
        account: &str,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "INSERT INTO build_hook_events (id, account, body, created_at, next_attempt_at) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (id) DO NOTHING";
        let done = on_pool!(self, pool => sqlx::query(SQL)
            .bind(id)
            .bind(account)
            .bind(body)
            .bind(now.timestamp_millis())
            .execute(pool)
            .await?
            .rows_affected());
        Ok(done == 1)
    }

    /// Claims, for `owner` until `lease_until`, the changes due now that no
    /// other process holds, oldest first: only the claimer sends them.
    pub async fn claim_hook_events(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<HookEvent>, StoreError> {
        const CLAIM: &str = "UPDATE build_hook_events SET claimed_by = $1, claimed_until = $3 \
             WHERE delivered_at IS NULL AND next_attempt_at <= $2 \
               AND (claimed_until IS NULL OR claimed_until < $2)";
        const CLAIMED: &str = "SELECT id, account, body, attempts FROM build_hook_events \
             WHERE claimed_by = $1 AND claimed_until = $2 AND delivered_at IS NULL \
             ORDER BY created_at, id";
        let (now, until) = (now.timestamp_millis(), lease_until.timestamp_millis());
        Ok(on_pool!(self, pool => {
            sqlx::query(CLAIM)
                .bind(owner)
                .bind(now)
                .bind(until)
                .execute(pool)
                .await?;
            sqlx::query_as(CLAIMED)
                .bind(owner)
                .bind(until)
                .fetch_all(pool)
                .await?
        }))
    }

    /// Marks a change delivered, and drops those delivered long ago.
    pub async fn hook_event_delivered(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const DONE: &str = "UPDATE build_hook_events SET delivered_at = $2, claimed_until = NULL, \
             last_error = NULL, attempts = attempts + 1 WHERE id = $1";
        const OLD: &str = "DELETE FROM build_hook_events WHERE delivered_at < $1";
        on_pool!(self, pool => {
            sqlx::query(DONE).bind(id).bind(now.timestamp_millis()).execute(pool).await?;
            sqlx::query(OLD).bind((now - KEEP).timestamp_millis()).execute(pool).await?;
        });
        Ok(())
    }

    /// Puts a change whose POST failed back, to be tried at `retry_at`.
    pub async fn hook_event_failed(
        &self,
        id: &str,
        retry_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE build_hook_events SET attempts = attempts + 1, next_attempt_at = $2, \
             claimed_by = NULL, claimed_until = NULL, last_error = $3 WHERE id = $1";
        on_pool!(self, pool => {
            sqlx::query(SQL)
                .bind(id)
                .bind(retry_at.timestamp_millis())
                .bind(error)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The last delivery and what waits; `None` when nothing was written.
    pub async fn hook_delivery(&self) -> Result<Option<HookDelivery>, StoreError> {
        const LAST: &str = "SELECT MAX(delivered_at) FROM build_hook_events";
        const PENDING: &str = "SELECT COUNT(*) FROM build_hook_events WHERE delivered_at IS NULL";
        const ERROR: &str = "SELECT last_error FROM build_hook_events \
             WHERE delivered_at IS NULL AND last_error IS NOT NULL ORDER BY created_at DESC LIMIT 1";
        let (last, pending, error): (Option<i64>, i64, Option<String>) = on_pool!(self, pool => (
            sqlx::query_scalar(LAST).fetch_one(pool).await?,
            sqlx::query_scalar(PENDING).fetch_one(pool).await?,
            sqlx::query_scalar(ERROR).fetch_optional(pool).await?,
        ));
        Ok((last.is_some() || pending > 0).then(|| HookDelivery {
            last: from_ms(last),
            pending,
            last_error: error,
        }))
    }
}

//! The `oauth_states` table: the one-use `state` of each connect flow,
//! from the login window opening to Meta's callback.

use chrono::{DateTime, Utc};

use super::{Store, StoreError, on_pool};

/// What a connect `state` turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateClaim {
    /// Never issued, already used, or issued for the other provider.
    Unknown,
    /// Issued, but the owner took too long.
    Expired,
    /// Issued for this account, and now used up; `redirect_uri` is the one
    /// the login window was opened with (empty for a flow begun before it
    /// was stored).
    Account {
        account: String,
        redirect_uri: String,
    },
}

impl Store {
    pub async fn save_oauth_state(
        &self,
        state: &str,
        provider: &str,
        account: &str,
        redirect_uri: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO oauth_states (state, provider, account, redirect_uri, expires_at) VALUES ($1, $2, $3, $4, $5)";
        const SWEEP: &str = "DELETE FROM oauth_states WHERE expires_at < $1";
        on_pool!(self, pool => {
            sqlx::query(SWEEP).bind(expires_at.timestamp_millis() - 86_400_000).execute(pool).await?;
            sqlx::query(SQL)
                .bind(state)
                .bind(provider)
                .bind(account)
                .bind(redirect_uri)
                .bind(expires_at.timestamp_millis())
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Consumes a connect `state`: the account it was issued for, if it
    /// exists, belongs to `provider` and has not expired. A state works once.
    pub async fn take_oauth_state(
        &self,
        state: &str,
        provider: &str,
        now: DateTime<Utc>,
    ) -> Result<StateClaim, StoreError> {
        const SQL: &str = "DELETE FROM oauth_states WHERE state = $1 \
             RETURNING provider, account, redirect_uri, expires_at";
        let row: Option<(String, String, String, i64)> =
            on_pool!(self, pool => sqlx::query_as(SQL).bind(state).fetch_optional(pool).await?);
        Ok(match row {
            None => StateClaim::Unknown,
            Some((p, ..)) if p != provider => StateClaim::Unknown,
            Some((.., expires)) if expires <= now.timestamp_millis() => StateClaim::Expired,
            Some((_, account, redirect_uri, _)) => StateClaim::Account {
                account,
                redirect_uri,
            },
        })
    }
}

//! The `refresh_history` table, read back: one row per refresh attempt.
//! The rows are written by `Store::finish_attempt`, in the same transaction
//! as the account they belong to.

use super::{Store, StoreError, on_pool};

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct HistoryRow {
    pub account: String,
    pub at: i64,
    pub outcome: String,
    pub error_kind: Option<String>,
    pub message: Option<String>,
}

impl Store {
    pub async fn history(&self, name: &str) -> Result<Vec<HistoryRow>, StoreError> {
        const SQL: &str = "SELECT account, at, outcome, error_kind, message FROM refresh_history \
             WHERE account = $1 ORDER BY id";
        Ok(on_pool!(self, pool => sqlx::query_as(SQL).bind(name).fetch_all(pool).await?))
    }
}

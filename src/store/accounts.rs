//! The `accounts` table: each account, its token, its refresh lease and
//! the outcome of its last refresh, check and warning.

use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::{Store, StoreError, from_ms, ms, on_pool};
use crate::upstream::TokenCheck;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountKind {
    /// Instagram Login: refreshable with `refresh_access_token`.
    Instagram,
    /// Facebook Login: cannot be refreshed by API; the owner reconnects.
    Facebook,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Instagram => "instagram",
            AccountKind::Facebook => "facebook",
        }
    }
}

impl FromStr for AccountKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "instagram" => Ok(AccountKind::Instagram),
            "facebook" => Ok(AccountKind::Facebook),
            other => Err(format!("kind must be instagram or facebook, got {other:?}")),
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub kind: AccountKind,
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub token: String,
    pub issued_at: Option<DateTime<Utc>>,
    pub placed_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub refreshed_at: Option<DateTime<Utc>>,
    pub next_refresh_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_result: Option<String>,
    pub last_error: Option<String>,
    pub last_error_kind: Option<String>,
    pub failures: i32,
    pub needs_reconnect: bool,
    pub warned_expiring_at: Option<DateTime<Utc>>,
    pub warned_expired_at: Option<DateTime<Utc>>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub notify_error: Option<String>,
    /// Which placement of a token this is: new each time the owner puts a
    /// token in place, unchanged by refreshes (see migration 0009).
    pub epoch: i64,
    /// debug_token's `type` for a Facebook-Login token: `USER`, `PAGE` or
    /// `SYSTEM_USER` (migration 0010).
    pub token_type: Option<String>,
    /// debug_token said the token does not expire (`expires_at` 0).
    pub never_expires: bool,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("expires_at", &self.expires_at)
            .field("next_refresh_at", &self.next_refresh_at)
            .field("last_result", &self.last_result)
            .finish_non_exhaustive()
    }
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    name: String,
    kind: String,
    user_id: Option<String>,
    username: Option<String>,
    token: String,
    issued_at: Option<i64>,
    placed_at: i64,
    expires_at: Option<i64>,
    refreshed_at: Option<i64>,
    next_refresh_at: Option<i64>,
    last_attempt_at: Option<i64>,
    last_result: Option<String>,
    last_error: Option<String>,
    last_error_kind: Option<String>,
    failures: i32,
    needs_reconnect: bool,
    warned_expiring_at: Option<i64>,
    warned_expired_at: Option<i64>,
    lease_owner: Option<String>,
    lease_until: Option<i64>,
    notify_error: Option<String>,
    epoch: i64,
    token_type: Option<String>,
    never_expires: bool,
}

const ACCOUNT_COLUMNS: &str = "name, kind, user_id, username, token, issued_at, placed_at, expires_at, \
     refreshed_at, next_refresh_at, last_attempt_at, last_result, last_error, last_error_kind, failures, \
     needs_reconnect, warned_expiring_at, warned_expired_at, lease_owner, lease_until, notify_error, epoch, \
     token_type, never_expires";

impl Store {
    fn account_from(&self, r: AccountRow) -> Result<Account, StoreError> {
        Ok(Account {
            kind: r
                .kind
                .parse()
                .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
            token: self.open(&r.token)?,
            name: r.name,
            user_id: r.user_id,
            username: r.username,
            issued_at: from_ms(r.issued_at),
            placed_at: from_ms(Some(r.placed_at)).unwrap_or_default(),
            expires_at: from_ms(r.expires_at),
            refreshed_at: from_ms(r.refreshed_at),
            next_refresh_at: from_ms(r.next_refresh_at),
            last_attempt_at: from_ms(r.last_attempt_at),
            last_result: r.last_result,
            last_error: r.last_error,
            last_error_kind: r.last_error_kind,
            failures: r.failures,
            needs_reconnect: r.needs_reconnect,
            warned_expiring_at: from_ms(r.warned_expiring_at),
            warned_expired_at: from_ms(r.warned_expired_at),
            lease_owner: r.lease_owner,
            lease_until: from_ms(r.lease_until),
            notify_error: r.notify_error,
            epoch: r.epoch,
            token_type: r.token_type,
            never_expires: r.never_expires,
        })
    }
}

/// A token put in place by hand, by STARTING_TOKEN or by a connect flow.
/// It replaces whatever the account had and clears its error state.
#[derive(Clone)]
pub struct NewToken {
    pub name: String,
    pub kind: AccountKind,
    pub token: String,
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub issued_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub next_refresh_at: Option<DateTime<Utc>>,
}

impl NewToken {
    /// A token pasted by hand (STARTING_TOKEN, the CLI, the admin page):
    /// its age and expiry are unknown, so an Instagram token is due for one
    /// refresh at once, which tells its expiry.
    pub fn pasted(name: &str, kind: AccountKind, token: &str, now: DateTime<Utc>) -> NewToken {
        NewToken {
            name: name.to_string(),
            kind,
            token: token.to_string(),
            user_id: None,
            username: None,
            issued_at: None,
            expires_at: None,
            next_refresh_at: (kind == AccountKind::Instagram).then_some(now),
        }
    }
}

/// The result of one refresh attempt, written together with its history row.
pub enum Attempt<'a> {
    Refreshed {
        token: &'a str,
        issued_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        next_refresh_at: DateTime<Utc>,
    },
    Failed {
        kind: &'a str,
        message: &'a str,
        needs_reconnect: bool,
        next_refresh_at: Option<DateTime<Utc>>,
    },
}

impl Store {
    pub async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY name"
        ));
        let rows: Vec<AccountRow> =
            on_pool!(self, pool => sqlx::query_as(sql).fetch_all(pool).await?);
        rows.into_iter().map(|r| self.account_from(r)).collect()
    }

    pub async fn account(&self, name: &str) -> Result<Option<Account>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = $1"
        ));
        let row: Option<AccountRow> =
            on_pool!(self, pool => sqlx::query_as(sql).bind(name).fetch_optional(pool).await?);
        row.map(|r| self.account_from(r)).transpose()
    }

    /// Puts a token in place, creating the account or replacing its token.
    /// A replacement starts afresh: errors, failures and warnings are
    /// cleared, and so are the feed pages and images kept for the account,
    /// which may be another user's; the new epoch keys its feed anew in
    /// every process.
    pub async fn put_token(&self, new: &NewToken, now: DateTime<Utc>) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO accounts (name, kind, token, user_id, username, issued_at, expires_at, \
                next_refresh_at, placed_at, created_at, updated_at, epoch) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $9, $10) \
             ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, token = excluded.token, \
                user_id = COALESCE(excluded.user_id, accounts.user_id), \
                username = COALESCE(excluded.username, accounts.username), \
                issued_at = excluded.issued_at, expires_at = excluded.expires_at, \
                placed_at = excluded.placed_at, next_refresh_at = excluded.next_refresh_at, refreshed_at = NULL, \
                last_result = NULL, last_error = NULL, last_error_kind = NULL, failures = 0, \
                needs_reconnect = FALSE, warned_expiring_at = NULL, warned_expired_at = NULL, \
                notify_error = NULL, updated_at = excluded.updated_at, epoch = excluded.epoch, \
                token_type = NULL, never_expires = FALSE";
        let epoch = rand::random::<i64>();
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(SQL)
                .bind(&new.name)
                .bind(new.kind.as_str())
                .bind(self.seal(&new.token))
                .bind(&new.user_id)
                .bind(&new.username)
                .bind(ms(new.issued_at))
                .bind(ms(new.expires_at))
                .bind(ms(new.next_refresh_at))
                .bind(now.timestamp_millis())
                .bind(epoch)
                .execute(&mut *tx)
                .await?;
            for sql in [
                "DELETE FROM feed_pages WHERE account = $1",
                "DELETE FROM mirror_images WHERE account = $1",
            ] {
                sqlx::query(sql).bind(&new.name).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Records who the token belongs to upstream.
    pub async fn set_profile(
        &self,
        name: &str,
        user_id: Option<&str>,
        username: Option<&str>,
    ) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE accounts SET user_id = COALESCE($2, user_id), username = COALESCE($3, username) \
             WHERE name = $1";
        on_pool!(self, pool => {
            sqlx::query(SQL).bind(name).bind(user_id).bind(username).execute(pool).await?;
        });
        Ok(())
    }

    /// Deletes the account and the feed pages kept for it, whoever removes
    /// it (a server, the command line, Meta's deletion callback).
    pub async fn remove(&self, name: &str) -> Result<bool, StoreError> {
        let done = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query("DELETE FROM accounts WHERE name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query("DELETE FROM feed_pages WHERE account = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            done
        });
        Ok(done > 0)
    }

    /// Claims the right to refresh an account until `until`. Exactly one of
    /// several processes racing for the same account gets `true`; a lease
    /// left by a killed process lapses at its end time.
    pub async fn try_lease(
        &self,
        name: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE accounts SET lease_owner = $2, lease_until = $4 \
             WHERE name = $1 AND (lease_until IS NULL OR lease_until < $3 OR lease_owner = $2)";
        let done = on_pool!(self, pool => sqlx::query(SQL)
            .bind(name)
            .bind(owner)
            .bind(now.timestamp_millis())
            .bind(until.timestamp_millis())
            .execute(pool)
            .await?
            .rows_affected());
        Ok(done == 1)
    }

    pub async fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE accounts SET lease_owner = NULL, lease_until = NULL \
             WHERE name = $1 AND lease_owner = $2";
        on_pool!(self, pool => {
            sqlx::query(SQL).bind(name).bind(owner).execute(pool).await?;
        });
        Ok(())
    }

    /// Writes the outcome of a refresh and its history row in one
    /// transaction, and releases the lease. A new token replaces the old one
    /// in a single statement: a crash leaves one or the other, never neither.
    /// Returns false when the lease was lost (nothing is written then).
    pub async fn finish_attempt(
        &self,
        name: &str,
        owner: &str,
        attempt: Attempt<'_>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        const REFRESHED: &str = "UPDATE accounts SET token = $3, issued_at = $4, placed_at = $6, expires_at = $5, \
                refreshed_at = $6, next_refresh_at = $7, last_attempt_at = $6, last_result = 'ok', \
                last_error = NULL, last_error_kind = NULL, failures = 0, needs_reconnect = FALSE, \
                warned_expiring_at = NULL, warned_expired_at = NULL, \
                lease_owner = NULL, lease_until = NULL, updated_at = $6 \
             WHERE name = $1 AND lease_owner = $2";
        const FAILED: &str = "UPDATE accounts SET last_attempt_at = $3, last_result = 'failed', \
                last_error = $4, last_error_kind = $5, failures = failures + 1, \
                needs_reconnect = $6, next_refresh_at = $7, \
                lease_owner = NULL, lease_until = NULL, updated_at = $3 \
             WHERE name = $1 AND lease_owner = $2";
        const HISTORY: &str = "INSERT INTO refresh_history (account, at, outcome, error_kind, message, \
                old_expires_at, new_expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)";
        let old_expires = self.account(name).await?.and_then(|a| ms(a.expires_at));
        let now_ms = now.timestamp_millis();
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let (updated, outcome, kind, message, new_expires) = match &attempt {
                Attempt::Refreshed { token, issued_at, expires_at, next_refresh_at } => {
                    let updated = sqlx::query(REFRESHED)
                        .bind(name)
                        .bind(owner)
                        .bind(self.seal(token))
                        .bind(issued_at.timestamp_millis())
                        .bind(expires_at.timestamp_millis())
                        .bind(now_ms)
                        .bind(next_refresh_at.timestamp_millis())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    (updated, "ok", None, None, Some(expires_at.timestamp_millis()))
                }
                Attempt::Failed { kind, message, needs_reconnect, next_refresh_at } => {
                    let updated = sqlx::query(FAILED)
                        .bind(name)
                        .bind(owner)
                        .bind(now_ms)
                        .bind(*message)
                        .bind(*kind)
                        .bind(*needs_reconnect)
                        .bind(ms(*next_refresh_at))
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    (updated, "failed", Some(*kind), Some(*message), old_expires)
                }
            };
            if updated != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            sqlx::query(HISTORY)
                .bind(name)
                .bind(now_ms)
                .bind(outcome)
                .bind(kind)
                .bind(message)
                .bind(old_expires)
                .bind(new_expires)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Moves an account's next refresh, e.g. when it is not yet old enough.
    pub async fn reschedule(
        &self,
        name: &str,
        next_refresh_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("UPDATE accounts SET next_refresh_at = $2 WHERE name = $1")
                .bind(name)
                .bind(ms(next_refresh_at))
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Forgets which Instagram account the token serves (a new token whose
    /// Pages have several: the owner chooses again).
    pub async fn clear_user_id(&self, name: &str) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE accounts SET user_id = NULL WHERE name = $1";
        on_pool!(self, pool => {
            sqlx::query(SQL).bind(name).execute(pool).await?;
        });
        Ok(())
    }

    pub async fn set_scoped_user_id(
        &self,
        name: &str,
        scoped: Option<&str>,
    ) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE accounts SET scoped_user_id = $2 WHERE name = $1";
        on_pool!(self, pool => {
            sqlx::query(SQL).bind(name).bind(scoped).execute(pool).await?;
        });
        Ok(())
    }

    /// Names of the accounts a Meta user id (app-scoped or Instagram) owns.
    pub async fn accounts_of_user(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        const SQL: &str =
            "SELECT name FROM accounts WHERE scoped_user_id = $1 OR user_id = $1 ORDER BY name";
        Ok(on_pool!(self, pool => sqlx::query_scalar(SQL).bind(user_id).fetch_all(pool).await?))
    }

    /// Records a warning as delivered (or, with `error`, as failed, to be
    /// tried again and shown on the status page).
    pub async fn record_warning(
        &self,
        name: &str,
        expired: bool,
        now: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        const SENT_EXPIRING: &str =
            "UPDATE accounts SET warned_expiring_at = $2, notify_error = NULL WHERE name = $1";
        const SENT_EXPIRED: &str =
            "UPDATE accounts SET warned_expired_at = $2, notify_error = NULL WHERE name = $1";
        const FAILED: &str = "UPDATE accounts SET notify_error = $2 WHERE name = $1";
        on_pool!(self, pool => {
            match error {
                Some(error) => sqlx::query(FAILED).bind(name).bind(error).execute(pool).await?,
                None => sqlx::query(if expired { SENT_EXPIRED } else { SENT_EXPIRING })
                    .bind(name)
                    .bind(now.timestamp_millis())
                    .execute(pool)
                    .await?,
            };
        });
        Ok(())
    }

    /// Records a validity check of a token that cannot be refreshed (a
    /// Facebook-Login token, through debug_token): `Ok(expiry)` when valid,
    /// or the error and whether the token is dead.
    pub async fn record_check(
        &self,
        name: &str,
        now: DateTime<Utc>,
        result: Result<&TokenCheck, (&str, &str, bool)>,
    ) -> Result<(), StoreError> {
        const VALID: &str = "UPDATE accounts SET last_attempt_at = $2, last_result = 'ok', last_error = NULL, \
                last_error_kind = NULL, failures = 0, \
                expires_at = CASE WHEN $4 THEN NULL ELSE COALESCE($3, expires_at) END, \
                never_expires = $4, token_type = COALESCE($5, token_type) WHERE name = $1";
        const INVALID: &str = "UPDATE accounts SET last_attempt_at = $2, last_result = 'failed', last_error = $3, \
                last_error_kind = $4, failures = failures + 1, needs_reconnect = $5 WHERE name = $1";
        on_pool!(self, pool => {
            match result {
                Ok(check) => sqlx::query(VALID)
                    .bind(name)
                    .bind(now.timestamp_millis())
                    .bind(ms(check.expires_at))
                    .bind(check.never_expires)
                    .bind(&check.token_type)
                    .execute(pool)
                    .await?,
                Err((kind, message, dead)) => sqlx::query(INVALID)
                    .bind(name)
                    .bind(now.timestamp_millis())
                    .bind(message)
                    .bind(kind)
                    .bind(dead)
                    .execute(pool)
                    .await?,
            };
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_kinds_round_trip() {
        for kind in [AccountKind::Instagram, AccountKind::Facebook] {
            assert_eq!(kind.as_str().parse::<AccountKind>(), Ok(kind));
        }
        assert!("tiktok".parse::<AccountKind>().is_err());
    }
}

//! What the owner does to accounts, by the CLI or the admin page alike:
//! paste a token, remove an account.

use crate::app::App;
use crate::domain::AccountName;
use crate::refresher::{self, Outcome};
use crate::store::{AccountKind, NewToken, StoreError};

/// Stores a pasted token under `name` (adding the account or replacing its
/// token) and, for an Instagram-Login token, tries a first refresh at once
/// to learn its expiry. Returns that refresh's outcome (`None` for a
/// Facebook-Login token, which cannot be refreshed).
pub async fn paste_token(
    app: &App,
    name: &AccountName,
    kind: AccountKind,
    token: &str,
) -> Result<Option<Outcome>, StoreError> {
    let now = app.clock.now();
    app.store
        .put_token(&NewToken::pasted(name.as_str(), kind, token, now), now)
        .await?;
    let outcome = match kind {
        AccountKind::Instagram => {
            Some(refresher::refresh_account(app, name.as_str(), false).await?)
        }
        AccountKind::Facebook => None,
    };
    if let Err(e) = app.reload().await {
        tracing::warn!(error = %e, "could not reload accounts after a pasted token");
    }
    Ok(outcome)
}

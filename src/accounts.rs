//! What the owner does, by the CLI or the admin page alike: paste a token,
//! allow or withdraw a hashtag.

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

/// Allows (`allow`) or withdraws a hashtag (already parsed), for every
/// instance: stored, then read back into memory.
pub async fn approve_hashtag(app: &App, tag: &str, allow: bool) -> anyhow::Result<()> {
    let mut tags = app.store.approved_hashtags().await?;
    if allow {
        tags.insert(tag.to_string());
    } else {
        tags.remove(tag);
    }
    app.store.set_approved_hashtags(&tags).await?;
    app.reload().await
}

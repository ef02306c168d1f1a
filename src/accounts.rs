//! What the owner does, by the CLI or the admin page alike: paste a token,
//! allow or withdraw a hashtag.

use crate::app::App;
use crate::domain::AccountName;
use crate::profile::{self, Profile, ProfileError};
use crate::refresher::{self, Outcome};
use crate::store::{AccountKind, NewToken, StoreError};

/// What pasting a token did: the first refresh (Instagram Login only) and
/// what was learnt about whose token it is.
#[derive(Debug)]
pub struct Pasted {
    pub refresh: Option<Outcome>,
    pub profile: Result<Profile, String>,
}

impl Pasted {
    /// One or two sentences for the CLI and the admin page; never a token.
    pub fn describe(&self) -> String {
        format!("{} {}", self.who(), self.refresh_result())
    }

    /// What the first refresh did.
    pub fn refresh_result(&self) -> String {
        match &self.refresh {
            Some(outcome) => format!("Refresh: {}", outcome.describe()),
            None => {
                "Facebook-Login tokens cannot be refreshed; the agent will warn before it expires."
                    .into()
            }
        }
    }

    /// Whose token it is, or why that is not known.
    pub fn who(&self) -> String {
        match &self.profile {
            Ok(p) if !p.choices.is_empty() => format!(
                "Its Facebook Pages have {} Instagram accounts ({}): choose one on the admin page or with `accounts add NAME --kind facebook --token T --ig-user ID`.",
                p.choices.len(),
                p.choices
                    .iter()
                    .map(|c| match &c.page_name {
                        Some(page) => format!("{} on {page}", c.ig_user_id),
                        None => c.ig_user_id.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Ok(p) => match (&p.username, &p.user_id) {
                (Some(username), _) => format!("It is @{username}'s token."),
                (None, Some(id)) => format!("It is Instagram account {id}'s token."),
                (None, None) => {
                    "None of its Facebook Pages has an Instagram professional account linked."
                        .into()
                }
            },
            Err(e) => format!("Whose token it is could not be checked: {e}"),
        }
    }
}

/// Stores a pasted token under `name` (adding the account or replacing its
/// token), learns at once whose token it is (so Meta's deletion callback
/// finds it), and, for an Instagram-Login token, tries a first refresh to
/// learn its expiry, or, for a Facebook-Login token, asks Meta's
/// debug_token for its expiry and type. `ig_user` chooses among a
/// Facebook-Login token's Instagram accounts (or names the one a system
/// user's token reads).
pub async fn paste_token(
    app: &App,
    name: &AccountName,
    kind: AccountKind,
    token: &str,
    ig_user: Option<&str>,
) -> Result<Pasted, StoreError> {
    let now = app.clock.now();
    app.store
        .put_token(&NewToken::pasted(name.as_str(), kind, token, now), now)
        .await?;
    let profile = match profile::learn(
        &app.upstream,
        &app.store,
        name.as_str(),
        kind,
        token,
        ig_user,
    )
    .await
    {
        Ok(profile) => Ok(profile),
        Err(ProfileError::Store(e)) => return Err(e),
        Err(e) => {
            tracing::warn!(account = %name, error = %e, "could not learn whose the pasted token is");
            Err(match &e {
                ProfileError::Upstream(u) => match u.advice() {
                    Some(advice) => format!("{u}; {advice}"),
                    None => u.to_string(),
                },
                other => other.to_string(),
            })
        }
    };
    let refresh = match kind {
        AccountKind::Instagram => {
            Some(refresher::refresh_account(app, name.as_str(), false).await?)
        }
        AccountKind::Facebook => {
            refresher::check_now(app, name.as_str()).await?;
            None
        }
    };
    app.feeds.forget_account(name.as_str()).await;
    if let Err(e) = app.reload().await {
        tracing::warn!(error = %e, "could not reload accounts after a pasted token");
    }
    Ok(Pasted { refresh, profile })
}

/// The owner's choice among a Facebook-Login account's Instagram accounts.
pub async fn choose_instagram(app: &App, name: &str, ig_user: &str) -> Result<(), ProfileError> {
    profile::choose(&app.store, name, ig_user).await?;
    app.feeds.forget_account(name).await;
    if let Err(e) = app.reload().await {
        tracing::warn!(error = %e, "could not reload accounts after a choice");
    }
    Ok(())
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

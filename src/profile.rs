//! Whose token this is, learnt as soon as a token arrives (pasted with
//! STARTING_TOKEN, `accounts add` or the admin page, or connected): the
//! Instagram user id, the app-scoped id that Meta's deauthorize and data
//! deletion callbacks name, and the username. So a deletion request for a
//! freshly pasted account finds it at once, not after its first refresh.
//!
//! A Facebook-Login token may reach several Instagram accounts (one per
//! Page); then the owner chooses (`--ig-user`, or the admin page), and the
//! candidates wait in the settings under [`choices_key`].

use crate::store::{AccountKind, Store, StoreError};
use crate::upstream::{ErrorKind, LinkedInstagram, Upstream, UpstreamError};

/// What was learnt about a token.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Profile {
    pub user_id: Option<String>,
    pub scoped_user_id: Option<String>,
    pub username: Option<String>,
    /// A Facebook-Login token's Instagram accounts, when there are several
    /// and none was chosen.
    pub choices: Vec<LinkedInstagram>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    NotAChoice(String),
}

/// The settings key holding an account's Instagram accounts to choose from.
pub fn choices_key(account: &str) -> String {
    format!("instagram_choices:{account}")
}

/// Asks Meta whose `token` is (for Facebook Login: which Instagram account;
/// `ig_user` picks one of several) and stores it on account `name`.
pub async fn learn(
    upstream: &Upstream,
    store: &Store,
    name: &str,
    kind: AccountKind,
    token: &str,
    ig_user: Option<&str>,
) -> Result<Profile, ProfileError> {
    let profile = match kind {
        AccountKind::Instagram => {
            let me = upstream.instagram_me(token).await?;
            Profile {
                user_id: Some(me.user_id.clone().unwrap_or_else(|| me.id.clone())),
                scoped_user_id: Some(me.id),
                username: me.username,
                choices: Vec::new(),
            }
        }
        AccountKind::Facebook => facebook_profile(upstream, token, ig_user).await?,
    };
    if !profile.choices.is_empty() {
        store.clear_user_id(name).await?;
    }
    store
        .set_profile(
            name,
            profile.user_id.as_deref(),
            profile.username.as_deref(),
        )
        .await?;
    if profile.scoped_user_id.is_some() {
        store
            .set_scoped_user_id(name, profile.scoped_user_id.as_deref())
            .await?;
    }
    let choices = serde_json::to_string(&profile.choices).unwrap_or_else(|_| "[]".into());
    store.set_setting(&choices_key(name), &choices).await?;
    Ok(profile)
}

/// A Facebook-Login token's profile, read but not stored.
pub async fn facebook_profile(
    upstream: &Upstream,
    token: &str,
    ig_user: Option<&str>,
) -> Result<Profile, ProfileError> {
    let linked = upstream.linked_instagram_accounts(token).await?;
    let listed = ig_user.and_then(|wanted| linked.iter().find(|l| l.ig_user_id == wanted));
    let (chosen, username) = match (ig_user, listed) {
        (Some(wanted), None) => {
            // Not through the token's Pages: a system user's token (Instagram
            // API with Unified Login names the account by its id and lists no
            // Pages) may still read it, which its username proves.
            let username = match upstream.instagram_username(wanted, token).await {
                Ok(username) => username,
                Err(e) if e.kind == ErrorKind::Rejected => {
                    return Err(not_a_choice(wanted, &linked));
                }
                Err(e) => return Err(e.into()),
            };
            (Some(wanted.to_string()), Some(username))
        }
        (Some(_), Some(listed)) => (Some(listed.ig_user_id.clone()), None),
        (None, _) if linked.len() == 1 => (linked.first().map(|l| l.ig_user_id.clone()), None),
        (None, _) => (None, None),
    };
    let username = match (&chosen, username) {
        (_, Some(read)) => read,
        (Some(id), None) => upstream
            .instagram_username(id, token)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "could not read the Instagram username");
                None
            }),
        (None, None) => None,
    };
    Ok(Profile {
        scoped_user_id: upstream.facebook_user_id(token).await.ok().flatten(),
        choices: if chosen.is_none() && linked.len() > 1 {
            linked
        } else {
            Vec::new()
        },
        user_id: chosen,
        username,
    })
}

fn not_a_choice(wanted: &str, linked: &[LinkedInstagram]) -> ProfileError {
    let ids: Vec<&str> = linked.iter().map(|l| l.ig_user_id.as_str()).collect();
    ProfileError::NotAChoice(format!(
        "{wanted} is not an Instagram account of this token's Pages (they have: {})",
        if ids.is_empty() {
            "none".to_string()
        } else {
            ids.join(", ")
        }
    ))
}

/// The Instagram accounts account `name` waits to choose from.
pub async fn choices(store: &Store, name: &str) -> Result<Vec<LinkedInstagram>, StoreError> {
    Ok(store
        .setting(&choices_key(name))
        .await?
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default())
}

/// Records the owner's choice among [`choices`].
pub async fn choose(store: &Store, name: &str, ig_user: &str) -> Result<(), ProfileError> {
    let linked = choices(store, name).await?;
    if !linked.iter().any(|l| l.ig_user_id == ig_user) {
        return Err(not_a_choice(ig_user, &linked));
    }
    store.set_profile(name, Some(ig_user), None).await?;
    store.set_setting(&choices_key(name), "[]").await?;
    Ok(())
}

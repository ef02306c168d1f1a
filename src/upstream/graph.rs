//! Graph API reads with an account's token: its media, its Facebook Pages
//! and the Instagram business account behind them, hashtag search and
//! hashtag media, and `debug_token` (instagram-api.md §4, §3.5, §6).
//!
//! Every Graph path, field list and answer shape the agent uses outside the
//! token exchanges lives here; callers get typed answers.

use std::borrow::Cow;
use std::sync::atomic::Ordering;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

use super::media::{FEED_FIELDS, HASHTAG_FIELDS, MediaPage, WITHOUT_ALT_TEXT};
use super::{ErrorKind, Upstream, UpstreamError, Usage, classify_debug_token, require};
use crate::domain::Cursor;

/// Whose media `media_page` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaOwner<'a> {
    /// An Instagram-Login token: `graph.instagram.com/{ver}/me/media`.
    InstagramLogin,
    /// A Facebook-Login token: `graph.facebook.com/{ver}/{ig_user}/media`.
    FacebookLogin { ig_user: &'a str },
}

/// A hashtag's two media edges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashtagEdge {
    Recent,
    Top,
}

impl HashtagEdge {
    /// `recent` or `top`, for cache keys and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            HashtagEdge::Recent => "recent",
            HashtagEdge::Top => "top",
        }
    }

    fn path(self) -> &'static str {
        match self {
            HashtagEdge::Recent => "recent_media",
            HashtagEdge::Top => "top_media",
        }
    }
}

/// An Instagram business account and the Facebook Page it is linked to.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LinkedInstagram {
    pub ig_user_id: String,
    pub page_id: String,
    pub page_name: Option<String>,
}

impl LinkedInstagram {
    fn from_page(page: &Value) -> Option<LinkedInstagram> {
        let ig_user_id = page["instagram_business_account"]["id"].as_str()?;
        Some(LinkedInstagram {
            ig_user_id: ig_user_id.to_string(),
            page_id: page["id"].as_str().unwrap_or_default().to_string(),
            page_name: page["name"].as_str().map(str::to_string),
        })
    }
}

/// What one page of media asks for: how many items, from which cursor.
#[derive(Clone, Copy, Debug)]
pub struct PageRequest<'a> {
    pub limit: u32,
    pub cursor: &'a Option<Cursor>,
}

/// What `debug_token` says of a valid token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenCheck {
    /// When it expires, if it does and Meta said when.
    pub expires_at: Option<DateTime<Utc>>,
    /// Meta said `expires_at: 0`: the token does not expire (a Page token,
    /// a system user's non-expiring token).
    pub never_expires: bool,
    /// `USER`, `PAGE`, `SYSTEM_USER` (a system user's token, which
    /// Instagram API with Unified Login uses) or what else Meta names.
    pub token_type: Option<String>,
}

impl TokenCheck {
    /// A system user's token, made in Meta Business Settings or by
    /// Instagram API with Unified Login.
    pub fn is_system_user(&self) -> bool {
        self.token_type.as_deref() == Some("SYSTEM_USER")
    }
}

/// The app access token `{app-id}|{app-secret}` that `debug_token` takes.
pub struct AppToken(String);

impl AppToken {
    pub fn new(app_id: &str, app_secret: &str) -> AppToken {
        AppToken(format!("{app_id}|{app_secret}"))
    }
}

impl std::fmt::Debug for AppToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppToken(…)")
    }
}

impl Upstream {
    /// One page of an account's own media. A host that refuses `alt_text`
    /// (an Instagram without the field) is asked again without it, once;
    /// this process then leaves the field out for that host.
    pub async fn media_page(
        &self,
        owner: MediaOwner<'_>,
        token: &str,
        page: PageRequest<'_>,
    ) -> Result<(MediaPage, Usage), UpstreamError> {
        let (url, host) = match owner {
            MediaOwner::InstagramLogin => (self.instagram_graph_url("me/media"), 0),
            MediaOwner::FacebookLogin { ig_user } => {
                require("Instagram user id", ig_user)?;
                (self.facebook_graph_url(&format!("{ig_user}/media")), 1)
            }
        };
        let refused = &self.inner.alt_text_refused[host];
        let mut params = page_params(page, || vec![("fields".into(), FEED_FIELDS.to_string())]);
        if refused.load(Ordering::Relaxed) {
            leave_out_alt_text(&mut params);
        }
        let answer = match self.get_with(&url, &params, token).await {
            Err(e) if refuses_alt_text(&e) && leave_out_alt_text(&mut params) => {
                tracing::info!(
                    host = url::Url::parse(&url)
                        .ok()
                        .and_then(|u| u.host_str().map(str::to_string)),
                    "Instagram does not know alt_text here: posts are described by their captions"
                );
                refused.store(true, Ordering::Relaxed);
                self.get_with(&url, &params, token).await
            }
            answer => answer,
        };
        let (body, usage) = answer?;
        Ok((parse_media_page(body, token)?, usage))
    }

    /// The Instagram business account behind a Facebook-Login token, when
    /// there is exactly one (`None` when there is none). With several, the
    /// owner must choose; the first is never taken silently.
    pub async fn instagram_business_account(
        &self,
        token: &str,
    ) -> Result<Option<String>, UpstreamError> {
        let mut linked = self.linked_instagram_accounts(token).await?;
        match linked.len() {
            0 => Ok(None),
            1 => Ok(linked.pop().map(|l| l.ig_user_id)),
            n => Err(UpstreamError::rejected(&format!(
                "the Facebook Pages this token can see have {n} Instagram accounts; choose one \
                 on the admin page or with `accounts add NAME --kind facebook --ig-user ID`"
            ))),
        }
    }

    /// Every Instagram business account a Facebook-Login token reaches:
    /// through each of the user's Pages (every page of `/me/accounts`,
    /// which Meta pages at 25), or, for a Page token (which lists nothing
    /// there), the Page's own (`/me?fields=instagram_business_account`).
    /// Since Graph v17 business-owned Pages are listed only when the user
    /// granted `business_management`.
    pub async fn linked_instagram_accounts(
        &self,
        token: &str,
    ) -> Result<Vec<LinkedInstagram>, UpstreamError> {
        /// Enough for any owner (25 a page); a loop in Meta's links ends here.
        const MAX_PAGES: usize = 40;
        let url = self.facebook_graph_url("me/accounts");
        let params = [
            ("fields", "id,name,instagram_business_account".to_string()),
            ("limit", "25".to_string()),
        ];
        // Meta's answer for a Page token is reported as an empty list; an
        // error there (unconfirmed) is read the same way.
        let mut body = match self.get_with(&url, &params, token).await {
            Ok((body, _)) => body,
            Err(e) if e.kind == ErrorKind::Rejected && !e.is_app_not_permitted() => {
                serde_json::json!({ "data": [] })
            }
            Err(e) => return Err(e),
        };
        let mut linked = Vec::new();
        let mut listed_pages = 0;
        for _ in 0..MAX_PAGES {
            let pages = body["data"].as_array().cloned().unwrap_or_default();
            listed_pages += pages.len();
            linked.extend(pages.iter().filter_map(LinkedInstagram::from_page));
            match body["paging"]["next"].as_str() {
                Some(next) if !pages.is_empty() => {
                    let next = next.to_string();
                    body = self.get_json(&next, token).await?.0;
                }
                _ => break,
            }
        }
        if listed_pages == 0 {
            // A Page token: `/me` is the Page. A user token has no such field.
            let url = self.facebook_graph_url("me");
            let params = [("fields", "id,name,instagram_business_account".to_string())];
            if let Ok((page, _)) = self.get_with(&url, &params, token).await {
                linked.extend(LinkedInstagram::from_page(&page));
            }
        }
        Ok(linked)
    }

    /// An Instagram business account's username (`GET /{ig_user}?fields=username`).
    pub async fn instagram_username(
        &self,
        ig_user: &str,
        token: &str,
    ) -> Result<Option<String>, UpstreamError> {
        require("Instagram user id", ig_user)?;
        let url = self.facebook_graph_url(ig_user);
        let params = [("fields", "username".to_string())];
        let (body, _) = self.get_with(&url, &params, token).await?;
        Ok(body["username"].as_str().map(str::to_string))
    }

    /// The Facebook user's app-scoped id (`GET /me?fields=id`), which Meta's
    /// deauthorize and data deletion callbacks name.
    pub async fn facebook_user_id(&self, token: &str) -> Result<Option<String>, UpstreamError> {
        let url = self.facebook_graph_url("me");
        let params = [("fields", "id".to_string())];
        let (body, _) = self.get_with(&url, &params, token).await?;
        Ok(body["id"].as_str().map(str::to_string))
    }

    /// A hashtag's id (`GET /ig_hashtag_search?user_id&q`), or `None` when
    /// Instagram has no such hashtag. Each new tag counts against the
    /// account's 30 distinct hashtags per 7 days.
    pub async fn hashtag_search(
        &self,
        ig_user: &str,
        tag: &str,
        token: &str,
    ) -> Result<(Option<String>, Usage), UpstreamError> {
        require("Instagram user id", ig_user)?;
        let url = self.facebook_graph_url("ig_hashtag_search");
        let params = [("user_id", ig_user.to_string()), ("q", tag.to_string())];
        let (body, usage) = self.get_with(&url, &params, token).await?;
        // Documented as {"data":[{"id":…}]}; an older guide shows {"id":…}.
        let id = body["data"][0]["id"]
            .as_str()
            .or_else(|| body["id"].as_str())
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_string);
        Ok((id, usage))
    }

    /// One page of a hashtag's recent or top media, as seen by `ig_user`.
    pub async fn hashtag_media(
        &self,
        hashtag_id: &str,
        edge: HashtagEdge,
        ig_user: &str,
        token: &str,
        page: PageRequest<'_>,
    ) -> Result<(MediaPage, Usage), UpstreamError> {
        require("hashtag id", hashtag_id)?;
        require("Instagram user id", ig_user)?;
        let url = self.facebook_graph_url(&format!("{hashtag_id}/{}", edge.path()));
        let params = page_params(page, || {
            vec![
                ("user_id".into(), ig_user.to_string()),
                ("fields".into(), HASHTAG_FIELDS.to_string()),
            ]
        });
        let (body, usage) = self.get_with(&url, &params, token).await?;
        Ok((parse_media_page(body, token)?, usage))
    }

    /// `GET /debug_token?input_token=…` with the app token: `Ok` with the
    /// token's expiry and type while Meta says it is valid, else the
    /// classified error (`TokenDead` for a revoked or expired token).
    pub async fn debug_token(
        &self,
        input_token: &str,
        app: &AppToken,
    ) -> Result<TokenCheck, UpstreamError> {
        require("access token", input_token)?;
        let url = self.facebook_graph_url("debug_token");
        let params = [("input_token", input_token.to_string())];
        let (body, _) = self.get_with(&url, &params, &app.0).await?;
        if let Some(error) = classify_debug_token(&body) {
            return Err(error);
        }
        let data = &body["data"];
        let expires = data["expires_at"].as_i64();
        Ok(TokenCheck {
            expires_at: expires
                .filter(|s| *s > 0)
                .and_then(|s| Utc.timestamp_opt(s, 0).single()),
            never_expires: expires == Some(0),
            token_type: data["type"]
                .as_str()
                .filter(|t| t.len() <= 32 && t.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
                .map(str::to_string),
        })
    }

    /// A GET of `url` with `params` and the token; its secrets are scrubbed
    /// from any error.
    async fn get_with<K: AsRef<str>>(
        &self,
        url: &str,
        params: &[(K, String)],
        token: &str,
    ) -> Result<(Value, Usage), UpstreamError> {
        let mut url = url::Url::parse(url)
            .map_err(|_| UpstreamError::rejected("a Graph URL could not be built"))?;
        url.query_pairs_mut()
            .extend_pairs(params.iter().map(|(k, v)| (k.as_ref(), v.as_str())));
        self.get_json(url.as_str(), token).await
    }
}

/// Meta's answer to a field it does not have: code 100, "(#100) Tried
/// accessing nonexisting field (alt_text)", with or without " on node type
/// (…)" (instagram-api.md §5; §14 for `alt_text`).
fn refuses_alt_text(error: &UpstreamError) -> bool {
    error.code == Some(100) && error.message.contains("nonexisting field (alt_text)")
}

/// Asks `params` for [`WITHOUT_ALT_TEXT`]; `false` if they already did.
fn leave_out_alt_text(params: &mut [(Cow<'static, str>, String)]) -> bool {
    let mut changed = false;
    for (_, value) in params.iter_mut().filter(|(key, _)| key == "fields") {
        changed |= value != WITHOUT_ALT_TEXT;
        *value = WITHOUT_ALT_TEXT.to_string();
    }
    changed
}

/// The query of a page: `first()` (the fields and such) with `limit` and
/// the cursor; or, for a next link, its own query as upstream gave it
/// (never rebuilt from its cursor).
fn page_params(
    page: PageRequest<'_>,
    first: impl FnOnce() -> Vec<(Cow<'static, str>, String)>,
) -> Vec<(Cow<'static, str>, String)> {
    if let Some(Cursor::Next(query)) = page.cursor {
        return url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned()))
            .collect();
    }
    let mut params = first();
    params.push(("limit".into(), page.limit.to_string()));
    match page.cursor {
        Some(Cursor::After(c)) => params.push(("after".into(), c.clone())),
        Some(Cursor::Before(c)) => params.push(("before".into(), c.clone())),
        Some(Cursor::Next(_)) | None => {}
    }
    params
}

/// A media page, or `Garbage`; serde's message can quote the body, so the
/// token is scrubbed from it.
fn parse_media_page(body: Value, token: &str) -> Result<MediaPage, UpstreamError> {
    MediaPage::from_upstream(body).map_err(|e| UpstreamError::new(ErrorKind::Garbage, &e, &[token]))
}

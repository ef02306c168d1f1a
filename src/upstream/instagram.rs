//! Instagram Login (instagram-api.md §2): `api.instagram.com` for the code
//! exchange, `graph.instagram.com` for the long-lived exchange, the refresh
//! and `/me`. The token endpoints are unversioned.

use super::grants::{self, Expiry};
use super::{CodeGrant, InstagramProfile, TokenGrant, Upstream, UpstreamError, require};

/// The fields `instagram_me` asks for.
const PROFILE_FIELDS: &str = "id,user_id,username,account_type";

impl Upstream {
    /// `GET {ig_graph}/refresh_access_token?grant_type=ig_refresh_token`.
    /// The token must be at least 24 hours old and unexpired; always store
    /// the returned token, it may differ from the old one.
    pub async fn refresh_instagram_token(&self, token: &str) -> Result<TokenGrant, UpstreamError> {
        require("access token", token)?;
        let url = Self::endpoint(&self.inner.instagram_graph, "refresh_access_token");
        let request = self
            .inner
            .http
            .get(url)
            .query(&[("grant_type", "ig_refresh_token"), ("access_token", token)]);
        let reply = self.send("refresh_access_token", request, &[token]).await?;
        grants::parse_token_grant(&reply.body, Expiry::Required)
            .map_err(|e| e.with_status(reply.status))
    }

    /// `POST {ig_oauth}/oauth/access_token` (form): authorization code →
    /// short-lived token. A trailing `#_` pasted with the code is dropped.
    pub async fn exchange_instagram_code(
        &self,
        client_id: &str,
        client_secret: &str,
        redirect_uri: &str,
        code: &str,
    ) -> Result<CodeGrant, UpstreamError> {
        let code = clean_code(code);
        require("client id", client_id)?;
        require("client secret", client_secret)?;
        require("authorization code", code)?;
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", client_id)
            .append_pair("client_secret", client_secret)
            .append_pair("grant_type", "authorization_code")
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("code", code)
            .finish();
        let url = Self::endpoint(&self.inner.instagram_oauth, "oauth/access_token");
        let request = self
            .inner
            .http
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form);
        let reply = self
            .send("oauth/access_token", request, &[client_secret, code])
            .await?;
        grants::parse_code_grant(&reply.body).map_err(|e| e.with_status(reply.status))
    }

    /// `GET {ig_graph}/access_token?grant_type=ig_exchange_token`:
    /// short-lived → long-lived (60 days).
    pub async fn exchange_instagram_long_lived(
        &self,
        client_secret: &str,
        short_token: &str,
    ) -> Result<TokenGrant, UpstreamError> {
        require("client secret", client_secret)?;
        require("access token", short_token)?;
        let url = Self::endpoint(&self.inner.instagram_graph, "access_token");
        let request = self.inner.http.get(url).query(&[
            ("grant_type", "ig_exchange_token"),
            ("client_secret", client_secret),
            ("access_token", short_token),
        ]);
        let reply = self
            .send("access_token", request, &[client_secret, short_token])
            .await?;
        grants::parse_token_grant(&reply.body, Expiry::Required)
            .map_err(|e| e.with_status(reply.status))
    }

    /// `GET {ig_graph}/{ver}/me?fields=id,user_id,username,account_type`.
    pub async fn instagram_me(&self, token: &str) -> Result<InstagramProfile, UpstreamError> {
        require("access token", token)?;
        let url = self.instagram_graph_url("me");
        let request = self
            .inner
            .http
            .get(url)
            .query(&[("fields", PROFILE_FIELDS), ("access_token", token)]);
        let reply = self.send("me", request, &[token]).await?;
        grants::parse_profile(&reply.body).map_err(|e| e.with_status(reply.status))
    }
}

/// Instagram appends `#_` to the redirect; Facebook appends `#_=_`. Neither
/// is part of the code, but owners paste them.
pub(crate) fn clean_code(code: &str) -> &str {
    let code = code.trim();
    code.strip_suffix("#_=_")
        .or_else(|| code.strip_suffix("#_"))
        .unwrap_or(code)
}

#[cfg(test)]
mod tests {
    use super::clean_code;

    #[test]
    fn the_redirect_fragment_is_stripped_from_a_code() {
        assert_eq!(clean_code("AQBx-abc#_"), "AQBx-abc");
        assert_eq!(clean_code(" AQBx-abc#_=_\n"), "AQBx-abc");
        assert_eq!(clean_code("AQBx-abc"), "AQBx-abc");
        assert_eq!(clean_code("#_"), "");
    }
}

//! Facebook Login token exchanges on `graph.facebook.com/{ver}`
//! (instagram-api.md §3.2–3.3). `expires_in` may be absent there.

use super::grants::{self, Expiry};
use super::instagram::clean_code;
use super::{TokenGrant, Upstream, UpstreamError, require};

impl Upstream {
    /// `GET {fb}/{ver}/oauth/access_token?client_id&redirect_uri&client_secret&code`.
    pub async fn exchange_facebook_code(
        &self,
        app_id: &str,
        app_secret: &str,
        redirect_uri: &str,
        code: &str,
    ) -> Result<TokenGrant, UpstreamError> {
        let code = clean_code(code);
        require("app id", app_id)?;
        require("app secret", app_secret)?;
        require("authorization code", code)?;
        let request = self
            .inner
            .http
            .get(self.facebook_graph_url("oauth/access_token"))
            .query(&[
                ("client_id", app_id),
                ("redirect_uri", redirect_uri),
                ("client_secret", app_secret),
                ("code", code),
            ]);
        let reply = self
            .send("oauth/access_token", request, &[app_secret, code])
            .await?;
        grants::parse_token_grant(&reply.body, Expiry::Optional)
            .map_err(|e| e.with_status(reply.status))
    }

    /// `GET {fb}/{ver}/oauth/access_token?grant_type=fb_exchange_token`:
    /// short-lived (or still valid long-lived) user token → long-lived.
    pub async fn exchange_facebook_long_lived(
        &self,
        app_id: &str,
        app_secret: &str,
        token: &str,
    ) -> Result<TokenGrant, UpstreamError> {
        require("app id", app_id)?;
        require("app secret", app_secret)?;
        require("access token", token)?;
        let request = self
            .inner
            .http
            .get(self.facebook_graph_url("oauth/access_token"))
            .query(&[
                ("grant_type", "fb_exchange_token"),
                ("client_id", app_id),
                ("client_secret", app_secret),
                ("fb_exchange_token", token),
            ]);
        let reply = self
            .send("oauth/access_token", request, &[app_secret, token])
            .await?;
        grants::parse_token_grant(&reply.body, Expiry::Optional)
            .map_err(|e| e.with_status(reply.status))
    }
}

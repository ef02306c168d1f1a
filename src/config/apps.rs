//! INSTAGRAM_APP_ID/SECRET, FACEBOOK_APP_ID/SECRET and FACEBOOK_CONFIG_ID:
//! the Meta apps owners connect their accounts through.

use super::vars::present;
use super::{ConfigError, Secret, bad};

#[derive(Clone, Debug)]
pub struct AppCredentials {
    pub id: String,
    pub secret: Secret,
}

pub(super) fn pair(
    id: (&'static str, Option<String>),
    secret: (&'static str, Option<String>),
) -> Result<Option<AppCredentials>, ConfigError> {
    match (id.1, secret.1) {
        (None, None) => Ok(None),
        (Some(app_id), Some(app_secret)) => Ok(Some(AppCredentials {
            id: app_id,
            secret: Secret(app_secret),
        })),
        (Some(_), None) => Err(bad(secret.0, format!("must be set together with {}", id.0))),
        (None, Some(_)) => Err(bad(id.0, format!("must be set together with {}", secret.0))),
    }
}

/// FACEBOOK_CONFIG_ID: only with the Facebook app, and letters and digits.
pub(super) fn parse_facebook_config_id(
    raw: Option<String>,
    facebook_app: Option<&AppCredentials>,
) -> Result<Option<String>, ConfigError> {
    present(raw)
        .map(|id| {
            if facebook_app.is_none() {
                return Err(bad(
                    "FACEBOOK_CONFIG_ID",
                    "must be set together with FACEBOOK_APP_ID and FACEBOOK_APP_SECRET",
                ));
            }
            if id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                Ok(id)
            } else {
                Err(bad(
                    "FACEBOOK_CONFIG_ID",
                    format!("must be the configuration's id (letters and digits), got {id:?}"),
                ))
            }
        })
        .transpose()
}

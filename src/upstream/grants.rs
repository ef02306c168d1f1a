//! What the token and profile endpoints return, parsed strictly: a success
//! status with an unusable body is `ErrorKind::Garbage`, never a half-filled
//! value.

use std::fmt;

use serde_json::{Map, Value};

use super::error::UpstreamError;

/// A token from a refresh or an exchange.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenGrant {
    pub access_token: String,
    /// `"bearer"` in practice.
    pub token_type: Option<String>,
    /// Seconds until the token expires, counted from the answer.
    pub expires_in: Option<i64>,
}

impl fmt::Debug for TokenGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenGrant")
            .field("access_token", &Redacted(&self.access_token))
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// The short-lived token from an Instagram Login code exchange.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeGrant {
    pub access_token: String,
    /// The Instagram professional account id (the 1784… id), kept exact:
    /// it exceeds 2^53.
    pub user_id: String,
    pub permissions: Vec<String>,
}

impl fmt::Debug for CodeGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeGrant")
            .field("access_token", &Redacted(&self.access_token))
            .field("user_id", &self.user_id)
            .field("permissions", &self.permissions)
            .finish()
    }
}

/// `GET graph.instagram.com/{ver}/me`. A private account may answer with
/// only `id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstagramProfile {
    /// The app-scoped id.
    pub id: String,
    /// The Instagram professional account id (1784…).
    pub user_id: Option<String>,
    pub username: Option<String>,
    /// `BUSINESS`, `MEDIA_CREATOR` or `PERSONAL`.
    pub account_type: Option<String>,
}

struct Redacted<'a>(&'a str);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<redacted, {} chars>", self.0.chars().count())
    }
}

/// Whether a token answer must say how long the token lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// Instagram refresh and exchange: we schedule the next refresh from it.
    Required,
    /// Facebook exchanges sometimes omit it.
    Optional,
}

/// Tokens live 60 days; a lifetime past ten years is nonsense, not a token
/// to keep (and would overflow date arithmetic).
const MAX_EXPIRES_IN: i64 = 10 * 366 * 86_400;

pub(crate) fn parse_token_grant(body: &Value, expiry: Expiry) -> Result<TokenGrant, UpstreamError> {
    let object = as_object(body, "token answer")?;
    let expires_in = match object.get("expires_in") {
        None | Some(Value::Null) if expiry == Expiry::Optional => None,
        None | Some(Value::Null) => {
            return Err(UpstreamError::garbage("token answer has no expires_in"));
        }
        Some(Value::Number(n)) => match n.as_i64() {
            Some(seconds) if (1..=MAX_EXPIRES_IN).contains(&seconds) => Some(seconds),
            _ => {
                return Err(UpstreamError::garbage(
                    "token answer has an expires_in that is not a whole number of seconds from 1 to 10 years",
                ));
            }
        },
        Some(_) => {
            return Err(UpstreamError::garbage(
                "token answer has an expires_in that is not a number",
            ));
        }
    };
    Ok(TokenGrant {
        access_token: access_token(object, "token answer")?,
        token_type: optional_string(object, "token_type", "token answer")?,
        expires_in,
    })
}

/// Accepts the flat shape `{access_token, user_id: 1784…, permissions: [..]}`
/// and the documented `{"data":[{…, user_id: "…", permissions: "a,b"}]}`.
pub(crate) fn parse_code_grant(body: &Value) -> Result<CodeGrant, UpstreamError> {
    let object = unwrap_data(
        as_object(body, "code exchange answer")?,
        "code exchange answer",
    )?;
    let user_id = match object.get("user_id") {
        Some(value) => id_string(value).ok_or_else(|| {
            UpstreamError::garbage("code exchange answer has an unusable user_id")
        })?,
        None => {
            return Err(UpstreamError::garbage(
                "code exchange answer has no user_id",
            ));
        }
    };
    let permissions = match object.get("permissions") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(list)) => list
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|p| p.as_str().map(|p| p.trim().to_owned()))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                UpstreamError::garbage("code exchange answer has non-text permissions")
            })?,
        Some(_) => {
            return Err(UpstreamError::garbage(
                "code exchange answer has unusable permissions",
            ));
        }
    };
    Ok(CodeGrant {
        access_token: access_token(object, "code exchange answer")?,
        user_id,
        permissions,
    })
}

/// Accepts a flat profile or one wrapped in `{"data":[{…}]}`.
pub(crate) fn parse_profile(body: &Value) -> Result<InstagramProfile, UpstreamError> {
    const WHAT: &str = "profile answer";
    let object = unwrap_data(as_object(body, WHAT)?, WHAT)?;
    let id = object
        .get("id")
        .and_then(id_string)
        .ok_or_else(|| UpstreamError::garbage("profile answer has no usable id"))?;
    let user_id = match object.get("user_id") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            id_string(value)
                .ok_or_else(|| UpstreamError::garbage("profile answer has an unusable user_id"))?,
        ),
    };
    Ok(InstagramProfile {
        id,
        user_id,
        username: optional_string(object, "username", WHAT)?,
        account_type: optional_string(object, "account_type", WHAT)?,
    })
}

fn as_object<'a>(body: &'a Value, what: &str) -> Result<&'a Map<String, Value>, UpstreamError> {
    body.as_object()
        .ok_or_else(|| UpstreamError::garbage(&format!("{what} is not a JSON object")))
}

fn unwrap_data<'a>(
    object: &'a Map<String, Value>,
    what: &str,
) -> Result<&'a Map<String, Value>, UpstreamError> {
    match object.get("data") {
        Some(Value::Array(items)) => items
            .first()
            .and_then(Value::as_object)
            .ok_or_else(|| UpstreamError::garbage(&format!("{what} has an empty data list"))),
        Some(Value::Object(inner)) => Ok(inner),
        _ => Ok(object),
    }
}

fn access_token(object: &Map<String, Value>, what: &str) -> Result<String, UpstreamError> {
    match object
        .get("access_token")
        .and_then(Value::as_str)
        .map(str::trim)
    {
        Some(token) if !token.is_empty() => Ok(token.to_owned()),
        _ => Err(UpstreamError::garbage(&format!(
            "{what} has no access_token"
        ))),
    }
}

fn optional_string(
    object: &Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<Option<String>, UpstreamError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(UpstreamError::garbage(&format!(
            "{what} has a {key} that is not text"
        ))),
    }
}

/// An id sent as a JSON string or as a non-negative integer. serde_json keeps
/// integers up to u64::MAX exact; a float (an id past u64, or `1.7e16`)
/// would have lost digits, so it is refused.
fn id_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => n.as_u64().map(|id| id.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::ErrorKind;
    use serde_json::json;

    fn from_text(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn a_refresh_answer_is_parsed() {
        let grant = parse_token_grant(
            &json!({"access_token":"IGAAnew","token_type":"bearer","expires_in":5183828}),
            Expiry::Required,
        )
        .unwrap();
        assert_eq!(grant.access_token, "IGAAnew");
        assert_eq!(grant.token_type.as_deref(), Some("bearer"));
        assert_eq!(grant.expires_in, Some(5183828));
    }

    #[test]
    fn a_missing_or_empty_access_token_is_garbage() {
        for body in [
            json!({"token_type":"bearer","expires_in":5184000}),
            json!({"access_token":"","token_type":"bearer","expires_in":5184000}),
            json!({"access_token":"  ","expires_in":5184000}),
            json!({"access_token":42,"expires_in":5184000}),
        ] {
            let error = parse_token_grant(&body, Expiry::Required).unwrap_err();
            assert_eq!(error.kind, ErrorKind::Garbage, "{body}");
        }
    }

    #[test]
    fn a_zero_negative_absurd_textual_or_fractional_expires_in_is_garbage() {
        for expires_in in [
            json!(0),
            json!(-5),
            json!(i64::MAX),
            json!(10 * 366 * 86_400 + 1),
            json!("5184000"),
            json!(5184000.5),
            json!(true),
        ] {
            let body = json!({"access_token":"IGAAx","expires_in":expires_in});
            for expiry in [Expiry::Required, Expiry::Optional] {
                let error = parse_token_grant(&body, expiry).unwrap_err();
                assert_eq!(error.kind, ErrorKind::Garbage, "{body}");
            }
        }
    }

    #[test]
    fn expires_in_is_required_for_instagram_and_optional_for_facebook() {
        let body = json!({"access_token":"EAAx","token_type":"bearer"});
        assert_eq!(
            parse_token_grant(&body, Expiry::Required).unwrap_err().kind,
            ErrorKind::Garbage
        );
        assert_eq!(
            parse_token_grant(&body, Expiry::Optional)
                .unwrap()
                .expires_in,
            None
        );
    }

    #[test]
    fn a_non_object_answer_is_garbage() {
        assert_eq!(
            parse_token_grant(&json!(["x"]), Expiry::Optional)
                .unwrap_err()
                .kind,
            ErrorKind::Garbage
        );
    }

    #[test]
    fn a_flat_code_exchange_keeps_a_large_numeric_user_id_exact() {
        let body = from_text(
            r#"{"access_token":"IGAA2e0uoy3ZAZABZA","user_id":27640875392278831,"permissions":["instagram_business_basic"]}"#,
        );
        let grant = parse_code_grant(&body).unwrap();
        assert_eq!(grant.user_id, "27640875392278831");
        assert_eq!(grant.permissions, ["instagram_business_basic"]);
        let basic = from_text(r#"{"access_token":"IGQVJ","user_id":17841403401953170}"#);
        let grant = parse_code_grant(&basic).unwrap();
        assert_eq!(grant.user_id, "17841403401953170");
        assert!(grant.permissions.is_empty());
    }

    #[test]
    fn a_wrapped_code_exchange_with_comma_permissions_is_parsed() {
        let body = from_text(
            r#"{"data":[{"access_token":"EAACEdEose0","user_id":"17841403401953170",
                "permissions":"instagram_business_basic, instagram_business_manage_messages,instagram_business_content_publish"}]}"#,
        );
        let grant = parse_code_grant(&body).unwrap();
        assert_eq!(grant.access_token, "EAACEdEose0");
        assert_eq!(grant.user_id, "17841403401953170");
        assert_eq!(
            grant.permissions,
            [
                "instagram_business_basic",
                "instagram_business_manage_messages",
                "instagram_business_content_publish"
            ]
        );
    }

    #[test]
    fn an_unusable_code_exchange_is_garbage() {
        for text in [
            r#"{"data":[]}"#,
            r#"{"access_token":"IGAA","user_id":1.7841403401953171e16}"#,
            r#"{"access_token":"IGAA","user_id":-5}"#,
            r#"{"access_token":"IGAA","user_id":""}"#,
            r#"{"access_token":"IGAA"}"#,
            r#"{"access_token":"","user_id":1}"#,
            r#"{"access_token":"IGAA","user_id":1,"permissions":[1,2]}"#,
            r#"{"access_token":"IGAA","user_id":1,"permissions":{"a":1}}"#,
        ] {
            let error = parse_code_grant(&from_text(text)).unwrap_err();
            assert_eq!(error.kind, ErrorKind::Garbage, "{text}");
        }
    }

    #[test]
    fn a_profile_is_read_flat_wrapped_or_private() {
        let flat = parse_profile(&json!({"account_type":"BUSINESS","id":"6489782497758472","user_id":"17841405793187218","username":"qq122755990"})).unwrap();
        assert_eq!(
            flat,
            InstagramProfile {
                id: "6489782497758472".into(),
                user_id: Some("17841405793187218".into()),
                username: Some("qq122755990".into()),
                account_type: Some("BUSINESS".into()),
            }
        );
        let wrapped = parse_profile(&from_text(
            r#"{"data":[{"id":"1","user_id":17841405793187218,"username":"u"}]}"#,
        ))
        .unwrap();
        assert_eq!(wrapped.user_id.as_deref(), Some("17841405793187218"));
        let private = parse_profile(&json!({"id":"6489782497758472"})).unwrap();
        assert_eq!(private.username, None);
        assert_eq!(
            parse_profile(&json!({"username":"u"})).unwrap_err().kind,
            ErrorKind::Garbage
        );
        assert_eq!(
            parse_profile(&json!({"id":"1","username":7}))
                .unwrap_err()
                .kind,
            ErrorKind::Garbage
        );
    }

    #[test]
    fn debug_output_never_shows_tokens() {
        let grant = TokenGrant {
            access_token: "IGAAsecretsecret".into(),
            token_type: Some("bearer".into()),
            expires_in: Some(5),
        };
        let code = CodeGrant {
            access_token: "IGAAsecretsecret".into(),
            user_id: "1".into(),
            permissions: vec![],
        };
        for shown in [format!("{grant:?}"), format!("{code:?}")] {
            assert!(!shown.contains("secret"), "{shown}");
            assert!(shown.contains("<redacted, 16 chars>"), "{shown}");
        }
    }
}

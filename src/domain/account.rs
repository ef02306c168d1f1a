//! Account names: what `/accounts/{name}/token.json`, `?account=`, the admin
//! forms and `token-agent accounts add NAME` take.

use std::fmt;

/// The account that un-prefixed token URLs and STARTING_TOKEN use.
pub const DEFAULT_ACCOUNT: &str = "default";

/// 1 to 64 ASCII letters, digits, `-` or `_`: safe in a URL path, a cache
/// key and a log line as it is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AccountName(String);

/// Why a name was refused; the message is the rule, never the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("account names are 1 to 64 letters, digits, - or _")]
pub struct InvalidAccountName;

impl AccountName {
    pub fn parse(name: &str) -> Result<AccountName, InvalidAccountName> {
        let valid = (1..=64).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if valid {
            Ok(AccountName(name.to_string()))
        } else {
            Err(InvalidAccountName)
        }
    }

    pub fn default_account() -> AccountName {
        AccountName(DEFAULT_ACCOUNT.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl AsRef<str> for AccountName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names_are_url_safe() {
        assert!(AccountName::parse("default").is_ok());
        assert!(AccountName::parse("shop_2-eu").is_ok());
        assert!(AccountName::parse("").is_err());
        assert!(AccountName::parse("a/b").is_err());
        assert!(AccountName::parse("été").is_err());
        assert!(AccountName::parse(&"x".repeat(65)).is_err());
        assert_eq!(AccountName::default_account().as_str(), DEFAULT_ACCOUNT);
    }
}

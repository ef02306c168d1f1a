//! Keeping tokens and secrets out of error messages: known values, values
//! after a secret key, and anything shaped like a token; one line, capped.

/// Upstream messages can be long; we keep one readable line.
pub(super) const MAX_MESSAGE_CHARS: usize = 300;

/// Query or JSON keys whose values are secrets. Their values are scrubbed
/// from any text that reaches an error message.
const SECRET_KEYS: &[&str] = &[
    "access_token",
    "client_secret",
    "fb_exchange_token",
    "input_token",
    "appsecret_proof",
];

/// Scrubs secrets, flattens to one line and caps the length.
pub(crate) fn clean_message(raw: &str, secrets: &[&str]) -> String {
    let mut text = raw.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 6) {
        text = text.replace(secret, "[redacted]");
        let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        if encoded != *secret {
            text = text.replace(&encoded, "[redacted]");
        }
    }
    let text = scrub_token_like(&scrub_secret_values(&text));
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

/// Replaces anything shaped like an access token, even one this call did
/// not send: words starting with Meta's token prefixes, and any unbroken
/// run of 40 or more token characters.
fn scrub_token_like(text: &str) -> String {
    const PREFIXES: &[&str] = &["IGAA", "IGQV", "EAA"];
    let is_token_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(is_token_char) {
        out.push_str(&rest[..start]);
        let word_len = rest[start..]
            .find(|c: char| !is_token_char(c))
            .unwrap_or(rest.len() - start);
        let word = &rest[start..start + word_len];
        let looks_like_token =
            word.len() >= 40 || (word.len() >= 20 && PREFIXES.iter().any(|p| word.starts_with(p)));
        out.push_str(if looks_like_token { "[redacted]" } else { word });
        rest = &rest[start + word_len..];
    }
    out.push_str(rest);
    out
}

/// Replaces the value after `access_token=`, `client_secret%3D`,
/// `"access_token":"` and friends with `[redacted]`.
fn scrub_secret_values(text: &str) -> String {
    const SEPARATORS: &[&str] = &["=", "%3d", "\":\"", "\": \"", "\\\":\\\"", ": ", ":"];
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some((key_at, key)) = next_key(&lower, search) {
        let after_key = key_at + key.len();
        search = after_key;
        let Some(separator) = SEPARATORS
            .iter()
            .find(|sep| lower[after_key..].starts_with(**sep))
        else {
            continue;
        };
        let value_at = after_key + separator.len();
        let value_len = text[value_at..]
            .find(|c: char| c.is_whitespace() || "&\"'<>,;()[]{}\\".contains(c))
            .unwrap_or(text.len() - value_at);
        if value_len == 0 {
            continue;
        }
        out.push_str(&text[copied..value_at]);
        out.push_str("[redacted]");
        copied = value_at + value_len;
        search = copied;
    }
    out.push_str(&text[copied..]);
    out
}

fn next_key(lower: &str, from: usize) -> Option<(usize, &'static str)> {
    SECRET_KEYS
        .iter()
        .filter_map(|key| lower[from..].find(key).map(|at| (from + at, *key)))
        .min_by_key(|(at, _)| *at)
}

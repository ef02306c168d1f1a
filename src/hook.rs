//! WEBHOOK_SECRET's external refresh hook: `POST /hooks/refresh/{signature}`,
//! for Heroku Scheduler and other cron-like services. The URL is printed by
//! `token-agent hook-url` and shown on the admin page.

use crate::signing::hmac_sha256_hex;

/// The message WEBHOOK_SECRET signs for the refresh hook URL.
pub const HOOK_MESSAGE: &[u8] = b"token-agent refresh hook";

/// hex(HMAC-SHA256(WEBHOOK_SECRET, "token-agent refresh hook")).
pub fn hook_signature(secret: &str) -> String {
    hmac_sha256_hex(secret.as_bytes(), HOOK_MESSAGE)
}

/// The hook's path (no leading slash) for WEBHOOK_SECRET `secret`; the
/// full URL is the agent's public URL joined with it.
pub fn hook_path(secret: &str) -> String {
    format!("hooks/refresh/{}", hook_signature(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hook_signature_is_an_hmac_of_a_fixed_message() {
        // echo -n "token-agent refresh hook" | openssl dgst -sha256 -hmac secret
        assert_eq!(
            hook_signature("secret"),
            "7d7a82864f9f70481b57acb5165aca6d9dec3a8e4d33669154d43b7204fca6b2"
        );
    }
}

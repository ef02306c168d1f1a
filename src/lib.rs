//! token-agent keeps Instagram access tokens alive and serves them, or the
//! feed they unlock, to the owner's own websites.

pub mod allowlist;
pub mod clock;
pub mod config;
pub mod fake;
pub mod jsident;
pub mod store;
pub mod upstream;

//! token-agent keeps Instagram access tokens alive and serves them, or the
//! feed they unlock, to the owner's own websites.

pub mod allowlist;
pub mod app;
pub mod board;
pub mod cache;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connect;
pub mod crypto;
pub mod demo;
pub mod fake;
pub mod http;
pub mod jsident;
pub mod media;
pub mod metrics;
pub mod notify;
pub mod pages;
pub mod proxy;
pub mod refresher;
pub mod schedule;
pub mod signed_request;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod upstream;
pub mod warnings;

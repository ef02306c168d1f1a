//! token-agent keeps Instagram access tokens alive and serves them, or the
//! feed they unlock, to the owner's own websites.
//!
//! Where things live (the README's "Code tour" says the same):
//! `config` (the environment), `domain` (types that parse), `store` (the
//! database), `upstream` (every call to Meta), `demo` (the agent on the
//! fake Meta of crates/fake-graph), `board` (tokens in memory), `cache`, `feed` (the
//! feed proxy), `mirror` (copies of the newest posts' images), `refresher` and `warnings` (keeping tokens alive), `connect`
//! (Meta's login windows), `notify` (e-mail and webhook), `http` (the URLs),
//! `pages` (the HTML), `public_url` (the agent's own URL), `app` (the handles), `startup` (building and running
//! it all) and `cli` (the command line).

pub mod accounts;
pub mod app;
pub mod board;
pub mod build_hook;
pub mod cache;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connect;
pub mod crypto;
pub mod demo;
pub mod domain;
pub mod feed;
pub mod hook;
pub mod http;
pub mod memory;
pub mod metrics;
pub mod mirror;
pub mod notify;
pub mod pages;
pub mod profile;
pub mod public_url;
pub mod refresher;
pub mod schedule;
pub mod signed_request;
pub mod signing;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod upstream;
pub mod warnings;

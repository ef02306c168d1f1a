//! The integration tests, one binary so the crate is linked once: a module
//! per surface, each test on SQLite and PostgreSQL where a database is
//! involved, against the real server and the project's fake Graph API.
//! `tests/properties.rs` and `tests/browser.rs` are separate binaries.

#[macro_use]
mod common;

mod alt_text;
mod budget;
mod build_hook;
mod cache;
mod changes;
mod connect;
mod database;
mod deploy_files;
mod door;
mod embed;
mod encryption;
mod faults;
mod feed;
mod filters;
mod kept_pages;
mod limits;
mod merged;
mod meta;
mod mirror;
mod pages;
mod platforms;
mod process;
mod reels;
mod refresh;
mod rss;
mod strangers;
mod system_users;
mod token_urls;
mod versions;

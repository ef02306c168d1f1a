//! BUILD_HOOK_URL: a site that bakes the feed or the token into its pages
//! at build time is rebuilt when something changes. Meta sends no webhook
//! for new posts, so the agent notices them itself, each time it reads an
//! account's first page (a visitor's cache refresh, or its own check every
//! BUILD_HOOK_CHECK_MINUTES), by comparing the page with the posts it saw
//! last; and it notices a changed token (refresh, paste, reconnect) on each
//! refresher pass.
//!
//! Each change is one POST, however many posts it holds: a build costs the
//! owner. The posts there when the hook is first set are not new. A change
//! goes to the outbox (`store/build_hook.rs`) under an id made from the
//! change, so every process that notices it writes the same row; one claims
//! it, POSTs it (signed with WEBHOOK_SECRET when set) and retries it with
//! backoff until the hook answers 2xx, across restarts. The hook URL is a
//! credential: only its host is ever logged or shown.

use std::collections::HashSet;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::config::{BuildHookConfig, Secret};
use crate::store::{Account, Store, StoreError};
use crate::upstream::MediaPage;

const TIMEOUT: StdDuration = StdDuration::from_secs(10);
/// How long a claim holds a change: past the POST's timeout.
const LEASE: Duration = Duration::seconds(60);
/// The longest wait between two tries.
const MAX_BACKOFF: Duration = Duration::hours(1);
/// When the last check for new posts ran, in any process.
const CHECKED_AT: &str = "build_hook_checked_at";

/// The hook, its HTTP client and who this process is in claims.
pub struct BuildHook {
    config: BuildHookConfig,
    signing: Option<Secret>,
    http: reqwest::Client,
    owner: String,
}

/// A post as the hook compares and reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Seen {
    id: String,
    /// Unix ms, 0 when Instagram gave no time.
    at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    permalink: Option<String>,
}

/// The posts last seen on an account's first page, for one placement of
/// its token.
#[derive(Debug, Serialize, Deserialize)]
struct Known {
    epoch: i64,
    posts: Vec<Seen>,
}

/// What changed between two readings of a first page.
#[derive(Debug, Default, PartialEq, Eq)]
struct Diff {
    new: Vec<Seen>,
    removed: Vec<Seen>,
}

impl BuildHook {
    pub fn new(
        config: BuildHookConfig,
        signing: Option<Secret>,
        user_agent: &str,
        owner: &str,
    ) -> anyhow::Result<BuildHook> {
        let http = crate::tls::http_client()
            .user_agent(user_agent)
            .timeout(TIMEOUT)
            // A redirected POST is not a delivery.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot build the build hook's HTTP client: {}",
                    e.without_url()
                )
            })?;
        Ok(BuildHook {
            config,
            signing,
            http,
            owner: owner.to_string(),
        })
    }

    /// The hook's host, the only part of its URL that is shown.
    pub fn host(&self) -> &str {
        &self.config.host
    }

    /// Compares a first page of `account`'s feed just read from Instagram
    /// with the posts seen last, and writes the change, if any, to the
    /// outbox. `Ok(true)` when a change was written.
    pub async fn first_page(
        &self,
        store: &Store,
        account: &str,
        epoch: i64,
        page: &MediaPage,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let on = self.config.on;
        if !(on.new_post || on.removed_post) {
            return Ok(false);
        }
        let current: Vec<Seen> = page
            .data
            .iter()
            .map(|m| Seen {
                id: m.id.clone(),
                at: m.posted_at_ms(),
                permalink: m.permalink.clone(),
            })
            .collect();
        let whole = page.paging.as_ref().and_then(|p| p.next.as_ref()).is_none();
        let key = format!("build_hook_posts:{account}");
        let known: Option<Known> = store
            .setting(&key)
            .await?
            .and_then(|json| serde_json::from_str(&json).ok())
            .filter(|k: &Known| k.epoch == epoch);
        let state = Known {
            epoch,
            posts: current.clone(),
        };
        let state = serde_json::to_string(&state).expect("the posts serialize");
        let Some(known) = known else {
            // The first reading (or another user's account now): nothing
            // there is new.
            store.set_setting(&key, &state).await?;
            return Ok(false);
        };
        let mut diff = diff(&known.posts, &current, whole);
        if !on.new_post {
            diff.new.clear();
        }
        if !on.removed_post {
            diff.removed.clear();
        }
        let written = if diff.new.is_empty() && diff.removed.is_empty() {
            false
        } else {
            let mut events = Vec::new();
            if !diff.new.is_empty() {
                events.push("new_post");
            }
            if !diff.removed.is_empty() {
                events.push("removed_post");
            }
            let change: Vec<String> = diff
                .new
                .iter()
                .map(|p| format!("+{}", p.id))
                .chain(diff.removed.iter().map(|p| format!("-{}", p.id)))
                .collect();
            let id = event_id(&["posts", account, &epoch.to_string(), &change.join(",")]);
            let body = json!({
                "id": id,
                "events": events,
                "account": account,
                "posts": diff.new.iter().map(|p| json!({
                    "id": p.id, "permalink": p.permalink, "timestamp": time(p.at),
                })).collect::<Vec<_>>(),
                "removed": diff.removed.iter().map(|p| json!({
                    "id": p.id, "permalink": p.permalink,
                })).collect::<Vec<_>>(),
                "noticed_at": now,
            });
            store
                .enqueue_hook_event(&id, account, &body.to_string(), now)
                .await?
        };
        store.set_setting(&key, &state).await?;
        Ok(written)
    }

    /// Whether the check for new posts is due; if so, this process takes
    /// it, and the others wait their turn.
    pub async fn check_due(&self, store: &Store, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let every = Duration::from_std(self.config.check_every).unwrap_or(Duration::minutes(15));
        store
            .take_turn(CHECKED_AT, now.timestamp_millis(), every.num_milliseconds())
            .await
    }

    /// Notices a change of `account`'s served token (refreshed, pasted,
    /// reconnected) since the last pass, when BUILD_HOOK_ON has `token`.
    pub async fn token(
        &self,
        store: &Store,
        account: &Account,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if !self.config.on.token {
            return Ok(());
        }
        let digest = Sha256::new()
            .chain_update(account.token.as_bytes())
            .chain_update(b"|")
            .chain_update(
                account
                    .expires_at
                    .map(|t| t.timestamp())
                    .unwrap_or(0)
                    .to_be_bytes(),
            )
            .finalize();
        let print = hex::encode(&digest[..12]);
        let key = format!("build_hook_token:{}", account.name);
        let before = store.setting(&key).await?;
        if before.as_deref() == Some(print.as_str()) {
            return Ok(());
        }
        if before.is_some() {
            let id = event_id(&["token", &account.name, &print]);
            let body = json!({
                "id": id,
                "events": ["token"],
                "account": account.name,
                "expires_at": account.expires_at,
                "noticed_at": now,
            });
            store
                .enqueue_hook_event(&id, &account.name, &body.to_string(), now)
                .await?;
        }
        store.set_setting(&key, &print).await
    }

    /// POSTs every change due now that this process can claim.
    pub async fn deliver_due(
        &self,
        store: &Store,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        // Each claim its own name, so two claims of one process never share rows.
        let claim = format!("{}:{:08x}", self.owner, rand::random::<u32>());
        let claimed = store.claim_hook_events(&claim, now, now + LEASE).await?;
        let mut delivered = 0;
        for event in claimed {
            match self.post(event.body.as_bytes()).await {
                Ok(()) => {
                    store.hook_event_delivered(&event.id, now).await?;
                    tracing::info!(event = %event.id, account = %event.account, host = %self.config.host, "build hook delivered");
                    delivered += 1;
                }
                Err(error) => {
                    let wait = backoff(event.attempts);
                    tracing::warn!(event = %event.id, host = %self.config.host, %error, retry_in_s = wait.num_seconds(), "build hook failed; will try again");
                    store
                        .hook_event_failed(&event.id, now + wait, &error)
                        .await?;
                }
            }
        }
        Ok(delivered)
    }

    /// One POST of `body`: `Err` with what went wrong, never the URL.
    async fn post(&self, body: &[u8]) -> Result<(), String> {
        let mut request = self
            .http
            .post(self.config.url.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(secret) = &self.signing {
            let signature = crate::signing::hmac_sha256_hex(secret.expose().as_bytes(), body);
            request = request.header(
                crate::notify::SIGNATURE_HEADER,
                format!("sha256={signature}"),
            );
        }
        let answer = request
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| crate::telemetry::error_chain(&e.without_url()))?;
        let status = answer.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("{} answered HTTP {status}", self.config.host))
        }
    }
}

/// What changed from `known` to `current` (both newest first). A post is
/// new when it was not seen and is no older than the oldest seen (an older
/// one only came into view); one is removed when it was seen, is gone, and
/// is no older than the oldest on the page (or the page is the whole feed).
fn diff(known: &[Seen], current: &[Seen], whole: bool) -> Diff {
    let seen: HashSet<&str> = known.iter().map(|p| p.id.as_str()).collect();
    let now: HashSet<&str> = current.iter().map(|p| p.id.as_str()).collect();
    let oldest_known = known.iter().map(|p| p.at).min().unwrap_or(i64::MIN);
    let oldest_now = current.iter().map(|p| p.at).min().unwrap_or(i64::MIN);
    Diff {
        new: current
            .iter()
            .filter(|p| !seen.contains(p.id.as_str()) && p.at >= oldest_known)
            .cloned()
            .collect(),
        removed: known
            .iter()
            .filter(|p| !now.contains(p.id.as_str()) && (whole || p.at >= oldest_now))
            .cloned()
            .collect(),
    }
}

/// `evt_` and hex digits of a hash of the change: the same change makes
/// the same id in every process.
fn event_id(parts: &[&str]) -> String {
    let digest = Sha256::digest(parts.join("\n").as_bytes());
    format!("evt_{}", hex::encode(&digest[..12]))
}

/// One minute after the first failure, doubling, at most an hour.
fn backoff(attempts: i32) -> Duration {
    let minutes = 1i64 << attempts.clamp(0, 6);
    Duration::minutes(minutes).min(MAX_BACKOFF)
}

fn time(ms: i64) -> Option<DateTime<Utc>> {
    (ms > 0)
        .then(|| DateTime::from_timestamp_millis(ms))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(id: &str, at: i64) -> Seen {
        Seen {
            id: id.into(),
            at,
            permalink: None,
        }
    }

    fn ids(posts: &[Seen]) -> Vec<&str> {
        posts.iter().map(|p| p.id.as_str()).collect()
    }

    #[test]
    fn new_posts_are_the_unseen_newer_ones_and_removed_those_gone_from_view() {
        let known = [post("c", 30), post("b", 20), post("a", 10)];
        // Two new posts push "a" off a page of three: it is not removed.
        let current = [post("e", 50), post("d", 40), post("c", 30)];
        let d = diff(&known, &current, false);
        assert_eq!(ids(&d.new), ["e", "d"]);
        assert!(d.removed.is_empty());
        // "b" deleted: an older post comes into view, and is not new.
        let current = [post("c", 30), post("a", 10), post("z", 5)];
        let d = diff(&known, &current, false);
        assert!(d.new.is_empty(), "{d:?}");
        assert_eq!(ids(&d.removed), ["b"]);
        // The oldest deleted, on a feed that fits one page.
        let d = diff(&known, &[post("c", 30), post("b", 20)], true);
        assert_eq!(ids(&d.removed), ["a"]);
        assert_eq!(diff(&known, &known, false), Diff::default());
    }

    #[test]
    fn the_same_change_has_the_same_id_and_another_change_another() {
        let a = event_id(&["posts", "default", "1", "+e,+d"]);
        assert_eq!(a, event_id(&["posts", "default", "1", "+e,+d"]));
        assert_ne!(a, event_id(&["posts", "default", "1", "+e"]));
        assert!(a.starts_with("evt_") && a.len() == 28);
    }

    #[test]
    fn retries_back_off_to_an_hour() {
        assert_eq!(backoff(0), Duration::minutes(1));
        assert_eq!(backoff(3), Duration::minutes(8));
        assert_eq!(backoff(40), Duration::hours(1));
    }
}

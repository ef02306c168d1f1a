//! Failed admin sign-ins slow their client down; nothing locks anyone out.
//!
//! Each client (an address as TRUST_PROXY reads it, IPv6 by /64) takes its
//! attempts one at a time, and each failure is answered only after a delay
//! that doubles with the client's recent failures (ADMIN_FAILURE_DELAY_MS at
//! first, at most 128 times that). So one address gets one guess per delay
//! however many connections it opens, and a header it writes itself changes
//! nothing. There is no lockout to aim: a stranger's failures only slow the
//! stranger's own address, and the owner's right password is never refused.
//! The table of clients is bounded; the least recently seen leave first.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lru::LruCache;
use tokio::sync::{Mutex as Turn, OwnedMutexGuard};
use tokio::time::Instant;

use crate::domain::ClientKey;

/// Failures older than this are forgotten.
const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// The longest delay, as a multiple of the first.
const MAX_DOUBLINGS: u32 = 7;
/// Attempts one client may have waiting for its turn; more are refused
/// at once (429) before any password is looked at.
const MAX_WAITING: usize = 8;
/// Clients remembered at most.
const CAPACITY: usize = 10_000;

struct Client {
    failures: u32,
    last_failure: Option<Instant>,
    turn: Arc<Turn<()>>,
}

pub struct SignIns {
    first_delay: Duration,
    clients: Mutex<LruCache<ClientKey, Client>>,
}

/// A client's turn to have one attempt checked.
pub struct Attempt<'a> {
    sign_ins: &'a SignIns,
    client: ClientKey,
    _turn: OwnedMutexGuard<()>,
}

impl SignIns {
    pub fn new(first_delay: Duration) -> SignIns {
        SignIns::with_capacity(first_delay, CAPACITY)
    }

    fn with_capacity(first_delay: Duration, capacity: usize) -> SignIns {
        SignIns {
            first_delay,
            clients: Mutex::new(LruCache::new(
                NonZeroUsize::new(capacity).expect("a positive capacity"),
            )),
        }
    }

    /// Waits for `client`'s turn; `None` when too many of its attempts
    /// are already waiting.
    pub async fn attempt(&self, client: ClientKey) -> Option<Attempt<'_>> {
        let turn = {
            let mut clients = self.clients.lock().expect("sign-in table");
            let entry = clients.get_or_insert_mut(client, || Client {
                failures: 0,
                last_failure: None,
                turn: Arc::new(Turn::new(())),
            });
            // The table's reference and one per attempt in progress.
            if Arc::strong_count(&entry.turn) > MAX_WAITING + 1 {
                return None;
            }
            entry.turn.clone()
        };
        Some(Attempt {
            sign_ins: self,
            client,
            _turn: turn.lock_owned().await,
        })
    }

    fn delay_after(&self, failures: u32) -> Duration {
        self.first_delay * 2u32.pow(failures.saturating_sub(1).min(MAX_DOUBLINGS))
    }

    #[cfg(test)]
    fn remembers(&self, client: ClientKey) -> bool {
        self.clients.lock().unwrap().contains(&client)
    }
}

impl Attempt<'_> {
    /// The right password: the client's failures are forgotten.
    pub fn succeeded(self) {
        if let Some(entry) = self
            .sign_ins
            .clients
            .lock()
            .expect("sign-in table")
            .get_mut(&self.client)
        {
            entry.failures = 0;
            entry.last_failure = None;
        }
    }

    /// A wrong password: answered after the client's delay, which the
    /// client's next attempt waits behind.
    pub async fn failed(self) {
        let delay = {
            let mut clients = self.sign_ins.clients.lock().expect("sign-in table");
            let now = Instant::now();
            let failures = match clients.get_mut(&self.client) {
                Some(entry) => {
                    if entry
                        .last_failure
                        .is_some_and(|t| now.duration_since(t) > FAILURE_WINDOW)
                    {
                        entry.failures = 0;
                    }
                    entry.failures += 1;
                    entry.last_failure = Some(now);
                    entry.failures
                }
                // Pushed out of the table meanwhile: start again.
                None => 1,
            };
            self.sign_ins.delay_after(failures)
        };
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(ip: &str) -> ClientKey {
        ClientKey::of(ip.parse().unwrap())
    }

    const FIRST: Duration = Duration::from_millis(250);

    #[tokio::test(start_paused = true)]
    async fn each_failure_doubles_the_delay_up_to_a_bound() {
        let sign_ins = SignIns::new(FIRST);
        let a = client("198.51.100.7");
        let mut delays = Vec::new();
        for _ in 0..10 {
            let start = Instant::now();
            sign_ins.attempt(a).await.unwrap().failed().await;
            delays.push(start.elapsed().as_millis());
        }
        assert_eq!(
            delays,
            [250, 500, 1000, 2000, 4000, 8000, 16000, 32000, 32000, 32000]
        );
        // The right password is checked at once, and forgets the failures.
        let start = Instant::now();
        sign_ins.attempt(a).await.unwrap().succeeded();
        assert_eq!(start.elapsed(), Duration::ZERO);
        let start = Instant::now();
        sign_ins.attempt(a).await.unwrap().failed().await;
        assert_eq!(start.elapsed(), FIRST);
    }

    #[tokio::test(start_paused = true)]
    async fn one_client_guesses_one_at_a_time_and_another_is_not_held() {
        let sign_ins = Arc::new(SignIns::new(FIRST));
        let a = client("2001:db8:1:2::1");
        let start = Instant::now();
        let mut guesses = Vec::new();
        for i in 0..4 {
            let sign_ins = sign_ins.clone();
            // Another address in the same /64 is the same client.
            let me = client(&format!("2001:db8:1:2::{}", i + 10));
            assert_eq!(me, a);
            guesses.push(tokio::spawn(async move {
                sign_ins.attempt(me).await.unwrap().failed().await;
                start.elapsed()
            }));
        }
        tokio::task::yield_now().await;
        // Meanwhile the owner, elsewhere, signs in at once.
        let owner = Instant::now();
        sign_ins
            .attempt(client("203.0.113.5"))
            .await
            .unwrap()
            .succeeded();
        assert_eq!(owner.elapsed(), Duration::ZERO);
        let mut done = Vec::new();
        for guess in guesses {
            done.push(guess.await.unwrap().as_millis());
        }
        done.sort();
        // 250, then 500 after it, then 1000, then 2000: in turn, not at once.
        assert_eq!(done, [250, 750, 1750, 3750]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_flood_from_one_client_is_refused_beyond_its_queue() {
        let sign_ins = Arc::new(SignIns::new(FIRST));
        let a = client("198.51.100.7");
        let mut held = Vec::new();
        for _ in 0..=MAX_WAITING {
            let sign_ins = sign_ins.clone();
            held.push(tokio::spawn(async move {
                sign_ins.attempt(a).await.unwrap().failed().await;
            }));
        }
        tokio::task::yield_now().await;
        assert!(sign_ins.attempt(a).await.is_none(), "the queue is full");
        assert!(sign_ins.attempt(client("203.0.113.5")).await.is_some());
        for h in held {
            h.await.unwrap();
        }
        assert!(sign_ins.attempt(a).await.is_some(), "and drains");
    }

    #[tokio::test(start_paused = true)]
    async fn the_table_is_bounded_least_recently_seen_out() {
        let sign_ins = SignIns::with_capacity(FIRST, 3);
        for i in 1..=3 {
            sign_ins
                .attempt(client(&format!("192.0.2.{i}")))
                .await
                .unwrap()
                .failed()
                .await;
        }
        // .1 is seen again; .2 is now the least recent.
        sign_ins
            .attempt(client("192.0.2.1"))
            .await
            .unwrap()
            .succeeded();
        sign_ins
            .attempt(client("192.0.2.4"))
            .await
            .unwrap()
            .succeeded();
        assert!(sign_ins.remembers(client("192.0.2.1")));
        assert!(!sign_ins.remembers(client("192.0.2.2")));
        assert!(sign_ins.remembers(client("192.0.2.3")));
        assert!(sign_ins.remembers(client("192.0.2.4")));
    }

    #[tokio::test(start_paused = true)]
    async fn old_failures_are_forgotten() {
        let sign_ins = SignIns::new(FIRST);
        let a = client("198.51.100.7");
        for _ in 0..5 {
            sign_ins.attempt(a).await.unwrap().failed().await;
        }
        tokio::time::advance(FAILURE_WINDOW + Duration::from_secs(1)).await;
        let start = Instant::now();
        sign_ins.attempt(a).await.unwrap().failed().await;
        assert_eq!(start.elapsed(), FIRST);
    }
}

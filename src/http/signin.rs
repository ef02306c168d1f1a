//! Failed sign-ins (a wrong admin password, a wrong METRICS_TOKEN) slow
//! their client down; nothing locks anyone out.
//!
//! The right password is checked before anything waits, so it gets in at
//! once whatever other requests from the same address do. A wrong one is
//! answered only after a delay that doubles with the client's recent
//! failures (ADMIN_FAILURE_DELAY_MS at first, at most 128 times that), and
//! at most [`IN_FLIGHT`] of one client's failures are being delayed at
//! once: its further wrong attempts wait their turn, held, not refused. So
//! a guesser who never waits for answers still gets at most two guesses per
//! delay (besides the ones its connections hold, which
//! HTTP_MAX_CONNECTIONS_PER_CLIENT bounds), and a stranger's failures only
//! slow the stranger's own address.
//!
//! A client is an address as TRUST_PROXY reads it, IPv6 by /64. The table
//! of clients is bounded; the least recently seen leave first.
//!
//! The owner is told when the failures of every client together pass
//! ADMIN_FAILURE_WARN_AFTER within an hour ([`SignIns::warning_owner`]).

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lru::LruCache;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::domain::ClientKey;

/// Failures older than this are forgotten.
const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// The longest delay, as a multiple of the first.
const MAX_DOUBLINGS: u32 = 7;
/// One client's failures delayed at the same time; more wait their turn.
pub const IN_FLIGHT: usize = 2;
/// Clients remembered at most.
const CAPACITY: usize = 10_000;

struct Client {
    failures: u32,
    last_failure: Option<Instant>,
    turns: Arc<Semaphore>,
}

pub struct SignIns {
    first_delay: Duration,
    clients: Mutex<LruCache<ClientKey, Client>>,
    /// Every client's failures this hour, and who to tell.
    owner: Option<(Tally, Tell)>,
}

/// Tells the owner of this many failures this hour.
type Tell = Box<dyn Fn(u32) -> futures_util::future::BoxFuture<'static, ()> + Send + Sync>;

/// Failed sign-ins of every client within the current hour.
struct Tally {
    warn_after: u32,
    clock: Clock,
    /// When the hour began, its failures, and whether the owner was told.
    hour: Mutex<(DateTime<Utc>, u32, bool)>,
}

impl Tally {
    /// One more failure: the count, the first time this hour that it
    /// reaches `warn_after`.
    fn count(&self) -> Option<u32> {
        let now = self.clock.now();
        let mut hour = self.hour.lock().expect("sign-in hour");
        if now - hour.0 >= chrono::Duration::hours(1) {
            *hour = (now, 0, false);
        }
        hour.1 += 1;
        let tell = hour.1 >= self.warn_after && !hour.2;
        hour.2 |= tell;
        tell.then_some(hour.1)
    }
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
            owner: None,
        }
    }

    /// Calls `tell` with the count when the failures of every client
    /// together reach `warn_after` (ADMIN_FAILURE_WARN_AFTER; 0 never)
    /// within an hour by `clock`, once that hour. The failure that reaches
    /// it is answered once the owner has been told: it is held anyway.
    pub fn warning_owner<F>(
        mut self,
        warn_after: u32,
        clock: Clock,
        tell: impl Fn(u32) -> F + Send + Sync + 'static,
    ) -> SignIns
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if warn_after > 0 {
            let hour = Mutex::new((clock.now(), 0, false));
            let tally = Tally {
                warn_after,
                clock,
                hour,
            };
            self.owner = Some((tally, Box::new(move |n| Box::pin(tell(n)))));
        }
        self
    }

    /// Whether `given` is `expected`, compared in constant time. The right
    /// secret returns at once and forgets `client`'s failures; a wrong one
    /// returns once it is `client`'s turn and its delay has passed.
    pub async fn check(&self, client: ClientKey, given: &str, expected: &str) -> bool {
        if crate::signing::same_secret(given, expected) {
            self.succeeded(client);
            true
        } else {
            self.failed(client).await;
            false
        }
    }

    /// The right password: `client`'s failures are forgotten. Nothing waits.
    fn succeeded(&self, client: ClientKey) {
        if let Some(entry) = self.clients.lock().expect("sign-in table").get_mut(&client) {
            entry.failures = 0;
            entry.last_failure = None;
        }
    }

    /// A wrong password: returns once it is `client`'s turn and its delay
    /// has passed.
    async fn failed(&self, client: ClientKey) {
        if let Some((tally, tell)) = &self.owner
            && let Some(failures) = tally.count()
        {
            tell(failures).await;
        }
        let turns = {
            let mut clients = self.clients.lock().expect("sign-in table");
            clients
                .get_or_insert_mut(client, || Client {
                    failures: 0,
                    last_failure: None,
                    turns: Arc::new(Semaphore::new(IN_FLIGHT)),
                })
                .turns
                .clone()
        };
        let _turn = turns.acquire_owned().await.expect("never closed");
        let delay = {
            let mut clients = self.clients.lock().expect("sign-in table");
            let now = Instant::now();
            let failures = match clients.get_mut(&client) {
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
            self.delay_after(failures)
        };
        tokio::time::sleep(delay).await;
    }

    fn delay_after(&self, failures: u32) -> Duration {
        self.first_delay * 2u32.pow(failures.saturating_sub(1).min(MAX_DOUBLINGS))
    }

    #[cfg(test)]
    fn remembers(&self, client: ClientKey) -> bool {
        self.clients.lock().unwrap().contains(&client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(ip: &str) -> ClientKey {
        ClientKey::of(ip.parse().unwrap())
    }

    const FIRST: Duration = Duration::from_millis(250);

    #[tokio::test]
    async fn the_owner_is_told_once_an_hour_when_failures_pass_the_threshold() {
        let clock = Clock::manual(chrono::DateTime::UNIX_EPOCH);
        let told = Arc::new(Mutex::new(Vec::new()));
        let record = told.clone();
        let sign_ins = SignIns::new(Duration::ZERO).warning_owner(3, clock.clone(), move |n| {
            record.lock().unwrap().push(n);
            std::future::ready(())
        });
        // Two clients together: the third failure tells, the fourth does not.
        for ip in [
            "198.51.100.1",
            "198.51.100.2",
            "198.51.100.1",
            "198.51.100.2",
        ] {
            assert!(!sign_ins.check(client(ip), "wrong", "right").await);
        }
        assert!(
            sign_ins
                .check(client("198.51.100.3"), "right", "right")
                .await
        );
        assert_eq!(*told.lock().unwrap(), [3]);
        // A new hour counts afresh.
        clock.advance(chrono::Duration::minutes(59));
        assert!(
            !sign_ins
                .check(client("198.51.100.1"), "wrong", "right")
                .await
        );
        assert_eq!(*told.lock().unwrap(), [3]);
        clock.advance(chrono::Duration::minutes(1));
        for _ in 0..3 {
            assert!(
                !sign_ins
                    .check(client("198.51.100.4"), "wrong", "right")
                    .await
            );
        }
        assert_eq!(*told.lock().unwrap(), [3, 3]);
    }

    #[tokio::test]
    async fn without_a_threshold_nobody_is_told() {
        let told = Arc::new(Mutex::new(0));
        let record = told.clone();
        let sign_ins = SignIns::new(Duration::ZERO).warning_owner(0, Clock::System, move |_| {
            *record.lock().unwrap() += 1;
            std::future::ready(())
        });
        for _ in 0..10 {
            sign_ins
                .check(client("198.51.100.1"), "wrong", "right")
                .await;
        }
        assert_eq!(*told.lock().unwrap(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn each_failure_doubles_the_delay_up_to_a_bound() {
        let sign_ins = SignIns::new(FIRST);
        let a = client("198.51.100.7");
        let mut delays = Vec::new();
        for _ in 0..10 {
            let start = Instant::now();
            sign_ins.failed(a).await;
            delays.push(start.elapsed().as_millis());
        }
        assert_eq!(
            delays,
            [250, 500, 1000, 2000, 4000, 8000, 16000, 32000, 32000, 32000]
        );
        // The right password forgets the failures.
        sign_ins.succeeded(a);
        let start = Instant::now();
        sign_ins.failed(a).await;
        assert_eq!(start.elapsed(), FIRST);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_does_not_wait_gets_two_guesses_per_delay() {
        let sign_ins = Arc::new(SignIns::new(FIRST));
        let a = client("2001:db8:1:2::1");
        let start = Instant::now();
        let mut guesses = Vec::new();
        for i in 0..6 {
            let sign_ins = sign_ins.clone();
            // Another address in the same /64 is the same client.
            let me = client(&format!("2001:db8:1:2::{}", i + 10));
            assert_eq!(me, a);
            guesses.push(tokio::spawn(async move {
                sign_ins.failed(me).await;
                start.elapsed()
            }));
        }
        tokio::task::yield_now().await;
        // Meanwhile another client's failure is not held behind them.
        let other = Instant::now();
        sign_ins.failed(client("203.0.113.5")).await;
        assert_eq!(other.elapsed(), FIRST);
        let mut done = Vec::new();
        for guess in guesses {
            done.push(guess.await.unwrap().as_millis());
        }
        done.sort();
        // Two at a time, each turn's delay doubling: held, none refused.
        assert_eq!(done, [250, 500, 1250, 2500, 5250, 10500]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_table_is_bounded_least_recently_seen_out() {
        let sign_ins = SignIns::with_capacity(FIRST, 3);
        for i in 1..=3 {
            sign_ins.failed(client(&format!("192.0.2.{i}"))).await;
        }
        // .1 fails again; .2 is now the least recent.
        sign_ins.failed(client("192.0.2.1")).await;
        sign_ins.failed(client("192.0.2.4")).await;
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
            sign_ins.failed(a).await;
        }
        tokio::time::advance(FAILURE_WINDOW + Duration::from_secs(1)).await;
        let start = Instant::now();
        sign_ins.failed(a).await;
        assert_eq!(start.elapsed(), FIRST);
    }
}

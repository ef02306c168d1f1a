//! Single flight: one upstream call per cache key at a time; later callers
//! wait for it, then find its result in the cache.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct Flights {
    keys: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Flights {
    /// `work`, once it is this caller's turn for `key`. It is boxed as soon
    /// as it is given: it is a miss's future, which holds the upstream and
    /// database calls, and a hit should neither carry its size nor move it.
    pub fn run<'a, T: 'a>(
        &'a self,
        key: &'a str,
        work: impl Future<Output = T> + 'a,
    ) -> impl Future<Output = T> + 'a {
        let work = Box::pin(work);
        self.turn(key, work)
    }

    async fn turn<T>(&self, key: &str, work: impl Future<Output = T>) -> T {
        let lock = {
            let mut keys = self.keys.lock().expect("flight map");
            keys.entry(key.to_string()).or_default().clone()
        };
        // Leaves the map when this caller is done, also when its request is
        // dropped half way (the client hung up): no entry outlives its callers.
        let _leave = Leave {
            flights: self,
            key,
            lock: &lock,
        };
        let _turn = lock.lock().await;
        work.await
    }

    pub fn in_flight(&self) -> usize {
        self.keys.lock().expect("flight map").len()
    }
}

/// Removes a key's entry once its last caller leaves.
struct Leave<'a> {
    flights: &'a Flights,
    key: &'a str,
    lock: &'a Arc<tokio::sync::Mutex<()>>,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        let mut keys = self.flights.keys.lock().unwrap_or_else(|p| p.into_inner());
        // Only the map and this caller hold it: nobody else is waiting.
        if Arc::strong_count(self.lock) == 2 {
            keys.remove(self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn one_flight_per_key_and_the_map_empties_after() {
        let flights = Arc::new(Flights::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (flights, runs) = (flights.clone(), runs.clone());
            tasks.push(tokio::spawn(async move {
                flights
                    .run("k", async {
                        let concurrent = runs.fetch_add(1, Ordering::SeqCst);
                        tokio::task::yield_now().await;
                        runs.fetch_sub(1, Ordering::SeqCst);
                        concurrent
                    })
                    .await
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap(), 0, "two callers were inside at once");
        }
        assert_eq!(flights.in_flight(), 0);
    }

    #[tokio::test]
    async fn a_caller_dropped_half_way_leaves_no_entry_behind() {
        let flights = Flights::default();
        {
            let never = flights.run("k", std::future::pending::<()>());
            let mut never = std::pin::pin!(never);
            // Started: it holds the key's turn and waits for ever.
            assert!(futures_util::poll!(never.as_mut()).is_pending());
            assert_eq!(flights.in_flight(), 1);
        }
        assert_eq!(flights.in_flight(), 0, "the dropped caller's entry stayed");

        // With a waiter queued behind it, the entry stays for the waiter.
        let mut first = Box::pin(flights.run("k", std::future::pending::<()>()));
        assert!(futures_util::poll!(first.as_mut()).is_pending());
        let second = flights.run("k", async { 7 });
        let mut second = std::pin::pin!(second);
        assert!(futures_util::poll!(second.as_mut()).is_pending());
        drop(first);
        assert_eq!(flights.in_flight(), 1);
        assert_eq!(second.await, 7);
        assert_eq!(flights.in_flight(), 0);
    }
}

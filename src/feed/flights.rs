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
    pub async fn run<T>(&self, key: &str, work: impl Future<Output = T>) -> T {
        let lock = {
            let mut keys = self.keys.lock().expect("flight map");
            keys.entry(key.to_string()).or_default().clone()
        };
        let out = {
            let _turn = lock.lock().await;
            work.await
        };
        let mut keys = self.keys.lock().expect("flight map");
        // Only the map and this caller hold it: nobody is waiting.
        if Arc::strong_count(&lock) == 2 {
            keys.remove(key);
        }
        out
    }

    pub fn in_flight(&self) -> usize {
        self.keys.lock().expect("flight map").len()
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
}

//! Work `jobs` at a time: boots and guest runs are one QEMU each, about one core busy, so the
//! matrix, clonekit-init's boots, `run-check` and `guest-test` run as many at once as the
//! caller asks, and report in the order of their items.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// `work` on every item, on `jobs` scoped threads (at least one) that take the next item as
/// they finish one; the results in the items' order. A `work` that panics takes the caller
/// with it, as a loop would.
pub fn map<T: Sync, R: Send>(items: &[T], jobs: usize, work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let result = work(item);
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every item was taken by a job"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_the_items_order_whatever_finishes_first() {
        let items: Vec<u64> = (0..12).collect();
        let out = map(&items, 3, |&n| {
            // Later items finish first.
            std::thread::sleep(std::time::Duration::from_millis(12 - n));
            n * 10
        });
        assert_eq!(out, (0..12).map(|n| n * 10).collect::<Vec<_>>());
    }

    #[test]
    fn at_most_jobs_run_at_once_and_zero_jobs_is_one() {
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let items = [(); 8];
        let work = |_: &()| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(5));
            running.fetch_sub(1, Ordering::SeqCst);
        };
        map(&items, 2, work);
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        peak.store(0, Ordering::SeqCst);
        map(&items, 0, work);
        assert_eq!(peak.load(Ordering::SeqCst), 1);
        assert!(map(&[] as &[u8], 4, |_| ()).is_empty());
    }
}

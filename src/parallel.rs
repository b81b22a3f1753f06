//! Running independent jobs on several threads with results in input order (the iterate loop's
//! `--jobs` and `dsl-engine bench`). Plain scoped threads over a shared counter: no pool to keep
//! alive, and each job borrows the caller's data (panels, sandbox) without cloning it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The default number of workers: the machine's cores.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `f` applied to every item on up to `jobs` threads; the results are in the order of `items`
/// whatever order the jobs finish in. `jobs` ≤ 1 (or a single item) runs on the calling thread.
/// A panicking job panics the caller once all threads have stopped.
pub fn map_ordered<T, R, F>(items: Vec<T>, jobs: usize, f: F) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(T) -> R + Sync,
{
    let n = items.len();
    if jobs <= 1 || n <= 1 {
        return items.into_iter().map(f).collect();
    }
    let slots: Vec<Mutex<Option<T>>> = items.into_iter().map(|t| Mutex::new(Some(t))).collect();
    let results: Vec<Mutex<Option<R>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..jobs.min(n) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let item = slots[i].lock().map(|mut g| g.take()).ok().flatten();
                if let Some(item) = item {
                    let r = f(item);
                    if let Ok(mut g) = results[i].lock() {
                        *g = Some(r);
                    }
                }
            });
        }
    });
    results
        .into_iter()
        .map(|m| {
            m.into_inner()
                .ok()
                .flatten()
                .expect("every job ran to completion (a panic would have propagated)")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_input_order_whatever_the_finish_order() {
        let items: Vec<u64> = (0..40).collect();
        // Earlier items sleep longer, so they finish last.
        let out = map_ordered(items, 4, |i| {
            std::thread::sleep(std::time::Duration::from_millis(40 - i));
            i * i
        });
        assert_eq!(out, (0..40).map(|i| i * i).collect::<Vec<_>>());
        assert_eq!(map_ordered(vec![3, 1], 1, |i| i + 1), vec![4, 2]);
        assert!(map_ordered(Vec::<u8>::new(), 2, |i| i).is_empty());
    }
}

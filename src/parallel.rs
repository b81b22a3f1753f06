//! Running independent jobs on several threads with results in input order (the iterate loop's
//! `--jobs` and `dsl-engine bench`). Plain scoped threads over a shared queue: no pool to keep
//! alive, and each job borrows the caller's data (panels, sandbox) without cloning it. Jobs that
//! share work go to the same thread (and so to the warm session and reuse store that thread
//! keeps using).

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

/// The jobs whose keys a thread remembers: about what a session's reuse store still holds.
const RECENT_JOBS: usize = 8;

/// The default number of workers: the machine's cores.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `f` applied to every item on up to `jobs` threads, results in the order of `items` whatever
/// order the jobs finish in; a panicking job panics the caller once all threads have stopped.
/// Each thread takes next the waiting job that shares the most `keys` with
/// the jobs it ran last (the earliest on a tie or when none shares any), so jobs that share
/// sub-plans run one after the other in the same warm session, whose store serves them.
/// `keys[i]` are item `i`'s keys (see [`crate::plan::affinity_keys`]). Results are in the order
/// of `items`; with one job, the jobs still run in that grouped order.
pub fn map_grouped<T, R, F>(items: Vec<T>, keys: &[Vec<u64>], jobs: usize, f: F) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(T) -> R + Sync,
{
    let n = items.len();
    let slots: Vec<Mutex<Option<T>>> = items.into_iter().map(|t| Mutex::new(Some(t))).collect();
    let results: Vec<Mutex<Option<R>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let waiting = Mutex::new((0..n).collect::<Vec<usize>>());
    let no_keys = Vec::new();
    let keys_of = |i: usize| keys.get(i).unwrap_or(&no_keys);
    let worker = || {
        let mut recent: VecDeque<usize> = VecDeque::with_capacity(RECENT_JOBS);
        loop {
            let next = {
                let Ok(mut waiting) = waiting.lock() else {
                    return;
                };
                let seen: HashSet<u64> = recent.iter().flat_map(|&j| keys_of(j)).copied().collect();
                let shared = |i: usize| keys_of(i).iter().filter(|k| seen.contains(k)).count();
                let mut best = None;
                for (at, &i) in waiting.iter().enumerate() {
                    let s = shared(i);
                    if best.is_none_or(|(_, b)| s > b) {
                        best = Some((at, s));
                    }
                }
                match best {
                    Some((at, _)) => waiting.remove(at),
                    None => return,
                }
            };
            if recent.len() == RECENT_JOBS {
                recent.pop_front();
            }
            recent.push_back(next);
            let item = slots[next].lock().map(|mut g| g.take()).ok().flatten();
            if let Some(item) = item {
                let r = f(item);
                if let Ok(mut g) = results[next].lock() {
                    *g = Some(r);
                }
            }
        }
    };
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, n.max(1)) {
            s.spawn(worker);
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
        let out = map_grouped(items, &[], 4, |i| {
            std::thread::sleep(std::time::Duration::from_millis(40 - i));
            i * i
        });
        assert_eq!(out, (0..40).map(|i| i * i).collect::<Vec<_>>());
        assert_eq!(map_grouped(vec![3, 1], &[], 1, |i| i + 1), vec![4, 2]);
    }

    #[test]
    fn grouped_jobs_run_after_the_jobs_they_share_keys_with() {
        // Two families interleaved; one thread runs each family's jobs one after the other.
        let keys: Vec<Vec<u64>> = (0..8u64).map(|i| vec![i % 2, 10 + i]).collect();
        let order = Mutex::new(Vec::new());
        let out = map_grouped((0..8u64).collect(), &keys, 1, |i| {
            order.lock().unwrap().push(i);
            i * 2
        });
        assert_eq!(out, (0..8).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(order.into_inner().unwrap(), vec![0, 2, 4, 6, 1, 3, 5, 7]);
        // Several threads: every job once, results in input order.
        let out = map_grouped((0..40u64).collect(), &keys, 3, |i| i + 1);
        assert_eq!(out, (1..41).collect::<Vec<_>>());
        assert!(map_grouped(Vec::<u8>::new(), &[], 2, |i| i).is_empty());
    }
}

//! Running independent jobs on several threads with results in input order (the iterate loop's
//! `--jobs` and `dsl-engine bench`). Plain scoped threads over a shared queue: no pool to keep
//! alive, and each job borrows the caller's data (panels, sandbox) without cloning it. Jobs that
//! share work go to the same thread (and so to the warm session and reuse store that thread
//! keeps using), and otherwise the costliest start first, so the last to finish are short.

use std::cmp::Reverse;
use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

/// The jobs whose keys a thread remembers: about what a session's reuse store still holds.
const RECENT_JOBS: usize = 8;

/// The default number of workers: the machine's cores.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// What a job's place in the order depends on (see [`map_grouped`]).
#[derive(Clone, Debug, Default)]
pub struct Hint {
    /// Keys of the work it shares with other jobs (see [`crate::plan::affinity_keys`]).
    pub keys: Vec<u64>,
    /// Its estimated cost, in any unit common to the jobs (see [`crate::plan::estimated_cost`]).
    pub cost: f64,
}

/// `f` applied to every item on up to `jobs` threads, results in the order of `items` whatever
/// order the jobs finish in; a panicking job panics the caller once all threads have stopped.
/// Each thread takes next the waiting job that shares the most keys with the jobs it ran last,
/// so jobs that share sub-plans run one after the other in the same warm session, whose store
/// serves them; on a tie the one sharing fewest keys with the jobs the other threads ran last
/// (so two threads do not both compute what a family of jobs shares, each in its own session),
/// then the costliest, so a round does not end waiting for a long job started last; then the
/// earliest. `hints[i]` is item `i`'s (none: plain order). Results are in the order of `items`;
/// with one job, the jobs still run in that grouped order.
pub fn map_grouped<T, R, F>(items: Vec<T>, hints: &[Hint], jobs: usize, f: F) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(T) -> R + Sync,
{
    let n = items.len();
    let threads = jobs.clamp(1, n.max(1));
    let slots: Vec<Mutex<Option<T>>> = items.into_iter().map(|t| Mutex::new(Some(t))).collect();
    let results: Vec<Mutex<Option<R>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let queue = Mutex::new(Queue {
        waiting: (0..n).collect(),
        recent: vec![VecDeque::with_capacity(RECENT_JOBS); threads],
    });
    let none = Hint::default();
    let hint = |i: usize| hints.get(i).unwrap_or(&none);
    let worker = |me: usize| loop {
        let next = {
            let Ok(mut queue) = queue.lock() else {
                return;
            };
            let Some(next) = queue.pick(me, &hint) else {
                return;
            };
            next
        };
        let item = slots[next].lock().map(|mut g| g.take()).ok().flatten();
        if let Some(item) = item {
            let r = f(item);
            if let Ok(mut g) = results[next].lock() {
                *g = Some(r);
            }
        }
    };
    std::thread::scope(|s| {
        for me in 0..threads {
            s.spawn(move || worker(me));
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

/// The jobs not started yet and, per thread, the last ones it took (see [`map_grouped`]).
struct Queue {
    waiting: Vec<usize>,
    recent: Vec<VecDeque<usize>>,
}

impl Queue {
    /// Takes thread `me`'s next job off the queue and records it as `me`'s.
    fn pick<'h>(&mut self, me: usize, hint: &impl Fn(usize) -> &'h Hint) -> Option<usize> {
        let keys_of = |jobs: &VecDeque<usize>| -> HashSet<u64> {
            jobs.iter().flat_map(|&j| &hint(j).keys).copied().collect()
        };
        let mine = keys_of(&self.recent[me]);
        let theirs: HashSet<u64> = (0..self.recent.len())
            .filter(|&t| t != me)
            .flat_map(|t| keys_of(&self.recent[t]))
            .collect();
        let count =
            |i: usize, set: &HashSet<u64>| hint(i).keys.iter().filter(|k| set.contains(k)).count();
        // Shared with mine (more first), with theirs (fewer first), cost (more first).
        let score = |i: usize| (count(i, &mine), Reverse(count(i, &theirs)), hint(i).cost);
        let mut best = None;
        for (at, &i) in self.waiting.iter().enumerate() {
            let s = score(i);
            if best.as_ref().is_none_or(|(_, b)| s > *b) {
                best = Some((at, s));
            }
        }
        let next = self.waiting.remove(best?.0);
        let recent = &mut self.recent[me];
        if recent.len() == RECENT_JOBS {
            recent.pop_front();
        }
        recent.push_back(next);
        Some(next)
    }
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
        let keys: Vec<Hint> = (0..8u64)
            .map(|i| Hint {
                keys: vec![i % 2, 10 + i],
                cost: 0.0,
            })
            .collect();
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

    #[test]
    fn the_costliest_job_goes_first_when_none_shares_more() {
        // No keys: costliest first, the earliest of equal costs first. Then a job sharing a key
        // with the last one run goes before a costlier one that shares none.
        let hint = |keys: Vec<u64>, cost: f64| Hint { keys, cost };
        let hints = [
            hint(vec![], 1.0),
            hint(vec![], 5.0),
            hint(vec![], 3.0),
            hint(vec![], 5.0),
        ];
        let order = Mutex::new(Vec::new());
        map_grouped((0..4).collect(), &hints, 1, |i| {
            order.lock().unwrap().push(i)
        });
        assert_eq!(order.into_inner().unwrap(), vec![1, 3, 2, 0]);
        let hints = [hint(vec![7], 9.0), hint(vec![], 8.0), hint(vec![7], 1.0)];
        let order = Mutex::new(Vec::new());
        map_grouped((0..3).collect(), &hints, 1, |i| {
            order.lock().unwrap().push(i)
        });
        assert_eq!(order.into_inner().unwrap(), vec![0, 2, 1]);
    }

    #[test]
    fn a_thread_leaves_a_family_another_thread_started_to_it() {
        // Jobs 0 and 1 share key 7 and cost most. Thread 0 starts job 0; thread 1 then takes
        // job 2, not job 1 (which thread 0's session will serve), and thread 0 job 1 next.
        let hint = |keys: Vec<u64>, cost: f64| Hint { keys, cost };
        let hints = [
            hint(vec![7], 9.0),
            hint(vec![7], 8.0),
            hint(vec![1], 2.0),
            hint(vec![], 1.0),
        ];
        let mut queue = Queue {
            waiting: (0..4).collect(),
            recent: vec![VecDeque::new(); 2],
        };
        let at = |i: usize| &hints[i];
        assert_eq!(queue.pick(0, &at), Some(0));
        assert_eq!(queue.pick(1, &at), Some(2));
        assert_eq!(queue.pick(0, &at), Some(1));
        // Only thread 0's kind of work or none left: thread 1 takes what is there.
        assert_eq!(queue.pick(1, &at), Some(3));
        assert_eq!(queue.pick(1, &at), None);
    }
}

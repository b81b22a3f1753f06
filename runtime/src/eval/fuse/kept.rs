//! The rolling statistics of a fused chain on the read rows, read from and kept in the reuse
//! store gathered there (see [`Rolls`]). An evolutionary search keeps the same
//! `vol.average(10)` in trial after trial while the chain around it changes: gathered at the
//! read rows it is a few MB, computing it again is a pass over every row.

use std::rc::Rc;

use super::Chain;
use crate::eval::reuse::{Key, Rolls};

/// Per rolling statistic of a chain: its key, its gathered cells when found in the store, and
/// the cells gathered so far when computed (to keep).
pub(super) struct Kept {
    keys: Vec<Option<Key>>,
    found: Vec<Option<Rc<Vec<f64>>>>,
    computed: Vec<Vec<f64>>,
    /// Cells the statistic `k` is computed over (its leaf's).
    full: Vec<usize>,
}

impl Kept {
    /// Looks up each statistic `k` gathered at `at(k)`: its leaf's rows, its leaf's columns
    /// (`None`: all, in order) and the leaf's cell count.
    pub(super) fn new<'r>(
        chain: &Chain,
        rolls: Option<&mut Rolls>,
        at: impl Fn(usize) -> (&'r [usize], Option<&'r [usize]>, usize),
    ) -> Kept {
        let n = chain.rolled.len();
        let Some(rolls) = rolls else {
            return Kept {
                keys: (0..n).map(|_| None).collect(),
                found: vec![None; n],
                computed: vec![Vec::new(); n],
                full: vec![0; n],
            };
        };
        let keys: Vec<Option<Key>> = (chain.rolled.iter().enumerate())
            .map(|(k, r)| {
                let (rows, cols, _) = at(k);
                rolls.key(r.0, rows, cols)
            })
            .collect();
        let found = keys
            .iter()
            .map(|key| key.as_ref().and_then(|key| rolls.get(key)))
            .collect();
        Kept {
            keys,
            found,
            computed: vec![Vec::new(); n],
            full: (0..n).map(|k| at(k).2).collect(),
        }
    }

    /// Whether statistic `k` was found (so it is not computed).
    pub(super) fn found(&self, k: usize) -> bool {
        self.found[k].is_some()
    }

    /// After column `c` (`len` cells) was gathered into `rolled`: a statistic found replaces its
    /// gathered cells; one computed adds them to what is kept.
    pub(super) fn column(&mut self, c: usize, len: usize, rolled: &mut [Vec<f64>]) {
        for (k, buf) in rolled.iter_mut().enumerate() {
            match &self.found[k] {
                Some(cells) => {
                    buf.clear();
                    buf.extend_from_slice(&cells[c * len..(c + 1) * len]);
                }
                None if self.keys[k].is_some() => self.computed[k].extend_from_slice(buf),
                None => {}
            }
        }
    }

    /// Keeps the statistics computed (all columns gathered) in the store.
    pub(super) fn keep(self, rolls: Option<&mut Rolls>) {
        let Some(rolls) = rolls else { return };
        for ((key, cells), full) in self.keys.iter().zip(self.computed).zip(self.full) {
            if let Some(key) = key {
                if !cells.is_empty() {
                    rolls.put(key, cells, full);
                }
            }
        }
    }
}

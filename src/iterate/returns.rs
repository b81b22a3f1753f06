//! The daily-returns sidecar `RUN_DIR/returns.bin`: each evaluated trial's daily returns up to
//! the end of the validation window (never the holdout), for the redundancy gate, the Sharpe
//! variance of the Deflated Sharpe and the PBO. Kept out of the ledger so that stays readable.
//!
//! Format (little-endian): the magic `DSLRET2\0`, then records of `u32 iteration, u32 n,
//! u64 code hash`, then `n × (i32 date, f32 return)`. Files written before the code hash (no
//! magic) are read as records of `u32 iteration, u32 n` and the series. A round's records are
//! written and fsynced before its ledger lines; on open, a truncated last record is cut off.
//! [`Returns::reconcile`] then checks the sidecar against the ledger before a run resumes.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::ledger::Trial;
use super::IterateError;

/// The sidecar's file name inside a run directory.
pub const RETURNS_FILE: &str = "returns.bin";

const MAGIC: &[u8; 8] = b"DSLRET2\0";

/// One record as read back.
#[derive(Clone, Debug)]
struct Record {
    iteration: u32,
    /// The trial's canonical code hash (`None` in files of the first format).
    code_hash: Option<u64>,
    /// Byte offset just past the record.
    end: usize,
}

/// An open sidecar: the series read back (by iteration) and the file to append to.
pub struct Returns {
    path: PathBuf,
    file: File,
    /// Whether records carry code hashes (a new file, or one with the magic).
    hashed: bool,
    records: Vec<Record>,
    /// Daily (date, return) per iteration; a later record of the same iteration wins.
    pub series: BTreeMap<u32, Vec<(i32, f64)>>,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The ledger's hex code hash as the sidecar stores it (0 when absent or not hex).
fn hash_bits(code_hash: Option<&str>) -> u64 {
    code_hash
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .unwrap_or(0)
}

impl Returns {
    /// Opens (or creates) `dir/returns.bin`.
    pub fn open(dir: &Path) -> Result<Returns, IterateError> {
        let path = dir.join(RETURNS_FILE);
        let io = |source| IterateError::Io {
            path: path.clone(),
            source,
        };
        let mut bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(e)),
        };
        if bytes.is_empty() {
            std::fs::write(&path, MAGIC).map_err(io)?;
            bytes = MAGIC.to_vec();
        }
        let hashed = bytes.starts_with(MAGIC);
        let (head, extra) = if hashed { (MAGIC.len(), 8) } else { (0, 0) };
        let mut series = BTreeMap::new();
        let mut records = Vec::new();
        let mut at = head;
        while let (Some(it), Some(n)) = (u32_at(&bytes, at), u32_at(&bytes, at + 4)) {
            let body = at + 8 + extra;
            let end = body + n as usize * 8;
            if end > bytes.len() {
                break;
            }
            let code_hash = hashed.then(|| u64_at(&bytes, at + 8).unwrap_or(0));
            let s: Vec<(i32, f64)> = bytes[body..end]
                .chunks_exact(8)
                .filter_map(|c| Some((u32_at(c, 0)? as i32, u32_at(c, 4)?)))
                .map(|(d, r)| (d, f64::from(f32::from_bits(r))))
                .collect();
            series.insert(it, s);
            records.push(Record {
                iteration: it,
                code_hash,
                end,
            });
            at = end;
        }
        if at < bytes.len() {
            truncate(&path, at as u64).map_err(io)?;
        }
        let file = OpenOptions::new().append(true).open(&path).map_err(io)?;
        Ok(Returns {
            path,
            file,
            hashed,
            records,
            series,
        })
    }

    /// Checks the sidecar against the ledger `trials` before a run continues. Records after the
    /// ledger's last trial (a run killed between writing a record and its ledger line) are cut
    /// off, so a trial run again never meets a stale record. Then every evaluated trial (one
    /// with in-sample figures) must have a record of its own code, and every record must belong
    /// to an evaluated trial; otherwise the error names the trial, since every later decision
    /// (gates, the Deflated Sharpe, the PBO) reads these series.
    pub fn reconcile(&mut self, trials: &[Trial]) -> Result<usize, IterateError> {
        let last = trials.last().map_or(0, |t| t.iteration);
        let keep = self
            .records
            .iter()
            .position(|r| r.iteration > last)
            .unwrap_or(self.records.len());
        let cut = self.records.len() - keep;
        if cut > 0 {
            let head = if self.hashed { MAGIC.len() } else { 0 };
            let len = keep
                .checked_sub(1)
                .and_then(|k| self.records.get(k))
                .map_or(head, |r| r.end);
            truncate(&self.path, len as u64).map_err(|source| IterateError::Io {
                path: self.path.clone(),
                source,
            })?;
            self.records.truncate(keep);
            self.series.retain(|it, _| *it <= last);
        }
        let bad = |message: String| IterateError::Returns {
            path: self.path.clone(),
            message,
        };
        let mut latest: BTreeMap<u32, &Record> = BTreeMap::new();
        for r in &self.records {
            latest.insert(r.iteration, r);
        }
        for t in trials {
            let evaluated = t.in_sample.is_some();
            match (evaluated, latest.remove(&t.iteration)) {
                (true, None) => {
                    return Err(bad(format!(
                        "no daily returns for trial #{} (it was evaluated): the file was deleted \
                         or truncated",
                        t.iteration
                    )))
                }
                (true, Some(r)) => {
                    let want = hash_bits(t.code_hash.as_deref());
                    if r.code_hash.is_some_and(|h| h != want) {
                        return Err(bad(format!(
                            "the daily returns stored for trial #{} are of other code than the \
                             ledger's (code hash {:016x}, ledger {want:016x})",
                            t.iteration,
                            r.code_hash.unwrap_or(0)
                        )));
                    }
                }
                (false, Some(_)) => {
                    return Err(bad(format!(
                        "daily returns are stored for trial #{}, which the ledger says was not \
                         evaluated",
                        t.iteration
                    )))
                }
                (false, None) => {}
            }
        }
        Ok(cut)
    }

    /// Makes the records appended so far durable (fsync).
    pub fn sync(&mut self) -> Result<(), IterateError> {
        self.file.sync_data().map_err(|source| IterateError::Io {
            path: self.path.clone(),
            source,
        })
    }

    /// Appends one trial's series, flushed; [`Returns::sync`] makes it durable (once a round,
    /// before the round's ledger lines are written).
    pub fn append(
        &mut self,
        iteration: u32,
        code_hash: Option<&str>,
        series: &[(i32, f64)],
    ) -> Result<(), IterateError> {
        let mut buf = Vec::with_capacity(16 + series.len() * 8);
        buf.extend_from_slice(&iteration.to_le_bytes());
        buf.extend_from_slice(&(series.len() as u32).to_le_bytes());
        let hash = hash_bits(code_hash);
        if self.hashed {
            buf.extend_from_slice(&hash.to_le_bytes());
        }
        for &(d, r) in series {
            buf.extend_from_slice(&d.to_le_bytes());
            buf.extend_from_slice(&(r as f32).to_bits().to_le_bytes());
        }
        let io = |source| IterateError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.write_all(&buf).map_err(io)?;
        self.file.flush().map_err(io)?;
        let end = self
            .records
            .last()
            .map_or(if self.hashed { MAGIC.len() } else { 0 }, |r| r.end)
            + buf.len();
        self.records.push(Record {
            iteration,
            code_hash: self.hashed.then_some(hash),
            end,
        });
        let stored = series
            .iter()
            .map(|&(d, r)| (d, f64::from(r as f32)))
            .collect();
        self.series.insert(iteration, stored);
        Ok(())
    }
}

fn truncate(path: &Path, len: u64) -> std::io::Result<()> {
    let f = OpenOptions::new().write(true).open(path)?;
    f.set_len(len)?;
    f.sync_all()
}

/// `series` on the session grid `dates` (ascending), with 0 (in cash) where it has no value.
pub fn aligned(series: &[(i32, f64)], dates: &[i32]) -> Vec<f64> {
    let mut out = vec![0.0; dates.len()];
    for &(d, r) in series {
        if let Ok(i) = dates.binary_search(&d) {
            if r.is_finite() {
                out[i] = r;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iterate::ledger::Scores;

    fn evaluated(i: u32, hash: &str) -> Trial {
        Trial {
            iteration: i,
            code_hash: Some(hash.into()),
            in_sample: Some(Scores::default()),
            ..Trial::default()
        }
    }

    #[test]
    fn round_trips_and_survives_a_truncated_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Returns::open(dir.path()).unwrap();
        r.append(1, Some("00000000000000aa"), &[(10, 0.01), (11, -0.02)])
            .unwrap();
        r.append(2, None, &[(10, 0.5)]).unwrap();
        drop(r);
        let path = dir.path().join(RETURNS_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        let good = bytes.len();
        bytes.extend_from_slice(&3u32.to_le_bytes());
        bytes.extend_from_slice(&5u32.to_le_bytes());
        bytes.extend_from_slice(&[1, 2, 3]);
        std::fs::write(&path, &bytes).unwrap();
        let mut r = Returns::open(dir.path()).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, good);
        assert_eq!(r.series.len(), 2);
        assert!((r.series[&1][1].1 + 0.02).abs() < 1e-7);
        r.append(3, None, &[]).unwrap();
        drop(r);
        assert_eq!(Returns::open(dir.path()).unwrap().series.len(), 3);
        assert_eq!(
            aligned(&[(11, 0.5), (13, 1.0)], &[10, 11, 12]),
            vec![0.0, 0.5, 0.0]
        );
    }

    #[test]
    fn reads_files_of_the_first_format() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = Vec::new();
        for (it, r) in [(1u32, 0.25f32), (2, -0.5)] {
            bytes.extend_from_slice(&it.to_le_bytes());
            bytes.extend_from_slice(&1u32.to_le_bytes());
            bytes.extend_from_slice(&7i32.to_le_bytes());
            bytes.extend_from_slice(&r.to_bits().to_le_bytes());
        }
        std::fs::write(dir.path().join(RETURNS_FILE), &bytes).unwrap();
        let mut r = Returns::open(dir.path()).unwrap();
        assert_eq!(r.series[&2], vec![(7, -0.5)]);
        r.reconcile(&[evaluated(1, "1"), evaluated(2, "2")])
            .unwrap();
        r.append(3, Some("3"), &[(8, 0.125)]).unwrap();
        drop(r);
        assert_eq!(
            Returns::open(dir.path()).unwrap().series[&3],
            vec![(8, 0.125)]
        );
    }

    #[test]
    fn reconcile_cuts_records_past_the_ledger_and_refuses_gaps_and_foreign_code() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Returns::open(dir.path()).unwrap();
        r.append(1, Some("a1"), &[(1, 0.1)]).unwrap();
        r.append(2, Some("b2"), &[(1, 0.2)]).unwrap();
        // Killed after writing trial 3's record, before its ledger line.
        r.append(3, Some("c3"), &[(1, 0.3)]).unwrap();
        drop(r);
        let ledger = [evaluated(1, "a1"), evaluated(2, "b2")];
        let mut r = Returns::open(dir.path()).unwrap();
        assert_eq!(r.reconcile(&ledger).unwrap(), 1);
        assert!(!r.series.contains_key(&3));
        drop(r);
        assert_eq!(Returns::open(dir.path()).unwrap().series.len(), 2);

        let mut r = Returns::open(dir.path()).unwrap();
        let wrong = [evaluated(1, "a1"), evaluated(2, "ff")];
        let e = r.reconcile(&wrong).unwrap_err().to_string();
        assert!(e.contains("trial #2") && e.contains("other code"), "{e}");

        let missing = [evaluated(1, "a1"), evaluated(2, "b2"), evaluated(3, "c3")];
        let e = r.reconcile(&missing).unwrap_err().to_string();
        assert!(e.contains("no daily returns for trial #3"), "{e}");

        let not_run = [
            evaluated(1, "a1"),
            Trial {
                iteration: 2,
                ..Trial::default()
            },
        ];
        let e = r.reconcile(&not_run).unwrap_err().to_string();
        assert!(e.contains("trial #2") && e.contains("not evaluated"), "{e}");

        std::fs::remove_file(dir.path().join(RETURNS_FILE)).unwrap();
        let mut r = Returns::open(dir.path()).unwrap();
        let e = r.reconcile(&ledger).unwrap_err().to_string();
        assert!(e.contains("no daily returns for trial #1"), "{e}");
    }
}

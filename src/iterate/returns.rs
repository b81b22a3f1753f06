//! The daily-returns sidecar `RUN_DIR/returns.bin`: each evaluated trial's daily returns up to
//! the end of the validation window (never the holdout), for the redundancy gate, the Sharpe
//! variance of the Deflated Sharpe and the PBO. Kept out of the ledger so that stays readable.
//!
//! Format (little-endian): records of `u32 iteration, u32 n`, then `n × (i32 date, f32 return)`.
//! A record is written and fsynced before its trial's ledger line; on open, a truncated last
//! record is cut off and records of iterations the ledger does not hold are ignored.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::IterateError;

/// The sidecar's file name inside a run directory.
pub const RETURNS_FILE: &str = "returns.bin";

/// An open sidecar: the series read back (by iteration) and the file to append to.
pub struct Returns {
    path: PathBuf,
    file: File,
    /// Daily (date, return) per iteration; a later record of the same iteration wins.
    pub series: BTreeMap<u32, Vec<(i32, f64)>>,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

impl Returns {
    /// Opens (or creates) `dir/returns.bin`.
    pub fn open(dir: &Path) -> Result<Returns, IterateError> {
        let path = dir.join(RETURNS_FILE);
        let io = |source| IterateError::Io {
            path: path.clone(),
            source,
        };
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(e)),
        };
        let mut series = BTreeMap::new();
        let mut at = 0;
        while let (Some(it), Some(n)) = (u32_at(&bytes, at), u32_at(&bytes, at + 4)) {
            let end = at + 8 + n as usize * 8;
            if end > bytes.len() {
                break;
            }
            let mut s = Vec::with_capacity(n as usize);
            for k in 0..n as usize {
                let p = at + 8 + k * 8;
                let (Some(d), Some(r)) = (u32_at(&bytes, p), u32_at(&bytes, p + 4)) else {
                    break;
                };
                s.push((d as i32, f64::from(f32::from_bits(r))));
            }
            series.insert(it, s);
            at = end;
        }
        if at < bytes.len() {
            let f = OpenOptions::new().write(true).open(&path).map_err(io)?;
            f.set_len(at as u64).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        Ok(Returns { path, file, series })
    }

    /// Appends one trial's series, flushed and fsynced.
    pub fn append(&mut self, iteration: u32, series: &[(i32, f64)]) -> Result<(), IterateError> {
        let mut buf = Vec::with_capacity(8 + series.len() * 8);
        buf.extend_from_slice(&iteration.to_le_bytes());
        buf.extend_from_slice(&(series.len() as u32).to_le_bytes());
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
        self.file.sync_data().map_err(io)?;
        let stored = series
            .iter()
            .map(|&(d, r)| (d, f64::from(r as f32)))
            .collect();
        self.series.insert(iteration, stored);
        Ok(())
    }
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

    #[test]
    fn round_trips_and_survives_a_truncated_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Returns::open(dir.path()).unwrap();
        r.append(1, &[(10, 0.01), (11, -0.02)]).unwrap();
        r.append(2, &[(10, 0.5)]).unwrap();
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
        r.append(3, &[]).unwrap();
        drop(r);
        assert_eq!(Returns::open(dir.path()).unwrap().series.len(), 3);
        assert_eq!(
            aligned(&[(11, 0.5), (13, 1.0)], &[10, 11, 12]),
            vec![0.0, 0.5, 0.0]
        );
    }
}

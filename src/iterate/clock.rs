//! Wall-clock timestamps for the ledger and run directory names (UTC, no time-zone database).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::calendar::civil_from_days;

fn parts(t: SystemTime) -> (i32, u32, u32, u64, u64, u64, u32) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, m, day) = civil_from_days((secs / 86_400) as i32);
    let s = secs % 86_400;
    (
        y,
        m,
        day,
        s / 3600,
        s % 3600 / 60,
        s % 60,
        d.subsec_millis(),
    )
}

/// `2026-05-01T12:34:56.789Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let (y, m, d, hh, mm, ss, ms) = parts(t);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{ms:03}Z")
}

/// The current time as [`rfc3339`].
pub fn now() -> String {
    rfc3339(SystemTime::now())
}

/// `20260501-123456` (UTC), for run directory names.
pub fn stamp() -> String {
    let (y, m, d, hh, mm, ss, _) = parts(SystemTime::now());
    format!("{y:04}{m:02}{d:02}-{hh:02}{mm:02}{ss:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_utc() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20.123Z");
    }
}

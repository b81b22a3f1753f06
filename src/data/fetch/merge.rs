//! Merges parsed days into the wide panels of a data directory: the session list becomes the
//! union of the old sessions and the new ones, the columns the union of the old securities and
//! the new ones; a fetched day overwrites exactly the cells of the securities it lists and
//! nothing else, so old sessions and other feeds' columns are never lost. New files are written
//! to a staging folder first and then renamed into place one by one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use dsl_runtime::wire::PanelData;

use super::{Day, FetchError, Quote};
use crate::data::{feather, DataError, CALENDAR_KEY};

/// How `etl:adj_*` are derived (recorded in the state file and every adjusted panel).
pub const ADJUSTMENT_NOTE: &str = "none: etl:adj_* equal the unadjusted prices; ex-rights/\
dividend feeds (TWSE TWT49U, TPEx exDailyQ) are not applied yet, so returns across ex-dates are \
understated by the dividend";

/// Daily stock panels and the quote field each one holds.
const STOCK_KEYS: [(&str, Field); 11] = [
    ("price:收盤價", Field::Close),
    ("price:開盤價", Field::Open),
    ("price:最高價", Field::High),
    ("price:最低價", Field::Low),
    ("price:成交股數", Field::Volume),
    ("price:成交金額", Field::Value),
    ("price:成交筆數", Field::Trades),
    ("etl:adj_close", Field::Close),
    ("etl:adj_open", Field::Open),
    ("etl:adj_high", Field::High),
    ("etl:adj_low", Field::Low),
];

/// Index panels (finlab keys) and the TWSE index row each one holds.
pub const INDEX_KEYS: [(&str, &str); 2] = [
    (
        "benchmark_return:發行量加權股價報酬指數",
        "發行量加權股價報酬指數",
    ),
    ("taiex_total_index:收盤指數", "發行量加權股價指數"),
];

#[derive(Clone, Copy)]
enum Field {
    Close,
    Open,
    High,
    Low,
    Volume,
    Value,
    Trades,
}

impl Field {
    fn of(self, q: &Quote) -> f64 {
        let p = |v: Option<f64>| v.unwrap_or(f64::NAN);
        match self {
            Field::Close => p(q.close),
            Field::Open => p(q.open),
            Field::High => p(q.high),
            Field::Low => p(q.low),
            Field::Volume => q.volume,
            Field::Value => q.value,
            Field::Trades => q.trades,
        }
    }
}

/// Merges `days` into the panels of `dir`; `source` and `fetched_at` go into every file's
/// metadata (no `dsl_engine.synthetic` key: the data is real).
pub fn merge(
    dir: &Path,
    days: &[(i32, Day)],
    source: &str,
    fetched_at: &str,
) -> Result<(), FetchError> {
    let load = |key: &str| -> Result<Option<PanelData>, DataError> {
        let path = dir.join(feather::file_name(key));
        if path.exists() {
            feather::read_wide(&path).map(Some)
        } else {
            Ok(None)
        }
    };
    // The grid: old sessions ∪ new ones, old securities ∪ new ones.
    let calendar = load(CALENDAR_KEY)?;
    let mut dates: BTreeSet<i32> = calendar.iter().flat_map(|p| p.dates.clone()).collect();
    let mut codes: BTreeSet<String> = calendar.iter().flat_map(|p| p.columns.clone()).collect();
    for (d, day) in days {
        dates.insert(*d);
        codes.extend(day.quotes.iter().map(|q| q.code.clone()));
    }
    let dates: Vec<i32> = dates.into_iter().collect();
    let codes: Vec<String> = codes.into_iter().collect();
    let row: BTreeMap<i32, usize> = dates.iter().enumerate().map(|(i, &d)| (d, i)).collect();
    let col: BTreeMap<&str, usize> = codes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();

    let staging = dir.join(".fetch-staging");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| FetchError::Io {
        path: staging.clone(),
        source: e,
    })?;
    let base = vec![
        ("dsl_engine.source", source.to_string()),
        ("dsl_engine.fetched_at", fetched_at.to_string()),
        ("dsl_engine.generator", super::GENERATOR.to_string()),
        (
            "disclaimer",
            "Real TWSE/TPEx trading information fetched by the user; do not redistribute.".into(),
        ),
    ];
    let mut staged = Vec::new();
    for (key, field) in STOCK_KEYS {
        let old = if key == CALENDAR_KEY {
            calendar.clone()
        } else {
            load(key)?
        };
        let mut panel = reindex(key, old.as_ref(), &dates, &codes);
        let n = dates.len();
        for (d, day) in days {
            let r = row[d];
            for q in &day.quotes {
                let c = col[q.code.as_str()];
                panel.values[c * n + r] = field.of(q);
            }
        }
        let mut meta = base.clone();
        if key.starts_with("etl:adj_") {
            meta.push(("dsl_engine.adjusted", "false".into()));
            meta.push(("dsl_engine.adjustment", ADJUSTMENT_NOTE.into()));
        }
        let path = staging.join(feather::file_name(key));
        feather::write_wide(&path, &panel, &meta)?;
        staged.push(path);
    }
    for (key, name) in INDEX_KEYS {
        let old = load(key)?;
        let has_new = days
            .iter()
            .any(|(_, day)| day.indices.iter().any(|(n, _)| n == name));
        if old.is_none() && !has_new {
            continue;
        }
        let mut panel = reindex(key, old.as_ref(), &dates, &[name.to_string()]);
        for (d, day) in days {
            if let Some((_, v)) = day.indices.iter().find(|(n, _)| n == name) {
                panel.values[row[d]] = *v;
            }
        }
        let path = staging.join(feather::file_name(key));
        feather::write_wide(&path, &panel, &base)?;
        staged.push(path);
    }
    for path in &staged {
        if let Some(name) = path.file_name() {
            let dest = dir.join(name);
            std::fs::rename(path, &dest).map_err(|e| FetchError::Io {
                path: dest,
                source: e,
            })?;
        }
    }
    let _ = std::fs::remove_dir_all(&staging);
    Ok(())
}

/// `old` (if any) on the grid `dates` × `columns`, NaN where it has no value.
fn reindex(key: &str, old: Option<&PanelData>, dates: &[i32], columns: &[String]) -> PanelData {
    let n = dates.len();
    let mut values = vec![f64::NAN; n * columns.len()];
    if let Some(old) = old {
        let row: BTreeMap<i32, usize> = dates.iter().enumerate().map(|(i, &d)| (d, i)).collect();
        let col: BTreeMap<&str, usize> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i))
            .collect();
        let old_n = old.dates.len();
        for (oc, name) in old.columns.iter().enumerate() {
            let Some(&c) = col.get(name.as_str()) else {
                continue;
            };
            for (or, d) in old.dates.iter().enumerate() {
                if let Some(&r) = row.get(d) {
                    values[c * n + r] = old.values[oc * old_n + or];
                }
            }
        }
    }
    PanelData {
        name: key.to_string(),
        dates: dates.to_vec(),
        columns: columns.to_vec(),
        values,
    }
}

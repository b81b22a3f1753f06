//! Merges parsed days into the wide panels of a data directory: the session list becomes the
//! union of the old sessions and the new ones, the columns the union of the old securities and
//! the new ones; a fetched day overwrites exactly the cells of the securities it lists and
//! nothing else, so old sessions and other feeds' columns are never lost. New files are written
//! to a staging folder first and then renamed into place one by one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use dsl_runtime::wire::PanelData;

use super::{Action, Cell, Day, FetchError, Quote};
use crate::data::{feather, DataError, CALENDAR_KEY};

/// How `etl:adj_*` are derived when no ex-rights events cover the prices (recorded in the state
/// file and every adjusted panel).
pub const ADJUSTMENT_NOTE: &str = "none: etl:adj_* equal the unadjusted prices; no ex-rights/\
dividend events (TWSE TWT49U, TPEx exDailyQ) cover them yet, so returns across ex-dates are \
understated by the dividend";

/// Daily stock panels and the quote field each one holds (the unadjusted prices; `etl:adj_*`
/// are derived from them by [`rebuild_adjusted`]).
const STOCK_KEYS: [(&str, Field); 7] = [
    ("price:收盤價", Field::Close),
    ("price:開盤價", Field::Open),
    ("price:最高價", Field::High),
    ("price:最低價", Field::Low),
    ("price:成交股數", Field::Volume),
    ("price:成交金額", Field::Value),
    ("price:成交筆數", Field::Trades),
];

/// The adjusted panels and the raw panel each one is derived from.
pub const ADJUSTED: [(&str, &str); 4] = [
    ("etl:adj_close", "price:收盤價"),
    ("etl:adj_open", "price:開盤價"),
    ("etl:adj_high", "price:最高價"),
    ("etl:adj_low", "price:最低價"),
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
        // A zero or negative price is no price (a no-trade placeholder), never a value.
        let p = |v: Option<f64>| v.filter(|x| *x > 0.0).unwrap_or(f64::NAN);
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
    let staging = Staging::new(dir)?;
    let base = metadata(source, fetched_at);
    if days
        .iter()
        .any(|(_, d)| !d.quotes.is_empty() || !d.indices.is_empty())
    {
        merge_quotes(dir, days, &base, &staging)?;
    }
    merge_cells(dir, days, &base, &staging)?;
    staging.commit()
}

fn metadata(source: &str, fetched_at: &str) -> Vec<(&'static str, String)> {
    vec![
        ("dsl_engine.source", source.to_string()),
        ("dsl_engine.fetched_at", fetched_at.to_string()),
        ("dsl_engine.generator", super::GENERATOR.to_string()),
        (
            "disclaimer",
            "Real TWSE/TPEx trading information fetched by the user; do not redistribute.".into(),
        ),
    ]
}

fn load(dir: &Path, key: &str) -> Result<Option<PanelData>, DataError> {
    let path = dir.join(feather::file_name(key));
    if path.exists() {
        feather::read_wide(&path).map(Some)
    } else {
        Ok(None)
    }
}

/// New files written to a staging folder, then renamed into place one by one.
struct Staging {
    dir: std::path::PathBuf,
    target: std::path::PathBuf,
    files: std::cell::RefCell<Vec<std::path::PathBuf>>,
}

impl Staging {
    fn new(target: &Path) -> Result<Staging, FetchError> {
        let dir = target.join(".fetch-staging");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| FetchError::Io {
            path: dir.clone(),
            source: e,
        })?;
        Ok(Staging {
            dir,
            target: target.to_path_buf(),
            files: Default::default(),
        })
    }

    /// Stages `panel`; its `dsl_engine.source` lists every feed that wrote to it so far.
    fn write(&self, panel: &PanelData, meta: &[(&str, String)]) -> Result<(), FetchError> {
        let path = self.dir.join(feather::file_name(&panel.name));
        let old = feather::read_shape(&self.target.join(feather::file_name(&panel.name)))
            .ok()
            .and_then(|s| s.metadata.get("dsl_engine.source").cloned());
        let mut meta = meta.to_vec();
        if let (Some(old), Some((_, new))) = (
            old,
            meta.iter_mut().find(|(k, _)| *k == "dsl_engine.source"),
        ) {
            let mut all: BTreeSet<String> = old.split("; ").map(str::to_string).collect();
            all.insert(new.clone());
            *new = all.into_iter().collect::<Vec<_>>().join("; ");
        }
        feather::write_wide(&path, panel, &meta)?;
        self.files.borrow_mut().push(path);
        Ok(())
    }

    fn commit(self) -> Result<(), FetchError> {
        for path in self.files.borrow().iter() {
            if let Some(name) = path.file_name() {
                let dest = self.target.join(name);
                std::fs::rename(path, &dest).map_err(|e| FetchError::Io {
                    path: dest,
                    source: e,
                })?;
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        Ok(())
    }
}

fn merge_quotes(
    dir: &Path,
    days: &[(i32, Day)],
    base: &[(&str, String)],
    staging: &Staging,
) -> Result<(), FetchError> {
    // The grid: old sessions ∪ new ones, old securities ∪ new ones (older directories kept the
    // grid in `etl:adj_close` only).
    let calendar = match load(dir, "price:收盤價")? {
        Some(p) => Some(p),
        None => load(dir, CALENDAR_KEY)?,
    };
    let mut dates: BTreeSet<i32> = calendar.iter().flat_map(|p| p.dates.clone()).collect();
    let mut codes: BTreeSet<String> = calendar.iter().flat_map(|p| p.columns.clone()).collect();
    for (d, day) in days {
        if !day.quotes.is_empty() {
            dates.insert(*d);
        }
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
    for (key, field) in STOCK_KEYS {
        let old = load(dir, key)?;
        let mut panel = reindex(key, old.as_ref(), &dates, &codes);
        let n = dates.len();
        for (d, day) in days {
            let Some(&r) = row.get(d) else { continue };
            for q in &day.quotes {
                panel.values[col[q.code.as_str()] * n + r] = field.of(q);
            }
        }
        staging.write(&panel, base)?;
    }
    for (key, name) in INDEX_KEYS {
        let old = load(dir, key)?;
        let has_new = days
            .iter()
            .any(|(_, day)| day.indices.iter().any(|(n, _)| n == name));
        if old.is_none() && !has_new {
            continue;
        }
        let mut panel = reindex(key, old.as_ref(), &dates, &[name.to_string()]);
        for (d, day) in days {
            if let Some((_, v)) = day.indices.iter().find(|(n, _)| n == name) {
                if let Some(&r) = row.get(d) {
                    panel.values[r] = *v;
                }
            }
        }
        staging.write(&panel, base)?;
    }
    Ok(())
}

/// Merges the other datasets' cells, each key on its own grid (its old dates and securities ∪
/// the new ones). A fetched cell replaces the old one, except monthly revenue: the first
/// published value is kept (point in time).
fn merge_cells(
    dir: &Path,
    days: &[(i32, Day)],
    base: &[(&str, String)],
    staging: &Staging,
) -> Result<(), FetchError> {
    let mut by_key: BTreeMap<&str, Vec<&Cell>> = BTreeMap::new();
    for (_, day) in days {
        for c in &day.cells {
            by_key.entry(c.key).or_default().push(c);
        }
    }
    for (key, cells) in by_key {
        let old = load(dir, key)?;
        let mut dates: BTreeSet<i32> = old.iter().flat_map(|p| p.dates.clone()).collect();
        let mut codes: BTreeSet<String> = old.iter().flat_map(|p| p.columns.clone()).collect();
        dates.extend(cells.iter().map(|c| c.date));
        codes.extend(cells.iter().map(|c| c.code.clone()));
        let dates: Vec<i32> = dates.into_iter().collect();
        let codes: Vec<String> = codes.into_iter().collect();
        let mut panel = reindex(key, old.as_ref(), &dates, &codes);
        let n = dates.len();
        let first_wins = key.starts_with("monthly_revenue:");
        for c in cells {
            let (Ok(r), Ok(k)) = (dates.binary_search(&c.date), codes.binary_search(&c.code))
            else {
                continue;
            };
            let cell = &mut panel.values[k * n + r];
            if !first_wins || cell.is_nan() {
                *cell = c.value;
            }
        }
        staging.write(&panel, base)?;
    }
    Ok(())
}

/// Writes `etl:adj_*` from the raw prices and the stored events; `note` says how far the
/// events cover the prices (`adjusted`: `true`, `partial` or `false`).
pub fn rebuild_adjusted(
    dir: &Path,
    events: &[Action],
    adjusted: &str,
    note: &str,
    source: &str,
    fetched_at: &str,
) -> Result<(), FetchError> {
    let staging = Staging::new(dir)?;
    let mut meta = metadata(source, fetched_at);
    meta.push(("dsl_engine.adjusted", adjusted.to_string()));
    meta.push(("dsl_engine.adjustment", note.to_string()));
    for (adj, raw) in ADJUSTED {
        let Some(raw) = load(dir, raw)? else { continue };
        let mut panel = super::actions::adjust(&raw, events);
        panel.name = adj.to_string();
        staging.write(&panel, &meta)?;
    }
    staging.commit()
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

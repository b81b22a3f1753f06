//! Ex-rights and ex-dividend events and the backward adjustment of prices
//! (`docs/data.md` §6.5). TWSE `TWT49U` and TPEx `exDailyQ` list, per ex-date, the close before
//! it (除權息前收盤價) and the exchange's reference price (除權息參考價), which already accounts
//! for the cash dividend, free shares and rights issues:
//! reference = (previous close − cash + rights price × rights ratio) / (1 + free-share ratio +
//! rights ratio). The factor of an event is reference / previous close; every price before the
//! ex-date is multiplied by the product of the factors of the later events, so the latest price
//! equals the raw one and a return across an ex-date is the holder's return.

use std::collections::BTreeMap;
use std::path::Path;

use dsl_runtime::wire::PanelData;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::parse::{parse_number, parse_tw_date};
use super::table::{self, require};
use super::{Day, FetchError, ParseError, Parsed};
use crate::calendar;

/// First date TWT49U answers for.
pub const TWSE_EARLIEST: (i32, u32, u32) = (2003, 5, 5);
/// Where the events are stored, next to the manifest.
pub const FILE: &str = "dsl-engine-actions.json";

/// One ex-rights/dividend event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub code: String,
    /// The ex-date, `YYYY-MM-DD`.
    pub date: String,
    /// The close before the ex-date (NT$).
    pub prev_close: f64,
    /// The ex-rights reference price (NT$).
    pub reference: f64,
    /// `息` (cash), `權` (shares or rights), `權息` (both), as the feed writes it.
    pub kind: String,
}

impl Action {
    /// The adjustment factor: reference / previous close.
    pub fn factor(&self) -> f64 {
        self.reference / self.prev_close
    }
}

fn yyyymmdd(d: i32) -> String {
    let (y, m, dd) = calendar::civil_from_days(d);
    format!("{y:04}{m:02}{dd:02}")
}

/// TWT49U for `start ..= end`.
pub fn twse_path(start: i32, end: i32) -> String {
    format!(
        "/rwd/zh/exRight/TWT49U?startDate={}&endDate={}&response=json",
        yyyymmdd(start),
        yyyymmdd(end)
    )
}

/// exDailyQ for `start ..= end`.
pub fn tpex_path(start: i32, end: i32) -> String {
    let slash = |d: i32| {
        let (y, m, dd) = calendar::civil_from_days(d);
        format!("{y:04}/{m:02}/{dd:02}")
    };
    format!(
        "/www/zh-tw/bulletin/exDailyQ?startDate={}&endDate={}&response=json",
        slash(start),
        slash(end)
    )
}

/// Parses a TWT49U answer for `start ..= end`.
pub fn parse_twse(body: &str, start: i32, end: i32) -> Result<Parsed, ParseError> {
    let v = super::json(body)?;
    let stat = v.get("stat").and_then(Value::as_str).unwrap_or("");
    if stat.contains("沒有符合條件") {
        return Ok(Parsed::Day(Day::default()));
    }
    if stat != "OK" {
        return Err(ParseError::Format(format!("unexpected stat `{stat}`")));
    }
    events(&v, start, end, &["資料日期"], &["股票代號"])
}

/// Parses an exDailyQ answer for `start ..= end`.
pub fn parse_tpex(body: &str, start: i32, end: i32) -> Result<Parsed, ParseError> {
    let v = super::json(body)?;
    let stat = v.get("stat").and_then(Value::as_str).unwrap_or("");
    if !stat.eq_ignore_ascii_case("ok") {
        return Err(ParseError::Format(format!("unexpected stat `{stat}`")));
    }
    events(&v, start, end, &["除權息日期"], &["代號", "股票代號"])
}

fn events(
    v: &Value,
    start: i32,
    end: i32,
    date_field: &[&str],
    code_field: &[&str],
) -> Result<Parsed, ParseError> {
    let tables = table::tables(v);
    let Some(t) = table::with_fields(&tables, &[code_field, &["除權息參考價"]]) else {
        if tables.iter().all(|t| t.data.is_empty()) {
            return Ok(Parsed::Day(Day::default()));
        }
        return Err(ParseError::Format(
            "no table with `除權息參考價` (the ex-rights results)".into(),
        ));
    };
    let f = &t.fields;
    let col = [
        require(f, date_field)?,
        require(f, code_field)?,
        require(f, &["除權息前收盤價"])?,
        require(f, &["除權息參考價"])?,
        require(f, &["權/息"])?,
    ];
    let mut day = Day::default();
    for (i, row) in t.data.iter().enumerate() {
        let cells = super::cells(row);
        let cell = |k: usize| cells.get(col[k]).map_or("", |c| c.trim());
        let code = cell(1).to_string();
        let parsed = (|| {
            let date = parse_tw_date(cell(0)).ok_or(format!("date `{}`", cell(0)))?;
            if !(start..=end).contains(&date) {
                return Err(format!("date {} outside the range asked", cell(0)));
            }
            let prev = parse_number(cell(2)).map_err(|_| format!("close `{}`", cell(2)))?;
            let reference =
                parse_number(cell(3)).map_err(|_| format!("reference `{}`", cell(3)))?;
            if !(prev > 0.0 && reference > 0.0) {
                return Err(format!("prices {prev} / {reference}"));
            }
            Ok(Action {
                code: code.clone(),
                date: calendar::format(date),
                prev_close: prev,
                reference,
                kind: cell(4).to_string(),
            })
        })();
        match parsed {
            Ok(a) if !a.code.is_empty() => day.actions.push(a),
            Ok(_) => day
                .warnings
                .push(format!("event row {}: empty code", i + 1)),
            Err(e) => day
                .warnings
                .push(format!("event row {} ({code}): bad {e}", i + 1)),
        }
    }
    Ok(Parsed::Day(day))
}

/// The stored events (empty when there are none yet).
pub fn read(dir: &Path) -> Result<Vec<Action>, FetchError> {
    let path = dir.join(FILE);
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| {
            FetchError::Data(crate::data::DataError::Format {
                path,
                message: format!("not an events file ({e})"),
            })
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(FetchError::Io { path, source: e }),
    }
}

/// Adds `new` to the stored events (one per security and ex-date; a later answer replaces an
/// earlier one) and writes them back, sorted.
pub fn store(dir: &Path, new: &[Action]) -> Result<Vec<Action>, FetchError> {
    let mut all: BTreeMap<(String, String), Action> = read(dir)?
        .into_iter()
        .map(|a| ((a.code.clone(), a.date.clone()), a))
        .collect();
    for a in new {
        all.insert((a.code.clone(), a.date.clone()), a.clone());
    }
    let events: Vec<Action> = all.into_values().collect();
    let json = serde_json::to_vec_pretty(&events).unwrap_or_default();
    super::run::write_atomic(&dir.join(FILE), &json)?;
    Ok(events)
}

/// Backward-adjusts `raw` (dates × securities) with `events`: each price is multiplied by the
/// factors of the events of its security dated after it, applied from the latest back.
pub fn adjust(raw: &PanelData, events: &[Action]) -> PanelData {
    let mut by_code: BTreeMap<&str, Vec<(i32, f64)>> = BTreeMap::new();
    for a in events {
        if let Some(d) = calendar::parse(&a.date) {
            by_code
                .entry(a.code.as_str())
                .or_default()
                .push((d, a.factor()));
        }
    }
    let n = raw.dates.len();
    let mut values = raw.values.clone();
    for (c, code) in raw.columns.iter().enumerate() {
        let Some(ev) = by_code.get_mut(code.as_str()) else {
            continue;
        };
        ev.sort_by_key(|&(d, _)| d);
        let mut pending = ev.iter().rev().peekable();
        let mut factor = 1.0;
        let column = &mut values[c * n..(c + 1) * n];
        for t in (0..n).rev() {
            while let Some(&(_, f)) = pending.next_if(|&&(d, _)| d > raw.dates[t]) {
                factor *= f;
            }
            column[t] = raw.values[c * n + t] * factor;
        }
    }
    PanelData {
        name: raw.name.clone(),
        dates: raw.dates.clone(),
        columns: raw.columns.clone(),
        values,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::days_from_civil;

    fn action(code: &str, date: &str, prev: f64, reference: f64) -> Action {
        Action {
            code: code.into(),
            date: date.into(),
            prev_close: prev,
            reference,
            kind: "息".into(),
        }
    }

    /// Cash dividend, stock dividend and rights issue, computed by hand (the worked example of
    /// `docs/data.md` §6.5).
    #[test]
    fn hand_computed_adjustment() {
        let d = |dd| days_from_civil(2024, 7, dd);
        let raw = PanelData {
            name: "price:收盤價".into(),
            dates: (1..=5).map(d).collect(),
            columns: vec!["1111".into()],
            values: vec![100.0, 96.0, 97.0, 89.0, 87.0],
        };
        let events = [
            // 07-02: cash NT$5 after a close of 100 → reference 95.
            action("1111", "2024-07-02", 100.0, 95.0),
            // 07-04: 100 free shares per 1,000 after a close of 97 → 97 / 1.1 = 88.18.
            action("1111", "2024-07-04", 97.0, 88.18),
            // 07-05: rights 10 % at NT$60 after a close of 89 → (89 + 6) / 1.1 = 86.36.
            action("1111", "2024-07-05", 89.0, 86.36),
        ];
        let adj = adjust(&raw, &events);
        let want = [83.8001, 84.6822, 85.5643, 86.36, 87.0];
        for (a, w) in adj.values.iter().zip(want) {
            assert!((a - w).abs() < 5e-5, "{a} vs {w}");
        }
        let (f2, f4, f5) = (95.0 / 100.0, 88.18 / 97.0, 86.36 / 89.0);
        assert_eq!(adj.values[0], 100.0 * (f5 * f4 * f2));
        assert_eq!(adj.values[3], 89.0 * f5);
        // Across the cash ex-date the return is close / reference − 1 = 96 / 95 − 1.
        assert!((adj.values[1] / adj.values[0] - 96.0 / 95.0).abs() < 1e-12);
        assert_eq!(adj.values[4], 87.0, "the latest price is the raw one");
    }
}

//! Whole-market daily feeds beyond the quotes (`docs/data.md` §6.2): valuation (TWSE
//! `BWIBBU_d`, TPEx `peQryDate`: P/E, P/B, dividend yield; `-`, `N/A`, `null` = not computed),
//! institutional investors (TWSE `T86`, TPEx `insti/dailyTrade`: net buys, and the foreign and
//! trust buys and sells, in shares) and margin (TWSE `MI_MARGN`, TPEx `margin/balance`: balances,
//! margin buys and sells, short sales and covers, in lots; a field labelled in shares is
//! converted). Each answer gives one session's values for every security; a field is found by
//! its label (old and new spellings), never by position.

use serde_json::Value;

use super::parse::{parse_tw_date, BadCell};
use super::table::{self, find, optional_number, require, Table};
use super::{Cell, Day, ParseError, Parsed};
use crate::calendar;

pub const PE: &str = "price_earning_ratio:本益比";
pub const PB: &str = "price_earning_ratio:股價淨值比";
pub const YIELD: &str = "price_earning_ratio:殖利率(%)";
pub const FOREIGN: &str =
    "institutional_investors_trading_summary:外陸資買賣超股數(不含外資自營商)";
pub const TRUST: &str = "institutional_investors_trading_summary:投信買賣超股數";
pub const DEALER: &str = "institutional_investors_trading_summary:自營商買賣超股數(自行買賣)";
pub const HEDGE: &str = "institutional_investors_trading_summary:自營商買賣超股數(避險)";
pub const FOREIGN_BUY: &str =
    "institutional_investors_trading_summary:外陸資買進股數(不含外資自營商)";
pub const FOREIGN_SELL: &str =
    "institutional_investors_trading_summary:外陸資賣出股數(不含外資自營商)";
pub const TRUST_BUY: &str = "institutional_investors_trading_summary:投信買進股數";
pub const TRUST_SELL: &str = "institutional_investors_trading_summary:投信賣出股數";
pub const MARGIN_BUY: &str = "margin_transactions:融資買進";
pub const MARGIN_SELL: &str = "margin_transactions:融資賣出";
pub const SHORT_SELL: &str = "margin_transactions:融券賣出";
pub const SHORT_BUY: &str = "margin_transactions:融券買進";
pub const MARGIN: &str = "margin_transactions:融資今日餘額";
pub const SHORT: &str = "margin_transactions:融券今日餘額";
pub const MARGIN_USE: &str = "margin_transactions:融資使用率";
pub const SHORT_USE: &str = "margin_transactions:融券使用率";

/// A TWSE `rwd/zh/<what>?date=YYYYMMDD&selectType=<select>` request.
pub fn twse_path(what: &str, select: &str, date: i32) -> String {
    let (y, m, d) = calendar::civil_from_days(date);
    format!("/rwd/zh/{what}?date={y:04}{m:02}{d:02}&selectType={select}&response=json")
}

/// A TPEx `www/zh-tw/<what>?<extra>date=YYYY/MM/DD` request.
pub fn tpex_path(what: &str, extra: &str, date: i32) -> String {
    let (y, m, d) = calendar::civil_from_days(date);
    format!("/www/zh-tw/{what}?{extra}date={y:04}/{m:02}/{d:02}&response=json")
}

const CODE: &[&str] = &["證券代號", "股票代號", "代號"];

/// The answer's table with `wanted`, after the status and date checks; `None` for a closed day.
fn table_of<'a>(
    v: &'a Value,
    date: i32,
    wanted: &[&[&str]],
) -> Result<Option<Vec<Table<'a>>>, ParseError> {
    let stat = v.get("stat").and_then(Value::as_str).unwrap_or("");
    if stat.contains("沒有符合條件") {
        return Ok(None);
    }
    if !stat.eq_ignore_ascii_case("ok") {
        return Err(ParseError::Format(if stat.is_empty() {
            "no `stat` field".into()
        } else {
            format!("unexpected stat `{stat}`")
        }));
    }
    if let Some(d) = v.get("date").and_then(Value::as_str) {
        if parse_tw_date(d) != Some(date) {
            return Err(ParseError::Format(format!(
                "the answer is for {d}, not the requested {}",
                calendar::format(date)
            )));
        }
    }
    let tables = table::tables(v);
    if tables.iter().all(|t| t.data.is_empty()) {
        return Ok(None);
    }
    if table::with_fields(&tables, wanted).is_none() {
        let fields: Vec<&Vec<&str>> = tables.iter().map(|t| &t.fields).collect();
        return Err(ParseError::Format(format!(
            "the header changed: no table with `{}` (fields: {fields:?})",
            wanted.iter().map(|w| w[0]).collect::<Vec<_>>().join("`, `")
        )));
    }
    Ok(Some(tables))
}

/// Reads `(key, column, scale)` values of every row of the table with `wanted`.
fn read(
    body: &str,
    date: i32,
    wanted: &[&[&str]],
    pick: impl Fn(&Table<'_>) -> Result<Vec<(&'static str, usize, f64)>, ParseError>,
) -> Result<Parsed, ParseError> {
    let v = super::json(body)?;
    let Some(tables) = table_of(&v, date, wanted)? else {
        return Ok(Parsed::Closed);
    };
    let Some(t) = table::with_fields(&tables, wanted) else {
        return Ok(Parsed::Closed);
    };
    if let Some(d) = t.date.and_then(parse_tw_date) {
        if d != date {
            return Err(ParseError::Format(format!(
                "a table is for {}, not the requested {}",
                calendar::format(d),
                calendar::format(date)
            )));
        }
    }
    let code_col = require(&t.fields, CODE)?;
    let columns = pick(t)?;
    let mut day = Day::default();
    for (i, row) in t.data.iter().enumerate() {
        let cells = super::cells(row);
        if cells.len() != t.fields.len() {
            day.warnings.push(format!(
                "row {}: {} cells, the header has {}",
                i + 1,
                cells.len(),
                t.fields.len()
            ));
            continue;
        }
        let code = cells[code_col].trim().to_string();
        if code.is_empty() {
            continue;
        }
        let mut values = Vec::new();
        let mut bad = None;
        for &(key, c, scale) in &columns {
            match optional_number(&cells[c]) {
                Ok(Some(v)) => values.push((key, v * scale)),
                // Not computed: the security is listed, its value missing.
                Ok(None) => values.push((key, f64::NAN)),
                Err(BadCell(cell)) => bad = Some(format!("{code}: `{}` = `{cell}`", t.fields[c])),
            }
        }
        match bad {
            Some(b) => day
                .warnings
                .push(format!("row {}: {b} is not a number", i + 1)),
            None => day
                .cells
                .extend(values.into_iter().map(|(key, value)| Cell {
                    key,
                    date,
                    code: code.clone(),
                    value,
                })),
        }
    }
    if day.cells.is_empty() && !day.warnings.is_empty() {
        return Err(ParseError::Format(format!(
            "none of the {} rows could be read ({})",
            t.data.len(),
            day.warnings[0]
        )));
    }
    Ok(Parsed::Day(day))
}

/// `BWIBBU_d`: 本益比, 股價淨值比, 殖利率(%).
pub fn twse_valuation(body: &str, date: i32) -> Result<Parsed, ParseError> {
    valuation(body, date)
}

/// `peQryDate`: the same three ratios.
pub fn tpex_valuation(body: &str, date: i32) -> Result<Parsed, ParseError> {
    valuation(body, date)
}

fn valuation(body: &str, date: i32) -> Result<Parsed, ParseError> {
    let wanted: &[&[&str]] = &[CODE, &["本益比"], &["股價淨值比"], &["殖利率(%)"]];
    read(body, date, wanted, |t| {
        Ok(vec![
            (PE, require(&t.fields, &["本益比"])?, 1.0),
            (PB, require(&t.fields, &["股價淨值比"])?, 1.0),
            (YIELD, require(&t.fields, &["殖利率(%)"])?, 1.0),
        ])
    })
    .map(drop_zero_pe)
}

/// TPEx writes `0` for a P/E it did not compute (losses); finlab has NaN there.
fn drop_zero_pe(p: Parsed) -> Parsed {
    match p {
        Parsed::Day(mut d) => {
            for c in d.cells.iter_mut().filter(|c| c.key == PE && c.value == 0.0) {
                c.value = f64::NAN;
            }
            Parsed::Day(d)
        }
        other => other,
    }
}

/// Net-buy labels: the current spelling first, then older ones.
const FOREIGN_NET: &[&str] = &[
    "外陸資買賣超股數(不含外資自營商)",
    "外資及陸資(不含外資自營商)-買賣超股數",
    "外資買賣超股數",
];
const TRUST_NET: &[&str] = &["投信買賣超股數", "投信-買賣超股數"];
const DEALER_NET: &[&str] = &["自營商買賣超股數(自行買賣)", "自營商(自行買賣)-買賣超股數"];
const HEDGE_NET: &[&str] = &["自營商買賣超股數(避險)", "自營商(避險)-買賣超股數"];
/// Gross foreign and trust flows (shares), where the header has them.
const FLOWS: [(&str, &[&str]); 4] = [
    (
        FOREIGN_BUY,
        &[
            "外陸資買進股數(不含外資自營商)",
            "外資及陸資(不含外資自營商)-買進股數",
            "外資買進股數",
        ],
    ),
    (
        FOREIGN_SELL,
        &[
            "外陸資賣出股數(不含外資自營商)",
            "外資及陸資(不含外資自營商)-賣出股數",
            "外資賣出股數",
        ],
    ),
    (TRUST_BUY, &["投信買進股數", "投信-買進股數"]),
    (TRUST_SELL, &["投信賣出股數", "投信-賣出股數"]),
];

/// `T86`: net buys in shares.
pub fn twse_chips(body: &str, date: i32) -> Result<Parsed, ParseError> {
    chips(body, date)
}

/// `insti/dailyTrade`: net buys in shares.
pub fn tpex_chips(body: &str, date: i32) -> Result<Parsed, ParseError> {
    chips(body, date)
}

fn chips(body: &str, date: i32) -> Result<Parsed, ParseError> {
    let wanted: &[&[&str]] = &[CODE, FOREIGN_NET, TRUST_NET];
    read(body, date, wanted, |t| {
        let mut cols = vec![
            (FOREIGN, require(&t.fields, FOREIGN_NET)?, 1.0),
            (TRUST, require(&t.fields, TRUST_NET)?, 1.0),
        ];
        // The dealer split (own account / hedging) exists since 2014-12-01.
        if let (Some(d), Some(h)) = (find(&t.fields, DEALER_NET), find(&t.fields, HEDGE_NET)) {
            cols.push((DEALER, d, 1.0));
            cols.push((HEDGE, h, 1.0));
        }
        for (key, names) in FLOWS {
            if let Some(c) = find(&t.fields, names) {
                cols.push((key, c, 1.0));
            }
        }
        Ok(cols)
    })
}

/// `MI_MARGN`: the per-stock table repeats `買進`, `賣出`, `今日餘額` and `次一營業日限額` under
/// the groups 融資 and 融券 (first = margin, second = short), in lots (`單位：張`, or a `(股)`
/// label: shares, divided by 1,000). Utilisation = balance / the limit, in %. Under 融券, `賣出`
/// opens a short and `買進` covers one.
pub fn twse_margin(body: &str, date: i32) -> Result<Parsed, ParseError> {
    let wanted: &[&[&str]] = &[CODE, &["今日餘額", "融資今日餘額"]];
    let parsed = read(body, date, wanted, |t| {
        let all = |name: &str| -> Vec<usize> {
            t.fields
                .iter()
                .enumerate()
                .filter(|(_, f)| {
                    table::norm(f)
                        .trim_end_matches("(張)")
                        .trim_end_matches("(股)")
                        == name
                })
                .map(|(i, _)| i)
                .collect()
        };
        let balance = all("今日餘額");
        let limit = all("次一營業日限額");
        let (m, s) = match (balance.as_slice(), find(&t.fields, &["融資今日餘額"])) {
            ([m, s], _) => (*m, *s),
            (_, Some(m)) => (m, require(&t.fields, &["融券今日餘額"])?),
            _ => {
                return Err(ParseError::Format(
                    "the header changed: no 融資/融券 `今日餘額` pair".into(),
                ))
            }
        };
        let scale = |c: usize| lots(t, c);
        let mut cols = vec![(MARGIN, m, scale(m)?), (SHORT, s, scale(s)?)];
        if let [ml, sl] = limit.as_slice() {
            // Limits in the balances' unit, so the ratio is unit-free.
            cols.push((MARGIN_USE, *ml, scale(m)?));
            cols.push((SHORT_USE, *sl, scale(s)?));
        }
        if let ([mb, sb], [ms, ss]) = (all("買進").as_slice(), all("賣出").as_slice()) {
            for (key, c) in [
                (MARGIN_BUY, *mb),
                (MARGIN_SELL, *ms),
                (SHORT_BUY, *sb),
                (SHORT_SELL, *ss),
            ] {
                cols.push((key, c, scale(c)?));
            }
        }
        Ok(cols)
    })?;
    Ok(utilisation(parsed))
}

/// `margin/balance`: `資餘額`, `券餘額`, `資使用率`, `券使用率`, in lots.
pub fn tpex_margin(body: &str, date: i32) -> Result<Parsed, ParseError> {
    let wanted: &[&[&str]] = &[CODE, &["資餘額", "資餘額(張)", "資餘額(股)"]];
    read(body, date, wanted, |t| {
        let m = require(&t.fields, &["資餘額", "資餘額(張)", "資餘額(股)"])?;
        let s = require(&t.fields, &["券餘額", "券餘額(張)", "券餘額(股)"])?;
        let mut flows = Vec::new();
        for (key, names) in [
            (MARGIN_BUY, ["資買", "資買(張)", "資買(股)"]),
            (MARGIN_SELL, ["資賣", "資賣(張)", "資賣(股)"]),
            (SHORT_SELL, ["券賣", "券賣(張)", "券賣(股)"]),
            (SHORT_BUY, ["券買", "券買(張)", "券買(股)"]),
        ] {
            if let Some(c) = find(&t.fields, &names) {
                flows.push((key, c, lots(t, c)?));
            }
        }
        let mut cols = vec![
            (MARGIN, m, lots(t, m)?),
            (SHORT, s, lots(t, s)?),
            (
                MARGIN_USE,
                require(&t.fields, &["資使用率", "資使用率(%)"])?,
                1.0,
            ),
            (
                SHORT_USE,
                require(&t.fields, &["券使用率", "券使用率(%)"])?,
                1.0,
            ),
        ];
        cols.extend(flows);
        Ok(cols)
    })
}

/// The factor from a balance column's unit to lots: 1 for lots, 1/1,000 for shares. The unit
/// comes from the label (`(張)`, `(股)`) or the table's note (`單位：張` / `單位：股`).
fn lots(t: &Table<'_>, col: usize) -> Result<f64, ParseError> {
    let label = table::norm(t.fields[col]);
    let note = t.hints.unwrap_or("");
    if label.ends_with("(股)") || note.contains("單位：股") {
        Ok(1.0 / 1000.0)
    } else if label.ends_with("(張)") || note.contains("單位：張") || note.is_empty() {
        Ok(1.0)
    } else {
        Err(ParseError::Format(format!(
            "the margin table's units changed: `{note}`"
        )))
    }
}

/// MI_MARGN gives limits, not utilisation: replace each limit cell by balance / limit × 100
/// (no value when the limit is 0).
fn utilisation(p: Parsed) -> Parsed {
    let Parsed::Day(mut day) = p else { return p };
    let mut balance = std::collections::HashMap::new();
    for c in &day.cells {
        if c.key == MARGIN || c.key == SHORT {
            balance.insert((c.key, c.code.clone()), c.value);
        }
    }
    day.cells.retain_mut(|c| {
        let of = match c.key {
            MARGIN_USE => MARGIN,
            SHORT_USE => SHORT,
            _ => return true,
        };
        c.value = match balance.get(&(of, c.code.clone())) {
            Some(&b) if c.value > 0.0 => b / c.value * 100.0,
            _ => f64::NAN,
        };
        true
    });
    Parsed::Day(day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::days_from_civil;

    const DATE: &str = r#""stat":"OK","date":"20240105""#;

    fn day(p: Result<Parsed, ParseError>) -> Day {
        match p {
            Ok(Parsed::Day(d)) => d,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn format_changes_are_errors_not_guesses() {
        let d = days_from_civil(2024, 1, 5);
        // A renamed column: no guessing which one holds the net buys.
        let renamed = format!(
            r#"{{{DATE},"fields":["證券代號","外陸資買賣超股數(不含外資自營商)","投信淨買股數"],"data":[["1234","1","2"]]}}"#
        );
        assert!(
            matches!(twse_chips(&renamed, d), Err(ParseError::Format(m)) if m.contains("投信"))
        );
        // Another day's answer.
        let other = r#"{"stat":"OK","date":"20240104","fields":["證券代號","本益比","股價淨值比","殖利率(%)"],"data":[["1234","1","2","3"]]}"#;
        assert!(
            matches!(twse_valuation(other, d), Err(ParseError::Format(m)) if m.contains("20240104"))
        );
        // Margin balances in an unknown unit.
        let margin = format!(
            r#"{{{DATE},"tables":[{{"hints":"單位：千股","fields":["代號","今日餘額","次一營業日限額","今日餘額","次一營業日限額"],"data":[["1234","1","2","3","4"]]}}]}}"#
        );
        assert!(
            matches!(twse_margin(&margin, d), Err(ParseError::Format(m)) if m.contains("units"))
        );
        // Closed: TWSE's "no data" and TPEx's empty table.
        let closed = r#"{"stat":"很抱歉，沒有符合條件的資料!"}"#;
        assert_eq!(twse_valuation(closed, d), Ok(Parsed::Closed));
        let empty = r#"{"stat":"ok","date":"20240105","tables":[{"fields":["代號"],"data":[]}]}"#;
        assert_eq!(tpex_margin(empty, d), Ok(Parsed::Closed));
        // Separators and signs in flows; a bad cell skips its row with a warning.
        let flows = format!(
            r#"{{{DATE},"fields":["證券代號","外陸資買賣超股數(不含外資自營商)","投信買賣超股數"],"data":[["1234","-1,234,000","+5,000"],["5678","1.2.3","0"]]}}"#
        );
        let got = day(twse_chips(&flows, d));
        assert_eq!(got.cells[0].value, -1_234_000.0);
        assert_eq!(got.cells[1].value, 5_000.0);
        assert_eq!(got.warnings.len(), 1, "{:?}", got.warnings);
    }
}

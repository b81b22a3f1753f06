//! TWSE whole-market daily quotes: `rwd/zh/afterTrading/MI_INDEX?type=ALLBUT0999`
//! (`docs/data.md` §6.2). One request per date; every listed security except warrants and
//! CBBCs, plus the index tables (TAIEX and its total-return twin). Tables are located by their
//! `fields`, never by position; the legacy `fieldsN`/`dataN` keys are read too.

use serde_json::Value;

use super::parse::{parse_number, parse_price, twse_change, BadCell};
use super::{Day, ParseError, Parsed, Quote};

/// Default host.
pub const BASE_URL: &str = "https://www.twse.com.tw";
/// Environment variable overriding [`BASE_URL`] (tests point it at a loopback server).
pub const BASE_URL_ENV: &str = "DSL_TWSE_BASE_URL";
/// First date MI_INDEX answers for.
pub const EARLIEST: (i32, u32, u32) = (2004, 2, 11);

/// The request path and query for `date` (days since 1970-01-01).
pub fn path(date: i32) -> String {
    format!(
        "/rwd/zh/afterTrading/MI_INDEX?date={}&type=ALLBUT0999&response=json",
        yyyymmdd(date)
    )
}

pub(super) fn yyyymmdd(date: i32) -> String {
    let (y, m, d) = crate::calendar::civil_from_days(date);
    format!("{y:04}{m:02}{d:02}")
}

/// Fields the quote table must have (others may come and go).
const QUOTE_FIELDS: [&str; 10] = [
    "證券代號",
    "成交股數",
    "成交筆數",
    "成交金額",
    "開盤價",
    "最高價",
    "最低價",
    "收盤價",
    "漲跌(+/-)",
    "漲跌價差",
];
/// The quote table's unit note; anything else means the units changed.
const HINTS: &str = "單位：元、股";
/// Index rows kept (price index and total-return index of the TWSE main board).
pub const INDEX_NAMES: [&str; 2] = ["發行量加權股價指數", "發行量加權股價報酬指數"];

/// A table of the answer: its fields, rows and unit note.
struct Table<'a> {
    title: &'a str,
    fields: Vec<&'a str>,
    data: &'a [Value],
    hints: Option<&'a str>,
}

fn tables(v: &Value) -> Vec<Table<'_>> {
    let mut out = Vec::new();
    if let Some(ts) = v.get("tables").and_then(Value::as_array) {
        for t in ts {
            if let Some(t) = read_table(
                t.get("title"),
                t.get("fields"),
                t.get("data"),
                t.get("hints"),
            ) {
                out.push(t);
            }
        }
    } else if let Some(obj) = v.as_object() {
        // Legacy answers: `fields9`/`data9` (or `fields8`/`data8`, ...) next to each other.
        for (k, fields) in obj {
            if let Some(n) = k.strip_prefix("fields") {
                if let Some(t) = read_table(
                    obj.get(&format!("subtitle{n}")),
                    Some(fields),
                    obj.get(&format!("data{n}")),
                    obj.get(&format!("hints{n}")),
                ) {
                    out.push(t);
                }
            }
        }
    }
    out
}

fn read_table<'a>(
    title: Option<&'a Value>,
    fields: Option<&'a Value>,
    data: Option<&'a Value>,
    hints: Option<&'a Value>,
) -> Option<Table<'a>> {
    let fields: Vec<&str> = fields?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    Some(Table {
        title: title.and_then(Value::as_str).unwrap_or(""),
        fields,
        data: data.and_then(Value::as_array).map_or(&[], Vec::as_slice),
        hints: hints.and_then(Value::as_str),
    })
}

/// Parses one MI_INDEX answer for `date`.
pub fn parse(body: &str, date: i32) -> Result<Parsed, ParseError> {
    let v = super::json(body)?;
    let stat = v.get("stat").and_then(Value::as_str).unwrap_or("");
    if stat != "OK" {
        return if stat.contains("沒有符合條件") {
            Ok(Parsed::Closed)
        } else if stat.contains("大於今日") {
            Ok(Parsed::NotYet)
        } else if stat.contains("小於") {
            Err(ParseError::OutOfRange(stat.to_string()))
        } else if stat.is_empty() {
            Err(ParseError::Format("no `stat` field".into()))
        } else {
            Err(ParseError::Format(format!("unexpected stat `{stat}`")))
        };
    }
    if let Some(d) = v.get("date").and_then(Value::as_str) {
        if d != yyyymmdd(date) {
            return Err(ParseError::Format(format!(
                "the answer is for {d}, not the requested {}",
                yyyymmdd(date)
            )));
        }
    }
    let tables = tables(&v);
    let Some(quotes) = tables.iter().find(|t| t.fields.contains(&"證券代號")) else {
        let titles: Vec<&str> = tables.iter().map(|t| t.title).collect();
        return Err(ParseError::Format(format!(
            "no quote table (one whose fields include `證券代號`); tables: {titles:?}"
        )));
    };
    let col = super::columns(&quotes.fields, &QUOTE_FIELDS)?;
    if let Some(h) = quotes.hints {
        if h.trim() != HINTS {
            return Err(ParseError::Format(format!(
                "the quote table's units changed: hints `{h}`, expected `{HINTS}`"
            )));
        }
    }
    let mut day = Day::default();
    for (i, row) in quotes.data.iter().enumerate() {
        match quote_row(row, quotes.fields.len(), &col) {
            Ok(q) => day.quotes.push(q),
            Err(e) => day.warnings.push(format!("quote row {}: {e}", i + 1)),
        }
    }
    for t in &tables {
        let first = t.fields.first().copied().unwrap_or("");
        let Some(close) = t.fields.iter().position(|f| *f == "收盤指數") else {
            continue;
        };
        if first != "指數" && first != "報酬指數" {
            continue;
        }
        for row in t.data {
            let cells = super::cells(row);
            let name = cells.first().map(|s| s.trim()).unwrap_or("");
            if !INDEX_NAMES.contains(&name) {
                continue;
            }
            match cells.get(close).map(|c| parse_number(c)) {
                Some(Ok(v)) => day.indices.push((name.to_string(), v)),
                _ => day
                    .warnings
                    .push(format!("index row `{name}`: close is not a number")),
            }
        }
    }
    if day.quotes.is_empty() {
        return if quotes.data.is_empty() {
            Ok(Parsed::Closed)
        } else {
            Err(ParseError::Format(format!(
                "none of the {} quote rows could be read ({})",
                quotes.data.len(),
                day.warnings.first().map_or("", String::as_str)
            )))
        };
    }
    Ok(Parsed::Day(day))
}

/// One quote row; `col` holds the indexes of [`QUOTE_FIELDS`], in that order.
fn quote_row(row: &Value, width: usize, col: &[usize]) -> Result<Quote, String> {
    let cells = super::cells(row);
    if cells.len() != width {
        return Err(format!("{} cells, the header has {width}", cells.len()));
    }
    let code = cells[col[0]].trim().to_string();
    if code.is_empty() {
        return Err("empty 證券代號".into());
    }
    let named = |k: usize, r: Result<f64, BadCell>| {
        r.map_err(|BadCell(c)| format!("{code}: `{}` = `{c}` is not a number", QUOTE_FIELDS[k]))
    };
    let price = |k: usize| {
        parse_price(&cells[col[k]])
            .map_err(|BadCell(c)| format!("{code}: `{}` = `{c}` is not a price", QUOTE_FIELDS[k]))
    };
    Ok(Quote {
        volume: named(1, parse_number(&cells[col[1]]))?,
        trades: named(2, parse_number(&cells[col[2]]))?,
        value: named(3, parse_number(&cells[col[3]]))?,
        open: price(4)?,
        high: price(5)?,
        low: price(6)?,
        close: price(7)?,
        change: twse_change(&cells[col[8]], &cells[col[9]])
            .map_err(|BadCell(c)| format!("{code}: change `{c}` is not a signed number"))?,
        code,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::days_from_civil;

    const FIELDS: &str = r#"["證券代號","證券名稱","成交股數","成交筆數","成交金額","開盤價","最高價","最低價","收盤價","漲跌(+/-)","漲跌價差","最後揭示買價","最後揭示買量","最後揭示賣價","最後揭示賣量","本益比"]"#;
    const ROWS: &str = r#"[["5678","乙公司","98,765","1,021","123,456,789","1,250.00","1,255.00","1,230.00","1,235.00","<p style= color:green>-</p>","15.00","1,230.00","1","1,235.00","12","25.00"],
        ["1357","丁公司","500,000","120","9,000,000","18.00","18.10","17.90","18.00","<p>X</p>","0.00","17.95","5","18.00","3","0.00"]]"#;

    fn day(body: &str) -> Day {
        match parse(body, days_from_civil(2024, 1, 5)) {
            Ok(Parsed::Day(d)) => d,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn quotes_signs_and_legacy_keys() {
        let body = format!(
            r#"{{"stat":"OK","date":"20240105","tables":[{{"title":"x","hints":"單位：元、股","fields":{FIELDS},"data":{ROWS}}}]}}"#
        );
        let d = day(&body);
        assert_eq!(d.quotes[0].close, Some(1235.0));
        assert_eq!(d.quotes[0].change, Some(-15.0));
        assert_eq!(d.quotes[1].change, None, "X: not compared");
        // Older answers: `fields9`/`data9` instead of `tables`.
        let legacy =
            format!(r#"{{"stat":"OK","date":"20240105","fields9":{FIELDS},"data9":{ROWS}}}"#);
        assert_eq!(day(&legacy).quotes, d.quotes);
    }

    #[test]
    fn wrong_date_units_and_stats_are_errors() {
        let date = days_from_civil(2024, 1, 5);
        let other_day = format!(
            r#"{{"stat":"OK","date":"20240104","tables":[{{"fields":{FIELDS},"data":{ROWS}}}]}}"#
        );
        assert!(
            matches!(parse(&other_day, date), Err(ParseError::Format(m)) if m.contains("20240104"))
        );
        let lots = format!(
            r#"{{"stat":"OK","date":"20240105","tables":[{{"hints":"單位：元、張","fields":{FIELDS},"data":{ROWS}}}]}}"#
        );
        assert!(matches!(parse(&lots, date), Err(ParseError::Format(m)) if m.contains("units")));
        let early = r#"{"stat":"查詢日期小於93年2月11日，請重新查詢!"}"#;
        assert!(matches!(parse(early, date), Err(ParseError::OutOfRange(_))));
        let future = r#"{"stat":"查詢日期大於今日，請重新查詢!"}"#;
        assert_eq!(parse(future, date), Ok(Parsed::NotYet));
        assert!(matches!(
            parse("<html>busy</html>", date),
            Err(ParseError::NotJson(_))
        ));
    }
}

//! TPEx whole-market daily quotes: `www/zh-tw/afterTrading/dailyQuotes?date=YYYY/MM/DD`
//! (`docs/data.md` §6.2). Every table whose fields carry the quote columns is read (上櫃股票行情
//! and 管理股票); warrants (6-digit codes starting with 7) are dropped. A closed day and a date out
//! of range both answer `stat: "ok"` with no rows: only the calendar can tell them apart.

use serde_json::Value;

use super::parse::{parse_number, parse_price, parse_tw_date, tpex_change, BadCell};
use super::{Day, ParseError, Parsed, Quote};

/// Default host.
pub const BASE_URL: &str = "https://www.tpex.org.tw";
/// Environment variable overriding [`BASE_URL`].
pub const BASE_URL_ENV: &str = "DSL_TPEX_BASE_URL";
/// First date dailyQuotes answers for.
pub const EARLIEST: (i32, u32, u32) = (2007, 7, 2);

/// The request path and query for `date`.
pub fn path(date: i32) -> String {
    let (y, m, d) = crate::calendar::civil_from_days(date);
    format!("/www/zh-tw/afterTrading/dailyQuotes?date={y:04}/{m:02}/{d:02}&response=json")
}

/// finlab's market-value key (NT$).
pub const MARKET_VALUE: &str = "etl:market_value";

/// Fields a quote table must have; `成交股數` in shares (a change to lots would rename it).
const QUOTE_FIELDS: [&str; 9] = [
    "代號",
    "成交股數",
    "成交筆數",
    "成交金額(元)",
    "開盤",
    "最高",
    "最低",
    "收盤",
    "漲跌",
];

/// TPEx warrants: 6-digit codes starting with 7.
fn is_warrant(code: &str) -> bool {
    code.len() == 6 && code.starts_with('7') && code.bytes().all(|b| b.is_ascii_digit())
}

/// Parses one dailyQuotes answer for `date`.
pub fn parse(body: &str, date: i32) -> Result<Parsed, ParseError> {
    let v = super::json(body)?;
    let stat = v.get("stat").and_then(Value::as_str).unwrap_or("");
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
                crate::calendar::format(date)
            )));
        }
    }
    let Some(tables) = v.get("tables").and_then(Value::as_array) else {
        return Err(ParseError::Format("no `tables` array".into()));
    };
    let mut day = Day::default();
    let mut rows = 0;
    for t in tables {
        let data = t
            .get("data")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        if data.is_empty() {
            continue;
        }
        if let Some(d) = t.get("date").and_then(Value::as_str) {
            if parse_tw_date(d) != Some(date) {
                return Err(ParseError::Format(format!(
                    "a table is for {d}, not the requested {}",
                    crate::calendar::format(date)
                )));
            }
        }
        let fields: Vec<&str> = t
            .get("fields")
            .and_then(Value::as_array)
            .map(|f| f.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let title = t.get("title").and_then(Value::as_str).unwrap_or("");
        let col = super::columns(&fields, &QUOTE_FIELDS)
            .map_err(|e| ParseError::Format(format!("table `{title}`: {e}")))?;
        rows += data.len();
        let shares = super::table::find(&fields, &["發行股數"]);
        for (i, row) in data.iter().enumerate() {
            match quote_row(row, fields.len(), &col) {
                Ok(Some(q)) => {
                    // Market value = shares outstanding × close, where the feed gives shares.
                    let issued =
                        shares.and_then(|c| super::cells(row).get(c).map(|v| parse_number(v)));
                    if let (Some(Ok(n)), Some(close)) = (issued, q.close) {
                        if n > 0.0 {
                            day.cells.push(super::Cell {
                                key: MARKET_VALUE,
                                date,
                                code: q.code.clone(),
                                value: n * close,
                            });
                        }
                    }
                    day.quotes.push(q)
                }
                Ok(None) => {}
                Err(e) => day.warnings.push(format!("`{title}` row {}: {e}", i + 1)),
            }
        }
    }
    if rows == 0 {
        return Ok(Parsed::Closed);
    }
    if day.quotes.is_empty() && !day.warnings.is_empty() {
        return Err(ParseError::Format(format!(
            "none of the {rows} quote rows could be read ({})",
            day.warnings[0]
        )));
    }
    Ok(Parsed::Day(day))
}

/// One quote row (`None` for a warrant); `col` holds the indexes of [`QUOTE_FIELDS`].
fn quote_row(row: &Value, width: usize, col: &[usize]) -> Result<Option<Quote>, String> {
    let cells = super::cells(row);
    if cells.len() != width {
        return Err(format!("{} cells, the header has {width}", cells.len()));
    }
    let code = cells[col[0]].trim().to_string();
    if code.is_empty() {
        return Err("empty 代號".into());
    }
    if is_warrant(&code) {
        return Ok(None);
    }
    let named = |k: usize, r: Result<f64, BadCell>| {
        r.map_err(|BadCell(c)| format!("{code}: `{}` = `{c}` is not a number", QUOTE_FIELDS[k]))
    };
    let price = |k: usize| {
        parse_price(&cells[col[k]])
            .map_err(|BadCell(c)| format!("{code}: `{}` = `{c}` is not a price", QUOTE_FIELDS[k]))
    };
    Ok(Some(Quote {
        volume: named(1, parse_number(&cells[col[1]]))?,
        trades: named(2, parse_number(&cells[col[2]]))?,
        value: named(3, parse_number(&cells[col[3]]))?,
        open: price(4)?,
        high: price(5)?,
        low: price(6)?,
        close: price(7)?,
        change: tpex_change(&cells[col[8]])
            .map_err(|BadCell(c)| format!("{code}: change `{c}` is not a signed number"))?,
        code,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::days_from_civil;

    #[test]
    fn ex_dividend_no_trade_warrants_and_dates() {
        let date = days_from_civil(2024, 1, 5);
        let body = r#"{"date":"20240105","stat":"ok","tables":[{"date":"113/01/05",
          "fields":["代號","名稱","收盤","漲跌","開盤","最高","最低","均價","成交股數","成交金額(元)","成交筆數"],
          "data":[["00687B","某債ETF","33.53","除息 ","33.58","33.58","33.43","33.48","1,836,128","61,476,746","418"],
                  ["6544","己公司"," ---","--- ","---","---","---","13.00","12","156","1"],
                  ["700001","某權證","1.00","+0.10","0.90","1.00","0.90","0.95","1,000","950","1"]]}]}"#;
        let Ok(Parsed::Day(d)) = parse(body, date) else {
            panic!()
        };
        assert_eq!(d.quotes.len(), 2, "warrant dropped");
        assert_eq!((d.quotes[0].close, d.quotes[0].change), (Some(33.53), None));
        assert_eq!((d.quotes[1].close, d.quotes[1].volume), (None, 12.0));
        let wrong = body.replace("113/01/05", "113/01/04");
        assert!(matches!(parse(&wrong, date), Err(ParseError::Format(_))));
        let lots = body.replace("成交股數", "成交張數");
        assert!(matches!(parse(&lots, date), Err(ParseError::Format(m)) if m.contains("成交股數")));
    }
}

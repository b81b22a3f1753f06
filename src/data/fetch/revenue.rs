//! MOPS monthly revenue (`docs/data.md` §6.2, §6.6): one cp950 HTML page per market (`sii`,
//! `otc`), issuer kind (`_0` domestic, `_1` foreign/KY), ROC year and month, with one table per
//! industry (`單位：千元`, thousand NT$) of 11-cell company rows. Point in time: month M's row is
//! dated on the first session on or after the filing deadline, the 10th of M+1 (finlab's rule),
//! and a month is asked only after that deadline; later revisions never replace a published
//! value (the merge keeps the first).

use super::parse::BadCell;
use super::table::optional_number;
use super::{Cell, Day, ParseError, Parsed};
use crate::calendar::{civil_from_days, days_from_civil};

/// Default host.
pub const BASE_URL: &str = "https://mopsov.twse.com.tw";
/// Environment variable overriding [`BASE_URL`].
pub const BASE_URL_ENV: &str = "DSL_MOPS_BASE_URL";
/// The first month read (the IFRS-era page layout, January 2013): its deadline.
pub const EARLIEST: (i32, u32, u32) = (2013, 2, 10);

/// The eight revenue keys, in the order of the page's value cells.
pub const KEYS: [&str; 8] = [
    "monthly_revenue:當月營收",
    "monthly_revenue:上月營收",
    "monthly_revenue:去年當月營收",
    "monthly_revenue:上月比較增減(%)",
    "monthly_revenue:去年同月增減(%)",
    "monthly_revenue:當月累計營收",
    "monthly_revenue:去年累計營收",
    "monthly_revenue:前期比較增減(%)",
];

/// The month a deadline candidate stands for: the month before `deadline`'s.
pub fn month_of(deadline: i32) -> (i32, u32) {
    let (y, m, _) = civil_from_days(deadline);
    if m == 1 {
        (y - 1, 12)
    } else {
        (y, m - 1)
    }
}

/// The filing deadline of month `(y, m)`: the 10th of the next month.
pub fn deadline(y: i32, m: u32) -> i32 {
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    days_from_civil(ny, nm, 10)
}

/// The page for the month before `deadline`'s.
pub fn path(market: &str, foreign: bool, deadline: i32) -> String {
    let (y, m) = month_of(deadline);
    format!(
        "/nas/t21/{market}/t21sc03_{}_{m}_{}.html",
        y - 1911,
        u8::from(foreign)
    )
}

/// The session a month's revenue becomes visible: the first session on or after its deadline
/// (the deadline itself past the reference calendar's end).
fn visible_from(deadline: i32) -> i32 {
    crate::data::reference::sessions()
        .ok()
        .and_then(|s| s.into_iter().map(|(d, _)| d).find(|&d| d >= deadline))
        .unwrap_or(deadline)
}

/// Parses one page (decoded to UTF-8) for the month before `deadline`'s.
pub fn parse(html: &str, deadline: i32) -> Result<Parsed, ParseError> {
    if html.contains("查無資料") {
        // Not filed yet; a month after the deadline, the page will not come (remembered).
        return Ok(if super::taipei_today() > deadline + 31 {
            Parsed::Closed
        } else {
            Parsed::NotYet
        });
    }
    if !html.to_ascii_lowercase().contains("<table") {
        return Err(ParseError::NotJson(super::http::clip(html)));
    }
    if !html.contains("單位：千元") && !html.contains("單位:千元") {
        return Err(ParseError::Format(
            "the revenue page's unit note `單位：千元` is missing (the units changed?)".into(),
        ));
    }
    let (y, m) = month_of(deadline);
    let roc = format!("{}年{}月", y - 1911, m);
    if !html.contains(&roc) && !html.contains(&format!("{}年{:02}月", y - 1911, m)) {
        return Err(ParseError::Format(format!(
            "the page is not for {roc} (its title names another month)"
        )));
    }
    let date = visible_from(deadline);
    let mut day = Day::default();
    let mut rows = 0;
    for row in rows_of(html) {
        if row.header || row.cells.len() != 11 {
            continue;
        }
        let code = row.cells[0].trim();
        if code.is_empty() || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
            continue;
        }
        rows += 1;
        let values: Result<Vec<Option<f64>>, BadCell> = row.cells[2..10]
            .iter()
            .map(|c| optional_number(c))
            .collect();
        match values {
            Ok(values) => day.cells.extend(KEYS.iter().zip(values).map(|(k, v)| Cell {
                key: k,
                date,
                code: code.to_string(),
                value: v.unwrap_or(f64::NAN),
            })),
            Err(BadCell(c)) => day.warnings.push(format!("{code}: `{c}` is not a number")),
        }
    }
    if rows == 0 {
        return Err(ParseError::Format(
            "no company row (11 cells starting with a code) in the revenue page".into(),
        ));
    }
    Ok(Parsed::Day(day))
}

/// One table row: its cells' text, and whether it is a header or total row (`<th>` cells).
struct Row {
    cells: Vec<String>,
    header: bool,
}

/// The rows of every table of a page, cell text without tags and entities.
fn rows_of(html: &str) -> Vec<Row> {
    let lower = html.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(start) = lower[at..].find("<tr").map(|i| at + i) {
        let end = lower[start..]
            .find("</tr")
            .map_or(html.len(), |i| start + i);
        let inner = &html[start..end];
        let inner_lower = &lower[start..end];
        let header = inner_lower.contains("<th");
        let mut cells = Vec::new();
        let mut pos = 0;
        while let Some(open) = inner_lower[pos..].find("<td").map(|i| pos + i) {
            let Some(gt) = inner_lower[open..].find('>').map(|i| open + i + 1) else {
                break;
            };
            let close = inner_lower[gt..]
                .find("</td")
                .map_or(inner.len(), |i| gt + i);
            cells.push(text(&inner[gt..close]));
            pos = close;
        }
        out.push(Row { cells, header });
        at = end.max(start + 3);
    }
    out
}

/// The text of an HTML fragment: tags removed, `&nbsp;` and `&amp;` decoded, trimmed.
fn text(fragment: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in fragment.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&nbsp;", " ")
        .replace("&amp;", "&")
        .replace('\u{3000}', " ")
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_and_paths() {
        let d = deadline(2023, 12);
        assert_eq!(d, days_from_civil(2024, 1, 10));
        assert_eq!(month_of(d), (2023, 12));
        assert_eq!(path("sii", false, d), "/nas/t21/sii/t21sc03_112_12_0.html");
        assert_eq!(
            path("otc", true, deadline(2024, 3)),
            "/nas/t21/otc/t21sc03_113_3_1.html"
        );
    }
}

#[cfg(test)]
mod page_tests {
    use super::*;

    fn page(body: &str) -> String {
        format!("<html><b>上市公司 112年12月份 營業收入統計表</b><table><tr><th>產業別：水泥工業</th><th>單位：千元</th></tr>{body}</table></html>")
    }

    const ROW: &str = "<tr><td>1234</td><td>甲</td><td>1,000</td><td>900</td><td>800</td><td>11.11</td><td>25.00</td><td>1,000</td><td>800</td><td>25.00</td><td>-</td></tr>";

    #[test]
    fn units_months_and_error_pages() {
        let d = deadline(2023, 12);
        let Ok(Parsed::Day(day)) = parse(&page(ROW), d) else {
            panic!()
        };
        assert_eq!(day.cells.len(), 8);
        assert_eq!(day.cells[0].value, 1_000.0);
        let no_unit = page(ROW).replace("單位：千元", "單位：元");
        assert!(matches!(parse(&no_unit, d), Err(ParseError::Format(m)) if m.contains("千元")));
        assert!(matches!(
            parse(&page(ROW), deadline(2023, 11)),
            Err(ParseError::Format(_))
        ));
        assert!(matches!(
            parse("Unreachable Server", d),
            Err(ParseError::NotJson(_))
        ));
        assert!(matches!(parse(&page(""), d), Err(ParseError::Format(_))));
    }
}

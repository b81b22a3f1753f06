//! The calibration report (`data synth --report`): statistics measured on the generated panels
//! (not on the generator's internals) next to the targets of `docs/data.md` §4.5,
//! plus the monthly rank IC of each planted premium (≈ 0 in a `--null` market).

mod premia;

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use dsl_runtime::wire::PanelData;

use crate::data::reference::{self, Board};

use super::model::limits;
use super::{daily as d, DAILY_KEYS};

/// One line of the report.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub name: String,
    pub realised: String,
    pub target: String,
}

fn row(name: &str, realised: String, target: &str) -> Row {
    Row {
        name: name.into(),
        realised,
        target: target.into(),
    }
}

fn pct(x: f64) -> String {
    format!("{:.2} %", x * 100.0)
}

fn money(x: f64) -> String {
    match x.abs() {
        v if v >= 1e9 => format!("NT$ {:.2} B", x / 1e9),
        _ => format!("NT$ {:.1} M", x / 1e6),
    }
}

/// The `q`-quantile (nearest rank) of the finite values; NaN when there are none.
pub fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let k = ((values.len() - 1) as f64 * q).round() as usize;
    let (_, v, _) = values.select_nth_unstable_by(k, f64::total_cmp);
    *v
}

fn moments(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let m2 = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let m4 = x.iter().map(|v| (v - mean).powi(4)).sum::<f64>() / n;
    (m2.sqrt(), m4 / (m2 * m2))
}

/// Measures the realised statistics of a generated market.
pub fn calibrate(panels: &[PanelData]) -> Vec<Row> {
    let Some(px) = Prices::find(panels) else {
        return vec![row("panels", "missing price panels".into(), "-")];
    };
    let boards: BTreeMap<String, Board> = reference::securities()
        .unwrap_or_default()
        .into_iter()
        .map(|s| (s.code, s.board))
        .collect();
    let board = |c: usize| {
        boards
            .get(&px.close.columns[c])
            .copied()
            .unwrap_or(Board::Twse)
    };
    // Cross-sections are measured where the targets were (2023-01-30, `docs/data.md` §4.5), if
    // in range.
    let dates = &px.close.dates;
    let anchor = match dates.binary_search(&crate::calendar::days_from_civil(2023, 1, 30)) {
        Ok(i) => i,
        Err(_) => dates.len().saturating_sub(1),
    };
    let mut out = Vec::new();
    out.extend(sessions_per_year(dates));
    if let Some(ix) = panels.iter().find(|p| p.name == super::PRICE_INDEX.0) {
        out.extend(index_rows(&ix.values));
    }
    let mut days = StockDays::default();
    for c in 0..px.close.columns.len() {
        days.add_stock(&px, c, board(c), anchor.saturating_sub(249)..=anchor);
    }
    out.extend(days.return_rows());
    let when = crate::calendar::format(dates[anchor]);
    out.extend(days.board_rows(&when));
    out.extend(cross_section(&px, board, anchor, &when));
    out.extend(premia::ic_rows(panels));
    out
}

/// The daily price panels the report reads.
struct Prices<'a> {
    close: &'a PanelData,
    open: &'a PanelData,
    high: &'a PanelData,
    low: &'a PanelData,
    volume: &'a PanelData,
    value: &'a PanelData,
    adj_close: &'a PanelData,
    market_value: &'a PanelData,
}

impl<'a> Prices<'a> {
    /// The panels, `None` when one is missing.
    fn find(panels: &'a [PanelData]) -> Option<Self> {
        let get = |k: usize| panels.iter().find(|p| p.name == DAILY_KEYS[k]);
        Some(Self {
            close: get(d::CLOSE)?,
            open: get(d::OPEN)?,
            high: get(d::HIGH)?,
            low: get(d::LOW)?,
            volume: get(d::VOLUME)?,
            value: get(d::VALUE)?,
            adj_close: get(d::ADJ_CLOSE)?,
            market_value: get(d::MARKET_VALUE)?,
        })
    }
}

/// The range of sessions per year over the full years (the first and last are partial).
fn sessions_per_year(dates: &[i32]) -> Option<Row> {
    let mut per_year: BTreeMap<i32, usize> = BTreeMap::new();
    for &dt in dates {
        *per_year
            .entry(crate::calendar::civil_from_days(dt).0)
            .or_default() += 1;
    }
    let full: Vec<usize> = per_year
        .iter()
        .skip(1)
        .take(per_year.len().saturating_sub(2))
        .map(|(_, &c)| c)
        .collect();
    let (lo, hi) = (full.iter().min()?, full.iter().max()?);
    Some(row(
        "sessions per full year",
        format!("{lo}–{hi}"),
        "239–251 (real calendar)",
    ))
}

/// The benchmark's daily sd, kurtosis and CAGR (with more than 20 sessions).
fn index_rows(index: &[f64]) -> Vec<Row> {
    let r: Vec<f64> = index.windows(2).map(|w| libm::log(w[1] / w[0])).collect();
    if r.len() <= 20 {
        return Vec::new();
    }
    let (sd, kurt) = moments(&r);
    let years = r.len() as f64 / 246.0;
    let first = index.first().copied().unwrap_or(f64::NAN);
    let last = index.last().copied().unwrap_or(f64::NAN);
    let cagr = libm::pow(last / first, 1.0 / years) - 1.0;
    vec![
        row("index daily log-return sd", pct(sd), "1.07 %"),
        row(
            "index daily kurtosis",
            format!("{kurt:.1}"),
            "fat-tailed (> 5)",
        ),
        row("price index CAGR", pct(cagr), "≈ 9.5 %/yr (2015–2025)"),
    ]
}

/// Per stock-day statistics, pooled over the stocks.
#[derive(Default)]
struct StockDays {
    /// Adjusted log returns, intraday ranges and open gaps (over the reference price).
    rets: Vec<f64>,
    ranges: Vec<f64>,
    gaps: Vec<f64>,
    /// Each stock's return sd (stocks with more than 60 returns).
    sds: Vec<f64>,
    /// Days touching or closing at a limit, of `traded_days`.
    touched: usize,
    at_limit: usize,
    traded_days: usize,
    /// Per board: no-trade days and listed days.
    no_trade: BTreeMap<Board, (usize, usize)>,
    /// Per board: value traded per stock-day in the `recent` window.
    values: BTreeMap<Board, Vec<f64>>,
    ex_days: usize,
    listed_days: usize,
}

impl StockDays {
    /// Adds stock `c`'s days.
    fn add_stock(
        &mut self,
        px: &Prices<'_>,
        c: usize,
        board: Board,
        recent: RangeInclusive<usize>,
    ) {
        let regime = crate::calendar::days_from_civil(2015, 6, 1);
        let (cl, op, hi, lo, ac) = (
            px.close.column(c),
            px.open.column(c),
            px.high.column(c),
            px.low.column(c),
            px.adj_close.column(c),
        );
        let (vo, va) = (px.volume.column(c), px.value.column(c));
        let mut own = Vec::new();
        let mut prev: Option<usize> = None;
        for t in 0..px.close.dates.len() {
            if !vo[t].is_nan() {
                self.listed_days += 1;
                let e = self.no_trade.entry(board).or_default();
                e.1 += 1;
                if vo[t] == 0.0 {
                    e.0 += 1;
                }
            }
            if cl[t].is_nan() {
                continue;
            }
            if recent.contains(&t) {
                self.values.entry(board).or_default().push(va[t]);
            }
            if let Some(p) = prev {
                let factor_now = ac[t] / cl[t];
                let factor_prev = ac[p] / cl[p];
                if (factor_now / factor_prev - 1.0).abs() > 1e-6 {
                    self.ex_days += 1;
                }
                // Reference price on the raw scale of today (ex-rights days included).
                let reference = libm::round(ac[p] / factor_now * 100.0) / 100.0;
                let r = libm::log(ac[t] / ac[p]);
                self.rets.push(r);
                own.push(r);
                self.ranges.push((hi[t] - lo[t]) / reference);
                self.gaps.push(op[t] / reference - 1.0);
                let pct_lim = if px.close.dates[t] < regime {
                    0.07
                } else {
                    0.10
                };
                let (up, down) = limits(reference, pct_lim);
                self.traded_days += 1;
                if hi[t] >= up - 1e-9 || lo[t] <= down + 1e-9 {
                    self.touched += 1;
                }
                if cl[t] >= up - 1e-9 || cl[t] <= down + 1e-9 {
                    self.at_limit += 1;
                }
            }
            prev = Some(t);
        }
        if own.len() > 60 {
            self.sds.push(moments(&own).0);
        }
    }

    /// Return distribution, limits, ranges, gaps and ex-rights frequency (none without returns).
    fn return_rows(&mut self) -> Vec<Row> {
        if self.rets.is_empty() {
            return Vec::new();
        }
        let (sd, kurt) = moments(&self.rets);
        let qs: Vec<String> = [0.01, 0.05, 0.5, 0.95, 0.99]
            .iter()
            .map(|&q| format!("{:+.2}", quantile(&mut self.rets, q) * 100.0))
            .collect();
        let share = |k: usize| pct(k as f64 / self.traded_days.max(1) as f64);
        let years = self.listed_days as f64 / 246.0;
        vec![
            row(
                "stock daily return sd (pooled)",
                pct(sd),
                "1.65 % (12 large caps); small caps higher",
            ),
            row(
                "stock daily return sd (median stock)",
                pct(quantile(&mut self.sds, 0.5)),
                "0.7–3.0 % by stock",
            ),
            row(
                "stock daily kurtosis (pooled)",
                format!("{kurt:.1}"),
                "10.8",
            ),
            row(
                "return quantiles p1/p5/p50/p95/p99 (%)",
                qs.join(" / "),
                "−4.7 / −2.35 / 0 / +2.5 / +5.25",
            ),
            row(
                "stock-days touching a limit",
                share(self.touched),
                "0.5–1 %",
            ),
            row(
                "stock-days closing at a limit",
                share(self.at_limit),
                "≈ 0.37 % (large caps, ±9.5 %)",
            ),
            row(
                "(high − low) / reference p50 / p95",
                format!(
                    "{} / {}",
                    pct(quantile(&mut self.ranges, 0.5)),
                    pct(quantile(&mut self.ranges, 0.95))
                ),
                "1.40 % / 4.70 %",
            ),
            row(
                "open gap p5 / p95",
                format!(
                    "{} / {}",
                    pct(quantile(&mut self.gaps, 0.05)),
                    pct(quantile(&mut self.gaps, 0.95))
                ),
                "−1.20 % / +1.40 %",
            ),
            row(
                "ex-rights days per stock-year",
                format!("{:.2}", self.ex_days as f64 / years.max(1.0)),
                "≈ 0.8–1.2",
            ),
        ]
    }

    /// Value traded (in the year to `when`) and no-trade days, by board.
    fn board_rows(&mut self, when: &str) -> Vec<Row> {
        let mut out = Vec::new();
        for (board, target_mid, target_p90) in [
            (Board::Twse, "15.6 M", "702 M"),
            (Board::Tpex, "3.6 M", "118 M"),
        ] {
            if let Some(v) = self.values.get_mut(&board) {
                out.push(row(
                    &format!(
                        "{} value traded per stock-day p50 / p90 (250 sessions to {when})",
                        board.label(),
                    ),
                    format!("{} / {}", money(quantile(v, 0.5)), money(quantile(v, 0.9))),
                    &format!("NT$ {target_mid} / {target_p90}"),
                ));
            }
        }
        for (board, target) in [(Board::Twse, "0.1 %"), (Board::Tpex, "1.5 %")] {
            if let Some(&(none, all)) = self.no_trade.get(&board) {
                out.push(row(
                    &format!("{} no-trade stock-days", board.label()),
                    pct(none as f64 / all.max(1) as f64),
                    target,
                ));
            }
        }
        out
    }
}

/// The cross-section on the anchor session: closes, and TPEx market caps and turnover.
fn cross_section(
    px: &Prices<'_>,
    board: impl Fn(usize) -> Board,
    anchor: usize,
    when: &str,
) -> Vec<Row> {
    let mut caps: Vec<f64> = Vec::new();
    let mut turnover: Vec<f64> = Vec::new();
    let mut closes: Vec<f64> = Vec::new();
    for c in 0..px.close.columns.len() {
        let (cl, m) = (px.close.get(anchor, c), px.market_value.get(anchor, c));
        if !cl.is_nan() {
            closes.push(cl);
        }
        if board(c) == Board::Tpex && !m.is_nan() {
            caps.push(m);
            let shares = m / cl;
            let v = px.volume.get(anchor, c);
            if shares > 0.0 && !v.is_nan() {
                turnover.push(v / shares);
            }
        }
    }
    let mut out = vec![row(
        &format!("close p10 / p50 / p90 ({when})"),
        format!(
            "{:.1} / {:.1} / {:.1}",
            quantile(&mut closes, 0.1),
            quantile(&mut closes, 0.5),
            quantile(&mut closes, 0.9)
        ),
        "12.7 / 33.3 / 133 (TWSE 2023-01-30)",
    )];
    if !caps.is_empty() {
        out.push(row(
            &format!("TPEx market cap p50 / p90 ({when})"),
            format!(
                "{} / {}",
                money(quantile(&mut caps, 0.5)),
                money(quantile(&mut caps, 0.9))
            ),
            "NT$ 2.18 B / 11.1 B (2023-01-30)",
        ));
        out.push(row(
            &format!("TPEx daily turnover p50 ({when})"),
            pct(quantile(&mut turnover, 0.5)),
            "0.20 %",
        ));
    }
    out
}

/// Renders the report as an aligned text table.
pub fn render(rows: &[Row]) -> String {
    let w0 = rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0);
    let w1 = rows
        .iter()
        .map(|r| r.realised.chars().count())
        .max()
        .unwrap_or(0)
        .max(8);
    let mut s = format!("{:<w0$}  {:<w1$}  target\n", "statistic", "realised");
    for r in rows {
        let pad0 = w0 - r.name.chars().count();
        let pad1 = w1 - r.realised.chars().count();
        s.push_str(&format!(
            "{}{}  {}{}  {}\n",
            r.name,
            " ".repeat(pad0),
            r.realised,
            " ".repeat(pad1),
            r.target
        ));
    }
    s
}

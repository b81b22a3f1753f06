//! The calibration report (`data synth --report`): statistics measured on the generated panels
//! (not on the generator's internals) next to the targets of `docs/data.md` §4.5,
//! plus the monthly rank IC of each planted premium (≈ 0 in a `--null` market).

mod premia;

use std::collections::BTreeMap;

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
    let get = |k: &str| panels.iter().find(|p| p.name == k);
    let (
        Some(close),
        Some(open),
        Some(high),
        Some(low),
        Some(vol),
        Some(value),
        Some(adj),
        Some(mv),
    ) = (
        get(DAILY_KEYS[d::CLOSE]),
        get(DAILY_KEYS[d::OPEN]),
        get(DAILY_KEYS[d::HIGH]),
        get(DAILY_KEYS[d::LOW]),
        get(DAILY_KEYS[d::VOLUME]),
        get(DAILY_KEYS[d::VALUE]),
        get(DAILY_KEYS[d::ADJ_CLOSE]),
        get(DAILY_KEYS[d::MARKET_VALUE]),
    )
    else {
        return vec![row("panels", "missing price panels".into(), "-")];
    };
    let boards: BTreeMap<String, Board> = reference::securities()
        .unwrap_or_default()
        .into_iter()
        .map(|s| (s.code, s.board))
        .collect();
    let n = close.dates.len();
    let regime = crate::calendar::days_from_civil(2015, 6, 1);
    let mut out = Vec::new();

    // Sessions per year.
    let mut per_year: BTreeMap<i32, usize> = BTreeMap::new();
    for &dt in &close.dates {
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
    if let (Some(lo), Some(hi)) = (full.iter().min(), full.iter().max()) {
        out.push(row(
            "sessions per full year",
            format!("{lo}–{hi}"),
            "239–251 (real calendar)",
        ));
    }

    // The benchmark.
    if let Some(ix) = get(super::PRICE_INDEX.0) {
        let r: Vec<f64> = ix
            .values
            .windows(2)
            .map(|w| libm::log(w[1] / w[0]))
            .collect();
        if r.len() > 20 {
            let (sd, kurt) = moments(&r);
            out.push(row("index daily log-return sd", pct(sd), "1.07 %"));
            out.push(row(
                "index daily kurtosis",
                format!("{kurt:.1}"),
                "fat-tailed (> 5)",
            ));
            let years = r.len() as f64 / 246.0;
            let first = ix.values.first().copied().unwrap_or(f64::NAN);
            let last = ix.values.last().copied().unwrap_or(f64::NAN);
            let cagr = libm::pow(last / first, 1.0 / years) - 1.0;
            out.push(row("price index CAGR", pct(cagr), "≈ 9.5 %/yr (2015–2025)"));
        }
    }

    // Per stock-day statistics.
    let (mut rets, mut ranges, mut gaps, mut sds) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut touched, mut at_limit, mut traded_days) = (0usize, 0usize, 0usize);
    let mut no_trade: BTreeMap<Board, (usize, usize)> = BTreeMap::new();
    let mut values: BTreeMap<Board, Vec<f64>> = BTreeMap::new();
    let mut ex_days = 0usize;
    let mut listed_days = 0usize;
    // Cross-sections are measured where the targets were (2023-01-30, `docs/data.md` §4.5), if
    // in range.
    let anchor = match close
        .dates
        .binary_search(&crate::calendar::days_from_civil(2023, 1, 30))
    {
        Ok(i) => i,
        Err(_) => n.saturating_sub(1),
    };
    let recent = anchor.saturating_sub(249)..=anchor;
    for c in 0..close.columns.len() {
        let board = boards
            .get(&close.columns[c])
            .copied()
            .unwrap_or(Board::Twse);
        let (cl, op, hi, lo, ac) = (
            close.column(c),
            open.column(c),
            high.column(c),
            low.column(c),
            adj.column(c),
        );
        let (vo, va) = (vol.column(c), value.column(c));
        let mut own = Vec::new();
        let mut prev: Option<usize> = None;
        for t in 0..n {
            if !vo[t].is_nan() {
                listed_days += 1;
                let e = no_trade.entry(board).or_default();
                e.1 += 1;
                if vo[t] == 0.0 {
                    e.0 += 1;
                }
            }
            if cl[t].is_nan() {
                continue;
            }
            if recent.contains(&t) {
                values.entry(board).or_default().push(va[t]);
            }
            if let Some(p) = prev {
                let factor_now = ac[t] / cl[t];
                let factor_prev = ac[p] / cl[p];
                if (factor_now / factor_prev - 1.0).abs() > 1e-6 {
                    ex_days += 1;
                }
                // Reference price on the raw scale of today (ex-rights days included).
                let reference = libm::round(ac[p] / factor_now * 100.0) / 100.0;
                let r = libm::log(ac[t] / ac[p]);
                rets.push(r);
                own.push(r);
                ranges.push((hi[t] - lo[t]) / reference);
                gaps.push(op[t] / reference - 1.0);
                let pct_lim = if close.dates[t] < regime { 0.07 } else { 0.10 };
                let (up, down) = limits(reference, pct_lim);
                traded_days += 1;
                if hi[t] >= up - 1e-9 || lo[t] <= down + 1e-9 {
                    touched += 1;
                }
                if cl[t] >= up - 1e-9 || cl[t] <= down + 1e-9 {
                    at_limit += 1;
                }
            }
            prev = Some(t);
        }
        if own.len() > 60 {
            sds.push(moments(&own).0);
        }
    }
    if !rets.is_empty() {
        let (sd, kurt) = moments(&rets);
        out.push(row(
            "stock daily return sd (pooled)",
            pct(sd),
            "1.65 % (12 large caps); small caps higher",
        ));
        out.push(row(
            "stock daily return sd (median stock)",
            pct(quantile(&mut sds, 0.5)),
            "0.7–3.0 % by stock",
        ));
        out.push(row(
            "stock daily kurtosis (pooled)",
            format!("{kurt:.1}"),
            "10.8",
        ));
        let qs: Vec<String> = [0.01, 0.05, 0.5, 0.95, 0.99]
            .iter()
            .map(|&q| format!("{:+.2}", quantile(&mut rets, q) * 100.0))
            .collect();
        out.push(row(
            "return quantiles p1/p5/p50/p95/p99 (%)",
            qs.join(" / "),
            "−4.7 / −2.35 / 0 / +2.5 / +5.25",
        ));
        let share = |k: usize| pct(k as f64 / traded_days.max(1) as f64);
        out.push(row(
            "stock-days touching a limit",
            share(touched),
            "0.5–1 %",
        ));
        out.push(row(
            "stock-days closing at a limit",
            share(at_limit),
            "≈ 0.37 % (large caps, ±9.5 %)",
        ));
        out.push(row(
            "(high − low) / reference p50 / p95",
            format!(
                "{} / {}",
                pct(quantile(&mut ranges, 0.5)),
                pct(quantile(&mut ranges, 0.95))
            ),
            "1.40 % / 4.70 %",
        ));
        out.push(row(
            "open gap p5 / p95",
            format!(
                "{} / {}",
                pct(quantile(&mut gaps, 0.05)),
                pct(quantile(&mut gaps, 0.95))
            ),
            "−1.20 % / +1.40 %",
        ));
        let years = listed_days as f64 / 246.0;
        out.push(row(
            "ex-rights days per stock-year",
            format!("{:.2}", ex_days as f64 / years.max(1.0)),
            "≈ 0.8–1.2",
        ));
    }
    for (board, target_mid, target_p90) in [
        (Board::Twse, "15.6 M", "702 M"),
        (Board::Tpex, "3.6 M", "118 M"),
    ] {
        if let Some(v) = values.get_mut(&board) {
            out.push(row(
                &format!(
                    "{} value traded per stock-day p50 / p90 (250 sessions to {})",
                    board.label(),
                    crate::calendar::format(close.dates[anchor])
                ),
                format!("{} / {}", money(quantile(v, 0.5)), money(quantile(v, 0.9))),
                &format!("NT$ {target_mid} / {target_p90}"),
            ));
        }
    }
    for (board, target) in [(Board::Twse, "0.1 %"), (Board::Tpex, "1.5 %")] {
        if let Some(&(none, all)) = no_trade.get(&board) {
            out.push(row(
                &format!("{} no-trade stock-days", board.label()),
                pct(none as f64 / all.max(1) as f64),
                target,
            ));
        }
    }
    // Cross-section on the anchor session.
    let last = anchor;
    let when = crate::calendar::format(close.dates[anchor]);
    let mut caps: Vec<f64> = Vec::new();
    let mut turnover: Vec<f64> = Vec::new();
    let mut closes: Vec<f64> = Vec::new();
    for c in 0..close.columns.len() {
        let board = boards
            .get(&close.columns[c])
            .copied()
            .unwrap_or(Board::Twse);
        let (cl, m) = (close.get(last, c), mv.get(last, c));
        if !cl.is_nan() {
            closes.push(cl);
        }
        if board == Board::Tpex && !m.is_nan() {
            caps.push(m);
            let shares = m / cl;
            let v = vol.get(last, c);
            if shares > 0.0 && !v.is_nan() {
                turnover.push(v / shares);
            }
        }
    }
    out.push(row(
        &format!("close p10 / p50 / p90 ({when})"),
        format!(
            "{:.1} / {:.1} / {:.1}",
            quantile(&mut closes, 0.1),
            quantile(&mut closes, 0.5),
            quantile(&mut closes, 0.9)
        ),
        "12.7 / 33.3 / 133 (TWSE 2023-01-30)",
    ));
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
    out.extend(premia::ic_rows(panels));
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

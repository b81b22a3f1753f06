//! The TA-Lib indicators (`rsi`, `macd`, `stoch`, `bbands`, `atr`, `willr`): computed per stock
//! on forward-filled prices ([`crate::talib`]), every output at once.

use std::rc::Rc;

use super::args::CallArgs;
use super::{type_err, EvalError};
use crate::kernels;
use crate::ops::{OpId, PriceField};
use crate::panel::{align, Panel};
use crate::talib;

/// Bars without a price after which finlab treats a stock as gone (its delisting rule).
const UNPRICED_BARS: usize = 20;

/// A TA-Lib indicator computed per stock on forward-filled prices: the outputs numbered in
/// `wanted` (every output when it is empty); the others are `None`.
pub(super) fn indicator(
    call: &CallArgs,
    prices: &[&Panel],
    wanted: &[usize],
) -> Result<Vec<Option<Panel>>, EvalError> {
    if prices.len() != call.spec.prices.len() || prices.is_empty() {
        return Err(type_err(
            call.node,
            format!(
                "{} needs {} price panels",
                call.spec.name,
                call.spec.prices.len()
            ),
        ));
    }
    // All price panels onto one grid (they normally share it already).
    let mut aligned: Vec<Panel> = vec![prices[0].clone()];
    for p in &prices[1..] {
        let (a, b) = align(&aligned[0], p);
        aligned = aligned.iter().map(|x| align(x, &a).0).collect();
        aligned.push(b);
    }
    let like = aligned[0].clone();
    let rows = like.rows();
    let raw: Vec<Rc<Vec<f64>>> = aligned.iter().map(Panel::floats).collect();
    // Stocks never priced are left out (as finlab does), and cells after 20 or more bars without
    // a close are NaN (finlab's unpriced mask), whatever prices the indicator reads.
    let close_at = call
        .spec
        .prices
        .iter()
        .position(|f| *f == PriceField::Close)
        .unwrap_or(raw.len() - 1);
    let close = &raw[close_at];
    let outputs = call.spec.outputs.len().max(1);
    let want: Vec<bool> = (0..outputs)
        .map(|k| wanted.is_empty() || wanted.contains(&k))
        .collect();
    let mut cells: Vec<Vec<f64>> = want
        .iter()
        .map(|&w| Vec::with_capacity(if w { rows * like.columns.len() } else { 0 }))
        .collect();
    let mut kept = Vec::with_capacity(like.columns.len());
    // One stock's forward-filled prices, refilled for each stock.
    let mut ffilled: Vec<Vec<f64>> = raw.iter().map(|_| Vec::with_capacity(rows)).collect();
    for c in 0..like.columns.len() {
        let range = c * rows..(c + 1) * rows;
        let close_raw = &close[range.clone()];
        if close_raw.iter().all(|v| v.is_nan()) {
            continue;
        }
        kept.push(like.columns[c].clone());
        for (filled, v) in ffilled.iter_mut().zip(&raw) {
            kernels::ffill_into(&v[range.clone()], filled);
        }
        let mut outs = one_stock(call, &ffilled, &want)?;
        if outs.len() != outputs {
            return Err(type_err(
                call.node,
                format!("{} gave {} outputs", call.spec.name, outs.len()),
            ));
        }
        let gone = unpriced(close_raw);
        let built = outs.iter_mut().zip(cells.iter_mut()).zip(&want);
        for ((values, cells), _) in built.filter(|(_, &w)| w) {
            for r in &gone {
                let end = r.end.min(values.len());
                values[r.start.min(end)..end].fill(f64::NAN);
            }
            cells.extend_from_slice(values);
        }
    }
    let columns = Rc::new(kept);
    Ok(cells
        .into_iter()
        .zip(want)
        .map(|(c, w)| w.then(|| Panel::float(like.dates.clone(), columns.clone(), c)))
        .collect())
}

/// The rows of a stock's closes from its 20th missing close in a row to the end of that run
/// (finlab's unpriced mask).
fn unpriced(close: &[f64]) -> Vec<std::ops::Range<usize>> {
    let mut gone = Vec::new();
    let mut run_start = None;
    for (i, v) in close.iter().enumerate() {
        match (v.is_nan(), run_start) {
            (true, None) => run_start = Some(i),
            (false, Some(s)) => {
                if i - s >= UNPRICED_BARS {
                    gone.push(s + UNPRICED_BARS - 1..i);
                }
                run_start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = run_start.filter(|s| close.len() - s >= UNPRICED_BARS) {
        gone.push(s + UNPRICED_BARS - 1..close.len());
    }
    gone
}

/// The indicator's outputs for one stock, from its forward-filled price columns (in the
/// order of the operator's price inputs). Outputs not in `want` may be left empty.
fn one_stock(
    call: &CallArgs,
    prices: &[Vec<f64>],
    want: &[bool],
) -> Result<Vec<Vec<f64>>, EvalError> {
    let n = |name: &str| -> Result<usize, EvalError> { Ok(call.size(name)?.unwrap_or(1)) };
    let x = |k: usize| prices[k].as_slice();
    Ok(match call.spec.id {
        OpId::Rsi => talib::rsi(x(0), n("timeperiod")?),
        OpId::Macd => talib::macd(x(0), n("fastperiod")?, n("slowperiod")?, n("signalperiod")?),
        OpId::Stoch => talib::stoch(
            x(0),
            x(1),
            x(2),
            n("fastk_period")?,
            n("slowk_period")?,
            n("slowd_period")?,
        ),
        // The middle band alone is the moving average, without the deviation.
        OpId::Bbands if want == [false, true, false] => {
            vec![
                Vec::new(),
                talib::bbands_middle(x(0), n("timeperiod")?),
                Vec::new(),
            ]
        }
        OpId::Bbands => talib::bbands(
            x(0),
            n("timeperiod")?,
            call.float("nbdevup")?.unwrap_or(2.0),
            call.float("nbdevdn")?.unwrap_or(2.0),
        ),
        OpId::Atr => talib::atr(x(0), x(1), x(2), n("timeperiod")?),
        OpId::Willr => talib::willr(x(0), x(1), x(2), n("timeperiod")?),
        _ => return more_indicators(call, prices),
    })
}

/// The indicators beyond the first six (same conventions as [`one_stock`]).
fn more_indicators(call: &CallArgs, prices: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, EvalError> {
    let n = |name: &str| -> Result<usize, EvalError> { Ok(call.size(name)?.unwrap_or(1)) };
    let f = |name: &str, default: f64| -> Result<f64, EvalError> {
        Ok(call.float(name)?.unwrap_or(default))
    };
    let x = |k: usize| prices[k].as_slice();
    let period = || n("timeperiod");
    Ok(match call.spec.id {
        OpId::Sma => talib::sma(x(0), period()?),
        OpId::Ema => talib::ema(x(0), period()?),
        OpId::Wma => talib::wma(x(0), period()?),
        OpId::Dema => talib::dema(x(0), period()?),
        OpId::Tema => talib::tema(x(0), period()?),
        OpId::Kama => talib::kama(x(0), period()?),
        OpId::Adx => talib::adx(x(0), x(1), x(2), period()?),
        OpId::PlusDi => talib::di(x(0), x(1), x(2), period()?, talib::Di::Plus),
        OpId::MinusDi => talib::di(x(0), x(1), x(2), period()?, talib::Di::Minus),
        OpId::Cci => talib::cci(x(0), x(1), x(2), period()?),
        OpId::Mfi => talib::mfi(x(0), x(1), x(2), x(3), period()?),
        OpId::Obv => talib::obv(x(0), x(1)),
        OpId::Roc => talib::roc(x(0), period()?),
        OpId::Mom => talib::mom(x(0), period()?),
        OpId::Stddev => talib::stddev(x(0), period()?, f("nbdev", 1.0)?),
        OpId::Natr => talib::natr(x(0), x(1), x(2), period()?),
        OpId::Trange => talib::trange(x(0), x(1), x(2)),
        OpId::Aroon => talib::aroon(x(0), x(1), period()?),
        OpId::Sar => talib::sar(x(0), x(1), f("acceleration", 0.02)?, f("maximum", 0.2)?),
        OpId::Ultosc => talib::ultosc(
            x(0),
            x(1),
            x(2),
            [n("timeperiod1")?, n("timeperiod2")?, n("timeperiod3")?],
        ),
        OpId::Cmo => talib::cmo(x(0), period()?),
        OpId::Ppo => talib::price_oscillator(x(0), n("fastperiod")?, n("slowperiod")?, true),
        OpId::Apo => talib::price_oscillator(x(0), n("fastperiod")?, n("slowperiod")?, false),
        OpId::Bop => talib::bop(x(0), x(1), x(2), x(3)),
        OpId::Ad => talib::ad(x(0), x(1), x(2), x(3)),
        OpId::Adosc => talib::adosc(x(0), x(1), x(2), x(3), n("fastperiod")?, n("slowperiod")?),
        _ => {
            return Err(type_err(
                call.node,
                format!("{} is not an indicator", call.spec.name),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpriced_rows_are_those_from_the_20th_missing_close_in_a_row() {
        // Runs of missing closes of every length around the threshold, at the start, between
        // prices and at the end.
        let mut close = Vec::new();
        for len in [0, 1, 18, 19, 20, 21, 40, 3, 25] {
            close.extend(std::iter::repeat_n(f64::NAN, len));
            close.push(1.0);
        }
        close.extend(std::iter::repeat_n(f64::NAN, 22));
        let mut want = vec![false; close.len()];
        let mut gap = 0;
        for (w, v) in want.iter_mut().zip(&close) {
            gap = if v.is_nan() { gap + 1 } else { 0 };
            *w = gap >= UNPRICED_BARS;
        }
        let mut got = vec![false; close.len()];
        for r in unpriced(&close) {
            got[r].iter_mut().for_each(|g| *g = true);
        }
        assert_eq!(got, want);
        assert!(want.iter().any(|&w| w));
        assert!(unpriced(&[f64::NAN; 19]).is_empty());
        assert_eq!(unpriced(&[f64::NAN; 20]), vec![19..20]);
    }
}

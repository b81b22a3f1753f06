//! The TA-Lib indicators (`rsi`, `macd`, `stoch`, `bbands`, `atr`, `willr`): computed per stock
//! on forward-filled prices ([`crate::talib`]), every output at once.

use std::rc::Rc;

use super::args::CallArgs;
use super::{type_err, EvalError};
use crate::kernels;
use crate::ops::OpId;
use crate::panel::{align, Panel};
use crate::talib;

/// Bars without a price after which finlab treats a stock as gone (its delisting rule).
const UNPRICED_BARS: usize = 20;

/// A TA-Lib indicator computed per stock on forward-filled prices: every output.
pub(super) fn indicator(call: &CallArgs, prices: &[&Panel]) -> Result<Vec<Panel>, EvalError> {
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
    // The close is the last price input; stocks never priced are left out (as finlab does), and
    // cells after 20 or more bars without a close are NaN (finlab's unpriced mask).
    let close = &raw[raw.len() - 1];
    let outputs = call.spec.outputs.len().max(1);
    let mut cells: Vec<Vec<f64>> = vec![Vec::with_capacity(rows * like.columns.len()); outputs];
    let mut kept = Vec::with_capacity(like.columns.len());
    for c in 0..like.columns.len() {
        let range = c * rows..(c + 1) * rows;
        let close_raw = &close[range.clone()];
        if close_raw.iter().all(|v| v.is_nan()) {
            continue;
        }
        kept.push(like.columns[c].clone());
        let ffilled: Vec<Vec<f64>> = raw
            .iter()
            .map(|v| kernels::ffill(&v[range.clone()]))
            .collect();
        let mut outs = one_stock(call, &ffilled)?;
        if outs.len() != outputs {
            return Err(type_err(
                call.node,
                format!("{} gave {} outputs", call.spec.name, outs.len()),
            ));
        }
        for (values, cells) in outs.iter_mut().zip(cells.iter_mut()) {
            let mut gap = 0usize;
            for (v, raw) in values.iter_mut().zip(close_raw) {
                gap = if raw.is_nan() { gap + 1 } else { 0 };
                if gap >= UNPRICED_BARS {
                    *v = f64::NAN;
                }
            }
            cells.extend_from_slice(values);
        }
    }
    let columns = Rc::new(kept);
    Ok(cells
        .into_iter()
        .map(|c| Panel::float(like.dates.clone(), columns.clone(), c))
        .collect())
}

/// The indicator's outputs for one stock, from its forward-filled price columns (in the
/// order of the operator's price inputs).
fn one_stock(call: &CallArgs, prices: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, EvalError> {
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
        OpId::Bbands => talib::bbands(
            x(0),
            n("timeperiod")?,
            call.float("nbdevup")?.unwrap_or(2.0),
            call.float("nbdevdn")?.unwrap_or(2.0),
        ),
        OpId::Atr => talib::atr(x(0), x(1), x(2), n("timeperiod")?),
        OpId::Willr => talib::willr(x(0), x(1), x(2), n("timeperiod")?),
        _ => {
            return Err(type_err(
                call.node,
                format!("{} is not an indicator", call.spec.name),
            ))
        }
    })
}

//! Operator calls: the one exhaustive `match` on [`OpId`], each arm a call into the kernels (or
//! into [`super::select`] and [`super::indicator`]). A new operator is one arm here.

use std::rc::Rc;

use super::args::{receiver, CallArgs, Rolling};
use super::macros::compare;
use super::{
    elementwise, get, indicator, select, type_err, windows, EvalError, IndicatorCache, Value,
};
use crate::cells;
use crate::hold::{self, Frame, HoldOptions};
use crate::kernels::{self, RowStat};
use crate::ops::{OpId, Receiver};
use crate::panel::{exact_mask, outer_align, Cells, Panel};
use crate::plan::{Arg, BinOp, Node};

/// Evaluates the call node `i`. A multi-output indicator is computed once for all its output
/// nodes (kept in `indicators`).
pub(super) fn call(
    i: usize,
    node: &Node,
    values: &[Option<Value>],
    indicators: &mut IndicatorCache,
    read_at: Option<super::args::ReadAt>,
) -> Result<Value, EvalError> {
    let Node::Call {
        op,
        recv,
        args,
        prices,
        out,
    } = node
    else {
        return Err(type_err(i, "not a call"));
    };
    let (recv, on_series) = match recv {
        Some(r) => match get(values, i, *r)? {
            Value::Panel(p) => (Some(p), false),
            Value::Series(p) if op.on_series() => (Some(p), true),
            Value::Series(_) => {
                let name = op.spec().name;
                return Err(type_err(i, format!("`{name}` does not apply to a Series")));
            }
            Value::Scalar(_) => return Err(type_err(i, "methods apply to panels")),
        },
        None => (None, false),
    };
    let prices = prices
        .iter()
        .map(|p| match get(values, i, *p)? {
            Value::Panel(p) => Ok(p),
            _ => Err(type_err(i, "price inputs must be panels")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let call = CallArgs {
        node: i,
        spec: op.spec(),
        args,
        values,
        read_at,
    };
    call.check_arity()?;
    if call.spec.receiver != Receiver::None {
        return Ok(match dispatch(&call, recv, &prices)? {
            // A Series is a one-column panel: the same kernel, the result a Series again.
            Value::Panel(p) if on_series => Value::Series(p),
            v => v,
        });
    }
    let key = call_key(node);
    let outs = match indicators.computed.get(&key) {
        Some(o) => o.clone(),
        None => {
            let wanted = indicators.wanted.get(&key).map_or(&[][..], Vec::as_slice);
            let o = Rc::new(indicator::indicator(&call, &prices, wanted)?);
            indicators.computed.insert(key, o.clone());
            o
        }
    };
    let panel = outs
        .get(*out)
        .cloned()
        .flatten()
        .ok_or_else(|| type_err(i, format!("{} has no output {out}", op.spec().name)))?;
    Ok(Value::Panel(panel))
}

/// What identifies an indicator call among a plan's nodes, whichever output a node picks.
pub(super) fn call_key(node: &Node) -> String {
    match node {
        Node::Call { op, args, .. } => format!("{op:?} {args:?} {:?}", node.operands()),
        _ => String::new(),
    }
}

/// A method of a receiver panel.
fn dispatch(call: &CallArgs, recv: Option<&Panel>, prices: &[&Panel]) -> Result<Value, EvalError> {
    let p = receiver(call, recv)?;
    let periods = |name: &str| -> Result<usize, EvalError> { Ok(call.size(name)?.unwrap_or(1)) };
    let panel = match call.spec.id {
        OpId::Average
        | OpId::RollingMean
        | OpId::RollingSum
        | OpId::RollingMax
        | OpId::RollingMin => rolling(p, Rolling::of(call)?),
        OpId::RollingStd => {
            let w = call.size("window")?.unwrap_or(1);
            let m = call.size("min_periods")?.unwrap_or(w);
            p.map_panel(|x, rows, out| kernels::rolling_std_panel(x, rows, w, m, out))
        }
        OpId::RollingMedian => from_first_value(call, p, kernels::rolling_median)?,
        OpId::Shift => shift(p, periods("periods")?),
        OpId::PctChange => p.with_floats(vs_shifted(p, periods("periods")?, |x, y| x / y - 1.0)),
        OpId::Diff => p.with_floats(vs_shifted(p, periods("periods")?, |x, y| x - y)),
        OpId::Rise => p.with_bools(vs_shifted(p, periods("nwindow")?, |x, y| {
            compare(BinOp::Gt, x, y)
        })),
        OpId::Fall => p.with_bools(vs_shifted(p, periods("nwindow")?, |x, y| {
            compare(BinOp::Lt, x, y)
        })),
        OpId::Sustain => sustain(call, p)?,
        OpId::IsLargest => select::is_extreme(call, p, true)?,
        OpId::IsSmallest => select::is_extreme(call, p, false)?,
        OpId::Rank => select::rank(call, p)?,
        OpId::QuantileRow => return quantile_row(call, p),
        OpId::IsEntry => p.with_bools(kernels::edges(&p.bools(), p.rows(), true)),
        OpId::IsExit => p.with_bools(kernels::edges(&p.bools(), p.rows(), false)),
        OpId::HoldUntil => hold_until(call, p, prices)?,
        OpId::Fillna => fillna(call, p)?,
        OpId::Ffill => ffill(p),
        OpId::Abs => p.with_floats(cells::map(&p.floats(), f64::abs)),
        OpId::Log => p.with_floats(cells::map(&p.floats(), f64::ln)),
        OpId::Clip => clip(call, p)?,
        OpId::Where => where_(call, p)?,
        OpId::IndustryRank => select::industry_rank(p, industries(call, prices)?),
        OpId::Maximum => pick(call, p, true)?,
        OpId::Minimum => pick(call, p, false)?,
        OpId::Pow => elementwise::pow(call, p)?,
        OpId::Sqrt => elementwise::sqrt(p),
        OpId::Exp => elementwise::exp(p),
        OpId::Sign => elementwise::sign(p),
        OpId::NpWhere => elementwise::np_where(call, p)?,
        OpId::Astype => elementwise::astype(call, p)?,
        OpId::IsNa => elementwise::missing(p, true),
        OpId::NotNa => elementwise::missing(p, false),
        OpId::Round => elementwise::round(call, p)?,
        OpId::EwmMean | OpId::EwmStd => windows::ewm(call, p)?,
        OpId::ExpandingMean | OpId::ExpandingMax | OpId::ExpandingMin | OpId::ExpandingSum => {
            windows::expanding(call, p)?
        }
        OpId::Cumsum => windows::cumsum(p),
        OpId::Loc => windows::loc(call, p)?,
        OpId::RowMean => return Ok(row_reduce(p, RowStat::Mean)),
        OpId::RowSum => return Ok(row_reduce(p, RowStat::Sum)),
        OpId::RowMax => return Ok(row_reduce(p, RowStat::Max)),
        OpId::RowMin => return Ok(row_reduce(p, RowStat::Min)),
        OpId::RowStd => return Ok(row_reduce(p, RowStat::Std)),
        OpId::RowMedian => return Ok(row_reduce(p, RowStat::Median)),
        OpId::RowCount => return Ok(row_reduce(p, RowStat::Count)),
        OpId::Rsi
        | OpId::Macd
        | OpId::Stoch
        | OpId::Bbands
        | OpId::Atr
        | OpId::Willr
        | OpId::Sma
        | OpId::Ema
        | OpId::Wma
        | OpId::Dema
        | OpId::Tema
        | OpId::Kama
        | OpId::Adx
        | OpId::PlusDi
        | OpId::MinusDi
        | OpId::Cci
        | OpId::Mfi
        | OpId::Obv
        | OpId::Roc
        | OpId::Mom
        | OpId::Stddev
        | OpId::Natr
        | OpId::Trange
        | OpId::Aroon
        | OpId::Sar
        | OpId::Ultosc
        | OpId::Cmo
        | OpId::Ppo
        | OpId::Apo
        | OpId::Bop
        | OpId::Ad
        | OpId::Adosc => return Err(type_err(call.node, "an indicator has no receiver")),
    };
    Ok(Value::Panel(panel))
}

/// A rolling statistic (`average`, `rolling().mean/sum/max/min`) of every column.
fn rolling(p: &Panel, r: Rolling) -> Panel {
    p.map_panel(|x, rows, out| r.panel(x, rows, out))
}

/// `rolling(window, min_periods)` with a column `kernel` run from each column's first value.
fn from_first_value(
    call: &CallArgs,
    p: &Panel,
    kernel: fn(&[f64], usize, usize) -> Vec<f64>,
) -> Result<Panel, EvalError> {
    let w = call.size("window")?.unwrap_or(1);
    let m = call.size("min_periods")?.unwrap_or(w);
    Ok(p.map_columns(|c| kernels::from_first_value(c, |c| kernel(c, w, m))))
}

/// The value `n` rows earlier, per column (NaN, or False for bools, before the first `n` rows).
fn shift(p: &Panel, n: usize) -> Panel {
    let rows = p.rows();
    match &p.cells {
        Cells::Float(v) => p.with_floats(kernels::shift(v, rows, n, f64::NAN)),
        Cells::Bool(v) => p.with_bools(kernels::shift(v, rows, n, false)),
    }
}

/// `f(x, x n rows earlier)` of every cell, column by column (the earlier value is NaN before
/// the first `n` rows; a bool panel reads as 0/1).
fn vs_shifted<U: Copy>(p: &Panel, n: usize, f: impl Fn(f64, f64) -> U) -> Vec<U> {
    let x = p.floats();
    let rows = p.rows();
    let mut out = Vec::with_capacity(x.len());
    if rows > 0 {
        for col in x.chunks_exact(rows) {
            kernels::vs_shifted(col, n, &f, &mut out);
        }
    }
    out
}

/// finlab's `sustain(nwindow, nsatisfy)`: at least `nsatisfy` of the last `nwindow` cells true.
fn sustain(call: &CallArgs, p: &Panel) -> Result<Panel, EvalError> {
    let w = call.size("nwindow")?.unwrap_or(1);
    let need = call.size("nsatisfy")?.unwrap_or(w);
    if let Cells::Bool(b) = &p.cells {
        // A count of true cells in the window: exact, no float sums.
        return Ok(p.with_bools(kernels::sustain_bools(b, p.rows(), w, need)));
    }
    let sums = p
        .map_columns(|c| kernels::rolling_sum_mean(c, w, w, false))
        .floats();
    let need = need as f64;
    Ok(p.with_bools(cells::map(&sums, |s| s >= need)))
}

/// `quantile_row(c)`: a Series, each date's quantile over the stocks.
fn quantile_row(call: &CallArgs, p: &Panel) -> Result<Value, EvalError> {
    let q = call.float("c")?.unwrap_or(0.5);
    let rows = p.row_major();
    let k = p.columns.len().max(1);
    let values = rows
        .chunks(k)
        .map(|row| kernels::quantile(row, q))
        .collect();
    Ok(super::series(p.dates.clone(), values))
}

/// `.mean(axis=1)` and the other reductions across each date's stocks: a Series.
fn row_reduce(p: &Panel, stat: RowStat) -> Value {
    let values = match &p.cells {
        Cells::Bool(b) => kernels::row_reduce_bools(b, p.rows(), stat),
        Cells::Float(_) => None,
    };
    let values = match (values, stat) {
        (Some(v), _) => v,
        (None, RowStat::Median) => kernels::row_median(&p.row_major(), p.columns.len()),
        (None, _) => kernels::row_reduce(&p.floats(), p.rows(), stat),
    };
    super::series(p.dates.clone(), values)
}

fn fillna(call: &CallArgs, p: &Panel) -> Result<Panel, EvalError> {
    let v = call.float("value")?.unwrap_or(0.0);
    Ok(match &p.cells {
        Cells::Bool(_) => p.clone(),
        Cells::Float(x) => p.with_floats(cells::map(x, |x| if x.is_nan() { v } else { x })),
    })
}

fn ffill(p: &Panel) -> Panel {
    match &p.cells {
        Cells::Bool(_) => p.clone(),
        Cells::Float(_) => p.map_columns(kernels::ffill),
    }
}

fn clip(call: &CallArgs, p: &Panel) -> Result<Panel, EvalError> {
    let lo = call.float("lower")?.unwrap_or(f64::NEG_INFINITY);
    let hi = call.float("upper")?.unwrap_or(f64::INFINITY);
    // f64::max/min would replace a missing value by the bound; pandas keeps NaN.
    let clip = |x: f64| {
        if x.is_nan() {
            x
        } else {
            kernels::min(kernels::max(x, lo), hi)
        }
    };
    Ok(p.with_floats(cells::map(&p.floats(), clip)))
}

/// pandas `where(cond, other)`: the condition is matched to the receiver by exact date and
/// stock; a missing label counts as False.
fn where_(call: &CallArgs, p: &Panel) -> Result<Panel, EvalError> {
    let cond = call
        .panel("cond")?
        .ok_or_else(|| type_err(call.node, "where needs `cond`"))?;
    let other = call.float("other")?.unwrap_or(f64::NAN);
    let mask = exact_mask(p, cond);
    Ok(p.with_floats(cells::zip(
        &p.floats(),
        &mask,
        |x, keep| {
            if keep {
                x
            } else {
                other
            }
        },
    )))
}

/// `industry_rank`'s industry table (its one price input).
fn industries<'a>(call: &CallArgs, prices: &[&'a Panel]) -> Result<&'a Panel, EvalError> {
    prices
        .first()
        .copied()
        .ok_or_else(|| type_err(call.node, "industry_rank needs the industry table"))
}

/// numpy's `maximum` / `minimum` with a number or a panel (outer-aligned); NaN wins.
fn pick(call: &CallArgs, p: &Panel, maximum: bool) -> Result<Panel, EvalError> {
    let pick = |a: f64, b: f64| {
        if a.is_nan() || b.is_nan() {
            f64::NAN
        } else if maximum {
            kernels::max(a, b)
        } else {
            kernels::min(a, b)
        }
    };
    if let Arg::Float(s) = call.arg("other")? {
        let s = *s;
        return Ok(p.with_floats(cells::map(&p.floats(), |x| pick(x, s))));
    }
    let q = call
        .panel("other")?
        .ok_or_else(|| type_err(call.node, "maximum/minimum need `other`"))?;
    let (a, b) = outer_align(p, q);
    Ok(a.with_floats(cells::zip(&a.floats(), &b.floats(), pick)))
}

/// finlab's `hold_until(exit, nstocks_limit, stop_loss, take_profit, trail_stop, rank)`.
fn hold_until(call: &CallArgs, entry: &Panel, prices: &[&Panel]) -> Result<Panel, EvalError> {
    let i = call.node;
    let exit = call
        .panel("exit")?
        .ok_or_else(|| type_err(i, "hold_until needs `exit`"))?;
    let rank = call.panel("rank")?;
    let opts = HoldOptions {
        nstocks_limit: call.size("nstocks_limit")?,
        stop_loss: call.float("stop_loss")?,
        take_profit: call.float("take_profit")?,
        trail_stop: call.float("trail_stop")?,
        trail_stop_activation: call.float("trail_stop_activation")?,
    };
    let stops = opts.stop_loss.is_some() || opts.take_profit.is_some() || opts.trail_stop.is_some();
    let price = match (stops, prices.first()) {
        (true, Some(p)) => Some(*p),
        (true, None) => return Err(type_err(i, "hold_until stops need the adjusted close")),
        _ => None,
    };
    let frames: Vec<Frame> = [Some(entry), Some(exit), rank, price]
        .into_iter()
        .flatten()
        .map(|p| Frame {
            dates: &p.dates,
            columns: &p.columns,
            values: match &p.cells {
                Cells::Float(v) => hold::Cells::Float(v),
                Cells::Bool(b) => hold::Cells::Bool(b),
            },
        })
        .collect();
    let rank_frame = rank.map(|_| &frames[2]);
    let price_frame = price.map(|_| &frames[frames.len() - 1]);
    let held = hold::hold_until(&frames[0], &frames[1], rank_frame, price_frame, opts);
    Ok(Panel::boolean(
        Rc::new(held.dates),
        Rc::new(held.columns),
        held.values,
    ))
}

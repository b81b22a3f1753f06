//! Windows that grow with the column: `ewm(...).mean()/.std()`, `expanding(...)` statistics and
//! `cumsum()`; and `loc[start:end]`, which keeps a range of rows. None reads a later row.

use super::args::{CallArgs, Rolling};
use super::{type_err, EvalError};
use crate::kernels::{self, Ewm};
use crate::ops::OpId;
use std::rc::Rc;

use crate::dates;
use crate::panel::{Cells, Panel};

/// `ewm(com | span | halflife | alpha, min_periods, adjust, ignore_na).mean()` or `.std()`.
pub(super) fn ewm(call: &CallArgs, p: &Panel) -> Result<Panel, EvalError> {
    let o = Ewm {
        com: center_of_mass(call)?,
        adjust: call.flag("adjust")?,
        ignore_na: call.flag("ignore_na")?,
        min_periods: call.size("min_periods")?.unwrap_or(1),
    };
    Ok(if call.spec.id == OpId::EwmStd {
        p.map_columns(|c| kernels::ewm_std(c, &o))
    } else {
        p.map_columns(|c| kernels::ewm_mean(c, &o))
    })
}

/// pandas' centre of mass from the one decay parameter given (the checker allows exactly one,
/// in range).
fn center_of_mass(call: &CallArgs) -> Result<f64, EvalError> {
    if let Some(com) = call.float("com")? {
        return Ok(com);
    }
    if let Some(span) = call.float("span")? {
        return Ok((span - 1.0) / 2.0);
    }
    if let Some(halflife) = call.float("halflife")? {
        let decay = 1.0 - libm::exp(libm::log(0.5) / halflife);
        return Ok(1.0 / decay - 1.0);
    }
    match call.float("alpha")? {
        Some(alpha) => Ok((1.0 - alpha) / alpha),
        None => Err(type_err(
            call.node,
            "ewm needs one of com, span, halflife, alpha",
        )),
    }
}

/// `expanding(min_periods).mean()/.sum()/.max()/.min()`: pandas' rolling statistics over a
/// window that starts at the first row (the rolling kernels with the column's length).
pub(super) fn expanding(call: &CallArgs, p: &Panel) -> Result<Panel, EvalError> {
    let r = Rolling::expanding(call, p.rows())?;
    Ok(p.map_panel(|x, rows, out| r.panel(x, rows, out)))
}

/// `cumsum()`: a bool panel counts its True cells.
pub(super) fn cumsum(p: &Panel) -> Panel {
    p.map_columns(kernels::cumsum)
}

/// `loc[start:end]`: the rows dated from `start` through `end` (either unset), as pandas slices
/// a sorted date index. Keeping no row is an error, not an empty panel.
pub(super) fn loc(call: &CallArgs, p: &Panel) -> Result<Panel, EvalError> {
    let start = call.int("start")?;
    let end = call.int("end")?;
    let dates = &p.dates;
    let from = start.map_or(0, |s| dates.partition_point(|&d| i64::from(d) < s));
    let to = end.map_or(dates.len(), |e| {
        dates.partition_point(|&d| i64::from(d) <= e)
    });
    if from >= to {
        let text = |d: Option<i64>| d.map_or(String::new(), |d| format!("\"{}\"", day(d)));
        return Err(EvalError::NoDates {
            range: format!("{}:{}", text(start), text(end)),
            first: dates.first().map_or("none".into(), |&d| dates::format(d)),
            last: dates.last().map_or("none".into(), |&d| dates::format(d)),
        });
    }
    if from == 0 && to == dates.len() {
        return Ok(p.clone());
    }
    let rows = dates.len();
    let kept = Rc::new(dates[from..to].to_vec());
    let cut = |c: usize| c * rows + from..c * rows + to;
    let columns = 0..p.columns.len();
    Ok(match &p.cells {
        Cells::Float(v) => Panel::float(
            kept,
            p.columns.clone(),
            columns.flat_map(|c| v[cut(c)].iter().copied()).collect(),
        ),
        Cells::Bool(v) => Panel::boolean(
            kept,
            p.columns.clone(),
            columns.flat_map(|c| v[cut(c)].iter().copied()).collect(),
        ),
    })
}

/// A day number from a plan argument, as a date (the registry bounds it to `i32`).
fn day(d: i64) -> String {
    dates::format(i32::try_from(d).unwrap_or(i32::MAX))
}

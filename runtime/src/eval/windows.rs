//! Windows that grow with the column: `ewm(...).mean()/.std()`, `expanding(...)` statistics and
//! `cumsum()`. None reads a later row.

use super::args::{CallArgs, Rolling};
use super::{type_err, EvalError};
use crate::kernels::{self, Ewm};
use crate::ops::OpId;
use crate::panel::Panel;

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

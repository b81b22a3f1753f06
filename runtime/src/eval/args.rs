//! Decoding a call's arguments: by parameter name, with the registry's kinds and ranges
//! ([`CallArgs`]), and the rolling statistics a fused chain also computes ([`Rolling`]).

use super::{get, type_err, EvalError, Value};
use crate::kernels;
use crate::ops::{OpId, OpSpec};
use crate::panel::Panel;
use crate::plan::{Arg, Node, Plan};

/// The arguments of one operator call, read by parameter name with their registry kinds.
pub(super) struct CallArgs<'a> {
    pub(super) node: usize,
    pub(super) spec: &'static OpSpec,
    pub(super) args: &'a [Arg],
    pub(super) values: &'a [Option<Value>],
    /// Compute only the rows read at these dates (see [`Plan::read_at`]); others NaN/False.
    pub(super) read_at: Option<ReadAt<'a>>,
}

/// The rows a restricted node computes (see [`super::restrict`]).
#[derive(Clone, Copy)]
pub(super) struct ReadAt<'a> {
    /// The dates `sim()` reads.
    pub(super) dates: &'a [i32],
    /// The receiver holds only the rows read at `dates` of this grid (a fused chain computed
    /// there alone); the result goes back on the whole grid.
    pub(super) compact_of: Option<&'a std::rc::Rc<Vec<i32>>>,
}

impl CallArgs<'_> {
    pub(super) fn check_arity(&self) -> Result<(), EvalError> {
        if self.args.len() != self.spec.params.len() {
            return Err(type_err(
                self.node,
                format!(
                    "{} takes {} arguments, the plan gives {}",
                    self.spec.name,
                    self.spec.params.len(),
                    self.args.len()
                ),
            ));
        }
        Ok(())
    }

    pub(super) fn arg(&self, name: &str) -> Result<&Arg, EvalError> {
        self.spec
            .param(name)
            .and_then(|k| self.args.get(k))
            .ok_or_else(|| type_err(self.node, format!("{} has no `{name}`", self.spec.name)))
    }

    pub(super) fn int(&self, name: &str) -> Result<Option<i64>, EvalError> {
        let k = self.spec.param(name).unwrap_or(usize::MAX);
        match self.arg(name)? {
            Arg::None => Ok(None),
            Arg::Int(v) => {
                if let Some((lo, hi)) = self.spec.params[k].kind.range() {
                    if *v < lo || *v > hi {
                        return Err(type_err(
                            self.node,
                            format!("{}: `{name}` = {v} is outside {lo}..={hi}", self.spec.name),
                        ));
                    }
                }
                Ok(Some(*v))
            }
            _ => Err(self.wrong(name, "a whole number")),
        }
    }

    pub(super) fn size(&self, name: &str) -> Result<Option<usize>, EvalError> {
        Ok(self.int(name)?.map(|v| v.max(1) as usize))
    }

    pub(super) fn float(&self, name: &str) -> Result<Option<f64>, EvalError> {
        match self.arg(name)? {
            Arg::None => Ok(None),
            Arg::Float(v) => Ok(Some(*v)),
            Arg::Int(v) => Ok(Some(*v as f64)),
            _ => Err(self.wrong(name, "a number")),
        }
    }

    pub(super) fn flag(&self, name: &str) -> Result<bool, EvalError> {
        match self.arg(name)? {
            Arg::Bool(b) => Ok(*b),
            _ => Err(self.wrong(name, "a bool")),
        }
    }

    pub(super) fn text(&self, name: &str) -> Result<&str, EvalError> {
        match self.arg(name)? {
            Arg::Str(s) => Ok(s),
            _ => Err(self.wrong(name, "a string")),
        }
    }

    fn value(&self, name: &str) -> Result<Option<&Value>, EvalError> {
        match self.arg(name)? {
            Arg::None => Ok(None),
            Arg::Node(n) => get(self.values, self.node, *n).map(Some),
            _ => Err(self.wrong(name, "a panel")),
        }
    }

    pub(super) fn panel(&self, name: &str) -> Result<Option<&Panel>, EvalError> {
        match self.value(name)? {
            None => Ok(None),
            Some(Value::Panel(p)) => Ok(Some(p)),
            Some(_) => Err(self.wrong(name, "a panel")),
        }
    }

    fn wrong(&self, name: &str, what: &str) -> EvalError {
        type_err(
            self.node,
            format!("{}: `{name}` must be {what}", self.spec.name),
        )
    }
}

/// A rolling-window statistic that runs column by column with no state across columns:
/// `average(n)` (finlab: `rolling(n, min_periods=n // 2).mean()`, §5.3) and
/// `rolling(window, min_periods).mean()/.sum()/.max()/.min()`. A fused chain computes it a
/// pair of columns at a time (see `fuse`).
#[derive(Clone, Copy)]
pub(super) struct Rolling {
    stat: Stat,
    window: usize,
    min_periods: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Stat {
    Mean,
    Sum,
    Max,
    Min,
}

impl Rolling {
    /// The statistic a call computes; an error for any other op.
    pub(super) fn of(call: &CallArgs) -> Result<Rolling, EvalError> {
        let stat = match call.spec.id {
            OpId::Average => {
                let n = call.size("n")?.unwrap_or(1);
                return Ok(Rolling {
                    stat: Stat::Mean,
                    window: n,
                    min_periods: n / 2,
                });
            }
            OpId::RollingMean => Stat::Mean,
            OpId::RollingSum => Stat::Sum,
            OpId::RollingMax => Stat::Max,
            OpId::RollingMin => Stat::Min,
            _ => {
                return Err(type_err(
                    call.node,
                    format!("{} is not a rolling statistic", call.spec.name),
                ))
            }
        };
        let window = call.size("window")?.unwrap_or(1);
        Ok(Rolling {
            stat,
            window,
            min_periods: call.size("min_periods")?.unwrap_or(window),
        })
    }

    /// `expanding(min_periods)` statistics: a window as long as the column (`rows`).
    pub(super) fn expanding(call: &CallArgs, rows: usize) -> Result<Rolling, EvalError> {
        let stat = match call.spec.id {
            OpId::ExpandingMean => Stat::Mean,
            OpId::ExpandingSum => Stat::Sum,
            OpId::ExpandingMax => Stat::Max,
            OpId::ExpandingMin => Stat::Min,
            _ => {
                return Err(type_err(
                    call.node,
                    format!("{} is not an expanding statistic", call.spec.name),
                ))
            }
        };
        Ok(Rolling {
            stat,
            window: rows.max(1),
            min_periods: call.size("min_periods")?.unwrap_or(1),
        })
    }

    /// Node `i` as `(receiver, statistic)` when it is a well-formed call of a rolling
    /// statistic on a receiver (anything else: `None`, and the node-by-node evaluation reports
    /// what is wrong).
    pub(super) fn of_node(
        plan: &Plan,
        i: usize,
        values: &[Option<Value>],
    ) -> Option<(usize, Rolling)> {
        let Node::Call {
            op,
            recv: Some(recv),
            args,
            prices,
            ..
        } = plan.nodes.get(i)?
        else {
            return None;
        };
        if !prices.is_empty() || !Self::is_rolling(*op) {
            return None;
        }
        let call = CallArgs {
            node: i,
            spec: op.spec(),
            args,
            values,
            read_at: None,
        };
        call.check_arity().ok()?;
        Some((*recv, Rolling::of(&call).ok()?))
    }

    /// Whether `op` is one of the statistics [`Rolling`] computes.
    pub(super) fn is_rolling(op: OpId) -> bool {
        matches!(
            op,
            OpId::Average
                | OpId::RollingMean
                | OpId::RollingSum
                | OpId::RollingMax
                | OpId::RollingMin
        )
    }

    /// The statistic of every column of a column-major panel of `rows` rows, into `out`.
    pub(super) fn panel(&self, x: &[f64], rows: usize, out: &mut [f64]) {
        let (w, m) = (self.window, self.min_periods);
        match self.stat {
            Stat::Mean | Stat::Sum => {
                kernels::rolling_sum_mean_panel(x, rows, w, m, self.stat == Stat::Mean, out)
            }
            Stat::Max | Stat::Min => {
                kernels::rolling_extreme_panel(x, rows, w, m, self.stat == Stat::Max, out)
            }
        }
    }
}

pub(super) fn receiver<'a>(
    call: &CallArgs,
    recv: Option<&'a Panel>,
) -> Result<&'a Panel, EvalError> {
    recv.ok_or_else(|| type_err(call.node, format!("{} needs a receiver", call.spec.name)))
}

//! The one operator registry. Every panel method of the DSL is an [`OpId`]; its [`OpSpec`] says how
//! it is spelled (here and in finlab), what it takes and what it returns. The host's checker,
//! lowering, exporter and prompt reference and the guest's kernel dispatch all `match` on `OpId`,
//! so adding an operator forces every consumer to handle it.

use serde::{Deserialize, Serialize};

/// Identifier of a registry operator; the only operator name that crosses into the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpId {
    Average,
    Shift,
    IsLargest,
    IsSmallest,
    Rise,
    Fall,
}

/// What kind of panel an operator accepts as its receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Receiver {
    /// Float panels; bool panels are read as 0/1 (as pandas does).
    Numeric,
    /// Bool panels only.
    Bool,
}

/// What an operator returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Float,
    Bool,
    /// The receiver's kind (e.g. `shift` of a bool panel is a bool panel).
    Same,
}

/// How an integer parameter is constrained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// A rolling window length in rows, `1..=MAX_WINDOW`.
    Window,
    /// A positive lag in rows, `1..=MAX_WINDOW`; zero or negative would read the future.
    Lag,
    /// A count of stocks per row, `1..=MAX_COUNT`.
    Count,
}

/// Largest window or lag (ten years of trading days).
pub const MAX_WINDOW: i64 = 2520;
/// Largest stock count for `is_largest`-style selections.
pub const MAX_COUNT: i64 = 5000;

impl ParamKind {
    /// The inclusive range a value of this kind must lie in.
    pub fn range(self) -> (i64, i64) {
        match self {
            ParamKind::Window | ParamKind::Lag => (1, MAX_WINDOW),
            ParamKind::Count => (1, MAX_COUNT),
        }
    }
}

/// One integer parameter of an operator.
#[derive(Debug)]
pub struct ParamSpec {
    pub name: &'static str,
    pub kind: ParamKind,
    /// `None` = required.
    pub default: Option<i64>,
}

/// Everything the host and guest need to know about an operator.
#[derive(Debug)]
pub struct OpSpec {
    pub id: OpId,
    /// The DSL spelling (a method name on a panel).
    pub name: &'static str,
    /// The finlab / pandas spelling the exporter writes.
    pub finlab: &'static str,
    pub receiver: Receiver,
    pub params: &'static [ParamSpec],
    pub output: Output,
    /// One-line documentation for the DSL reference.
    pub doc: &'static str,
    /// A `.strat` expression using the operator.
    pub example: &'static str,
}

impl OpSpec {
    /// Rows of history the operator needs before its first valid output (for lookback planning).
    pub fn lookback(&self, args: &[i64]) -> i64 {
        match self.id {
            OpId::Average | OpId::Shift | OpId::Rise | OpId::Fall => {
                args.first().copied().unwrap_or(0)
            }
            OpId::IsLargest | OpId::IsSmallest => 0,
        }
    }
}

const N_WINDOW: &[ParamSpec] = &[ParamSpec {
    name: "n",
    kind: ParamKind::Window,
    default: None,
}];
const N_LAG: &[ParamSpec] = &[ParamSpec {
    name: "periods",
    kind: ParamKind::Lag,
    default: Some(1),
}];
const N_COUNT: &[ParamSpec] = &[ParamSpec {
    name: "n",
    kind: ParamKind::Count,
    default: None,
}];

static SPECS: &[OpSpec] = &[
    OpSpec {
        id: OpId::Average,
        name: "average",
        finlab: "average",
        receiver: Receiver::Numeric,
        params: N_WINDOW,
        output: Output::Float,
        doc: "Rolling mean over the last n rows; NaN until at least floor(n/2) values are valid.",
        example: "close.average(20)",
    },
    OpSpec {
        id: OpId::Shift,
        name: "shift",
        finlab: "shift",
        receiver: Receiver::Numeric,
        params: N_LAG,
        output: Output::Same,
        doc: "The value `periods` rows earlier (periods >= 1; the future is not readable).",
        example: "close.shift(60)",
    },
    OpSpec {
        id: OpId::IsLargest,
        name: "is_largest",
        finlab: "is_largest",
        receiver: Receiver::Numeric,
        params: N_COUNT,
        output: Output::Bool,
        doc: "Per date, True for the n largest valid values (ties go to the earlier column).",
        example: "(close / close.shift(60)).is_largest(10)",
    },
    OpSpec {
        id: OpId::IsSmallest,
        name: "is_smallest",
        finlab: "is_smallest",
        receiver: Receiver::Numeric,
        params: N_COUNT,
        output: Output::Bool,
        doc: "Per date, True for the n smallest valid values (ties go to the earlier column).",
        example: "pb.is_smallest(20)",
    },
    OpSpec {
        id: OpId::Rise,
        name: "rise",
        finlab: "rise",
        receiver: Receiver::Numeric,
        params: N_LAG,
        output: Output::Bool,
        doc: "True where the value is above its value `periods` rows earlier.",
        example: "close.rise(5)",
    },
    OpSpec {
        id: OpId::Fall,
        name: "fall",
        finlab: "fall",
        receiver: Receiver::Numeric,
        params: N_LAG,
        output: Output::Bool,
        doc: "True where the value is below its value `periods` rows earlier.",
        example: "close.fall(5)",
    },
];

impl OpId {
    /// Every operator, in registry order.
    pub const ALL: &'static [OpId] = &[
        OpId::Average,
        OpId::Shift,
        OpId::IsLargest,
        OpId::IsSmallest,
        OpId::Rise,
        OpId::Fall,
    ];

    /// The operator's specification.
    pub fn spec(self) -> &'static OpSpec {
        // invariant: SPECS lists every OpId in the order of ALL (checked by a unit test).
        &SPECS[self as usize]
    }

    /// Looks an operator up by its DSL name.
    pub fn from_name(name: &str) -> Option<OpId> {
        SPECS.iter().find(|s| s.name == name).map(|s| s.id)
    }
}

/// A stable hash of the registry's operator names and order; host and guest must agree on it.
pub fn registry_hash() -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for spec in SPECS {
        for b in spec.name.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_follow_all_in_order() {
        assert_eq!(SPECS.len(), OpId::ALL.len());
        for (i, id) in OpId::ALL.iter().enumerate() {
            assert_eq!(SPECS[i].id, *id);
            assert_eq!(*id as usize, i);
            assert_eq!(OpId::from_name(id.spec().name), Some(*id));
        }
    }
}

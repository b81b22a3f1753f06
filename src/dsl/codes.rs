//! Every diagnostic code, once. A code is the stable kebab-case name a diagnostic carries
//! (`check --json`, the repair prompt, the ledger); [`Code::ALL`] lists them for the generated
//! DSL reference and `docs/semantics.md` §5.6, and tests keep both lists complete.

use std::fmt;

use serde::{Serialize, Serializer};

/// Declares [`Code`] with its text name and one doc line per variant, in one list.
macro_rules! codes {
    ($($(#[doc = $doc:literal])+ $variant:ident = $text:literal,)+) => {
        /// A diagnostic code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl Code {
            /// Every code, in the order of the list (parse, statements, expressions, calls,
            /// `sim(...)`, warnings).
            pub const ALL: &'static [Code] = &[$(Code::$variant,)+];

            /// The stable kebab-case name, e.g. `lookahead-shift`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $text,)+
                }
            }

            /// What the code means, in one line.
            pub fn doc(self) -> &'static str {
                match self {
                    $(Code::$variant => concat!($($doc),+).trim_ascii(),)+
                }
            }
        }
    };
}

codes! {
    /// The file is not UTF-8 text.
    InvalidUtf8 = "invalid-utf8",
    /// The strategy is larger than the source limit (64 KiB).
    SourceTooLarge = "source-too-large",
    /// Brackets are nested deeper than the limit (100).
    NestingTooDeep = "nesting-too-deep",
    /// The text is not Python-style strategy syntax.
    SyntaxError = "syntax-error",
    /// The strategy has more expression nodes than the limit (2,000).
    ProgramTooLarge = "program-too-large",
    /// An import other than the finlab preamble, numpy or pandas.
    ForbiddenImport = "forbidden-import",
    /// A `def`, `class`, loop, `if` or other keyword statement.
    ForbiddenStatement = "forbidden-statement",
    /// `data` or `sim` is assigned to.
    ReassignedBuiltin = "reassigned-builtin",
    /// A multi-output indicator is assigned to one name, or unpacked into the wrong count.
    UnpackOutputs = "unpack-outputs",
    /// An assignment to something other than a name, or an unpacking of a single value.
    InvalidAssignment = "invalid-assignment",
    /// `x += y` and the other augmented assignments.
    AugmentedAssignment = "augmented-assignment",
    /// A number that is not finite (or not real, such as `1j`).
    InvalidNumber = "invalid-number",
    /// f-strings, byte strings, lists, tuples, dicts and `*args`.
    UnsupportedSyntax = "unsupported-syntax",
    /// `lambda` and comprehensions.
    ForbiddenSyntax = "forbidden-syntax",
    /// `eval`, `exec`, `open`, `print` and other builtins that run code or reach outside.
    ForbiddenBuiltin = "forbidden-builtin",
    /// A name that was never defined.
    UndefinedName = "undefined-name",
    /// A dunder attribute such as `__class__`.
    ForbiddenDunder = "forbidden-dunder",
    /// `and`, `or` or `not` where `&`, `|` or `~` combine panels.
    PythonLogicOperator = "python-logic-operator",
    /// `~` applied to something that is not a bool panel.
    InvertNeedsBool = "invert-needs-bool",
    /// `&` or `|` with a side that is not a bool panel.
    LogicalNeedsBool = "logical-needs-bool",
    /// `+` or `-` between two conditions: pandas gives `|` for `+` and refuses `-`.
    BoolArithmetic = "bool-arithmetic",
    /// An operator that cannot combine these values.
    InvalidOperand = "invalid-operand",
    /// An operator the DSL does not support (`//`, `%`, `@`, shifts, `^`, `in`, `is`).
    UnsupportedOperator = "unsupported-operator",
    /// `a < b < c`: a chained comparison.
    ChainedComparison = "chained-comparison",
    /// A date-indexed Series on the left of a panel, or given a panel where a Series method
    /// takes a number.
    SeriesOperand = "series-operand",
    /// A constant divided by zero.
    DivisionByZero = "division-by-zero",
    /// Slicing other than `x.loc[start:end]`, multi-indexing, or indexing something that is not
    /// a panel.
    UnsupportedIndex = "unsupported-index",
    /// `x[cond]` where `cond` is a float panel.
    MaskNeedsBool = "mask-needs-bool",
    /// A method a panel, a rolling window or a Series does not have.
    UnknownMethod = "unknown-method",
    /// An attribute of a value that has none.
    UnknownAttribute = "unknown-attribute",
    /// A module function the DSL does not offer (`np.sqrt`, `data.foo`, `pd.concat`, …).
    UnsupportedFunction = "unsupported-function",
    /// A call of something that is not a function.
    NotCallable = "not-callable",
    /// `data.get` without exactly one string literal.
    InvalidDataGet = "invalid-data-get",
    /// A dataset key the data set does not have (or a table without a column).
    UnknownDataset = "unknown-dataset",
    /// `data.indicator` with a name that is not a known indicator.
    InvalidIndicator = "invalid-indicator",
    /// An operator called on a panel of the wrong kind.
    InvalidReceiver = "invalid-receiver",
    /// A keyword argument the operator does not have.
    UnknownArgument = "unknown-argument",
    /// More arguments than the operator takes.
    TooManyArguments = "too-many-arguments",
    /// The same argument given twice.
    DuplicateArgument = "duplicate-argument",
    /// A required argument left out.
    MissingArgument = "missing-argument",
    /// An argument of the wrong type.
    InvalidArgument = "invalid-argument",
    /// A window, count or other argument outside its range, or arguments that contradict.
    ArgumentOutOfRange = "argument-out-of-range",
    /// A lag below 1: `shift(-1)` and friends read the future.
    LookaheadShift = "lookahead-shift",
    /// `rank(axis=0)`: ranks each stock over all dates, future ones included.
    LookaheadRank = "lookahead-rank",
    /// The strategy never calls `sim(...)`.
    MissingSim = "missing-sim",
    /// `sim(...)` is called more than once.
    MultipleSim = "multiple-sim",
    /// `sim(...)` inside an expression instead of its own statement.
    SimNotTopLevel = "sim-not-top-level",
    /// `sim`'s position argument is missing, repeated or not a panel, or `*args` are passed.
    SimArguments = "sim-arguments",
    /// A `sim` option with a value of the wrong type or range.
    InvalidSimOption = "invalid-sim-option",
    /// A `sim` option that does not exist.
    UnknownSimOption = "unknown-sim-option",
    /// A `resample=` frequency the engine does not know.
    UnsupportedResample = "unsupported-resample",
    /// Warning: a variable is assigned but never used.
    UnusedVariable = "unused-variable",
    /// Warning: an expression statement whose value is dropped.
    UnusedExpression = "unused-expression",
    /// Warning: a call on the backtest report (`report.display()`), which is ignored.
    IgnoredCall = "ignored-call",
    /// Warning: an indicator name read case-insensitively or by its alias (`"kd"` → `"STOCH"`).
    IndicatorName = "indicator-name",
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The codes as a Markdown table (`| code | meaning |`), as the DSL reference and
/// `docs/semantics.md` list them.
pub fn markdown_table() -> String {
    let mut out = String::from("| code | meaning |\n|---|---|\n");
    for c in Code::ALL {
        out.push_str(&format!("| `{}` | {} |\n", c.as_str(), c.doc()));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn names_are_unique_kebab_case_with_a_doc_line() {
        let names: BTreeSet<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), Code::ALL.len());
        for c in Code::ALL {
            let s = c.as_str();
            assert!(
                s.split('-').all(|w| !w.is_empty()
                    && w.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())),
                "{s}"
            );
            assert!(!c.doc().is_empty() && !c.doc().contains('\n'), "{s}");
        }
    }

    #[test]
    fn every_code_is_in_the_reference_and_the_semantics() {
        let reference = include_str!("../../prompts/dsl_reference.md");
        let semantics = include_str!("../../docs/semantics.md");
        for c in Code::ALL {
            let cell = format!("| `{}` |", c.as_str());
            assert!(
                reference.contains(&cell),
                "{c} is not in prompts/dsl_reference.md"
            );
            assert!(semantics.contains(&cell), "{c} is not in docs/semantics.md");
        }
        assert!(
            semantics.contains(&markdown_table()),
            "the code table in docs/semantics.md §5.6 differs from `codes::markdown_table()`"
        );
    }
}

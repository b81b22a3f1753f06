//! dsl-engine: research Taiwan-stock strategies written in a safe finlab-style DSL.
//!
//! Pipeline (one direction, no back-edges): [`dsl`] (parse, check) → [`plan`] (lower) →
//! [`sandbox`] (evaluate in the wasm guest) → [`backtest`] (finlab `sim()`) → [`metrics`];
//! [`data`] feeds the sandbox and the backtester; [`pipeline`] strings them together.
//! [`iterate`] is the research loop on top: proposals from [`llm`] or [`evolve`], evaluated
//! through [`pipeline`]. [`report`] renders backtests and runs as HTML and terminal tables.

// `#[deny(missing_docs)]` marks the modules whose public items are all documented; add the
// attribute to a module once it is finished.
#[deny(missing_docs)]
pub mod alloc;
#[deny(missing_docs)]
pub mod backtest;
#[deny(missing_docs)]
pub mod bench;
#[deny(missing_docs)]
pub mod calendar;
#[deny(missing_docs)]
pub mod cli;
pub mod data;
pub mod dsl;
#[deny(missing_docs)]
pub mod evolve;
#[deny(missing_docs)]
pub mod export;
pub mod iterate;
#[deny(missing_docs)]
pub mod llm;
#[deny(missing_docs)]
pub mod metrics;
#[deny(missing_docs)]
pub mod net;
#[deny(missing_docs)]
pub mod parallel;
#[deny(missing_docs)]
pub mod pipeline;
#[deny(missing_docs)]
pub mod plan;
pub mod report;
#[deny(missing_docs)]
pub mod sandbox;
pub mod scale;
#[deny(missing_docs)]
pub mod simspec;
#[deny(missing_docs)]
pub mod stats;
#[deny(missing_docs)]
pub mod util;

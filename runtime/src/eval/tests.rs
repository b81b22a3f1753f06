//! Node-by-node evaluation of small plans against hand-computed answers.

use super::*;
use crate::ops::OpId;
use crate::plan::{Arg, BinOp};

fn panel(dates: Vec<i32>, cols: &[&str], values: Vec<f64>) -> PanelData {
    PanelData {
        name: "t".into(),
        dates,
        columns: cols.iter().map(|s| s.to_string()).collect(),
        values,
    }
}

fn plan(inputs: usize, nodes: Vec<Node>) -> Plan {
    let mut p = Plan::new();
    p.inputs = (0..inputs).map(|i| format!("k{i}")).collect();
    p.output = nodes.len() - 1;
    p.nodes = nodes;
    p
}

#[test]
fn average_needs_half_the_window() {
    let nan = f64::NAN;
    let data = panel(vec![0, 1, 2, 3], &["a"], vec![1.0, nan, 3.0, 5.0]);
    let p = plan(
        1,
        vec![
            Node::Load { input: 0 },
            Node::Call {
                op: OpId::Average,
                recv: Some(0),
                args: vec![Arg::Int(4)],
                prices: vec![],
                out: 0,
            },
        ],
    );
    let out = evaluate(&p, vec![data]).unwrap();
    // min_periods = 2: row0 has 1 valid, row1 1 valid, row2 2 valid → mean(1,3)=2, row3 → 3.
    assert!(out.values[0].is_nan() && out.values[1].is_nan());
    assert_eq!(&out.values[2..], &[2.0, 3.0]);
}

#[test]
fn is_largest_breaks_ties_by_column_order() {
    let nan = f64::NAN;
    // one row, columns a..d with values 1, 3, 3, NaN
    let data = panel(vec![0], &["a", "b", "c", "d"], vec![1.0, 3.0, 3.0, nan]);
    let p = plan(
        1,
        vec![
            Node::Load { input: 0 },
            Node::Call {
                op: OpId::IsLargest,
                recv: Some(0),
                args: vec![Arg::Int(1)],
                prices: vec![],
                out: 0,
            },
        ],
    );
    let out = evaluate(&p, vec![data.clone()]).unwrap();
    assert_eq!(out.values, vec![0.0, 1.0, 0.0, 0.0]);
    let p5 = plan(
        1,
        vec![
            Node::Load { input: 0 },
            Node::Call {
                op: OpId::IsLargest,
                recv: Some(0),
                args: vec![Arg::Int(5)],
                prices: vec![],
                out: 0,
            },
        ],
    );
    let out = evaluate(&p5, vec![data]).unwrap();
    assert_eq!(out.values, vec![1.0, 1.0, 1.0, 0.0]);
}

#[test]
fn alignment_unions_dates_from_later_start_and_intersects_columns() {
    // daily a on days 0..4, "monthly" b on days 1 and 3 with columns y, x
    let a = panel(
        vec![0, 1, 2, 3],
        &["x", "y", "z"],
        vec![1., 2., 3., 4., 10., 20., 30., 40., 0., 0., 0., 0.],
    );
    let b = panel(vec![1, 3], &["y", "x"], vec![15., 35., 2., 3.]);
    let p = plan(
        2,
        vec![
            Node::Load { input: 0 },
            Node::Load { input: 1 },
            Node::Binary {
                op: BinOp::Gt,
                lhs: 0,
                rhs: 1,
            },
        ],
    );
    let out = evaluate(&p, vec![a, b]).unwrap();
    assert_eq!(out.dates, vec![1, 2, 3]);
    assert_eq!(out.columns, vec!["x".to_string(), "y".to_string()]);
    // x: [2,3,4] > [2,2,3] ; y: [20,30,40] > [15,15,35]
    assert_eq!(out.values, vec![0., 1., 1., 1., 1., 1.]);
}

#[test]
fn nan_comparisons_and_mask() {
    let nan = f64::NAN;
    let a = panel(vec![0, 1, 2], &["x"], vec![nan, 0.0, 2.0]);
    let p = plan(
        1,
        vec![
            Node::Load { input: 0 },
            Node::Scalar { value: 0.0 },
            Node::Binary {
                op: BinOp::Ne,
                lhs: 0,
                rhs: 1,
            },
            Node::Binary {
                op: BinOp::Div,
                lhs: 1,
                rhs: 0,
            },
            Node::Mask { value: 3, cond: 2 },
        ],
    );
    let out = evaluate(&p, vec![a]).unwrap();
    // NaN != 0 is True (pandas), 0/NaN is NaN; 0/0 → NaN; 0/2 = 0 and 2 != 0.
    assert!(out.values[0].is_nan() && out.values[1].is_nan());
    assert_eq!(out.values[2], 0.0);
}

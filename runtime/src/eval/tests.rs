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

/// A plan over inputs `k0`, `k1`, … whose output is the last node (shared by the evaluator's
/// tests).
pub(super) fn plan(inputs: usize, nodes: Vec<Node>) -> Plan {
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

/// A call of `op` on node `recv` with `args`.
fn call(op: OpId, recv: usize, args: Vec<Arg>) -> Node {
    Node::Call {
        op,
        recv: Some(recv),
        args,
        prices: vec![],
        out: 0,
    }
}

#[test]
fn a_series_is_smoothed_compared_and_broadcast_over_the_panel() {
    let nan = f64::NAN;
    // Two stocks over four dates: the row means are 2, 3, 5, 6.
    let data = panel(
        vec![0, 1, 2, 3],
        &["a", "b"],
        vec![1.0, 2.0, 4.0, 6.0, 3.0, 4.0, 6.0, nan],
    );
    let p = plan(
        1,
        vec![
            Node::Load { input: 0 },
            call(OpId::RowMean, 0, vec![Arg::Int(1)]),
            // The Series' own rolling mean over 2 dates (min_periods 1): 2, 2.5, 4, 5.5.
            call(OpId::Average, 1, vec![Arg::Int(2)]),
            Node::Binary {
                op: BinOp::Gt,
                lhs: 1,
                rhs: 2,
            },
            // panel & bool Series: the Series repeated in every column.
            Node::Binary {
                op: BinOp::Gt,
                lhs: 0,
                rhs: 1,
            },
            Node::Binary {
                op: BinOp::And,
                lhs: 4,
                rhs: 3,
            },
        ],
    );
    let out = evaluate(&p, vec![data]).unwrap();
    // above the mean: a never (a < b), b on rows 0..=2; the market rises on rows 1..=3.
    assert_eq!(out.values, vec![0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0]);
}

#[test]
fn two_series_on_other_dates_align_as_pandas_does() {
    let daily = panel(vec![0, 1, 2], &["a"], vec![1.0, 2.0, 3.0]);
    let monthly = panel(vec![1, 3], &["a"], vec![10.0, 20.0]);
    let series_of = |op: BinOp| {
        plan(
            2,
            vec![
                Node::Load { input: 0 },
                Node::Load { input: 1 },
                call(OpId::RowSum, 0, vec![Arg::Int(1)]),
                call(OpId::RowSum, 1, vec![Arg::Int(1)]),
                Node::Scalar { value: 1.5 },
                Node::Binary {
                    op: BinOp::Gt,
                    lhs: 2,
                    rhs: 4,
                },
                Node::Binary {
                    op: BinOp::Gt,
                    lhs: 3,
                    rhs: 4,
                },
                Node::Binary { op, lhs: 5, rhs: 6 },
                // Broadcast into the daily panel to look at it.
                Node::Binary {
                    op: BinOp::Mul,
                    lhs: 0,
                    rhs: 7,
                },
            ],
        )
    };
    let run = |op| evaluate(&series_of(op), vec![daily.clone(), monthly.clone()]);
    // The union of dates 0..=3; the left Series is daily (dates 0, 1, 2). `|` is False where
    // the left value is missing (date 3) and reads a missing right value as False (dates 0,
    // 2): F|F, T|T, T|F, missing|T. The daily panel is carried forward onto date 3.
    let or = run(BinOp::Or).unwrap();
    assert_eq!(or.dates, vec![0, 1, 2, 3]);
    assert_eq!(or.values, vec![0.0, 2.0, 3.0, 0.0]);
    // Comparing two Series on different dates is refused, as pandas refuses it.
    assert!(run(BinOp::Lt).is_err());
    // A cross-sectional operator on a Series is refused.
    let p = plan(
        1,
        vec![
            Node::Load { input: 0 },
            call(OpId::RowMean, 0, vec![Arg::Int(1)]),
            call(OpId::IsLargest, 1, vec![Arg::Int(1)]),
        ],
    );
    assert!(evaluate(&p, vec![daily]).is_err());
}

/// A fused chain that only a restricted `is_largest` reads is computed on the read rows alone,
/// also when one of its leaves is a restricted `rank` (a value on the whole grid): the
/// restriction holds (no second evaluation on every row) and the read rows are those of the
/// full evaluation.
#[test]
fn a_chain_on_the_read_rows_keeps_the_restriction() {
    let rows: Vec<i32> = (0..8).collect();
    let values: Vec<f64> = (0..24).map(|i| f64::from((i * 7) % 11)).collect();
    let data = panel(rows, &["a", "b", "c"], values);
    let rank_args = vec![
        Arg::Int(1),
        Arg::Bool(true),
        Arg::Bool(true),
        Arg::Str("average".into()),
    ];
    let p = plan(
        1,
        vec![
            Node::Load { input: 0 },
            call(OpId::Rank, 0, rank_args),
            call(OpId::Shift, 0, vec![Arg::Int(1)]),
            Node::Binary {
                op: BinOp::Add,
                lhs: 1,
                rhs: 2,
            },
            call(OpId::IsLargest, 3, vec![Arg::Int(1)]),
        ],
    );
    let read_at = [2, 5, 7];
    let inputs = shared(vec![data.clone()]);
    let restriction = Restriction::new(&p, &read_at).unwrap();
    let (restricted, sound) = run(&p, inputs, true, Some(restriction), None).unwrap();
    assert!(sound, "the restriction broke");
    let full = evaluate(&p, vec![data]).unwrap();
    let (got, want) = (to_panel_data(restricted), full);
    assert_eq!(got.dates, want.dates);
    for c in 0..3 {
        for &r in &[2usize, 5, 7] {
            let i = c * 8 + r;
            assert_eq!(
                got.values[i].to_bits(),
                want.values[i].to_bits(),
                "cell {i}"
            );
        }
    }
}

/// A chain whose leaves lie on three grids (daily, monthly past the daily end, quarterly; other
/// stocks in other orders), with rolling statistics and shifts of two of them, read by a
/// restricted `is_largest`: computed on the read rows alone, aligned as node by node (same
/// grid, same bits on every read row), and the restriction holds.
#[test]
fn a_chain_on_three_grids_is_aligned_on_the_read_rows() {
    let nan = f64::NAN;
    let cell = |i: usize, m: usize| {
        let v = ((i * 37) % m) as f64 / 3.0 - 2.0;
        if i % 11 == 4 {
            nan
        } else {
            v
        }
    };
    let a = panel(
        (0..40).collect(),
        &["x", "y", "z", "w"],
        (0..160).map(|i| cell(i, 29)).collect(),
    );
    let b = panel(
        vec![2, 9, 16, 23, 30, 41],
        &["y", "x", "w"],
        (0..18).map(|i| cell(i + 3, 13)).collect(),
    );
    let q = panel(
        vec![5, 25],
        &["w", "x", "y", "v"],
        (0..8).map(|i| cell(i, 17) * 4.0).collect(),
    );
    let bin = |op, lhs, rhs| Node::Binary { op, lhs, rhs };
    let p = plan(
        3,
        vec![
            Node::Load { input: 0 },
            Node::Load { input: 1 },
            Node::Load { input: 2 },
            call(OpId::Average, 0, vec![Arg::Int(5)]),
            call(OpId::Shift, 0, vec![Arg::Int(2)]),
            bin(BinOp::Gt, 3, 4),
            Node::Scalar { value: -1.0 },
            bin(BinOp::Gt, 1, 6),
            bin(BinOp::And, 5, 7),
            Node::Scalar { value: 3.0 },
            bin(BinOp::Lt, 2, 9),
            bin(BinOp::And, 10, 8),
            call(OpId::RollingSum, 1, vec![Arg::Int(2), Arg::None]),
            call(OpId::Shift, 1, vec![Arg::Int(1)]),
            bin(BinOp::Sub, 12, 13),
            Node::Mask {
                value: 14,
                cond: 11,
            },
            call(OpId::IsLargest, 15, vec![Arg::Int(1)]),
        ],
    );
    let read_at = [4, 12, 20, 29, 41, 50];
    // The chain alone: fused on the read rows, against node by node on every row.
    let groups = fuse::groups(&p, true, &vec![false; p.nodes.len()]);
    assert_eq!(groups.members[15].len(), 10, "one chain");
    let mut values: Vec<Option<Value>> = vec![None; p.nodes.len()];
    for (i, d) in [&a, &b, &q].into_iter().enumerate() {
        values[i] = Some(Value::Panel(Panel::float(
            Rc::new(d.dates.clone()),
            Rc::new(d.columns.clone()),
            d.values.clone(),
        )));
    }
    values[6] = Some(Value::Scalar(-1.0));
    values[9] = Some(Value::Scalar(3.0));
    let (got, full) =
        fuse::evaluate(&p, 15, &groups.members[15], &values, Some(&read_at), None).unwrap();
    let mut whole = p.clone();
    whole.output = 15;
    let want = evaluate_unfused(&whole, vec![a.clone(), b.clone(), q.clone()]).unwrap();
    assert_eq!(full.as_deref(), Some(&want.dates));
    let Value::Panel(got) = got else {
        panic!("not a panel")
    };
    let rows = read_rows(&want.dates, &read_at);
    assert_eq!(rows.len(), 4);
    assert_eq!(
        *got.dates,
        rows.iter().map(|&r| want.dates[r]).collect::<Vec<_>>()
    );
    assert_eq!(*got.columns, want.columns);
    assert_eq!(want.columns, vec!["y", "x", "w"]);
    let got = got.floats();
    let n = want.dates.len();
    for c in 0..want.columns.len() {
        for (k, &r) in rows.iter().enumerate() {
            let (g, w) = (got[c * rows.len() + k], want.values[c * n + r]);
            assert_eq!(g.to_bits(), w.to_bits(), "stock {c} row {r}: {g} vs {w}");
        }
    }
    // The whole plan: the restriction holds and the read rows are those of every row's.
    let restriction = Restriction::new(&p, &read_at).unwrap();
    let (restricted, sound) = run(
        &p,
        shared(vec![a.clone(), b.clone(), q.clone()]),
        true,
        Some(restriction),
        None,
    )
    .unwrap();
    assert!(sound, "the restriction broke");
    let (got, want) = (
        to_panel_data(restricted),
        evaluate(&p, vec![a, b, q]).unwrap(),
    );
    assert_eq!(got.dates, want.dates);
    for c in 0..want.columns.len() {
        for &r in &rows {
            let i = c * n + r;
            assert_eq!(
                got.values[i].to_bits(),
                want.values[i].to_bits(),
                "cell {i}"
            );
        }
    }
}

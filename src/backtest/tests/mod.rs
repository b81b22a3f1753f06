//! Hand-computed cases for every option, the worked example of `docs/semantics.md` §2.6, and
//! properties. Bare § numbers below refer to `docs/semantics.md`.

use super::*;
use crate::simspec::Frequency;

mod trade_returns;

const NAN: f64 = f64::NAN;

fn panel(dates: Vec<i32>, cols: &[&str], values: Vec<f64>) -> PanelData {
    PanelData {
        name: String::new(),
        dates,
        columns: cols.iter().map(|s| s.to_string()).collect(),
        values,
    }
}

fn run(pos: &PanelData, close: &PanelData, opts: &SimOptions) -> SimResult {
    let market = Market {
        close,
        open: None,
        high: None,
        low: None,
    };
    simulate(pos, &market, opts).unwrap()
}

fn free() -> SimOptions {
    SimOptions {
        fee_ratio: 0.0,
        tax_ratio: 0.0,
        ..SimOptions::default()
    }
}

fn values(r: &SimResult) -> Vec<f64> {
    r.creturn.iter().map(|x| x.1).collect()
}

fn close_to(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs().max(1.0)
}

#[test]
fn worked_example_of_the_spec() {
    // §2.6: A = 100,110,121; B = 50,50,45; one row dated d0 = {A, B}.
    let f = TW_FEE;
    let prices = panel(
        vec![0, 1, 2],
        &["A", "B"],
        vec![100., 110., 121., 50., 50., 45.],
    );
    let pos = panel(vec![0], &["A", "B"], vec![1.0, 1.0]);
    let v = values(&run(&pos, &prices, &SimOptions::default()));
    assert_eq!(v.len(), 3);
    assert_eq!(v[0], 1.0);
    assert!(close_to(v[1], 1.0 - f));
    assert!(close_to(v[2], (1.0 - f) * (0.55 + 0.45)));
}

#[test]
fn hand_computed_round_trip_with_fees_and_tax() {
    // Row d0 buys X (0.6) and Y (0.4); row d2 sells X and keeps Y at 0.4, the rest in cash.
    let (f, t) = (TW_FEE, TW_TAX);
    let prices = panel(
        vec![0, 1, 2, 3, 4],
        &["X", "Y"],
        vec![10., 10., 11., 12., 12., 20., 20., 18., 18., 19.],
    );
    let pos = panel(vec![0, 2], &["X", "Y"], vec![0.6, 0.0, 0.4, 0.4]);
    let r = run(&pos, &prices, &SimOptions::default());
    let (x1, y1) = (0.6 * (1.0 - f), 0.4 * (1.0 - f));
    let (x2, y2) = (x1 * 1.1, y1 * 0.9);
    let (x3, y3) = (x2 * 12.0 / 11.0, y2);
    let b = x3 + y3;
    let mut cash = x3 - x3 * (f + t);
    let a = 0.4 * b - y3;
    assert!(a > 0.0);
    cash -= a;
    let y3b = y3 + a - a * f;
    let want = [1.0, x1 + y1, x2 + y2, cash + y3b, cash + y3b * 19.0 / 18.0];
    let got = values(&r);
    assert_eq!(got.len(), 5);
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-12, "{g} vs {w}");
    }
    assert_eq!(r.trades.len(), 2);
    let x = &r.trades[0];
    assert_eq!(&*x.stock, "X");
    assert!((x.ret - ((1.0 - f) * 1.2 * (1.0 - f - t) - 1.0)).abs() < 1e-12);
    assert_eq!((x.entry_date, x.exit_date, x.period), (1, Some(3), 2));
    assert_eq!((x.entry_sig_date, x.exit_sig_date), (0, Some(2)));
    assert_eq!(x.exit_reason, ExitReason::Rebalance);
    let y = &r.trades[1];
    assert!((y.ret - ((1.0 - f) * 0.95 - 1.0)).abs() < 1e-12);
    assert_eq!((y.exit_date, y.exit_reason), (None, ExitReason::Open));
}

#[test]
fn reducing_a_holding_pays_fee_and_tax_on_the_delta() {
    let (f, t) = (TW_FEE, TW_TAX);
    let prices = panel(vec![0, 1, 2, 3], &["X"], vec![10.; 4]);
    let pos = panel(vec![0, 1], &["X"], vec![1.0, 0.5]);
    let v = values(&run(&pos, &prices, &SimOptions::default()));
    let b = 1.0 - f;
    assert!(close_to(v[1], b));
    assert!(close_to(v[2], b * (1.0 - 0.5 * (f + t))));
}

#[test]
fn position_limit_leaves_cash() {
    let prices = panel(vec![0, 1, 2], &["A", "B"], vec![1., 1., 2., 1., 1., 1.]);
    let pos = panel(vec![0], &["A", "B"], vec![1.0, 1.0]);
    let opts = SimOptions {
        position_limit: 0.25,
        ..free()
    };
    let r = run(&pos, &prices, &opts);
    // 25% in A, which doubles; 25% in B; 50% cash → 1.25
    assert!(close_to(r.creturn.last().unwrap().1, 1.25));
}

#[test]
fn close_based_stop_is_queued_and_sold_next_bar() {
    let (f, t) = (TW_FEE, TW_TAX);
    let prices = panel(
        vec![0, 1, 2, 3, 4, 5],
        &["X"],
        vec![100., 100., 95., 89., 92., 120.],
    );
    let pos = panel(vec![0], &["X"], vec![1.0]);
    let opts = SimOptions {
        stop_loss: Some(0.1),
        ..SimOptions::default()
    };
    let r = run(&pos, &prices, &opts);
    let v = values(&r);
    let sold = (1.0 - f) * 0.92 * (1.0 - f - t);
    assert!(
        close_to(v[3], (1.0 - f) * 0.89),
        "detected at the close of bar 3, still held"
    );
    assert!(close_to(v[4], sold), "sold on bar 4 at its price");
    assert!(
        close_to(v[5], sold),
        "cash waits: the unchanged row does not re-buy"
    );
    let tr = &r.trades[0];
    assert_eq!(tr.exit_reason, ExitReason::StopLoss);
    assert_eq!((tr.exit_sig_date, tr.exit_date), (Some(3), Some(4)));
    assert!(close_to(tr.ret, sold - 1.0));
}

fn ohlc(open: Vec<f64>, high: Vec<f64>, low: Vec<f64>, close: Vec<f64>) -> [PanelData; 4] {
    let d: Vec<i32> = (0..close.len() as i32).collect();
    [
        panel(d.clone(), &["X"], open),
        panel(d.clone(), &["X"], high),
        panel(d.clone(), &["X"], low),
        panel(d, &["X"], close),
    ]
}

fn run_ohlc(p: &[PanelData; 4], opts: &SimOptions) -> SimResult {
    let pos = panel(vec![0], &["X"], vec![1.0]);
    let market = Market {
        close: &p[3],
        open: Some(&p[0]),
        high: Some(&p[1]),
        low: Some(&p[2]),
    };
    simulate(&pos, &market, opts).unwrap()
}

#[test]
fn touched_take_profit_fills_at_the_threshold() {
    let (f, t) = (TW_FEE, TW_TAX);
    let p = ohlc(
        vec![100., 100., 103., 104.],
        vec![100., 100., 112., 104.],
        vec![100., 100., 101., 104.],
        vec![100., 100., 104., 104.],
    );
    let opts = SimOptions {
        take_profit: Some(0.1),
        touched_exit: true,
        ..SimOptions::default()
    };
    let r = run_ohlc(&p, &opts);
    let exit = (1.0 - f) * 1.1 * (1.0 - f - t);
    assert!(close_to(values(&r)[2], exit));
    let tr = &r.trades[0];
    assert_eq!(tr.exit_reason, ExitReason::TakeProfit);
    assert_eq!((tr.exit_sig_date, tr.exit_date), (Some(2), Some(2)));
    assert!(close_to(tr.ret, exit - 1.0));
}

#[test]
fn touched_stop_on_a_gap_fills_at_the_open() {
    let (f, t) = (TW_FEE, TW_TAX);
    let p = ohlc(
        vec![100., 100., 85., 90.],
        vec![100., 100., 88., 90.],
        vec![100., 100., 80., 90.],
        vec![100., 100., 86., 90.],
    );
    let opts = SimOptions {
        stop_loss: Some(0.1),
        touched_exit: true,
        ..SimOptions::default()
    };
    let r = run_ohlc(&p, &opts);
    assert!(close_to(values(&r)[2], (1.0 - f) * 0.85 * (1.0 - f - t)));
    assert_eq!(r.trades[0].exit_reason, ExitReason::StopLoss);
}

#[test]
fn trail_stop_waits_for_its_activation() {
    let closes = vec![100., 100., 115., 104., 125., 114., 110., 130.];
    let prices = panel((0..8).collect(), &["X"], closes);
    let pos = panel(vec![0], &["X"], vec![1.0]);
    let armed_at_once = SimOptions {
        trail_stop: Some(0.1),
        ..free()
    };
    // peak 1.15 → floor 1.05; the close at 104 breaks it → sold next bar at 125.
    let r = run(&pos, &prices, &armed_at_once);
    assert_eq!(r.trades[0].exit_reason, ExitReason::TrailStop);
    assert_eq!(r.trades[0].exit_date, Some(4));
    assert!(close_to(r.trades[0].ret, 0.25));
    let activated = SimOptions {
        trail_stop: Some(0.1),
        trail_stop_activation: Some(0.2),
        ..free()
    };
    // Armed only once the peak reaches 1.2 (bar 4, peak 1.25 → floor 1.15); 114 breaks it on
    // bar 5 → sold on bar 6 at 110.
    let r = run(&pos, &prices, &activated);
    assert_eq!(r.trades[0].exit_date, Some(6));
    assert!(close_to(r.trades[0].ret, 0.10));
}

#[test]
fn stop_trading_next_period_skips_one_rebalance() {
    // Daily resample re-buys every day unless the stopped name sits one rebalance out.
    let closes = vec![100., 100., 85., 85., 85., 85.];
    let prices = panel((0..6).collect(), &["X"], closes);
    let pos = panel(vec![0], &["X"], vec![1.0]);
    let daily = Resample::Every(Frequency::parse("D").unwrap());
    let base = SimOptions {
        resample: daily,
        stop_loss: Some(0.1),
        ..free()
    };
    let r = run(&pos, &prices, &base);
    // detected bar 2, sold bar 3, skipped at bar 3's rebalance, bought back on bar 4
    let entries: Vec<i32> = r.trades.iter().map(|t| t.entry_date).collect();
    assert!(entries.contains(&4) && !entries.contains(&3), "{entries:?}");
    let again = SimOptions {
        stop_trading_next_period: false,
        ..base
    };
    let r = run(&pos, &prices, &again);
    let entries: Vec<i32> = r.trades.iter().map(|t| t.entry_date).collect();
    assert!(entries.contains(&3), "{entries:?}");
}

#[test]
fn retain_cost_keeps_the_stop_basis_across_rebalances() {
    // −4% a day: the daily rebalance resets the basis, so a 10% stop never fires; retaining
    // the cost it fires after three days.
    let closes: Vec<f64> = (0..8)
        .map(|i| 100.0 * 0.96f64.powi((i - 1).max(0)))
        .collect();
    let prices = panel((0..8).collect(), &["X"], closes);
    let pos = panel(vec![0], &["X"], vec![1.0]);
    let opts = SimOptions {
        resample: Resample::Every(Frequency::parse("D").unwrap()),
        stop_loss: Some(0.1),
        ..free()
    };
    let r = run(&pos, &prices, &opts);
    assert!(r
        .trades
        .iter()
        .all(|t| t.exit_reason != ExitReason::StopLoss));
    let retain = SimOptions {
        retain_cost_when_rebalance: true,
        ..opts
    };
    let r = run(&pos, &prices, &retain);
    assert!(r
        .trades
        .iter()
        .any(|t| t.exit_reason == ExitReason::StopLoss));
}

#[test]
fn delisted_stock_is_sold_and_the_book_rebalanced() {
    let n = 40;
    let x: Vec<f64> = (0..n).map(|i| if i <= 5 { 10.0 } else { NAN }).collect();
    let y: Vec<f64> = (0..n).map(|i| if i < 10 { 10.0 } else { 20.0 }).collect();
    let prices = panel((0..n).collect(), &["X", "Y"], [x, y].concat());
    let pos = panel(vec![0], &["X", "Y"], vec![1.0, 1.0]);
    let r = run(&pos, &prices, &free());
    // X sold on bar 5; the inserted rebalance puts everything in Y, which doubles.
    assert!(close_to(r.creturn.last().unwrap().1, 2.0));
    let x = r.trades.iter().find(|t| &*t.stock == "X").unwrap();
    assert_eq!(
        (x.exit_reason, x.exit_date),
        (ExitReason::Delisted, Some(5))
    );
}

#[test]
fn missing_prices_freeze_the_value() {
    let prices = panel(vec![0, 1, 2, 3], &["X"], vec![10., 10., NAN, 12.]);
    let pos = panel(vec![0], &["X"], vec![1.0]);
    let r = run(&pos, &prices, &free());
    assert_eq!(r.creturn, vec![(2, 1.0), (3, 1.2)]);
}

#[test]
fn periodic_rebalances_split_trades_without_costs() {
    use crate::calendar::days_from_civil as d;
    let bars: Vec<i32> = (d(2023, 1, 30)..d(2023, 4, 5)).collect();
    let closes: Vec<f64> = (0..bars.len()).map(|i| 100.0 + i as f64).collect();
    let prices = panel(bars.clone(), &["X"], closes);
    let pos = panel(vec![bars[0]], &["X"], vec![1.0]);
    let opts = SimOptions {
        resample: Resample::Every(Frequency::parse("M").unwrap()),
        ..SimOptions::default()
    };
    let r = run(&pos, &prices, &opts);
    let reasons: Vec<ExitReason> = r.trades.iter().map(|t| t.exit_reason).collect();
    assert_eq!(
        reasons,
        [ExitReason::Split, ExitReason::Split, ExitReason::Open]
    );
    let total: f64 = r.trades.iter().map(|t| 1.0 + t.ret).product();
    let last = r.creturn.last().unwrap().1;
    assert!(close_to(total, last), "{total} vs {last}");
}

#[test]
fn shorts_profit_when_prices_fall() {
    let prices = panel(vec![0, 1, 2], &["X"], vec![100., 100., 90.]);
    let pos = panel(vec![0], &["X"], vec![-1.0]);
    let r = run(&pos, &prices, &free());
    assert!(close_to(r.creturn.last().unwrap().1, 1.1));
    assert!(close_to(r.trades[0].ret, 0.1));
}

#[test]
fn end_date_cuts_prices_and_positions() {
    let prices = panel((0..6).collect(), &["X"], vec![1., 1., 2., 3., 4., 5.]);
    let pos = panel(vec![0], &["X"], vec![1.0]);
    let r = run(
        &pos,
        &prices,
        &SimOptions {
            end_date: Some(3),
            ..free()
        },
    );
    assert_eq!(r.creturn.last().unwrap(), &(3, 3.0));
    assert_eq!(r.trades[0].exit_date, None);
}

#[test]
fn trade_at_open_fills_at_the_open_and_values_at_the_close() {
    let d: Vec<i32> = vec![0, 1, 2];
    let open = panel(d.clone(), &["X"], vec![10., 10., 12.]);
    let close = panel(d, &["X"], vec![10., 11., 12.]);
    let pos = panel(vec![0], &["X"], vec![1.0]);
    let market = Market {
        close: &close,
        open: Some(&open),
        high: None,
        low: None,
    };
    let opts = SimOptions {
        trade_at: TradeAt::Open,
        ..free()
    };
    let r = simulate(&pos, &market, &opts).unwrap();
    assert_eq!(values(&r), vec![1.0, 1.1, 1.2]);
    let none = Market {
        open: None,
        ..market
    };
    assert_eq!(
        simulate(&pos, &none, &opts),
        Err(BacktestError::MissingPrices("etl:adj_open"))
    );
}

#[test]
fn bad_positions_are_typed_errors_or_warnings() {
    let prices = panel(vec![0, 1], &["A"], vec![1., 1.]);
    let opts = SimOptions::default();
    let market = Market {
        close: &prices,
        open: None,
        high: None,
        low: None,
    };
    let sim = |p: &PanelData| simulate(p, &market, &opts);
    assert_eq!(
        sim(&panel(vec![0], &["A"], vec![NAN])),
        Err(BacktestError::NoHoldings)
    );
    assert!(matches!(
        sim(&panel(vec![0], &["Z"], vec![1.0])),
        Err(BacktestError::NoCommonStocks(_))
    ));
    assert!(matches!(
        sim(&panel(vec![0], &["A"], vec![f64::INFINITY])),
        Err(BacktestError::NonFiniteWeight { .. })
    ));
    assert!(matches!(
        sim(&panel(vec![5], &["A"], vec![1.0])),
        Err(BacktestError::PositionAfterPrices { .. })
    ));
    let r = sim(&panel(vec![0], &["A", "Z"], vec![1.0, 1.0])).unwrap();
    assert!(r.warnings[0].contains("50.0%"), "{:?}", r.warnings);
}

#[test]
fn overflowing_weights_are_a_typed_error() {
    // Each weight is finite, their sum is not: scaled by it every target would be 0.
    let prices = panel(vec![0, 1, 2], &["A", "B"], vec![1., 1., 2., 1., 1., 1.]);
    let pos = panel(vec![0], &["A", "B"], vec![1e308, 1e308]);
    let market = Market {
        close: &prices,
        open: None,
        high: None,
        low: None,
    };
    let err = simulate(&pos, &market, &SimOptions::default()).unwrap_err();
    assert_eq!(
        err,
        BacktestError::WeightOverflow {
            date: crate::calendar::format(0)
        }
    );
    assert!(err.to_string().contains("overflow"), "{err}");
    // Large weights that do not overflow are scaled as usual.
    let pos = panel(vec![0], &["A", "B"], vec![1e307, 1e307]);
    let r = simulate(&pos, &market, &free()).unwrap();
    assert!(close_to(r.creturn.last().unwrap().1, 1.5));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn prices_strategy(stocks: usize, bars: usize) -> impl Strategy<Value = Vec<f64>> {
        prop::collection::vec(1.0f64..200.0, stocks * bars)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn buy_and_hold_without_costs_is_the_price_ratio(p in prices_strategy(1, 12)) {
            let prices = panel((0..12).collect(), &["X"], p.clone());
            let pos = panel(vec![0], &["X"], vec![1.0]);
            let r = run(&pos, &prices, &free());
            let last = r.creturn.last().unwrap().1;
            prop_assert!(close_to(last, p[11] / p[1]));
        }

        #[test]
        fn costs_only_lower_the_curve(
            p in prices_strategy(3, 10),
            w in prop::collection::vec(prop::bool::ANY, 3 * 10),
        ) {
            let cols = ["A", "B", "C"];
            let prices = panel((0..10).collect(), &cols, p);
            let pos = panel((0..10).collect(), &cols, w.iter().map(|b| f64::from(u8::from(*b))).collect());
            prop_assume!(pos.values.iter().any(|v| *v != 0.0));
            let with = run(&pos, &prices, &SimOptions::default());
            let without = run(&pos, &prices, &free());
            let lookup: std::collections::BTreeMap<i32, f64> = without.creturn.iter().copied().collect();
            for (d, v) in &with.creturn {
                if let Some(w) = lookup.get(d) {
                    prop_assert!(*v <= w + 1e-12, "{d}: {v} > {w}");
                }
            }
        }

        #[test]
        fn column_order_does_not_matter(
            p in prices_strategy(3, 10),
            w in prop::collection::vec(0.0f64..1.0, 3 * 10),
        ) {
            let prices = panel((0..10).collect(), &["A", "B", "C"], p.clone());
            let pos = panel((0..10).collect(), &["A", "B", "C"], w.clone());
            let a = run(&pos, &prices, &SimOptions::default());
            // reverse both frames' columns
            let rev = |v: &[f64]| [&v[20..30], &v[10..20], &v[0..10]].concat();
            let prices_r = panel((0..10).collect(), &["C", "B", "A"], rev(&p));
            let pos_r = panel((0..10).collect(), &["C", "B", "A"], rev(&w));
            let b = run(&pos_r, &prices_r, &SimOptions::default());
            prop_assert_eq!(a.creturn.len(), b.creturn.len());
            for (x, y) in a.creturn.iter().zip(&b.creturn) {
                prop_assert!(close_to(x.1, y.1));
            }
        }
    }
}

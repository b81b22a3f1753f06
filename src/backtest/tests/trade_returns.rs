//! The trade-return rule (`docs/semantics.md` §3): for a book holding only that trade, 1 +
//! |weight| · return equals the curve's growth from the bar before the entry fill to the exit
//! fill, costs included — longs, shorts, splits, every price mode, with suspensions; and the
//! touched trailing stop that counts today's open when trading at the open (§2.9).

use super::*;
use proptest::prelude::*;

fn market<'a>(p: &'a [PanelData; 4]) -> Market<'a> {
    Market {
        close: &p[3],
        open: Some(&p[0]),
        high: Some(&p[1]),
        low: Some(&p[2]),
    }
}

/// The curve's value on date `d` (1.0 before the trimmed curve starts: nothing was held).
fn value_on(r: &SimResult, d: i32) -> f64 {
    match r.creturn.iter().find(|(x, _)| *x == d) {
        Some(&(_, v)) => v,
        None if r.creturn.first().is_none_or(|(first, _)| d < *first) => 1.0,
        None => panic!("no curve value on {d}"),
    }
}

/// The growth of the curve over `t` (to its exit, or to the end while open).
fn growth_over(r: &SimResult, t: &Trade) -> f64 {
    let end = t.exit_date.unwrap_or(r.creturn.last().unwrap().0);
    value_on(r, end) / value_on(r, t.entry_sig_date)
}

#[test]
fn touched_trailing_stop_at_the_open_counts_todays_open_in_the_peak() {
    let (f, t) = (TW_FEE, TW_TAX);
    let p = ohlc(
        vec![100., 100., 130., 130.],
        vec![100., 100., 131., 131.],
        vec![100., 100., 116., 129.],
        vec![100., 100., 125., 130.],
    );
    let opts = SimOptions {
        trade_at: TradeAt::Open,
        trail_stop: Some(0.1),
        touched_exit: true,
        ..SimOptions::default()
    };
    let r = run_ohlc(&p, &opts);
    // The peak with today's open is 1.3, so the floor is 1.2 and the low (1.16) reaches it.
    let tr = &r.trades[0];
    assert_eq!(
        (tr.exit_reason, tr.exit_date),
        (ExitReason::TrailStop, Some(2))
    );
    let exit = (1.0 - f) * 1.2 * (1.0 - f - t);
    assert!(close_to(values(&r)[2], exit), "{:?}", values(&r));
    assert!((values(&r)[2] - 1.19299).abs() < 5e-6);
    assert!(close_to(1.0 + tr.ret, exit));
}

#[test]
fn touched_trailing_stop_of_a_short_at_the_open_counts_todays_open_in_the_trough() {
    let (f, t) = (TW_FEE, TW_TAX);
    let p = ohlc(
        vec![100., 100., 70., 70.],
        vec![100., 100., 84., 71.],
        vec![100., 100., 69., 69.],
        vec![100., 100., 75., 70.],
    );
    let pos = panel(vec![0], &["X"], vec![-1.0]);
    let opts = SimOptions {
        trade_at: TradeAt::Open,
        trail_stop: Some(0.1),
        touched_exit: true,
        ..SimOptions::default()
    };
    let r = simulate(&pos, &market(&p), &opts).unwrap();
    // The trough with today's open is 0.7, so the ceiling is 0.8 and the high (0.84) reaches it.
    let tr = &r.trades[0];
    assert_eq!(
        (tr.exit_reason, tr.exit_date),
        (ExitReason::TrailStop, Some(2))
    );
    let exit = 2.0 - f - 0.8 * (1.0 + f + t);
    assert!(close_to(values(&r)[2], exit), "{:?}", values(&r));
    assert!(close_to(1.0 + tr.ret, exit));
}

#[test]
fn a_suspended_stock_sold_at_the_open_ends_its_trade_at_the_frozen_value() {
    let (f, t) = (TW_FEE, TW_TAX);
    // Bought at the open of bar 1 (10), last valid open 12 on bar 2; the sale on bar 3 finds
    // no open and sells at the value frozen there, although the close moved on to 14.
    let p = ohlc(
        vec![10., 10., 12., NAN, 15.],
        vec![10., 11., 13., 14., 15.],
        vec![10., 10., 12., 13., 15.],
        vec![10., 11., 13., 14., 15.],
    );
    let pos = panel(vec![0, 2], &["X"], vec![1.0, 0.0]);
    let opts = SimOptions {
        trade_at: TradeAt::Open,
        ..SimOptions::default()
    };
    let r = simulate(&pos, &market(&p), &opts).unwrap();
    let sold = (1.0 - f) * 1.2 * (1.0 - f - t);
    assert!(close_to(values(&r)[3], sold), "{:?}", values(&r));
    let tr = &r.trades[0];
    assert_eq!(tr.exit_date, Some(3));
    assert!(close_to(1.0 + tr.ret, sold), "{} vs {sold}", 1.0 + tr.ret);
}

#[test]
fn a_short_pays_its_exit_cost_as_the_cash_book_does() {
    let (f, t) = (TW_FEE, TW_TAX);
    let prices = panel(vec![0, 1, 2, 3], &["X"], vec![100., 100., 90., 90.]);
    let pos = panel(vec![0, 2], &["X"], vec![-1.0, 0.0]);
    let r = run(&pos, &prices, &SimOptions::default());
    // Short 1 NAV: cash 2 − f, liability 0.9 covered with fee + tax.
    let want = 2.0 - f - 0.9 * (1.0 + f + t);
    assert!(close_to(r.creturn.last().unwrap().1, want));
    assert!(close_to(1.0 + r.trades[0].ret, want));
}

#[test]
fn a_reversal_charges_the_closed_trade_what_the_cash_book_charges() {
    let (f, t) = (TW_FEE, TW_TAX);
    // Long 1 NAV on bar 1, reversed to short 1 NAV on bar 3 (one rebalance), covered on bar 5.
    let prices = panel(
        (0..7).collect(),
        &["X"],
        vec![100., 100., 100., 110., 99., 99., 99.],
    );
    let pos = panel(vec![0, 2, 4], &["X"], vec![1.0, -1.0, 0.0]);
    let r = run(&pos, &prices, &SimOptions::default());
    let v = values(&r);
    let (long, short) = (&r.trades[0], &r.trades[1]);
    // The reversal is one entry on the whole difference: fee only, also for the long's exit.
    let held = (1.0 - f) * 1.1;
    let long_end = held * (1.0 - f);
    assert!(close_to(1.0 + long.ret, long_end), "{}", long.ret);
    // The short is the whole pre-trade NAV (`held`): its gain adds to what the long left.
    let short_growth = 2.0 - f - 0.9 * (1.0 + f + t);
    assert!(close_to(1.0 + short.ret, short_growth), "{}", short.ret);
    assert_eq!(short.weight, -1.0);
    assert!(close_to(v[5], long_end + held * short.ret), "{v:?}");
}

/// A one-stock market: open, high, low, close on a random walk (small enough steps that a
/// short of the whole book stays solvent), with suspensions (NaN in any field).
fn one_stock(n: usize) -> impl Strategy<Value = [Vec<f64>; 4]> {
    let bar = (
        -0.025f64..0.025,
        -0.02f64..0.02,
        0.0f64..0.02,
        0.0f64..0.02,
        0u8..10,
    );
    (10.0f64..100.0, prop::collection::vec(bar, n)).prop_map(|(start, bars)| {
        let mut out: [Vec<f64>; 4] = Default::default();
        let mut c = start;
        for (step, gap, up, down, missing) in bars {
            c *= 1.0 + step;
            let o = c * (1.0 + gap);
            let (h, l) = (c.max(o) * (1.0 + up), c.min(o) * (1.0 - down));
            // 0: suspended (no prices), 1: no open, 2: no close; else all four.
            for (i, v) in [o, h, l, c].into_iter().enumerate() {
                let gone = missing == 0 || (missing == 1 && i == 0) || (missing == 2 && i == 3);
                out[i].push(if gone { NAN } else { v });
            }
        }
        out
    })
}

fn options() -> impl Strategy<Value = SimOptions> {
    let modes = prop::sample::select(vec![
        TradeAt::Close,
        TradeAt::Open,
        TradeAt::OpenCloseAvg,
        TradeAt::HighLowAvg,
        TradeAt::PriceAvg,
    ]);
    let stop = prop::option::of(0.02f64..0.3);
    let flags = (any::<bool>(), any::<bool>());
    (modes, stop.clone(), stop.clone(), stop, flags, 0.2f64..1.0).prop_map(
        |(trade_at, stop_loss, take_profit, trail_stop, (touched_exit, retain), limit)| {
            SimOptions {
                trade_at,
                stop_loss,
                take_profit,
                trail_stop,
                touched_exit,
                retain_cost_when_rebalance: retain,
                position_limit: limit,
                ..SimOptions::default()
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_trades_return_reconciles_with_the_book(
        p in one_stock(24),
        weight in prop_oneof![-1.0f64..-0.05, 0.05f64..1.0],
        entry in 0i32..10,
        exit in prop::option::of(10i32..24),
        opts in options(),
    ) {
        let d: Vec<i32> = (0..24).collect();
        let [o, h, l, c] = p;
        let p = [
            panel(d.clone(), &["X"], o),
            panel(d.clone(), &["X"], h),
            panel(d.clone(), &["X"], l),
            panel(d, &["X"], c),
        ];
        let (dates, w) = match exit {
            Some(x) => (vec![entry, x], vec![weight, 0.0]),
            None => (vec![entry], vec![weight]),
        };
        let r = simulate(&panel(dates, &["X"], w), &market(&p), &opts).unwrap();
        // One weight row and an exit row under resample=None: at most one trade.
        prop_assert!(r.trades.len() <= 1, "{:?}", r.trades);
        for t in &r.trades {
            let want = 1.0 + t.weight.abs() * t.ret;
            let got = growth_over(&r, t);
            prop_assert!((got - want).abs() <= 1e-12 * got.abs().max(1.0), "{t:?}: curve {got} vs trade {want}");
        }
    }

    #[test]
    fn split_pieces_chain_to_the_books_growth(
        p in one_stock(70),
        opts in options(),
        freq in prop::sample::select(vec!["W", "W-WED", "10D", "M"]),
    ) {
        // A long holding of the whole book, split at every rebalance (no resizing), so the
        // pieces' returns chain to the curve's growth.
        let d: Vec<i32> = (0..70).collect();
        let [o, h, l, c] = p;
        let p = [
            panel(d.clone(), &["X"], o),
            panel(d.clone(), &["X"], h),
            panel(d.clone(), &["X"], l),
            panel(d, &["X"], c),
        ];
        let opts = SimOptions {
            resample: Resample::Every(Frequency::parse(freq).unwrap()),
            position_limit: 1.0,
            ..opts
        };
        let r = simulate(&panel(vec![0], &["X"], vec![1.0]), &market(&p), &opts).unwrap();
        // Between trades (after a stop) the book is all cash: the curve is flat there.
        let (Some(first), Some(last)) = (r.trades.first(), r.trades.last()) else {
            return Ok(());
        };
        let end = last.exit_date.unwrap_or(r.creturn.last().unwrap().0);
        let got = value_on(&r, end) / value_on(&r, first.entry_sig_date);
        let chained: f64 = r.trades.iter().map(|t| 1.0 + t.ret).product();
        prop_assert!((got - chained).abs() <= 1e-12 * got.abs().max(1.0), "curve {got} vs pieces {chained}: {:?}", r.trades);
    }
}

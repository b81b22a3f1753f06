//! Generator tests on small markets (fast enough for every `cargo test`).

use super::model::{limits, tick};
use super::*;

fn small() -> SynthConfig {
    SynthConfig {
        start: days_from_civil(2023, 1, 1),
        end: days_from_civil(2024, 12, 31),
        stocks: Some(40),
        ..SynthConfig::default()
    }
}

fn find<'a>(panels: &'a [PanelData], key: &str) -> &'a PanelData {
    panels.iter().find(|p| p.name == key).unwrap()
}

#[test]
fn generation_is_deterministic_and_digest_is_golden() {
    let a = generate_with(&small(), 1, &mut |_, _| {}).unwrap();
    let b = generate_with(&small(), 3, &mut |_, _| {}).unwrap();
    assert_eq!(digest(&a), digest(&b), "thread count changed the output");
    // Golden digest: changes only when the generator changes (then bump VERSION and
    // DEFAULT_DIGEST).
    assert_eq!(
        digest(&a),
        0x06f9_c120_0a75_11d7,
        "digest {:#x}",
        digest(&a)
    );
    let names: Vec<&str> = a.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, keys());
    // The panels of the first model are unchanged by the datasets added since (they draw from
    // their own streams): their digest is still the first model's golden digest.
    let first: Vec<&str> = DAILY_KEYS[..25]
        .iter()
        .chain(&MONTHLY_KEYS)
        .chain(&QUARTERLY_KEYS)
        .chain([&BENCHMARK.0, &PRICE_INDEX.0])
        .copied()
        .collect();
    let old: Vec<PanelData> = first.iter().map(|k| find(&a, k).clone()).collect();
    assert_eq!(
        digest(&old),
        0xe3e1_c1e0_306e_e5b0,
        "the first model's panels changed"
    );
    let null = generate(
        &SynthConfig {
            null: true,
            ..small()
        },
        &mut |_, _| {},
    )
    .unwrap();
    assert_ne!(digest(&a), digest(&null));
}

#[test]
fn a_stock_does_not_depend_on_the_others() {
    let a = generate(&small(), &mut |_, _| {}).unwrap();
    let b = generate(
        &SynthConfig {
            stocks: Some(60),
            ..small()
        },
        &mut |_, _| {},
    )
    .unwrap();
    let (ca, cb) = (find(&a, "price:收盤價"), find(&b, "price:收盤價"));
    let mut shared = 0;
    for (i, code) in ca.columns.iter().enumerate() {
        if let Some(j) = cb.columns.iter().position(|c| c == code) {
            let same = ca
                .column(i)
                .iter()
                .zip(cb.column(j))
                .all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same, "{code} changed when other stocks were added");
            shared += 1;
        }
    }
    assert!(shared >= 30, "{shared}");
}

#[test]
fn bars_respect_ticks_limits_and_lots() {
    let cfg = SynthConfig {
        start: days_from_civil(2014, 1, 1),
        end: days_from_civil(2021, 12, 31),
        stocks: Some(30),
        ..SynthConfig::default()
    };
    let p = generate(&cfg, &mut |_, _| {}).unwrap();
    let (c, o, h, l) = (
        find(&p, "price:收盤價"),
        find(&p, "price:開盤價"),
        find(&p, "price:最高價"),
        find(&p, "price:最低價"),
    );
    let (v, adj) = (find(&p, "price:成交股數"), find(&p, "etl:adj_close"));
    let odd_lots = days_from_civil(2020, 10, 26);
    let regime = days_from_civil(2015, 6, 1);
    let mut checked = 0;
    for s in 0..c.columns.len() {
        let mut prev: Option<usize> = None;
        let mut traded = 0;
        for t in 0..c.dates.len() {
            let cl = c.get(t, s);
            if cl.is_nan() {
                continue;
            }
            traded += 1;
            let (op, hi, lo) = (o.get(t, s), h.get(t, s), l.get(t, s));
            assert!(lo <= op.min(cl) && hi >= op.max(cl), "{} {t}", c.columns[s]);
            for x in [op, hi, lo, cl] {
                let k = x / tick(x);
                assert!((k - k.round()).abs() < 1e-6, "{x} off the tick grid");
            }
            if c.dates[t] < odd_lots {
                assert_eq!(v.get(t, s) % 1000.0, 0.0);
            }
            if let Some(p) = prev {
                // The reference price on the raw scale (ex-rights days included).
                let reference = (adj.get(p, s) * cl / adj.get(t, s) * 100.0).round() / 100.0;
                let pct = if c.dates[t] < regime { 0.07 } else { 0.10 };
                let (up, down) = limits(reference, pct);
                // A new listing trades without limits for five sessions.
                if traded > 5 {
                    assert!(
                        cl <= up + 0.011 && cl >= down - 0.011,
                        "{} {t}: {cl} vs {down}–{up}",
                        c.columns[s]
                    );
                    checked += 1;
                }
            }
            prev = Some(t);
        }
    }
    assert!(checked > 20_000, "{checked}");
}

#[test]
fn revenue_is_published_after_the_month_and_report_runs() {
    let p = generate(&small(), &mut |_, _| {}).unwrap();
    let rev = find(&p, "monthly_revenue:當月營收");
    let yoy = find(&p, "monthly_revenue:去年同月增減(%)");
    let last_year = find(&p, "monthly_revenue:去年當月營收");
    for (r, &d) in rev.dates.iter().enumerate() {
        let (_, _, day) = crate::calendar::civil_from_days(d);
        assert!((10..=20).contains(&day));
        for s in 0..rev.columns.len() {
            let (x, ly, g) = (rev.get(r, s), last_year.get(r, s), yoy.get(r, s));
            if !x.is_nan() {
                assert!(x > 0.0);
                assert!(((x / ly - 1.0) * 100.0 - g).abs() < 0.01, "{x} {ly} {g}");
            }
        }
    }
    let rows = report::calibrate(&p);
    assert!(rows.iter().any(|r| r.name.contains("touching a limit")));
    assert!(report::render(&rows).contains("target"));
}

fn median_of(p: &PanelData) -> f64 {
    let mut v: Vec<f64> = p.values.iter().copied().filter(|x| x.is_finite()).collect();
    assert!(!v.is_empty(), "{} is empty", p.name);
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
fn added_datasets_hold_their_relations_and_plausible_levels() {
    let p = generate(&small(), &mut |_, _| {}).unwrap();
    let get = |k: &str| find(&p, k);
    // Flows add up to the net buys and to the change of the margin balance.
    let (buy, sell, net) = (
        get("institutional_investors_trading_summary:外陸資買進股數(不含外資自營商)"),
        get("institutional_investors_trading_summary:外陸資賣出股數(不含外資自營商)"),
        get("institutional_investors_trading_summary:外陸資買賣超股數(不含外資自營商)"),
    );
    let (mb, ms, bal) = (
        get("margin_transactions:融資買進"),
        get("margin_transactions:融資賣出"),
        get("margin_transactions:融資今日餘額"),
    );
    let mut checked = 0;
    for s in 0..net.columns.len() {
        for t in 1..net.dates.len() {
            let (b, x, n) = (buy.get(t, s), sell.get(t, s), net.get(t, s));
            if n.is_nan() {
                continue;
            }
            assert!(b >= 0.0 && x >= 0.0 && b - x == n, "{b} - {x} != {n}");
            let change = bal.get(t, s) - bal.get(t - 1, s);
            if change.is_finite() {
                assert_eq!(mb.get(t, s) - ms.get(t, s), change);
                checked += 1;
            }
        }
    }
    assert!(checked > 5000, "{checked}");
    // Statement items and ratios agree with the core statements.
    let (op, ebitda, dep) = (
        get("financial_statement:營業利益"),
        get("fundamental_features:EBITDA"),
        get("fundamental_features:折舊"),
    );
    for (i, &o) in op.values.iter().enumerate() {
        if o.is_finite() {
            assert!(
                ebitda.values[i] >= o + dep.values[i] - 1.0,
                "EBITDA below op + D"
            );
        }
    }
    let levels = [
        ("fundamental_features:流動比率", 110.0, 320.0),
        ("fundamental_features:速動比率", 60.0, 250.0),
        ("fundamental_features:營業利益成長率", -40.0, 60.0),
        ("fundamental_features:稅率", 15.0, 25.0),
        ("fundamental_features:總資產週轉次數", 0.3, 1.5),
        ("fundamental_features:存貨週轉率", 2.0, 15.0),
        ("fundamental_features:業外收支營收率", -2.0, 2.0),
        ("fundamental_features:營業費用率", 5.0, 25.0),
        ("financial_statement:營業成本", 1e5, 1e8),
    ];
    for (k, lo, hi) in levels {
        let m = median_of(get(k));
        assert!((lo..=hi).contains(&m), "{k}: median {m} outside {lo}..{hi}");
    }
    let quick = get("fundamental_features:速動比率");
    let current = get("fundamental_features:流動比率");
    for (q, c) in quick.values.iter().zip(&current.values) {
        assert!(q.is_nan() || q <= c, "quick {q} > current {c}");
    }
}

#[test]
fn insider_holdings_are_monthly_at_their_filing_deadline() {
    let p = generate(&small(), &mut |_, _| {}).unwrap();
    let ins = find(&p, "internal_equity_changes:董監持有股數占比");
    assert!(!ins.dates.is_empty());
    for &d in &ins.dates {
        let (_, _, day) = crate::calendar::civil_from_days(d);
        assert!(
            (15..=22).contains(&day),
            "dated {}",
            crate::calendar::format(d)
        );
    }
    let m = median_of(ins);
    assert!((8.0..=35.0).contains(&m), "median {m}");
    assert!(ins
        .values
        .iter()
        .all(|v| v.is_nan() || (0.5..=90.0).contains(v)));
}

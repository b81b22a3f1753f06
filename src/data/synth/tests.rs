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
        0xe3e1_c1e0_306e_e5b0,
        "digest {:#x}",
        digest(&a)
    );
    let names: Vec<&str> = a.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, keys());
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

//! What every loaded panel must satisfy before a strategy or the backtester sees it
//! (`docs/data.md` §1.4): dates unique and ascending, column labels unique, and for price-like
//! keys every present value a finite positive price (volumes: finite and not negative). A price
//! panel with no valid price at all is refused; a single stock whose column is all missing is
//! kept and is simply not tradable (the backtester never fills at a missing price).

use std::collections::HashSet;
use std::path::Path;

use dsl_runtime::wire::PanelData;

use super::DataError;

/// What the values of a key must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Prices and index levels: finite and positive where present.
    Price,
    /// Shares, NT$ and trade counts: finite and not negative where present.
    Volume,
    /// Anything else (ratios, flows, fundamentals): not checked cell by cell.
    Other,
}

/// The value rule of a dataset key.
pub fn kind(key: &str) -> Kind {
    const VOLUME: [&str; 3] = ["price:成交股數", "price:成交金額", "price:成交筆數"];
    if VOLUME.contains(&key) {
        Kind::Volume
    } else if key.starts_with("price:")
        || key.starts_with("etl:adj_")
        || key.starts_with("benchmark_return:")
        || key.starts_with("taiex_total_index:")
    {
        Kind::Price
    } else {
        Kind::Other
    }
}

/// Checks `panel` (read from `path`) against the rules of its key.
pub fn check(key: &str, path: &Path, panel: &PanelData) -> Result<(), DataError> {
    let invalid = |column: &str, problem: String| DataError::Invalid {
        path: path.to_path_buf(),
        column: column.to_string(),
        problem,
    };
    if let Some(w) = panel.dates.windows(2).find(|w| w[0] >= w[1]) {
        let what = if w[0] == w[1] {
            "appears twice"
        } else {
            "is out of order"
        };
        return Err(invalid(
            "date",
            format!("{} {what}", crate::calendar::format(w[1])),
        ));
    }
    let mut seen = HashSet::with_capacity(panel.columns.len());
    if let Some(dup) = panel.columns.iter().find(|c| !seen.insert(c.as_str())) {
        return Err(invalid(
            dup,
            "appears twice (a stock has one column; finlab's `code name` labels count as the code)"
                .into(),
        ));
    }
    let rule = kind(key);
    if rule == Kind::Other {
        return Ok(());
    }
    let n = panel.dates.len();
    let mut any_valid = false;
    for (c, name) in panel.columns.iter().enumerate() {
        let column = &panel.values[c * n..(c + 1) * n];
        for (r, &v) in column.iter().enumerate() {
            if v.is_nan() {
                continue;
            }
            let ok = v.is_finite()
                && if rule == Kind::Price {
                    v > 0.0
                } else {
                    v >= 0.0
                };
            if !ok {
                let must = if rule == Kind::Price {
                    "a price must be finite and positive"
                } else {
                    "a volume must be finite and not negative"
                };
                return Err(invalid(
                    name,
                    format!(
                        "{v} on {} ({must}; NaN marks a missing value)",
                        crate::calendar::format(panel.dates[r])
                    ),
                ));
            }
            any_valid = true;
        }
    }
    if rule == Kind::Price && !any_valid && n > 0 {
        return Err(DataError::NoPrices {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panel(columns: &[&str], values: Vec<f64>) -> PanelData {
        PanelData {
            name: "x".into(),
            dates: vec![19000, 19001],
            columns: columns.iter().map(|c| c.to_string()).collect(),
            values,
        }
    }

    #[test]
    fn rules_by_key() {
        let p = Path::new("p.feather");
        let good = panel(&["1101", "2330"], vec![1.0, f64::NAN, f64::NAN, f64::NAN]);
        check("etl:adj_close", p, &good).unwrap();
        for bad in [0.0, -1.0, f64::INFINITY] {
            let e = check("price:收盤價", p, &panel(&["1101"], vec![1.0, bad])).unwrap_err();
            assert!(
                matches!(&e, DataError::Invalid { column, .. } if column == "1101"),
                "{e}"
            );
            assert!(e.to_string().contains("p.feather"), "{e}");
        }
        check("price:成交股數", p, &panel(&["1101"], vec![0.0, 5.0])).unwrap();
        assert!(check("price:成交股數", p, &panel(&["1101"], vec![-1.0, 5.0])).is_err());
        check(
            "price_earning_ratio:本益比",
            p,
            &panel(&["1101"], vec![-3.0, 0.0]),
        )
        .unwrap();
        let none = panel(&["1101"], vec![f64::NAN; 2]);
        assert!(matches!(
            check("etl:adj_close", p, &none),
            Err(DataError::NoPrices { .. })
        ));
        let dup = panel(&["2330", "2330"], vec![1.0; 4]);
        let e = check("monthly_revenue:當月營收", p, &dup).unwrap_err();
        assert!(e.to_string().contains("`2330`"), "{e}");
        let mut dates = good.clone();
        dates.dates = vec![19001, 19001];
        let e = check("etl:adj_close", p, &dates).unwrap_err();
        assert!(
            matches!(&e, DataError::Invalid { column, .. } if column == "date"),
            "{e}"
        );
    }
}

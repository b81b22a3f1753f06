//! Value parsers shared by the commands' flags: out-of-range values are flag errors at parse
//! time (exit 2 with the flag named), never a panic later when they are converted.

/// The longest duration a flag accepts, in seconds (a day).
pub const MAX_SECONDS: f64 = 86_400.0;

/// A positive number of seconds, at most [`MAX_SECONDS`].
pub fn seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if v.is_finite() && v > 0.0 && v <= MAX_SECONDS {
        Ok(v)
    } else {
        Err(format!(
            "must be more than 0 and at most {MAX_SECONDS} seconds (a day)"
        ))
    }
}

/// A delay in seconds: 0 (none) up to [`MAX_SECONDS`].
pub fn delay(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if v.is_finite() && (0.0..=MAX_SECONDS).contains(&v) {
        Ok(v)
    } else {
        Err(format!("must be 0 to {MAX_SECONDS} seconds (a day)"))
    }
}

/// A sampling temperature, 0 to 2.
pub fn temperature(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    if (0.0..=2.0).contains(&v) {
        Ok(v)
    } else {
        Err("must be between 0 and 2".into())
    }
}

pub use crate::calendar::{first_day, last_day};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_out_of_range_are_refused() {
        assert_eq!(seconds("120"), Ok(120.0));
        for bad in ["0", "-1", "2e19", "inf", "NaN", "1e400", "x"] {
            assert!(seconds(bad).is_err(), "{bad}");
        }
        assert_eq!(delay("0"), Ok(0.0));
        for bad in ["-1", "2e19", "inf", "NaN", "x"] {
            assert!(delay(bad).is_err(), "{bad}");
        }
        assert!(temperature("2.5").is_err() && temperature("0.3").is_ok());
    }

    #[test]
    fn partial_dates_cover_what_pandas_reads() {
        let day = |t: &str| crate::calendar::parse(t).unwrap();
        assert_eq!(first_day("2015"), Ok(day("2015-01-01")));
        assert_eq!(last_day("2020"), Ok(day("2020-12-31")));
        assert_eq!(first_day("2020-02"), Ok(day("2020-02-01")));
        assert_eq!(last_day("2020-02"), Ok(day("2020-02-29")));
        assert_eq!(last_day("2019-12"), Ok(day("2019-12-31")));
        assert_eq!(last_day("2020-03-10"), Ok(day("2020-03-10")));
        for bad in ["20", "2015-13", "2015-02-30", "x", "2015-01-01-01", "15-01"] {
            assert!(first_day(bad).is_err(), "{bad}");
        }
    }
}

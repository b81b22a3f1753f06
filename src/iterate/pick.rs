//! Resolving one run setting: the flag, else the saved value, else the default, and refusing a
//! flag that would change a saved result-affecting setting (see [`super::config`]).

use std::fmt::Display;
use std::path::{Path, PathBuf};

use super::config::{Requested, RunConfig};
use super::gates::Gates;
use super::IterateError;

/// One setting: the flag's value, else the saved one, else the default; a flag that differs
/// from the saved value is refused unless `may_change`.
pub(super) fn pick<T: PartialEq + Display>(
    flag: &'static str,
    given: Option<T>,
    saved: Option<T>,
    default: T,
    may_change: bool,
    dir: &Path,
) -> Result<T, IterateError> {
    match (given, saved) {
        (Some(g), Some(s)) if g != s && !may_change => Err(IterateError::Setting {
            flag,
            given: g.to_string(),
            saved: s.to_string(),
            dir: dir.to_path_buf(),
        }),
        (Some(v), _) | (None, Some(v)) => Ok(v),
        (None, None) => Ok(default),
    }
}

/// Resolves settings for one run: `free` when a fork may change the results-affecting ones.
pub(super) struct Picker<'a> {
    pub(super) free: bool,
    pub(super) dir: &'a Path,
}

impl Picker<'_> {
    /// A results-affecting setting: the flag, else the saved value, else the default; a flag
    /// that differs from the saved value is refused unless the run is a fork.
    pub(super) fn pick<T: PartialEq + Display>(
        &self,
        flag: &'static str,
        given: Option<T>,
        saved: Option<T>,
        default: T,
    ) -> Result<T, IterateError> {
        pick(flag, given, saved, default, self.free, self.dir)
    }

    /// An optional setting ([`Picker::pick`] with "none" as the default).
    pub(super) fn optional<T: PartialEq + Display>(
        &self,
        flag: &'static str,
        given: Option<T>,
        saved: Option<Option<T>>,
    ) -> Result<Option<T>, IterateError> {
        let given = given.map(|v| Shown(Some(v)));
        Ok(self.pick(flag, given, saved.map(Shown), Shown(None))?.0)
    }

    /// An optional path; `may_change` false fixes it even for a fork (the data a run splits).
    pub(super) fn path(
        &self,
        may_change: bool,
        flag: &'static str,
        given: &Option<PathBuf>,
        saved: Option<&Option<PathBuf>>,
    ) -> Result<Option<PathBuf>, IterateError> {
        let given = given.clone().map(|p| Shown(Some(ShownPath(p))));
        let saved = saved.map(|p| Shown(p.clone().map(ShownPath)));
        let picked = pick(flag, given, saved, Shown(None), may_change, self.dir)?;
        Ok(picked.0.map(|p| p.0))
    }

    /// A number of years (the holdout, the validation span): fixed for the run and its forks.
    pub(super) fn years(
        &self,
        flag: &'static str,
        given: Option<f64>,
        saved: Option<f64>,
        default: f64,
    ) -> Result<f64, IterateError> {
        let v = pick(flag, given, saved, default, false, self.dir)?;
        if v.is_finite() && (0.0..=50.0).contains(&v) {
            Ok(v)
        } else {
            Err(IterateError::Refused(format!(
                "{flag} must be a number of years between 0 and 50"
            )))
        }
    }

    /// The promotion gates.
    pub(super) fn gates(
        &self,
        req: &Requested,
        s: Option<&RunConfig>,
    ) -> Result<Gates, IterateError> {
        let base = s.map_or_else(Gates::default, |s| s.gates.clone());
        let gates = Gates {
            min_trades: self.pick(
                "--min-trades",
                req.min_trades,
                s.map(|s| s.gates.min_trades),
                base.min_trades,
            )?,
            turnover: self
                .pick(
                    "--turnover",
                    req.turnover.map(Band),
                    s.map(|s| Band(s.gates.turnover)),
                    Band(base.turnover),
                )?
                .0,
            max_correlation: self.pick(
                "--max-corr",
                req.max_correlation,
                s.map(|s| s.gates.max_correlation),
                base.max_correlation,
            )?,
        };
        if !(gates.max_correlation > 0.0 && gates.max_correlation <= 1.0) {
            return Err(IterateError::Refused(
                "--max-corr must be above 0 and at most 1".into(),
            ));
        }
        Ok(gates)
    }
}

/// Shows an optional setting in an error.
pub(super) struct Shown<T>(pub(super) Option<T>);

impl<T: Display> Display for Shown<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str("(none)"),
        }
    }
}

impl<T: PartialEq> PartialEq for Shown<T> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

/// Shows a path in an error.
#[derive(PartialEq)]
pub(super) struct ShownPath(pub(super) PathBuf);

impl Display for ShownPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.display().fmt(f)
    }
}

/// Shows a turnover band in an error.
#[derive(PartialEq)]
pub(super) struct Band(pub(super) (f64, f64));

impl Display for Band {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{},{}", self.0 .0, self.0 .1)
    }
}

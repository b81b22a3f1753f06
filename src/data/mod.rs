//! Market data as wide Arrow files in finlab's cache layout (`feather`), the default synthetic
//! market generated on first use (`synth`), and [`DataDir`], which loads panels by dataset key.
//! Feeds the sandbox (inputs) and the backtester (adjusted prices). See `docs/data.md` §1, §4.

pub mod catalog;
pub mod feather;
pub mod fetch;
pub mod import;
pub mod integrity;
pub mod reference;
pub mod stale;
pub mod synth;
pub mod validate;
mod write;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use dsl_runtime::wire::PanelData;
use serde::{Deserialize, Serialize};

pub use integrity::FileRecord;
pub use write::{
    check_default_digest, ensure, ensure_default, lacks_generated_keys, synthetic_manifest,
    write_dataset,
};

/// Why data could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("dataset `{key}` is not in {dir} (available: {available})")]
    NotFound {
        key: String,
        dir: PathBuf,
        available: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a readable wide Arrow panel: {message}")]
    Format { path: PathBuf, message: String },
    #[error("dataset `{key}` does not share the trading calendar of `{reference}`: {message}")]
    CalendarMismatch {
        key: String,
        reference: String,
        message: String,
    },
    #[error("calendar: {0}")]
    Calendar(String),
    #[error("reference data: {0}")]
    Reference(String),
    #[error("dataset catalog: {0}")]
    Catalog(String),
    #[error(
        "the generated market has digest {actual}, expected {expected}: this platform computes \
         different bits (please report it); the data was not written"
    )]
    Digest { expected: String, actual: String },
    #[error("{}: column `{column}`: {problem}", path.display())]
    Invalid {
        path: PathBuf,
        column: String,
        problem: String,
    },
    #[error(
        "{}: no valid price in any column (all missing, zero, negative or infinite): nothing \
         in it is tradable",
        path.display()
    )]
    NoPrices { path: PathBuf },
    #[error(
        "{} changed since the data set was written (SHA-256 {actual}, the manifest records \
         {expected}): refusing to use it; regenerate, re-import or re-fetch the data set",
        path.display()
    )]
    Modified {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error(
        "dataset `{key}` resolves to {}, outside the data directory {}",
        path.display(),
        dir.display()
    )]
    OutsideDir {
        key: String,
        path: PathBuf,
        dir: PathBuf,
    },
}

/// Manifest file written next to generated data; its presence marks a complete data set.
pub const MANIFEST: &str = "dsl-engine-dataset.json";

/// What a data directory holds and where it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub synthetic: bool,
    pub generator: String,
    pub version: u32,
    pub seed: u64,
    pub digest: String,
    pub disclaimer: String,
    /// The generator configuration (`SynthConfig::label`) or the import source.
    #[serde(default)]
    pub config: String,
    /// No planted premia (`--null`).
    #[serde(default)]
    pub null: bool,
    /// Where the tickers, industries and calendar came from.
    #[serde(default)]
    pub reference_data: String,
    /// Every panel file of the data set (dataset key → size, time, SHA-256); a key not here is
    /// not part of the data set. Empty in manifests written before digests were recorded.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, FileRecord>,
}

/// finlab's industry table (`data.get("security_industry_themes")`, read by `industry_rank`).
pub use dsl_runtime::ops::INDUSTRY_THEMES;

/// Industry membership as a panel for `industry_rank`: one row per industry (rows numbered
/// 0.., in the order of the industries' names), one column per listed security, 1 where the
/// security belongs to the industry and NaN elsewhere. Built from the reference data
/// (`datasets/securities.csv`, `industries.csv`): each security has one TWSE industry.
pub fn industry_membership() -> Result<PanelData, DataError> {
    let securities = reference::securities()?;
    let names: std::collections::HashMap<String, String> = reference::industries()?
        .into_iter()
        .map(|i| (i.code, i.name_zh))
        .collect();
    let mut categories: Vec<&String> = securities
        .iter()
        .filter_map(|s| names.get(&s.industry))
        .collect();
    categories.sort();
    categories.dedup();
    let rows = categories.len();
    let mut values = Vec::with_capacity(rows * securities.len());
    for s in &securities {
        let own = names.get(&s.industry);
        values.extend(
            categories
                .iter()
                .map(|c| if Some(*c) == own { 1.0 } else { f64::NAN }),
        );
    }
    Ok(PanelData {
        name: INDUSTRY_THEMES.to_string(),
        dates: (0..rows as i32).collect(),
        columns: securities.iter().map(|s| s.code.clone()).collect(),
        values,
    })
}

/// A directory of dataset files.
#[derive(Clone, Debug)]
pub struct DataDir {
    pub path: PathBuf,
    pub manifest: Option<Manifest>,
    /// Why the files cannot be checked against digests, when they cannot (e.g. a read-only
    /// data set written before digests were recorded).
    pub unverified: Option<String>,
    /// Panels already read by [`DataDir::shared`], kept for the life of the process (clones of
    /// a `DataDir` share it).
    cache: PanelCache,
}

/// Panels read once per process and shared between evaluations (and threads): one slot per
/// dataset, whose lock a thread holds while it reads the file, so another thread that wants
/// the same panel meanwhile waits for it instead of reading it again.
#[derive(Clone, Default)]
struct PanelCache(Arc<Mutex<HashMap<String, PanelSlot>>>);

type PanelSlot = Arc<Mutex<Option<Arc<PanelData>>>>;

impl std::fmt::Debug for PanelCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.lock().map_or(0, |m| m.len());
        write!(f, "PanelCache({n} panels)")
    }
}

impl DataDir {
    /// Opens an existing directory (e.g. a finlab cache `~/finlab_db`). A manifest written before
    /// per-file digests existed gets them now when the directory is writable; otherwise the
    /// files stay unverified ([`DataDir::unverified`]).
    pub fn open(path: &Path) -> Result<DataDir, DataError> {
        let meta = std::fs::metadata(path).map_err(|e| DataError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        if !meta.is_dir() {
            return Err(DataError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
            });
        }
        let manifest: Option<Manifest> = std::fs::read(path.join(MANIFEST))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let mut dir = DataDir {
            path: path.to_path_buf(),
            manifest,
            unverified: None,
            cache: PanelCache::default(),
        };
        if dir.manifest.as_ref().is_some_and(|m| m.files.is_empty()) {
            dir.record_digests()?;
        }
        Ok(dir)
    }

    /// Adds per-file digests to a manifest that has none (written by an older version).
    fn record_digests(&mut self) -> Result<(), DataError> {
        let Some(mut manifest) = self.manifest.clone() else {
            return Ok(());
        };
        manifest.files = integrity::record_dir(&self.path)?;
        if manifest.files.is_empty() {
            return Ok(());
        }
        match integrity::write_manifest(&self.path, &manifest) {
            Ok(()) => self.manifest = Some(manifest),
            Err(e) => {
                self.unverified = Some(format!(
                    "unverified: the manifest records no file digests and they could not be \
                     added ({e})"
                ))
            }
        }
        Ok(())
    }

    /// The digest of this data set (see [`integrity::dataset_digest`]): from the manifest's
    /// records, or computed from the files when there are none.
    pub fn digest(&self) -> Result<String, DataError> {
        let recorded: BTreeMap<String, String> = match &self.manifest {
            Some(m) if !m.files.is_empty() => m
                .files
                .iter()
                .map(|(k, r)| (k.clone(), r.sha256.clone()))
                .collect(),
            _ => integrity::panel_files(&self.path)?
                .into_iter()
                .map(|k| {
                    let sha = integrity::hash_file(&self.path.join(feather::file_name(&k)))?;
                    Ok((k, sha))
                })
                .collect::<Result<_, DataError>>()?,
        };
        Ok(integrity::dataset_digest(self.manifest.as_ref(), &recorded))
    }

    /// Hashes every file the manifest records (`data verify`). When every file matches, the
    /// recorded sizes and times are renewed (a copied directory has new times; without this
    /// each load would hash its file again).
    pub fn verify(&self) -> Result<integrity::Verification, DataError> {
        let files = self.manifest.as_ref().map(|m| &m.files);
        let report = integrity::verify(&self.path, files.unwrap_or(&BTreeMap::new()))?;
        if let Some(m) = self.manifest.as_ref().filter(|_| report.passed()) {
            let renewed = integrity::restamp(&self.path, &m.files)?;
            if renewed != m.files {
                let manifest = Manifest {
                    files: renewed,
                    ..m.clone()
                };
                // Best effort: a read-only data set is still verified.
                let _ = integrity::write_manifest(&self.path, &manifest);
            }
        }
        Ok(report)
    }

    /// Loads one dataset once per process: later calls (from any thread, any clone of this
    /// `DataDir`) share the panel read first; a call while another thread reads it waits for
    /// that read. Errors are not cached (the next call reads the file again).
    pub fn shared(&self, key: &str) -> Result<Arc<PanelData>, DataError> {
        // A poisoned lock only means another thread panicked holding it; the data is still valid
        // (a slot is only written with a whole panel).
        let slot = self
            .cache
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(key.to_string())
            .or_default()
            .clone();
        let mut panel = slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(p) = &*panel {
            return Ok(p.clone());
        }
        let p = Arc::new(self.load(key)?);
        *panel = Some(p.clone());
        Ok(p)
    }

    /// The recorded files of the manifest, when it records any.
    fn records(&self) -> Option<&BTreeMap<String, FileRecord>> {
        self.manifest
            .as_ref()
            .map(|m| &m.files)
            .filter(|f| !f.is_empty())
    }

    /// Dataset keys available here, sorted: the manifest's files, or (no records) the panel
    /// files in the directory.
    pub fn keys(&self) -> Result<Vec<String>, DataError> {
        match self.records() {
            Some(files) => Ok(files.keys().cloned().collect()),
            None => integrity::panel_files(&self.path),
        }
    }

    /// The keys a strategy may load from here: [`DataDir::keys`] and [`INDUSTRY_THEMES`]. Never
    /// "anything": an empty directory allows only the reference data.
    pub fn allowed_keys(&self) -> Vec<String> {
        let mut keys = self.keys().unwrap_or_default();
        keys.push(INDUSTRY_THEMES.to_string());
        keys
    }

    /// Loads one dataset, checked ([`validate::check`]). [`INDUSTRY_THEMES`] comes from the
    /// reference data (see [`industry_membership`]). A key must be one of this data set's keys
    /// (the manifest's files, or the directory's panel files when there is no record), its
    /// file must resolve inside the directory, and a recorded file must still have its digest.
    pub fn load(&self, key: &str) -> Result<PanelData, DataError> {
        if key == INDUSTRY_THEMES {
            return industry_membership();
        }
        let not_found = || DataError::NotFound {
            key: key.to_string(),
            dir: self.path.clone(),
            available: self.keys().unwrap_or_default().join(", "),
        };
        if !self.keys().unwrap_or_default().iter().any(|k| k == key) {
            return Err(not_found());
        }
        let path = self.path.join(feather::file_name(key));
        if !path.exists() {
            return Err(not_found());
        }
        self.check_inside(key, &path)?;
        if let Some(rec) = self.records().and_then(|f| f.get(key)) {
            integrity::check(&path, rec)?;
        }
        let mut panel = feather::read_wide(&path)?;
        panel.name = key.to_string();
        validate::check(key, &path, &panel)?;
        Ok(panel)
    }

    /// `path` (after following links) must lie inside the data directory.
    fn check_inside(&self, key: &str, path: &Path) -> Result<(), DataError> {
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |e| DataError::Io { path: p, source: e }
        };
        let dir = self.path.canonicalize().map_err(io(&self.path))?;
        let real = path.canonicalize().map_err(io(path))?;
        if real.parent() == Some(dir.as_path()) {
            Ok(())
        } else {
            Err(DataError::OutsideDir {
                key: key.to_string(),
                path: real,
                dir,
            })
        }
    }

    /// One line saying what the data is, e.g. `data: SYNTHETIC (tw-synth-mini v1, seed 42)`.
    pub fn banner(&self) -> String {
        let line = match &self.manifest {
            Some(m) if m.synthetic => format!(
                "data: SYNTHETIC ({} v{}, seed {}{}) — not market data",
                m.generator,
                m.version,
                m.seed,
                if m.null {
                    ", null: no planted premia"
                } else {
                    ""
                }
            ),
            Some(m) => format!("data: {} ({})", m.generator, self.path.display()),
            None => format!("data: {}", self.path.display()),
        };
        match &self.unverified {
            Some(note) => format!("{line} [{note}]"),
            None => line,
        }
    }
}

/// The trading calendar a data set's daily panels must share: the dates of this key.
pub const CALENDAR_KEY: &str = "etl:adj_close";

impl DataDir {
    /// Checks that `panel`'s dates are sessions of this data set's calendar (the dates of
    /// [`CALENDAR_KEY`]); lower-frequency panels (revenue, statements) pass when their dates are
    /// sessions too. Errors name the first date that is not a session.
    pub fn check_calendar(&self, panel: &PanelData) -> Result<(), DataError> {
        let cal = feather::read_dates_only(&self.path.join(feather::file_name(CALENDAR_KEY)))?;
        check_dates(&panel.name, &panel.dates, &cal)
    }
}

/// `dates` must all be in the ascending session list `calendar`.
pub fn check_dates(key: &str, dates: &[i32], calendar: &[i32]) -> Result<(), DataError> {
    match dates.iter().find(|d| calendar.binary_search(d).is_err()) {
        None => Ok(()),
        Some(&d) => Err(DataError::CalendarMismatch {
            key: key.to_string(),
            reference: CALENDAR_KEY.to_string(),
            message: format!(
                "{} is not one of its {} sessions ({} → {})",
                crate::calendar::format(d),
                calendar.len(),
                calendar
                    .first()
                    .map_or("-".into(), |&x| crate::calendar::format(x)),
                calendar
                    .last()
                    .map_or("-".into(), |&x| crate::calendar::format(x)),
            ),
        }),
    }
}

/// What a long-running data operation reports (the CLI draws a progress bar from it).
#[derive(Clone, Copy, Debug)]
pub enum Progress<'a> {
    /// A line of log.
    Message(&'a str),
    /// Stocks simulated so far.
    Stocks { done: usize, total: usize },
    /// Files written so far.
    Files { done: usize, total: usize },
}

/// Where the default synthetic data lives: `$DSL_ENGINE_DATA_DIR`, else the user cache directory.
pub fn default_data_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("DSL_ENGINE_DATA_DIR") {
        return PathBuf::from(p);
    }
    cache_root().join(format!("{}-v{}-seed42", synth::GENERATOR, synth::VERSION))
}

/// `<user cache>/dsl-engine/data`.
pub fn cache_root() -> PathBuf {
    let base = dirs::cache_dir().unwrap_or_else(std::env::temp_dir);
    base.join("dsl-engine").join("data")
}

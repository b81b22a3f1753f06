//! Market data as wide Arrow files in finlab's cache layout (`feather`), the default synthetic
//! market generated on first use (`synth`), and [`DataDir`], which loads panels by dataset key.
//! Feeds the sandbox (inputs) and the backtester (adjusted prices). See `docs/data.md` §1, §4.

pub mod catalog;
pub mod feather;
pub mod fetch;
pub mod import;
pub mod reference;
pub mod synth;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use dsl_runtime::wire::PanelData;
use serde::{Deserialize, Serialize};

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
    /// Panels already read by [`DataDir::shared`], kept for the life of the process (clones of
    /// a `DataDir` share it).
    cache: PanelCache,
}

/// Panels read once per process and shared between evaluations (and threads).
#[derive(Clone, Default)]
struct PanelCache(Arc<Mutex<HashMap<String, Arc<PanelData>>>>);

impl std::fmt::Debug for PanelCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.lock().map_or(0, |m| m.len());
        write!(f, "PanelCache({n} panels)")
    }
}

impl DataDir {
    /// Opens an existing directory (e.g. a finlab cache `~/finlab_db`).
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
        let manifest = std::fs::read(path.join(MANIFEST))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        Ok(DataDir {
            path: path.to_path_buf(),
            manifest,
            cache: PanelCache::default(),
        })
    }

    /// Loads one dataset once per process: later calls (from any thread, any clone of this
    /// `DataDir`) share the panel read first. Errors are not cached.
    pub fn shared(&self, key: &str) -> Result<Arc<PanelData>, DataError> {
        // A poisoned lock only means another thread panicked mid-insert; the map is still valid.
        let cached = |c: &PanelCache| {
            c.0.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(key)
                .cloned()
        };
        if let Some(p) = cached(&self.cache) {
            return Ok(p);
        }
        // Read outside the lock: two threads may read the same file once each; the first
        // inserted wins and both get the same panel afterwards.
        let panel = Arc::new(self.load(key)?);
        let mut map = self
            .cache
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(map.entry(key.to_string()).or_insert(panel).clone())
    }

    /// Dataset keys available here, sorted.
    pub fn keys(&self) -> Result<Vec<String>, DataError> {
        let entries = std::fs::read_dir(&self.path).map_err(|e| DataError::Io {
            path: self.path.clone(),
            source: e,
        })?;
        let mut keys: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().and_then(feather::key_of))
            .filter(|k| k.contains(':'))
            .collect();
        keys.sort();
        Ok(keys)
    }

    /// Loads one dataset. [`INDUSTRY_THEMES`] comes from the reference data (see
    /// [`industry_membership`]).
    pub fn load(&self, key: &str) -> Result<PanelData, DataError> {
        if key == INDUSTRY_THEMES {
            return industry_membership();
        }
        let path = self.path.join(feather::file_name(key));
        if !path.exists() {
            return Err(DataError::NotFound {
                key: key.to_string(),
                dir: self.path.clone(),
                available: self.keys().unwrap_or_default().join(", "),
            });
        }
        let mut panel = feather::read_wide(&path)?;
        panel.name = key.to_string();
        Ok(panel)
    }

    /// One line saying what the data is, e.g. `data: SYNTHETIC (tw-synth-mini v1, seed 42)`.
    pub fn banner(&self) -> String {
        match &self.manifest {
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

/// Opens the default data directory, generating the full synthetic market there first if it is
/// not complete yet (see [`ensure`]).
pub fn ensure_default(dir: &Path, log: &mut dyn FnMut(&str)) -> Result<DataDir, DataError> {
    ensure(dir, &synth::SynthConfig::default(), &mut |p| {
        if let Progress::Message(m) = p {
            log(m)
        }
    })
}

/// Opens `dir`, generating the synthetic market of `cfg` there first if it is not complete yet.
/// Generation writes to a temporary sibling and renames it into place, so an interrupted run
/// never leaves a half-written data set and concurrent generators never collide.
pub fn ensure(
    dir: &Path,
    cfg: &synth::SynthConfig,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<DataDir, DataError> {
    if dir.join(MANIFEST).exists() {
        return DataDir::open(dir);
    }
    progress(Progress::Message(&format!(
        "generating the synthetic market ({}) into {} ...",
        cfg.label(),
        dir.display()
    )));
    let panels = synth::generate(cfg, &mut |done, total| {
        progress(Progress::Stocks { done, total })
    })?;
    let manifest = synthetic_manifest(cfg, &panels);
    check_default_digest(cfg, &manifest)?;
    write_dataset(dir, &panels, &manifest, false, progress)?;
    DataDir::open(dir)
}

/// The default market must have [`synth::DEFAULT_DIGEST`] (bit-identical on every platform).
pub fn check_default_digest(
    cfg: &synth::SynthConfig,
    manifest: &Manifest,
) -> Result<(), DataError> {
    if *cfg == synth::SynthConfig::default() && manifest.digest != synth::DEFAULT_DIGEST {
        return Err(DataError::Digest {
            expected: synth::DEFAULT_DIGEST.into(),
            actual: manifest.digest.clone(),
        });
    }
    Ok(())
}

/// The manifest of a generated market.
pub fn synthetic_manifest(cfg: &synth::SynthConfig, panels: &[PanelData]) -> Manifest {
    Manifest {
        synthetic: true,
        generator: synth::GENERATOR.into(),
        version: synth::VERSION,
        seed: cfg.seed,
        digest: format!("{:016x}", synth::digest(panels)),
        disclaimer:
            "Synthetic prices. Real tickers/names/industries/calendar only. Not market data.".into(),
        config: cfg.label(),
        null: cfg.null,
        reference_data: reference::DIRECTORY_SNAPSHOT.into(),
    }
}

/// Writes `panels` and the manifest into `dir` through a temporary sibling directory renamed into
/// place. A complete data set already at `dir` is kept when `replace` is false (a concurrent
/// generator finished first; readers may be using it) and swapped out when it is true; an
/// incomplete one (no manifest) is always replaced. Files are written by up to two threads.
pub fn write_dataset(
    dir: &Path,
    panels: &[PanelData],
    manifest: &Manifest,
    replace: bool,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<(), DataError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e| DataError::Io { path, source: e }
    };
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    // Unique per process and call, so concurrent generators never share a temporary directory.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let tmp = parent.join(format!(
        ".{}.tmp-{}-{}",
        dir.file_name().and_then(|n| n.to_str()).unwrap_or("data"),
        std::process::id(),
        CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    let mut meta = vec![
        ("dsl_engine.synthetic", manifest.synthetic.to_string()),
        ("dsl_engine.generator", manifest.generator.clone()),
        ("dsl_engine.version", manifest.version.to_string()),
        ("dsl_engine.seed", manifest.seed.to_string()),
        ("dsl_engine.config", manifest.config.clone()),
        ("disclaimer", manifest.disclaimer.clone()),
    ];
    if !manifest.reference_data.is_empty() {
        meta.push(("reference_data", manifest.reference_data.clone()));
    }
    let result = write_files(&tmp, panels, &meta, progress).and_then(|()| {
        let json = serde_json::to_vec_pretty(manifest).unwrap_or_default();
        std::fs::write(tmp.join(MANIFEST), json).map_err(io(&tmp))
    });
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if dir.exists() && !replace && dir.join(MANIFEST).exists() {
        let _ = std::fs::remove_dir_all(&tmp);
        return Ok(());
    }
    if dir.exists() {
        let old = parent.join(format!(
            ".{}.old-{}",
            dir.file_name().and_then(|n| n.to_str()).unwrap_or("data"),
            std::process::id()
        ));
        std::fs::rename(dir, &old).map_err(io(dir))?;
        let _ = std::fs::remove_dir_all(&old);
    }
    match std::fs::rename(&tmp, dir) {
        Ok(()) => Ok(()),
        // Another process finished first: keep its copy.
        Err(_) if dir.join(MANIFEST).exists() => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Err(DataError::Io {
                path: dir.to_path_buf(),
                source: e,
            })
        }
    }
}

fn write_files(
    dir: &Path,
    panels: &[PanelData],
    meta: &[(&str, String)],
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<(), DataError> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let total = panels.len();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| -> Result<(), DataError> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(p) = panels.get(i) else {
                            return Ok(());
                        };
                        feather::write_wide(&dir.join(feather::file_name(&p.name)), p, meta)?;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        while workers.iter().any(|w| !w.is_finished()) {
            progress(Progress::Files {
                done: done.load(Ordering::Relaxed),
                total,
            });
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        progress(Progress::Files { done: total, total });
        workers
            .into_iter()
            .map(|w| {
                w.join().unwrap_or_else(|_| {
                    Err(DataError::Io {
                        path: dir.to_path_buf(),
                        source: std::io::Error::other("a writer thread panicked"),
                    })
                })
            })
            .collect::<Result<Vec<()>, DataError>>()
            .map(|_| ())
    })
}

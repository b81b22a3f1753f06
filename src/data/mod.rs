//! Market data as wide Arrow files in finlab's cache layout (`feather`), the default synthetic
//! market generated on first use (`synth`), and [`DataDir`], which loads panels by dataset key.
//! Feeds the sandbox (inputs) and the backtester (adjusted prices). See `spec/tw-data.md` §3, §5.

pub mod feather;
pub mod synth;

use std::path::{Path, PathBuf};

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
}

/// A directory of dataset files.
#[derive(Clone, Debug)]
pub struct DataDir {
    pub path: PathBuf,
    pub manifest: Option<Manifest>,
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
        })
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

    /// Loads one dataset.
    pub fn load(&self, key: &str) -> Result<PanelData, DataError> {
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
                "data: SYNTHETIC ({} v{}, seed {}) — not market data",
                m.generator, m.version, m.seed
            ),
            Some(m) => format!("data: {} ({})", m.generator, self.path.display()),
            None => format!("data: {}", self.path.display()),
        }
    }
}

/// Where the default synthetic data lives: `$DSL_ENGINE_DATA_DIR`, else the user cache directory.
pub fn default_data_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("DSL_ENGINE_DATA_DIR") {
        return PathBuf::from(p);
    }
    let base = dirs::cache_dir().unwrap_or_else(std::env::temp_dir);
    base.join("dsl-engine").join("data").join(format!(
        "{}-v{}-seed42",
        synth::GENERATOR,
        synth::VERSION
    ))
}

/// Opens the default data directory, generating the synthetic market there first if it is not
/// complete yet. Generation writes to a temporary sibling and renames it into place, so an
/// interrupted run never leaves a half-written data set.
pub fn ensure_default(dir: &Path, log: &mut dyn FnMut(&str)) -> Result<DataDir, DataError> {
    if dir.join(MANIFEST).exists() {
        return DataDir::open(dir);
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e| DataError::Io { path, source: e }
    };
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let cfg = synth::SynthConfig::default();
    log(&format!(
        "generating the synthetic market ({} stocks, seed {}) into {} ...",
        cfg.stocks,
        cfg.seed,
        dir.display()
    ));
    let panels = synth::generate(&cfg);
    // Unique per process and call, so concurrent generators never share a temporary directory.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let tmp = parent.join(format!(
        ".{}.tmp-{}-{}",
        dir.file_name().and_then(|n| n.to_str()).unwrap_or("data"),
        std::process::id(),
        CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    let manifest = Manifest {
        synthetic: true,
        generator: synth::GENERATOR.into(),
        version: synth::VERSION,
        seed: cfg.seed,
        digest: format!("{:016x}", synth::digest(&panels)),
        disclaimer: "Synthetic prices. Not market data.".into(),
    };
    let meta = [
        ("dsl_engine.synthetic", "true".to_string()),
        ("dsl_engine.generator", manifest.generator.clone()),
        ("dsl_engine.version", manifest.version.to_string()),
        ("dsl_engine.seed", manifest.seed.to_string()),
        ("disclaimer", manifest.disclaimer.clone()),
    ];
    for p in &panels {
        feather::write_wide(&tmp.join(feather::file_name(&p.name)), p, &meta)?;
    }
    let json = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    std::fs::write(tmp.join(MANIFEST), json).map_err(io(&tmp))?;
    match std::fs::rename(&tmp, dir) {
        Ok(()) => {}
        // Another process finished first: keep its copy.
        Err(_) if dir.join(MANIFEST).exists() => {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(DataError::Io {
                path: dir.to_path_buf(),
                source: e,
            });
        }
    }
    DataDir::open(dir)
}

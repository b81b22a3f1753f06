//! Writing data sets: the synthetic market materialised on first use ([`ensure`]) and any set of
//! panels written with its manifest through a temporary sibling directory renamed into place
//! ([`write_dataset`]), with each file's digest recorded (`docs/data.md` §1.3, §4.7).

use std::collections::BTreeMap;
use std::path::Path;

use dsl_runtime::wire::PanelData;

use super::{
    feather, integrity, reference, stale, synth, DataDir, DataError, FileRecord, Manifest,
    Progress, MANIFEST,
};

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
    if let Some(parent) = dir.parent() {
        for p in stale::clean(parent) {
            progress(Progress::Message(&format!(
                "removed {} (left by an interrupted writer)",
                p.display()
            )));
        }
    }
    let stale = match DataDir::open(dir) {
        Ok(d)
            if d.manifest
                .as_ref()
                .is_some_and(|m| lacks_generated_keys(m, cfg)) =>
        {
            true
        }
        _ if dir.join(MANIFEST).exists() => return DataDir::open(dir),
        _ => false,
    };
    progress(Progress::Message(&format!(
        "{} the synthetic market ({}) into {} ...",
        if stale {
            "regenerating (the cached copy lacks datasets added since it was written)"
        } else {
            "generating"
        },
        cfg.label(),
        dir.display()
    )));
    let panels = synth::generate(cfg, &mut |done, total| {
        progress(Progress::Stocks { done, total })
    })?;
    let manifest = synthetic_manifest(cfg, &panels);
    check_default_digest(cfg, &manifest)?;
    write_dataset(dir, &panels, &manifest, stale, progress)?;
    DataDir::open(dir)
}

/// True for a market of this generator, version and configuration written before some of its
/// datasets existed (the generator adds datasets from their own random streams without changing
/// the others, so the version stays): such a cache is regenerated rather than reused.
pub fn lacks_generated_keys(m: &Manifest, cfg: &synth::SynthConfig) -> bool {
    m.synthetic
        && m.generator == synth::GENERATOR
        && m.version == synth::VERSION
        && m.config == cfg.label()
        && !m.files.is_empty()
        && synth::keys().iter().any(|k| !m.files.contains_key(*k))
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
        files: Default::default(),
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
    stale::clean(parent);
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
    let result = write_files(&tmp, panels, &meta, progress).and_then(|files| {
        let mut manifest = manifest.clone();
        manifest.files = files;
        integrity::write_manifest(&tmp, &manifest)
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
) -> Result<BTreeMap<String, FileRecord>, DataError> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let total = panels.len();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| -> Result<Vec<(String, FileRecord)>, DataError> {
                    let mut records = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(p) = panels.get(i) else {
                            return Ok(records);
                        };
                        let path = dir.join(feather::file_name(&p.name));
                        feather::write_wide(&path, p, meta)?;
                        records.push((p.name.clone(), integrity::record(&path)?));
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
            .collect::<Result<Vec<_>, DataError>>()
            .map(|parts| parts.into_iter().flatten().collect())
    })
}

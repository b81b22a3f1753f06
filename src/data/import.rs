//! `data import-finlab`: copies a finlab cache folder (`~/finlab_db`, or its `free/` subfolder)
//! into a data directory of ours. Each wide `*.feather` file is read (LZ4 or plain, any date
//! unit), checked (dates unique, daily panels on the calendar of `etl:adj_close` or
//! `price:收盤價`), and rewritten with provenance metadata; long tables (no `date` column,
//! e.g. `security_categories`) are skipped with a note. finlab data is licensed to the user: the
//! import stays in their private cache (`docs/data.md` §5).

use std::path::{Path, PathBuf};

use dsl_runtime::wire::PanelData;

use super::{feather, DataError, Manifest, Progress};

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportSummary {
    /// Keys written.
    pub imported: Vec<String>,
    /// Files left out and why.
    pub skipped: Vec<(PathBuf, String)>,
}

/// Imports every wide panel of the finlab cache `src` into `dest` (replacing it atomically).
/// Unreadable files are errors, not skips: a corrupt cache should be noticed.
pub fn import_finlab(
    src: &Path,
    dest: &Path,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<ImportSummary, DataError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(src)
        .map_err(|e| DataError::Io {
            path: src.to_path_buf(),
            source: e,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "feather"))
        .collect();
    files.sort();
    let mut summary = ImportSummary::default();
    if files.is_empty() {
        return Err(DataError::Format {
            path: src.to_path_buf(),
            message:
                "no `.feather` files (is this a finlab cache folder? try its `free/` subfolder)"
                    .into(),
        });
    }
    let mut panels: Vec<PanelData> = Vec::new();
    let mut origins: Vec<(String, Origin)> = Vec::new();
    for (i, path) in files.iter().enumerate() {
        progress(Progress::Files {
            done: i,
            total: files.len(),
        });
        let shape = feather::read_shape(path);
        if let Err(DataError::Format { message, .. }) = &shape {
            if message.contains("no `date` column") {
                summary
                    .skipped
                    .push((path.clone(), "long table (no `date` column)".into()));
                continue;
            }
        }
        let shape = shape?;
        let panel = feather::read_wide(path)?;
        super::validate::check(&panel.name, path, &panel)?;
        origins.push((panel.name.clone(), Origin::of(&shape.metadata)));
        panels.push(panel);
    }
    let calendar = ["etl:adj_close", "price:收盤價"]
        .iter()
        .find_map(|k| panels.iter().find(|p| p.name == *k))
        .map(|p| p.dates.clone());
    if let Some(cal) = &calendar {
        for p in &panels {
            let daily = p.name.starts_with("price:") || p.name.starts_with("etl:adj_");
            if daily {
                super::check_dates(&p.name, &p.dates, cal)?;
            }
        }
    }
    summary.imported = panels.iter().map(|p| p.name.clone()).collect();
    let source_manifest: Option<Manifest> = std::fs::read(src.join(super::MANIFEST))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let mut manifest = provenance(src, source_manifest, &origins)?;
    manifest.digest = format!("{:016x}", super::synth::digest(&panels));
    super::write_dataset(dest, &panels, &manifest, true, progress)?;
    Ok(summary)
}

/// Where one imported file says it came from (its Arrow metadata).
#[derive(Clone, Debug, PartialEq)]
enum Origin {
    /// No dsl-engine metadata: a finlab file.
    Finlab,
    /// Written by dsl-engine: synthetic or not, and by which generator.
    Ours { synthetic: bool, generator: String },
}

impl Origin {
    fn of(meta: &std::collections::HashMap<String, String>) -> Origin {
        match meta.get("dsl_engine.generator") {
            Some(g) => Origin::Ours {
                synthetic: meta
                    .get("dsl_engine.synthetic")
                    .is_some_and(|v| v == "true"),
                generator: g.clone(),
            },
            None if meta
                .get("dsl_engine.synthetic")
                .is_some_and(|v| v == "true") =>
            {
                Origin::Ours {
                    synthetic: true,
                    generator: "unknown".into(),
                }
            }
            None => Origin::Finlab,
        }
    }
}

/// The manifest of an import: a finlab cache is real `finlab-import` data; files dsl-engine
/// wrote keep their origin (a synthetic market stays synthetic, with its generator, version,
/// seed and configuration). Files of different origins in one folder are refused.
fn provenance(
    src: &Path,
    source: Option<Manifest>,
    origins: &[(String, Origin)],
) -> Result<Manifest, DataError> {
    let mixed = |a: &(String, Origin), b: &(String, Origin)| DataError::Format {
        path: src.to_path_buf(),
        message: format!(
            "mixes data of different origins (`{}`: {:?}, `{}`: {:?}); import each data set \
             on its own",
            a.0, a.1, b.0, b.1
        ),
    };
    if let Some(w) = origins.windows(2).find(|w| w[0].1 != w[1].1) {
        return Err(mixed(&w[0], &w[1]));
    }
    let synthetic = source.as_ref().is_some_and(|m| m.synthetic)
        || matches!(
            origins.first(),
            Some((
                _,
                Origin::Ours {
                    synthetic: true,
                    ..
                }
            ))
        );
    if !synthetic {
        return Ok(Manifest {
            synthetic: false,
            generator: match origins.first() {
                Some((_, Origin::Ours { generator, .. })) => {
                    format!("{generator} via finlab-import")
                }
                _ => "finlab-import".into(),
            },
            version: 1,
            seed: 0,
            digest: String::new(),
            disclaimer: "Imported from a finlab cache; licensed to its user, do not redistribute."
                .into(),
            config: src.display().to_string(),
            null: false,
            reference_data: String::new(),
            files: Default::default(),
        });
    }
    if let Some((_, Origin::Finlab)) = origins.first() {
        return Err(DataError::Format {
            path: src.to_path_buf(),
            message: "its manifest says synthetic but its files carry no dsl-engine metadata; \
                      refusing to guess their origin"
                .into(),
        });
    }
    let generator = match origins.first() {
        Some((_, Origin::Ours { generator, .. })) => generator.clone(),
        _ => String::new(),
    };
    let m = source.unwrap_or_else(|| Manifest {
        synthetic: true,
        generator: generator.clone(),
        version: 0,
        seed: 0,
        digest: String::new(),
        disclaimer: "Synthetic prices. Not market data.".into(),
        config: String::new(),
        null: false,
        reference_data: String::new(),
        files: Default::default(),
    });
    Ok(Manifest {
        synthetic: true,
        files: Default::default(),
        ..m
    })
}

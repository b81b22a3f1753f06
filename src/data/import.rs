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
        shape?;
        panels.push(feather::read_wide(path)?);
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
    let manifest = Manifest {
        synthetic: false,
        generator: "finlab-import".into(),
        version: 1,
        seed: 0,
        digest: format!("{:016x}", super::synth::digest(&panels)),
        disclaimer: "Imported from a finlab cache; licensed to its user, do not redistribute."
            .into(),
        config: src.display().to_string(),
        null: false,
        reference_data: String::new(),
    };
    super::write_dataset(dest, &panels, &manifest, true, progress)?;
    Ok(summary)
}

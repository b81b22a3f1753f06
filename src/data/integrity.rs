//! Per-file content digests (`docs/data.md` §1.3): the manifest records each panel file's size,
//! modification time and SHA-256. Loading trusts a file whose size and time still match and
//! hashes it when they differ, refusing a changed file; `data verify` hashes every file. The
//! data-set digest identifies a data set by its manifest and its files' digests.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{feather, DataError, Manifest};

/// What the manifest records about one panel file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Bytes.
    pub size: u64,
    /// Modification time, nanoseconds since 1970-01-01 (the cheap check).
    pub mtime_ns: u64,
    /// SHA-256 of the file's bytes, lower-case hex.
    pub sha256: String,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> DataError + '_ {
    move |e| DataError::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

/// Size and modification time of `path`.
fn stamp(path: &Path) -> Result<(u64, u64), DataError> {
    let meta = std::fs::metadata(path).map_err(io(path))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    Ok((meta.len(), mtime))
}

/// SHA-256 of a file's bytes, lower-case hex.
pub fn hash_file(path: &Path) -> Result<String, DataError> {
    let mut file = std::fs::File::open(path).map_err(io(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The record of a file as it is now.
pub fn record(path: &Path) -> Result<FileRecord, DataError> {
    let sha256 = hash_file(path)?;
    let (size, mtime_ns) = stamp(path)?;
    Ok(FileRecord {
        size,
        mtime_ns,
        sha256,
    })
}

/// Records every panel file (`*.feather` whose name is a dataset key) of `dir`.
pub fn record_dir(dir: &Path) -> Result<BTreeMap<String, FileRecord>, DataError> {
    let mut out = BTreeMap::new();
    for key in panel_files(dir)? {
        out.insert(key.clone(), record(&dir.join(feather::file_name(&key)))?);
    }
    Ok(out)
}

/// Dataset keys of the `*.feather` files in `dir`, sorted.
pub fn panel_files(dir: &Path) -> Result<Vec<String>, DataError> {
    let mut keys: Vec<String> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file() || t.is_symlink()))
        .filter_map(|e| e.file_name().to_str().and_then(feather::key_of))
        .filter(|k| k.contains(':'))
        .collect();
    keys.sort();
    Ok(keys)
}

/// Whether `path` still is the file `rec` describes: the size and time first (cheap), the
/// digest when they differ. A changed file is a [`DataError::Modified`].
pub fn check(path: &Path, rec: &FileRecord) -> Result<(), DataError> {
    let (size, mtime) = stamp(path)?;
    if size == rec.size && mtime == rec.mtime_ns {
        return Ok(());
    }
    let actual = hash_file(path)?;
    if actual == rec.sha256 {
        return Ok(());
    }
    Err(DataError::Modified {
        path: path.to_path_buf(),
        expected: rec.sha256.clone(),
        actual,
    })
}

/// The digest of a data set: SHA-256 over the manifest's identity (origin, generator, version,
/// seed, configuration, logical digest) and every file's key and SHA-256, in key order.
pub fn dataset_digest(manifest: Option<&Manifest>, files: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    h.update(b"dsl-engine data set v1\n");
    if let Some(m) = manifest {
        let identity = serde_json::json!({
            "synthetic": m.synthetic,
            "generator": m.generator,
            "version": m.version,
            "seed": m.seed,
            "config": m.config,
            "null": m.null,
            "digest": m.digest,
        });
        h.update(identity.to_string().as_bytes());
        h.update(b"\n");
    }
    for (key, sha) in files {
        h.update(key.as_bytes());
        h.update(b"\t");
        h.update(sha.as_bytes());
        h.update(b"\n");
    }
    hex(&h.finalize())
}

/// What `data verify` found.
#[derive(Debug, Default)]
pub struct Verification {
    /// Files whose digest matches.
    pub ok: Vec<String>,
    /// Files whose digest differs: (key, expected, actual).
    pub modified: Vec<(String, String, String)>,
    /// Recorded files that are gone.
    pub missing: Vec<String>,
    /// Panel files the manifest does not record (not loadable).
    pub unrecorded: Vec<String>,
}

impl Verification {
    /// No file changed or missing.
    pub fn passed(&self) -> bool {
        self.modified.is_empty() && self.missing.is_empty()
    }
}

/// Hashes every recorded file of `dir` against `files`.
pub fn verify(dir: &Path, files: &BTreeMap<String, FileRecord>) -> Result<Verification, DataError> {
    let mut out = Verification::default();
    for (key, rec) in files {
        let path = dir.join(feather::file_name(key));
        if !path.exists() {
            out.missing.push(key.clone());
            continue;
        }
        let actual = hash_file(&path)?;
        if actual == rec.sha256 {
            out.ok.push(key.clone());
        } else {
            out.modified.push((key.clone(), rec.sha256.clone(), actual));
        }
    }
    out.unrecorded = panel_files(dir)?
        .into_iter()
        .filter(|k| !files.contains_key(k))
        .collect();
    Ok(out)
}

/// `files` with each size and time as they are now (the digests unchanged: call after
/// [`verify`] passed).
pub fn restamp(
    dir: &Path,
    files: &BTreeMap<String, FileRecord>,
) -> Result<BTreeMap<String, FileRecord>, DataError> {
    files
        .iter()
        .map(|(key, rec)| {
            let (size, mtime_ns) = stamp(&dir.join(feather::file_name(key)))?;
            let rec = FileRecord {
                size,
                mtime_ns,
                sha256: rec.sha256.clone(),
            };
            Ok((key.clone(), rec))
        })
        .collect()
}

/// Writes the manifest of `dir` atomically (temporary sibling, then rename).
pub fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), DataError> {
    let json = serde_json::to_vec_pretty(manifest).map_err(|e| DataError::Io {
        path: dir.join(super::MANIFEST),
        source: std::io::Error::other(e),
    })?;
    let path = dir.join(super::MANIFEST);
    let tmp = dir.join(format!(".{}.tmp-{}", super::MANIFEST, std::process::id()));
    std::fs::write(&tmp, json).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        DataError::Io { path, source: e }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_check_cheaply_then_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("price#收盤價.feather");
        std::fs::write(&path, b"abc").unwrap();
        let rec = record(&path).unwrap();
        assert_eq!(
            rec.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        check(&path, &rec).unwrap();
        // Same bytes, new time: hashed, accepted.
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(7))
            .unwrap();
        check(&path, &rec).unwrap();
        std::fs::write(&path, b"abd").unwrap();
        assert!(matches!(
            check(&path, &rec),
            Err(DataError::Modified { .. })
        ));
        let files = record_dir(dir.path()).unwrap();
        assert_eq!(files.keys().collect::<Vec<_>>(), ["price:收盤價"]);
    }
}

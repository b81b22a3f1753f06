//! Data sets travel by digest (`DataDir::digest`). A job names the digest of the coordinator's
//! data; a worker uses its own `--data-dir` when the digest matches, else a copy it keeps under
//! `<cache>/dsl-engine/data/by-digest/<digest>/`: a synthetic market is regenerated there from
//! its parameters (the generator is bit-identical everywhere), any other data set is fetched
//! from the object store, where the coordinator published it once. Every fetched file is
//! checked against its SHA-256, and the assembled directory against the job's digest, before
//! anything runs on it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use async_nats::jetstream::object_store::ObjectStore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::wire::{DataRef, SynthRef};
use super::ScaleError;
use crate::data::synth::{SynthConfig, GENERATOR, VERSION};
use crate::data::{feather, integrity, DataDir, MANIFEST};

/// The reference a job carries for `data`.
pub fn data_ref(data: &DataDir) -> Result<DataRef, ScaleError> {
    let digest = data
        .digest()
        .map_err(|e| ScaleError::Data(format!("the data set's digest: {e}")))?;
    let synthetic = data
        .manifest
        .as_ref()
        .filter(|m| m.synthetic && synth_config(&m.config).is_some())
        .map(|m| SynthRef {
            generator: m.generator.clone(),
            version: m.version,
            config: m.config.clone(),
        });
    Ok(DataRef { digest, synthetic })
}

/// The generator configuration of a label `seed42-2021-01-01-2025-12-31-300[-null]`
/// (`SynthConfig::label`), when it is one.
pub fn synth_config(label: &str) -> Option<SynthConfig> {
    let rest = label.strip_prefix("seed")?;
    let (seed, rest) = rest.split_once('-')?;
    let (start, rest) = (rest.get(..10)?, rest.get(11..)?);
    let (end, rest) = (rest.get(..10)?, rest.get(11..)?);
    let (stocks, null) = match rest.strip_suffix("-null") {
        Some(s) => (s, true),
        None => (rest, false),
    };
    let cfg = SynthConfig {
        seed: seed.parse().ok()?,
        start: crate::calendar::parse(start)?,
        end: crate::calendar::parse(end)?,
        stocks: match stocks {
            "all" => None,
            n => Some(n.parse().ok()?),
        },
        null,
    };
    (cfg.label() == label).then_some(cfg)
}

/// The files of a published data set: name, size and SHA-256.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Index {
    digest: String,
    files: Vec<IndexFile>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct IndexFile {
    name: String,
    size: u64,
    sha256: String,
}

fn index_name(digest: &str) -> String {
    format!("{digest}/index.json")
}

/// A file name a data set may hold: its manifest or a panel file, never a path.
fn safe_name(name: &str) -> bool {
    !name.contains(['/', '\\'])
        && !name.starts_with('.')
        && (name == MANIFEST || (name.ends_with(".feather") && feather::key_of(name).is_some()))
}

/// What [`publish`] did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Published {
    pub files: usize,
    pub bytes: u64,
    /// The object store already held the data set.
    pub already: bool,
}

/// Publishes `data` (digest `digest`) to the object store once: its files, then the index
/// that marks it complete. A data set whose index is there is not sent again.
pub async fn publish(
    store: &ObjectStore,
    data: &DataDir,
    digest: &str,
) -> Result<Published, ScaleError> {
    if store.info(index_name(digest)).await.is_ok() {
        return Ok(Published {
            already: true,
            ..Published::default()
        });
    }
    let dir = data.path.clone();
    let files = tokio::task::spawn_blocking(move || index_files(&dir))
        .await
        .map_err(|e| ScaleError::Data(e.to_string()))??;
    let mut bytes = 0;
    for f in &files {
        let path = data.path.join(&f.name);
        let mut file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| ScaleError::Data(format!("{}: {e}", path.display())))?;
        store
            .put(format!("{digest}/{}", f.name).as_str(), &mut file)
            .await
            .map_err(|e| ScaleError::Nats(format!("publishing {}: {e}", f.name)))?;
        bytes += f.size;
    }
    let index = serde_json::to_vec(&Index {
        digest: digest.to_string(),
        files: files.clone(),
    })
    .map_err(|e| ScaleError::Data(e.to_string()))?;
    store
        .put(index_name(digest).as_str(), &mut index.as_slice())
        .await
        .map_err(|e| ScaleError::Nats(format!("publishing the data set's index: {e}")))?;
    Ok(Published {
        files: files.len(),
        bytes,
        already: false,
    })
}

/// The manifest (when there is one) and every panel file of `dir`, hashed.
fn index_files(dir: &Path) -> Result<Vec<IndexFile>, ScaleError> {
    let err = |e: crate::data::DataError| ScaleError::Data(e.to_string());
    let mut names: Vec<String> = integrity::panel_files(dir)
        .map_err(err)?
        .iter()
        .map(|k| feather::file_name(k))
        .collect();
    if dir.join(MANIFEST).is_file() {
        names.push(MANIFEST.to_string());
    }
    names
        .into_iter()
        .map(|name| {
            let path = dir.join(&name);
            let size = std::fs::metadata(&path)
                .map_err(|e| ScaleError::Data(format!("{}: {e}", path.display())))?
                .len();
            let sha256 = integrity::hash_file(&path).map_err(err)?;
            Ok(IndexFile { name, size, sha256 })
        })
        .collect()
}

/// A worker's data sets by digest.
pub struct Store {
    /// Where copies live: `<root>/<digest>/`.
    root: PathBuf,
    open: HashMap<String, DataDir>,
}

/// How a data set was obtained, for the worker's log.
#[derive(Clone, Debug, PartialEq)]
pub enum Obtained {
    /// Already open, or the worker's own `--data-dir`, or a copy kept from before.
    Held,
    Regenerated,
    Fetched {
        files: usize,
        bytes: u64,
    },
}

impl Store {
    /// A store holding `own` (the worker's `--data-dir`, if it opens) and keeping copies in
    /// `root`.
    pub fn new(own: Option<DataDir>, root: PathBuf) -> Result<Store, ScaleError> {
        let mut open = HashMap::new();
        if let Some(d) = own {
            let digest = d
                .digest()
                .map_err(|e| ScaleError::Data(format!("{}: {e}", d.path.display())))?;
            open.insert(digest, d);
        }
        crate::data::stale::clean(&root);
        Ok(Store { root, open })
    }

    /// The default place for copies: `<user cache>/dsl-engine/data/by-digest`.
    pub fn default_root() -> PathBuf {
        crate::data::cache_root().join("by-digest")
    }

    /// The digests held open.
    pub fn digests(&self) -> Vec<String> {
        self.open.keys().cloned().collect()
    }

    /// The data set `r` names: held, kept from before, regenerated or fetched (in that order).
    pub async fn get(
        &mut self,
        r: &DataRef,
        objects: Option<&ObjectStore>,
    ) -> Result<(DataDir, Obtained), ScaleError> {
        if let Some(d) = self.open.get(&r.digest) {
            return Ok((d.clone(), Obtained::Held));
        }
        if !r.digest.bytes().all(|b| b.is_ascii_hexdigit()) || r.digest.len() != 64 {
            return Err(ScaleError::Data(format!("`{}` is not a digest", r.digest)));
        }
        let dir = self.root.join(&r.digest);
        let (data, how) = if dir.is_dir() {
            (open_checked(&dir, &r.digest)?, Obtained::Held)
        } else if let Some(cfg) = r.synthetic.as_ref().and_then(regenerable) {
            let d = dir.clone();
            tokio::task::spawn_blocking(move || crate::data::ensure(&d, &cfg, &mut |_| {}))
                .await
                .map_err(|e| ScaleError::Data(e.to_string()))?
                .map_err(|e| ScaleError::Data(format!("regenerating the market: {e}")))?;
            (open_checked(&dir, &r.digest)?, Obtained::Regenerated)
        } else {
            let Some(objects) = objects else {
                return Err(ScaleError::Data(format!(
                    "data set {} is not here and no object store is at hand",
                    short(&r.digest)
                )));
            };
            let (files, bytes) = fetch(objects, &r.digest, &self.root).await?;
            (
                open_checked(&dir, &r.digest)?,
                Obtained::Fetched { files, bytes },
            )
        };
        self.open.insert(r.digest.clone(), data.clone());
        Ok((data, how))
    }
}

/// The configuration to regenerate `s` with, when this binary's generator made it.
fn regenerable(s: &SynthRef) -> Option<SynthConfig> {
    (s.generator == GENERATOR && s.version == VERSION)
        .then(|| synth_config(&s.config))
        .flatten()
}

/// The first 12 characters of a digest.
pub fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

/// Opens `dir` and checks that its digest is `digest`.
fn open_checked(dir: &Path, digest: &str) -> Result<DataDir, ScaleError> {
    let data = DataDir::open(dir).map_err(|e| ScaleError::Data(e.to_string()))?;
    let actual = data
        .digest()
        .map_err(|e| ScaleError::Data(format!("{}: {e}", dir.display())))?;
    if actual != digest {
        return Err(ScaleError::Data(format!(
            "{} has digest {}, not the job's {}: remove it so it is fetched again",
            dir.display(),
            short(&actual),
            short(digest)
        )));
    }
    Ok(data)
}

/// Fetches data set `digest` from the object store into `root/<digest>`: every file into a
/// temporary directory, each checked against its SHA-256, then renamed into place.
async fn fetch(store: &ObjectStore, digest: &str, root: &Path) -> Result<(usize, u64), ScaleError> {
    let missing = |e: String| {
        ScaleError::Data(format!(
            "data set {} is neither here nor in the object store ({e}); the coordinator \
             publishes non-synthetic data when a run starts",
            short(digest)
        ))
    };
    let mut object = store
        .get(index_name(digest))
        .await
        .map_err(|e| missing(e.to_string()))?;
    let mut text = Vec::new();
    object
        .read_to_end(&mut text)
        .await
        .map_err(|e| missing(e.to_string()))?;
    let index: Index = serde_json::from_slice(&text)
        .map_err(|e| ScaleError::Data(format!("the data set's index: {e}")))?;
    if index.digest != digest {
        return Err(ScaleError::Data("the index names another data set".into()));
    }
    let io = |p: &Path| {
        let p = p.display().to_string();
        move |e: std::io::Error| ScaleError::Data(format!("{p}: {e}"))
    };
    tokio::fs::create_dir_all(root).await.map_err(io(root))?;
    let tmp = root.join(format!(".{digest}.tmp-{}-0", std::process::id()));
    let _ = tokio::fs::remove_dir_all(&tmp).await;
    tokio::fs::create_dir_all(&tmp).await.map_err(io(&tmp))?;
    let result = fetch_files(store, digest, &index, &tmp).await;
    let done = match result {
        Ok(bytes) => {
            let dest = root.join(digest);
            match tokio::fs::rename(&tmp, &dest).await {
                Ok(()) => Ok((index.files.len(), bytes)),
                // Another worker on this machine put it there first.
                Err(_) if dest.is_dir() => Ok((index.files.len(), bytes)),
                Err(e) => Err(io(&dest)(e)),
            }
        }
        Err(e) => Err(e),
    };
    let _ = tokio::fs::remove_dir_all(&tmp).await;
    done
}

async fn fetch_files(
    store: &ObjectStore,
    digest: &str,
    index: &Index,
    dir: &Path,
) -> Result<u64, ScaleError> {
    let mut total = 0;
    for f in &index.files {
        if !safe_name(&f.name) {
            return Err(ScaleError::Data(format!(
                "the index names `{}`, not a data file",
                f.name
            )));
        }
        let mut object = store
            .get(format!("{digest}/{}", f.name))
            .await
            .map_err(|e| ScaleError::Nats(format!("fetching {}: {e}", f.name)))?;
        let path = dir.join(&f.name);
        let mut out = tokio::fs::File::create(&path)
            .await
            .map_err(|e| ScaleError::Data(format!("{}: {e}", path.display())))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            let n = object
                .read(&mut buf)
                .await
                .map_err(|e| ScaleError::Nats(format!("fetching {}: {e}", f.name)))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            size += n as u64;
            out.write_all(&buf[..n])
                .await
                .map_err(|e| ScaleError::Data(format!("{}: {e}", path.display())))?;
        }
        out.sync_all()
            .await
            .map_err(|e| ScaleError::Data(format!("{}: {e}", path.display())))?;
        let sha: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if sha != f.sha256 || size != f.size {
            return Err(ScaleError::Data(format!(
                "{} arrived with SHA-256 {} ({size} bytes), not {} ({} bytes)",
                f.name, sha, f.sha256, f.size
            )));
        }
        total += size;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_synthetic_label_gives_back_its_configuration() {
        for cfg in [
            SynthConfig::default(),
            SynthConfig::test(),
            SynthConfig {
                null: true,
                seed: 7,
                ..SynthConfig::test()
            },
        ] {
            assert_eq!(synth_config(&cfg.label()), Some(cfg.clone()));
        }
        assert_eq!(synth_config("seed42-2021-01-01"), None);
        assert_eq!(synth_config("imported from ~/finlab_db"), None);
        assert!(safe_name(MANIFEST) && safe_name("price#收盤價.feather"));
        assert!(!safe_name("../x.feather") && !safe_name(".hidden.feather"));
    }
}

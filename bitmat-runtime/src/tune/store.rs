//! Where tuning results outlive the tuner: the disk cache (`<cache>/tune/*.json`, through
//! [`DiskCache`] with [`EntryKind::Tuning`]), and files of results a project exports and
//! ships ([`export`]) and loads back ([`import`], [`import_into`]).
//!
//! One result ([`TuningRecord`]) is stored per kernel source, device fingerprint, key and
//! config list: a changed kernel, another GPU or driver, or an edited config list never
//! serves a stale winner. The payload is JSON; the cache's framing adds the bitmat version
//! and a checksum, so a corrupted entry is ignored with a warning and the key is tuned again.

use crate::disk::{DiskCache, EntryKind};
use crate::error::Error;
use crate::tune::Timing;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{LazyLock, Mutex};

/// A winning configuration as text: constexpr values and launch options.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordConfig {
    /// Each constexpr's name and value (as [`ConstexprValue`](crate::ConstexprValue) displays
    /// it), in declaration order.
    pub constexprs: Vec<(String, String)>,
    /// Warps per program.
    pub num_warps: u32,
    /// Pipeline stages.
    pub num_stages: u32,
    /// CPU threads (`None`: rayon's global pool).
    pub cpu_threads: Option<usize>,
}

/// One configuration's line of a stored timing table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordTiming {
    /// The configuration (`block_m=64 block_n=32 num_warps=4 num_stages=2`).
    pub config: String,
    /// Its result.
    #[serde(flatten)]
    pub timing: Timing,
}

/// The result of tuning one kernel for one key on one device, as stored on disk and in
/// exported files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TuningRecord {
    /// The kernel's name.
    pub kernel: String,
    /// A hash of the kernel's source (hex).
    pub source_hash: String,
    /// The device's fingerprint ([`Device::fingerprint`](crate::Device::fingerprint)).
    pub device: String,
    /// The key as displayed (`m=32,n=4096,k=4096`).
    pub key: String,
    /// The key's full identity ([`TuneKey::id`](crate::tune::TuneKey::id)).
    pub key_id: String,
    /// A hash of the tuner's config list (hex).
    pub configs_hash: String,
    /// The winner.
    pub winner: RecordConfig,
    /// Every configuration's median time or prune reason, in config order.
    pub timings: Vec<RecordTiming>,
    /// True when the record came from an imported file.
    #[serde(default)]
    pub imported: bool,
}

impl TuningRecord {
    /// The cache key of the record: every field that identifies what it was tuned for.
    pub fn cache_key(&self) -> String {
        cache_key(
            &self.kernel,
            &self.source_hash,
            &self.device,
            &self.key_id,
            &self.configs_hash,
        )
    }
}

/// The cache key of a tuning result.
pub(crate) fn cache_key(
    kernel: &str,
    source_hash: &str,
    device: &str,
    key_id: &str,
    configs_hash: &str,
) -> String {
    format!(
        "tuning v1\nkernel={kernel}\nsource={source_hash}\ndevice={device}\nkey={key_id}\nconfigs={configs_hash}"
    )
}

/// Results loaded with [`import`], by cache key.
fn imported() -> std::sync::MutexGuard<'static, HashMap<String, TuningRecord>> {
    static IMPORTED: LazyLock<Mutex<HashMap<String, TuningRecord>>> =
        LazyLock::new(Default::default);
    IMPORTED.lock().unwrap_or_else(|e| e.into_inner())
}

/// The imported result stored under `key`, if any.
pub(crate) fn lookup_imported(key: &str) -> Option<TuningRecord> {
    imported().get(key).cloned()
}

/// The result stored in `cache` under `key`; an entry that does not parse or belongs to
/// another key is ignored with a warning.
pub(crate) fn read(cache: &DiskCache, key: &str) -> Option<TuningRecord> {
    let payload = cache.read(EntryKind::Tuning, key)?;
    match serde_json::from_slice::<TuningRecord>(&payload) {
        Ok(r) if r.cache_key() == key => Some(r),
        Ok(_) => {
            tracing::warn!(dir = %cache.root().display(), "tuning entry belongs to another key; ignoring it");
            None
        }
        Err(e) => {
            tracing::warn!(dir = %cache.root().display(), error = %e, "tuning entry unreadable; it will be tuned again");
            None
        }
    }
}

/// Stores `record` in `cache` (failures are warnings: the cache is an optimization).
pub(crate) fn write(cache: &DiskCache, record: &TuningRecord) {
    match serde_json::to_vec_pretty(record) {
        Ok(json) => {
            cache.write(EntryKind::Tuning, &record.cache_key(), &json);
        }
        Err(e) => tracing::warn!(error = %e, "could not encode a tuning result"),
    }
}

/// Every readable tuning result in `cache`, sorted by kernel, device and key. Unreadable
/// entries are skipped with a warning.
pub fn records(cache: &DiskCache) -> Vec<TuningRecord> {
    let mut out: Vec<TuningRecord> = cache
        .payloads(EntryKind::Tuning)
        .into_iter()
        .filter_map(|p| match serde_json::from_slice(&p) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(error = %e, "tuning entry unreadable; skipping it");
                None
            }
        })
        .collect();
    out.sort_by(|a, b| {
        (&a.kernel, &a.device, &a.key_id, &a.configs_hash).cmp(&(
            &b.kernel,
            &b.device,
            &b.key_id,
            &b.configs_hash,
        ))
    });
    out
}

/// The format of an exported file.
const FILE_FORMAT: &str = "bitmat-tuning";
/// Its version.
const FILE_VERSION: u32 = 1;

/// A file of tuning results.
#[derive(Serialize, Deserialize)]
struct TuningFile {
    format: String,
    version: u32,
    bitmat: String,
    results: Vec<TuningRecord>,
}

/// Writes every tuning result of `cache` to `path` as one JSON file, which a project can ship
/// and load with [`import`]; returns how many results it holds.
pub fn export(cache: &DiskCache, path: impl AsRef<Path>) -> Result<usize, Error> {
    let path = path.as_ref();
    let results = records(cache);
    let n = results.len();
    let file = TuningFile {
        format: FILE_FORMAT.into(),
        version: FILE_VERSION,
        bitmat: env!("CARGO_PKG_VERSION").into(),
        results,
    };
    let json = serde_json::to_vec_pretty(&file).map_err(|e| file_error(path, e.to_string()))?;
    std::fs::write(path, json).map_err(|e| file_error(path, format!("cannot write: {e}")))?;
    tracing::info!(path = %path.display(), results = n, "exported tuning results");
    Ok(n)
}

/// Reads a file written by [`export`].
fn read_file(path: &Path) -> Result<Vec<TuningRecord>, Error> {
    let bytes = std::fs::read(path).map_err(|e| file_error(path, format!("cannot read: {e}")))?;
    let file: TuningFile = serde_json::from_slice(&bytes).map_err(|e| {
        file_error(
            path,
            format!("not a bitmat tuning file (written by `bitmat tune --export`): {e}"),
        )
    })?;
    if file.format != FILE_FORMAT || file.version != FILE_VERSION {
        return Err(file_error(
            path,
            format!(
                "format `{}` version {}; this bitmat reads `{FILE_FORMAT}` version {FILE_VERSION}",
                file.format, file.version
            ),
        ));
    }
    Ok(file
        .results
        .into_iter()
        .map(|r| TuningRecord {
            imported: true,
            ..r
        })
        .collect())
}

/// Loads the tuning results of a file written by [`export`] into this process: every
/// autotuner serves them (after its own memory, before the disk cache) as if it had tuned
/// them, for the same kernel source, device fingerprint, key and config list. Returns how many
/// results the file holds.
pub fn import(path: impl AsRef<Path>) -> Result<usize, Error> {
    let records = read_file(path.as_ref())?;
    let n = records.len();
    let mut table = imported();
    for r in records {
        table.insert(r.cache_key(), r);
    }
    tracing::info!(path = %path.as_ref().display(), results = n, "imported tuning results");
    Ok(n)
}

/// Stores the tuning results of a file written by [`export`] in `cache`, where later
/// processes find them like results they tuned themselves. Returns how many it stored.
pub fn import_into(cache: &DiskCache, path: impl AsRef<Path>) -> Result<usize, Error> {
    let records = read_file(path.as_ref())?;
    for r in &records {
        write(cache, r);
    }
    tracing::info!(
        path = %path.as_ref().display(),
        dir = %cache.root().display(),
        results = records.len(),
        "imported tuning results into the cache"
    );
    Ok(records.len())
}

fn file_error(path: &Path, message: String) -> Error {
    Error::TuningFile {
        path: path.to_path_buf(),
        message,
    }
}

//! The on-disk cache: compiled kernels and tuning results that outlive the process.
//!
//! It lives under the user's cache directory (`~/.cache/bitmat` on Linux), or under
//! `BITMAT_CACHE_DIR` when set; `BITMAT_DISK_CACHE=0` turns it off. Layout:
//!
//! ```text
//! <root>/kernels/<hash of key>.bin   compiled kernels (one file per specialization and target)
//! <root>/tune/<hash of key>.json     autotuning winners (one file per kernel, key and device)
//! ```
//!
//! Every file is written to a temporary file in the same directory and renamed into place, so
//! readers see either nothing or a whole entry, whichever processes write at the same time.
//! A kernel's key (see `Device::kernel_disk_key`) covers the compiler version, backend,
//! target, code-changing launch options, kernel name, source hash, constexprs and a hash of
//! the specialized IR; its payload is a serialized `CpuObject` (CPU machine code and
//! relocations) or `PtxModule` (PTX text, entry, shared memory, threads).
//!
//! Every entry records the compiler version ([`crate::compiler_version`]: the package version
//! and digests of the compiler's sources) and its full key and carries a checksum: an entry
//! that is truncated, corrupted, of another version or for another key is ignored with a
//! warning (and rebuilt by the caller), never trusted.

mod frame;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

pub use frame::EntryError;

/// The kinds of entries, each in its own subdirectory.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A compiled kernel (PTX, CPU machine code), binary.
    Kernel,
    /// An autotuning result, JSON.
    Tuning,
}

impl EntryKind {
    /// All kinds.
    pub const ALL: [EntryKind; 2] = [EntryKind::Kernel, EntryKind::Tuning];

    /// The subdirectory of the cache root.
    pub fn dir(self) -> &'static str {
        match self {
            EntryKind::Kernel => "kernels",
            EntryKind::Tuning => "tune",
        }
    }

    /// What the entries are, for people: `compiled kernels` or `tuning results`.
    pub fn description(self) -> &'static str {
        match self {
            EntryKind::Kernel => "compiled kernels",
            EntryKind::Tuning => "tuning results",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            EntryKind::Kernel => "bin",
            EntryKind::Tuning => "json",
        }
    }
}

/// Number and total size of the entries of one kind.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct EntryCount {
    /// Entries.
    pub files: usize,
    /// Their total size in bytes.
    pub bytes: u64,
}

/// A cache directory.
#[derive(Clone, Debug)]
pub struct DiskCache {
    root: PathBuf,
    /// Whether a write failed already (shared by clones): the warning is given once.
    write_failed: Arc<AtomicBool>,
}

impl DiskCache {
    /// The cache at `root` (created on the first write).
    pub fn at(root: impl Into<PathBuf>) -> DiskCache {
        DiskCache {
            root: root.into(),
            write_failed: Arc::default(),
        }
    }

    /// The process's cache: `BITMAT_CACHE_DIR`, else `bitmat` under the user's cache
    /// directory; `None` when `BITMAT_DISK_CACHE=0` or no cache directory is known. Read once.
    pub fn global() -> Option<&'static DiskCache> {
        static GLOBAL: OnceLock<Option<DiskCache>> = OnceLock::new();
        GLOBAL
            .get_or_init(|| {
                let root = default_root();
                match &root {
                    Some(r) => tracing::debug!(dir = %r.display(), "disk cache"),
                    None => tracing::debug!("disk cache off"),
                }
                root.map(DiskCache::at)
            })
            .as_ref()
    }

    /// The cache's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, kind: EntryKind, key: &str) -> PathBuf {
        let hash = blake3::hash(key.as_bytes()).to_hex();
        self.root
            .join(kind.dir())
            .join(format!("{}.{}", &hash[..32], kind.extension()))
    }

    /// The payload stored under `key`, or `None` when there is none. An unreadable entry
    /// (corrupted, truncated, another bitmat version, another key) is reported with a warning
    /// and treated as missing.
    pub fn read(&self, kind: EntryKind, key: &str) -> Option<Vec<u8>> {
        let path = self.path(kind, key);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            // No entry, or no cache directory (yet, or a path through a file).
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                return None
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cache entry unreadable; ignoring it");
                return None;
            }
        };
        match frame::open(&bytes, key) {
            Ok(payload) => Some(payload.to_vec()),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cache entry ignored; it will be rebuilt");
                None
            }
        }
    }

    /// Stores `payload` under `key`, atomically (temporary file, then rename), replacing any
    /// entry there; returns whether it was written. The first failure is reported with one
    /// warning naming the directory, later ones at debug level: the cache is an optimization,
    /// a read-only or full disk is no error.
    pub fn write(&self, kind: EntryKind, key: &str, payload: &[u8]) -> bool {
        let path = self.path(kind, key);
        match write_atomic(&path, &frame::seal(payload, key)) {
            Ok(()) => true,
            Err(e) => {
                if self.write_failed.swap(true, Ordering::Relaxed) {
                    tracing::debug!(path = %path.display(), error = %e, "could not write cache entry");
                } else {
                    tracing::warn!(
                        dir = %self.root.display(),
                        error = %e,
                        "cannot write to the cache directory; running without caching new \
                         entries (set BITMAT_CACHE_DIR to a writable directory, or \
                         BITMAT_DISK_CACHE=0); this warning is shown once"
                    );
                }
                false
            }
        }
    }

    /// The entry files of `kind`.
    fn entry_paths(&self, kind: EntryKind) -> Vec<PathBuf> {
        let Ok(dir) = std::fs::read_dir(self.root.join(kind.dir())) else {
            return Vec::new();
        };
        dir.flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().and_then(|e| e.to_str()) == Some(kind.extension()))
            .collect()
    }

    /// The entry files of `kind`, with their sizes.
    fn entries(&self, kind: EntryKind) -> Vec<(PathBuf, u64)> {
        self.entry_paths(kind)
            .into_iter()
            .map(|path| {
                let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
                (path, bytes)
            })
            .collect()
    }

    /// Number and size of the valid entries of `kind`: a file that does not open as an entry
    /// (truncated, corrupted, not written by bitmat) is not counted.
    pub fn count(&self, kind: EntryKind) -> EntryCount {
        let valid: Vec<u64> = self
            .entry_paths(kind)
            .into_iter()
            .filter_map(|path| std::fs::read(path).ok())
            .filter(|bytes| frame::open_any(bytes).is_ok())
            .map(|bytes| bytes.len() as u64)
            .collect();
        EntryCount {
            files: valid.len(),
            bytes: valid.iter().sum(),
        }
    }

    /// Removes every entry of `kind` (`bitmat cache clean`); returns what was removed. Other
    /// processes may keep writing: their entries are simply new ones.
    pub fn clear(&self, kind: EntryKind) -> std::io::Result<EntryCount> {
        let mut removed = EntryCount::default();
        for (path, bytes) in self.entries(kind) {
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    removed.files += 1;
                    removed.bytes += bytes;
                }
                // Removed concurrently by another process: nothing left to do.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }

    /// The payloads of every readable entry of `kind` (for export); unreadable ones are
    /// skipped with a warning.
    pub fn payloads(&self, kind: EntryKind) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for path in self.entry_paths(kind) {
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| {
                    frame::open_any(&b)
                        .map(<[u8]>::to_vec)
                        .map_err(|e| e.to_string())
                }) {
                Ok(p) => out.push(p),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cache entry ignored")
                }
            }
        }
        out
    }
}

fn default_root() -> Option<PathBuf> {
    if std::env::var("BITMAT_DISK_CACHE").is_ok_and(|v| v == "0") {
        return None;
    }
    match std::env::var_os("BITMAT_CACHE_DIR") {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => dirs::cache_dir().map(|d| d.join("bitmat")),
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so
/// that concurrent readers and writers never see a partial file.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("cache paths have a parent");
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_data()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

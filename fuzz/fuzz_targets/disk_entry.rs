//! Disk-cache entries and tuning files: whatever bytes an entry file or a tuning file holds
//! (truncated, corrupted, foreign, a framed but malformed tuning record), reading, counting,
//! exporting and importing them reports or skips them without a panic.

#![no_main]

use bitmat_runtime::disk::{DiskCache, EntryKind};
use bitmat_runtime::tune::store;
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::OnceLock;

/// One cache directory for the process, emptied before each input.
fn dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"))
        .path()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, bytes)) = data.split_first() else {
        return;
    };
    let root = dir();
    let _ = std::fs::remove_dir_all(root);
    let cache = DiskCache::at(root);
    let key = "fuzz entry";
    match mode % 3 {
        // The bytes as the file of an entry: found where `read` looks (written once through
        // `write`, then overwritten).
        0 => {
            for kind in [EntryKind::Kernel, EntryKind::Tuning] {
                assert!(
                    cache.write(kind, key, b"payload"),
                    "the cache directory is writable"
                );
                let sub = root.join(kind.dir());
                for entry in std::fs::read_dir(&sub)
                    .expect("the entry's directory")
                    .flatten()
                {
                    std::fs::write(entry.path(), bytes).expect("an entry file");
                }
                let read = cache.read(kind, key);
                let count = cache.count(kind);
                assert_eq!(read.is_some(), count.files == 1, "count agrees with read");
                let _ = cache.payloads(kind);
            }
            let _ = store::records(&cache);
        }
        // The bytes as the payload of a well-framed tuning entry: a record that does not
        // parse is skipped.
        1 => {
            assert!(cache.write(EntryKind::Tuning, key, bytes));
            let records = store::records(&cache);
            let file = root.join("export.json");
            let exported = store::export(&cache, &file).expect("export to a writable file");
            assert_eq!(exported, records.len(), "export writes every record read");
            let other = DiskCache::at(root.join("other"));
            let imported = store::import_into(&other, &file).expect("an exported file imports");
            assert_eq!(imported, exported, "import reads every record exported");
        }
        // The bytes as a tuning file.
        _ => {
            let file = root.join("tuning.json");
            std::fs::create_dir_all(root).expect("the cache directory");
            std::fs::write(&file, bytes).expect("a tuning file");
            let _ = store::import_into(&cache, &file);
        }
    }
});

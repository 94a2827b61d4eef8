//! `BITMAT_DUMP=ir,clif,ptx`: print each stage of every kernel specialized, to stderr.

use std::collections::HashSet;
use std::sync::OnceLock;

/// The stages named in `BITMAT_DUMP` (comma-separated, case-insensitive), read once.
fn stages() -> &'static HashSet<String> {
    static STAGES: OnceLock<HashSet<String>> = OnceLock::new();
    STAGES.get_or_init(|| {
        std::env::var("BITMAT_DUMP")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect()
    })
}

/// Prints `text` as stage `stage` of kernel `kernel` when `BITMAT_DUMP` names the stage.
pub(crate) fn dump(stage: &str, kernel: &str, text: impl FnOnce() -> String) {
    if stages().contains(stage) || stages().contains("all") {
        eprintln!("// ---- BITMAT_DUMP {stage}: {kernel} ----\n{}\n", text());
    }
}

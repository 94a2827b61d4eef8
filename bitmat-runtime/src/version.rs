//! bitmat's compiler version: recorded in every disk cache entry and part of every kernel's
//! disk key, so that code cached by one build of the compiler is never loaded by another.

use std::sync::OnceLock;

/// A digest of this crate's sources (see `build-support/src_digest.rs`).
const RUNTIME_SRC_DIGEST: &str = env!("BITMAT_SRC_DIGEST");

/// `<package version>+<ir>.<codegen>.<runtime>`: the crate version followed by short digests of
/// the sources of `bitmat-ir`, `bitmat-codegen` and `bitmat-runtime` as built, e.g.
/// `0.1.0+1a2b3c4d5e6f.0a1b2c3d4e5f.a0b1c2d3e4f5`. Any change to those crates' sources (or
/// manifests) gives a new version.
pub fn compiler_version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        format!(
            "{}+{}.{}.{}",
            env!("CARGO_PKG_VERSION"),
            &bitmat_ir::SRC_DIGEST[..12],
            &bitmat_codegen::SRC_DIGEST[..12],
            &RUNTIME_SRC_DIGEST[..12]
        )
    })
}

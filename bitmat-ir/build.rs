//! Exposes a digest of this crate's sources as `BITMAT_SRC_DIGEST`, part of bitmat's compiler
//! version (see `build-support/src_digest.rs`).

include!("../build-support/src_digest.rs");

fn main() {
    emit_src_digest();
}

// Shared by the build scripts of bitmat-ir, bitmat-codegen and bitmat-runtime (included with
// `include!`): hashes the crate's `src/` tree and `Cargo.toml` with blake3 and exposes the
// digest to the crate as the environment variable `BITMAT_SRC_DIGEST` (read with `env!`).
// The runtime records the digests in its compiler version, so code cached on disk by one build
// of the compiler is never loaded by another.

/// Every file under `dir`, sorted, as paths relative to the crate root.
fn collect_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Hashes `src/` and `Cargo.toml` and sets `BITMAT_SRC_DIGEST` (64 hex digits).
fn emit_src_digest() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.toml");
    let mut files = vec![std::path::PathBuf::from("Cargo.toml")];
    collect_files(std::path::Path::new("src"), &mut files);
    files.sort();
    let mut hasher = blake3::Hasher::new();
    for file in &files {
        let bytes = std::fs::read(file).unwrap_or_default();
        let name = file.to_string_lossy().replace('\\', "/");
        hasher.update(&(name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    println!("cargo:rustc-env=BITMAT_SRC_DIGEST={}", hasher.finalize().to_hex());
}

//! Backends as the runtime registers them: the CPU backends a build has, and a kernel whose
//! code comes from the disk cache behaving like a fresh one (`BITMAT_DUMP=clif` prints its
//! CLIF in a second process that loads it instead of compiling it).

use bitmat_ir::{BinaryOp, DType, Kernel, KernelBuilder, ParamKind};
use bitmat_runtime::disk::DiskCache;
use bitmat_runtime::{
    launch_kernel, stats, Backend, Device, Error, KernelArg, KernelId, LaunchOptions,
};
use std::process::Command;

/// Lanes of the test kernel.
const N: u32 = 16;

/// Set in the child processes to the cache directory they use.
const CHILD_DIR: &str = "BITMAT_TEST_BACKEND_DUMP_DIR";

/// `x[i] = x[i] * x[i]` over `N` lanes.
fn square() -> Kernel {
    let mut b = KernelBuilder::new("square_dump");
    let x = b.param("x", ParamKind::Ptr(DType::F32));
    let offs = b.arange(N);
    let xs = b.expand_dims(x, 0);
    let xs = b.broadcast(xs, vec![N]);
    let p = b.add_ptr(xs, offs);
    let v = b.load(p, None, None);
    let sq = b.binary(BinaryOp::Mul, v, v);
    b.store(p, sq, None);
    b.finish().unwrap()
}

#[test]
fn cpu_backends_are_registered_and_unknown_ones_are_typed_errors() {
    let backends = Backend::cpu_backends();
    assert_eq!(backends.first(), Some(&Device::cpu().backend()));
    assert!(backends.iter().all(|b| !b.is_gpu()));
    for b in &backends {
        assert_eq!(Device::cpu_with(*b).unwrap().backend(), *b);
    }
    assert!(Backend::CUDA.is_gpu() && !Backend::INTERPRETER.is_gpu());
    for not_cpu in [Backend::CUDA, Backend::INTERPRETER] {
        match Device::cpu_with(not_cpu) {
            Err(e @ Error::UnknownBackend { .. }) => {
                let message = e.to_string();
                assert!(message.contains(not_cpu.name()), "{message}");
                assert!(message.contains("cranelift"), "{message}");
            }
            other => panic!("{not_cpu}: expected UnknownBackend, got {other:?}"),
        }
    }
}

/// The child process's part (`CHILD_DIR` set): runs the kernel on the CPU with the cache at
/// `dir` and prints `compilations=C disk_loads=D` of this process and the result's bits.
fn run_as_child(dir: std::ffi::OsString) {
    let device = Device::cpu().with_disk_cache(Some(DiskCache::at(dir)));
    let x = device
        .upload(&(0..N).map(|i| i as f32 - 3.5).collect::<Vec<_>>())
        .unwrap();
    let id = KernelId {
        name: "square_dump",
        source_hash: 7,
        constexprs: vec![],
    };
    let before = stats();
    launch_kernel(
        &device,
        &id,
        || Ok::<_, Error>(square()),
        1.into(),
        &LaunchOptions::default(),
        &[KernelArg::buffer(&x)],
    )
    .unwrap();
    let work = stats().since(&before);
    let bits: Vec<u32> = x.to_vec().unwrap().iter().map(|v| v.to_bits()).collect();
    println!(
        "compilations={} disk_loads={} bits={bits:?}",
        work.compilations, work.disk_loads
    );
}

/// Runs this test binary's `cached_cpu_kernels_still_dump_their_clif` again in a fresh process
/// with `CHILD_DIR` and `BITMAT_DUMP=clif` set, where it takes the child's part; returns the
/// child's result line and its stderr.
fn child(dir: &std::path::Path) -> (String, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "cached_cpu_kernels_still_dump_their_clif",
            "--nocapture",
        ])
        .env(CHILD_DIR, dir)
        .env("BITMAT_DUMP", "clif")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("compilations="))
        .unwrap_or_else(|| panic!("no result line in:\n{stdout}"))
        .to_string();
    (line, stderr)
}

/// The CLIF a process dumped for the test kernel.
fn dumped_clif(stderr: &str) -> &str {
    let header = "// ---- BITMAT_DUMP clif: square_dump ----\n";
    let start = stderr
        .find(header)
        .unwrap_or_else(|| panic!("no CLIF dump in:\n{stderr}"))
        + header.len();
    let text = &stderr[start..];
    &text[..text.find("\n\n").unwrap_or(text.len())]
}

/// Two processes in turn: the first compiles the kernel and writes the disk cache, the second
/// loads it; both print the same CLIF and compute the same result.
#[test]
fn cached_cpu_kernels_still_dump_their_clif() {
    if let Some(dir) = std::env::var_os(CHILD_DIR) {
        return run_as_child(dir);
    }
    let dir = tempfile::tempdir().unwrap();
    let (first, first_err) = child(dir.path());
    assert!(first.starts_with("compilations=1 disk_loads=0 "), "{first}");
    let (second, second_err) = child(dir.path());
    assert!(
        second.starts_with("compilations=0 disk_loads=1 "),
        "{second}"
    );
    // Same result, and the same CLIF printed whether compiled or loaded from disk.
    assert_eq!(
        first["compilations=1 disk_loads=0 ".len()..],
        second["compilations=0 disk_loads=1 ".len()..]
    );
    let clif = dumped_clif(&first_err);
    // The text of the default CPU backend: CLIF, or LLVM IR in a build with `llvm`.
    let start = if Device::cpu().backend() == Backend::LLVM {
        "; ModuleID"
    } else {
        "function "
    };
    assert!(clif.starts_with(start), "{clif}");
    assert_eq!(clif, dumped_clif(&second_err));
}

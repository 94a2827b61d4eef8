//! The conformance suite: one set of tests, written once against `&Device`, instantiated per
//! backend by [`testgen_all!`] (CubeCL's `runtime_tests` shape). Every test runs kernels on the
//! backend under test and compares with the reference interpreter (`bitmat::ir::interp`) and,
//! where one exists, plain Rust; see `harness` for how results are compared and
//! `harness::Tol` for where a backend may deviate and by how much.
//!
//! Instances: `interpreter`, `cpu` (Cranelift), `llvm` (the LLVM CPU backend, in a build with
//! the `llvm` feature) and `cuda` (`Device::cuda(0)`). Without a CUDA
//! driver every `cuda` trial is reported ignored, with the reason, never passed (failed, with
//! `BITMAT_REQUIRE=cuda`). On a GPU
//! machine, build here with `cargo test --release --test conformance --no-run` and run the
//! binary with no arguments. Adding a backend is one more `testgen_all!` line.

mod atomics;
mod bounds;
mod casts;
mod control;
mod data;
mod debug;
mod dot;
mod ew;
mod harness;
mod hints;
#[path = "../ir_kernels/mod.rs"]
mod ir_kernels;
mod kernels;
mod math;
mod memory;
mod ops;
mod prebuilt;
mod random;
mod random_programs;
mod reduce;
mod reference;
#[path = "../support/requirement.rs"]
mod requirement;
mod scan;
mod shape;
mod tuners;
mod while_loops;

use bitmat::Device;
use harness::Test;
use libtest_mimic::Trial;

/// Every test of the suite, from each area's module.
fn all_tests() -> Vec<Test> {
    [
        ops::tests(),
        math::tests(),
        random::tests(),
        casts::tests(),
        memory::tests(),
        control::tests(),
        while_loops::tests(),
        hints::tests(),
        debug::tests(),
        dot::tests(),
        reduce::tests(),
        shape::tests(),
        scan::tests(),
        atomics::tests(),
        bounds::tests(),
        random_programs::tests(),
        prebuilt::tests(),
        tuners::tests(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The trials of one instance: every test of [`all_tests`], named `<instance>::<test>`, run on
/// the device `open` returns; when it cannot be opened, all ignored with the reason (or failing
/// when `BITMAT_REQUIRE` names the instance), as `support/requirement.rs` reports a missing
/// requirement.
fn instance(name: &'static str, open: fn() -> &'static Result<Device, String>) -> Vec<Trial> {
    let device = open();
    if let Err(why) = device {
        eprintln!("conformance: the {name} instance is skipped: {why}");
    }
    all_tests()
        .into_iter()
        .map(|test| {
            let trial_name = format!("{name}::{}", test.name);
            requirement::trial(&trial_name, name, device.as_ref().map_err(Clone::clone), {
                move |device: &'static Device| {
                    (test.run)(device).map_err(|e| format!("{} on {device}: {e}", test.name).into())
                }
            })
        })
        .collect()
}

/// Declares the instance `$name`: a function returning the suite's trials on the device that
/// `$open` (an expression of type `Result<Device, impl Display>`) opens, once.
macro_rules! testgen_all {
    ($name:ident, $open:expr) => {
        fn $name() -> Vec<Trial> {
            static DEVICE: std::sync::OnceLock<Result<Device, String>> = std::sync::OnceLock::new();
            instance(stringify!($name), || {
                DEVICE.get_or_init(|| $open.map_err(|e| e.to_string()))
            })
        }
    };
}

testgen_all!(interpreter, Ok::<_, bitmat::Error>(Device::interpreter()));
testgen_all!(cpu, Device::cpu_with(bitmat::Backend::CRANELIFT));
#[cfg(feature = "llvm")]
testgen_all!(llvm, Device::cpu_with(bitmat::Backend::LLVM));
testgen_all!(cuda, Device::cuda(0));

fn main() {
    // Compile everything afresh: the disk cache of the user (or of another test) is not read.
    let cache = std::env::temp_dir().join(format!("bitmat-conformance-{}", std::process::id()));
    std::env::set_var("BITMAT_CACHE_DIR", &cache);
    let trials = [
        interpreter(),
        cpu(),
        #[cfg(feature = "llvm")]
        llvm(),
        cuda(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let conclusion = requirement::run(trials);
    let _ = std::fs::remove_dir_all(&cache);
    conclusion.exit();
}

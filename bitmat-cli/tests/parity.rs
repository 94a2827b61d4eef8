//! The parity suite: its DSL kernels against the plain-Rust references on the interpreter
//! and the CPU at random ragged sizes, `bitmat bench --suite parity --device cpu` writing
//! valid JSON, its errors, and the Triton twins script (it must parse; without torch it must
//! say so in JSON).

use bitmat::Device;
use bitmat_cli::bench::parity::{run_case, Case, TERNARY_K_MULTIPLE};
use bitmat_runtime::timing::BenchOptions;
use proptest::prelude::*;
use rand::SeedableRng;
use std::path::PathBuf;
use std::process::Command;

/// One untimed-but-measured launch: no warm-up, one sample, no flush.
fn once() -> BenchOptions {
    BenchOptions {
        warmup: 0,
        min_reps: 1,
        max_reps: 1,
        budget_ms: 0.0,
        single_above_ms: f64::INFINITY,
        flush_cache: false,
    }
}

/// Runs `case` on the interpreter (which reports any out-of-bounds access as an error) and on
/// the CPU; `run_case` checks each output against the reference.
fn check_everywhere(case: Case, seed: u64) -> Result<(), TestCaseError> {
    for device in [Device::interpreter(), Device::cpu()] {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let measured = run_case(&device, &once(), case, &mut rng)
            .map_err(|e| TestCaseError::fail(format!("{device}: {e}")))?;
        prop_assert!(measured.time.median_ms >= 0.0 && measured.time.reps == 1);
    }
    Ok(())
}

fn case() -> impl Strategy<Value = Case> {
    prop_oneof![
        (1usize..5000).prop_map(|n| Case::VectorAdd { n }),
        (1usize..6, 1usize..1100).prop_map(|(rows, cols)| Case::Softmax { rows, cols }),
        (1usize..6, 1usize..1100).prop_map(|(rows, cols)| Case::Cumsum { rows, cols }),
        (1usize..6, 1usize..1100).prop_map(|(rows, cols)| Case::LayerNorm { rows, cols }),
        (1usize..40, 1usize..70, 1usize..100).prop_map(|(m, n, k)| Case::Matmul { m, n, k }),
        (1usize..40, 1usize..70, 1usize..4).prop_map(|(m, n, j)| Case::Ternary {
            m,
            n,
            k: j * TERNARY_K_MULTIPLE
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn parity_kernels_match_the_reference(case in case(), seed in any::<u64>()) {
        check_everywhere(case, seed)?;
    }
}

#[test]
fn the_small_suite_matches_the_reference() {
    for case in Case::all(bitmat_cli::bench::parity::ParitySize::Small) {
        check_everywhere(case, 7).unwrap();
    }
}

#[test]
fn a_ternary_k_the_kernel_cannot_read_is_a_typed_error() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let case = Case::Ternary { m: 4, n: 4, k: 96 };
    let e = run_case(&Device::cpu(), &once(), case, &mut rng).unwrap_err();
    assert!(e.to_string().contains("multiple of 64"), "{e}");
}

fn bitmat() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bitmat"))
}

#[test]
fn cpu_parity_suite_writes_json_rows() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("parity.json");
    let out = bitmat()
        .args([
            "bench", "--suite", "parity", "--device", "cpu", "--size", "small",
        ])
        .args(["--repeat", "2", "--floor-mib", "64", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["suite"], "parity");
    assert_eq!(report["size"], "small");
    assert!(report["floor_gbps"].as_f64().unwrap() > 0.0, "{report}");
    // No twins on the CPU, and the report says why.
    assert!(report["twins"].is_null());
    let note = report["twins_note"].as_str().unwrap();
    assert!(note.contains("CUDA only"), "{note}");
    assert!(stdout.contains(note), "{stdout}");
    let rows = report["rows"].as_array().unwrap();
    let kernels: Vec<&str> = rows.iter().map(|r| r["kernel"].as_str().unwrap()).collect();
    assert_eq!(
        kernels,
        [
            "vector_add",
            "softmax",
            "cumsum",
            "layer_norm",
            "matmul_fp16",
            "matmul_fp16",
            "ternary_bitmat"
        ]
    );
    for row in rows {
        for key in ["bitmat_us", "gbps"] {
            assert!(row[key].as_f64().unwrap() > 0.0, "{key} in {row}");
        }
        assert!(row["samples"].as_u64().unwrap() >= 1, "{row}");
        assert!(stdout.contains(row["shape"].as_str().unwrap()), "{stdout}");
        let matmul =
            row["kernel"].as_str().unwrap().contains("matmul") || row["kernel"] == "ternary_bitmat";
        assert_eq!(row["tflops"].as_f64().is_some(), matmul, "{row}");
    }
}

#[test]
fn suite_options_are_checked() {
    let run = |args: &[&str]| {
        let out = bitmat().arg("bench").args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = run(&["--suite", "fast"]);
    assert!(e.contains("default") && e.contains("parity"), "{e}");
    let e = run(&["--suite", "parity", "--device", "cpu", "--m", "1"]);
    assert!(e.contains("parity suite's shapes are fixed"), "{e}");
    let e = run(&["--device", "cpu", "--size", "small"]);
    assert!(e.contains("--suite parity"), "{e}");
    let e = run(&["--suite", "parity", "--device", "cpu", "--repeat", "0"]);
    assert!(e.contains("--repeat must be at least 1"), "{e}");
}

#[test]
fn cuda_parity_suite_without_a_driver_fails_with_the_typed_message() {
    if Device::cuda(0).is_ok() {
        eprintln!("skipped: a CUDA device is present (the no-driver message cannot be seen)");
        return;
    }
    let out = bitmat()
        .args(["bench", "--suite", "parity", "--device", "cuda"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CUDA is not available"), "{stderr}");
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../benches/parity/triton_twins.py")
}

/// `python3`, or why it cannot be run.
fn python3() -> Result<(), String> {
    match Command::new("python3").arg("--version").output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!("python3 --version failed: {}", out.status)),
        Err(e) => Err(format!("python3 cannot be run: {e}")),
    }
}

#[test]
fn the_twins_script_parses_and_reports_what_it_can_import() {
    if let Err(why) = python3() {
        eprintln!("skipped: {why}");
        return;
    }
    // Compiled to a temporary file: nothing is written next to the script.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("python3")
        .args(["-c", "import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)"])
        .arg(script())
        .arg(dir.path().join("twins.pyc"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `--probe` imports and reports, without timing anything.
    let out = Command::new("python3")
        .arg(script())
        .arg("--probe")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    match report["unavailable"].as_str() {
        Some(why) => assert!(why.contains("torch") || why.contains("CUDA"), "{why}"),
        None => {
            for key in ["triton", "torch", "device"] {
                assert!(report[key].is_string(), "{key} in {report}");
            }
        }
    }
    assert_eq!(report["results"], serde_json::json!([]));
}

/// Every parity kernel, with every GPU configuration the bench launches at full size, lowers
/// to PTX for sm_90 (no GPU needed): the H200 run cannot fail for a kernel the code generator
/// rejects.
#[test]
fn every_parity_kernel_lowers_to_ptx_at_its_gpu_configurations() {
    use bitmat::codegen::ptx::{compile_ptx, PtxOptions, PtxTarget};
    use bitmat_cli::bench::parity::kernels::{self, MATMUL_CONFIGS, TERNARY_CONFIGS};
    let lower = |what: String, ir: Result<bitmat::ir::Kernel, bitmat::Error>, warps: u32| {
        let ir = ir.unwrap_or_else(|e| panic!("{what}: {e}"));
        compile_ptx(&ir, PtxTarget::Sm90, PtxOptions::warps(warps))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
    };
    lower("add_kernel".into(), kernels::add_kernel::ir(1024), 4);
    lower(
        "softmax_kernel".into(),
        kernels::softmax_kernel::ir(1024),
        8,
    );
    lower("cumsum_kernel".into(), kernels::cumsum_kernel::ir(1024), 4);
    lower(
        "layer_norm_fwd_fused".into(),
        kernels::layer_norm_fwd_fused::ir(8192),
        8,
    );
    for c in MATMUL_CONFIGS {
        let ir = kernels::matmul_kernel::ir(c.block_m, c.block_n, c.block_k, c.group_m, false);
        lower(format!("matmul_kernel {c:?}"), ir, c.num_warps);
    }
    for c in TERNARY_CONFIGS {
        let ir = kernels::ternary_mm_kernel::ir(c.block_m, c.block_n, c.block_k, c.group_m);
        lower(format!("ternary_mm_kernel {c:?}"), ir, c.num_warps);
    }
}

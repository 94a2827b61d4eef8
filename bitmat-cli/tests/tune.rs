//! `bitmat tune` then `bitmat bench` in fresh cache directories: the second process neither
//! compiles nor tunes, and exported results serve another cache without tuning.

use std::path::Path;
use std::process::{Command, Output};

const SHAPE: &str = "256x512";

fn bitmat(cache: &Path, args: &[&str]) -> String {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_bitmat"))
        .args(args)
        .env("BITMAT_CACHE_DIR", cache)
        .env_remove("BITMAT_AUTOTUNE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?}\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn tune(cache: &Path, extra: &[&str]) -> String {
    let mut args = vec!["tune", "--m", "1,16", "--shapes", SHAPE, "--quiet"];
    args.extend_from_slice(extra);
    bitmat(cache, &args)
}

/// Runs the CPU bench on the tuned shapes; returns its JSON report.
fn bench(cache: &Path) -> serde_json::Value {
    let json = cache.join("bench.json");
    let json_arg = json.to_str().unwrap();
    let args = [
        "bench",
        "--device",
        "cpu",
        "--m",
        "1,16",
        "--shapes",
        SHAPE,
        "--repeat",
        "2",
        "--floor-mib",
        "16",
        "--json",
        json_arg,
    ];
    let stdout = bitmat(cache, &args);
    assert!(stdout.contains("runtime:"), "{stdout}");
    serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
}

fn runtime(report: &serde_json::Value, what: &str) -> u64 {
    report["runtime"][what].as_u64().unwrap()
}

#[test]
fn a_second_process_neither_compiles_nor_tunes() {
    let cache = tempfile::tempdir().unwrap();
    let first = tune(cache.path(), &[]);
    assert!(first.contains("9 keys tuned"), "{first}");
    // Tuning again: every result comes from the disk cache.
    let again = tune(cache.path(), &[]);
    assert!(
        again.contains("0 keys tuned, 9 tuning results loaded"),
        "{again}"
    );
    assert!(again.contains("0 kernels compiled"), "{again}");
    // Speed-ups only where both timings were measured in the run.
    assert!(first.contains("x  tuned"), "{first}");
    let rows: Vec<&str> = again
        .lines()
        .filter(|l| l.contains("  disk cache  "))
        .collect();
    assert_eq!(rows.len(), 9, "{again}");
    for row in rows {
        assert!(row.contains(" cached "), "{row}");
        assert!(!row.contains("x  disk cache"), "{row}");
    }

    for _ in 0..2 {
        let report = bench(cache.path());
        assert_eq!(runtime(&report, "compilations"), 0, "{report}");
        assert_eq!(runtime(&report, "tunings"), 0, "{report}");
        assert!(runtime(&report, "disk_loads") > 0, "{report}");
        assert_eq!(runtime(&report, "tuning_loads"), 9, "{report}");
        for row in report["rows"].as_array().unwrap() {
            assert_eq!(row["config_source"], "disk cache", "{row}");
            assert!(
                row["config"].as_str().unwrap().contains("block_n="),
                "{row}"
            );
        }
    }
}

#[test]
fn cache_clean_removes_what_it_is_asked_to() {
    let cache = tempfile::tempdir().unwrap();
    tune(cache.path(), &[]);
    let out = bitmat(cache.path(), &["cache-clean", "--tuning"]);
    assert!(out.contains("removed 9 tuning results"), "{out}");
    assert!(!out.contains("compiled kernels"), "{out}");
    // The winners are gone, the kernels stay: tuning again times without compiling.
    let again = tune(cache.path(), &[]);
    assert!(again.contains("9 keys tuned"), "{again}");
    assert!(again.contains("0 kernels compiled"), "{again}");
    let out = bitmat(cache.path(), &["cache-clean"]);
    assert!(out.contains("removed 9 tuning results"), "{out}");
    assert!(!out.contains("removed 0 compiled kernels"), "{out}");
    let info = bitmat(cache.path(), &["info"]);
    assert!(info.contains("compiled kernels: 0"), "{info}");
    assert!(info.contains("tuning results: 0"), "{info}");
}

#[test]
fn exported_results_serve_another_cache_without_tuning() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let file = a.path().join("tuning.json");
    let out = tune(a.path(), &["--export", file.to_str().unwrap()]);
    assert!(out.contains("exported 9 tuning results"), "{out}");
    let out = bitmat(b.path(), &["tune", "--import", file.to_str().unwrap()]);
    assert!(out.contains("imported 9 tuning results"), "{out}");
    let report = bench(b.path());
    assert_eq!(runtime(&report, "tunings"), 0, "{report}");
    assert_eq!(runtime(&report, "tuning_loads"), 9, "{report}");
    // Only tuning results travel: the kernels are compiled in the new cache.
    assert!(runtime(&report, "compilations") > 0, "{report}");
}

#[test]
fn bad_tune_requests_fail_with_what_is_accepted() {
    let cache = tempfile::tempdir().unwrap();
    for (args, expected) in [
        (
            &["tune", "--ops", "fp8"][..],
            "expected one of ternary, int4_w4a16, int4_w4a8, ternary_planes, int4_w4a16_planes, int4_w4a8_planes",
        ),
        (
            &["tune", "--shapes", "256x30", "--quiet"],
            "K = 30 is not a multiple of 4",
        ),
        (
            &[
                "tune",
                "--shapes",
                "256x40",
                "--ops",
                "int4_w4a16",
                "--quiet",
            ],
            "must be a multiple of 16",
        ),
        (
            &["tune", "--import", "/nonexistent/tuning.json"],
            "/nonexistent/tuning.json",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_bitmat"))
            .args(args)
            .env("BITMAT_CACHE_DIR", cache.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

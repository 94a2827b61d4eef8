//! `bitmat bench` from the command line: a tiny CPU run (its outputs checked, its cache
//! flushed) writes parseable JSON, and `--device cuda` without a driver fails with the typed
//! message.

use std::process::Command;

#[test]
fn cpu_bench_writes_json_rows_with_positive_times() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let out = Command::new(env!("CARGO_BIN_EXE_bitmat"))
        .args(["bench", "--device", "cpu", "--m", "1", "--shapes", "64x64"])
        .args(["--repeat", "2", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("ternary_w2a8") && stdout.contains("GB/s"),
        "{stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(report["floor_gbps"].as_f64().unwrap() > 0.0, "{report}");
    // Timed with the last-level cache flushed, and the report says so.
    let flush = report["cache_flush"].as_str().unwrap();
    assert!(flush.starts_with("last-level cache flush: "), "{flush}");
    assert!(stdout.contains(flush), "{stdout}");
    let rows = report["rows"].as_array().unwrap();
    let kernels: Vec<_> = rows.iter().map(|r| r["kernel"].as_str().unwrap()).collect();
    assert_eq!(
        kernels,
        [
            "ternary_w2a8",
            "ternary_w2a8_planes",
            "int4_w4a16",
            "int4_w4a8",
            "int4_w4a16_planes",
            "int4_w4a8_planes"
        ],
        "{report}"
    );
    for row in rows {
        assert_eq!((row["m"].as_u64(), row["n"].as_u64()), (Some(1), Some(64)));
        // W4A8 has no peer.
        let with_peer = !row["kernel"].as_str().unwrap().starts_with("int4_w4a8");
        let keys: &[&str] = if with_peer {
            &["bitmat_us", "peer_us", "gbps", "speedup"]
        } else {
            &["bitmat_us", "gbps"]
        };
        for key in keys {
            assert!(row[key].as_f64().unwrap() > 0.0, "{key} in {row}");
        }
        assert_eq!(
            row["peer"],
            if with_peer { "rust_unpacked" } else { "none" }
        );
    }
}

#[test]
fn cuda_bench_without_a_driver_fails_with_the_typed_message() {
    if bitmat::Device::cuda(0).is_ok() {
        return; // a GPU is present: nothing to check here
    }
    let out = Command::new(env!("CARGO_BIN_EXE_bitmat"))
        .args(["bench", "--device", "cuda", "--m", "1", "--shapes", "64x64"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CUDA is not available"), "{stderr}");
}

#[test]
fn bad_shapes_are_rejected() {
    let out = Command::new(env!("CARGO_BIN_EXE_bitmat"))
        .args(["bench", "--device", "cpu", "--shapes", "64x60"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("multiple of 16"), "{stderr}");
}

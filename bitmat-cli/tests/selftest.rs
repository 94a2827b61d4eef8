//! `bitmat selftest` passes on the interpreter and the CPU, as a library call (each check of
//! every seed) and as the command (exit status and summary line).

use bitmat::Device;
use std::process::Command;

#[test]
fn selftest_passes_on_the_interpreter_and_the_cpu() {
    for device in [Device::interpreter(), Device::cpu()] {
        for seed in [0, 1] {
            let results = bitmat_cli::selftest::run(&device, seed).unwrap();
            assert!(!results.is_empty());
            for r in results {
                assert!(
                    r.passed(),
                    "selftest on {device} seed {seed}: {} error {} > {}",
                    r.name,
                    r.max_error,
                    r.tolerance
                );
            }
        }
    }
}

#[test]
fn the_command_passes_and_says_so() {
    let out = Command::new(env!("CARGO_BIN_EXE_bitmat"))
        .args(["selftest", "--device", "cpu"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains(" 0 failed"), "{stdout}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
}

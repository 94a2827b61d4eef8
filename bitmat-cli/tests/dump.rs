//! `bitmat dump` and `bitmat info`: from the command line, and `info`'s report.

use bitmat::ir::passes::specialize::{self, ArgFact};
use std::process::{Command, Output};

fn bitmat(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bitmat"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout_of(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn dump_lists_every_prebuilt_kernel_with_its_defaults() {
    let text = stdout_of(&bitmat(&["dump"]));
    for k in bitmat::kernels::registry::PREBUILT {
        assert!(text.contains(k.name), "{} missing from\n{text}", k.name);
    }
    assert!(text.contains("block_n=16 block_k=256"), "{text}");
}

#[test]
fn dump_prints_each_stage_of_every_prebuilt_kernel() {
    for k in bitmat::kernels::registry::PREBUILT {
        let ir = stdout_of(&bitmat(&["dump", k.name]));
        assert!(ir.starts_with(&format!("kernel @{}(", k.name)), "{ir}");
        // The text is exactly the IR the library specializes.
        assert_eq!(ir.trim_end(), k.ir(&[]).unwrap().to_string().trim_end());
        let clif = stdout_of(&bitmat(&["dump", k.name, "--clif"]));
        assert!(clif.starts_with("function "), "{clif}");
        let ptx = stdout_of(&bitmat(&["dump", k.name, "--ptx", "--target", "sm_80"]));
        assert!(
            ptx.contains(".target sm_80") && ptx.contains(".entry"),
            "{ptx}"
        );
    }
}

#[test]
fn constexpr_overrides_change_the_kernel() {
    let default = stdout_of(&bitmat(&["dump", "w2a8_gemv"]));
    let narrow = stdout_of(&bitmat(&["dump", "w2a8_gemv", "--constexpr", "block_n=8"]));
    assert_ne!(default, narrow);
    let expected = bitmat::kernels::ternary::w2a8_gemv::ir(8, 256).unwrap();
    assert_eq!(narrow.trim_end(), expected.to_string().trim_end());
}

#[test]
fn launch_arguments_specialize_the_kernel_as_a_launch_does() {
    let args = ["dump", "w2a8_gemv", "--arg", "k=4096", "--arg", "w=aligned"];
    let specialized = stdout_of(&bitmat(&args));
    // What a launch with these arguments compiles: the same facts applied to the same IR.
    let mut expected = bitmat::kernels::ternary::w2a8_gemv::ir(16, 256).unwrap();
    let facts: Vec<_> = expected
        .params
        .iter()
        .map(|p| match p.name.as_str() {
            "k" => ArgFact::Multiple128,
            "w" => ArgFact::Multiple16,
            _ => ArgFact::None,
        })
        .collect();
    specialize::apply(&mut expected, &facts);
    assert_eq!(specialized.trim_end(), expected.to_string().trim_end());
    assert!(specialized.contains("divisible 128"), "{specialized}");
    assert_ne!(specialized, stdout_of(&bitmat(&["dump", "w2a8_gemv"])));
}

#[test]
fn bad_dump_requests_fail_with_what_is_accepted() {
    for (args, expected) in [
        (
            &["dump", "w2a8_gemv", "--constexpr", "blk=3"][..],
            "no such constexpr; `w2a8_gemv` has block_n, block_k",
        ),
        (
            &["dump", "w2a8_gemv", "--constexpr", "block_n=x"],
            "`x` is not a valid i32",
        ),
        (&["dump", "nope"], "the prebuilt kernels are w2a8_matmul"),
        (
            &["dump", "w2a8_gemv", "--constexpr", "block_n=3"],
            "not a power of two",
        ),
        (
            &["dump", "w2a8_gemv", "--ptx", "--target", "sm_70"],
            "sm_80",
        ),
        (&["dump", "w2a8_gemv", "--constexpr", "oops"], "name=value"),
        (
            &["dump", "w2a8_gemv", "--arg", "q=16"],
            "has no runtime parameter `q`; its parameters: ",
        ),
        (
            &["dump", "w2a8_gemv", "--arg", "k=big"],
            "an integer takes its value",
        ),
        (
            &["dump", "w2a8_gemv", "--arg", "w=16"],
            "a pointer takes `aligned` or `unaligned`",
        ),
    ] {
        let out = bitmat(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn info_names_the_cache_directory_and_its_entries() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bitmat"))
        .arg("info")
        .env("BITMAT_CACHE_DIR", dir.path())
        .output()
        .unwrap();
    let text = stdout_of(&out);
    assert!(
        text.contains(&format!("cache: {}", dir.path().display())),
        "{text}"
    );
    assert!(text.contains("compiled kernels: 0"), "{text}");
    let out = Command::new(env!("CARGO_BIN_EXE_bitmat"))
        .arg("info")
        .env("BITMAT_DISK_CACHE", "0")
        .output()
        .unwrap();
    assert!(stdout_of(&out).contains("cache: off"));
}

#[test]
fn info_reports_the_cpu_and_devices() {
    let report = bitmat_cli::info::report();
    assert!(report.contains("cpu features:"), "{report}");
    #[cfg(target_arch = "x86_64")]
    assert_eq!(
        report.contains("+avx2"),
        std::arch::is_x86_feature_detected!("avx2"),
        "{report}"
    );
    assert!(report.contains("interpreter"), "{report}");
    // CUDA is either a device or unavailable with the reason, whichever this machine has.
    let cuda = bitmat::Device::cuda(0);
    match &cuda {
        Ok(d) => assert!(report.contains(&format!("cuda:0: {d}")), "{report}"),
        Err(e) => assert!(
            report.contains(&format!("cuda: unavailable ({e})")),
            "{report}"
        ),
    }
}

//! `device_assert` outside debug launches leaves no trace (the IR and the PTX of a kernel with
//! assertions, once they are stripped, are those of the kernel written without them), a
//! condition that is not `bool` is a specialization error naming the kernel and the op, and
//! `BITMAT_DEBUG=1` makes every launch a debug launch (checked in a child process, whose
//! environment is its own).

use bitmat::codegen::ptx::{compile_ptx, PtxOptions, PtxTarget};
use bitmat::ir::passes::debug::strip_asserts;
use bitmat::prelude::*;
use bitmat::RuntimeError;

/// `y = 2 x` for `n` elements, asserting on the way.
#[bitkernel]
fn double_asserted(x: Ptr<f32>, y: Ptr<f32>, n: i32, #[constexpr] block: i32) {
    let offs = program_id(0) * block + arange(block);
    let mask = offs < n;
    let v = load(x + offs, mask, 0.0);
    device_assert(v.abs() < 1000.0, "|x| < 1000");
    device_assert((offs < n) | (v == 0.0), "masked-off lanes read 0");
    store(y + offs, v * 2.0, mask);
}

/// [`double_asserted`] without its assertions.
#[bitkernel]
fn double_plain(x: Ptr<f32>, y: Ptr<f32>, n: i32, #[constexpr] block: i32) {
    let offs = program_id(0) * block + arange(block);
    let mask = offs < n;
    let v = load(x + offs, mask, 0.0);
    store(y + offs, v * 2.0, mask);
}

/// The printed IR of `k` under the name `name`, its values renumbered `%0, %1, ..` in order
/// of appearance (the ids of removed values leave gaps).
fn text_as(k: &bitmat::ir::Kernel, name: &str) -> String {
    let mut k = k.clone();
    k.name = name.into();
    let text = k.to_string();
    let mut ids = std::collections::HashMap::new();
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '%' {
            let mut digits = String::new();
            while let Some(d) = chars.next_if(char::is_ascii_digit) {
                digits.push(d);
            }
            let n = ids.len();
            out.push_str(&ids.entry(digits).or_insert(n).to_string());
        }
    }
    out
}

#[test]
fn stripped_asserts_leave_no_trace_in_the_ir_and_the_ptx() {
    for block in [16, 256] {
        let mut asserted = double_asserted::ir(block).unwrap();
        let plain = double_plain::ir(block).unwrap();
        assert!(asserted.to_string().contains("device_assert"));
        assert!(strip_asserts(&mut asserted));
        assert_eq!(text_as(&asserted, "k"), text_as(&plain, "k"));
        let ptx = |k: &bitmat::ir::Kernel| {
            let mut k = k.clone();
            k.name = "k".into();
            let text = compile_ptx(&k, PtxTarget::Sm80, PtxOptions::default())
                .unwrap()
                .text;
            // The instructions; the layout comments also list the values the strip left
            // unused in the kernel's value table.
            let code: Vec<String> = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .map(String::from)
                .collect();
            code.join("\n")
        };
        assert_eq!(ptx(&asserted), ptx(&plain));
    }
}

/// Asserts on an `f32` tile instead of a comparison.
#[bitkernel]
fn assert_on_floats(x: Ptr<f32>) {
    device_assert(load(x + arange(4)), "x");
}

#[test]
fn a_condition_that_is_not_bool_is_a_specialization_error() {
    let err = assert_on_floats::ir().unwrap_err().to_string();
    for part in ["assert_on_floats", "device_assert", "bool", "f32[4]"] {
        assert!(err.contains(part), "{err}");
    }
}

/// `double_asserted` on data that fails its first assertion in program 2, lane 3.
fn launch_failing() -> Result<(), bitmat::Error> {
    let dev = Device::cpu();
    let mut x = vec![1.0f32; 100];
    x[2 * 16 + 3] = 5000.0;
    let xb = dev.upload(&x)?;
    let yb = dev.zeros::<f32>(100)?;
    double_asserted::launch(&dev, 7, &xb, &yb, 100, 16)
}

/// Run by [`bitmat_debug_makes_every_launch_a_debug_launch`] in a child process with
/// `BITMAT_DEBUG=1`.
#[test]
#[ignore = "run by bitmat_debug_makes_every_launch_a_debug_launch with BITMAT_DEBUG=1"]
fn child_with_bitmat_debug() {
    match launch_failing() {
        Err(bitmat::Error::Runtime(RuntimeError::AssertionFailed {
            message,
            program,
            lane,
            ..
        })) => {
            assert_eq!(message, "|x| < 1000");
            assert_eq!((program, lane), ([2, 0, 0], vec![3]));
        }
        other => panic!("expected an assertion failure, got {other:?}"),
    }
}

#[test]
fn bitmat_debug_makes_every_launch_a_debug_launch() {
    // Without the variable the assertion is compiled out.
    if std::env::var_os("BITMAT_DEBUG").is_none() {
        launch_failing().unwrap();
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args(["--ignored", "--exact", "child_with_bitmat_debug"])
        .env("BITMAT_DEBUG", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("1 passed"), "{text}");
}

//! Differential: a random verified program (`bitmat_ir::random`, from a seed in the input)
//! on inputs taken from the fuzz data runs on the interpreter and on every CPU backend of the
//! build, checked and unchecked: results are bit-exact, or the launch fails with the same
//! out-of-bounds error. Where the interpreter reports what compiled code does not (division
//! by zero, a non-positive loop step: the backends' documented deviations), only the checked
//! launch's success is required.

#![no_main]

use bitmat::ir::random;
use bitmat::{Backend, Device, Grid, KernelArg, KernelId, LaunchOptions, RuntimeError};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// The devices compared with the interpreter: every CPU backend of this build.
fn devices() -> &'static [Device] {
    static DEVICES: OnceLock<Vec<Device>> = OnceLock::new();
    DEVICES.get_or_init(|| {
        Backend::cpu_backends()
            .iter()
            .filter_map(|&b| Device::cpu_with(b).ok())
            .collect()
    })
}

/// The program's output on `dev`, checked (a safe launch) or not.
fn run(
    dev: &Device,
    kernel: &bitmat::ir::Kernel,
    seed: u64,
    input: &[i32],
    checked: bool,
) -> Result<Vec<i32>, RuntimeError> {
    let x = dev.upload(input)?;
    let out = dev.zeros::<i32>(random::OUTPUT_LEN)?;
    let id = KernelId {
        name: "random_program",
        source_hash: seed,
        constexprs: vec![],
    };
    let args = [KernelArg::buffer(&x), KernelArg::buffer(&out)];
    let build = || Ok::<_, RuntimeError>(kernel.clone());
    let options = LaunchOptions::default();
    let grid = Grid([1, 1, 1]);
    if checked {
        bitmat::launch_kernel(dev, &id, build, grid, &options, &args)?;
    } else {
        // SAFETY: only called after the interpreter ran the program on these inputs without
        // an out-of-bounds access.
        unsafe { bitmat::launch_kernel_unchecked(dev, &id, build, grid, &options, &args)? };
    }
    out.to_vec()
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (seed_bytes, rest) = data.split_at(8);
    let seed = u64::from_le_bytes(seed_bytes.try_into().expect("8 bytes"));
    let kernel = random::program(seed);
    let mut input = random::input(seed);
    for (slot, chunk) in input.iter_mut().zip(rest.chunks(4)) {
        let mut word = [0u8; 4];
        word[..chunk.len()].copy_from_slice(chunk);
        *slot = i32::from_le_bytes(word);
    }
    let interp = Device::interpreter();
    let want = run(&interp, &kernel, seed, &input, true);
    for dev in devices() {
        let checked = run(dev, &kernel, seed, &input, true);
        match &want {
            Ok(want) => {
                let got = checked.unwrap_or_else(|e| panic!("seed {seed} on {dev}: {e}"));
                assert_eq!(&got, want, "seed {seed} on {dev} (checked)");
                let got = run(dev, &kernel, seed, &input, false)
                    .unwrap_or_else(|e| panic!("seed {seed} on {dev} (unchecked): {e}"));
                assert_eq!(&got, want, "seed {seed} on {dev} (unchecked)");
            }
            Err(e @ RuntimeError::OutOfBounds(_)) => {
                let got = checked.expect_err("the interpreter reported an out-of-bounds access");
                assert_eq!(got.to_string(), e.to_string(), "seed {seed} on {dev}");
            }
            Err(RuntimeError::Interpreter(_)) => {
                checked.unwrap_or_else(|e| panic!("seed {seed} on {dev}: {e}"));
            }
            Err(e) => panic!("seed {seed} on the interpreter: {e}"),
        }
    }
});

//! Random programs (`bitmat::ir::random`: elementwise ops, reductions, broadcasts, reshapes,
//! casts, loops with carried values, `if`s with results, nested) against the interpreter,
//! exactly: they stress scratch reuse and the control-flow lowering.

use crate::harness::{run_exact, test, Arg, Test};
use bitmat::ir::{random, DType, HostData};

/// Programs per test (each test a block of seeds, so that a failure names its seed).
const PER_TEST: u64 = 16;

/// The tests of this module: 64 seeds in 4 blocks.
pub fn tests() -> Vec<Test> {
    (0..4u64)
        .map(|block| {
            test(
                format!(
                    "random_programs::seeds_{}_to_{}",
                    block * PER_TEST,
                    (block + 1) * PER_TEST - 1
                ),
                move |dev| {
                    for seed in block * PER_TEST..(block + 1) * PER_TEST {
                        let k = random::program(seed);
                        let args = [
                            Arg::Buf(HostData::I32(random::input(seed))),
                            Arg::Buf(HostData::zeros(DType::I32, random::OUTPUT_LEN)),
                        ];
                        run_exact(dev, &format!("random program {seed}"), &k, [1, 1, 1], &args)?;
                    }
                    Ok(())
                },
            )
        })
        .collect()
}

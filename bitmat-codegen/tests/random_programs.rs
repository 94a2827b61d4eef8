//! Random programs (elementwise ops, reductions, broadcasts, loops with carried values, `if`
//! with results) on `i32`/`f32` tiles: the JIT against the interpreter. This stresses the
//! scratch slot reuse (liveness) and the control-flow lowering.

mod common;

use bitmat_ir::{random, DType, HostData};
use common::*;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_programs_agree_with_the_interpreter(seed in any::<u64>()) {
        let k = random::program(seed);
        let args = [
            Arg::Buf(HostData::I32(random::input(seed))),
            Arg::Buf(HostData::zeros(DType::I32, random::OUTPUT_LEN)),
        ];
        check(&format!("random program {seed}"), &k, [1, 1, 1], &args);
    }
}

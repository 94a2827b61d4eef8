//! The LLVM backend's objects: compiled for the host, linked into a `CpuObject` whose
//! constants are reached through code-relative relocations, serialized, loaded and run
//! against the reference interpreter on random inputs and ragged lengths.
#![cfg(feature = "llvm")]

mod common;

use bitmat_codegen::cpu::{CpuObject, RelocKind, RelocTarget};
use bitmat_codegen::CpuKernel;
use bitmat_ir::{BinaryOp, DType, Kernel, Scalar, UnaryOp};
use common::data::small;
use common::kernels::ew;
use common::reference::{i32_arg, run_reference, Arg};
use common::*;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

/// Helper calls (exp, log, fmod), f16 rounding and vector constants (LLVM's constant pool).
fn kernel() -> Kernel {
    ew("llvm_mix", DType::F32, DType::F16, 64, |b, x, y| {
        let e = b.unary(UnaryOp::Exp, x);
        let l = b.unary(UnaryOp::Abs, y);
        let l = b.unary(UnaryOp::Log, l);
        let s = b.binary(BinaryOp::Add, e, l);
        let m = b.binary(BinaryOp::Rem, s, x);
        let c = b.constant(Scalar::from_f64(DType::F32, 0.375), vec![64]);
        let m = b.binary(BinaryOp::Max, m, c);
        b.cast(m, DType::F16)
    })
}

fn args(seed: u64, len: i32) -> Vec<Arg> {
    let mut rng = StdRng::seed_from_u64(seed);
    vec![
        Arg::Buf(small(DType::F32, 64, &mut rng)),
        Arg::Buf(small(DType::F32, 64, &mut rng)),
        Arg::Buf(small(DType::F16, 64, &mut rng)),
        i32_arg(len),
    ]
}

#[test]
fn objects_link_serialize_and_keep_their_llvm_ir() {
    let obj = bitmat_codegen::llvm::compile(&kernel()).unwrap();
    assert!(
        obj.clif().contains("define void @bitmat_program"),
        "{}",
        obj.clif()
    );
    assert!(
        obj.relocs().iter().all(|r| r.kind == RelocKind::Abs8),
        "{:?}",
        obj.relocs()
    );
    assert!(
        obj.relocs()
            .iter()
            .any(|r| matches!(r.target, RelocTarget::Helper(_))),
        "helper calls are relocated: {:?}",
        obj.relocs()
    );
    let back = CpuObject::from_bytes(&obj.to_bytes()).unwrap();
    assert_eq!(back, obj);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Every ragged length and seed: the loaded LLVM kernel writes what the interpreter does
    /// (any NaN for any NaN, as the backend documents).
    #[test]
    fn llvm_kernels_match_the_interpreter(seed in any::<u64>(), len in 0i32..=64) {
        let k = kernel();
        let loaded = CpuKernel::load(&bitmat_codegen::llvm::compile(&k).unwrap()).unwrap();
        let a = args(seed, len);
        let want = run_reference(&k, [1, 1, 1], &a).unwrap_or_else(|e| panic!("{e}"));
        let got = run_compiled(&loaded, [1, 1, 1], &a);
        assert_same_with("llvm vs interpreter", &want[2], &got[2], true);
    }
}

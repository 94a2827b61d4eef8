//! The LLVM backend's objects: compiled for the host, linked into a `CpuObject` whose
//! constants are reached through code-relative relocations, serialized, loaded and run
//! against the reference interpreter on random inputs and ragged lengths; C memory functions
//! LLVM calls for long fills are resolved by the loader.
#![cfg(feature = "llvm")]

mod common;

use bitmat_codegen::cpu::MemoryLibCall;
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

/// A dot `[32, 32] x [32, 32]` on a zero accumulator, too large to unroll: the backend stores
/// its operands to the stack and LLVM fills the accumulator's buffer with a call to `memset`
/// (the failure that `fused_attention` hit on this backend).
fn dot_on_zeros() -> Kernel {
    bitmat_ir::parse_kernel(
        "kernel @dot_on_zeros(%0: ptr<f32> a, %1: ptr<f32> b, %2: ptr<f32> c) {
  %3 = arange 1024 : i32[1024]
  %4 = reshape %0 : ptr<f32>[1]
  %5 = broadcast %4 : ptr<f32>[1024]
  %6 = addptr %5, %3 : ptr<f32>[1024]
  %7 = load %6 : f32[1024]
  %8 = reshape %7 : f32[32x32]
  %9 = reshape %1 : ptr<f32>[1]
  %10 = broadcast %9 : ptr<f32>[1024]
  %11 = addptr %10, %3 : ptr<f32>[1024]
  %12 = load %11 : f32[1024]
  %13 = reshape %12 : f32[32x32]
  %14 = constant 0.0 : f32[32x32]
  %15 = dot %8, %13, %14 : f32[32x32]
  %16 = reshape %15 : f32[1024]
  %17 = reshape %2 : ptr<f32>[1]
  %18 = broadcast %17 : ptr<f32>[1024]
  %19 = addptr %18, %3 : ptr<f32>[1024]
  store %19, %16
}",
    )
    .unwrap()
}

#[test]
fn memset_calls_are_resolved_and_run() {
    let k = dot_on_zeros();
    let obj = bitmat_codegen::llvm::compile(&k).unwrap();
    assert!(
        obj.relocs()
            .iter()
            .any(|r| r.target == RelocTarget::Memory(MemoryLibCall::Memset)),
        "the zero fill is a memset call: {:?}",
        obj.relocs()
    );
    let loaded = CpuKernel::load(&CpuObject::from_bytes(&obj.to_bytes()).unwrap()).unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..3 {
        let a = vec![
            Arg::Buf(small(DType::F32, 1024, &mut rng)),
            Arg::Buf(small(DType::F32, 1024, &mut rng)),
            Arg::Buf(small(DType::F32, 1024, &mut rng)),
        ];
        let want = run_reference(&k, [1, 1, 1], &a).unwrap_or_else(|e| panic!("{e}"));
        let got = run_compiled(&loaded, [1, 1, 1], &a);
        assert_same_with("llvm vs interpreter", &want[2], &got[2], true);
    }
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

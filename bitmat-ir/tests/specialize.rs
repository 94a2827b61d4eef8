//! Specialization on launch facts: a unit stride makes a pointer tile contiguous, multiples of
//! 16 and aligned pointers become divisibility facts, and the text format keeps them.

use bitmat_ir::passes::contiguity;
use bitmat_ir::passes::specialize::{self, ArgFact};
use bitmat_ir::{parse_kernel, DType, Scalar};

const STRIDED: &str = "kernel @strided(%0: ptr<f16> x, %1: i32 stride, %2: i32 n) {
  %3 = arange 64 : i32[64]
  %4 = reshape %1 : i32[1]
  %5 = broadcast %4 : i32[64]
  %6 = mul %3, %5 : i32[64]
  %7 = reshape %2 : i32[1]
  %8 = broadcast %7 : i32[64]
  %9 = add %6, %8 : i32[64]
  %10 = reshape %0 : ptr<f16>[1]
  %11 = broadcast %10 : ptr<f16>[64]
  %12 = addptr %11, %9 : ptr<f16>[64]
  %13 = load %12 : f16[64]
  store %12, %13
}";

/// The contiguity and divisibility of the value the kernel's only `store` goes through.
fn store_pointer_facts(k: &bitmat_ir::Kernel) -> (u64, u64) {
    let info = contiguity::analyze(k);
    let ptr = k
        .body
        .ops
        .iter()
        .find_map(|op| match op.kind {
            bitmat_ir::OpKind::Store { ptr, .. } => Some(ptr),
            _ => None,
        })
        .expect("a store");
    let i = &info[ptr.index()];
    (i.last_contiguity(), i.last_divisibility())
}

#[test]
fn a_unit_stride_makes_the_tile_contiguous_and_multiples_of_16_divisible() {
    let k = parse_kernel(STRIDED).expect("parses");
    assert_eq!(store_pointer_facts(&k), (1, 1));
    // stride == 1, n a multiple of 16, x aligned: 64 contiguous elements, the first of each
    // run a multiple of 8 f16 (16 bytes).
    let mut s = k.clone();
    specialize::apply(
        &mut s,
        &[ArgFact::Multiple16, ArgFact::One, ArgFact::Multiple16],
    );
    bitmat_ir::verify::verify(&s).expect("still valid");
    assert_eq!(store_pointer_facts(&s), (64, 8));
    // The specialized kernel prints and reads back with its facts.
    let text = s.to_string();
    assert!(text.contains("ptr<f16> x divisible 16"), "{text}");
    assert!(text.contains("i32 n divisible 16"), "{text}");
    assert_eq!(parse_kernel(&text).expect("reads back").to_string(), text);
}

#[test]
fn facts_of_arguments() {
    assert_eq!(
        ArgFact::of_scalar(Scalar::from_i64(DType::I32, 1)),
        ArgFact::One
    );
    assert_eq!(
        ArgFact::of_scalar(Scalar::from_i64(DType::I64, 4096)),
        ArgFact::Multiple128
    );
    assert_eq!(
        ArgFact::of_scalar(Scalar::from_i64(DType::I64, 4112)),
        ArgFact::Multiple16
    );
    assert_eq!(
        ArgFact::of_scalar(Scalar::from_i64(DType::I32, 0)),
        ArgFact::Multiple128
    );
    assert_eq!(
        ArgFact::of_scalar(Scalar::from_i64(DType::I32, 24)),
        ArgFact::None
    );
    assert_eq!(
        ArgFact::of_scalar(Scalar::from_f64(DType::F32, 1.0)),
        ArgFact::None
    );
    assert_eq!(ArgFact::of_address(0x7f00_0000_0100), ArgFact::Multiple16);
    assert_eq!(ArgFact::of_address(0x7f00_0000_0108), ArgFact::None);
}

#[test]
fn a_bad_divisibility_is_a_parse_error() {
    let bad = STRIDED.replace("%2: i32 n", "%2: i32 n divisible 12");
    let e = parse_kernel(&bad).expect_err("12 is not a power of two");
    assert!(e.to_string().contains("power of two"), "{e}");
}

//! The text reader: round trips through the printer, exact constants, and its errors.

mod common;

use bitmat_ir::parse::{check_round_trip, parse_kernel};
use bitmat_ir::passes::optimize;
use bitmat_ir::{DType, Kernel, KernelBuilder, ParamKind, Scalar};
use half::{bf16, f16};

fn assert_round_trips(k: &Kernel) {
    if let Err(e) = check_round_trip(k) {
        panic!("{e}");
    }
}

#[test]
fn hand_built_kernels_round_trip() {
    for k in [
        common::matmul_kernel(),
        common::if_kernel(),
        common::all_ops_kernel(),
    ] {
        assert_round_trips(&k);
        // The reader gives back exactly the builder's kernel, value types included.
        assert_eq!(parse_kernel(&k.to_string()).expect("parses"), k);
    }
}

#[test]
fn optimized_kernels_round_trip() {
    // The passes leave values behind whose ops they removed: those are not in the text.
    let mut k = common::all_ops_kernel();
    optimize(&mut k);
    assert_round_trips(&k);
    let read = parse_kernel(&k.to_string()).expect("parses");
    assert_eq!(read.to_string(), k.to_string());
}

#[test]
fn empty_kernel_round_trips() {
    let k = KernelBuilder::new("empty").finish().expect("no open block");
    assert_round_trips(&k);
}

/// A kernel storing one constant of each given scalar into a buffer of its type.
fn constants_kernel(scalars: &[Scalar]) -> Kernel {
    let mut b = KernelBuilder::new("constants");
    for (i, s) in scalars.iter().enumerate() {
        let p = b.param(format!("p{i}"), ParamKind::Ptr(s.dtype()));
        let c = b.constant(*s, vec![]);
        b.store(p, c, None);
    }
    b.finish().expect("no open block")
}

#[test]
fn constants_keep_every_bit() {
    let mut scalars = vec![
        Scalar::from_bool(true),
        Scalar::from_bool(false),
        Scalar::from_i64(DType::I8, -128),
        Scalar::from_i64(DType::U8, 255),
        Scalar::from_i64(DType::I16, i64::from(i16::MIN)),
        Scalar::from_i64(DType::U16, 65535),
        Scalar::from_i64(DType::I32, i64::from(i32::MIN)),
        Scalar::from_i64(DType::U32, i64::from(u32::MAX)),
        Scalar::from_i64(DType::I64, i64::MIN),
        Scalar::from_bits(DType::U64, u64::MAX),
    ];
    for bits in [
        0u32,
        0x8000_0000,
        1,
        0x7f7f_ffff,
        0x7f80_0000,
        0xff80_0000,
        f32::NAN.to_bits(),
        0x7fc0_0001,
        0xffc0_0000,
        0x7f80_0001,
        0.1f32.to_bits(),
    ] {
        scalars.push(Scalar::from_bits(DType::F32, u64::from(bits)));
    }
    for bits in [0u16, 0x8000, 1, 0x7bff, 0x7c00, 0x7e00, 0x7e01, 0xfc01] {
        scalars.push(Scalar::from_bits(DType::F16, u64::from(bits)));
    }
    for bits in [0u16, 0x8000, 1, 0x7f7f, 0x7f80, 0x7fc0, 0x7fc1, 0xff81] {
        scalars.push(Scalar::from_bits(DType::BF16, u64::from(bits)));
    }
    let k = constants_kernel(&scalars);
    assert_round_trips(&k);
    let text = k.to_string();
    assert!(text.contains("constant NaN : f32"), "{text}");
    assert!(text.contains("constant NaN(0x7fc00001) : f32"), "{text}");
    assert!(text.contains("constant NaN(0x7e01) : f16"), "{text}");
    assert_eq!(f16::NAN.to_bits(), 0x7e00);
    assert_eq!(bf16::NAN.to_bits(), 0x7fc0);
}

#[test]
fn comments_and_layout_are_free() {
    let text = "; a comment\nkernel @k(%0: ptr<i32> out, %1: i32 n) { ; trailing\n %2 = program_id 0 : i32 store %0, %2\n}";
    let k = parse_kernel(text).expect("parses");
    assert_eq!(
        k.to_string(),
        "kernel @k(%0: ptr<i32> out, %1: i32 n) {\n  %2 = program_id 0 : i32\n  store %0, %2\n}"
    );
}

#[test]
fn undefined_values_get_the_placeholder_and_fail_verification() {
    let text = "kernel @k(%0: ptr<i32> out) {\n  %2 = add %5, %5 : i32\n  store %0, %2\n}";
    let k = parse_kernel(text).expect("parses");
    assert_eq!(k.values.len(), 6);
    let err = bitmat_ir::verify::verify(&k).expect_err("%5 is never defined");
    assert!(
        err.message.contains("%5 is used before it is defined"),
        "{err}"
    );
}

/// The error for `text`, as `line:column: message`.
fn error_of(text: &str) -> String {
    let e = parse_kernel(text).expect_err("does not parse");
    format!("{}:{}: {}", e.line, e.column, e.message)
}

#[test]
fn errors_say_where_and_what_was_expected() {
    assert_eq!(
        error_of("kernel k() {}"),
        "1:8: expected the kernel's name such as `@matmul`, found `k`"
    );
    assert_eq!(
        error_of("kernel @k() {\n  %1 = frobnicate %0 : i32\n}"),
        "2:8: expected an op name such as `add`, `load` or `for`, found `frobnicate`"
    );
    assert_eq!(
        error_of("kernel @k(%0: i32 n) {\n  %1 = add %0, %0\n}"),
        "2:3: expected one result type per result: `add` defines 1 result(s) and lists 0 type(s)"
    );
    assert_eq!(
        error_of("kernel @k() {\n  %1 = constant 300 : i8\n}"),
        "2:17: constant `300` does not fit in i8"
    );
    assert_eq!(
        error_of("kernel @k() {\n  %1 = constant 0.1 : f16\n}"),
        "2:17: constant `0.1` is not exactly representable in f16"
    );
    assert_eq!(
        error_of("kernel @k() {\n  %1 = arange 8 : i32[8x]\n}"),
        "2:23: expected a shape such as `16x32`, found `8x`"
    );
    assert_eq!(
        error_of("kernel @k() {\n  %1 = arange 8 : q32\n}"),
        "2:19: expected an element type (bool, i8, .., f32), found `q32`"
    );
    assert_eq!(
        error_of("kernel @k() {\n  %1 = arange 8 : i32"),
        "2:22: expected an op or `}`, found the end of the text"
    );
    assert_eq!(
        error_of("kernel @k() {\n} extra"),
        "2:3: expected the end of the text after the kernel, found `extra`"
    );
    assert_eq!(
        error_of("kernel @k() {\n  %1 = arange 8 : i32 # \n}"),
        "2:23: unexpected character `#`"
    );
}

#[test]
fn optional_operands_and_nested_blocks_read_back_as_printed() {
    let text = "kernel @optional(%0: ptr<f32> x, %1: i32 n) {
  %2 = arange 4 : i32[4]
  %3 = reshape %0 : ptr<f32>[1]
  %4 = broadcast %3 : ptr<f32>[4]
  %5 = addptr %4, %2 : ptr<f32>[4]
  %6 = constant 1.5 : f32[4]
  %7 = reshape %1 : i32[1]
  %8 = broadcast %7 : i32[4]
  %9 = cmp_lt %2, %8 : bool[4]
  %10 = load %5 : f32[4]
  %11 = load %5, other %6 : f32[4]
  %12 = load %5, mask %9 : f32[4]
  %13 = constant 0 : i32
  %14 = constant 1 : i32
  for %15 = %13 to %1 step %14 {
    %16 = cmp_eq %15, %13 : bool
    %17 = if %16 {
      yield %11
    } else {
      yield %12
    } : f32[4]
    store %5, %17, mask %9
    yield
  }
  %18 = add %10, %11 : f32[4]
  store %5, %18
}";
    let k = parse_kernel(text).expect("parses");
    assert_eq!(k.to_string(), text);
    assert_eq!(bitmat_ir::verify::verify_all(&k), vec![]);
    assert_round_trips(&k);
    // The induction variable has the type of the lower bound; the `if` has its result's.
    assert_eq!(
        k.ty(bitmat_ir::ValueId(15)),
        &bitmat_ir::TileType::scalar(DType::I32)
    );
    assert_eq!(
        k.ty(bitmat_ir::ValueId(17)),
        &bitmat_ir::TileType::val(DType::F32, vec![4])
    );
}

/// Found by the `ir_parser` fuzz target: a value id in the hundreds of millions made the
/// parser allocate a type slot for every id below it (out of memory); it is an error.
#[test]
fn a_huge_value_id_is_an_error_not_an_allocation() {
    let text = "kernel @k(%0: ptr<i32> x) {\n  %157483641 = arange 8 : i32[8]\n}";
    assert_eq!(
        error_of(text),
        "2:3: value `%157483641` is out of range: values are numbered from %0 up, so this kernel's are below %1046"
    );
}

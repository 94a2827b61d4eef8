//! Verifier tests: the valid kernels pass, and every rule has a negative test whose error
//! names the op and the offending types.

// `&[ty.clone()]` reads better than `std::slice::from_ref(&ty)` in these tables.
#![allow(clippy::cloned_ref_to_slice_refs)]

mod common;

use bitmat_ir::verify::{verify, VerifyError};
use bitmat_ir::{
    AtomicOp, BinaryOp, Block, CmpPred, DType, ElemType, Kernel, KernelBuilder, Op, OpKind,
    ParamKind, ReduceOp, Scalar, TileType, UnaryOp, ValueId,
};

fn val(d: DType, shape: &[u32]) -> TileType {
    TileType::val(d, shape.to_vec())
}

fn ptr(d: DType, shape: &[u32]) -> TileType {
    TileType::new(ElemType::Ptr(d), shape.to_vec())
}

/// A tile of `ty` from a constant (for pointer types: a pointer parameter broadcast).
fn tile(b: &mut KernelBuilder, ty: &TileType) -> ValueId {
    match ty.elem {
        ElemType::Val(d) => b.constant(Scalar::zero(d), ty.shape.clone()),
        ElemType::Ptr(d) => {
            let p = b.param(format!("p{}", b.depth()), ParamKind::Ptr(d));
            if ty.shape.is_empty() {
                p
            } else {
                common::splat(b, p, &ty.shape)
            }
        }
    }
}

/// A kernel defining one value per operand type, then `make(operands)` with `results`.
fn one_op(
    operands: &[TileType],
    make: impl FnOnce(&[ValueId]) -> OpKind,
    results: Vec<TileType>,
) -> Kernel {
    let mut b = KernelBuilder::new("k");
    let vals: Vec<ValueId> = operands.iter().map(|t| tile(&mut b, t)).collect();
    b.push(make(&vals), results);
    b.finish().expect("no open block")
}

/// Asserts that verification fails in an op whose one-liner contains `op`, with a message
/// containing every one of `parts`.
#[track_caller]
fn expect_err(k: &Kernel, op: &str, parts: &[&str]) -> VerifyError {
    let e = match verify(k) {
        Err(e) if std::env::var_os("SHOW_ERRORS").is_some() => {
            eprintln!("{e}");
            e
        }
        Ok(()) => panic!("kernel unexpectedly verified:\n{k}"),
        Err(e) => e,
    };
    assert_eq!(e.kernel, k.name);
    assert!(e.op.contains(op), "op `{}` lacks `{op}` ({e})", e.op);
    for p in parts {
        assert!(e.message.contains(p), "message lacks `{p}`: {e}");
    }
    let shown = e.to_string();
    assert_eq!(
        shown,
        format!("kernel `{}`: in `{}`: {}", e.kernel, e.op, e.message)
    );
    e
}

#[track_caller]
fn expect_ok(k: &Kernel) {
    if let Err(e) = verify(k) {
        panic!("{e}\n{k}");
    }
}

// ---------------------------------------------------------------------------------------------
// Valid kernels.

#[test]
fn valid_kernels_pass() {
    expect_ok(&common::matmul_kernel());
    expect_ok(&common::if_kernel());
    expect_ok(&common::all_ops_kernel());
    expect_ok(&KernelBuilder::new("empty").finish().expect("closed"));
}

#[test]
fn valid_single_ops_pass() {
    let f = val(DType::F32, &[16, 32]);
    let i = val(DType::I32, &[16, 32]);
    let bo = val(DType::Bool, &[16, 32]);
    let p = ptr(DType::F32, &[16, 32]);
    let cases: Vec<Kernel> = vec![
        one_op(
            &[],
            |_| OpKind::Constant(Scalar::from_bool(true)),
            vec![val(DType::Bool, &[4])],
        ),
        one_op(
            &[],
            |_| OpKind::ProgramId(2),
            vec![TileType::scalar(DType::I32)],
        ),
        one_op(&[], |_| OpKind::Arange(1), vec![val(DType::I32, &[1])]),
        one_op(
            &[bo.clone()],
            |v| OpKind::Unary(UnaryOp::Not, v[0]),
            vec![bo.clone()],
        ),
        one_op(
            &[i.clone()],
            |v| OpKind::Unary(UnaryOp::Abs, v[0]),
            vec![i.clone()],
        ),
        one_op(
            &[bo.clone(), bo.clone()],
            |v| OpKind::Binary(BinaryOp::Xor, v[0], v[1]),
            vec![bo.clone()],
        ),
        one_op(
            &[bo.clone(), bo.clone()],
            |v| OpKind::Cmp(CmpPred::Ne, v[0], v[1]),
            vec![bo.clone()],
        ),
        one_op(
            &[bo.clone(), p.clone(), p.clone()],
            |v| OpKind::Select {
                cond: v[0],
                on_true: v[1],
                on_false: v[2],
            },
            vec![p.clone()],
        ),
        one_op(&[bo.clone()], |v| OpKind::Cast(v[0]), vec![f.clone()]),
        one_op(
            &[val(DType::BF16, &[2])],
            |v| OpKind::Bitcast(v[0]),
            vec![val(DType::I16, &[2])],
        ),
        one_op(
            &[val(DType::I32, &[16])],
            |v| OpKind::ExpandDims {
                value: v[0],
                axis: 1,
            },
            vec![val(DType::I32, &[16, 1])],
        ),
        one_op(
            &[TileType::scalar(DType::I32)],
            |v| OpKind::ExpandDims {
                value: v[0],
                axis: 0,
            },
            vec![val(DType::I32, &[1])],
        ),
        one_op(
            &[
                val(DType::I8, &[32, 64]),
                val(DType::I8, &[64, 16]),
                val(DType::I32, &[32, 16]),
            ],
            |v| OpKind::Dot {
                a: v[0],
                b: v[1],
                acc: v[2],
            },
            vec![val(DType::I32, &[32, 16])],
        ),
        one_op(
            &[
                val(DType::BF16, &[16, 16]),
                val(DType::BF16, &[16, 16]),
                val(DType::F32, &[16, 16]),
            ],
            |v| OpKind::Dot {
                a: v[0],
                b: v[1],
                acc: v[2],
            },
            vec![val(DType::F32, &[16, 16])],
        ),
        one_op(
            &[p.clone(), val(DType::U64, &[16, 32])],
            |v| OpKind::AddPtr {
                ptr: v[0],
                offset: v[1],
            },
            vec![p.clone()],
        ),
        one_op(
            &[ptr(DType::U64, &[4]), val(DType::U64, &[4])],
            |v| OpKind::Atomic {
                op: AtomicOp::Add,
                ptr: v[0],
                value: v[1],
                mask: None,
            },
            vec![val(DType::U64, &[4])],
        ),
    ];
    for k in &cases {
        expect_ok(k);
    }
}

// ---------------------------------------------------------------------------------------------
// Definitions, scoping, value table.

#[test]
fn fma_takes_floats_of_one_type() {
    let mut b = KernelBuilder::new("k");
    let i = b.constant(Scalar::from_i64(DType::I32, 1), vec![4]);
    b.push(
        OpKind::Fma(i, i, i),
        vec![TileType::val(DType::I32, vec![4])],
    );
    let k = b.finish().expect("closed");
    expect_err(&k, "fma", &["floats", "i32[4]"]);

    let mut b = KernelBuilder::new("k");
    let x = b.constant(Scalar::from_f64(DType::F32, 1.0), vec![4]);
    let h = b.constant(Scalar::from_f64(DType::F16, 1.0), vec![4]);
    b.push(
        OpKind::Fma(x, x, h),
        vec![TileType::val(DType::F32, vec![4])],
    );
    let k = b.finish().expect("closed");
    expect_err(&k, "fma", &["f16[4]"]);
}

#[test]
fn use_before_definition() {
    let mut b = KernelBuilder::new("k");
    let x = b.constant(Scalar::from_i64(DType::I32, 1), vec![]);
    b.push(
        OpKind::Binary(BinaryOp::Add, x, ValueId(2)),
        vec![TileType::scalar(DType::I32)],
    );
    // %2 is defined by the next op.
    common::ci32(&mut b, 2);
    let k = b.finish().expect("closed");
    expect_err(
        &k,
        "%1 = add %0, %2 : i32",
        &["%2", "used before it is defined"],
    );
}

#[test]
fn out_of_range_value_does_not_panic() {
    let mut b = KernelBuilder::new("k");
    let x = b.constant(Scalar::from_i64(DType::I32, 1), vec![]);
    b.push(
        OpKind::Binary(BinaryOp::Add, x, ValueId(999)),
        vec![TileType::scalar(DType::I32)],
    );
    let k = b.finish().expect("closed");
    expect_err(&k, "add %0, %999", &["%999", "has no type", "2 values"]);

    // A result without a type.
    let mut k2 = k.clone();
    k2.body.ops[1] = Op {
        kind: OpKind::Arange(4),
        results: vec![ValueId(u32::MAX)],
    };
    expect_err(&k2, "arange 4 : ?", &["has no type"]);

    // A parameter without a type.
    let mut k3 = k.clone();
    k3.params.push(bitmat_ir::Param {
        name: "ghost".into(),
        kind: ParamKind::Scalar(DType::I32),
        value: ValueId(50),
        divisibility: 1,
    });
    expect_err(&k3, "parameter ghost", &["%50", "has no type"]);

    // Garbage everywhere in a for loop.
    let mut k4 = k.clone();
    k4.body.ops.insert(
        1,
        Op {
            kind: OpKind::For {
                lower: ValueId(0),
                upper: ValueId(0),
                step: ValueId(0),
                init: vec![],
                body: Block {
                    args: vec![ValueId(77)],
                    ops: vec![],
                },
            },
            results: vec![],
        },
    );
    expect_err(&k4, "for %77 = %0 to %0 step %0", &["%77", "has no type"]);
}

#[test]
fn value_defined_twice() {
    let mut b = KernelBuilder::new("k");
    let n = b.param("n", ParamKind::Scalar(DType::I32));
    b.constant(Scalar::from_i64(DType::I32, 1), vec![]);
    let mut k = b.finish().expect("closed");
    k.body.ops[0].results[0] = n;
    expect_err(
        &k,
        "%0 = constant 1 : i32",
        &["%0", "defined more than once"],
    );
}

#[test]
fn value_used_outside_its_block() {
    let mut b = KernelBuilder::new("k");
    let zero = common::ci32(&mut b, 0);
    let (i, _) = b.begin_for(zero, zero, zero, vec![]);
    b.end_for(vec![]).expect("open loop");
    b.binary(BinaryOp::Add, i, zero);
    let k = b.finish().expect("closed");
    expect_err(&k, "add %1, %0", &["%1", "outside the block"]);
}

#[test]
fn loop_result_used_inside_its_body() {
    let mut b = KernelBuilder::new("k");
    let zero = common::ci32(&mut b, 0);
    b.begin_for(zero, zero, zero, vec![zero]);
    // %3 will be the loop's result.
    b.end_for(vec![ValueId(3)]).expect("open loop");
    let k = b.finish().expect("closed");
    expect_err(&k, "yield %3", &["%3", "used before it is defined"]);
}

#[test]
fn extents_must_be_powers_of_two() {
    let k = one_op(
        &[],
        |_| OpKind::Constant(Scalar::from_i64(DType::I32, 0)),
        vec![val(DType::I32, &[16, 24])],
    );
    expect_err(
        &k,
        "constant 0 : i32[16x24]",
        &["i32[16x24]", "24", "not a power of two"],
    );
    let k = one_op(
        &[],
        |_| OpKind::Constant(Scalar::from_i64(DType::I32, 0)),
        vec![val(DType::I32, &[0])],
    );
    expect_err(&k, "constant 0 : i32[0]", &["i32[0]", "not a power of two"]);
}

#[test]
fn parameter_type_must_match_its_kind() {
    let mut b = KernelBuilder::new("k");
    b.param("a", ParamKind::Ptr(DType::I8));
    let mut k = b.finish().expect("closed");
    k.params[0].kind = ParamKind::Ptr(DType::U8);
    expect_err(&k, "parameter a", &["ptr<i8>", "ptr<u8>"]);
}

#[test]
fn result_count_must_match_the_op() {
    let k = one_op(
        &[ptr(DType::F32, &[4]), val(DType::F32, &[4])],
        |v| OpKind::Store {
            ptr: v[0],
            value: v[1],
            mask: None,
        },
        vec![val(DType::F32, &[4])],
    );
    expect_err(&k, "store %", &["1 result(s), expected 0"]);
    let k = one_op(&[], |_| OpKind::Arange(4), vec![]);
    expect_err(&k, "arange 4", &["0 result(s), expected 1"]);
}

// ---------------------------------------------------------------------------------------------
// Sources of values.

#[test]
fn constant_type() {
    let k = one_op(
        &[],
        |_| OpKind::Constant(Scalar::from_i64(DType::I32, 3)),
        vec![val(DType::F32, &[4])],
    );
    expect_err(&k, "constant 3 : f32[4]", &["i32", "f32[4]"]);
}

#[test]
fn program_id_and_num_programs() {
    let k = one_op(
        &[],
        |_| OpKind::ProgramId(3),
        vec![TileType::scalar(DType::I32)],
    );
    expect_err(&k, "program_id 3 : i32", &["axis 3"]);
    let k = one_op(
        &[],
        |_| OpKind::NumPrograms(7),
        vec![TileType::scalar(DType::I32)],
    );
    expect_err(&k, "num_programs 7 : i32", &["axis 7"]);
    let k = one_op(
        &[],
        |_| OpKind::ProgramId(0),
        vec![TileType::scalar(DType::I64)],
    );
    expect_err(&k, "program_id 0 : i64", &["i64", "expected i32"]);
    let k = one_op(&[], |_| OpKind::NumPrograms(0), vec![val(DType::I32, &[1])]);
    expect_err(&k, "num_programs 0 : i32[1]", &["i32[1]", "expected i32"]);
}

#[test]
fn arange() {
    let k = one_op(&[], |_| OpKind::Arange(12), vec![val(DType::I32, &[16])]);
    expect_err(&k, "arange 12", &["12", "not a power of two"]);
    let k = one_op(&[], |_| OpKind::Arange(16), vec![val(DType::I64, &[16])]);
    expect_err(&k, "arange 16 : i64[16]", &["i64[16]", "expected i32[16]"]);
}

// ---------------------------------------------------------------------------------------------
// Elementwise ops.

#[test]
fn unary_dtypes() {
    let cases = [
        (UnaryOp::Exp, val(DType::I32, &[8]), "exp"),
        (UnaryOp::Log, val(DType::U8, &[8]), "log"),
        (UnaryOp::Sqrt, val(DType::Bool, &[8]), "sqrt"),
        (UnaryOp::Rsqrt, val(DType::I64, &[8]), "rsqrt"),
        (UnaryOp::Round, val(DType::I16, &[8]), "round"),
        (UnaryOp::Not, val(DType::F32, &[8]), "not"),
        (UnaryOp::Neg, val(DType::Bool, &[8]), "neg"),
        (UnaryOp::Abs, val(DType::Bool, &[8]), "abs"),
        (UnaryOp::Neg, ptr(DType::F32, &[8]), "neg"),
    ];
    for (op, ty, name) in cases {
        let k = one_op(&[ty.clone()], |v| OpKind::Unary(op, v[0]), vec![ty.clone()]);
        let e = expect_err(&k, name, &[&ty.to_string()]);
        assert!(e.op.starts_with('%'), "{e}");
    }
}

#[test]
fn unary_result_type() {
    let k = one_op(
        &[val(DType::F32, &[8])],
        |v| OpKind::Unary(UnaryOp::Exp, v[0]),
        vec![val(DType::F16, &[8])],
    );
    expect_err(&k, "exp %0 : f16[8]", &["f16[8]", "expected f32[8]"]);
}

#[test]
fn binary_operand_types() {
    let k = one_op(
        &[val(DType::I32, &[16, 32]), val(DType::I32, &[32, 16])],
        |v| OpKind::Binary(BinaryOp::Add, v[0], v[1]),
        vec![val(DType::I32, &[16, 32])],
    );
    expect_err(
        &k,
        "add %0, %1 : i32[16x32]",
        &["operands have different shapes i32[16x32] and i32[32x16]"],
    );
    let k = one_op(
        &[val(DType::I32, &[16]), val(DType::U32, &[16])],
        |v| OpKind::Binary(BinaryOp::Mul, v[0], v[1]),
        vec![val(DType::I32, &[16])],
    );
    expect_err(
        &k,
        "mul %0, %1",
        &["different element types i32[16] and u32[16]"],
    );
}

#[test]
fn binary_dtypes() {
    let cases = [
        (BinaryOp::Add, val(DType::Bool, &[4])),
        (BinaryOp::Sub, ptr(DType::F32, &[4])),
        (BinaryOp::Div, val(DType::Bool, &[4])),
        (BinaryOp::Rem, val(DType::Bool, &[4])),
        (BinaryOp::Min, val(DType::Bool, &[4])),
        (BinaryOp::Max, ptr(DType::I8, &[4])),
        (BinaryOp::And, val(DType::F32, &[4])),
        (BinaryOp::Or, val(DType::F16, &[4])),
        (BinaryOp::Xor, ptr(DType::I32, &[4])),
        (BinaryOp::Shl, val(DType::F32, &[4])),
        (BinaryOp::Shr, val(DType::Bool, &[4])),
    ];
    for (op, ty) in cases {
        let k = one_op(
            &[ty.clone(), ty.clone()],
            |v| OpKind::Binary(op, v[0], v[1]),
            vec![ty.clone()],
        );
        let e = expect_err(&k, " = ", &[&ty.to_string()]);
        assert!(
            e.op.contains(OpKind::Binary(op, ValueId(0), ValueId(0)).name()),
            "{e}"
        );
    }
}

#[test]
fn binary_result_type() {
    let k = one_op(
        &[val(DType::I32, &[4]), val(DType::I32, &[4])],
        |v| OpKind::Binary(BinaryOp::Add, v[0], v[1]),
        vec![val(DType::I32, &[8])],
    );
    expect_err(&k, "add %0, %1 : i32[8]", &["i32[8]", "expected i32[4]"]);
}

#[test]
fn cmp_rules() {
    let k = one_op(
        &[val(DType::F32, &[4]), val(DType::F32, &[8])],
        |v| OpKind::Cmp(CmpPred::Lt, v[0], v[1]),
        vec![val(DType::Bool, &[4])],
    );
    expect_err(&k, "cmp_lt %0, %1", &["different shapes f32[4] and f32[8]"]);
    let k = one_op(
        &[val(DType::F32, &[4]), val(DType::F16, &[4])],
        |v| OpKind::Cmp(CmpPred::Eq, v[0], v[1]),
        vec![val(DType::Bool, &[4])],
    );
    expect_err(&k, "cmp_eq %0, %1", &["f32[4]", "f16[4]"]);
    let k = one_op(
        &[val(DType::Bool, &[4]), val(DType::Bool, &[4])],
        |v| OpKind::Cmp(CmpPred::Ge, v[0], v[1]),
        vec![val(DType::Bool, &[4])],
    );
    expect_err(&k, "cmp_ge %0, %1", &["bool[4]"]);
    let k = one_op(
        &[ptr(DType::F32, &[4]), ptr(DType::F32, &[4])],
        |v| OpKind::Cmp(CmpPred::Eq, v[0], v[1]),
        vec![val(DType::Bool, &[4])],
    );
    expect_err(&k, "cmp_eq %", &["pointer", "ptr<f32>[4]"]);
    let k = one_op(
        &[val(DType::I8, &[4]), val(DType::I8, &[4])],
        |v| OpKind::Cmp(CmpPred::Le, v[0], v[1]),
        vec![val(DType::I8, &[4])],
    );
    expect_err(&k, "cmp_le %0, %1 : i8[4]", &["i8[4]", "expected bool[4]"]);
}

#[test]
fn select_rules() {
    let f4 = val(DType::F32, &[4]);
    let sel = |v: &[ValueId]| OpKind::Select {
        cond: v[0],
        on_true: v[1],
        on_false: v[2],
    };
    let k = one_op(
        &[val(DType::I32, &[4]), f4.clone(), f4.clone()],
        sel,
        vec![f4.clone()],
    );
    expect_err(&k, "select %0, %1, %2", &["condition", "i32[4]"]);
    let k = one_op(
        &[val(DType::Bool, &[8]), f4.clone(), f4.clone()],
        sel,
        vec![f4.clone()],
    );
    expect_err(
        &k,
        "select %0, %1, %2",
        &["different shapes bool[8] and f32[4]"],
    );
    let k = one_op(
        &[val(DType::Bool, &[4]), f4.clone(), val(DType::F16, &[4])],
        sel,
        vec![f4.clone()],
    );
    expect_err(&k, "select %0, %1, %2", &["f32[4]", "f16[4]"]);
    let k = one_op(
        &[val(DType::Bool, &[4]), f4.clone(), f4.clone()],
        sel,
        vec![val(DType::I32, &[4])],
    );
    expect_err(
        &k,
        "select %0, %1, %2 : i32[4]",
        &["i32[4]", "expected f32[4]"],
    );
}

// ---------------------------------------------------------------------------------------------
// Conversions and shape ops.

#[test]
fn cast_rules() {
    let k = one_op(
        &[ptr(DType::F32, &[4])],
        |v| OpKind::Cast(v[0]),
        vec![val(DType::F32, &[4])],
    );
    expect_err(&k, "cast %", &["pointer", "ptr<f32>[4]"]);
    let k = one_op(
        &[val(DType::F32, &[4])],
        |v| OpKind::Cast(v[0]),
        vec![ptr(DType::F32, &[4])],
    );
    expect_err(&k, "cast %0 : ptr<f32>[4]", &["pointer", "ptr<f32>[4]"]);
    let k = one_op(
        &[val(DType::F32, &[4])],
        |v| OpKind::Cast(v[0]),
        vec![val(DType::I32, &[8])],
    );
    expect_err(
        &k,
        "cast %0 : i32[8]",
        &["different shapes f32[4] and i32[8]"],
    );
}

#[test]
fn bitcast_rules() {
    let k = one_op(
        &[val(DType::F32, &[4])],
        |v| OpKind::Bitcast(v[0]),
        vec![val(DType::I16, &[4])],
    );
    expect_err(&k, "bitcast %0 : i16[4]", &["f32[4]", "i16[4]", "widths"]);
    let k = one_op(
        &[val(DType::Bool, &[4])],
        |v| OpKind::Bitcast(v[0]),
        vec![val(DType::I8, &[4])],
    );
    expect_err(&k, "bitcast %0 : i8[4]", &["bool[4]"]);
    let k = one_op(
        &[val(DType::U8, &[4])],
        |v| OpKind::Bitcast(v[0]),
        vec![val(DType::Bool, &[4])],
    );
    expect_err(&k, "bitcast %0 : bool[4]", &["bool[4]"]);
    let k = one_op(
        &[val(DType::F32, &[4])],
        |v| OpKind::Bitcast(v[0]),
        vec![val(DType::I32, &[2])],
    );
    expect_err(&k, "bitcast %0 : i32[2]", &["f32[4]", "i32[2]"]);
}

#[test]
fn broadcast_rules() {
    let k = one_op(
        &[val(DType::I32, &[16])],
        |v| OpKind::Broadcast(v[0]),
        vec![val(DType::I32, &[16, 16])],
    );
    expect_err(
        &k,
        "broadcast %0 : i32[16x16]",
        &["i32[16]", "i32[16x16]", "rank"],
    );
    let k = one_op(
        &[val(DType::I32, &[2, 1])],
        |v| OpKind::Broadcast(v[0]),
        vec![val(DType::I32, &[4, 8])],
    );
    expect_err(
        &k,
        "broadcast %0 : i32[4x8]",
        &["i32[2x1]", "i32[4x8]", "axis 0"],
    );
    let k = one_op(
        &[val(DType::I32, &[1])],
        |v| OpKind::Broadcast(v[0]),
        vec![val(DType::F32, &[4])],
    );
    expect_err(&k, "broadcast %0 : f32[4]", &["i32[1]", "f32[4]"]);
}

#[test]
fn expand_dims_rules() {
    let k = one_op(
        &[val(DType::I32, &[16])],
        |v| OpKind::ExpandDims {
            value: v[0],
            axis: 2,
        },
        vec![val(DType::I32, &[16, 1])],
    );
    expect_err(&k, "expand_dims %0, axis 2", &["axis 2", "i32[16]"]);
    let k = one_op(
        &[val(DType::I32, &[16])],
        |v| OpKind::ExpandDims {
            value: v[0],
            axis: 0,
        },
        vec![val(DType::I32, &[16, 1])],
    );
    expect_err(
        &k,
        "expand_dims %0, axis 0 : i32[16x1]",
        &["i32[16x1]", "expected i32[1x16]"],
    );
}

#[test]
fn reshape_rules() {
    let k = one_op(
        &[val(DType::F32, &[4, 8])],
        |v| OpKind::Reshape(v[0]),
        vec![val(DType::F32, &[16])],
    );
    expect_err(
        &k,
        "reshape %0 : f32[16]",
        &["f32[4x8]", "f32[16]", "number of elements"],
    );
    let k = one_op(
        &[val(DType::F32, &[4, 8])],
        |v| OpKind::Reshape(v[0]),
        vec![val(DType::I32, &[32])],
    );
    expect_err(&k, "reshape %0 : i32[32]", &["f32[4x8]", "i32[32]"]);
}

#[test]
fn reduce_rules() {
    let red = |op, axis| {
        move |v: &[ValueId]| OpKind::Reduce {
            op,
            value: v[0],
            axis,
        }
    };
    let k = one_op(
        &[val(DType::F32, &[4, 8])],
        red(ReduceOp::Sum, 2),
        vec![val(DType::F32, &[4])],
    );
    expect_err(&k, "reduce_sum %0, axis 2", &["axis 2", "f32[4x8]"]);
    let k = one_op(
        &[val(DType::F32, &[4, 8])],
        red(ReduceOp::Max, 0),
        vec![val(DType::F32, &[4])],
    );
    expect_err(
        &k,
        "reduce_max %0, axis 0 : f32[4]",
        &["f32[4]", "expected f32[8]"],
    );
    let k = one_op(
        &[val(DType::Bool, &[4])],
        red(ReduceOp::Min, 0),
        vec![TileType::scalar(DType::Bool)],
    );
    expect_err(&k, "reduce_min %0, axis 0 : bool", &["bool[4]"]);
    let k = one_op(
        &[TileType::scalar(DType::I32)],
        red(ReduceOp::Sum, 0),
        vec![TileType::scalar(DType::I32)],
    );
    expect_err(&k, "reduce_sum %0, axis 0", &["axis 0", "rank 0"]);
}

#[test]
fn dot_rules() {
    let dot = |v: &[ValueId]| OpKind::Dot {
        a: v[0],
        b: v[1],
        acc: v[2],
    };
    let k = one_op(
        &[
            val(DType::F32, &[16]),
            val(DType::F32, &[16, 16]),
            val(DType::F32, &[16, 16]),
        ],
        dot,
        vec![val(DType::F32, &[16, 16])],
    );
    expect_err(&k, "dot %0, %1, %2", &["rank 2", "f32[16]"]);
    let k = one_op(
        &[
            val(DType::F16, &[16, 32]),
            val(DType::F16, &[16, 16]),
            val(DType::F32, &[16, 16]),
        ],
        dot,
        vec![val(DType::F32, &[16, 16])],
    );
    expect_err(
        &k,
        "dot %0, %1, %2",
        &["f16[16x32]", "f16[16x16]", "f32[16x16]"],
    );
    let k = one_op(
        &[
            val(DType::F16, &[16, 32]),
            val(DType::F16, &[32, 8]),
            val(DType::F32, &[16, 16]),
        ],
        dot,
        vec![val(DType::F32, &[16, 16])],
    );
    expect_err(&k, "dot %0, %1, %2", &["f32[16x16]", "f16[32x8]"]);
    let k = one_op(
        &[
            val(DType::I8, &[16, 16]),
            val(DType::I8, &[16, 16]),
            val(DType::F32, &[16, 16]),
        ],
        dot,
        vec![val(DType::F32, &[16, 16])],
    );
    expect_err(
        &k,
        "dot %0, %1, %2",
        &["unsupported", "i8[16x16]", "f32[16x16]"],
    );
    let k = one_op(
        &[
            val(DType::F16, &[16, 16]),
            val(DType::BF16, &[16, 16]),
            val(DType::F32, &[16, 16]),
        ],
        dot,
        vec![val(DType::F32, &[16, 16])],
    );
    expect_err(&k, "dot %0, %1, %2", &["unsupported", "bf16[16x16]"]);
    let k = one_op(
        &[
            val(DType::F32, &[16, 16]),
            val(DType::F32, &[16, 16]),
            val(DType::F32, &[16, 16]),
        ],
        dot,
        vec![val(DType::F16, &[16, 16])],
    );
    expect_err(
        &k,
        "dot %0, %1, %2 : f16[16x16]",
        &["f16[16x16]", "expected f32[16x16]"],
    );
}

// ---------------------------------------------------------------------------------------------
// Memory.

#[test]
fn addptr_rules() {
    let add = |v: &[ValueId]| OpKind::AddPtr {
        ptr: v[0],
        offset: v[1],
    };
    let k = one_op(
        &[val(DType::I32, &[4]), val(DType::I32, &[4])],
        add,
        vec![val(DType::I32, &[4])],
    );
    expect_err(&k, "addptr %0, %1", &["pointer", "i32[4]"]);
    let k = one_op(
        &[ptr(DType::F32, &[4]), val(DType::F32, &[4])],
        add,
        vec![ptr(DType::F32, &[4])],
    );
    expect_err(&k, "addptr %", &["offset", "f32[4]"]);
    let k = one_op(
        &[ptr(DType::F32, &[4]), ptr(DType::F32, &[4])],
        add,
        vec![ptr(DType::F32, &[4])],
    );
    expect_err(&k, "addptr %", &["offset", "ptr<f32>[4]"]);
    let k = one_op(
        &[ptr(DType::F32, &[4]), val(DType::I32, &[8])],
        add,
        vec![ptr(DType::F32, &[4])],
    );
    expect_err(&k, "addptr %", &["different shapes ptr<f32>[4] and i32[8]"]);
    let k = one_op(
        &[ptr(DType::F32, &[4]), val(DType::I32, &[4])],
        add,
        vec![ptr(DType::F16, &[4])],
    );
    expect_err(&k, "addptr %", &["ptr<f16>[4]", "expected ptr<f32>[4]"]);
}

#[test]
fn load_rules() {
    let p = ptr(DType::F32, &[8]);
    let k = one_op(
        &[val(DType::I32, &[8])],
        |v| OpKind::Load {
            ptr: v[0],
            mask: None,
            other: None,
        },
        vec![val(DType::I32, &[8])],
    );
    expect_err(&k, "load %0 : i32[8]", &["pointer", "i32[8]"]);
    let k = one_op(
        &[p.clone(), val(DType::I32, &[8])],
        |v| OpKind::Load {
            ptr: v[0],
            mask: Some(v[1]),
            other: None,
        },
        vec![val(DType::F32, &[8])],
    );
    expect_err(&k, ", mask %", &["mask", "i32[8]"]);
    let k = one_op(
        &[p.clone(), val(DType::Bool, &[4])],
        |v| OpKind::Load {
            ptr: v[0],
            mask: Some(v[1]),
            other: None,
        },
        vec![val(DType::F32, &[8])],
    );
    expect_err(
        &k,
        ", mask %",
        &["different shapes bool[4] and ptr<f32>[8]"],
    );
    let k = one_op(
        &[p.clone(), val(DType::F16, &[8])],
        |v| OpKind::Load {
            ptr: v[0],
            mask: None,
            other: Some(v[1]),
        },
        vec![val(DType::F32, &[8])],
    );
    expect_err(&k, ", other %", &["f16[8]", "expected f32[8]"]);
    let k = one_op(
        &[p.clone()],
        |v| OpKind::Load {
            ptr: v[0],
            mask: None,
            other: None,
        },
        vec![val(DType::F16, &[8])],
    );
    expect_err(&k, "load %", &["f16[8]", "expected f32[8]"]);
}

#[test]
fn store_rules() {
    let p = ptr(DType::F32, &[8]);
    let st = |v: &[ValueId]| OpKind::Store {
        ptr: v[0],
        value: v[1],
        mask: v.get(2).copied(),
    };
    let k = one_op(&[val(DType::F32, &[8]), val(DType::F32, &[8])], st, vec![]);
    expect_err(&k, "store %0, %1", &["pointer", "f32[8]"]);
    let k = one_op(&[p.clone(), val(DType::F16, &[8])], st, vec![]);
    expect_err(&k, "store %", &["f16[8]", "expected f32[8]"]);
    let k = one_op(&[p.clone(), val(DType::F32, &[4])], st, vec![]);
    expect_err(&k, "store %", &["f32[4]", "expected f32[8]"]);
    let k = one_op(
        &[p.clone(), val(DType::F32, &[8]), val(DType::F32, &[8])],
        st,
        vec![],
    );
    expect_err(&k, "store %", &["mask", "f32[8]"]);
    let k = one_op(
        &[p.clone(), val(DType::F32, &[8]), val(DType::Bool, &[2])],
        st,
        vec![],
    );
    expect_err(&k, "store %", &["bool[2]", "ptr<f32>[8]"]);
}

#[test]
fn atomic_add_rules() {
    let at = |v: &[ValueId]| OpKind::Atomic {
        op: AtomicOp::Add,
        ptr: v[0],
        value: v[1],
        mask: v.get(2).copied(),
    };
    let k = one_op(
        &[ptr(DType::I8, &[8]), val(DType::I8, &[8])],
        at,
        vec![val(DType::I8, &[8])],
    );
    expect_err(&k, "atomic_add %", &["i8[8]"]);
    let k = one_op(
        &[ptr(DType::F16, &[8]), val(DType::F16, &[8])],
        at,
        vec![val(DType::F16, &[8])],
    );
    expect_err(&k, "atomic_add %", &["f16[8]"]);
    let k = one_op(
        &[ptr(DType::I32, &[8]), val(DType::I32, &[8])],
        at,
        vec![val(DType::I64, &[8])],
    );
    expect_err(&k, "atomic_add %", &["i64[8]", "expected i32[8]"]);
    let k = one_op(
        &[ptr(DType::I32, &[8]), val(DType::U32, &[8])],
        at,
        vec![val(DType::I32, &[8])],
    );
    expect_err(&k, "atomic_add %", &["u32[8]", "expected i32[8]"]);
    let k = one_op(
        &[
            ptr(DType::I32, &[8]),
            val(DType::I32, &[8]),
            val(DType::I32, &[8]),
        ],
        at,
        vec![val(DType::I32, &[8])],
    );
    expect_err(&k, "atomic_add %", &["mask", "i32[8]"]);
}

// ---------------------------------------------------------------------------------------------
// Control flow.

/// `for i = lower to upper step step iter_args(init)` yielding the carried values unchanged.
fn simple_loop(bounds: [TileType; 3], init: &[TileType]) -> Kernel {
    let mut b = KernelBuilder::new("k");
    let [l, u, s] = bounds.map(|t| tile(&mut b, &t));
    let init: Vec<ValueId> = init.iter().map(|t| tile(&mut b, t)).collect();
    let (_, carried) = b.begin_for(l, u, s, init);
    b.end_for(carried).expect("open loop");
    b.finish().expect("closed")
}

fn for_op(k: &mut Kernel) -> &mut Op {
    k.body
        .ops
        .iter_mut()
        .find(|op| matches!(op.kind, OpKind::For { .. }))
        .expect("a loop")
}

fn for_body(k: &mut Kernel) -> &mut Block {
    match &mut for_op(k).kind {
        OpKind::For { body, .. } => body,
        _ => unreachable!(),
    }
}

#[test]
fn for_bounds() {
    let i = TileType::scalar(DType::I32);
    let k = simple_loop([i.clone(), i.clone(), i.clone()], &[val(DType::F32, &[4])]);
    expect_ok(&k);
    let f = TileType::scalar(DType::F32);
    let k = simple_loop([f.clone(), f.clone(), f.clone()], &[]);
    expect_err(&k, "for %3 = %0 to %1 step %2", &["scalar integer", "f32"]);
    let k = simple_loop([val(DType::I32, &[2]), i.clone(), i.clone()], &[]);
    expect_err(&k, "for %", &["scalar integer", "i32[2]"]);
    let k = simple_loop([i.clone(), TileType::scalar(DType::I64), i.clone()], &[]);
    expect_err(&k, "for %", &["upper bound", "i32", "i64"]);
    let k = simple_loop([i.clone(), i.clone(), TileType::scalar(DType::U32)], &[]);
    expect_err(&k, "for %", &["step", "i32", "u32"]);
    let k = simple_loop([i.clone(), i.clone(), val(DType::I32, &[1])], &[]);
    expect_err(&k, "for %", &["step", "i32[1]"]);
}

#[test]
fn for_block_arguments() {
    let i = TileType::scalar(DType::I32);
    let bounds = || [i.clone(), i.clone(), i.clone()];
    // Missing carried argument.
    let mut k = simple_loop(bounds(), &[val(DType::F32, &[4])]);
    for_body(&mut k).args.pop();
    expect_err(&k, "iter_args(? = %3)", &["1 argument(s), expected 2"]);
    // Induction variable of the wrong type.
    let mut k = simple_loop(bounds(), &[val(DType::F32, &[4])]);
    let iv = for_body(&mut k).args[0];
    k.values[iv.index()] = TileType::scalar(DType::I64);
    expect_err(
        &k,
        "for %4 = %0 to %1 step %2",
        &["induction variable %4", "i64", "expected i32"],
    );
    // Carried argument of the wrong type.
    let mut k = simple_loop(bounds(), &[val(DType::F32, &[4])]);
    let a = for_body(&mut k).args[1];
    k.values[a.index()] = val(DType::F16, &[4]);
    expect_err(&k, "iter_args(%5 = %3)", &["%5", "f16[4]", "f32[4]"]);
}

#[test]
fn for_yield_and_results() {
    let i = TileType::scalar(DType::I32);
    let bounds = || [i.clone(), i.clone(), i.clone()];
    // Yield of the wrong type: yield the induction variable instead of the f32 tile.
    let mut k = simple_loop(bounds(), &[val(DType::F32, &[4])]);
    let iv = for_body(&mut k).args[0];
    for_body(&mut k).ops[0].kind = OpKind::Yield(vec![iv]);
    expect_err(&k, "for %4", &["yields (i32)", "(f32[4])"]);
    // Yield of too many values.
    let mut k = simple_loop(bounds(), &[val(DType::F32, &[4])]);
    let args = for_body(&mut k).args.clone();
    for_body(&mut k).ops[0].kind = OpKind::Yield(args);
    expect_err(&k, "for %4", &["yields (i32, f32[4])", "(f32[4])"]);
    // No yield.
    let mut k = simple_loop(bounds(), &[]);
    for_body(&mut k).ops.clear();
    expect_err(
        &k,
        "for %3 = %0 to %1 step %2",
        &["loop body does not end with yield"],
    );
    // Result of the wrong type.
    let mut k = simple_loop(bounds(), &[val(DType::F32, &[4])]);
    let r = for_op(&mut k).results[0];
    k.values[r.index()] = val(DType::F32, &[8]);
    expect_err(&k, "%6 = for %4", &["%6", "f32[8]", "f32[4]"]);
    // Wrong number of results.
    let mut k = simple_loop(bounds(), &[val(DType::F32, &[4])]);
    for_op(&mut k).results.clear();
    expect_err(&k, "for %4", &["0 result(s), expected 1"]);
}

/// `if cond { yield then } else { yield else }` with results typed as the then-values.
fn simple_if(cond: TileType, then_types: &[TileType], else_types: &[TileType]) -> Kernel {
    let mut b = KernelBuilder::new("k");
    let c = tile(&mut b, &cond);
    b.begin_if(c);
    let t: Vec<ValueId> = then_types.iter().map(|t| tile(&mut b, t)).collect();
    b.begin_else(t).expect("open then");
    let e: Vec<ValueId> = else_types.iter().map(|t| tile(&mut b, t)).collect();
    b.end_if(e).expect("open else");
    b.finish().expect("closed")
}

fn if_op(k: &mut Kernel) -> &mut Op {
    k.body
        .ops
        .iter_mut()
        .find(|op| matches!(op.kind, OpKind::If { .. }))
        .expect("an if")
}

#[test]
fn if_rules() {
    let f = TileType::scalar(DType::F32);
    let bo = TileType::scalar(DType::Bool);
    expect_ok(&simple_if(bo.clone(), &[f.clone()], &[f.clone()]));
    let k = simple_if(val(DType::Bool, &[4]), &[f.clone()], &[f.clone()]);
    expect_err(&k, "%3 = if %0", &["scalar bool", "bool[4]"]);
    let k = simple_if(TileType::scalar(DType::I32), &[], &[]);
    expect_err(&k, "if %0", &["scalar bool", "i32"]);
    let k = simple_if(bo.clone(), &[f.clone()], &[TileType::scalar(DType::F16)]);
    expect_err(
        &k,
        "%3 = if %0",
        &["then block yields (f32)", "else block yields (f16)"],
    );
    let k = simple_if(bo.clone(), &[f.clone()], &[]);
    expect_err(&k, "%2 = if %0", &["(f32)", "()"]);
    // Results typed differently from the yields.
    let mut k = simple_if(bo.clone(), &[f.clone()], &[f.clone()]);
    let r = if_op(&mut k).results[0];
    k.values[r.index()] = val(DType::F32, &[2]);
    expect_err(
        &k,
        "%3 = if %0",
        &["results have types (f32[2])", "yield (f32)"],
    );
    // Too many results.
    let mut k = simple_if(bo.clone(), &[f.clone()], &[f.clone()]);
    if_op(&mut k).results.clear();
    expect_err(&k, "if %0", &["results have types ()", "yield (f32)"]);
    // Missing yield in the else block.
    let mut k = simple_if(bo.clone(), &[], &[]);
    if let OpKind::If { else_block, .. } = &mut if_op(&mut k).kind {
        else_block.ops.clear();
    }
    expect_err(&k, "if %0", &["else block does not end with yield"]);
    // Block arguments.
    let mut k = simple_if(bo.clone(), &[], &[]);
    if let OpKind::If { then_block, .. } = &mut if_op(&mut k).kind {
        then_block.args.push(ValueId(0));
    }
    expect_err(&k, "if %0", &["no arguments"]);
}

#[test]
fn yield_placement() {
    // In the kernel body.
    let mut b = KernelBuilder::new("k");
    let x = common::ci32(&mut b, 1);
    b.push(OpKind::Yield(vec![x]), vec![]);
    let k = b.finish().expect("closed");
    let e = expect_err(&k, "yield %0", &["kernel body"]);
    assert_eq!(e.op, "yield %0");
    // Not last in a loop body (an op after it).
    let mut k = simple_loop(
        [
            TileType::scalar(DType::I32),
            TileType::scalar(DType::I32),
            TileType::scalar(DType::I32),
        ],
        &[],
    );
    let n = k.values.len() as u32;
    k.values.push(TileType::scalar(DType::I32));
    for_body(&mut k).ops.push(Op {
        kind: OpKind::ProgramId(0),
        results: vec![ValueId(n)],
    });
    expect_err(&k, "yield", &["last op", "1 op(s) follow"]);
    // Two yields in an if block.
    let mut k = simple_if(TileType::scalar(DType::Bool), &[], &[]);
    if let OpKind::If { then_block, .. } = &mut if_op(&mut k).kind {
        then_block.ops.insert(
            0,
            Op {
                kind: OpKind::Yield(vec![]),
                results: vec![],
            },
        );
    }
    expect_err(&k, "yield", &["last op"]);
    // A yield with results.
    let mut k = simple_if(TileType::scalar(DType::Bool), &[], &[]);
    let n = k.values.len() as u32;
    k.values.push(TileType::scalar(DType::I32));
    if let OpKind::If { then_block, .. } = &mut if_op(&mut k).kind {
        then_block.ops[0].results.push(ValueId(n));
    }
    expect_err(&k, "yield", &["1 result(s), expected 0"]);
}

#[test]
fn nested_errors_name_the_inner_op() {
    let mut k = common::matmul_kernel();
    let body = for_body(&mut k);
    let dot = body
        .ops
        .iter_mut()
        .find(|op| matches!(op.kind, OpKind::Dot { .. }))
        .expect("a dot");
    if let OpKind::Dot { acc, .. } = &mut dot.kind {
        *acc = ValueId(24); // The outer constant, i32[16x16]: valid, visible.
    }
    expect_ok(&k);
    let mut k = common::matmul_kernel();
    let body = for_body(&mut k);
    let dot = body
        .ops
        .iter_mut()
        .find(|op| matches!(op.kind, OpKind::Dot { .. }))
        .expect("a dot");
    if let OpKind::Dot { acc, .. } = &mut dot.kind {
        *acc = ValueId(37); // The i8[16x16] constant.
    }
    let e = expect_err(&k, "%48 = dot %38, %47, %37 : i32[16x16]", &["i8[16x16]"]);
    assert!(
        e.to_string()
            .starts_with("kernel `matmul_i8`: in `%48 = dot"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------------
// Robustness: mutated kernels give errors, never panics.

/// Applies `f` to every value id used or defined anywhere in `block`.
fn map_block(block: &mut Block, f: &mut impl FnMut(ValueId) -> ValueId) {
    for a in &mut block.args {
        *a = f(*a);
    }
    for op in &mut block.ops {
        for r in &mut op.results {
            *r = f(*r);
        }
        match &mut op.kind {
            OpKind::Constant(_)
            | OpKind::ProgramId(_)
            | OpKind::NumPrograms(_)
            | OpKind::Arange(_) => {}
            OpKind::Unary(_, v)
            | OpKind::Cast(v)
            | OpKind::Bitcast(v)
            | OpKind::Broadcast(v)
            | OpKind::Reshape(v)
            | OpKind::Hint { value: v, .. }
            | OpKind::ExpandDims { value: v, .. }
            | OpKind::Permute { value: v, .. }
            | OpKind::Slice { value: v, .. }
            | OpKind::Print { value: v, .. }
            | OpKind::Assert { cond: v, .. }
            | OpKind::Reduce { value: v, .. } => *v = f(*v),
            OpKind::Binary(_, a, b)
            | OpKind::Cmp(_, a, b)
            | OpKind::Concat { a, b, .. }
            | OpKind::AddPtr { ptr: a, offset: b } => {
                *a = f(*a);
                *b = f(*b);
            }
            OpKind::Select {
                cond: a,
                on_true: b,
                on_false: c,
            }
            | OpKind::Dot { a, b, acc: c }
            | OpKind::Fma(a, b, c) => {
                *a = f(*a);
                *b = f(*b);
                *c = f(*c);
            }
            OpKind::Load { ptr, mask, other } => {
                *ptr = f(*ptr);
                for v in mask.iter_mut().chain(other.iter_mut()) {
                    *v = f(*v);
                }
            }
            OpKind::Store { ptr, value, mask }
            | OpKind::Atomic {
                ptr, value, mask, ..
            } => {
                *ptr = f(*ptr);
                *value = f(*value);
                for v in mask.iter_mut() {
                    *v = f(*v);
                }
            }
            OpKind::For {
                lower,
                upper,
                step,
                init,
                body,
            } => {
                *lower = f(*lower);
                *upper = f(*upper);
                *step = f(*step);
                for v in init.iter_mut() {
                    *v = f(*v);
                }
                map_block(body, f);
            }
            OpKind::AtomicCas {
                ptr,
                cmp,
                value,
                mask,
            } => {
                for v in [ptr, cmp, value].into_iter().chain(mask.iter_mut()) {
                    *v = f(*v);
                }
            }
            OpKind::While { init, body } => {
                for v in init.iter_mut() {
                    *v = f(*v);
                }
                map_block(body, f);
            }
            OpKind::If {
                cond,
                then_block,
                else_block,
            } => {
                *cond = f(*cond);
                map_block(then_block, f);
                map_block(else_block, f);
            }
            OpKind::Yield(vals) => {
                for v in vals.iter_mut() {
                    *v = f(*v);
                }
            }
        }
    }
}

#[test]
fn mutated_types_never_panic() {
    let types = [
        TileType::scalar(DType::I32),
        TileType::scalar(DType::Bool),
        TileType::new(ElemType::Ptr(DType::F32), vec![]),
        val(DType::F32, &[8]),
        val(DType::I8, &[4, 8]),
        val(DType::F16, &[8, 4]),
        val(DType::I32, &[3]),
        val(DType::U8, &[]),
        TileType::new(ElemType::Ptr(DType::I32), vec![8]),
        val(DType::F32, &[u32::MAX, u32::MAX, u32::MAX]),
    ];
    for base in [
        common::all_ops_kernel(),
        common::matmul_kernel(),
        common::if_kernel(),
    ] {
        let mut failures = 0;
        for i in 0..base.values.len() {
            for t in &types {
                if base.values[i] == *t {
                    continue;
                }
                let mut k = base.clone();
                k.values[i] = t.clone();
                if verify(&k).is_err() {
                    failures += 1;
                }
            }
        }
        assert!(failures > 0);
    }
}

#[test]
fn mutated_value_ids_never_panic() {
    for base in [
        common::all_ops_kernel(),
        common::matmul_kernel(),
        common::if_kernel(),
    ] {
        let n = base.values.len() as u32;
        for from in 0..n {
            for to in [0, from / 2, from + 1, n - 1, n, u32::MAX] {
                if to == from {
                    continue;
                }
                let mut k = base.clone();
                map_block(&mut k.body, &mut |v| {
                    if v.0 == from {
                        ValueId(to)
                    } else {
                        v
                    }
                });
                // Either still valid (a renaming to an equivalent value) or an error.
                let _ = verify(&k);
                // Renaming a definition to an undefined id is always caught.
                if to >= n {
                    assert!(verify(&k).is_err(), "{from} -> {to}\n{k}");
                }
            }
        }
    }
}

#[test]
fn verify_all_reports_every_error_in_order_and_verify_the_first() {
    let k = bitmat_ir::parse_kernel(
        "kernel @three(%0: ptr<i32> out, %1: i32 n) {
  %2 = add %1, %9 : i32
  %3 = arange 6 : i32[6]
  %4 = cmp_lt %1, %1 : i32
  %5 = add %2, %4 : i32
  store %0, %5
}",
    )
    .expect("parses");
    let all = bitmat_ir::verify::verify_all(&k);
    let messages: Vec<&str> = all.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "value %9 is used before it is defined",
            "arange extent 6 is not a power of two",
            "result type is i32, expected bool",
        ],
        "{all:#?}"
    );
    assert_eq!(bitmat_ir::verify::verify(&k), Err(all[0].clone()));
}

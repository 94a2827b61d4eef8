//! Snapshot tests of the text printer.

mod common;

use bitmat_ir::print::op_to_string;
use bitmat_ir::{DType, KernelBuilder, OpKind, ParamKind, Scalar};

#[test]
fn prints_matmul() {
    insta::assert_snapshot!(common::matmul_kernel().to_string());
}

#[test]
fn prints_if() {
    insta::assert_snapshot!(common::if_kernel().to_string());
}

#[test]
fn prints_all_ops() {
    insta::assert_snapshot!(common::all_ops_kernel().to_string());
}

#[test]
fn prints_empty_kernel() {
    let k = KernelBuilder::new("empty").finish().expect("no open block");
    assert_eq!(k.to_string(), "kernel @empty() {\n}");
}

#[test]
fn one_liners() {
    let k = common::matmul_kernel();
    let lines: Vec<String> = k.body.ops.iter().map(|op| op_to_string(&k, op)).collect();
    insta::assert_snapshot!(lines.join("\n"));
    let for_op = k
        .body
        .ops
        .iter()
        .find(|op| matches!(op.kind, OpKind::For { .. }))
        .expect("a loop");
    let line = op_to_string(&k, for_op);
    assert!(line.contains(" = for %"), "{line}");
    assert!(!line.contains('{'), "{line}");
    assert!(!line.contains(" : "), "{line}");
}

#[test]
fn prints_garbage_without_panicking() {
    let mut b = KernelBuilder::new("garbage");
    b.param("n", ParamKind::Scalar(DType::I32));
    b.constant(Scalar::from_i64(DType::I32, 1), vec![]);
    let mut k = b.finish().expect("no open block");
    k.body.ops[0].results[0] = bitmat_ir::ValueId(99);
    k.body.ops.push(bitmat_ir::Op {
        kind: OpKind::For {
            lower: bitmat_ir::ValueId(0),
            upper: bitmat_ir::ValueId(0),
            step: bitmat_ir::ValueId(0),
            init: vec![bitmat_ir::ValueId(7)],
            body: bitmat_ir::Block::default(),
        },
        results: vec![],
    });
    assert_eq!(op_to_string(&k, &k.body.ops[0]), "%99 = constant 1 : ?");
    assert_eq!(
        op_to_string(&k, &k.body.ops[1]),
        "for ? = %0 to %0 step %0 iter_args(? = %7)"
    );
    let text = k.to_string();
    assert!(text.contains("%99 = constant 1 : ?"), "{text}");
}

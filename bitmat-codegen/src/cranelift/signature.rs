//! The Cranelift signatures of the CPU ABI ([`crate::cpu::abi`]): the program function's and
//! each helper's.

use crate::cpu::abi::PROGRAM_PARAMS;
use crate::cpu::helpers::{AbiType, Helper};
use cranelift_codegen::ir::{types, AbiParam, Signature, Type};
use cranelift_codegen::isa::CallConv;

/// The Cranelift signature of a program for the calling convention `call_conv`.
pub fn program_signature(call_conv: CallConv) -> Signature {
    let mut sig = Signature::new(call_conv);
    for _ in 0..PROGRAM_PARAMS {
        sig.params.push(AbiParam::new(types::I64));
    }
    sig
}

/// The Cranelift type of a helper's parameter or result.
fn cranelift_type(t: AbiType) -> Type {
    match t {
        AbiType::I32 => types::I32,
        AbiType::I64 => types::I64,
        AbiType::F32 => types::F32,
    }
}

/// The Cranelift signature of helper `h`.
pub fn helper_signature(h: &Helper, call_conv: CallConv) -> Signature {
    let mut sig = Signature::new(call_conv);
    sig.params
        .extend(h.params.iter().map(|&t| AbiParam::new(cranelift_type(t))));
    sig.returns
        .extend(h.results.iter().map(|&t| AbiParam::new(cranelift_type(t))));
    sig
}

//! Virtual registers: classes, how IR element types map onto them, and their declarations.
//!
//! Integers of up to 32 bits live in `.b32` registers, kept sign-extended (signed types) or
//! zero-extended (unsigned types) from their width; 64-bit integers and pointers in `.b64`;
//! every float type in `.f32` (an f16/bf16 value is an f32 that the type represents exactly:
//! each op computes in f32 and rounds back, as the interpreter does); `bool` in `.pred`.

use bitmat_ir::{DType, ElemType};

/// A register class.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Class {
    /// `.pred` (`%p`).
    Pred,
    /// `.b16` (`%h`), only as a temporary for f16/bf16 conversions.
    B16,
    /// `.b32` (`%r`).
    B32,
    /// `.b64` (`%rd`).
    B64,
    /// `.f32` (`%f`).
    F32,
}

impl Class {
    const ALL: [Class; 5] = [Class::Pred, Class::B16, Class::B32, Class::B64, Class::F32];

    fn prefix(self) -> &'static str {
        match self {
            Class::Pred => "%p",
            Class::B16 => "%h",
            Class::B32 => "%r",
            Class::B64 => "%rd",
            Class::F32 => "%f",
        }
    }

    fn decl(self) -> &'static str {
        match self {
            Class::Pred => ".pred",
            Class::B16 => ".b16",
            Class::B32 => ".b32",
            Class::B64 => ".b64",
            Class::F32 => ".f32",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The register class holding elements of type `e`.
pub(crate) fn class_of(e: ElemType) -> Class {
    match e {
        ElemType::Ptr(_) => Class::B64,
        ElemType::Val(d) => dclass(d),
    }
}

/// The register class holding values of type `d`.
pub(crate) fn dclass(d: DType) -> Class {
    match d {
        DType::Bool => Class::Pred,
        DType::I64 | DType::U64 => Class::B64,
        DType::F16 | DType::BF16 | DType::F32 => Class::F32,
        _ => Class::B32,
    }
}

/// Hands out numbered registers per class and writes their declarations.
#[derive(Default)]
pub(crate) struct Regs {
    counts: [u32; 5],
}

impl Regs {
    /// A fresh register of class `c`.
    pub fn new_reg(&mut self, c: Class) -> String {
        let n = &mut self.counts[c.index()];
        *n += 1;
        format!("{}{}", c.prefix(), *n - 1)
    }

    /// The `.reg` declarations of every register handed out.
    pub fn declarations(&self) -> String {
        let mut s = String::new();
        for c in Class::ALL {
            let n = self.counts[c.index()];
            if n > 0 {
                s.push_str(&format!("    .reg {} {}<{}>;\n", c.decl(), c.prefix(), n));
            }
        }
        s
    }
}

//! Specialization on launch facts (Triton's "specialization" of `tl.constexpr`-free
//! arguments): what a launch's arguments are known to satisfy becomes part of the kernel the
//! backend compiles, and of the cache key, so the code can rely on it.
//!
//! Per parameter, an [`ArgFact`]: a pointer 16-byte aligned, an integer a multiple of 16 or
//! of 128 (recorded as [`Param::divisibility`](crate::Param::divisibility), which the
//! contiguity analysis reads: aligned vector accesses need no run-time test, and a bound
//! that is a multiple of the block makes a mask uniform over each vector), or an integer
//! equal to 1 (its uses become the constant 1, which [`super::optimize`] then folds: a unit
//! stride makes a pointer tile contiguous). Triton stops at 16; 128 also covers the bound of
//! a block of up to 512 packed 2-bit codes (`k / 4` bytes of a ternary row).

use super::substitute;
use crate::kernel::{Kernel, Op, OpKind, ParamKind, ValueId};
use crate::scalar::Scalar;
use crate::types::{ElemType, TileType};
use std::collections::HashMap;

/// What one argument of a launch is known to satisfy.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ArgFact {
    /// Nothing.
    None,
    /// A pointer whose address is a multiple of 16, or an integer that is a multiple of 16
    /// (and not of 128).
    Multiple16,
    /// An integer that is a multiple of 128.
    Multiple128,
    /// An integer equal to 1.
    One,
}

impl ArgFact {
    /// The fact of integer argument `s` (a multiple of 16 includes 0); `None` for floats and
    /// `bool`.
    pub fn of_scalar(s: Scalar) -> ArgFact {
        if !s.dtype().is_int() {
            return ArgFact::None;
        }
        match s.as_i64() {
            1 => ArgFact::One,
            v if v % 128 == 0 => ArgFact::Multiple128,
            v if v % 16 == 0 => ArgFact::Multiple16,
            _ => ArgFact::None,
        }
    }

    /// The fact of a pointer argument at address `addr`.
    pub fn of_address(addr: u64) -> ArgFact {
        if addr % 16 == 0 {
            ArgFact::Multiple16
        } else {
            ArgFact::None
        }
    }

    /// The letter a cache key shows for it: `-`, `D` (divisible by 16), `E` (by 128) or `1`.
    pub fn letter(self) -> char {
        match self {
            ArgFact::None => '-',
            ArgFact::Multiple16 => 'D',
            ArgFact::Multiple128 => 'E',
            ArgFact::One => '1',
        }
    }
}

/// Applies `facts` (one per parameter, in order; missing ones are [`ArgFact::None`]) to
/// `kernel`: divisibilities recorded on the parameters, uses of integers equal to 1 replaced
/// by a constant, then [`super::optimize`]. The parameters stay (the launch ABI is the same).
pub fn apply(kernel: &mut Kernel, facts: &[ArgFact]) {
    let mut map: HashMap<ValueId, ValueId> = HashMap::new();
    let mut constants = Vec::new();
    for (i, p) in kernel.params.iter_mut().enumerate() {
        match (facts.get(i).copied().unwrap_or(ArgFact::None), p.kind) {
            (ArgFact::Multiple16, _) => p.divisibility = p.divisibility.max(16),
            (ArgFact::Multiple128, _) => p.divisibility = p.divisibility.max(128),
            (ArgFact::One, ParamKind::Scalar(d)) if d.is_int() => {
                let c = ValueId(kernel.values.len() as u32);
                kernel.values.push(TileType::new(ElemType::Val(d), vec![]));
                constants.push(Op {
                    kind: OpKind::Constant(Scalar::from_i64(d, 1)),
                    results: vec![c],
                });
                map.insert(p.value, c);
            }
            _ => {}
        }
    }
    if !map.is_empty() {
        substitute(&mut kernel.body, &map);
        kernel.body.ops.splice(0..0, constants);
    }
    super::optimize(kernel);
}

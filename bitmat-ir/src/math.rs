//! What the float unary ops compute, as functions on `f32`: the interpreter evaluates them
//! (f16/bf16 widened to f32 and the result rounded back) and the CPU backends call the same
//! functions from compiled code, so the two agree bit for bit on every input.
//!
//! Accuracy against the exact value (measured against Rust's `f64` functions by the
//! conformance suite's `math::*_accuracy` tests, which check the bounds below on every
//! backend):
//! - `floor`, `ceil`, `round`, `sqrt`, `abs`, `neg`: exact (correctly rounded).
//! - `exp`, `log` (Rust's `f32::exp`/`f32::ln`), `exp2`, `log2`, `sin`, `cos` (the `libm`
//!   crate, a port of musl, with full range reduction for `sin`/`cos`): within 1 ulp.
//! - `tanh`, `erf` (`libm`): within 2 ulp.
//! - `sigmoid`: `1 / (1 + exp(-x))` in f32, within 3 ulp (one ulp from `exp`, one rounding
//!   each for the sum and the quotient); results below the smallest normal f32 may be flushed
//!   towards zero by the intermediate `exp(-x)` overflowing to infinity.
//! - `rsqrt`: `1 / sqrt(x)`, two roundings, within 1 ulp.
//!
//! NaN inputs give NaN, `±inf` give the limits (`tanh(±inf) = ±1`, `erf(±inf) = ±1`,
//! `sigmoid(-inf) = 0`, `sigmoid(inf) = 1`; `sin`/`cos` of an infinity is NaN).
//! The GPU may approximate: see `bitmat-codegen/src/ptx/lower/elementwise.rs` for its bounds.

use crate::kernel::UnaryOp;

fn rsqrt(x: f32) -> f32 {
    1.0 / x.sqrt()
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// The function float `op` computes on `f32`; `None` for `not`, which floats do not have.
pub fn f32_fn(op: UnaryOp) -> Option<fn(f32) -> f32> {
    Some(match op {
        UnaryOp::Neg => |a| -a,
        UnaryOp::Abs => f32::abs,
        UnaryOp::Exp => f32::exp,
        UnaryOp::Log => f32::ln,
        UnaryOp::Sqrt => f32::sqrt,
        UnaryOp::Rsqrt => rsqrt,
        UnaryOp::Round => f32::round_ties_even,
        UnaryOp::Exp2 => libm::exp2f,
        UnaryOp::Log2 => libm::log2f,
        UnaryOp::Sin => libm::sinf,
        UnaryOp::Cos => libm::cosf,
        UnaryOp::Tanh => libm::tanhf,
        UnaryOp::Erf => libm::erff,
        UnaryOp::Sigmoid => sigmoid,
        UnaryOp::Floor => f32::floor,
        UnaryOp::Ceil => f32::ceil,
        UnaryOp::Not => return None,
    })
}

//! Random numbers as Triton draws them (`python/triton/language/random.py`): Philox 4x32 with
//! 10 rounds, keyed by the seed and counting by the offsets, built from integer tile ops, so
//! every backend computes the same bits.
//!
//! - [`randint`]: the first of Philox's four words for counter `(offset, offset >> 32, 0, 0)`
//!   and key `(seed, seed >> 32)` (the seed widened to 64 bits as Rust `as` does), a `u32`
//!   tile: bit-identical to `tl.randint` on every backend;
//! - [`rand`]: that word as `i32`, mapped to `[0, 1)` as Triton's `uint_to_uniform_float`
//!   (`(x < 0 ? -x - 1 : x) as f32 * 4.6566127342e-10`): one conversion and one rounding,
//!   bit-identical on every backend;
//! - [`randn`]: Box–Muller on the first two words, as `tl.randn`; it uses `log`, `sqrt` and
//!   `cos`, so it matches Triton only to the accuracy of those ops on each backend.

use super::ops::{compare, maximum, select};
use super::tile::{IntoOperand, Operand, Tile};
use super::trace::{fail, with_trace};
use crate::kernel::CmpPred;

/// Philox's Weyl constants, added to the key after each round.
const KEY: [u32; 2] = [0x9E37_79B9, 0xBB67_AE85];
/// Philox's round multipliers.
const ROUND: [u32; 2] = [0xD251_1F53, 0xCD9E_8D57];
/// Rounds, as Triton's default.
const ROUNDS: usize = 10;

/// The high 32 bits of `m * x` for the `u32` tile `x`.
fn umulhi(m: u32, x: Tile) -> Tile {
    ((x.cast::<u64>() * u64::from(m)) >> 32).cast::<u32>()
}

/// The seed as a `u64` scalar: a Rust integer (typed `i32`, or `i64` when it does not fit, as
/// Triton types a Python int) or an integer scalar tile, widened as Rust `as` does.
fn seed_u64(name: &str, seed: impl IntoOperand) -> Option<Tile> {
    let seed = match seed.into_operand() {
        Operand::Tile(t) if t.is_poison() => return None,
        Operand::Tile(t) => t,
        Operand::Weak(w) => super::ops::full([0i32; 0], Operand::Weak(w)),
    };
    let ty = with_trace(|t| t.ty(seed));
    match ty.dtype() {
        Some(d) if d.is_int() && ty.shape.is_empty() => Some(seed.cast::<u64>()),
        _ => {
            fail(
                name,
                format!("the seed must be an integer scalar (a runtime `i32`/`u32`/`i64`/`u64` argument or a Rust integer), not {ty}"),
            );
            None
        }
    }
}

/// The four Philox 4x32-10 words for `seed` and each of `offsets` (an integer tile), as
/// Triton's `randint4x`: `u32` tiles of the offsets' shape.
pub fn randint4x(seed: impl IntoOperand, offsets: Tile) -> [Tile; 4] {
    philox("randint4x", seed, offsets).unwrap_or([Tile::POISON; 4])
}

fn philox(name: &str, seed: impl IntoOperand, offsets: Tile) -> Option<[Tile; 4]> {
    let seed = seed_u64(name, seed)?;
    if offsets.is_poison() {
        return None;
    }
    let d = with_trace(|t| t.ty(offsets).dtype());
    let d = match d {
        Some(d) if d.is_int() => d,
        _ => {
            let ty = with_trace(|t| t.ty(offsets));
            fail(
                name,
                format!("the offsets must be an integer tile (e.g. `program_id(0) * block + arange(block)`), not {ty}"),
            );
            return None;
        }
    };
    let mut c0 = offsets.cast::<u32>();
    let zero = super::ops::zeros::<u32>(with_trace(|t| t.ty(offsets).shape.clone()));
    let mut c1 = if d.bits() > 32 {
        (offsets >> 32).cast::<u32>()
    } else {
        zero
    };
    let (mut c2, mut c3) = (zero, zero);
    let mut k0 = (seed & 0xFFFF_FFFFu64).cast::<u32>();
    let mut k1 = (seed >> 32).cast::<u32>();
    for _ in 0..ROUNDS {
        let (p0, p2) = (c0, c2);
        c0 = umulhi(ROUND[1], p2) ^ c1 ^ k0;
        c2 = umulhi(ROUND[0], p0) ^ c3 ^ k1;
        c1 = p2 * ROUND[1];
        c3 = p0 * ROUND[0];
        k0 += KEY[0];
        k1 += KEY[1];
    }
    Some([c0, c1, c2, c3])
}

/// A `u32` tile of random bits for `seed` and each of `offsets`, as Triton's `tl.randint`.
pub fn randint(seed: impl IntoOperand, offsets: Tile) -> Tile {
    randint4x(seed, offsets)[0]
}

/// Triton's `uint_to_uniform_float` on a `u32` tile: a float in `[0, 1)`.
fn uniform(x: Tile) -> Tile {
    let x = x.bitcast::<i32>();
    let x = select(compare(CmpPred::Lt, x, 0), -x - 1, x);
    x.cast::<f32>() * 4.656_612_734_2e-10
}

/// An `f32` tile uniform in `[0, 1)` for `seed` and each of `offsets`, as Triton's `tl.rand`.
pub fn rand(seed: impl IntoOperand, offsets: Tile) -> Tile {
    uniform(randint(seed, offsets))
}

/// An `f32` tile of standard normal values for `seed` and each of `offsets`, as Triton's
/// `tl.randn` (Box–Muller on the first two Philox words).
pub fn randn(seed: impl IntoOperand, offsets: Tile) -> Tile {
    let [i1, i2, _, _] = randint4x(seed, offsets);
    if i1.is_poison() {
        return Tile::POISON;
    }
    let u1 = maximum(1.0e-7, uniform(i1));
    // Triton's `6.283185307179586`, the f64 nearest to 2 pi.
    let th = uniform(i2) * std::f64::consts::TAU;
    let r = (u1.log() * -2.0).sqrt();
    r * th.cos()
}

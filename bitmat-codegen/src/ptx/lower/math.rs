//! Float math that PTX has no instruction for: `sin`, `cos`, `tanh`, `erf` and `sigmoid` as
//! sequences of correctly rounded f32 arithmetic, `fma` and `ex2.approx`.
//!
//! Each algorithm is written once against [`F32Ops`]: the emitter implements it by printing
//! PTX ([`PtxOps`]), and the host tests implement it on `f32` (with an exact `exp2` in place of
//! `ex2.approx`) to measure the error of the algorithm itself against `f64` (see `tests`).
//! With `ex2.approx`'s documented relative error of at most 2 ulp added where it is used, the
//! bounds over all f32 inputs are (NaN in, NaN out; the limits at infinities):
//! - `sin`, `cos`: Cody–Waite reduction by `pi/2` in three parts, then the Cephes minimax
//!   polynomials on `[-pi/4, pi/4]`: within `2^-23` absolute for `|x| <= 2^16` (beyond, the
//!   reduction loses accuracy with `|x|`; no accuracy is claimed there);
//! - `tanh`: the Taylor series to `x^17` for `|x| < 0.5`, else `(1 - t) / (1 + t)` with
//!   `t = ex2(-2 |x| log2 e)`: within 8 ulp (`2^-21` relative);
//! - `erf`: the Taylor series to `x^23` for `|x| < 1`, else `1 - erfc` with the Chebyshev
//!   fit of Numerical Recipes' `erfcc` (fractional error `1.2e-7`): within `2^-21` relative;
//! - `sigmoid`: `1 / (1 + ex2(-x log2 e))`: the error of `exp` (growing with `|x|`, about
//!   `|x| 2^-24` relative from rounding the product) plus 3 ulp.

use crate::ptx::emit::Emitter;
use crate::ptx::regs::Class;

/// The f32 operations the algorithms are written in; `V` is a value (a register name when
/// emitting PTX, an `f32` on the host).
pub(crate) trait F32Ops {
    /// A value.
    type V: Clone;
    /// The constant `x`.
    fn k(&mut self, x: f32) -> Self::V;
    /// `a * b`, rounded.
    fn mul(&mut self, a: &Self::V, b: &Self::V) -> Self::V;
    /// `a + b`, rounded.
    fn add(&mut self, a: &Self::V, b: &Self::V) -> Self::V;
    /// `a * b + c` with one rounding.
    fn fma(&mut self, a: &Self::V, b: &Self::V, c: &Self::V) -> Self::V;
    /// `a / b`, rounded.
    fn div(&mut self, a: &Self::V, b: &Self::V) -> Self::V;
    /// `|a|`.
    fn abs(&mut self, a: &Self::V) -> Self::V;
    /// `-a`.
    fn neg(&mut self, a: &Self::V) -> Self::V;
    /// `a` rounded to the nearest integer, ties to even.
    fn rni(&mut self, a: &Self::V) -> Self::V;
    /// `2^a` (`ex2.approx` on the GPU).
    fn ex2(&mut self, a: &Self::V) -> Self::V;
    /// `|mag|` with the sign of `sign`.
    fn copysign(&mut self, sign: &Self::V, mag: &Self::V) -> Self::V;
    /// `a < b ? then : other` (false when either is NaN).
    fn select_lt(&mut self, a: &Self::V, b: &Self::V, then: &Self::V, other: &Self::V) -> Self::V;
    /// `((int) j + offset) & bit != 0 ? set : clear`, for `j` an integral value.
    fn select_bit(
        &mut self,
        j: &Self::V,
        offset: i32,
        bit: i32,
        set: &Self::V,
        clear: &Self::V,
    ) -> Self::V;
}

/// `c[0] + x c[1] + x^2 c[2] + ..` by Horner's rule with `fma`.
fn poly<O: F32Ops>(o: &mut O, x: &O::V, c: &[f32]) -> O::V {
    let mut acc = o.k(c[c.len() - 1]);
    for &ci in c[..c.len() - 1].iter().rev() {
        let ki = o.k(ci);
        acc = o.fma(&acc, x, &ki);
    }
    acc
}

/// `pi / 2` in three parts, each exact in few bits (Cephes' `DP1..DP3`, doubled).
const PIO2: [f32; 3] = [1.570_312_5, 4.837_513e-4, 7.549_79e-8];
/// `sin(r) = r + r^3 (S0 + S1 r^2 + S2 r^4)` on `[-pi/4, pi/4]` (Cephes `sinf`).
const SIN: [f32; 3] = [-1.666_665_5e-1, 8.332_161e-3, -1.951_529_6e-4];
/// `cos(r) = 1 - r^2 / 2 + r^4 (C0 + C1 r^2 + C2 r^4)` on `[-pi/4, pi/4]` (Cephes `cosf`).
const COS: [f32; 3] = [4.166_664_6e-2, -1.388_731_6e-3, 2.443_315_7e-5];

/// `sin(x)` (`quarter` 0) or `cos(x) = sin(x + pi/2)` (`quarter` 1).
pub(crate) fn sin_cos<O: F32Ops>(o: &mut O, x: &O::V, quarter: i32) -> O::V {
    let two_over_pi = o.k(std::f32::consts::FRAC_2_PI);
    let xs = o.mul(x, &two_over_pi);
    let j = o.rni(&xs);
    let nj = o.neg(&j);
    let mut r = x.clone();
    for c in PIO2 {
        let c = o.k(c);
        r = o.fma(&nj, &c, &r);
    }
    let r2 = o.mul(&r, &r);
    // sin(r) = r + r^3 P(r^2)
    let r3 = o.mul(&r2, &r);
    let sp = poly(o, &r2, &SIN);
    let s = o.fma(&r3, &sp, &r);
    // cos(r) = 1 - r^2 / 2 + r^4 Q(r^2)
    let r4 = o.mul(&r2, &r2);
    let cp = poly(o, &r2, &COS);
    let mhalf = o.k(-0.5);
    let one = o.k(1.0);
    let c0 = o.fma(&r2, &mhalf, &one);
    let c = o.fma(&r4, &cp, &c0);
    // Quadrant q = j + quarter: bit 0 picks cos, bit 1 the sign.
    let v = o.select_bit(&j, quarter, 1, &c, &s);
    let nv = o.neg(&v);
    let out = o.select_bit(&j, quarter, 2, &nv, &v);
    if quarter == 0 {
        // sin(x) = x below 2^-12 (keeps the sign of zero, and subnormals exact).
        let ax = o.abs(x);
        let tiny = o.k(2f32.powi(-12));
        o.select_lt(&ax, &tiny, x, &out)
    } else {
        out
    }
}

/// The Taylor coefficients of `tanh(x) / x - 1` in powers of `x^2`, from `x^2` to `x^16`.
const TANH: [f32; 8] = [
    -1.0 / 3.0,
    2.0 / 15.0,
    -17.0 / 315.0,
    62.0 / 2835.0,
    -1382.0 / 155_925.0,
    21844.0 / 6_081_075.0,
    -929_569.0 / 638_512_875.0,
    6_404_582.0 / 10_854_718_875.0,
];

/// `tanh(x)`.
pub(crate) fn tanh<O: F32Ops>(o: &mut O, x: &O::V) -> O::V {
    let ax = o.abs(x);
    // |x| < 0.5: x (1 + x^2 P(x^2)).
    let x2 = o.mul(x, x);
    let p = poly(o, &x2, &TANH);
    let one = o.k(1.0);
    let q = o.fma(&x2, &p, &one);
    let small = o.mul(x, &q);
    // Else (1 - t) / (1 + t), t = e^(-2|x|), with the sign of x.
    let m2log2e = o.k(-2.0 * std::f32::consts::LOG2_E);
    let a = o.mul(&ax, &m2log2e);
    let t = o.ex2(&a);
    let nt = o.neg(&t);
    let num = o.add(&one, &nt);
    let den = o.add(&one, &t);
    let big = o.div(&num, &den);
    let big = o.copysign(x, &big);
    let half = o.k(0.5);
    o.select_lt(&ax, &half, &small, &big)
}

/// `erf(x) / x` for `|x| < 1` in powers of `x^2`: `2/sqrt(pi) (-1)^n / (n! (2n + 1))`.
fn erf_taylor() -> [f32; 12] {
    let mut c = [0f32; 12];
    let mut fact = 1f64;
    for (n, ci) in c.iter_mut().enumerate() {
        if n > 0 {
            fact *= n as f64;
        }
        let sign = if n % 2 == 0 { 1.0 } else { -1.0 };
        *ci = (std::f64::consts::FRAC_2_SQRT_PI * sign / (fact * (2 * n + 1) as f64)) as f32;
    }
    c
}

/// Numerical Recipes' `erfcc`: `erfc(z) = t exp(-z^2 + P(t))`, `t = 1 / (1 + z / 2)`.
const ERFC: [f32; 10] = [
    -1.265_512_2,
    1.000_023_7,
    0.374_091_96,
    0.096_784_18,
    -0.186_288_06,
    0.278_868_07,
    -1.135_204,
    1.488_515_9,
    -0.822_152_23,
    0.170_872_77,
];

/// `erf(x)`.
pub(crate) fn erf<O: F32Ops>(o: &mut O, x: &O::V) -> O::V {
    let ax = o.abs(x);
    let x2 = o.mul(x, x);
    let p = poly(o, &x2, &erf_taylor());
    let small = o.mul(x, &p);
    // 1 - erfc(|x|) with the sign of x.
    let one = o.k(1.0);
    let half = o.k(0.5);
    let d = o.fma(&ax, &half, &one);
    let t = o.div(&one, &d);
    let pt = poly(o, &t, &ERFC);
    let nax = o.neg(&ax);
    let e = o.fma(&nax, &ax, &pt);
    let log2e = o.k(std::f32::consts::LOG2_E);
    let e2 = o.mul(&e, &log2e);
    let ex = o.ex2(&e2);
    let erfc = o.mul(&t, &ex);
    let nerfc = o.neg(&erfc);
    let big = o.add(&one, &nerfc);
    let big = o.copysign(x, &big);
    o.select_lt(&ax, &one, &small, &big)
}

/// `1 / (1 + e^-x)`.
pub(crate) fn sigmoid<O: F32Ops>(o: &mut O, x: &O::V) -> O::V {
    let mlog2e = o.k(-std::f32::consts::LOG2_E);
    let a = o.mul(x, &mlog2e);
    let e = o.ex2(&a);
    let one = o.k(1.0);
    let d = o.add(&one, &e);
    o.div(&one, &d)
}

/// [`F32Ops`] printing PTX into an [`Emitter`].
pub(crate) struct PtxOps<'a, 'e>(pub &'a mut Emitter<'e>);

impl PtxOps<'_, '_> {
    fn op(&mut self, text: impl FnOnce(&str) -> String) -> String {
        let r = self.0.reg(Class::F32);
        self.0.line(text(&r));
        r
    }
}

impl F32Ops for PtxOps<'_, '_> {
    type V = String;
    fn k(&mut self, x: f32) -> String {
        format!("0f{:08X}", x.to_bits())
    }
    fn mul(&mut self, a: &String, b: &String) -> String {
        self.op(|d| format!("mul.rn.f32 {d}, {a}, {b};"))
    }
    fn add(&mut self, a: &String, b: &String) -> String {
        self.op(|d| format!("add.rn.f32 {d}, {a}, {b};"))
    }
    fn fma(&mut self, a: &String, b: &String, c: &String) -> String {
        self.op(|d| format!("fma.rn.f32 {d}, {a}, {b}, {c};"))
    }
    fn div(&mut self, a: &String, b: &String) -> String {
        self.op(|d| format!("div.rn.f32 {d}, {a}, {b};"))
    }
    fn abs(&mut self, a: &String) -> String {
        self.op(|d| format!("abs.f32 {d}, {a};"))
    }
    fn neg(&mut self, a: &String) -> String {
        self.op(|d| format!("neg.f32 {d}, {a};"))
    }
    fn rni(&mut self, a: &String) -> String {
        self.op(|d| format!("cvt.rni.f32.f32 {d}, {a};"))
    }
    fn ex2(&mut self, a: &String) -> String {
        self.op(|d| format!("ex2.approx.f32 {d}, {a};"))
    }
    fn copysign(&mut self, sign: &String, mag: &String) -> String {
        self.op(|d| format!("copysign.f32 {d}, {sign}, {mag};"))
    }
    fn select_lt(&mut self, a: &String, b: &String, then: &String, other: &String) -> String {
        let p = self.0.reg(Class::Pred);
        self.0.line(format!("setp.lt.f32 {p}, {a}, {b};"));
        self.op(|d| format!("selp.f32 {d}, {then}, {other}, {p};"))
    }
    fn select_bit(
        &mut self,
        j: &String,
        offset: i32,
        bit: i32,
        set: &String,
        clear: &String,
    ) -> String {
        let (q, p) = (self.0.reg(Class::B32), self.0.reg(Class::Pred));
        self.0.line(format!("cvt.rni.s32.f32 {q}, {j};"));
        self.0.line(format!("add.s32 {q}, {q}, {offset};"));
        self.0.line(format!("and.b32 {q}, {q}, {bit};"));
        self.0.line(format!("setp.ne.s32 {p}, {q}, 0;"));
        self.op(|d| format!("selp.f32 {d}, {set}, {clear}, {p};"))
    }
}

#[cfg(test)]
mod tests {
    //! The algorithms replayed on the host in f32 (an exact `exp2` in place of `ex2.approx`)
    //! against `f64`, on the bounds the module doc states minus `ex2.approx`'s share.
    use super::*;
    use rand::{Rng, SeedableRng};

    struct Host;

    impl F32Ops for Host {
        type V = f32;
        fn k(&mut self, x: f32) -> f32 {
            x
        }
        fn mul(&mut self, a: &f32, b: &f32) -> f32 {
            a * b
        }
        fn add(&mut self, a: &f32, b: &f32) -> f32 {
            a + b
        }
        fn fma(&mut self, a: &f32, b: &f32, c: &f32) -> f32 {
            a.mul_add(*b, *c)
        }
        fn div(&mut self, a: &f32, b: &f32) -> f32 {
            a / b
        }
        fn abs(&mut self, a: &f32) -> f32 {
            a.abs()
        }
        fn neg(&mut self, a: &f32) -> f32 {
            -a
        }
        fn rni(&mut self, a: &f32) -> f32 {
            a.round_ties_even()
        }
        fn ex2(&mut self, a: &f32) -> f32 {
            f64::from(*a).exp2() as f32
        }
        fn copysign(&mut self, sign: &f32, mag: &f32) -> f32 {
            mag.copysign(*sign)
        }
        fn select_lt(&mut self, a: &f32, b: &f32, then: &f32, other: &f32) -> f32 {
            if a < b {
                *then
            } else {
                *other
            }
        }
        fn select_bit(&mut self, j: &f32, offset: i32, bit: i32, set: &f32, clear: &f32) -> f32 {
            // `cvt.rni.s32.f32` saturates, as `as` does.
            if ((*j as i32).wrapping_add(offset) & bit) != 0 {
                *set
            } else {
                *clear
            }
        }
    }

    /// Inputs: special values, then random ones of every magnitude in `[-lim, lim]`.
    fn inputs(lim: f32, seed: u64) -> Vec<f32> {
        let mut r = rand::rngs::StdRng::seed_from_u64(seed);
        let mut v = vec![0.0, -0.0, 1e-30, -1e-40, 0.5, -0.5, 1.0, -1.0, lim, -lim];
        v.extend((0..20_000).map(|_| r.gen_range(-lim..=lim)));
        v.extend((0..20_000).map(|_| {
            let m: f32 = r.gen_range(-1.0..1.0);
            m * 2f32.powi(r.gen_range(-30..=lim.log2() as i32))
        }));
        v
    }

    /// The largest error of `f` against `want` over `xs`, relative to `|want|`, with an
    /// absolute floor `abs`.
    fn max_err(xs: &[f32], f: impl Fn(f32) -> f32, want: impl Fn(f64) -> f64, abs: f64) -> f64 {
        xs.iter()
            .map(|&x| {
                let (g, w) = (f64::from(f(x)), want(f64::from(x)));
                assert_eq!(g.is_nan(), w.is_nan(), "{x}: {g} vs {w}");
                if g == w || g.is_nan() {
                    0.0
                } else {
                    (g - w).abs() / w.abs().max(abs)
                }
            })
            .fold(0.0, f64::max)
    }

    #[test]
    fn sin_and_cos_within_2_pow_minus_23_absolute_up_to_2_pow_16() {
        let xs = inputs(65536.0, 1);
        let s = max_err(&xs, |x| sin_cos(&mut Host, &x, 0), f64::sin, 1.0);
        let c = max_err(&xs, |x| sin_cos(&mut Host, &x, 1), f64::cos, 1.0);
        assert!(
            s <= 2f64.powi(-23) && c <= 2f64.powi(-23),
            "sin {s:e}, cos {c:e}"
        );
        // Near zero, sin is relative-accurate too (and exact with the sign below 2^-12).
        let small = inputs(0.5, 2);
        let s = max_err(&small, |x| sin_cos(&mut Host, &x, 0), f64::sin, 1e-38);
        assert!(s <= 2f64.powi(-22), "sin near 0: {s:e}");
        assert!(sin_cos(&mut Host, &-0.0, 0).is_sign_negative());
        assert!(sin_cos(&mut Host, &f32::INFINITY, 0).is_nan());
        assert!(sin_cos(&mut Host, &f32::NAN, 1).is_nan());
    }

    #[test]
    fn tanh_within_6_ulp() {
        let xs = inputs(40.0, 3);
        let e = max_err(&xs, |x| tanh(&mut Host, &x), f64::tanh, 1e-38);
        assert!(e <= 6.0 * 2f64.powi(-24), "tanh {e:e}");
        assert_eq!(tanh(&mut Host, &f32::INFINITY), 1.0);
        assert_eq!(tanh(&mut Host, &f32::NEG_INFINITY), -1.0);
        assert!(tanh(&mut Host, &-0.0).is_sign_negative());
    }

    #[test]
    fn erf_within_6_ulp() {
        let xs = inputs(12.0, 4);
        let e = max_err(&xs, |x| erf(&mut Host, &x), libm::erf, 1e-38);
        assert!(e <= 6.0 * 2f64.powi(-24), "erf {e:e}");
        assert_eq!(erf(&mut Host, &f32::INFINITY), 1.0);
        assert_eq!(erf(&mut Host, &f32::NEG_INFINITY), -1.0);
        assert!(erf(&mut Host, &-0.0).is_sign_negative());
    }

    #[test]
    fn sigmoid_within_exp_error_plus_3_ulp() {
        let xs = inputs(80.0, 5);
        let e = max_err(
            &xs,
            |x| sigmoid(&mut Host, &x),
            |x| 1.0 / (1.0 + (-x).exp()),
            1e-38,
        );
        assert!(
            e <= 3.0 * 2f64.powi(-24) + 80.0 * 2f64.powi(-24),
            "sigmoid {e:e}"
        );
        assert_eq!(sigmoid(&mut Host, &f32::INFINITY), 1.0);
        assert_eq!(sigmoid(&mut Host, &f32::NEG_INFINITY), 0.0);
    }
}

//! The float math methods (`exp2`, `log2`, `sin`, `cos`, `tanh`, `erf`, `sigmoid`, `floor`,
//! `ceil`) on f32 against Rust's `f64` functions (`libm::erf` for `erf`), the exact result
//! rounded once to f32, within the bounds each backend documents: `bitmat_ir::math` for the
//! interpreter and the CPU backends (which call the same functions), and
//! `bitmat-codegen/src/ptx/lower/math.rs` / `elementwise.rs` on CUDA. Inputs are edge values
//! (NaN, infinities, signed zeros, subnormals, the largest finite values, halves for the
//! rounding ops) and random values of every magnitude. `fma` on every float type: against
//! the interpreter and against Rust's `f32::mul_add` (exact on every backend), on raw bit
//! patterns and on products whose fused and unfused sums differ, over a ragged grid.

use crate::data::{self, rng};
use crate::ew::against_rust;
use crate::harness::{compare, i32_arg, is_cuda, run, test, Arg, Test, Tol};
use crate::ir_kernels;
use crate::kernels::ew;
use bitmat::ir::{DType, HostData, Scalar, UnaryOp};
use bitmat::Device;
use rand::Rng;

/// The tests of this module.
pub fn tests() -> Vec<Test> {
    use UnaryOp::*;
    let mut t: Vec<Test> = [Exp2, Log2, Sin, Cos, Tanh, Erf, Sigmoid, Floor, Ceil]
        .into_iter()
        .map(|op| {
            let name = format!("math::{}_accuracy", format!("{op:?}").to_lowercase());
            test(name, move |dev| accuracy(dev, op))
        })
        .collect();
    for d in [DType::F16, DType::BF16, DType::F32] {
        t.push(test(format!("math::fma_{d}"), move |dev| check_fma(dev, d)));
    }
    t
}

/// `fma` over `len` lanes (a ragged grid of 256-lane programs): half raw bit patterns, half
/// `x * y + z` with `z` near `-x * y`, where one rounding and two differ.
fn check_fma(dev: &Device, d: DType) -> Result<(), String> {
    let mut r = rng(41);
    for len in [300usize, 256, 1] {
        let n = 512;
        let [mut x, mut y, mut z] = [0, 1, 2].map(|_| data::bits(d, n, &mut r));
        for i in (0..n).step_by(2) {
            let (a, b): (f64, f64) = (r.gen_range(-3.0..3.0), r.gen_range(-3.0..3.0));
            let (a, b) = (Scalar::from_f64(d, a), Scalar::from_f64(d, b));
            let p = -(a.as_f64() * b.as_f64());
            let c = Scalar::from_f64(d, p * (1.0 + r.gen_range(-1e-3..1e-3)));
            x.set(i, a);
            y.set(i, b);
            z.set(i, c);
        }
        let out = data::bits(d, n, &mut r);
        let mut want = out.clone();
        for i in 0..len {
            let [a, b, c] = [&x, &y, &z].map(|v| v.get(i).unwrap().as_f64() as f32);
            want.set(i, Scalar::from_f64(d, f64::from(a.mul_add(b, c))));
        }
        let k = ir_kernels::fma(d);
        let args = [
            Arg::Buf(x),
            Arg::Buf(y),
            Arg::Buf(z),
            Arg::Buf(out),
            i32_arg(len as i32),
        ];
        let what = format!("fma on {d}, {len} valid");
        let grid = [len.div_ceil(256) as u32, 1, 1];
        let o = run(dev, &what, &k, grid, 4, &args)?;
        o.check(3, &Tol::exact(dev))?;
        compare(
            &format!("{what} against Rust"),
            &o.got[3],
            &want,
            &Tol::AnyNan,
        )?;
    }
    Ok(())
}

/// The exact value of `op` at `x`, in f64.
fn exact(op: UnaryOp, x: f64) -> f64 {
    match op {
        UnaryOp::Exp2 => x.exp2(),
        UnaryOp::Log2 => x.log2(),
        UnaryOp::Sin => x.sin(),
        UnaryOp::Cos => x.cos(),
        UnaryOp::Tanh => x.tanh(),
        UnaryOp::Erf => libm::erf(x),
        UnaryOp::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        UnaryOp::Floor => x.floor(),
        _ => x.ceil(),
    }
}

/// One ulp of f32 at `w` (of the smallest normal below it).
fn ulp(w: f64) -> f64 {
    let e = w.abs().max(2f64.powi(-126)).log2().floor() as i32;
    2f64.powi(e - 23)
}

/// The bound at input `x` with rounded exact result `w`, on `dev`.
fn bound(dev: &Device, op: UnaryOp, x: f64, w: f64) -> f64 {
    let u = ulp(w);
    if op == UnaryOp::Sigmoid && w.abs() < 2f64.powi(-126) {
        // Documented: subnormal results may be flushed towards zero (`exp(-x)` overflows).
        return 2f64.powi(-126);
    }
    if !is_cuda(dev) {
        // bitmat_ir::math's documented accuracy, plus the rounding of the reference.
        return match op {
            UnaryOp::Floor | UnaryOp::Ceil => 0.0,
            UnaryOp::Exp2 | UnaryOp::Log2 | UnaryOp::Sin | UnaryOp::Cos => 1.5 * u,
            UnaryOp::Tanh | UnaryOp::Erf => 2.5 * u,
            _ => 3.5 * u,
        };
    }
    let rel = w.abs();
    match op {
        UnaryOp::Floor | UnaryOp::Ceil => 0.0,
        UnaryOp::Exp2 => 2.5 * u,
        UnaryOp::Log2 => 2f64.powi(-22) + u,
        UnaryOp::Sin | UnaryOp::Cos if x.abs() > 65536.0 => f64::INFINITY,
        UnaryOp::Sin | UnaryOp::Cos => 2f64.powi(-23) + u,
        UnaryOp::Tanh | UnaryOp::Erf => 2f64.powi(-21) * rel + u,
        // The error of `exp(-x)`, then 3 roundings; near underflow, the subnormal floor.
        _ => (x.abs() * 2f64.powi(-24) + 2f64.powi(-22)) * rel + 3.5 * u,
    }
}

/// Edge values, then random ones: of every magnitude, and (for `sin`/`cos`) multiples of
/// `pi/2` and large arguments.
fn inputs(n: usize) -> Vec<f32> {
    let mut v = vec![
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        1e-45,
        -1e-45,
        1e-40,
        f32::MIN_POSITIVE,
        f32::MAX,
        f32::MIN,
        0.5,
        -0.5,
        1.5,
        -2.5,
        8_388_607.5,
        -8_388_608.0,
        1.0,
        -1.0,
        std::f32::consts::PI,
        std::f32::consts::FRAC_PI_2,
        88.0,
        -104.0,
        200.0,
    ];
    let mut r = rng(31);
    while v.len() < n {
        let m: f32 = r.gen_range(-1.0..1.0);
        let x = match v.len() % 3 {
            0 => m * 2f32.powi(r.gen_range(-40..12)),
            1 => m * 20.0,
            _ => (r.gen_range(-40_000i32..40_000) as f32) * std::f32::consts::FRAC_PI_2 + m,
        };
        v.push(x);
    }
    v
}

fn accuracy(dev: &Device, op: UnaryOp) -> Result<(), String> {
    let n = 512;
    let xs = inputs(n);
    let want: Vec<f32> = xs.iter().map(|&x| exact(op, f64::from(x)) as f32).collect();
    let bounds = xs
        .iter()
        .zip(&want)
        .map(|(&x, &w)| bound(dev, op, f64::from(x), f64::from(w)))
        .collect();
    let k = ew("math", DType::F32, DType::F32, n as u32, |b, x, _| {
        b.unary(op, x)
    });
    let x = HostData::F32(xs);
    let y = HostData::zeros(DType::F32, n);
    against_rust(
        dev,
        &format!("{op:?} on f32[{n}]"),
        &k,
        [x, y],
        HostData::F32(want),
        &Tol::Bound(bounds),
    )
}

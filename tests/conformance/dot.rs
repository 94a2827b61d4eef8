//! `dot` of every operand type (i8 -> i32, f16/bf16/f32 -> f32, fp8 of either format on each
//! side -> f32) and shape class: exact and padded tensor-core shapes, GEMV (M = 1),
//! matrix-vector (N = 1), N < 8, K < 16, more output tiles than warps, long K; with an
//! accumulator; and tiled matmuls with a runtime K loop over ragged M, N, K (i8, f16, bf16 and
//! fp8), one with an f16 accumulator. Against the interpreter and, for i8 and the tiled
//! matmuls, plain Rust.
//!
//! The CPU backends agree bit for bit. On CUDA, i8 dots are exact; float dots sum on tensor
//! cores (f16/bf16, and fp8 on the fp8 tensor cores of sm_89 and later) or in their own order
//! (f32), so they agree within [`dot_bound`].

use crate::data::{self, rng};
use crate::harness::{compare, i32_arg, is_cuda, run, run_with, test, Arg, Test, Tol};
use crate::ir_kernels::{self, DOT_SHAPES};
use crate::kernels::matmul;
use bitmat::ir::{DType, HostData, Scalar};
use bitmat::Device;

/// The tests of this module.
pub fn tests() -> Vec<Test> {
    let mut t = Vec::new();
    for d in [
        DType::I8,
        DType::F16,
        DType::BF16,
        DType::F32,
        DType::F8E4M3,
        DType::F8E5M2,
    ] {
        t.push(test(format!("dot::shapes_{d}"), move |dev| {
            let cpu_shapes = [
                (16, 16, 32),
                (1, 32, 64),
                (4, 2, 8),
                (2, 1, 4),
                (4, 8, 1),
                (8, 64, 2),
                // Matrix-vector products (N = 1, K a multiple of 64: LLVM's `vpdpbusd` rows).
                (8, 1, 128),
                (2, 1, 64),
            ];
            // Programs of 1, 4 and 8 warps on a GPU (more warps than output tiles, and fewer).
            let warps: &[u32] = if is_cuda(dev) { &[1, 4, 8] } else { &[4] };
            for (m, n, k) in DOT_SHAPES.into_iter().chain(cpu_shapes) {
                for &num_warps in warps {
                    check_dot(dev, d, m, n, k, num_warps)?;
                }
            }
            Ok(())
        }));
    }
    t.push(test("dot::shapes_f8e4m3_x_f8e5m2", |dev| {
        let warps: &[u32] = if is_cuda(dev) { &[1, 4] } else { &[4] };
        for (m, n, k) in DOT_SHAPES {
            for &num_warps in warps {
                for types in [
                    [DType::F8E4M3, DType::F8E5M2],
                    [DType::F8E5M2, DType::F8E4M3],
                ] {
                    check_dot_of(dev, types, m, n, k, num_warps)?;
                }
            }
        }
        Ok(())
    }));
    t.push(test("dot::tiled_matmul_ragged_i8", |dev| {
        tiled_matmul(dev, DType::I8)
    }));
    t.push(test("dot::tiled_matmul_ragged_f16", |dev| {
        tiled_matmul(dev, DType::F16)
    }));
    t.push(test("dot::tiled_matmul_ragged_bf16", |dev| {
        tiled_matmul(dev, DType::BF16)
    }));
    t.push(test("dot::tiled_matmul_ragged_f8e4m3", |dev| {
        tiled_matmul(dev, DType::F8E4M3)
    }));
    t.push(test("dot::tiled_matmul_ragged_f8e5m2", |dev| {
        tiled_matmul(dev, DType::F8E5M2)
    }));
    t.push(test("dot::f16_accumulator_matmul", f16_accumulator));
    t
}

mod f16acc {
    use bitmat::prelude::*;

    /// `c = a x b` with an f16 accumulator (`dot(a, b, acc)` with `acc: f16`) over a runtime
    /// K loop, masked on ragged M, N and K.
    #[bitkernel]
    #[allow(clippy::too_many_arguments)]
    pub fn matmul_f16acc(
        a: Ptr<f16>,
        b: Ptr<f16>,
        c: Ptr<f16>,
        m: i32,
        n: i32,
        k: i32,
        #[constexpr] bm: i32,
        #[constexpr] bn: i32,
        #[constexpr] bk: i32,
    ) {
        let rm = program_id(0) * bm + arange(bm);
        let rn = program_id(1) * bn + arange(bn);
        let rk = arange(bk);
        let mut acc = zeros::<f16>([bm, bn]);
        for k0 in range(0, k, bk) {
            let kk = k0 + rk;
            let x = load(
                a + rm.unsqueeze(1) * k + kk.unsqueeze(0),
                (rm.unsqueeze(1) < m) & (kk.unsqueeze(0) < k),
                0.0,
            );
            let y = load(
                b + kk.unsqueeze(1) * n + rn.unsqueeze(0),
                (kk.unsqueeze(1) < k) & (rn.unsqueeze(0) < n),
                0.0,
            );
            acc = dot(x, y, acc);
        }
        store(
            c + rm.unsqueeze(1) * n + rn.unsqueeze(0),
            acc,
            (rm.unsqueeze(1) < m) & (rn.unsqueeze(0) < n),
        );
    }
}

/// The f16-accumulator matmul against plain Rust (f64 sums, rounded to f16 after every K
/// step as the DSL defines it): within `(steps + 1) 2^-10` of the magnitudes per element, and
/// against the interpreter within the bound of float dots on each backend.
fn f16_accumulator(dev: &Device) -> Result<(), String> {
    use bitmat::f16;
    use rand::Rng;
    for (m, n, k, bm, bn, bk) in [
        (16, 16, 32, 16, 16, 32),
        (37, 21, 70, 16, 16, 32),
        (5, 9, 3, 16, 16, 16),
    ] {
        let kern = f16acc::matmul_f16acc::ir(bm, bn, bk).map_err(|e| e.to_string())?;
        let mut r = rng(3100);
        let mut draw = |len: usize| -> Vec<f16> {
            (0..len)
                .map(|_| f16::from_f32(f32::from(r.gen_range(-16i8..16)) / 8.0))
                .collect()
        };
        let (av, bv) = (draw(m * k), draw(k * n));
        let args = [
            Arg::Buf(HostData::F16(av.clone())),
            Arg::Buf(HostData::F16(bv.clone())),
            Arg::Buf(HostData::F16(vec![f16::ZERO; m * n])),
            i32_arg(m as i32),
            i32_arg(n as i32),
            i32_arg(k as i32),
        ];
        let what = format!("f16-accumulator matmul {m}x{n}x{k} in blocks {bm}x{bn}x{bk}");
        let grid = [
            (m as u32).div_ceil(bm as u32),
            (n as u32).div_ceil(bn as u32),
            1,
        ];
        let o = run(dev, &what, &kern, grid, 4, &args)?;
        let steps = k.div_ceil(bk as usize);
        let mut want = vec![f16::ZERO; m * n];
        let mut bound = vec![0.0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                let (mut acc, mut mag) = (f16::ZERO, 0.0f64);
                for s in 0..steps {
                    let mut sum = f64::from(acc.to_f32());
                    for l in s * bk as usize..((s + 1) * bk as usize).min(k) {
                        let p =
                            f64::from(av[i * k + l].to_f32()) * f64::from(bv[l * n + j].to_f32());
                        sum += p;
                        mag += p.abs();
                    }
                    acc = f16::from_f64(sum);
                }
                want[i * n + j] = acc;
                bound[i * n + j] = (steps + 1) as f64 * 2f64.powi(-10) * mag.max(1.0);
            }
        }
        o.check(2, &Tol::Bound(bound.clone()))?;
        compare(
            &format!("{what} against Rust"),
            &o.got[2],
            &HostData::F16(want),
            &Tol::Bound(bound),
        )?;
    }
    Ok(())
}

/// The bound of one element of a float dot on CUDA: `acc + sum_l a_l b_l` of `k + 1` terms
/// whose magnitudes sum to `mag`. A product of two f16 values is exact in f32, one of two
/// bf16 values too while it stays in f32's range, an f32 product rounds once (`2^-24`
/// relative), and each order of the sum is within `k 2^-24 mag` of the exact sum, so two
/// orders differ by at most `(k + 1) 2^-23 mag`; the bound doubles that (tensor cores need
/// not round each addition to nearest even) and adds `k 2^-126` for products in the
/// subnormal range, which tensor cores may flush. Infinite or NaN terms, and terms whose
/// magnitudes sum past f32's range, leave the element unchecked: the order (and whether a
/// product is rounded to f32 before it is added, which tensor cores do not do) decides
/// between an infinity and a NaN.
pub fn dot_bound(k: usize, mag: f64) -> f64 {
    if mag.is_finite() && mag <= f64::from(f32::MAX) {
        (k as f64 + 1.0) * 2f64.powi(-22) * mag + k as f64 * 2f64.powi(-126)
    } else {
        f64::INFINITY
    }
}

/// The tolerance of `c = a [m, k] x b [k, n] + c0` (dense row-major): exact on the CPU
/// backends (any NaN for any NaN) and for integers, [`dot_bound`] for floats on CUDA.
fn dot_tol(
    dev: &Device,
    a: &HostData,
    b: &HostData,
    c0: &HostData,
    m: usize,
    n: usize,
    k: usize,
) -> Tol {
    if !is_cuda(dev) {
        return Tol::AnyNan;
    }
    if !a.dtype().is_float() {
        return Tol::Bits;
    }
    let (ma, mb, mc) = (
        data::magnitudes(a),
        data::magnitudes(b),
        data::magnitudes(c0),
    );
    Tol::Bound(
        (0..m * n)
            .map(|e| {
                let (i, j) = (e / n, e % n);
                let mag = mc[e] + (0..k).map(|l| ma[i * k + l] * mb[l * n + j]).sum::<f64>();
                dot_bound(k, mag)
            })
            .collect(),
    )
}

/// The tolerance of the `c` buffer of [`matmul`] given its arguments (`a`, `b`, zeroed `c`).
pub fn matmul_tol(dev: &Device, args: &[Arg], m: usize, n: usize, k: usize) -> Tol {
    match args {
        [Arg::Buf(a), Arg::Buf(b), Arg::Buf(c), ..] => dot_tol(dev, a, b, c, m, n, k),
        _ => unreachable!("matmul's first three arguments are its buffers"),
    }
}

/// `ir_kernels::dot` of `d` on `[m, k] x [k, n]` plus an accumulator: random bit patterns
/// (finite floats, with a NaN in `a[0, 0]` and an infinity in `a[last]`) against the
/// interpreter, and i8 against plain Rust; in programs of `num_warps` warps on a GPU.
fn check_dot(dev: &Device, d: DType, m: u32, n: u32, k: u32, num_warps: u32) -> Result<(), String> {
    check_dot_of(dev, [d, d], m, n, k, num_warps)
}

/// [`check_dot`] with `a` of type `da` and `b` of type `db`.
fn check_dot_of(
    dev: &Device,
    [da, db]: [DType; 2],
    m: u32,
    n: u32,
    k: u32,
    num_warps: u32,
) -> Result<(), String> {
    let kern = ir_kernels::dot_of([da, db], m, n, k);
    let (m, n, k) = (m as usize, n as usize, k as usize);
    let acc = if da == DType::I8 {
        DType::I32
    } else {
        DType::F32
    };
    let mut r = rng(31);
    let mut a = data::finite_bits(da, m * k, &mut r);
    if da.is_float() {
        a.set(0, Scalar::from_f64(da, f64::NAN));
        a.set(m * k - 1, Scalar::from_f64(da, f64::INFINITY));
    }
    let b = data::finite_bits(db, k * n, &mut r);
    let c0 = data::small(acc, m * n, &mut r);
    let tol = dot_tol(dev, &a, &b, &c0, m, n, k);
    let what = format!("dot {da}[{m}, {k}] x {db}[{k}, {n}] + {acc} in {num_warps} warps");
    let out = run(
        dev,
        &what,
        &kern,
        [1, 1, 1],
        num_warps,
        &[
            Arg::Buf(a.clone()),
            Arg::Buf(b.clone()),
            Arg::Buf(c0.clone()),
        ],
    )?;
    out.check(2, &tol)?;
    if let (HostData::I8(a), HostData::I8(b), HostData::I32(c0)) = (&a, &b, &c0) {
        let want: Vec<i32> = (0..m * n)
            .map(|e| {
                let (i, j) = (e / n, e % n);
                (0..k).fold(c0[e], |s, l| {
                    s.wrapping_add(i32::from(a[i * k + l]) * i32::from(b[l * n + j]))
                })
            })
            .collect();
        compare(
            &format!("{what} against Rust"),
            &out.got[2],
            &HostData::I32(want),
            &Tol::Bits,
        )?;
    }
    Ok(())
}

/// A 17x100x260 matmul in 16x32x32 blocks (every block ragged somewhere). i8 against Rust's
/// exact sums; f16 against Rust's sequential f32 sums, bit for bit on the CPU backends (they
/// add in K order, as the interpreter does) and within [`dot_bound`] on CUDA.
fn tiled_matmul(dev: &Device, d: DType) -> Result<(), String> {
    // Blocks, warps and pipeline stages: one config on the CPU; on a GPU, tiles of one and of
    // many mma tiles per warp, more warps than tiles, and 1 (nothing pipelined) to 4 stages.
    let configs: &[(u32, u32, u32, u32, u32)] = if is_cuda(dev) {
        &[
            (16, 32, 32, 4, 1),
            (16, 32, 32, 4, 2),
            (64, 64, 32, 4, 3),
            (32, 128, 64, 8, 4),
            (128, 64, 32, 4, 2),
            (16, 16, 64, 1, 3),
        ]
    } else {
        &[(16, 32, 32, 4, 2)]
    };
    // Ragged shapes, and multiples of 16 (on CUDA the launch then specializes on them: masks
    // proven uniform per vector, alignment proven).
    for shape in [[17, 100, 260], [48, 96, 256]] {
        for &(bm, bn, bk, num_warps, num_stages) in configs {
            tiled_matmul_config(dev, d, shape, [bm, bn, bk], num_warps, num_stages)?;
        }
    }
    Ok(())
}

fn tiled_matmul_config(
    dev: &Device,
    d: DType,
    [m, n, k]: [usize; 3],
    [bm, bn, bk]: [u32; 3],
    num_warps: u32,
    num_stages: u32,
) -> Result<(), String> {
    let grid = [(m as u32).div_ceil(bm), (n as u32).div_ceil(bn), 1];
    let acc = if d == DType::I8 {
        DType::I32
    } else {
        DType::F32
    };
    let mut r = rng(61);
    let (a, b) = if d == DType::I8 {
        (
            data::finite_bits(d, m * k, &mut r),
            data::finite_bits(d, k * n, &mut r),
        )
    } else {
        // Values in [-4, 4): the sums stay far from overflow.
        (data::small(d, m * k, &mut r), data::small(d, k * n, &mut r))
    };
    let kern = matmul(d, acc, bm, bn, bk);
    let args = [
        Arg::Buf(a.clone()),
        Arg::Buf(b.clone()),
        Arg::Buf(HostData::zeros(acc, m * n)),
        i32_arg(m as i32),
        i32_arg(n as i32),
        i32_arg(k as i32),
    ];
    let what = format!(
        "matmul {d} {m}x{n}x{k} in {bm}x{bn}x{bk} blocks, {num_warps} warps, {num_stages} stages"
    );
    let options = bitmat::LaunchOptions {
        num_warps,
        num_stages,
        ..bitmat::LaunchOptions::default()
    };
    let out = run_with(dev, &what, &kern, grid, &options, &args)?;
    let tol = matmul_tol(dev, &args, m, n, k);
    out.check(2, &tol)?;
    let (fa, fb) = (data::values(&a), data::values(&b));
    let want = if d == DType::I8 {
        HostData::I32(
            (0..m * n)
                .map(|e| {
                    (0..k)
                        .map(|l| (fa[e / n * k + l] * fb[l * n + e % n]) as i32)
                        .sum()
                })
                .collect(),
        )
    } else {
        HostData::F32(
            (0..m * n)
                .map(|e| {
                    (0..k).fold(0.0f32, |s, l| {
                        s + (fa[e / n * k + l] * fb[l * n + e % n]) as f32
                    })
                })
                .collect(),
        )
    };
    compare(&format!("{what} against Rust"), &out.got[2], &want, &tol)
}

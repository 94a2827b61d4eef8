//! Shape ops: `.trans()`, `.permute([..])`, `join`, `.split()`, `cat`, `zeros_like` and
//! `arange(start, end)`, written in the DSL as a Triton user would, on f32 (random bits: NaN
//! payloads, infinities, signed zeros), i8, f16 and i64 tiles, on ragged grids (partial
//! tiles, an empty mask), against the reference interpreter and plain-Rust index maps. These
//! ops move elements without computing, so every backend must match bit for bit (any NaN for
//! any NaN where [`Tol::exact`] says so).

use crate::data::{self, rng};
use crate::harness::{compare, i32_arg, run, test, Arg, Test, Tol};
use bitmat::ir::{DType, HostData, Kernel};
use bitmat::Device;

/// The tests of this module.
pub fn tests() -> Vec<Test> {
    let mut t = Vec::new();
    for (d, k) in [
        (DType::F32, f32_kernel as fn(i32, i32) -> Kernel),
        (DType::I8, i8_kernel),
        (DType::F16, f16_kernel),
        (DType::I64, i64_kernel),
    ] {
        t.push(test(
            format!("shape::trans_permute_join_split_cat_{d}"),
            move |dev| check_shapes(dev, d, k),
        ));
    }
    t.push(test("shape::arange_range_and_zeros_like", check_arange));
    t
}

/// Defines `shapes` for element type `$t` in module `$m`: one program moves an `[bm, bn]`
/// block of `x` (`[m, n]`, row-major) through every shape op, storing `t = x.trans()` (`[n,
/// m]`), `j = join(x, y)` (`[m, n, 2]`), `p = j.permute([2, 0, 1])` (`[2, m, n]`), `c =
/// cat(x, y)` by rows into `[2, m, n]`, and the halves of `xy` (`[m, n, 2]`) by `split`.
macro_rules! shape_kernel {
    ($m:ident, $t:ty) => {
        mod $m {
            use bitmat::prelude::*;

            #[bitkernel]
            #[allow(clippy::too_many_arguments)]
            pub fn shapes(
                x: Ptr<$t>,
                y: Ptr<$t>,
                xy: Ptr<$t>,
                t_out: Ptr<$t>,
                j_out: Ptr<$t>,
                p_out: Ptr<$t>,
                c_out: Ptr<$t>,
                lo: Ptr<$t>,
                hi: Ptr<$t>,
                m: i32,
                n: i32,
                #[constexpr] bm: i32,
                #[constexpr] bn: i32,
            ) {
                let rm = program_id(0) * bm + arange(bm);
                let rn = program_id(1) * bn + arange(bn);
                let mask = (rm.unsqueeze(1) < m) & (rn.unsqueeze(0) < n);
                let at = rm.unsqueeze(1) * n + rn.unsqueeze(0);
                let a = load(x + at, mask, 0);
                let b = load(y + at, mask, 0);
                let tp = rn.unsqueeze(1) * m + rm.unsqueeze(0);
                store(t_out + tp, a.trans(), mask.trans());
                let k2 = arange(2).unsqueeze(0).unsqueeze(0);
                let at2 = at.unsqueeze(2) * 2 + k2;
                let m2 = join(mask, mask);
                let j = join(a, b);
                store(j_out + at2, j, m2);
                let plane = k2.permute([2, 0, 1]) * (m * n) + at.unsqueeze(0);
                store(p_out + plane, j.permute([2, 0, 1]), m2.permute([2, 0, 1]));
                store(
                    cat(c_out + at, c_out + m * n + at),
                    cat(a, b),
                    cat(mask, mask),
                );
                let (l, h) = load(xy + at2, m2, 0).split();
                store(lo + at, l, mask);
                store(hi + at, h, mask);
            }
        }
    };
}

shape_kernel!(k_f32, f32);
shape_kernel!(k_i8, i8);
shape_kernel!(k_f16, f16);
shape_kernel!(k_i64, i64);

fn f32_kernel(bm: i32, bn: i32) -> Kernel {
    k_f32::shapes::ir(bm, bn).expect("f32 shapes")
}
fn i8_kernel(bm: i32, bn: i32) -> Kernel {
    k_i8::shapes::ir(bm, bn).expect("i8 shapes")
}
fn f16_kernel(bm: i32, bn: i32) -> Kernel {
    k_f16::shapes::ir(bm, bn).expect("f16 shapes")
}
fn i64_kernel(bm: i32, bn: i32) -> Kernel {
    k_i64::shapes::ir(bm, bn).expect("i64 shapes")
}

/// `src[idx[i]]` for each `i` (`None`: zero, an element no program writes).
fn pick(src: &HostData, idx: impl Iterator<Item = Option<usize>>) -> HostData {
    let idx: Vec<Option<usize>> = idx.collect();
    let mut out = HostData::zeros(src.dtype(), idx.len());
    for (i, j) in idx.into_iter().enumerate() {
        if let Some(j) = j {
            out.set(i, src.get(j).unwrap());
        }
    }
    out
}

fn check_shapes(dev: &Device, d: DType, kernel: fn(i32, i32) -> Kernel) -> Result<(), String> {
    let cases: [(i32, i32, i32, i32); 5] = [
        (16, 32, 16, 32),
        (37, 21, 16, 8),
        (5, 70, 4, 32),
        (64, 1, 32, 4),
        (0, 9, 8, 8),
    ];
    for (case, (m, n, bm, bn)) in cases.into_iter().enumerate() {
        let k = kernel(bm, bn);
        let mn = (m * n) as usize;
        let mut r = rng(1800 + case as u64);
        let (x, y, xy) = (
            data::bits(d, mn, &mut r),
            data::bits(d, mn, &mut r),
            data::bits(d, 2 * mn, &mut r),
        );
        let zeros = |len| Arg::Buf(HostData::zeros(d, len));
        let args = [
            Arg::Buf(x.clone()),
            Arg::Buf(y.clone()),
            Arg::Buf(xy.clone()),
            zeros(mn),
            zeros(2 * mn),
            zeros(2 * mn),
            zeros(2 * mn),
            zeros(mn),
            zeros(mn),
            i32_arg(m),
            i32_arg(n),
        ];
        let what = format!("{d} [{m}, {n}] in blocks [{bm}, {bn}]");
        let grid = [
            (m.max(1) as u32).div_ceil(bm as u32),
            (n.max(1) as u32).div_ceil(bn as u32),
            1,
        ];
        let o = run(dev, &what, &k, grid, 4, &args)?;
        let tol = Tol::exact(dev);
        o.check_all(&tol)?;
        // Plain Rust: the same index maps.
        let (mu, nu) = (m as usize, n as usize);
        let both = pick(&x, (0..mn).map(Some).chain((0..mn).map(|_| None)));
        let mut xy_both = both.clone();
        for i in 0..mn {
            xy_both.set(mn + i, y.get(i).unwrap());
        }
        let want = [
            (3, pick(&x, (0..mn).map(|i| Some((i % mu) * nu + i / mu)))),
            (
                4,
                pick(&xy_both, (0..2 * mn).map(|i| Some(i / 2 + (i % 2) * mn))),
            ),
            (5, xy_both.clone()),
            (6, xy_both),
            (7, pick(&xy, (0..mn).map(|i| Some(2 * i)))),
            (8, pick(&xy, (0..mn).map(|i| Some(2 * i + 1)))),
        ];
        let names = [
            "x", "y", "xy", "trans", "join", "permute", "cat", "split lo", "split hi",
        ];
        for (i, w) in want {
            compare(
                &format!("{what}: {} against plain Rust", names[i]),
                &o.got[i],
                &w,
                &tol,
            )?;
        }
    }
    Ok(())
}

mod ranges {
    use bitmat::prelude::*;

    /// `arange(start, start + block)` and `zeros_like` of a loaded tile.
    #[bitkernel]
    pub fn arange_zeros(
        x: Ptr<f32>,
        ints: Ptr<i32>,
        zs: Ptr<f32>,
        n: i32,
        #[constexpr] start: i32,
        #[constexpr] block: i32,
    ) {
        let offs = program_id(0) * block + arange(block);
        let mask = offs < n;
        let v = load(x + offs, mask, 1.0);
        store(
            ints + offs,
            arange(start, start + block) + zeros_like(offs),
            mask,
        );
        store(zs + offs, zeros_like(v), mask);
    }
}

fn check_arange(dev: &Device) -> Result<(), String> {
    for (start, block, n) in [
        (0, 16, 16),
        (5, 32, 70),
        (-3i32, 4, 3),
        (2, 3, 5),
        (100, 64, 0),
    ] {
        let what = format!("arange({start}, {}) over {n} lanes", start + block);
        if block == 3 {
            // Not a power of two: a specialization error, not a kernel.
            if ranges::arange_zeros::ir(start, block).is_ok() {
                return Err(format!("{what}: a range of 3 was accepted"));
            }
            continue;
        }
        let k = ranges::arange_zeros::ir(start, block).map_err(|e| format!("{what}: {e}"))?;
        let len = (n as usize).max(1) + block as usize;
        let mut r = rng(1900);
        let args = [
            Arg::Buf(data::bits(DType::F32, len, &mut r)),
            Arg::Buf(HostData::I32(vec![-1; len])),
            Arg::Buf(HostData::F32(vec![7.0; len])),
            i32_arg(n),
        ];
        let grid = [(n.max(1) as u32).div_ceil(block as u32), 1, 1];
        let o = run(dev, &what, &k, grid, 4, &args)?;
        o.check_all(&Tol::exact(dev))?;
        let ints: Vec<i32> = (0..len as i32)
            .map(|i| if i < n { start + i % block } else { -1 })
            .collect();
        let zs: Vec<f32> = (0..len as i32)
            .map(|i| if i < n { 0.0 } else { 7.0 })
            .collect();
        compare(&what, &o.got[1], &HostData::I32(ints), &Tol::Bits)?;
        compare(&what, &o.got[2], &HostData::F32(zs), &Tol::Bits)?;
    }
    Ok(())
}

//! Scans and reductions with a combine function, written in the DSL as a Triton user would:
//! `cumsum`/`cumprod` (forwards and reversed) along both axes of ragged `[m, n]` blocks,
//! `associative_scan` with a non-commutative combine (forward fill of non-zeros) and with
//! `maximum`, `.reduce` with a closure, `argmax`/`argmin` (first index on ties, the first NaN
//! where there is one, infinities, an empty mask), against the reference interpreter (bit for
//! bit: every backend runs the same tree of ops) and plain Rust (exact for integers, within
//! a rounding bound for float sums, which add in the tree's order); `i64` and bool scans for
//! the other register widths.

use crate::data::rng;
use crate::harness::{compare, i32_arg, run, test, Arg, Test, Tol};
use bitmat::ir::HostData;
use bitmat::Device;
use rand::Rng;

/// The tests of this module.
pub fn tests() -> Vec<Test> {
    vec![
        test("scan::cumsum_cumprod_scan_reduce_i32", check_int),
        test("scan::cumsum_argmax_argmin_f32", check_float),
        test("scan::sort_i32_f32_both_directions", check_sort),
        test("scan::cumsum_i64_and_bool_scans", check_wide_and_bool),
    ]
}

mod kernels {
    use bitmat::prelude::*;

    /// Scans of an `[m, n]` i32 matrix by `[bm, bn]` blocks (masked-off elements load 0):
    /// along the rows (axis 1) cumsum, reversed cumsum, cumprod and a forward fill of
    /// non-zeros; along the columns (axis 0) cumsum; per row a closure `reduce` (sum) and
    /// the forward fill's last value, `argmax` and `argmin`.
    #[bitkernel]
    #[allow(clippy::too_many_arguments)]
    pub fn int_scans(
        x: Ptr<i32>,
        csum: Ptr<i32>,
        rsum: Ptr<i32>,
        cprod: Ptr<i32>,
        fill: Ptr<i32>,
        colsum: Ptr<i32>,
        red: Ptr<i32>,
        amax: Ptr<i32>,
        amin: Ptr<i32>,
        m: i32,
        n: i32,
        #[constexpr] bm: i32,
        #[constexpr] bn: i32,
    ) {
        let rm = program_id(0) * bm + arange(bm);
        let rn = arange(bn);
        let mask = (rm.unsqueeze(1) < m) & (rn.unsqueeze(0) < n);
        let at = rm.unsqueeze(1) * n + rn.unsqueeze(0);
        let v = load(x + at, mask, 0);
        store(csum + at, v.cumsum(1), mask);
        store(rsum + at, v.cumsum_reverse(-1), mask);
        store(cprod + at, v.cumprod(1), mask);
        let last = |a: Tile, b: Tile| select(b != 0, b, a);
        store(fill + at, associative_scan(v, 1, last), mask);
        store(colsum + at, v.cumsum(0), mask);
        let rows = rm < m;
        store(red + rm * 2, v.reduce(1, |a, b| a + b), rows);
        store(red + rm * 2 + 1, v.reduce(1, last), rows);
        store(amax + rm, v.argmax(1), rows);
        store(amin + rm, v.argmin(1), rows);
    }

    /// Float rows of `[m, n]` (`bn` per program, masked-off lanes load `-inf` for argmax and
    /// `+inf` for argmin): cumsum, running max by `associative_scan`, argmax, argmin.
    #[bitkernel]
    #[allow(clippy::too_many_arguments)]
    pub fn float_scans(
        x: Ptr<f32>,
        csum: Ptr<f32>,
        cmax: Ptr<f32>,
        amax: Ptr<i32>,
        amin: Ptr<i32>,
        m: i32,
        n: i32,
        #[constexpr] bm: i32,
        #[constexpr] bn: i32,
    ) {
        let rm = program_id(0) * bm + arange(bm);
        let rn = arange(bn);
        let mask = (rm.unsqueeze(1) < m) & (rn.unsqueeze(0) < n);
        let at = rm.unsqueeze(1) * n + rn.unsqueeze(0);
        let v = load(x + at, mask, 0.0);
        store(csum + at, v.cumsum(1), mask);
        store(
            cmax + at,
            associative_scan(v, 1, |a, b| maximum(a, b)),
            mask,
        );
        let rows = rm < m;
        store(
            amax + rm,
            load(x + at, mask, f32::NEG_INFINITY).argmax(1),
            rows,
        );
        store(amin + rm, load(x + at, mask, f32::INFINITY).argmin(1), rows);
    }
}

mod wide {
    use bitmat::prelude::*;

    /// Scans of 64-bit and 1-bit values along the rows of `[m, n]` blocks: the wrapping
    /// `i64` cumsum, and whether a zero was seen so far (an `associative_scan` of `|` over a
    /// bool tile, stored as 0 or 1).
    #[bitkernel]
    #[allow(clippy::too_many_arguments)]
    pub fn wide_scans(
        x: Ptr<i64>,
        csum: Ptr<i64>,
        zero_seen: Ptr<i32>,
        m: i32,
        n: i32,
        #[constexpr] bm: i32,
        #[constexpr] bn: i32,
    ) {
        let rm = program_id(0) * bm + arange(bm);
        let rn = arange(bn);
        let mask = (rm.unsqueeze(1) < m) & (rn.unsqueeze(0) < n);
        let at = rm.unsqueeze(1) * n + rn.unsqueeze(0);
        let v = load(x + at, mask, 1);
        store(csum + at, v.cumsum(1), mask);
        let seen = associative_scan(v == 0, 1, |a, b| a | b);
        store(zero_seen + at, select(seen, 1, 0), mask);
    }
}

mod sorts {
    use bitmat::prelude::*;

    /// Each row of `[m, n]` i32 and f32 matrices sorted, ascending and descending, in blocks
    /// of `bn` columns (masked-off lanes load the value that sorts last).
    #[bitkernel]
    #[allow(clippy::too_many_arguments)]
    pub fn sorts(
        xi: Ptr<i32>,
        xf: Ptr<f32>,
        ia: Ptr<i32>,
        id: Ptr<i32>,
        fa: Ptr<f32>,
        fd: Ptr<f32>,
        m: i32,
        n: i32,
        #[constexpr] bm: i32,
        #[constexpr] bn: i32,
    ) {
        let rm = program_id(0) * bm + arange(bm);
        let rn = arange(bn);
        let mask = (rm.unsqueeze(1) < m) & (rn.unsqueeze(0) < n);
        let at = rm.unsqueeze(1) * n + rn.unsqueeze(0);
        store(ia + at, load(xi + at, mask, i32::MAX).sort(1, false), mask);
        store(id + at, load(xi + at, mask, i32::MIN).sort(-1, true), mask);
        store(fa + at, load(xf + at, mask, f32::NAN).sort(1, false), mask);
        store(fd + at, load(xf + at, mask, f32::NAN).sort(1, true), mask);
    }
}

/// `sort` against Rust's `sort_by` with the same total order (a NaN above every number);
/// `-0.0` and `0.0` may come in either order.
fn check_sort(dev: &Device) -> Result<(), String> {
    for (case, (m, n, bm, bn)) in CASES.into_iter().enumerate() {
        let k = sorts::sorts::ir(bm, bn).map_err(|e| e.to_string())?;
        let (mu, nu) = (m as usize, n as usize);
        let mut r = rng(2800 + case as u64);
        let xi: Vec<i32> = (0..mu * nu).map(|_| r.gen_range(-20..20) * 1000).collect();
        let specials = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 0.0];
        let xf: Vec<f32> = (0..mu * nu)
            .map(|_| {
                if r.gen_bool(0.2) {
                    specials[r.gen_range(0..specials.len())]
                } else {
                    f32::from(r.gen_range(-30i8..30)) * 0.5
                }
            })
            .collect();
        let len = (mu * nu).max(1);
        let args = [
            Arg::Buf(HostData::I32(xi.clone())),
            Arg::Buf(HostData::F32(xf.clone())),
            i32_out(mu * nu),
            i32_out(mu * nu),
            f32_out(mu * nu),
            f32_out(mu * nu),
            i32_arg(m),
            i32_arg(n),
        ];
        let what = format!("sort of [{m}, {n}] in blocks [{bm}, {bn}]");
        let o = run(dev, &what, &k, row_blocks(m, bm), 4, &args)?;
        o.check_all(&Tol::exact(dev))?;
        let order = |a: &f32, b: &f32| match (a.is_nan(), b.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ => a.partial_cmp(b).unwrap(),
        };
        let (mut ia, mut id, mut fa, mut fd) =
            (vec![0; len], vec![0; len], vec![0.0; len], vec![0.0; len]);
        for i in 0..mu {
            let mut ri = row(&xi, nu, i).to_vec();
            ri.sort_unstable();
            ia[i * nu..(i + 1) * nu].copy_from_slice(&ri);
            ri.reverse();
            id[i * nu..(i + 1) * nu].copy_from_slice(&ri);
            let mut rf = row(&xf, nu, i).to_vec();
            rf.sort_by(order);
            fa[i * nu..(i + 1) * nu].copy_from_slice(&rf);
            // Descending: the padding (NaN) sorts first, then the row's NaNs and numbers.
            let mut padded = rf.clone();
            padded.resize(bn as usize, f32::NAN);
            padded.sort_by(|a, b| order(b, a));
            fd[i * nu..(i + 1) * nu].copy_from_slice(&padded[..nu]);
        }
        let zero_ties = Tol::Bound(vec![0.0; len]);
        compare_outputs(
            &what,
            &o.got,
            [
                (2, "i32 ascending", HostData::I32(ia), Tol::Bits),
                (3, "i32 descending", HostData::I32(id), Tol::Bits),
                (4, "f32 ascending", HostData::F32(fa), zero_ties.clone()),
                (5, "f32 descending", HostData::F32(fd), zero_ties),
            ],
        )?;
    }
    Ok(())
}

const CASES: [(i32, i32, i32, i32); 5] = [
    (16, 32, 16, 32),
    (37, 21, 16, 32),
    (5, 3, 4, 4),
    (9, 64, 8, 64),
    (0, 7, 8, 8),
];

/// A zeroed `i32` output of `len` elements (one for an empty matrix: buffers are not empty).
fn i32_out(len: usize) -> Arg {
    Arg::Buf(HostData::I32(vec![0; len.max(1)]))
}

/// A zeroed `f32` output of `len` elements, as [`i32_out`].
fn f32_out(len: usize) -> Arg {
    Arg::Buf(HostData::F32(vec![0.0; len.max(1)]))
}

/// The expected `i32` values of an output (a single 0 where it is empty, as [`i32_out`]).
fn i32_want(mut v: Vec<i32>) -> HostData {
    if v.is_empty() {
        v.push(0);
    }
    HostData::I32(v)
}

/// The expected `f32` values of an output, as [`i32_want`].
fn f32_want(mut v: Vec<f32>) -> HostData {
    if v.is_empty() {
        v.push(0.0);
    }
    HostData::F32(v)
}

/// The grid of one program per `bm` rows of `m` (at least one program).
fn row_blocks(m: i32, bm: i32) -> [u32; 3] {
    [(m.max(1) as u32).div_ceil(bm as u32), 1, 1]
}

/// Compares each output `got[i]` of the run `what` with its expected values from Rust, named `name`,
/// within its tolerance.
fn compare_outputs<const N: usize>(
    what: &str,
    got: &[HostData],
    want: [(usize, &str, HostData, Tol); N],
) -> Result<(), String> {
    for (i, name, w, tol) in want {
        compare(&format!("{what}: {name} against Rust"), &got[i], &w, &tol)?;
    }
    Ok(())
}

/// Row `i` of the row-major `[m, n]` matrix `x`.
fn row<T: Copy>(x: &[T], n: usize, i: usize) -> &[T] {
    &x[i * n..(i + 1) * n]
}

fn check_int(dev: &Device) -> Result<(), String> {
    for (case, (m, n, bm, bn)) in CASES.into_iter().enumerate() {
        let k = kernels::int_scans::ir(bm, bn).map_err(|e| e.to_string())?;
        let (mu, nu) = (m as usize, n as usize);
        let mut r = rng(2600 + case as u64);
        // Small values with zeros (the forward fill skips them), ties and wrapping products.
        let x: Vec<i32> = (0..mu * nu)
            .map(|_| match r.gen_range(0..4) {
                0 => 0,
                1 => r.gen_range(-3..4),
                _ => r.gen_range(-1000..1000),
            })
            .collect();
        let args = [
            Arg::Buf(HostData::I32(x.clone())),
            i32_out(mu * nu),
            i32_out(mu * nu),
            i32_out(mu * nu),
            i32_out(mu * nu),
            i32_out(mu * nu),
            i32_out(2 * mu),
            i32_out(mu),
            i32_out(mu),
            i32_arg(m),
            i32_arg(n),
        ];
        let what = format!("i32 [{m}, {n}] in blocks [{bm}, {bn}]");
        let o = run(dev, &what, &k, row_blocks(m, bm), 4, &args)?;
        o.check_all(&Tol::Bits)?;
        let scan = |f: &dyn Fn(i32, i32) -> i32, rev: bool| {
            let mut out = vec![0; mu * nu];
            for i in 0..mu {
                let mut acc = None;
                let cols: Vec<usize> = if rev {
                    (0..nu).rev().collect()
                } else {
                    (0..nu).collect()
                };
                for j in cols {
                    let v = x[i * nu + j];
                    let a = acc.map_or(v, |a| f(a, v));
                    acc = Some(a);
                    out[i * nu + j] = a;
                }
            }
            out
        };
        let last = |a: i32, b: i32| if b != 0 { b } else { a };
        let mut colsum = vec![0; mu * nu];
        for j in 0..nu {
            let mut acc = 0i32;
            for i in 0..mu {
                // Each program scans its own rows.
                if i % bm as usize == 0 {
                    acc = 0;
                }
                acc = acc.wrapping_add(x[i * nu + j]);
                colsum[i * nu + j] = acc;
            }
        }
        let mut red = Vec::new();
        let (mut amax, mut amin) = (Vec::new(), Vec::new());
        for i in 0..mu {
            let rw = row(&x, nu, i);
            // Masked-off lanes of the block's row load 0 and take part.
            let mut full = rw.to_vec();
            full.resize(bn as usize, 0);
            red.push(full.iter().fold(0i32, |a, &b| a.wrapping_add(b)));
            red.push(full.iter().fold(0, |a, &b| last(a, b)));
            let mx = *full.iter().max().unwrap();
            let mn = *full.iter().min().unwrap();
            amax.push(full.iter().position(|&v| v == mx).unwrap() as i32);
            amin.push(full.iter().position(|&v| v == mn).unwrap() as i32);
        }
        let want = [
            (1, "cumsum", scan(&|a, b| a.wrapping_add(b), false)),
            (2, "cumsum_reverse", scan(&|a, b| a.wrapping_add(b), true)),
            (3, "cumprod", scan(&|a, b| a.wrapping_mul(b), false)),
            (4, "forward fill", scan(&last, false)),
            (5, "cumsum along axis 0", colsum),
            (6, "reduce", red),
            (7, "argmax", amax),
            (8, "argmin", amin),
        ];
        compare_outputs(
            &what,
            &o.got,
            want.map(|(i, name, w)| (i, name, i32_want(w), Tol::Bits)),
        )?;
    }
    Ok(())
}

fn check_float(dev: &Device) -> Result<(), String> {
    for (case, (m, n, bm, bn)) in CASES.into_iter().enumerate() {
        let k = kernels::float_scans::ir(bm, bn).map_err(|e| e.to_string())?;
        let (mu, nu) = (m as usize, n as usize);
        let mut r = rng(2700 + case as u64);
        // No -0.0: `maximum` of -0.0 and +0.0 may return either zero (the README says so; PTX's
        // `max.f32` returns +0.0, the interpreter Rust's `f32::max`), and the rows hold +0.0.
        let specials = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, 1.5];
        let x: Vec<f32> = (0..mu * nu)
            .map(|i| {
                // Rows 0 and 1 keep NaN/infinities out of the sums; later rows get them.
                if i / nu.max(1) >= 2 && r.gen_bool(0.1) {
                    specials[r.gen_range(0..specials.len())]
                } else {
                    f32::from(r.gen_range(-8i8..8)) * 0.25
                }
            })
            .collect();
        let args = [
            Arg::Buf(HostData::F32(x.clone())),
            f32_out(mu * nu),
            f32_out(mu * nu),
            i32_out(mu),
            i32_out(mu),
            i32_arg(m),
            i32_arg(n),
        ];
        let what = format!("f32 [{m}, {n}] in blocks [{bm}, {bn}]");
        let o = run(dev, &what, &k, row_blocks(m, bm), 4, &args)?;
        // Which NaN of two a float op keeps is unspecified (`Tol::AnyNan`): the scans combine
        // infinities and NaNs in one tree order everywhere, but a backend may commute operands.
        o.check_all(&Tol::AnyNan)?;
        let mut csum = vec![0.0f32; mu * nu];
        let mut bound = vec![0.0f64; mu * nu];
        let mut cmax = vec![0.0f32; mu * nu];
        let (mut amax, mut amin) = (Vec::new(), Vec::new());
        for i in 0..mu {
            let (mut s, mut mag, mut mx) = (0.0f64, 0.0f64, f32::NAN);
            for j in 0..nu {
                let v = x[i * nu + j];
                s += f64::from(v);
                mag += f64::from(v.abs());
                mx = mx.max(v);
                csum[i * nu + j] = s as f32;
                // Small quarter-integers sum exactly; the bound covers the rest.
                bound[i * nu + j] = if mag.is_finite() {
                    1e-6 * mag
                } else {
                    f64::INFINITY
                };
                cmax[i * nu + j] = mx;
            }
            let rw = row(&x, nu, i);
            let first = |pick: &dyn Fn(f32, f32) -> bool, fill: f32| {
                let mut full = rw.to_vec();
                full.resize(bn as usize, fill);
                if let Some(p) = full.iter().position(|v| v.is_nan()) {
                    return p as i32;
                }
                let mut best = 0;
                for (j, &v) in full.iter().enumerate() {
                    if pick(v, full[best]) {
                        best = j;
                    }
                }
                best as i32
            };
            amax.push(first(&|a, b| a > b, f32::NEG_INFINITY));
            amin.push(first(&|a, b| a < b, f32::INFINITY));
        }
        if bound.is_empty() {
            bound.push(0.0);
        }
        compare_outputs(
            &what,
            &o.got,
            [
                (1, "cumsum", f32_want(csum), Tol::Bound(bound)),
                (2, "running max", f32_want(cmax), Tol::AnyNan),
                (3, "argmax", i32_want(amax), Tol::Bits),
                (4, "argmin", i32_want(amin), Tol::Bits),
            ],
        )?;
    }
    Ok(())
}

/// The `i64` and bool scans of [`wide::wide_scans`] against Rust: values near `i64::MAX`
/// (the sums wrap) and zeros.
fn check_wide_and_bool(dev: &Device) -> Result<(), String> {
    for (case, (m, n, bm, bn)) in CASES.into_iter().enumerate() {
        let k = wide::wide_scans::ir(bm, bn).map_err(|e| e.to_string())?;
        let (mu, nu) = (m as usize, n as usize);
        let mut r = rng(2700 + case as u64);
        let x: Vec<i64> = (0..mu * nu)
            .map(|_| match r.gen_range(0..5) {
                0 => 0,
                1 => i64::MAX - r.gen_range(0..1000),
                _ => r.gen_range(-(1i64 << 40)..1 << 40),
            })
            .collect();
        let args = [
            Arg::Buf(HostData::I64(x.clone())),
            Arg::Buf(HostData::I64(vec![0; (mu * nu).max(1)])),
            i32_out(mu * nu),
            i32_arg(m),
            i32_arg(n),
        ];
        let what = format!("i64 [{m}, {n}] in blocks [{bm}, {bn}]");
        let o = run(dev, &what, &k, row_blocks(m, bm), 4, &args)?;
        o.check_all(&Tol::Bits)?;
        let (mut csum, mut seen) = (Vec::new(), Vec::new());
        for i in 0..mu {
            let (mut acc, mut zero) = (0i64, false);
            for &v in row(&x, nu, i) {
                acc = acc.wrapping_add(v);
                zero |= v == 0;
                csum.push(acc);
                seen.push(i32::from(zero));
            }
        }
        if csum.is_empty() {
            csum.push(0);
        }
        compare_outputs(
            &what,
            &o.got,
            [
                (1, "cumsum", HostData::I64(csum), Tol::Bits),
                (2, "zero seen", i32_want(seen), Tol::Bits),
            ],
        )?;
    }
    Ok(())
}

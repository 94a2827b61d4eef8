//! The DSL end to end: kernels written with `#[bitkernel]`, specialized and run on the
//! reference interpreter, checked against plain Rust on random inputs.

use bitmat::prelude::*;
use bitmat::Error;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn rng() -> StdRng {
    StdRng::seed_from_u64(7)
}

/// The example of DESIGN.md, verbatim.
#[bitkernel(inline)]
fn unpack_ternary(packed: Tile, index: Tile) -> Tile {
    let code = (packed >> (index * 2)) & 3;
    ((code & 1) as i8) - ((code >> 1) as i8)
}

#[bitkernel]
fn w2a8_matmul(
    a: Ptr<i8>,
    w: Ptr<u8>,
    c: Ptr<i32>,
    m: i32,
    n: i32,
    k: i32,
    #[constexpr] block_m: i32,
    #[constexpr] block_n: i32,
    #[constexpr] block_k: i32,
) {
    let rm = program_id(0) * block_m + arange(block_m);
    let rn = program_id(1) * block_n + arange(block_n);
    let rk = arange(block_k);
    let mut acc = zeros::<i32>([block_m, block_n]);
    for k0 in range(0, k, block_k) {
        let kk = k0 + rk;
        let x = load(
            a + rm.unsqueeze(1) * k + kk.unsqueeze(0),
            rm.unsqueeze(1) < m,
            0,
        );
        let packed = load(
            w + rn.unsqueeze(0) * (k / 4) + (kk / 4).unsqueeze(1),
            rn.unsqueeze(0) < n,
            0,
        );
        acc = dot(x, unpack_ternary(packed, kk.unsqueeze(1) % 4), acc);
    }
    store(
        c + rm.unsqueeze(1) * n + rn.unsqueeze(0),
        acc,
        (rm.unsqueeze(1) < m) & (rn.unsqueeze(0) < n),
    );
}

fn ternary_reference(x: &[i8], w: &[i8], m: usize, n: usize, k: usize) -> Vec<i32> {
    let mut c = vec![0i32; m * n];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k)
                .map(|p| i32::from(x[i * k + p]) * i32::from(w[j * k + p]))
                .sum();
        }
    }
    c
}

#[test]
fn design_example_runs_on_the_interpreter() -> Result<(), Error> {
    let mut rng = rng();
    // M and N ragged; the example does not mask K, so K is a multiple of block_k.
    let (m, n, k) = (19, 37, 64);
    let x: Vec<i8> = (0..m * k).map(|_| rng.gen_range(-127..=127)).collect();
    let w: Vec<i8> = (0..n * k).map(|_| rng.gen_range(-1..=1)).collect();
    let packed = bitmat::formats::pack_ternary(&w, n, k)?;
    let dev = Device::interpreter();
    let (a, wb, c) = (
        dev.upload(&x)?,
        dev.upload(&packed)?,
        dev.zeros::<i32>(m * n)?,
    );
    let grid = (m.div_ceil(16) as u32, n.div_ceil(16) as u32);
    w2a8_matmul::launch(
        &dev, grid, &a, &wb, &c, m as i32, n as i32, k as i32, 16, 16, 32,
    )?;
    assert_eq!(c.to_vec()?, ternary_reference(&x, &w, m, n, k));
    Ok(())
}

#[test]
fn out_of_bounds_access_is_reported_with_kernel_param_and_index() -> Result<(), Error> {
    // The example does not mask K: with K = 36 and block_k = 32 the second block reads past
    // the end of `a` on the last row, and the interpreter says so.
    let (m, n, k) = (2, 4, 36);
    let dev = Device::interpreter();
    let a = dev.upload(&vec![1i8; m * k])?;
    let w = dev.upload(&vec![0u8; n * k / 4])?;
    let c = dev.zeros::<i32>(m * n)?;
    let err = w2a8_matmul::launch(
        &dev,
        (1, 1),
        &a,
        &w,
        &c,
        m as i32,
        n as i32,
        k as i32,
        2,
        4,
        32,
    )
    .expect_err("unmasked K overrun must be reported");
    let msg = err.to_string();
    assert!(msg.contains("w2a8_matmul"), "{msg}");
    assert!(msg.contains("out-of-bounds"), "{msg}");
    assert!(msg.contains("`a`") || msg.contains("`w`"), "{msg}");
    Ok(())
}

#[bitkernel]
fn elementwise(
    x: Ptr<f32>,
    y: Ptr<f32>,
    out: Ptr<f32>,
    flags: Ptr<bool>,
    n: i32,
    #[constexpr] block: i32,
    #[constexpr] op: &'static str,
) {
    let offs = program_id(0) * block + arange(block);
    let mask = offs < n;
    let a = load(x + offs, mask, 0.0);
    let b = load(y + offs, mask, 1.0);
    // A comptime `match` on a constexpr: only the chosen arm is traced.
    let r = match op {
        "add" => a + b,
        "fma" => a * b + 2.5,
        "max" => maximum(a, b),
        "min" => minimum(a, b),
        "select" => select(a > b, a, b * 2.0),
        "abs_sqrt" => a.abs().sqrt(),
        "exp_log" => (a.abs() + 1.0).log() + (a * 0.1).exp(),
        "rsqrt" => (b.abs() + 1.0).rsqrt(),
        "round" => (a * 3.0).round(),
        "neg" => -a - 1.0,
        _ => {
            static_assert(false, "unknown op");
            a
        }
    };
    store(out + offs, r, mask);
    store(flags + offs, (a >= b) | (a == 0.0), mask);
}

#[test]
fn float_elementwise_matches_rust() -> Result<(), Error> {
    let mut rng = rng();
    let n = 100;
    let x: Vec<f32> = (0..n).map(|_| rng.gen_range(-4.0..4.0)).collect();
    let y: Vec<f32> = (0..n).map(|_| rng.gen_range(-4.0..4.0)).collect();
    type Op = fn(f32, f32) -> f32;
    let cases: [(&'static str, Op); 10] = [
        ("add", |a, b| a + b),
        ("fma", |a, b| a * b + 2.5),
        ("max", f32::max),
        ("min", f32::min),
        ("select", |a, b| if a > b { a } else { b * 2.0 }),
        ("abs_sqrt", |a, _| a.abs().sqrt()),
        ("exp_log", |a, _| (a.abs() + 1.0).ln() + (a * 0.1).exp()),
        ("rsqrt", |_, b| 1.0 / (b.abs() + 1.0).sqrt()),
        ("round", |a, _| (a * 3.0).round_ties_even()),
        ("neg", |a, _| -a - 1.0),
    ];
    let dev = Device::interpreter();
    let (xb, yb) = (dev.upload(&x)?, dev.upload(&y)?);
    for (name, f) in cases {
        let (out, flags) = (dev.zeros::<f32>(n)?, dev.zeros::<bool>(n)?);
        elementwise::launch(&dev, 4, &xb, &yb, &out, &flags, n as i32, 32, name)?;
        let want: Vec<f32> = x.iter().zip(&y).map(|(&a, &b)| f(a, b)).collect();
        assert_eq!(out.to_vec()?, want, "op {name}");
        let want_flags: Vec<bool> = x
            .iter()
            .zip(&y)
            .map(|(&a, &b)| a >= b || a == 0.0)
            .collect();
        assert_eq!(flags.to_vec()?, want_flags);
    }
    Ok(())
}

#[bitkernel]
fn integer_ops(
    x: Ptr<u8>,
    s: Ptr<i32>,
    out: Ptr<i32>,
    bits: Ptr<u8>,
    n: i32,
    #[constexpr] block: i32,
) {
    let offs = program_id(0) * block + arange(block);
    let mask = offs < n;
    let v = load(x + offs, mask, 0);
    let sh = load(s + offs, mask, 0);
    // u8 >> i32: the shift amount takes the shifted type, as in Rust.
    store(bits + offs, (v >> (sh % 8)) ^ 0x5A, mask);
    let w = v as i32;
    store(
        out + offs,
        (w * 7 - 300) / 11 + (w % 5) * (sh & 3) - (-w).abs(),
        mask,
    );
}

#[test]
fn integer_ops_match_rust() -> Result<(), Error> {
    let mut rng = rng();
    let n = 77;
    let x: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
    let s: Vec<i32> = (0..n).map(|_| rng.gen_range(0..100)).collect();
    let dev = Device::interpreter();
    let (out, bits) = (dev.zeros::<i32>(n)?, dev.zeros::<u8>(n)?);
    integer_ops::launch(
        &dev,
        3,
        &dev.upload(&x)?,
        &dev.upload(&s)?,
        &out,
        &bits,
        n as i32,
        32,
    )?;
    let want_bits: Vec<u8> = x
        .iter()
        .zip(&s)
        .map(|(&v, &sh)| (v >> (sh % 8)) ^ 0x5A)
        .collect();
    let want: Vec<i32> = x
        .iter()
        .zip(&s)
        .map(|(&v, &sh)| {
            let w = i32::from(v);
            (w * 7 - 300) / 11 + (w % 5) * (sh & 3) - (-w).abs()
        })
        .collect();
    assert_eq!(bits.to_vec()?, want_bits);
    assert_eq!(out.to_vec()?, want);
    Ok(())
}

/// Row sums, maxima and minima of a `[rows, cols]` matrix: one program per block of rows.
#[bitkernel]
fn row_stats(
    x: Ptr<f32>,
    sums: Ptr<f32>,
    maxs: Ptr<f32>,
    mins: Ptr<i32>,
    rows: i32,
    cols: i32,
    #[constexpr] block_r: i32,
    #[constexpr] block_c: i32,
) {
    let r = program_id(0) * block_r + arange(block_r);
    let c = arange(block_c);
    let mut total = zeros::<f32>([block_r]);
    let mut peak = full([block_r], f32::NEG_INFINITY);
    let mut low = full([block_r], i32::MAX);
    for c0 in range(0, cols, block_c) {
        let mask = (r.unsqueeze(1) < rows) & ((c0 + c).unsqueeze(0) < cols);
        let v = load(x + r.unsqueeze(1) * cols + (c0 + c).unsqueeze(0), mask, 0.0);
        total += v.sum(1);
        peak = maximum(peak, select(mask, v, f32::NEG_INFINITY).max(-1));
        low = minimum(low, select(mask, v as i32, i32::MAX).min(1));
    }
    store(sums + r, total, r < rows);
    store(maxs + r, peak, r < rows);
    store(mins + r, low, r < rows);
}

#[test]
fn reductions_with_several_carried_values() -> Result<(), Error> {
    let mut rng = rng();
    let (rows, cols) = (13, 45);
    let x: Vec<f32> = (0..rows * cols)
        .map(|_| rng.gen_range(-50.0..50.0))
        .collect();
    let dev = Device::interpreter();
    let (s, mx, mn) = (
        dev.zeros::<f32>(rows)?,
        dev.zeros::<f32>(rows)?,
        dev.zeros::<i32>(rows)?,
    );
    row_stats::launch(
        &dev,
        4,
        &dev.upload(&x)?,
        &s,
        &mx,
        &mn,
        rows as i32,
        cols as i32,
        4,
        16,
    )?;
    let (s, mx, mn) = (s.to_vec()?, mx.to_vec()?, mn.to_vec()?);
    for r in 0..rows {
        let row = &x[r * cols..(r + 1) * cols];
        let want_sum: f32 = row.iter().sum();
        assert!(
            (s[r] - want_sum).abs() <= 1e-3,
            "row {r}: {} vs {want_sum}",
            s[r]
        );
        assert_eq!(mx[r], row.iter().copied().fold(f32::NEG_INFINITY, f32::max));
        assert_eq!(mn[r], row.iter().map(|&v| v as i32).min().unwrap());
    }
    Ok(())
}

/// Runtime `if` on a scalar, with variables assigned in the branches and a value produced.
#[bitkernel]
fn clamp_rows(x: Ptr<f32>, out: Ptr<f32>, limit: Ptr<f32>, cols: i32, #[constexpr] block: i32) {
    let row = program_id(0);
    let offs = arange(block);
    let v = load(x + row * cols + offs, offs < cols, 0.0);
    let total = v.sum(0);
    let lim = load(limit);
    let mut scale = full([], 1.0);
    let shifted = if total > lim {
        scale = lim / total;
        v - 1.0
    } else if total < -lim {
        scale = full([], -1.0);
        v + 1.0
    } else {
        v
    };
    store(out + row * cols + offs, shifted * scale, offs < cols);
}

#[test]
fn runtime_if_yields_values_and_assigned_variables() -> Result<(), Error> {
    let mut rng = rng();
    let (rows, cols) = (24, 8);
    let x: Vec<f32> = (0..rows * cols).map(|_| rng.gen_range(-3.0..3.0)).collect();
    let lim = 2.0f32;
    let dev = Device::interpreter();
    let out = dev.zeros::<f32>(rows * cols)?;
    clamp_rows::launch(
        &dev,
        rows as u32,
        &dev.upload(&x)?,
        &out,
        &dev.upload(&[lim])?,
        cols as i32,
        8,
    )?;
    let got = out.to_vec()?;
    let mut branches = [0; 3];
    for r in 0..rows {
        let row = &x[r * cols..(r + 1) * cols];
        let total: f32 = row.iter().sum();
        let (scale, shift, b) = if total > lim {
            (lim / total, -1.0, 0)
        } else if total < -lim {
            (-1.0, 1.0, 1)
        } else {
            (1.0, 0.0, 2)
        };
        branches[b] += 1;
        for c in 0..cols {
            let want = (row[c] + shift) * scale;
            assert!((got[r * cols + c] - want).abs() <= 1e-5, "row {r} col {c}");
        }
    }
    assert!(
        branches.iter().all(|&b| b > 0),
        "every branch taken: {branches:?}"
    );
    Ok(())
}

/// Comptime control flow: Rust `for` unrolls, `if` on a constexpr prunes, `while` runs at
/// specialization; a helper takes both tiles and Rust values.
#[bitkernel(inline)]
fn polynomial(x: Tile, coefficients: &[f32]) -> Tile {
    let mut acc = zeros::<f32>(x.shape());
    for &c in coefficients.iter().rev() {
        acc = acc * x + c;
    }
    acc
}

#[bitkernel]
fn comptime_control(
    x: Ptr<f32>,
    out: Ptr<f32>,
    n: i32,
    #[constexpr] block: i32,
    #[constexpr] cubic: bool,
) {
    let mut width = 1;
    while width < block {
        width *= 2;
    }
    let offs = program_id(0) * width + arange(width);
    let v = load(x + offs, offs < n, 0.0);
    let r = if cubic {
        polynomial(v, &[1.0, -2.0, 0.5, 0.25])
    } else {
        polynomial(v, &[3.0, 1.0])
    };
    store(out + offs, r, offs < n);
}

#[test]
fn comptime_control_flow_and_helpers() -> Result<(), Error> {
    let x: Vec<f32> = (0..50).map(|i| i as f32 * 0.1 - 2.0).collect();
    let dev = Device::interpreter();
    let xb = dev.upload(&x)?;
    for cubic in [true, false] {
        let out = dev.zeros::<f32>(x.len())?;
        // block 13 is rounded up to 16 by the comptime `while`.
        comptime_control::launch(&dev, 4, &xb, &out, x.len() as i32, 13, cubic)?;
        let want: Vec<f32> = x
            .iter()
            .map(|&v| {
                if cubic {
                    ((0.25 * v + 0.5) * v - 2.0) * v + 1.0
                } else {
                    v + 3.0
                }
            })
            .collect();
        let got = out.to_vec()?;
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-5, "{g} vs {w}");
        }
    }
    // Each (constexprs) set is its own kernel, specialized once.
    assert_eq!(dev.cached_kernels(), 2);
    let ir = comptime_control::ir(13, true)?;
    assert!(ir.to_string().contains("arange 16"), "{ir}");
    Ok(())
}

#[bitkernel]
fn histogram(x: Ptr<i32>, bins: Ptr<i32>, n: i32, #[constexpr] block: i32) {
    let offs = program_id(0) * block + arange(block);
    let mask = offs < n;
    let v = load(x + offs, mask, 0);
    atomic_add(bins + v, full([block], 1), mask);
}

#[test]
fn atomic_add_accumulates_across_programs() -> Result<(), Error> {
    let mut rng = rng();
    let x: Vec<i32> = (0..1000).map(|_| rng.gen_range(0..10)).collect();
    let dev = Device::interpreter();
    let bins = dev.zeros::<i32>(10)?;
    histogram::launch(&dev, 32, &dev.upload(&x)?, &bins, x.len() as i32, 32)?;
    let mut want = vec![0; 10];
    x.iter().for_each(|&v| want[v as usize] += 1);
    assert_eq!(bins.to_vec()?, want);
    Ok(())
}

#[bitkernel]
fn half_types(
    a: Ptr<f16>,
    b: Ptr<bf16>,
    out_a: Ptr<f32>,
    out_b: Ptr<bf16>,
    bits: Ptr<u16>,
    #[constexpr] block: i32,
) {
    let offs = arange(block);
    let x = load(a + offs);
    let y = load(b + offs);
    store(out_a + offs, (x * x) as f32);
    store(out_b + offs, y + y);
    store(bits + offs, x.bitcast::<u16>());
}

#[test]
fn f16_bf16_and_bitcasts() -> Result<(), Error> {
    let xs: Vec<f16> = (0..16)
        .map(|i| f16::from_f32(i as f32 * 0.37 - 3.0))
        .collect();
    let ys: Vec<bf16> = (0..16).map(|i| bf16::from_f32(i as f32 * 1.1)).collect();
    let dev = Device::interpreter();
    let (oa, ob, bits) = (
        dev.zeros::<f32>(16)?,
        dev.zeros::<bf16>(16)?,
        dev.zeros::<u16>(16)?,
    );
    half_types::launch(
        &dev,
        1,
        &dev.upload(&xs)?,
        &dev.upload(&ys)?,
        &oa,
        &ob,
        &bits,
        16,
    )?;
    let want_a: Vec<f32> = xs
        .iter()
        .map(|x| f16::from_f32(x.to_f32() * x.to_f32()).to_f32())
        .collect();
    let want_b: Vec<bf16> = ys
        .iter()
        .map(|y| bf16::from_f32(y.to_f32() + y.to_f32()))
        .collect();
    assert_eq!(oa.to_vec()?, want_a);
    assert_eq!(ob.to_vec()?, want_b);
    assert_eq!(
        bits.to_vec()?,
        xs.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );
    Ok(())
}

#[bitkernel]
fn grid_3d(out: Ptr<i32>) {
    let (x, y, z) = (program_id(0), program_id(1), program_id(2));
    let (nx, ny) = (num_programs(0), num_programs(1));
    let idx = (z * ny + y) * nx + x;
    store(out + idx, x * 100 + y * 10 + z);
}

#[test]
fn three_dimensional_grids() -> Result<(), Error> {
    let dev = Device::interpreter();
    let out = dev.zeros::<i32>(2 * 3 * 4)?;
    grid_3d::launch(&dev, (2, 3, 4), &out)?;
    let mut want = Vec::new();
    for z in 0..4 {
        for y in 0..3 {
            for x in 0..2 {
                want.push(x * 100 + y * 10 + z);
            }
        }
    }
    assert_eq!(out.to_vec()?, want);
    Ok(())
}

#[bitkernel]
fn transpose_tile(x: Ptr<i32>, out: Ptr<i32>, #[constexpr] size: i32) {
    let r = arange(size);
    let tile = load(x + r.unsqueeze(1) * size + r.unsqueeze(0));
    let flat = tile.reshape([size * size]);
    let bcast = r.unsqueeze(0).broadcast_to([size, size]);
    store(out + r.unsqueeze(0) * size + r.unsqueeze(1), tile);
    store(
        out + size * size + arange(size * size),
        flat + bcast.reshape([size * size]),
    );
}

#[test]
fn reshape_broadcast_and_strided_stores() -> Result<(), Error> {
    let s = 4usize;
    let x: Vec<i32> = (0..16).collect();
    let dev = Device::interpreter();
    let out = dev.zeros::<i32>(32)?;
    transpose_tile::launch(&dev, 1, &dev.upload(&x)?, &out, s as i32)?;
    let got = out.to_vec()?;
    for i in 0..s {
        for j in 0..s {
            assert_eq!(got[j * s + i], x[i * s + j]);
            assert_eq!(got[16 + i * s + j], x[i * s + j] + j as i32);
        }
    }
    Ok(())
}

// ---- Errors at specialization time name the kernel, the op and the shapes.

#[bitkernel]
fn bad_dot(out: Ptr<f32>, #[constexpr] k2: i32) {
    let a = zeros::<f32>([16, 32]);
    let b = zeros::<f32>([k2, 16]);
    let c = dot(a, b);
    store(
        out + arange(16).unsqueeze(1) * 16 + arange(16).unsqueeze(0),
        c,
    );
}

#[bitkernel]
fn bad_types(x: Ptr<f32>, y: Ptr<i32>) {
    let a = load(x + arange(8));
    let b = load(y + arange(8));
    store(x + arange(8), a + b);
}

#[bitkernel]
fn bad_extent(x: Ptr<f32>, #[constexpr] block: i32) {
    store(x + arange(block), 1.0);
}

#[bitkernel]
fn bad_carry(x: Ptr<f32>, n: i32) {
    let mut acc = zeros::<f32>([8]);
    for i in range(0, n, 8) {
        acc = (load(x + i + arange(8)) + acc).sum(0);
    }
    store(x, acc.sum(0));
}

#[bitkernel]
fn bad_comptime_assign(x: Ptr<i32>, n: i32) {
    let mut count = 0;
    for _i in range(0, n, 1) {
        count += 1;
    }
    store(x, full([], count));
}

#[bitkernel]
fn bad_condition(x: Ptr<f32>) {
    let v = load(x + arange(4));
    if v > 0.0 {
        store(x + arange(4), v);
    }
}

#[bitkernel]
fn bad_constant(x: Ptr<u8>) {
    let v = load(x + arange(4));
    store(x + arange(4), v + 300);
}

/// Misused shape ops, picked by `case`: `trans` of a 1-D tile, a repeated axis in `permute`,
/// `split` of a last axis of 4, `cat` of two shapes.
#[bitkernel]
fn bad_shapes(x: Ptr<f32>, #[constexpr] case: i32) {
    let v = load(x + arange(4));
    if case == 0 {
        store(x + arange(4), v.trans());
    } else if case == 1 {
        let m = v.reshape([2, 2]).permute([1, 1]);
        store(x + arange(4), m.reshape([4]));
    } else if case == 2 {
        let (a, _b) = v.reshape([1, 4]).split();
        store(x + arange(1), a);
    } else {
        store(x + arange(8), cat(v, v.reshape([2, 2])).reshape([8]));
    }
}

fn specialization_error(result: Result<bitmat::ir::Kernel, Error>) -> String {
    match result {
        Err(e) => e.to_string(),
        Ok(k) => panic!("kernel `{}` specialized but should not have", k.name),
    }
}

#[test]
fn specialization_errors_name_kernel_op_and_shapes() {
    let e = specialization_error(bad_dot::ir(16));
    assert!(
        e.contains("bad_dot")
            && e.contains("`dot`")
            && e.contains("f32[16x32]")
            && e.contains("f32[16x16]"),
        "{e}"
    );
    assert!(bad_dot::ir(32).is_ok());

    let e = specialization_error(bad_types::ir());
    assert!(
        e.contains("bad_types") && e.contains("f32[8]") && e.contains("i32[8]") && e.contains("as"),
        "{e}"
    );

    let e = specialization_error(bad_extent::ir(12));
    assert!(
        e.contains("bad_extent") && e.contains("12") && e.contains("power of two"),
        "{e}"
    );

    let e = specialization_error(bad_carry::ir());
    assert!(
        e.contains("bad_carry") && e.contains("`acc`") && e.contains("f32[8]"),
        "{e}"
    );

    let e = specialization_error(bad_comptime_assign::ir());
    assert!(e.contains("`count`") && e.contains("compile-time"), "{e}");

    let e = specialization_error(bad_condition::ir());
    assert!(
        e.contains("bad_condition") && e.contains("bool[4]") && e.contains("select"),
        "{e}"
    );

    let e = specialization_error(bad_constant::ir());
    assert!(e.contains("300") && e.contains("u8"), "{e}");

    for (case, words) in [
        (0, ["`trans`", "f32[4]", "permute"]),
        (1, ["`permute`", "[1, 1]", "f32[2x2]"]),
        (2, ["`split`", "f32[1x4]", "extent 2"]),
        (3, ["`cat`", "f32[4]", "f32[2x2]"]),
    ] {
        let e = specialization_error(bad_shapes::ir(case));
        assert!(
            e.contains("bad_shapes") && words.iter().all(|w| e.contains(w)),
            "{e}"
        );
    }
}

#[test]
fn launch_errors_are_typed() -> Result<(), Error> {
    let here = Device::interpreter();
    let there = Device::interpreter();
    let x = there.upload(&[1i32, 2, 3])?;
    let bins = here.zeros::<i32>(4)?;
    let err = histogram::launch(&here, 1, &x, &bins, 3, 4).expect_err("buffer on another device");
    assert!(err.to_string().contains("lives on"), "{err}");

    let err = grid_3d::launch(&here, (1, 70000, 1), &bins).expect_err("grid axis too large");
    assert!(
        matches!(err, Error::Runtime(bitmat::RuntimeError::Grid { .. })),
        "{err}"
    );
    // Without a driver (or a GPU) opening CUDA is a typed error; with one it opens.
    assert!(matches!(
        Device::cuda(0),
        Ok(_) | Err(bitmat::RuntimeError::NoCudaDriver { .. })
    ));
    Ok(())
}

/// Every float math method on a tile, and on a runtime scalar (broadcast by `store`).
#[bitkernel]
fn math_methods(x: Ptr<f32>, out: Ptr<f32>, n: i32, s: f32, #[constexpr] block: i32) {
    let offs = program_id(0) * block + arange(block);
    let mask = offs < n;
    let v = load(x + offs, mask, 0.0);
    store(out + offs, v.exp2(), mask);
    store(out + n + offs, v.log2(), mask);
    store(out + 2 * n + offs, v.sin(), mask);
    store(out + 3 * n + offs, v.cos(), mask);
    store(out + 4 * n + offs, v.tanh(), mask);
    store(out + 5 * n + offs, v.erf(), mask);
    store(out + 6 * n + offs, v.sigmoid(), mask);
    store(out + 7 * n + offs, v.floor(), mask);
    store(out + 8 * n + offs, v.ceil(), mask);
    store(out + 9 * n + offs, s.erf() + s.sigmoid().floor(), mask);
}

/// The methods of [`math_methods`] in `f64`, in its output order.
const MATH_F64: [fn(f64) -> f64; 9] = [
    f64::exp2,
    f64::log2,
    f64::sin,
    f64::cos,
    f64::tanh,
    libm::erf,
    |x| 1.0 / (1.0 + (-x).exp()),
    f64::floor,
    f64::ceil,
];

/// Within 4 ulp of f32 at `want` (and flushed subnormals), or both NaN.
fn close_f32(got: f32, want: f64) -> bool {
    let ulp = 2f64.powi(want.abs().max(2f64.powi(-126)).log2().floor() as i32 - 23);
    (got.is_nan() && want.is_nan())
        || f64::from(got) == want
        || (f64::from(got) - want).abs() <= 4.0 * ulp + 2f64.powi(-126)
}

#[test]
fn math_methods_match_f64_on_the_interpreter_and_the_cpu() -> Result<(), Error> {
    let mut r = rng();
    let n = 1000usize;
    let mut xs: Vec<f32> = vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, 2.5];
    xs.extend((xs.len()..n).map(|_| r.gen_range(-30.0f32..30.0)));
    let s = r.gen_range(-2.0f32..2.0);
    for dev in [Device::interpreter(), Device::cpu()] {
        let x = dev.upload(&xs)?;
        let out = dev.zeros::<f32>(10 * n)?;
        math_methods::launch(&dev, 4, &x, &out, n as i32, s, 256)?;
        let got = out.to_vec()?;
        for (k, f) in MATH_F64.iter().enumerate() {
            for (i, &xi) in xs.iter().enumerate() {
                let (g, w) = (got[k * n + i], f(f64::from(xi)));
                assert!(close_f32(g, w), "{dev}: op {k} at {xi}: {g} vs {w}");
            }
        }
        let want = libm::erf(f64::from(s)) + (1.0 / (1.0 + f64::from(-s).exp())).floor();
        assert!(
            got[9 * n..].iter().all(|&g| close_f32(g, want)),
            "{dev}: scalar"
        );
    }
    Ok(())
}

/// `clamp` on floats (NaN gives the lower bound) and integers, `cdiv` on integers, and an
/// integer literal promoted beside a float one (`select(c, 0, -1.0e6)` is f32, as in Triton).
#[bitkernel]
fn clamp_and_cdiv(
    x: Ptr<f32>,
    a: Ptr<i32>,
    b: Ptr<i32>,
    fout: Ptr<f32>,
    iout: Ptr<i32>,
    n: i32,
    lo: f32,
    #[constexpr] block: i32,
) {
    let offs = program_id(0) * block + arange(block);
    let mask = offs < n;
    let av = load(a + offs, mask, 0);
    store(fout + offs, clamp(load(x + offs, mask, 0.0), lo, 2.5), mask);
    store(iout + offs, cdiv(av, load(b + offs, mask, 1)), mask);
    store(iout + n + offs, clamp(av, -5, 5), mask);
    store(iout + 2 * n + offs, cdiv(av, 16), mask);
    store(fout + n + offs, select(av > 0, 0, -1.0e6), mask);
}

#[test]
fn clamp_and_cdiv_match_rust_on_the_interpreter_and_the_cpu() -> Result<(), Error> {
    let mut r = rng();
    let n = 777usize;
    let mut xs = vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 2.5];
    xs.extend((xs.len()..n).map(|_| r.gen_range(-10.0f32..10.0)));
    let a: Vec<i32> = (0..n).map(|_| r.gen_range(-1000..1000)).collect();
    let b: Vec<i32> = (0..n).map(|_| r.gen_range(1..50)).collect();
    let lo = r.gen_range(-3.0f32..0.0);
    for dev in [Device::interpreter(), Device::cpu()] {
        let (x, ab, bb) = (dev.upload(&xs)?, dev.upload(&a)?, dev.upload(&b)?);
        let (fout, iout) = (dev.zeros::<f32>(2 * n)?, dev.zeros::<i32>(3 * n)?);
        clamp_and_cdiv::launch(&dev, 7, &x, &ab, &bb, &fout, &iout, n as i32, lo, 128)?;
        let (f, i) = (fout.to_vec()?, iout.to_vec()?);
        for k in 0..n {
            // Rust's f32::max/min return the other operand for a NaN, as `maximum`/`minimum`.
            assert_eq!(
                f[k].to_bits(),
                xs[k].max(lo).min(2.5).to_bits(),
                "{dev}: clamp {}",
                xs[k]
            );
            assert_eq!(
                i[k],
                (a[k] + b[k] - 1) / b[k],
                "{dev}: cdiv {} {}",
                a[k],
                b[k]
            );
            assert_eq!(i[n + k], a[k].clamp(-5, 5), "{dev}");
            assert_eq!(i[2 * n + k], (a[k] + 15) / 16, "{dev}");
            assert_eq!(f[n + k], if a[k] > 0 { 0.0 } else { -1.0e6 }, "{dev}");
        }
    }
    Ok(())
}

/// Unsuffixed literals beside a comparison need no suffix when a method follows
/// (`(v > 0).trans()`, `(0.5 <= w).trans()`): on tiles the literal takes the tile's type, on
/// Rust values (constexprs, decided at specialization) the comparison is exact, a float beside
/// a float literal, an integer beside an integer one, either side.
#[bitkernel]
fn compared_literals(
    x: Ptr<i32>,
    f: Ptr<f32>,
    out: Ptr<i32>,
    #[constexpr] b: i32,
    #[constexpr] s: f32,
) {
    let r = arange(b);
    let at = r.unsqueeze(1) * b + r.unsqueeze(0);
    let v = load(x + at);
    let w = load(f + at);
    let positive = (v > 0).trans();
    let small = (-2 <= v).trans() & (v.trans() < 3);
    let halves = select((0.5 <= w).trans(), 1, 0).sum(0);
    let big = if b > 4 && 1 < b && s >= 0.25 && 1 <= s.floor() as i32 {
        100
    } else {
        0
    };
    store(
        out + at,
        select(positive, 1, 0) + select(small, 10, 0) + big,
    );
    store(out + b * b + r, halves);
}

#[test]
fn unsuffixed_literals_beside_comparisons_take_the_other_operands_type() -> Result<(), Error> {
    let mut r = rng();
    let b = 8usize;
    let xs: Vec<i32> = (0..b * b).map(|_| r.gen_range(-4..5)).collect();
    let fs: Vec<f32> = (0..b * b).map(|_| r.gen_range(0.0f32..1.0)).collect();
    for dev in [Device::interpreter(), Device::cpu()] {
        for s in [1.5f32, 0.75] {
            let (x, f) = (dev.upload(&xs)?, dev.upload(&fs)?);
            let out = dev.zeros::<i32>(b * b + b)?;
            compared_literals::launch(&dev, 1, &x, &f, &out, b as i32, s)?;
            let got = out.to_vec()?;
            let big = if s >= 1.0 { 100 } else { 0 };
            for i in 0..b {
                for j in 0..b {
                    let t = xs[j * b + i];
                    let want = i32::from(t > 0) + 10 * i32::from((-2..3).contains(&t)) + big;
                    assert_eq!(got[i * b + j], want, "{dev} s={s}: [{i}, {j}] of {t}");
                }
                let halves = fs[i * b..(i + 1) * b].iter().filter(|&&w| w >= 0.5).count();
                assert_eq!(got[b * b + i], halves as i32, "{dev}: row {i}");
            }
        }
    }
    Ok(())
}

/// Float literals left of an operator need no suffix: on tiles (`(1.0 - x).sqrt()`) and on
/// Rust `f32` values (`(1.0 - scale).sqrt()` at specialization), exactly as suffixed ones.
#[bitkernel]
fn unsuffixed_literals(x: Ptr<f32>, out: Ptr<f32>, n: i32, #[constexpr] scale: f32) {
    let offs = arange(128);
    let mask = offs < n;
    let v = load(x + offs, mask, 0.0);
    let s = (1.0 - scale).sqrt();
    store(
        out + offs,
        (1.0 - v * v).sqrt() * s + (2.0 / (v + 3.0)).exp2(),
        mask,
    );
}

#[test]
fn float_literals_left_of_operators_take_the_right_operands_type() -> Result<(), Error> {
    let mut r = rng();
    let n = 100usize;
    let xs: Vec<f32> = (0..n).map(|_| r.gen_range(-1.0f32..1.0)).collect();
    let scale = 0.36f32;
    for dev in [Device::interpreter(), Device::cpu()] {
        let (x, out) = (dev.upload(&xs)?, dev.zeros::<f32>(n)?);
        unsuffixed_literals::launch(&dev, 1, &x, &out, n as i32, scale)?;
        let got = out.to_vec()?;
        let s = (1.0f32 - scale).sqrt();
        for (g, &v) in got.iter().zip(&xs) {
            let want = (1.0f32 - v * v).sqrt() * s + libm::exp2f(2.0f32 / (v + 3.0));
            assert_eq!(g.to_bits(), want.to_bits(), "{dev}: {v}");
        }
    }
    Ok(())
}

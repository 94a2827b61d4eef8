//! Runtime `while` loops written with `#[bitkernel]`: a scalar carried with a pointer and a
//! tile (Collatz chains of ragged lengths, zero iterations included), a condition computed
//! from a carried tile's reduction over a masked (also empty) load, and a `while` nested in
//! a runtime `range` loop and an `if`; against the interpreter and plain Rust.

use crate::data::rng;
use crate::harness::{compare, i32_arg, run, test, Arg, Test, Tol};
use bitmat::ir::{DType, HostData};
use bitmat::prelude::*;
use bitmat::Device;
use rand::Rng;

/// The tests of this module.
pub fn tests() -> Vec<Test> {
    vec![
        test("while::collatz_chains_carry_a_pointer_and_a_tile", collatz),
        test("while::condition_on_a_carried_reduction", doubling),
        test("while::nested_in_range_and_if", nested),
    ]
}

/// Program `pid` follows the Collatz chain of `xs[pid]` down to 1, writing each step's value
/// through a carried pointer (masked to the first `block` steps) and its lane of a tile.
#[bitkernel]
fn collatz_chain(
    xs: Ptr<i64>,
    steps: Ptr<i32>,
    trail: Ptr<i64>,
    lanes_out: Ptr<i64>,
    #[constexpr] block: i32,
) {
    let pid = program_id(0);
    let lanes = arange(block);
    let mut x = load(xs + pid);
    let mut count = full([], 0i32);
    let mut out = trail + pid * block;
    let mut seen = zeros::<i64>([block]);
    while x > 1 {
        x = select(x % 2 == 0, x / 2, x * 3 + 1);
        store(out, x, count < block);
        seen = select(lanes == count % block, seen + x, seen);
        out = out + 1;
        count = count + 1;
    }
    store(steps + pid, count);
    store(lanes_out + pid * block + lanes, seen);
}

/// The Collatz chain of `x` (empty for `x <= 1`).
fn chain(mut x: i64) -> Vec<i64> {
    let mut out = Vec::new();
    while x > 1 {
        x = if x % 2 == 0 { x / 2 } else { 3 * x + 1 };
        out.push(x);
    }
    out
}

fn collatz(dev: &Device) -> Result<(), String> {
    let block = 16;
    let k = collatz_chain::ir(block).map_err(|e| e.to_string())?;
    let mut r = rng(18);
    let mut xs: Vec<i64> = vec![1, 0, -5, 2, 3, 27, 97, 871, i64::from(i32::MAX) + 12];
    xs.extend((0..20).map(|_| r.gen_range(1..10_000)));
    let n = xs.len();
    let b = block as usize;
    let mut steps = vec![0i32; n];
    let mut trail = vec![0i64; n * b];
    let mut lanes = vec![0i64; n * b];
    for (p, &x) in xs.iter().enumerate() {
        let c = chain(x);
        steps[p] = c.len() as i32;
        for (i, &v) in c.iter().enumerate() {
            if i < b {
                trail[p * b + i] = v;
            }
            lanes[p * b + i % b] += v;
        }
    }
    let args = [
        Arg::Buf(HostData::I64(xs)),
        Arg::Buf(HostData::zeros(DType::I32, n)),
        Arg::Buf(HostData::zeros(DType::I64, n * b)),
        Arg::Buf(HostData::zeros(DType::I64, n * b)),
    ];
    let o = run(dev, "collatz chains", &k, [n as u32, 1, 1], 4, &args)?;
    o.check_all(&Tol::Bits)?;
    compare("steps", &o.got[1], &HostData::I32(steps), &Tol::Bits)?;
    compare("trail", &o.got[2], &HostData::I64(trail), &Tol::Bits)?;
    compare("lanes", &o.got[3], &HostData::I64(lanes), &Tol::Bits)
}

/// Doubles (plus one) the masked-in lanes of a row until the row's sum reaches `limit`;
/// stores the row and the number of rounds. A row with no lane in (`n == 0`) stops at once
/// when `limit <= 0`, and otherwise never grows: its bound of rounds ends it.
#[bitkernel]
fn double_until(
    x: Ptr<i32>,
    y: Ptr<i32>,
    rounds: Ptr<i32>,
    n: i32,
    limit: i32,
    max_rounds: i32,
    #[constexpr] block: i32,
) {
    let row = program_id(0);
    let cols = arange(block);
    let mask = cols < n;
    let mut v = load(x + row * n + cols, mask, 0);
    let mut k = full([], 0i32);
    while (v.sum(0) < limit) & (k < max_rounds) {
        v = select(mask, v * 2 + 1, v);
        k = k + 1;
    }
    store(y + row * block + cols, v, mask);
    store(rounds + row, k);
}

fn doubling(dev: &Device) -> Result<(), String> {
    let block = 64;
    let k = double_until::ir(block).map_err(|e| e.to_string())?;
    let mut r = rng(7);
    let rows = 3usize;
    let b = block as usize;
    for (n, limit) in [
        (64usize, 100_000),
        (37, 5_000),
        (1, 1000),
        (0, 10),
        (0, 0),
        (5, -3),
    ] {
        let x: Vec<i32> = (0..rows * n).map(|_| r.gen_range(-20..50)).collect();
        let max_rounds = 30;
        let mut y = vec![0i32; rows * b];
        let mut ks = vec![0i32; rows];
        for row in 0..rows {
            let mut v: Vec<i32> = x[row * n..(row + 1) * n].to_vec();
            let mut k = 0;
            while v.iter().fold(0i32, |a, &b| a.wrapping_add(b)) < limit && k < max_rounds {
                v.iter_mut()
                    .for_each(|e| *e = e.wrapping_mul(2).wrapping_add(1));
                k += 1;
            }
            y[row * b..row * b + n].copy_from_slice(&v);
            ks[row] = k;
        }
        let args = [
            Arg::Buf(HostData::I32(x)),
            Arg::Buf(HostData::zeros(DType::I32, rows * b)),
            Arg::Buf(HostData::zeros(DType::I32, rows)),
            i32_arg(n as i32),
            i32_arg(limit),
            i32_arg(max_rounds),
        ];
        let what = format!("double until {limit}, {n} lanes");
        let o = run(dev, &what, &k, [rows as u32, 1, 1], 4, &args)?;
        o.check_all(&Tol::Bits)?;
        let ctx = |m: String| format!("{what}: {m}");
        compare("y", &o.got[1], &HostData::I32(y), &Tol::Bits).map_err(ctx)?;
        compare("rounds", &o.got[2], &HostData::I32(ks), &Tol::Bits).map_err(ctx)?;
    }
    Ok(())
}

/// For each `j` of a runtime range, when `j` is odd, counts how many halvings take `j * m`
/// below 2 (a `while` inside an `if` inside a `range` loop), accumulating into a tile.
#[bitkernel]
fn nested_loops(out: Ptr<i32>, n: i32, m: i32, #[constexpr] block: i32) {
    let lanes = arange(block);
    let mut acc = zeros::<i32>([block]);
    for j in range(0, n, 1) {
        if j % 2 == 1 {
            let mut v = j * m;
            let mut halvings = full([], 0i32);
            while v >= 2 {
                v = v / 2;
                halvings = halvings + 1;
            }
            acc = acc + select(lanes == j % block, halvings, 0);
        }
    }
    store(out + lanes, acc);
}

fn nested(dev: &Device) -> Result<(), String> {
    let block = 8;
    let k = nested_loops::ir(block).map_err(|e| e.to_string())?;
    for (n, m) in [(0, 3), (1, 5), (13, 7), (40, 1000)] {
        let mut want = vec![0i32; block as usize];
        for j in (1..n).step_by(2) {
            let mut v: i32 = j * m;
            let mut h = 0;
            while v >= 2 {
                v /= 2;
                h += 1;
            }
            want[(j % block) as usize] += h;
        }
        let args = [
            Arg::Buf(HostData::zeros(DType::I32, block as usize)),
            i32_arg(n),
            i32_arg(m),
        ];
        let what = format!("nested loops n={n} m={m}");
        let o = run(dev, &what, &k, [1, 1, 1], 4, &args)?;
        o.check_all(&Tol::Bits)?;
        compare(&what, &o.got[0], &HostData::I32(want), &Tol::Bits)?;
    }
    Ok(())
}

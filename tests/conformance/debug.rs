//! Debugging ops: `device_assert` in debug launches (passing, failing in one program and lane
//! among many, in the first failing program of the grid's order, with the interpreter's error
//! on every backend) and compiled out of other launches; `device_print`'s lines (captured on
//! the interpreter and the CPU; on CUDA the driver prints them, so only the launch is checked).

use crate::data::rng;
use crate::harness::{is_cuda, test, Test};
use bitmat::ir::device_print;
use bitmat::prelude::*;
use bitmat::{Device, LaunchOptions, RuntimeError};
use rand::Rng;

/// The tests of this module.
pub fn tests() -> Vec<Test> {
    vec![
        test("debug::assert_holds", assert_holds),
        test("debug::assert_fails_in_one_lane", assert_fails_in_one_lane),
        test("debug::assert_first_program_of_a_2d_grid", assert_2d),
        test("debug::assert_compiled_out_by_default", assert_compiled_out),
        test("debug::print_lines", print_lines),
    ]
}

fn debug() -> LaunchOptions {
    LaunchOptions {
        debug: true,
        ..LaunchOptions::default()
    }
}

/// `y = sqrt(x)` over `n` elements, asserting that every loaded `x` is non-negative.
#[bitkernel]
fn sqrt_nonneg(x: Ptr<f32>, y: Ptr<f32>, n: i32, #[constexpr] block: i32) {
    let offs = program_id(0) * block + arange(block);
    let mask = offs < n;
    let v = load(x + offs, mask, 0.0);
    device_assert(v >= 0.0, "x must be non-negative");
    store(y + offs, v.sqrt(), mask);
}

const BLOCK: i32 = 16;

/// `n` random non-negative values (ragged: not a multiple of the block).
fn nonneg(n: usize, seed: u64) -> Vec<f32> {
    let mut r = rng(seed);
    (0..n).map(|_| r.gen_range(0.0f32..100.0)).collect()
}

fn launch_sqrt(
    dev: &Device,
    x: &[f32],
    options: LaunchOptions,
) -> Result<Result<Vec<f32>, bitmat::Error>, String> {
    let n = x.len();
    let xb = dev.upload(x).map_err(|e| e.to_string())?;
    let yb = dev.zeros::<f32>(n).map_err(|e| e.to_string())?;
    let grid = (n as u32).div_ceil(BLOCK as u32);
    match sqrt_nonneg::with(options).launch(dev, grid, &xb, &yb, n as i32, BLOCK) {
        Ok(()) => Ok(Ok(yb.to_vec().map_err(|e| e.to_string())?)),
        Err(e) => Ok(Err(e)),
    }
}

fn assert_holds(dev: &Device) -> Result<(), String> {
    for (n, seed) in [(1usize, 1u64), (37, 2), (16 * 21 + 5, 3)] {
        let x = nonneg(n, seed);
        let y = launch_sqrt(dev, &x, debug())?.map_err(|e| format!("n = {n}: {e}"))?;
        for (i, (&a, &b)) in x.iter().zip(&y).enumerate() {
            if (a.sqrt() - b).abs() > 1e-6 * a.sqrt().max(1.0) {
                return Err(format!("n = {n}: y[{i}] = {b}, want sqrt({a})"));
            }
        }
    }
    Ok(())
}

/// The assertion error `r` holds, as (program, lane), or what was wrong.
fn assertion(r: Result<(), bitmat::Error>, kernel: &str) -> Result<([u32; 3], Vec<u32>), String> {
    match r {
        Err(bitmat::Error::Runtime(RuntimeError::AssertionFailed {
            kernel: k,
            message,
            program,
            lane,
        })) => {
            if k != kernel || message != "x must be non-negative" {
                return Err(format!("unexpected kernel or message: {k}, {message}"));
            }
            Ok((program, lane))
        }
        Err(e) => Err(format!("expected Error::AssertionFailed, got {e}")),
        Ok(()) => Err("expected Error::AssertionFailed, the launch succeeded".into()),
    }
}

fn assert_fails_in_one_lane(dev: &Device) -> Result<(), String> {
    let n = 16 * 40 + 9;
    let mut r = rng(11);
    for _ in 0..4 {
        let mut x = nonneg(n, r.gen());
        // Negative values in several programs: the first program in grid order reports, at
        // its first negative lane.
        let mut bad: Vec<usize> = (0..3).map(|_| r.gen_range(0..n)).collect();
        bad.sort_unstable();
        for &i in &bad {
            x[i] = -1.0 - i as f32;
        }
        let first = bad[0];
        let want = (
            [first as u32 / BLOCK as u32, 0, 0],
            vec![first as u32 % BLOCK as u32],
        );
        let got = assertion(launch_sqrt(dev, &x, debug())?.map(|_| ()), "sqrt_nonneg")?;
        if got != want {
            return Err(format!("negative at {bad:?}: got {got:?}, want {want:?}"));
        }
        // The interpreter's error, word for word.
        let interp = Device::interpreter();
        let on_interp = launch_sqrt(&interp, &x, debug())?.map(|_| ());
        let on_dev = launch_sqrt(dev, &x, debug())?.map(|_| ());
        let (a, b) = (
            on_dev.err().map(|e| e.to_string()),
            on_interp.err().map(|e| e.to_string()),
        );
        if a != b {
            return Err(format!("device: {a:?}\ninterpreter: {b:?}"));
        }
    }
    Ok(())
}

/// Program (i, j) checks a [4, 8] tile of a row-major `[4 * gy, 8 * gx]` matrix.
#[bitkernel]
fn positive_2d(x: Ptr<i32>, #[constexpr] gx: i32) {
    let rows = program_id(1) * 4 + arange(4);
    let cols = program_id(0) * 8 + arange(8);
    let v = load(x + rows.unsqueeze(1) * (8 * gx) + cols.unsqueeze(0));
    device_assert(v > 0, "x must be non-negative");
}

fn assert_2d(dev: &Device) -> Result<(), String> {
    let (gx, gy) = (5u32, 3u32);
    let width = 8 * gx as usize;
    let mut x = vec![1i32; width * 4 * gy as usize];
    // Failing in programs (1, 2) (earlier in memory order along x) and (3, 1): (3, 1) comes
    // first in grid order (x fastest, then y); its first false lane is (1, 2) of the tile.
    let at = |r: usize, c: usize| r * width + c;
    x[at(8, 8)] = 0;
    x[at(4 + 2, 3 * 8 + 1)] = -3;
    x[at(4 + 1, 3 * 8 + 2)] = -5;
    x[at(4 + 3, 3 * 8)] = -7;
    let xb = dev.upload(&x).map_err(|e| e.to_string())?;
    let got = assertion(
        positive_2d::with(debug()).launch(dev, (gx, gy), &xb, gx as i32),
        "positive_2d",
    )?;
    let want = ([3, 1, 0], vec![1, 2]);
    if got != want {
        return Err(format!("got {got:?}, want {want:?}"));
    }
    Ok(())
}

fn assert_compiled_out(dev: &Device) -> Result<(), String> {
    let mut x = nonneg(100, 5);
    x[42] = -4.0;
    // Without `debug` the assertion is not compiled in: the launch succeeds (sqrt of a
    // negative is NaN).
    let y = launch_sqrt(dev, &x, LaunchOptions::default())?
        .map_err(|e| format!("a launch without debug failed: {e}"))?;
    if !y[42].is_nan() || y[41] != x[41].sqrt() {
        return Err(format!("y[41..43] = {:?}", &y[41..43]));
    }
    Ok(())
}

/// Prints an i32 tile, its halves as f32, a bool tile and the program id.
#[bitkernel]
fn print_values(x: Ptr<i32>, #[constexpr] block: i32) {
    let pid = program_id(0);
    let v = load(x + pid * block + arange(block));
    device_print("v", v);
    device_print("half", (v as f32) * 0.5);
    let big = v > 2i32;
    device_print("big", big.reshape([2, block / 2]));
    device_print("pid", pid);
}

fn print_lines(dev: &Device) -> Result<(), String> {
    let (block, grid) = (4usize, 3u32);
    let x: Vec<i32> = (0..block as i32 * grid as i32).map(|i| i * 3 - 7).collect();
    let xb = dev.upload(&x).map_err(|e| e.to_string())?;
    let (r, text) = device_print::capture(|| print_values::launch(dev, grid, &xb, block as i32));
    r.map_err(|e| e.to_string())?;
    if is_cuda(dev) {
        // The driver's printf writes to the process's stdout, not the capture.
        return Ok(());
    }
    let mut want = Vec::new();
    for p in 0..grid as usize {
        let pid = format!("pid ({p}, 0, 0)");
        let vals = &x[p * block..(p + 1) * block];
        for (i, v) in vals.iter().enumerate() {
            want.push(format!("{pid} idx ({i}) v: {v}"));
        }
        for (i, v) in vals.iter().enumerate() {
            want.push(format!("{pid} idx ({i}) half: {:?}", *v as f32 * 0.5));
        }
        for (i, v) in vals.iter().enumerate() {
            want.push(format!(
                "{pid} idx ({}, {}) big: {}",
                i / (block / 2),
                i % (block / 2),
                *v > 2
            ));
        }
        want.push(format!("{pid} idx () pid: {p}"));
    }
    // Programs run in parallel on the CPU: their lines may come in any order, each
    // program's in its own order.
    let got: Vec<&str> = text.lines().collect();
    for p in 0..grid as usize {
        let prefix = format!("pid ({p}, 0, 0) ");
        let mine: Vec<&str> = got
            .iter()
            .copied()
            .filter(|l| l.starts_with(&prefix))
            .collect();
        let theirs: Vec<&str> = want
            .iter()
            .map(String::as_str)
            .filter(|l| l.starts_with(&prefix))
            .collect();
        if mine != theirs {
            return Err(format!(
                "program {p} printed:\n{}\nwant:\n{}",
                mine.join("\n"),
                theirs.join("\n")
            ));
        }
    }
    if got.len() != want.len() {
        return Err(format!("{} lines, want {}:\n{text}", got.len(), want.len()));
    }
    Ok(())
}

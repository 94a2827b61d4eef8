//! Checked launches: every out-of-bounds access of the interpreter's cases (past the end,
//! before the start, through a mask that lets a lane through, an atomic, a pointer carried
//! by a `for` or a `while` loop, a store in a branch, offsets wider than `i32`, a pointer
//! chosen by `select`, the first in grid order of many failing programs) is reported by the
//! device's safe launch exactly as the interpreter reports it; in-bounds kernels compute under
//! checks what the interpreter computes.

use crate::data::{self, rng};
use crate::harness::{compare, i32_arg, run_device_result, run_device_with, test, Arg, Test, Tol};
use crate::kernels::masked_copy;
use crate::reference::run_reference;
use bitmat::ir::passes::ranges::Launch;
use bitmat::ir::{interp, parse_kernel, random, DType, HostData, Kernel};
use bitmat::{Device, LaunchOptions, RuntimeError};

/// An out-of-bounds case: the kernel's text, its grid and its arguments.
struct Case {
    name: &'static str,
    text: &'static str,
    grid: [u32; 3],
    args: fn() -> Vec<Arg>,
}

fn i32s(v: &[i32]) -> Arg {
    Arg::Buf(HostData::I32(v.to_vec()))
}

fn zeros(d: DType, n: usize) -> Arg {
    Arg::Buf(HostData::zeros(d, n))
}

/// A `4x4` block of `i32` copied from `x` to `out` by each program, program `p` at offset
/// `16 * p`: the cases launch two programs with `out` short (the second program's store
/// fails) and with `x` short (its load fails).
const COPY_2D: &str = "kernel @copy_2d(%0: ptr<i32> x, %1: ptr<i32> out) {
  %2 = program_id 0 : i32
  %3 = constant 16 : i32
  %4 = mul %2, %3 : i32
  %5 = reshape %4 : i32[1x1]
  %6 = broadcast %5 : i32[4x4]
  %7 = arange 16 : i32[16]
  %8 = reshape %7 : i32[4x4]
  %9 = add %6, %8 : i32[4x4]
  %10 = reshape %0 : ptr<i32>[1x1]
  %11 = broadcast %10 : ptr<i32>[4x4]
  %12 = addptr %11, %9 : ptr<i32>[4x4]
  %13 = load %12 : i32[4x4]
  %14 = reshape %1 : ptr<i32>[1x1]
  %15 = broadcast %14 : ptr<i32>[4x4]
  %16 = addptr %15, %9 : ptr<i32>[4x4]
  store %16, %13
}";

const CASES: &[Case] = &[
    Case {
        name: "load_past_the_end",
        text: "kernel @load_past_the_end(%0: ptr<i32> x, %1: ptr<i32> out) {
  %2 = arange 4 : i32[4]
  %3 = reshape %0 : ptr<i32>[1]
  %4 = broadcast %3 : ptr<i32>[4]
  %5 = addptr %4, %2 : ptr<i32>[4]
  %6 = load %5 : i32[4]
  %7 = reshape %1 : ptr<i32>[1]
  %8 = broadcast %7 : ptr<i32>[4]
  %9 = addptr %8, %2 : ptr<i32>[4]
  store %9, %6
}",
        grid: [1, 1, 1],
        args: || vec![i32s(&[1, 2, 3]), zeros(DType::I32, 4)],
    },
    Case {
        name: "store_2d_in_the_second_program",
        text: COPY_2D,
        grid: [2, 1, 1],
        args: || vec![zeros(DType::I32, 32), zeros(DType::I32, 30)],
    },
    Case {
        name: "load_2d_in_the_second_program",
        text: COPY_2D,
        grid: [2, 1, 1],
        args: || vec![zeros(DType::I32, 21), zeros(DType::I32, 32)],
    },
    Case {
        name: "mask_lets_a_lane_through",
        text: "kernel @masked(%0: ptr<f32> x, %1: ptr<f32> out, %2: i32 n) {
  %3 = arange 16 : i32[16]
  %4 = reshape %2 : i32[1]
  %5 = broadcast %4 : i32[16]
  %6 = cmp_lt %3, %5 : bool[16]
  %7 = reshape %0 : ptr<f32>[1]
  %8 = broadcast %7 : ptr<f32>[16]
  %9 = addptr %8, %3 : ptr<f32>[16]
  %10 = load %9, mask %6 : f32[16]
  %11 = reshape %1 : ptr<f32>[1]
  %12 = broadcast %11 : ptr<f32>[16]
  %13 = addptr %12, %3 : ptr<f32>[16]
  store %13, %10, mask %6
}",
        grid: [1, 1, 1],
        args: || vec![zeros(DType::F32, 8), zeros(DType::F32, 16), i32_arg(10)],
    },
    Case {
        name: "before_the_start",
        text: "kernel @before_the_start(%0: ptr<i16> x, %1: ptr<i16> out) {
  %2 = arange 8 : i32[8]
  %3 = constant 2 : i32[8]
  %4 = sub %2, %3 : i32[8]
  %5 = reshape %0 : ptr<i16>[1]
  %6 = broadcast %5 : ptr<i16>[8]
  %7 = addptr %6, %4 : ptr<i16>[8]
  %8 = load %7 : i16[8]
  %9 = reshape %1 : ptr<i16>[1]
  %10 = broadcast %9 : ptr<i16>[8]
  %11 = addptr %10, %2 : ptr<i16>[8]
  store %11, %8
}",
        grid: [1, 1, 1],
        args: || vec![zeros(DType::I16, 8), zeros(DType::I16, 8)],
    },
    Case {
        name: "atomic_of_the_last_program",
        text: "kernel @atomic_past_the_end(%0: ptr<i32> counters) {
  %1 = program_id 0 : i32
  %2 = addptr %0, %1 : ptr<i32>
  %3 = constant 1 : i32
  %4 = atomic_add %2, %3 : i32
}",
        grid: [4, 1, 1],
        args: || vec![zeros(DType::I32, 3)],
    },
    Case {
        name: "pointer_carried_by_a_loop",
        text: "kernel @walk(%0: ptr<i32> x, %1: ptr<i32> out, %2: i32 n) {
  %3 = arange 4 : i32[4]
  %4 = reshape %0 : ptr<i32>[1]
  %5 = broadcast %4 : ptr<i32>[4]
  %6 = addptr %5, %3 : ptr<i32>[4]
  %7 = constant 0 : i32
  %8 = constant 1 : i32
  %9 = constant 0 : i32[4]
  %10 = constant 4 : i32[4]
  %11, %12 = for %13 = %7 to %2 step %8 iter_args(%14 = %6, %15 = %9) {
    %16 = load %14 : i32[4]
    %17 = add %15, %16 : i32[4]
    %18 = addptr %14, %10 : ptr<i32>[4]
    yield %18, %17
  } : ptr<i32>[4], i32[4]
  %19 = reshape %1 : ptr<i32>[1]
  %20 = broadcast %19 : ptr<i32>[4]
  %21 = addptr %20, %3 : ptr<i32>[4]
  store %21, %12
}",
        grid: [1, 1, 1],
        args: || vec![i32s(&[1; 10]), zeros(DType::I32, 4), i32_arg(3)],
    },
    Case {
        name: "the_first_of_many_failing_programs_in_grid_order",
        text: "kernel @many_fail(%0: ptr<i32> out) {
  %1 = program_id 0 : i32
  %2 = program_id 1 : i32
  %3 = program_id 2 : i32
  %4 = constant 2 : i32
  %5 = mul %3, %4 : i32
  %6 = add %5, %2 : i32
  %7 = constant 4 : i32
  %8 = mul %6, %7 : i32
  %9 = add %8, %1 : i32
  %10 = mul %9, %7 : i32
  %11 = reshape %10 : i32[1]
  %12 = broadcast %11 : i32[4]
  %13 = arange 4 : i32[4]
  %14 = add %12, %13 : i32[4]
  %15 = reshape %0 : ptr<i32>[1]
  %16 = broadcast %15 : ptr<i32>[4]
  %17 = addptr %16, %14 : ptr<i32>[4]
  store %17, %14
}",
        grid: [4, 2, 3],
        args: || vec![zeros(DType::I32, 50)],
    },
    Case {
        name: "pointer_carried_by_a_while_loop",
        text: "kernel @walk_while(%0: ptr<i32> x, %1: ptr<i32> out, %2: i32 n) {
  %3 = arange 4 : i32[4]
  %4 = reshape %0 : ptr<i32>[1]
  %5 = broadcast %4 : ptr<i32>[4]
  %6 = addptr %5, %3 : ptr<i32>[4]
  %7 = constant 0 : i32
  %8 = constant 1 : i32
  %9 = constant 0 : i32[4]
  %10 = constant 4 : i32[4]
  %11, %12, %13 = while iter_args(%14 = %6, %15 = %9, %16 = %7) {
    %17 = cmp_lt %16, %2 : bool
    %18, %19 = if %17 {
      %20 = load %14 : i32[4]
      %21 = add %15, %20 : i32[4]
      %22 = addptr %14, %10 : ptr<i32>[4]
      yield %22, %21
    } else {
      yield %14, %15
    } : ptr<i32>[4], i32[4]
    %23 = add %16, %8 : i32
    yield %17, %18, %19, %23
  } : ptr<i32>[4], i32[4], i32
  %24 = reshape %1 : ptr<i32>[1]
  %25 = broadcast %24 : ptr<i32>[4]
  %26 = addptr %25, %3 : ptr<i32>[4]
  store %26, %12
}",
        grid: [1, 1, 1],
        args: || vec![i32s(&[1; 10]), zeros(DType::I32, 4), i32_arg(3)],
    },
    Case {
        name: "store_in_a_branch",
        text: "kernel @store_in_a_branch(%0: ptr<i32> out, %1: i32 flag) {
  %2 = constant 0 : i32
  %3 = cmp_ne %1, %2 : bool
  if %3 {
    %4 = constant 5 : i32
    %5 = addptr %0, %4 : ptr<i32>
    store %5, %4
    yield
  } else {
    yield
  }
}",
        grid: [1, 1, 1],
        args: || vec![zeros(DType::I32, 4), i32_arg(1)],
    },
    Case {
        name: "u32_offsets_added_twice",
        text: "kernel @wide(%0: ptr<f32> x, %1: ptr<f32> out) {
  %2 = arange 8 : i32[8]
  %3 = cast %2 : u32[8]
  %4 = constant 3 : u32[8]
  %5 = reshape %0 : ptr<f32>[1]
  %6 = broadcast %5 : ptr<f32>[8]
  %7 = addptr %6, %3 : ptr<f32>[8]
  %8 = addptr %7, %4 : ptr<f32>[8]
  %9 = load %8 : f32[8]
  %10 = reshape %1 : ptr<f32>[1]
  %11 = broadcast %10 : ptr<f32>[8]
  %12 = addptr %11, %2 : ptr<f32>[8]
  store %12, %9
}",
        grid: [1, 1, 1],
        args: || vec![zeros(DType::F32, 9), zeros(DType::F32, 8)],
    },
    Case {
        name: "pointer_chosen_by_select",
        text: "kernel @chosen(%0: ptr<i32> x, %1: ptr<i32> out, %2: i32 far) {
  %3 = arange 4 : i32[4]
  %4 = reshape %0 : ptr<i32>[1]
  %5 = broadcast %4 : ptr<i32>[4]
  %6 = addptr %5, %3 : ptr<i32>[4]
  %7 = constant 8 : i32[4]
  %8 = addptr %6, %7 : ptr<i32>[4]
  %9 = constant 0 : i32
  %10 = cmp_ne %2, %9 : bool
  %11 = reshape %10 : bool[1]
  %12 = broadcast %11 : bool[4]
  %13 = select %12, %8, %6 : ptr<i32>[4]
  %14 = load %13 : i32[4]
  %15 = reshape %1 : ptr<i32>[1]
  %16 = broadcast %15 : ptr<i32>[4]
  %17 = addptr %16, %3 : ptr<i32>[4]
  store %17, %14
}",
        grid: [1, 1, 1],
        args: || vec![zeros(DType::I32, 10), zeros(DType::I32, 4), i32_arg(1)],
    },
];

/// The tests of this module.
pub fn tests() -> Vec<Test> {
    let mut t: Vec<Test> = CASES
        .iter()
        .map(|case| {
            test(format!("bounds::{}", case.name), move |dev| {
                same_error(dev, case)
            })
        })
        .collect();
    t.push(test(
        "bounds::checked_random_programs",
        checked_random_programs,
    ));
    t.push(test(
        "bounds::checked_masked_windows",
        checked_masked_windows,
    ));
    t.push(test(
        "bounds::proven_accesses_checked_at_launch",
        proven_accesses,
    ));
    t.push(test(
        "bounds::proven_unmasked_k_loop_checked_at_launch",
        proven_k_blocks,
    ));
    t.push(test(
        "bounds::checked_option_on_an_unchecked_launch",
        checked_option,
    ));
    t
}

fn parse(case: &Case) -> Result<Kernel, String> {
    parse_kernel(case.text).map_err(|e| format!("{}: {e}", case.name))
}

/// The interpreter's error for `case`, and the device's.
fn same_error(dev: &Device, case: &Case) -> Result<(), String> {
    let k = parse(case)?;
    let args = (case.args)();
    let want = match run_reference(&k, case.grid, &args) {
        Ok(_) => return Err(format!("{}: the interpreter reports no error", case.name)),
        Err(e) => e,
    };
    match run_device_result(dev, &k, case.grid, &args)? {
        Ok(_) => Err(format!(
            "{}: the safe launch on {dev} returned Ok, the interpreter: {want}",
            case.name
        )),
        Err(RuntimeError::OutOfBounds(e)) => {
            // `run_reference` words the interpreter's error so.
            let got = format!("reference interpreter: {e}");
            if got == want {
                Ok(())
            } else {
                Err(format!(
                    "{}:\n  device:      {got}\n  interpreter: {want}",
                    case.name
                ))
            }
        }
        Err(e) => Err(format!(
            "{}: expected Error::OutOfBounds, got {e:?}",
            case.name
        )),
    }
}

/// Every buffer of a checked launch of `k` equals the interpreter's.
fn checked_exact(dev: &Device, what: &str, k: &Kernel, args: &[Arg]) -> Result<(), String> {
    let want = run_reference(k, [1, 1, 1], args).map_err(|e| format!("{what}: {e}"))?;
    let got = run_device_with(dev, k, [1, 1, 1], &LaunchOptions::default(), args)
        .map_err(|e| format!("{what}: {e}"))?;
    for (g, w) in got.iter().zip(&want) {
        compare(what, g, w, &Tol::exact(dev))?;
    }
    Ok(())
}

/// The random programs of `random_programs` (a block of seeds), checked.
fn checked_random_programs(dev: &Device) -> Result<(), String> {
    for seed in 0..16 {
        let k = random::program(seed);
        let args = [
            Arg::Buf(HostData::I32(random::input(seed))),
            Arg::Buf(HostData::zeros(DType::I32, random::OUTPUT_LEN)),
        ];
        checked_exact(dev, &format!("checked random program {seed}"), &k, &args)?;
    }
    Ok(())
}

/// Masked copies of ragged windows, checked: masked-off lanes stay unreported.
fn checked_masked_windows(dev: &Device) -> Result<(), String> {
    for d in [DType::I32, DType::F16, DType::I64] {
        for transposed in [false, true] {
            for (m, n) in [(16, 64), (5, 37), (0, 0)] {
                let k = masked_copy(d, 16, 64, transposed);
                let mut r = rng(52);
                let args = [
                    Arg::Buf(data::small(d, 70 * 64 + 64, &mut r)),
                    Arg::Buf(HostData::zeros(d, 16 * 64)),
                    i32_arg(m),
                    i32_arg(n),
                    i32_arg(70),
                ];
                let what = format!("checked masked copy {d} {m}x{n} transposed={transposed}");
                checked_exact(dev, &what, &k, &args)?;
            }
        }
    }
    Ok(())
}

/// Vector add as Triton writes it (`x + offs` masked by `offs < n`): the bounds pass proves
/// every access in bounds when `n` fits the buffers, so no check is left in its kernel.
const MASKED_ADD: &str =
    "kernel @masked_add(%0: ptr<i32> x, %1: ptr<i32> y, %2: ptr<i32> out, %3: i32 n) {
  %4 = program_id 0 : i32
  %5 = constant 64 : i32
  %6 = mul %4, %5 : i32
  %7 = reshape %6 : i32[1]
  %8 = broadcast %7 : i32[64]
  %9 = arange 64 : i32[64]
  %10 = add %8, %9 : i32[64]
  %11 = reshape %3 : i32[1]
  %12 = broadcast %11 : i32[64]
  %13 = cmp_lt %10, %12 : bool[64]
  %14 = reshape %0 : ptr<i32>[1]
  %15 = broadcast %14 : ptr<i32>[64]
  %16 = addptr %15, %10 : ptr<i32>[64]
  %17 = load %16, mask %13 : i32[64]
  %18 = reshape %1 : ptr<i32>[1]
  %19 = broadcast %18 : ptr<i32>[64]
  %20 = addptr %19, %10 : ptr<i32>[64]
  %21 = load %20, mask %13 : i32[64]
  %22 = add %17, %21 : i32[64]
  %23 = reshape %2 : ptr<i32>[1]
  %24 = broadcast %23 : ptr<i32>[64]
  %25 = addptr %24, %10 : ptr<i32>[64]
  store %25, %22, mask %13
}";

/// The accesses of [`MASKED_ADD`] keep no checks; launches with random ragged `n`, grids and
/// buffer lengths compute what the interpreter computes where the launch-time conditions hold
/// (`n`, or the grid's reach, within every buffer), and report the interpreter's error where
/// they do not (the fully checked kernel runs).
fn proven_accesses(dev: &Device) -> Result<(), String> {
    use rand::Rng;
    let k = parse_kernel(MASKED_ADD).map_err(|e| e.to_string())?;
    let checked = bitmat::ir::passes::bounds::instrument(&k).map_err(|e| e.to_string())?;
    if !checked.sites.is_empty() || checked.preconditions.is_empty() {
        return Err(format!(
            "masked add: {} accesses checked in the kernel, preconditions:\n{}",
            checked.sites.len(),
            checked.preconditions
        ));
    }
    let mut r = rng(71);
    for _ in 0..12 {
        let n = r.gen_range(0..300usize);
        let grid = r.gen_range(1..7u32);
        // Each buffer is long enough, or short by a few elements.
        let reach = n.min(64 * grid as usize);
        let lens: Vec<usize> = (0..3)
            .map(|_| (reach + 3).saturating_sub(r.gen_range(0..6)))
            .collect();
        let args = [
            Arg::Buf(data::small(DType::I32, lens[0], &mut r)),
            Arg::Buf(data::small(DType::I32, lens[1], &mut r)),
            zeros(DType::I32, lens[2]),
            i32_arg(n as i32),
        ];
        let what = format!("masked add n={n} grid={grid}");
        let grid = [grid, 1, 1];
        // The launch-time conditions hold exactly when every buffer covers the lanes the
        // masks leave on.
        let at = Launch {
            scalars: vec![None, None, None, Some(n as i64)],
            lens: lens.iter().map(|&l| Some(l as u64)).chain([None]).collect(),
            grid,
        };
        if checked.proven(&at) != lens.iter().all(|&l| reach <= l) {
            return Err(format!(
                "{what}: lengths {lens:?}, conditions {}:\n{}",
                if checked.proven(&at) { "hold" } else { "fail" },
                checked.preconditions
            ));
        }
        same_as_interpreter(dev, &what, &k, grid, &args)?;
    }
    Ok(())
}

/// A safe launch of `k` on `dev` computes what the interpreter computes, or reports the
/// interpreter's out-of-bounds error word for word.
fn same_as_interpreter(
    dev: &Device,
    what: &str,
    k: &Kernel,
    grid: [u32; 3],
    args: &[Arg],
) -> Result<(), String> {
    match run_reference(k, grid, args) {
        Ok(want) => {
            let got = run_device_with(dev, k, grid, &LaunchOptions::default(), args)
                .map_err(|e| format!("{what}: {e}"))?;
            for (g, w) in got.iter().zip(&want) {
                compare(what, g, w, &Tol::exact(dev))?;
            }
            Ok(())
        }
        Err(want) => match run_device_result(dev, k, grid, args)? {
            Err(RuntimeError::OutOfBounds(e)) if format!("reference interpreter: {e}") == want => {
                Ok(())
            }
            other => Err(format!("{what}: got {other:?}, the interpreter: {want}")),
        },
    }
}

/// Row sums by unmasked blocks of 16 along K, as BitMat's ternary kernel reads its `a` rows:
/// one program per row, `cdiv(k, 16)` iterations computed in the kernel (`(k + 15) / 16`,
/// which the divide pass turns into shifts with a rounding term for negative dividends).
const K_BLOCKS: &str = "kernel @k_blocks(%0: ptr<i32> a, %1: ptr<i32> out, %2: i32 k) {
  %3 = program_id 0 : i32
  %4 = mul %3, %2 : i32
  %5 = arange 16 : i32[16]
  %6 = constant 15 : i32
  %7 = add %2, %6 : i32
  %8 = constant 16 : i32
  %9 = div %7, %8 : i32
  %10 = constant 0 : i32
  %11 = constant 1 : i32
  %12 = constant 0 : i32[16]
  %13 = reshape %0 : ptr<i32>[1]
  %14 = broadcast %13 : ptr<i32>[16]
  %15 = for %16 = %10 to %9 step %11 iter_args(%17 = %12) {
    %18 = mul %16, %8 : i32
    %19 = add %4, %18 : i32
    %20 = reshape %19 : i32[1]
    %21 = broadcast %20 : i32[16]
    %22 = add %21, %5 : i32[16]
    %23 = addptr %14, %22 : ptr<i32>[16]
    %24 = load %23 : i32[16]
    %25 = add %17, %24 : i32[16]
    yield %25
  } : i32[16]
  %26 = mul %3, %8 : i32
  %27 = reshape %26 : i32[1]
  %28 = broadcast %27 : i32[16]
  %29 = add %28, %5 : i32[16]
  %30 = reshape %1 : ptr<i32>[1]
  %31 = broadcast %30 : ptr<i32>[16]
  %32 = addptr %31, %29 : ptr<i32>[16]
  store %32, %15
}";

/// The accesses of [`K_BLOCKS`], optimized as specialization does, keep no checks: the
/// launch-time conditions hold exactly when `a` covers the last row's blocks (`(grid - 1) *
/// k + cdiv(k, 16) * 16` elements) and `out` the grid's rows, and launches compute what the
/// interpreter computes there and report its error elsewhere.
fn proven_k_blocks(dev: &Device) -> Result<(), String> {
    use rand::Rng;
    let mut k = parse_kernel(K_BLOCKS).map_err(|e| e.to_string())?;
    bitmat::ir::passes::optimize(&mut k);
    let checked = bitmat::ir::passes::bounds::instrument(&k).map_err(|e| e.to_string())?;
    if !checked.sites.is_empty() {
        return Err(format!(
            "k blocks: {} accesses checked in the kernel, preconditions:\n{}",
            checked.sites.len(),
            checked.preconditions
        ));
    }
    let mut r = rng(72);
    for _ in 0..16 {
        let kk = 16 * r.gen_range(1..6usize) + [0, 0, 5][r.gen_range(0..3)];
        let grid = r.gen_range(1..5usize);
        let reach = (grid - 1) * kk + kk.div_ceil(16) * 16;
        let lens = [
            reach + 2 - r.gen_range(0..4usize),
            16 * grid + 1 - r.gen_range(0..2usize),
        ];
        let args = [
            Arg::Buf(data::small(DType::I32, lens[0], &mut r)),
            zeros(DType::I32, lens[1]),
            i32_arg(kk as i32),
        ];
        let what = format!("k blocks k={kk} grid={grid} lengths {lens:?}");
        let grid = [grid as u32, 1, 1];
        let at = Launch {
            scalars: vec![None, None, Some(kk as i64)],
            lens: vec![Some(lens[0] as u64), Some(lens[1] as u64), None],
            grid,
        };
        let covered = reach <= lens[0] && 16 * grid[0] as usize <= lens[1];
        if checked.proven(&at) != covered {
            return Err(format!(
                "{what}: conditions {}:\n{}",
                if checked.proven(&at) { "hold" } else { "fail" },
                checked.preconditions
            ));
        }
        same_as_interpreter(dev, &what, &k, grid, &args)?;
    }
    Ok(())
}

/// `LaunchOptions { checked: true, .. }` makes an unchecked launch report the access.
fn checked_option(dev: &Device) -> Result<(), String> {
    let case = &CASES[0];
    let k = parse(case)?;
    let (x, out) = (
        dev.upload(&[1i32, 2, 3]).map_err(|e| e.to_string())?,
        dev.zeros::<i32>(4).map_err(|e| e.to_string())?,
    );
    let id = bitmat::KernelId {
        name: "load_past_the_end_unchecked",
        source_hash: 1,
        constexprs: vec![],
    };
    let options = LaunchOptions {
        checked: true,
        ..LaunchOptions::default()
    };
    // SAFETY: `checked: true` bounds-checks the launch, so the access past the end of `x` is
    // masked off and reported.
    let result = unsafe {
        bitmat::launch_kernel_unchecked(
            dev,
            &id,
            || Ok::<_, RuntimeError>(k.clone()),
            bitmat::Grid([1, 1, 1]),
            &options,
            &[
                bitmat::KernelArg::buffer(&x),
                bitmat::KernelArg::buffer(&out),
            ],
        )
    };
    match result {
        Err(RuntimeError::OutOfBounds(e)) => match e.kind {
            interp::InterpErrorKind::OutOfBounds {
                index: 3, len: 3, ..
            } => Ok(()),
            other => Err(format!("unexpected report {other}")),
        },
        other => Err(format!("expected an out-of-bounds error, got {other:?}")),
    }
}

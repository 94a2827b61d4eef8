//! Timing one parity case on a bitmat device: random inputs, the launch settings of the
//! kernel's Triton source (the tutorials' block sizes and warps, or the autotuner over the
//! source's configurations), the median, then the last output checked against
//! [`super::reference`](mod@super::reference).

use super::kernels::{
    add_kernel, cumsum_kernel, layer_norm_fwd_fused, matmul_kernel, matmul_programs,
    softmax_kernel, ternary_mm_kernel, TileConfig, HOST_CONFIGS, MATMUL_CONFIGS, TERNARY_CONFIGS,
};
use super::reference::{self, compare, Expected, Subject};
use super::{Case, ParityError, LAYER_NORM_EPS, LAYER_NORM_MAX_FUSED_BYTES};
use crate::bench::check::sample_rows;
use bitmat::{f16, Device, Error, LaunchOptions, TuneOutcome};
use bitmat_runtime::timing::{self, Measurement};
use rand::rngs::StdRng;
use rand::Rng;
use std::sync::OnceLock;

/// What one bitmat case measured, its output checked.
#[derive(Clone, Debug)]
pub struct Measured {
    /// The median and its samples.
    pub time: Measurement,
    /// The configuration launched (tuned, or the tutorial's settings).
    pub config: String,
}

/// The tuner of `kernel` over `gpu`'s configurations, keyed by `m, n, k` as in the Triton
/// sources (`key=['M', 'N', 'K']`); the constexprs after the tile's (`flags`) are the same in
/// every configuration.
macro_rules! tile_tuner {
    ($kernel:ident, $gpu:expr, $configs:expr $(, $flag:expr)*) => {{
        let configs: Vec<_> = if $gpu {
            $configs
                .iter()
                .map(|c: &TileConfig| {
                    $kernel::config(c.block_m, c.block_n, c.block_k, c.group_m $(, $flag)*)
                        .num_warps(c.num_warps)
                        .num_stages(c.num_stages)
                })
                .collect()
        } else {
            HOST_CONFIGS
                .iter()
                .map(|c| $kernel::config(c.block_m, c.block_n, c.block_k, c.group_m $(, $flag)*))
                .collect()
        };
        $kernel::autotune(configs).key(&["m", "n", "k"])
    }};
}

static MATMUL: [OnceLock<matmul_kernel::Autotuned>; 2] = [OnceLock::new(), OnceLock::new()];
static TERNARY: [OnceLock<ternary_mm_kernel::Autotuned>; 2] = [OnceLock::new(), OnceLock::new()];

/// The tuner of [`matmul_kernel`]: tutorial 03's configurations on GPUs, without the fused
/// activation (`leaky_relu_activation` false, as the tutorial benchmarks it).
pub fn matmul_tuner(device: &Device) -> &'static matmul_kernel::Autotuned {
    let gpu = device.backend().is_gpu();
    MATMUL[usize::from(gpu)].get_or_init(|| tile_tuner!(matmul_kernel, gpu, MATMUL_CONFIGS, false))
}

/// The tuner of [`ternary_mm_kernel`]: BitMat's configurations on GPUs.
pub fn ternary_tuner(device: &Device) -> &'static ternary_mm_kernel::Autotuned {
    let gpu = device.backend().is_gpu();
    TERNARY[usize::from(gpu)].get_or_init(|| tile_tuner!(ternary_mm_kernel, gpu, TERNARY_CONFIGS))
}

/// Tutorial 02's `num_stages`: 4 where a CTA may use over 200 KB of shared memory (sm_90:
/// the H100 and H200 allow 227 KiB; sm_80 allows 163 KiB, sm_86/89 99 KiB), else 2; bitmat
/// passes it as a launch option.
fn softmax_stages(device: &Device) -> u32 {
    if device.fingerprint().contains("sm_90") {
        4
    } else {
        2
    }
}

/// Random `f32` in `[lo, hi)`.
fn uniform(rng: &mut StdRng, len: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..len).map(|_| rng.gen_range(lo..hi)).collect()
}

fn halves(v: &[f32]) -> Vec<f16> {
    v.iter().map(|&x| f16::from_f32(x)).collect()
}

fn widen<T: Copy>(v: &[T], f: impl Fn(T) -> f64) -> Vec<f64> {
    v.iter().map(|&x| f(x)).collect()
}

fn f16_wide(v: f16) -> f64 {
    f64::from(v.to_f32())
}

/// Launch options with `num_warps` and `num_stages`.
fn options(num_warps: u32, num_stages: u32) -> LaunchOptions {
    LaunchOptions {
        num_warps,
        num_stages,
        ..LaunchOptions::default()
    }
}

/// The winner of a tuner's outcome and where it came from.
fn tuned_config(outcome: &TuneOutcome) -> String {
    format!("{} [{}]", outcome.table[outcome.winner].0, outcome.source)
}

/// The rows of an `m`-row matmul output the reference checks: all of them up to 2^29
/// multiply-adds (M = 16 at N = K = 4096), else the first, middle and last.
fn checked_rows(m: usize, n: usize, k: usize) -> Vec<usize> {
    if m * n * k <= 1 << 29 {
        (0..m).collect()
    } else {
        sample_rows(m)
    }
}

/// Rows `rows` of the `[.., n]` f16 matrix `c`, widened.
fn f16_rows(c: &[f16], n: usize, rows: &[usize]) -> Vec<f64> {
    rows.iter()
        .flat_map(|&r| c[r * n..(r + 1) * n].iter().map(|&v| f16_wide(v)))
        .collect()
}

/// One case in progress: where it runs, how it is timed and what its errors name.
struct Run<'a> {
    device: &'a Device,
    timing: &'a timing::BenchOptions,
    case: Case,
    shape: String,
}

impl Run<'_> {
    /// Times `f`. The cases launch unchecked, as Triton does, on buffers sized for exactly
    /// what their kernels index (each case also runs on the interpreter, which checks every
    /// access, in `tests/parity.rs`); `BITMAT_CHECKED=1` times them checked.
    fn bench(&self, f: &mut dyn FnMut() -> Result<(), Error>) -> Result<Measurement, Error> {
        timing::bench(self.device, self.timing, f)
    }

    /// `got` (output `output`) against `want`.
    fn check(&self, output: &'static str, got: &[f64], want: &Expected) -> Result<(), ParityError> {
        let subject = Subject {
            kernel: self.case.name(),
            shape: &self.shape,
            output,
        };
        compare(subject, got, want).map_err(|e| ParityError::Mismatch(Box::new(e)))
    }

    /// Tutorial 01: BLOCK_SIZE = 1024, Triton's default of 4 warps.
    fn vector_add(&self, n: usize, rng: &mut StdRng) -> Result<Measured, ParityError> {
        let device = self.device;
        let (x, y) = (uniform(rng, n, -1.0, 1.0), uniform(rng, n, -1.0, 1.0));
        let (xb, yb, out) = (device.upload(&x)?, device.upload(&y)?, device.zeros(n)?);
        let block = 1024;
        let grid = n.div_ceil(block as usize) as u32;
        let launch = add_kernel::with(options(4, 1));
        // SAFETY: see [`Run::bench`]; `x`, `y` and `out` hold the `n` elements it indexes.
        let time = self.bench(&mut || unsafe {
            launch.launch_unchecked(device, grid, &xb, &yb, &out, n as i32, block)
        })?;
        let got = widen(&out.to_vec()?, f64::from);
        self.check("output", &got, &reference::vector_add(&x, &y))?;
        Ok(Measured {
            time,
            config: format!("block_size={block} num_warps=4 grid={grid}"),
        })
    }

    /// Tutorial 02: BLOCK_SIZE = next_power_of_2(n_cols), 8 warps, [`softmax_stages`]; one
    /// program per row (the tutorial sizes a persistent grid from its kernel's occupancy).
    fn softmax(&self, rows: usize, cols: usize, rng: &mut StdRng) -> Result<Measured, ParityError> {
        let device = self.device;
        let x = uniform(rng, rows * cols, -4.0, 4.0);
        let (xb, yb) = (device.upload(&x)?, device.zeros::<f32>(rows * cols)?);
        let block = cols.next_power_of_two() as i32;
        let stages = softmax_stages(device);
        let launch = softmax_kernel::with(options(8, stages));
        let (r, c) = (rows as i32, cols as i32);
        // SAFETY: see [`Run::bench`]; `x` and `y` hold the `rows * cols` elements it indexes.
        let time = self.bench(&mut || unsafe {
            launch.launch_unchecked(device, rows as u32, &yb, &xb, c, c, r, c, block)
        })?;
        let got = widen(&yb.to_vec()?, f64::from);
        self.check("output", &got, &reference::softmax(&x, cols))?;
        Ok(Measured {
            time,
            config: format!("block_size={block} num_warps=8 num_stages={stages} grid={rows}"),
        })
    }

    /// A row scan: BLOCK_SIZE = next_power_of_2(n_cols), 4 warps (Triton's default), one
    /// program per row.
    fn cumsum(&self, rows: usize, cols: usize, rng: &mut StdRng) -> Result<Measured, ParityError> {
        let device = self.device;
        let x = uniform(rng, rows * cols, -1.0, 1.0);
        let (xb, yb) = (device.upload(&x)?, device.zeros::<f32>(rows * cols)?);
        let block = cols.next_power_of_two() as i32;
        let launch = cumsum_kernel::with(options(4, 1));
        // SAFETY: see [`Run::bench`]; `x` and `y` hold the `rows * cols` elements it indexes.
        let time = self.bench(&mut || unsafe {
            launch.launch_unchecked(device, rows as u32, &xb, &yb, cols as i32, block)
        })?;
        let got = widen(&yb.to_vec()?, f64::from);
        self.check("output", &got, &reference::cumsum(&x, cols))?;
        Ok(Measured {
            time,
            config: format!("block_size={block} num_warps=4 grid={rows}"),
        })
    }

    /// Tutorial 05: BLOCK_SIZE = min(64 KiB / element size, next_power_of_2(N)), num_warps =
    /// min(max(BLOCK_SIZE // 256, 1), 8), one program per row; inputs as the tutorial's test
    /// (x around -2.3, w and b in [0, 1)).
    fn layer_norm(
        &self,
        rows: usize,
        cols: usize,
        rng: &mut StdRng,
    ) -> Result<Measured, ParityError> {
        let device = self.device;
        let x = halves(&uniform(rng, rows * cols, -2.8, -1.8));
        let w = halves(&uniform(rng, cols, 0.0, 1.0));
        let b = halves(&uniform(rng, cols, 0.0, 1.0));
        let (xb, wb, bb) = (device.upload(&x)?, device.upload(&w)?, device.upload(&b)?);
        let yb = device.zeros::<f16>(rows * cols)?;
        let (mean, rstd) = (device.zeros::<f32>(rows)?, device.zeros::<f32>(rows)?);
        let block = (LAYER_NORM_MAX_FUSED_BYTES / 2).min(cols.next_power_of_two());
        let warps = (block / 256).clamp(1, 8) as u32;
        let launch = layer_norm_fwd_fused::with(options(warps, 1));
        let (c, eps) = (cols as i32, LAYER_NORM_EPS);
        // SAFETY: see [`Run::bench`]; every buffer holds the rows and columns it indexes.
        let time = self.bench(&mut || unsafe {
            let (b_size, grid) = (block as i32, rows as u32);
            launch.launch_unchecked(
                device, grid, &xb, &yb, &wb, &bb, &mean, &rstd, c, c, eps, b_size,
            )
        })?;
        let want = reference::layer_norm(&x, &w, &b, cols, eps);
        self.check("mean", &widen(&mean.to_vec()?, f64::from), &want.mean)?;
        self.check("rstd", &widen(&rstd.to_vec()?, f64::from), &want.rstd)?;
        self.check("y", &widen(&yb.to_vec()?, f16_wide), &want.y)?;
        Ok(Measured {
            time,
            config: format!("block_size={block} num_warps={warps} grid={rows}"),
        })
    }

    /// Tutorial 03, autotuned over its configurations (tuned before the timing, so that the
    /// row says where the winner came from).
    fn matmul(&self, [m, n, k]: [usize; 3], rng: &mut StdRng) -> Result<Measured, ParityError> {
        let device = self.device;
        let a = halves(&uniform(rng, m * k, -1.0, 1.0));
        let b = halves(&uniform(rng, k * n, -1.0, 1.0));
        let (ab, bb) = (device.upload(&a)?, device.upload(&b)?);
        let cb = device.zeros::<f16>(m * n)?;
        let tuner = matmul_tuner(device);
        let grid =
            |c: &matmul_kernel::Constexprs| matmul_programs(m, n, c.block_size_m, c.block_size_n);
        // Row-major strides: a [m, k], b [k, n], c [m, n].
        let (mi, ni, ki) = (m as i32, n as i32, k as i32);
        // SAFETY: see [`Run::bench`]; `a`, `b` and `c` hold the `m x k`, `k x n` and
        // `m x n` elements the strides index. The first launch tunes (unchecked, as timed).
        let mut run = || unsafe {
            tuner.launch_unchecked(device, grid, &ab, &bb, &cb, mi, ni, ki, ki, 1, ni, 1, ni, 1)
        };
        run()?;
        // SAFETY: as `run`; the choice `run` made (tuned unchecked).
        let (_, outcome) = unsafe {
            tuner.best_unchecked(device, grid, &ab, &bb, &cb, mi, ni, ki, ki, 1, ni, 1, ni, 1)
        }?;
        let time = self.bench(&mut run)?;
        let rows = checked_rows(m, n, k);
        let got = f16_rows(&cb.to_vec()?, n, &rows);
        self.check("c", &got, &reference::matmul_f16(&a, &b, n, k, &rows))?;
        Ok(Measured {
            time,
            config: tuned_config(&outcome),
        })
    }

    /// BitMat's kernel, autotuned over its configurations, on `i8` activations and weights
    /// packed as BitMat's `pack_ternary(W).t()` makes them (`[k / 4, n]`, `n_bits = 4`).
    fn ternary(&self, [m, n, k]: [usize; 3], rng: &mut StdRng) -> Result<Measured, ParityError> {
        let device = self.device;
        let a: Vec<i8> = (0..m * k).map(|_| rng.gen_range(-127..=127)).collect();
        // Bytes of 4 valid codes (0, 1, 2).
        let packed: Vec<i8> = (0..k / 4 * n)
            .map(|_| (0..4).map(|i| rng.gen_range(0u8..3) << (2 * i)).sum::<u8>() as i8)
            .collect();
        let (ab, wb) = (device.upload(&a)?, device.upload(&packed)?);
        let cb = device.zeros::<f16>(m * n)?;
        let tuner = ternary_tuner(device);
        let grid = |c: &ternary_mm_kernel::Constexprs| {
            matmul_programs(m, n, c.block_size_m, c.block_size_n)
        };
        // Row-major strides: a [m, k], b [k / 4, n], c [m, n].
        let (mi, ni, ki) = (m as i32, n as i32, k as i32);
        // SAFETY: see [`Run::bench`]; `a`, `b` and `c` hold the `m x k`, `k / 4 x n` and
        // `m x n` elements the strides index. The first launch tunes (unchecked, as timed).
        let mut run = || unsafe {
            tuner.launch_unchecked(
                device, grid, &ab, &wb, &cb, mi, ni, ki, 4, ki, 1, ni, 1, ni, 1,
            )
        };
        run()?;
        // SAFETY: as `run`; the choice `run` made (tuned unchecked).
        let (_, outcome) = unsafe {
            tuner.best_unchecked(
                device, grid, &ab, &wb, &cb, mi, ni, ki, 4, ki, 1, ni, 1, ni, 1,
            )
        }?;
        let time = self.bench(&mut run)?;
        let rows = checked_rows(m, n, k);
        let got = f16_rows(&cb.to_vec()?, n, &rows);
        self.check(
            "c",
            &got,
            &reference::ternary_bitmat(&a, &packed, n, k, &rows)?,
        )?;
        Ok(Measured {
            time,
            config: tuned_config(&outcome),
        })
    }
}

/// Runs one case on `device`: random inputs from `rng`, the kernel timed with `timing`
/// (tuned first where it has a tuner), then its last output checked against the plain-Rust
/// reference ([`ParityError::Mismatch`] when it differs; [`ParityError::Options`] for a case
/// [`Case::validate`] rejects).
pub fn run_case(
    device: &Device,
    timing: &timing::BenchOptions,
    case: Case,
    rng: &mut StdRng,
) -> Result<Measured, ParityError> {
    case.validate().map_err(ParityError::Options)?;
    let run = Run {
        device,
        timing,
        case,
        shape: case.shape(),
    };
    match case {
        Case::VectorAdd { n } => run.vector_add(n, rng),
        Case::Softmax { rows, cols } => run.softmax(rows, cols, rng),
        Case::Cumsum { rows, cols } => run.cumsum(rows, cols, rng),
        Case::LayerNorm { rows, cols } => run.layer_norm(rows, cols, rng),
        Case::Matmul { m, n, k } => run.matmul([m, n, k], rng),
        Case::Ternary { m, n, k } => run.ternary([m, n, k], rng),
    }
}

//! The prebuilt matmuls behind autotuners, on device buffers.
//!
//! Each launch picks the fastest configuration (block sizes, warps) for the device and the
//! bucket of its shape: tuned on first use, then served from memory, from the disk cache in
//! later processes, or from an imported file (`bitmat tune --export` / `--import`). The ops
//! ([`crate::ops`]), layers ([`crate::nn`]), `bitmat bench` and `bitmat tune` all launch
//! through here.
//!
//! Configuration spaces differ per backend (CPU: Cranelift; GPU: PTX with `num_warps`). The
//! first configuration that is not pruned for a shape is the default: what runs on the
//! interpreter and with `BITMAT_AUTOTUNE=0`, and what speed-ups are reported against. Blocks
//! of rows larger than `M` rounded up to a power of two (at least 16 on GPUs, whose tensor
//! cores take 16 rows) only compute masked rows and are pruned.

use crate::kernels::{int4, ternary};
use crate::{Backend, Buffer, Config, Device, Error, Grid, Specialization, TuneKey, TuneOutcome};
use std::sync::OnceLock;

/// Up to this many rows, the ternary and the W4A16 matmuls use their matrix-vector kernels
/// ([`ternary::w2a8_gemv`], [`int4::w4a16_gemv`]).
pub const GEMV_MAX_ROWS: i32 = 4;

/// `(block_m, block_n, block_k)` of matmuls on the CPU; the first fitting one is the default.
const CPU_MATMUL: [(i32, i32, i32); 9] = [
    (16, 32, 32),
    (8, 32, 32),
    (4, 32, 32),
    (2, 32, 32),
    (1, 32, 32),
    (16, 16, 64),
    (16, 64, 32),
    (32, 32, 32),
    (8, 64, 64),
];

/// `(block_m, block_n, block_k, num_warps, num_stages)` of matmuls on GPUs: small tiles for
/// few rows, the large pipelined tiles of Triton's matmul tutorial for many, and 256 rows
/// for kernels that decode packed weights per step (twice the rows share each decode), with
/// 2 and 3 stages (3 decode a step ahead, which takes registers while the mmas run).
const GPU_MATMUL: [(i32, i32, i32, u32, u32); 16] = [
    (16, 32, 32, 4, 2),
    (16, 64, 64, 4, 3),
    (16, 128, 64, 4, 3),
    (32, 64, 64, 4, 3),
    (64, 64, 32, 4, 2),
    (64, 64, 64, 4, 3),
    (64, 128, 32, 4, 4),
    (128, 64, 32, 4, 4),
    (128, 128, 32, 8, 2),
    (64, 128, 64, 8, 3),
    (128, 128, 32, 4, 4),
    (128, 128, 64, 8, 3),
    (128, 256, 64, 8, 3),
    (64, 256, 32, 4, 4),
    (256, 128, 64, 8, 3),
    (256, 128, 64, 8, 2),
];

/// Up to this many rows, GPUs run the ternary and W4A16 matmuls split along K
/// ([`ternary::w2a8_matmul_split_k`], [`int4::w4a16_matmul_split_k`]): a few rows of tiles
/// cannot fill the SMs otherwise.
pub const SPLIT_K_MAX_ROWS: i32 = 256;

/// `(block_m, block_n, block_k, num_warps, num_stages, split_k)` of the split-K matmul on
/// GPUs: the few-row tiles of [`GPU_MATMUL`], unsplit and split in 2, 4 or 8.
const GPU_SPLIT_K: [(i32, i32, i32, u32, u32, i32); 16] = [
    (64, 64, 64, 4, 3, 1),
    (16, 64, 64, 4, 3, 1),
    (16, 128, 64, 4, 3, 1),
    (32, 64, 64, 4, 3, 1),
    (128, 64, 32, 4, 4, 1),
    (128, 128, 64, 8, 3, 1),
    (128, 64, 64, 4, 2, 4),
    (128, 128, 64, 8, 2, 1),
    (64, 64, 64, 4, 3, 2),
    (64, 64, 64, 4, 3, 4),
    (64, 128, 64, 4, 3, 4),
    (128, 64, 64, 4, 3, 4),
    (128, 128, 64, 8, 3, 2),
    (128, 128, 64, 8, 3, 4),
    (128, 128, 64, 8, 3, 8),
    (64, 64, 64, 4, 3, 8),
];

/// `(block_m, block_n, block_k, split_k)` of the split-K matmul on CPUs, which the ops do not
/// choose (the CPU's programs already share the weights): kept small, for the tests.
const CPU_SPLIT_K: [(i32, i32, i32, i32); 3] = [(16, 32, 32, 1), (16, 32, 32, 2), (32, 32, 64, 4)];

/// `(block_n, block_k)` of the matrix-vector kernel on the CPU.
const CPU_GEMV: [(i32, i32); 7] = [
    (16, 256),
    (8, 256),
    (32, 256),
    (16, 512),
    (32, 512),
    (16, 128),
    (64, 256),
];

/// `(block_n, block_k)` of the row-times-vector kernel ([`ternary::w2a8_gemv_rows`]), which
/// LLVM runs.
const LLVM_GEMV_ROWS: [(i32, i32); 5] = [(16, 256), (32, 256), (16, 512), (8, 512), (64, 128)];

/// `(block_n, block_k, num_warps)` of the matrix-vector kernel on GPUs.
const GPU_GEMV: [(i32, i32, u32); 7] = [
    (16, 256, 4),
    (32, 256, 4),
    (64, 256, 4),
    (32, 512, 4),
    (64, 128, 4),
    (128, 256, 8),
    (16, 512, 4),
];

/// The matmul configurations for `device`'s backend, made by `make(block_m, block_n, block_k)`.
fn matmul_space<C: Specialization>(
    gpu: bool,
    make: impl Fn(i32, i32, i32) -> Config<C>,
) -> Vec<Config<C>> {
    if gpu {
        GPU_MATMUL
            .iter()
            .map(|&(bm, bn, bk, w, st)| make(bm, bn, bk).num_warps(w).num_stages(st))
            .collect()
    } else {
        CPU_MATMUL
            .iter()
            .map(|&(bm, bn, bk)| make(bm, bn, bk))
            .collect()
    }
}

/// Whether `block_m` only adds masked rows for the launch's `m`.
fn block_m_too_large(block_m: i32, key: &TuneKey, gpu: bool) -> bool {
    let m = key.get("m").unwrap_or(1).max(1) as u64;
    let useful = m.next_power_of_two().max(if gpu { 16 } else { 1 });
    block_m as u64 > useful
}

/// The tuner of tiled matmul kernel `$module::$kernel` over [`matmul_space`] (configurations
/// made by `$make(block_m, block_n, block_k)`), keyed by the integer scalars `$key`, with
/// blocks of rows pruned to M ([`block_m_too_large`]).
macro_rules! matmul_tuner {
    ($module:ident :: $kernel:ident, $gpu:expr, $make:expr, $key:expr) => {{
        let gpu = $gpu;
        $module::$kernel::autotune(matmul_space(gpu, $make))
            .key(&$key)
            .prune(move |c, key| block_m_too_large(c.constexprs.block_m, key, gpu))
    }};
}

/// The tuner of matrix-vector kernel `$module::$kernel` over the CPU's `(block_n, block_k)`
/// list `$space` (configurations made by `$make(block_n, block_k)`), keyed by `m`, `n`, `k`.
macro_rules! cpu_gemv_tuner {
    ($module:ident :: $kernel:ident, $space:expr, $make:expr) => {{
        let make = $make;
        $module::$kernel::autotune($space.iter().map(|&(bn, bk)| make(bn, bk)))
            .key(&["m", "n", "k"])
    }};
}

/// Tuners built once per process and configuration space: (GPU or not, a constexpr flag).
struct Tuners<T> {
    slots: [OnceLock<T>; 4],
}

impl<T> Tuners<T> {
    const fn new() -> Self {
        Tuners {
            slots: [const { OnceLock::new() }; 4],
        }
    }

    fn get(&self, gpu: bool, flag: bool, build: impl FnOnce() -> T) -> &T {
        self.slots[usize::from(gpu) * 2 + usize::from(flag)].get_or_init(build)
    }
}

/// Checks that `buffer` of `op` holds the `need` elements (`formula`) its kernel indexes, and
/// that those element offsets fit the kernel's `i32` index arithmetic: what makes the
/// prebuilt kernels' unchecked launches safe.
fn check_buffer(
    op: &'static str,
    buffer: &str,
    len: usize,
    formula: &str,
    need: i64,
) -> Result<(), Error> {
    let fail = |message: String| Err(Error::Shape { op, message });
    if need < 0 {
        return fail(format!(
            "{buffer}: {formula} = {need} is negative; shapes are at least 0"
        ));
    }
    if need > i64::from(i32::MAX) {
        return fail(format!(
            "{buffer}: {formula} = {need} elements overflow the kernels' 32-bit indexing (at most {})",
            i32::MAX
        ));
    }
    if (len as i64) < need {
        return fail(format!(
            "{buffer} has {len} elements, expected {formula} = {need}"
        ));
    }
    Ok(())
}

/// Checks that shape values of `op` are not negative.
fn check_dims(op: &'static str, dims: &[(&str, i32)]) -> Result<(), Error> {
    match dims.iter().find(|(_, v)| *v < 0) {
        Some((name, v)) => Err(Error::Shape {
            op,
            message: format!("{name} = {v} is negative; shapes are at least 0"),
        }),
        None => Ok(()),
    }
}

fn ceil_div(a: i32, b: i32) -> u32 {
    (a.max(0) as u32).div_ceil(b as u32)
}

fn matmul_grid(m: i32, n: i32, block_m: i32, block_n: i32) -> Grid {
    Grid([ceil_div(m, block_m), ceil_div(n, block_n), 1])
}

/// The grid of a matrix-vector kernel: one program per `block_n` outputs of one row.
fn gemv_grid(m: i32, n: i32, block_n: i32) -> Grid {
    Grid([ceil_div(n, block_n), m.max(0) as u32, 1])
}

/// `c[m, n] = x[m, k] (i8) x W[n, k]^T` with `W` packed ternary (`[n, k / 4]` bytes), exact
/// `i32`: the matrix-vector kernel up to [`GEMV_MAX_ROWS`] rows, on GPUs the split-K one up to
/// [`SPLIT_K_MAX_ROWS`], the tiled one above.
pub struct TernaryMatmul<'a> {
    /// Activations, `[m, k]`.
    pub x: &'a Buffer<i8>,
    /// Packed ternary weights, `[n, k / 4]`.
    pub w: &'a Buffer<u8>,
    /// The output, `[m, n]`.
    pub c: &'a Buffer<i32>,
    /// Rows of `x`.
    pub m: i32,
    /// Output features.
    pub n: i32,
    /// Input features (a multiple of 4).
    pub k: i32,
}

static GEMV: Tuners<ternary::w2a8_gemv::Autotuned> = Tuners::new();
static GEMV_ROWS: OnceLock<ternary::w2a8_gemv_rows::Autotuned> = OnceLock::new();
static TERNARY: Tuners<ternary::w2a8_matmul::Autotuned> = Tuners::new();

/// The matrix-vector configurations for `device`'s backend, made by `make(block_n, block_k)`.
fn gemv_space<C: Specialization>(
    gpu: bool,
    make: impl Fn(i32, i32) -> Config<C>,
) -> Vec<Config<C>> {
    if gpu {
        GPU_GEMV
            .iter()
            .map(|&(bn, bk, w)| make(bn, bk).num_warps(w))
            .collect()
    } else {
        CPU_GEMV.iter().map(|&(bn, bk)| make(bn, bk)).collect()
    }
}

/// The autotuner of [`TernaryMatmul`] up to [`GEMV_MAX_ROWS`] rows, over `backend`'s configurations.
pub fn gemv_tuner(backend: Backend) -> &'static ternary::w2a8_gemv::Autotuned {
    let gpu = backend.is_gpu();
    GEMV.get(gpu, false, || {
        ternary::w2a8_gemv::autotune(gemv_space(gpu, ternary::w2a8_gemv::config))
            .key(&["m", "n", "k"])
    })
}

/// The autotuner of [`TernaryMatmul`] up to [`GEMV_MAX_ROWS`] rows on the LLVM backend: the
/// row-times-vector kernel, whose `dot` LLVM lowers to `vpdpbusd`.
pub fn gemv_rows_tuner() -> &'static ternary::w2a8_gemv_rows::Autotuned {
    GEMV_ROWS.get_or_init(|| {
        cpu_gemv_tuner!(
            ternary::w2a8_gemv_rows,
            LLVM_GEMV_ROWS,
            ternary::w2a8_gemv_rows::config
        )
    })
}

/// The autotuner of [`TernaryMatmul`] above [`GEMV_MAX_ROWS`] rows, over `backend`'s configurations.
pub fn ternary_tuner(backend: Backend) -> &'static ternary::w2a8_matmul::Autotuned {
    let gpu = backend.is_gpu();
    TERNARY.get(gpu, false, || {
        matmul_tuner!(
            ternary::w2a8_matmul,
            gpu,
            ternary::w2a8_matmul::config,
            ["m", "n", "k"]
        )
    })
}

static TERNARY_SPLIT_K: Tuners<ternary::w2a8_matmul_split_k::Autotuned> = Tuners::new();

/// The autotuner of [`TernaryMatmul`] on GPUs from [`GEMV_MAX_ROWS`] to [`SPLIT_K_MAX_ROWS`]
/// rows: split-K configurations zero `c` before each launch.
pub fn ternary_split_k_tuner(backend: Backend) -> &'static ternary::w2a8_matmul_split_k::Autotuned {
    let gpu = backend.is_gpu();
    TERNARY_SPLIT_K.get(gpu, false, || {
        let configs = split_k_space(gpu, ternary::w2a8_matmul_split_k::config);
        ternary::w2a8_matmul_split_k::autotune(configs)
            .key(&["m", "n", "k"])
            .prune(move |c, key| block_m_too_large(c.constexprs.block_m, key, gpu))
            .reset_to_zero(&["c"], |c| c.constexprs.split_k > 1)
    })
}

/// The split-K configurations for `device`'s backend, made by `make(block_m, block_n,
/// block_k, split_k)`.
fn split_k_space<C: Specialization>(
    gpu: bool,
    make: impl Fn(i32, i32, i32, i32) -> Config<C>,
) -> Vec<Config<C>> {
    if gpu {
        GPU_SPLIT_K
            .iter()
            .map(|&(bm, bn, bk, w, st, s)| make(bm, bn, bk, s).num_warps(w).num_stages(st))
            .collect()
    } else {
        CPU_SPLIT_K
            .iter()
            .map(|&(bm, bn, bk, s)| make(bm, bn, bk, s))
            .collect()
    }
}

/// The grid of a split-K matmul: `split_k` programs per output tile.
pub fn split_k_grid(m: i32, n: i32, block_m: i32, block_n: i32, split_k: i32) -> Grid {
    let Grid([x, y, _]) = matmul_grid(m, n, block_m, block_n);
    Grid([x, y, split_k.max(1) as u32])
}

/// The report of a tuner's `best`, without the configuration.
fn outcome<C>(best: Result<(Config<C>, TuneOutcome), Error>) -> Result<TuneOutcome, Error> {
    best.map(|(_, outcome)| outcome)
}

/// Calls `$method` (`launch` or `best`, its result passed through `$finish`) of the tuner
/// that serves ternary matmul `$op` on `$device`: one dispatch, so `best` reports exactly
/// what `launch` runs.
macro_rules! ternary_dispatch {
    ($op:expr, $device:expr, $method:ident, $finish:path) => {{
        let TernaryMatmul { x, w, c, m, n, k } = *$op;
        let backend = $device.backend();
        if m <= GEMV_MAX_ROWS && backend == Backend::LLVM {
            let grid = |cfg: &ternary::w2a8_gemv_rows::Constexprs| gemv_grid(m, n, cfg.block_n);
            $finish(gemv_rows_tuner().$method($device, grid, x, w, c, m, n, k))
        } else if m <= GEMV_MAX_ROWS {
            let grid = |cfg: &ternary::w2a8_gemv::Constexprs| gemv_grid(m, n, cfg.block_n);
            $finish(gemv_tuner(backend).$method($device, grid, x, w, c, m, n, k))
        } else if m <= SPLIT_K_MAX_ROWS && backend.is_gpu() {
            let grid = |cfg: &ternary::w2a8_matmul_split_k::Constexprs| {
                split_k_grid(m, n, cfg.block_m, cfg.block_n, cfg.split_k)
            };
            $finish(ternary_split_k_tuner(backend).$method($device, grid, x, w, c, m, n, k))
        } else {
            let grid = |cfg: &ternary::w2a8_matmul::Constexprs| {
                matmul_grid(m, n, cfg.block_m, cfg.block_n)
            };
            $finish(ternary_tuner(backend).$method($device, grid, x, w, c, m, n, k))
        }
    }};
}

impl TernaryMatmul<'_> {
    /// Runs it on `device` with the best configuration (tuning first when needed), after
    /// checking the buffers against the shapes.
    pub fn launch(&self, device: &Device) -> Result<(), Error> {
        self.check()?;
        // SAFETY: `check` proved every buffer as long as the kernels index it.
        unsafe { ternary_dispatch!(self, device, launch_unchecked, std::convert::identity) }
    }

    fn check(&self) -> Result<(), Error> {
        const OP: &str = "ternary matmul";
        let (m, n, k) = (i64::from(self.m), i64::from(self.n), i64::from(self.k));
        check_dims(OP, &[("m", self.m), ("n", self.n), ("k", self.k)])?;
        if k % 4 != 0 {
            return Err(Error::Shape {
                op: OP,
                message: format!("K = {k} is not a multiple of 4, which ternary packing needs"),
            });
        }
        check_buffer(OP, "x", self.x.len(), "m * k", m * k)?;
        check_buffer(OP, "w", self.w.len(), "n * k / 4", n * k / 4)?;
        check_buffer(OP, "c", self.c.len(), "m * n", m * n)
    }

    /// The configuration a launch would use and how it was chosen (tuning now when needed).
    /// Tuned on the unchecked code that `launch` runs.
    pub fn best(&self, device: &Device) -> Result<TuneOutcome, Error> {
        self.check()?;
        // SAFETY: `check` proved every buffer as long as the kernels index it.
        unsafe { ternary_dispatch!(self, device, best_unchecked, outcome) }
    }
}

/// `(block_n, block_k)` of the planes-layout matrix-vector kernel
/// ([`ternary::w2a8_gemv_planes`]) on the CPU.
const CPU_GEMV_PLANES: [(i32, i32); 5] = [(16, 512), (8, 512), (16, 1024), (32, 256), (8, 1024)];

static GEMV_PLANES: OnceLock<ternary::w2a8_gemv_planes::Autotuned> = OnceLock::new();

/// The autotuner of [`TernaryPlanesGemv`].
pub fn gemv_planes_tuner() -> &'static ternary::w2a8_gemv_planes::Autotuned {
    GEMV_PLANES.get_or_init(|| {
        cpu_gemv_tuner!(
            ternary::w2a8_gemv_planes,
            CPU_GEMV_PLANES,
            ternary::w2a8_gemv_planes::config
        )
    })
}

/// The [`TernaryMatmul`] with `w` in the CPU planes layout ([`crate::formats::ternary_planes`],
/// `n * ternary_planes_row_bytes(k)` bytes): the matrix-vector kernel
/// [`ternary::w2a8_gemv_planes`] for a few rows on CPUs.
pub struct TernaryPlanesGemv<'a>(pub TernaryMatmul<'a>);

/// Calls `$method` of [`gemv_planes_tuner`] for `$op` on `$device`, through `$finish`.
macro_rules! planes_dispatch {
    ($op:expr, $device:expr, $method:ident, $finish:path) => {{
        let TernaryMatmul { x, w, c, m, n, k } = $op.0;
        let grid = |cfg: &ternary::w2a8_gemv_planes::Constexprs| gemv_grid(m, n, cfg.block_n);
        $finish(gemv_planes_tuner().$method($device, grid, x, w, c, m, n, k))
    }};
}

impl TernaryPlanesGemv<'_> {
    /// Runs it on `device` with the best configuration (tuning first when needed), after
    /// checking the buffers against the shapes.
    pub fn launch(&self, device: &Device) -> Result<(), Error> {
        self.check()?;
        // SAFETY: `check` proved every buffer as long as the kernel indexes it.
        unsafe { planes_dispatch!(self, device, launch_unchecked, std::convert::identity) }
    }

    /// The configuration a launch would use and how it was chosen (tuning now when needed).
    pub fn best(&self, device: &Device) -> Result<TuneOutcome, Error> {
        self.check()?;
        // SAFETY: `check` proved every buffer as long as the kernel indexes it.
        unsafe { planes_dispatch!(self, device, best_unchecked, outcome) }
    }

    fn check(&self) -> Result<(), Error> {
        const OP: &str = "ternary planes GEMV";
        let a = &self.0;
        check_dims(OP, &[("m", a.m), ("n", a.n), ("k", a.k)])?;
        let (m, n, k) = (i64::from(a.m), i64::from(a.n), i64::from(a.k));
        let row_bytes = crate::formats::ternary_planes_row_bytes(k as usize) as i64;
        check_buffer(OP, "x", a.x.len(), "m * k", m * k)?;
        check_buffer(
            OP,
            "w",
            a.w.len(),
            "n * ternary_planes_row_bytes(k)",
            n * row_bytes,
        )?;
        check_buffer(OP, "c", a.c.len(), "m * n", m * n)
    }
}

/// The ternary linear layer on quantized activations:
/// `y[m, n] = (x x Wq^T)[m, n] * scale_x[m] * scale_w[n * w_scale_stride] (+ bias[n])`.
pub struct TernaryLinear<'a> {
    /// int8 activations, `[m, k]`.
    pub x: &'a Buffer<i8>,
    /// Their per-row scales, `[m]`.
    pub scale_x: &'a Buffer<f32>,
    /// Packed ternary weights, `[n, k / 4]`.
    pub w: &'a Buffer<u8>,
    /// Weight scales: one (`w_scale_stride` 0) or one per row (stride 1).
    pub scale_w: &'a Buffer<f32>,
    /// The bias, `[n]`, when `has_bias` (else any buffer, not read).
    pub bias: &'a Buffer<f32>,
    /// Whether to add `bias`.
    pub has_bias: bool,
    /// The output, `[m, n]`.
    pub y: &'a Buffer<f32>,
    /// Rows.
    pub m: i32,
    /// Output features.
    pub n: i32,
    /// Input features.
    pub k: i32,
    /// 0 for one weight scale, 1 for one per output row.
    pub w_scale_stride: i32,
}

static LINEAR: Tuners<ternary::w2a8_linear::Autotuned> = Tuners::new();

/// The autotuner of [`TernaryLinear`] (with or without bias), over `backend`'s configurations.
pub fn linear_tuner(backend: Backend, has_bias: bool) -> &'static ternary::w2a8_linear::Autotuned {
    let gpu = backend.is_gpu();
    LINEAR.get(gpu, has_bias, || {
        let make = |bm, bn, bk| ternary::w2a8_linear::config(has_bias, bm, bn, bk);
        matmul_tuner!(ternary::w2a8_linear, gpu, make, ["m", "n", "k"])
    })
}

impl TernaryLinear<'_> {
    /// Runs it on `device` with the best configuration (tuning first when needed), after
    /// checking the buffers against the shapes.
    pub fn launch(&self, device: &Device) -> Result<(), Error> {
        self.check()?;
        let a = self;
        let (m, n) = (a.m, a.n);
        // SAFETY: `check` proved every buffer as long as the kernel indexes it.
        unsafe {
            linear_tuner(device.backend(), a.has_bias).launch_unchecked(
                device,
                |c| matmul_grid(m, n, c.block_m, c.block_n),
                a.x,
                a.scale_x,
                a.w,
                a.scale_w,
                a.bias,
                a.y,
                m,
                n,
                a.k,
                a.w_scale_stride,
            )
        }
    }

    fn check(&self) -> Result<(), Error> {
        const OP: &str = "ternary linear";
        let k = i64::from(self.k);
        check_dims(OP, &[("m", self.m), ("n", self.n), ("k", self.k)])?;
        if k % 4 != 0 || !matches!(self.w_scale_stride, 0 | 1) {
            return Err(Error::Shape {
                op: OP,
                message: format!(
                    "K = {k} must be a multiple of 4 (ternary packing) and the weight scale stride ({}) 0 or 1",
                    self.w_scale_stride
                ),
            });
        }
        self.check_buffers(OP, "n * k / 4", i64::from(self.n) * k / 4)
    }

    /// Checks the buffers of `op` against the shapes, `w` holding `w_need` bytes (`w_formula`).
    fn check_buffers(&self, op: &'static str, w_formula: &str, w_need: i64) -> Result<(), Error> {
        let (m, n, k) = (i64::from(self.m), i64::from(self.n), i64::from(self.k));
        check_buffer(op, "x", self.x.len(), "m * k", m * k)?;
        check_buffer(op, "scale_x", self.scale_x.len(), "m", m)?;
        check_buffer(op, "w", self.w.len(), w_formula, w_need)?;
        let scales = if self.w_scale_stride == 0 { 1 } else { n };
        check_buffer(
            op,
            "scale_w",
            self.scale_w.len(),
            "n * stride (at least 1)",
            scales.max(1),
        )?;
        if self.has_bias {
            check_buffer(op, "bias", self.bias.len(), "n", n)?;
        }
        check_buffer(op, "y", self.y.len(), "m * n", m * n)
    }
}

/// Activations of an int4 matmul: `f16` (W4A16) or int8 with per-row scales (W4A8).
#[derive(Copy, Clone)]
pub enum Int4Activations<'a> {
    /// `f16 [m, k]`; the weights are dequantized to `f16`.
    F16(&'a Buffer<crate::f16>),
    /// `i8 [m, k]` and per-row scales `[m]`; exact `i32` sums per group.
    I8 {
        /// The values.
        values: &'a Buffer<i8>,
        /// The per-row scales.
        scales: &'a Buffer<f32>,
    },
}

/// `y[m, n] = x[m, k] x dequant(W)[n, k]^T` with `W` signed int4, 16 per `u64` along K, and
/// one scale per `group` of K per row, `f32` out.
pub struct Int4Matmul<'a> {
    /// The activations.
    pub x: Int4Activations<'a>,
    /// Packed int4 weights, `[n, k / 16]` words.
    pub w: &'a Buffer<u64>,
    /// Group scales, `[n, k / group]`.
    pub scales: &'a Buffer<f32>,
    /// The output, `[m, n]`.
    pub y: &'a Buffer<f32>,
    /// Rows.
    pub m: i32,
    /// Output features.
    pub n: i32,
    /// Input features.
    pub k: i32,
    /// The group size along K (a multiple of 16, or `k`).
    pub group: i32,
}

static W4A16: Tuners<int4::w4a16_matmul::Autotuned> = Tuners::new();
static W4A16_GEMV: Tuners<int4::w4a16_gemv::Autotuned> = Tuners::new();
static W4A8: Tuners<int4::w4a8_matmul::Autotuned> = Tuners::new();

/// The autotuner of [`Int4Matmul`] on `f16` activations, over `backend`'s configurations.
pub fn w4a16_tuner(backend: Backend) -> &'static int4::w4a16_matmul::Autotuned {
    let gpu = backend.is_gpu();
    W4A16.get(gpu, false, || {
        let make = |bm, bn, bk| int4::w4a16_matmul::config(true, bm, bn, bk);
        matmul_tuner!(int4::w4a16_matmul, gpu, make, ["m", "n", "k", "group"])
    })
}

static W4A16_SPLIT_K: Tuners<int4::w4a16_matmul_split_k::Autotuned> = Tuners::new();

/// The autotuner of [`Int4Matmul`] on `f16` activations on GPUs from [`GEMV_MAX_ROWS`] to
/// [`SPLIT_K_MAX_ROWS`] rows: split-K configurations zero `y` before each launch.
pub fn w4a16_split_k_tuner(backend: Backend) -> &'static int4::w4a16_matmul_split_k::Autotuned {
    let gpu = backend.is_gpu();
    W4A16_SPLIT_K.get(gpu, false, || {
        let make = |bm, bn, bk, s| int4::w4a16_matmul_split_k::config(true, bm, bn, bk, s);
        int4::w4a16_matmul_split_k::autotune(split_k_space(gpu, make))
            .key(&["m", "n", "k", "group"])
            .prune(move |c, key| block_m_too_large(c.constexprs.block_m, key, gpu))
            .reset_to_zero(&["y"], |c| c.constexprs.split_k > 1)
    })
}

/// The autotuner of [`Int4Matmul`] on `f16` activations up to [`GEMV_MAX_ROWS`] rows, over
/// `backend`'s configurations.
pub fn w4a16_gemv_tuner(backend: Backend) -> &'static int4::w4a16_gemv::Autotuned {
    let gpu = backend.is_gpu();
    W4A16_GEMV.get(gpu, false, || {
        let make = |bn, bk| int4::w4a16_gemv::config(true, bn, bk);
        int4::w4a16_gemv::autotune(gemv_space(gpu, make)).key(&["m", "n", "k", "group"])
    })
}

/// The autotuner of [`Int4Matmul`] on int8 activations, over `backend`'s configurations.
pub fn w4a8_tuner(backend: Backend) -> &'static int4::w4a8_matmul::Autotuned {
    let gpu = backend.is_gpu();
    W4A8.get(gpu, false, || {
        // Groups of 16 need steps of 16: each configuration also with `block_k` 16.
        let make = |bm, bn, bk| int4::w4a8_matmul::config(true, bm, bn, bk);
        let mut configs = matmul_space(gpu, make);
        let narrow = matmul_space(gpu, |bm, bn, _| make(bm, bn, 16));
        for c in narrow {
            if !configs.contains(&c) {
                configs.push(c);
            }
        }
        int4::w4a8_matmul::autotune(configs)
            .key(&["m", "n", "k", "group"])
            .prune(move |c, key| {
                // Exact group sums need whole groups per step (or one group per row).
                let (group, k) = (key.get("group").unwrap_or(0), key.get("k").unwrap_or(0));
                let splits_groups = group % i64::from(c.constexprs.block_k) != 0 && group != k;
                splits_groups || block_m_too_large(c.constexprs.block_m, key, gpu)
            })
    })
}

/// Calls `$method` (`launch` or `best`, its result passed through `$finish`) of the tuner
/// that serves int4 matmul `$op` on `$device` (W4A16 or W4A8 by its activations): one
/// dispatch, so `best` reports exactly what `launch` runs.
macro_rules! int4_dispatch {
    ($op:expr, $device:expr, $method:ident, $finish:path) => {{
        let Int4Matmul {
            x,
            w,
            scales,
            y,
            m,
            n,
            k,
            group,
        } = *$op;
        let backend = $device.backend();
        match x {
            Int4Activations::F16(x) if m <= GEMV_MAX_ROWS => {
                let grid = |c: &int4::w4a16_gemv::Constexprs| gemv_grid(m, n, c.block_n);
                $finish(
                    w4a16_gemv_tuner(backend)
                        .$method($device, grid, x, w, scales, y, m, n, k, group),
                )
            }
            Int4Activations::F16(x) if m <= SPLIT_K_MAX_ROWS && backend.is_gpu() => {
                let grid = |c: &int4::w4a16_matmul_split_k::Constexprs| {
                    split_k_grid(m, n, c.block_m, c.block_n, c.split_k)
                };
                $finish(
                    w4a16_split_k_tuner(backend)
                        .$method($device, grid, x, w, scales, y, m, n, k, group),
                )
            }
            Int4Activations::F16(x) => {
                let grid =
                    |c: &int4::w4a16_matmul::Constexprs| matmul_grid(m, n, c.block_m, c.block_n);
                $finish(
                    w4a16_tuner(backend).$method($device, grid, x, w, scales, y, m, n, k, group),
                )
            }
            Int4Activations::I8 { values, scales: sx } => {
                let grid =
                    |c: &int4::w4a8_matmul::Constexprs| matmul_grid(m, n, c.block_m, c.block_n);
                $finish(
                    w4a8_tuner(backend)
                        .$method($device, grid, values, sx, w, scales, y, m, n, k, group),
                )
            }
        }
    }};
}

impl Int4Matmul<'_> {
    /// Runs it on `device` with the best configuration (tuning first when needed), after
    /// checking the buffers against the shapes.
    pub fn launch(&self, device: &Device) -> Result<(), Error> {
        self.check()?;
        // SAFETY: `check` proved every buffer as long as the kernels index it.
        unsafe { int4_dispatch!(self, device, launch_unchecked, std::convert::identity) }
    }

    fn check(&self) -> Result<(), Error> {
        const OP: &str = "int4 matmul";
        let (m, n, k) = (i64::from(self.m), i64::from(self.n), i64::from(self.k));
        let group = i64::from(self.group);
        check_dims(OP, &[("m", self.m), ("n", self.n), ("k", self.k)])?;
        if k % 16 != 0 || group <= 0 || k % group != 0 || (group % 16 != 0 && group != k) {
            return Err(Error::Shape {
                op: OP,
                message: format!(
                    "K = {k} must be a multiple of 16 (int4 packing) and of the group size {group}, a positive multiple of 16 or K"
                ),
            });
        }
        match self.x {
            Int4Activations::F16(x) => check_buffer(OP, "x", x.len(), "m * k", m * k)?,
            Int4Activations::I8 { values, scales } => {
                check_buffer(OP, "x", values.len(), "m * k", m * k)?;
                check_buffer(OP, "x scales", scales.len(), "m", m)?;
            }
        }
        check_buffer(OP, "w", self.w.len(), "n * k / 16", n * k / 16)?;
        check_buffer(
            OP,
            "scales",
            self.scales.len(),
            "n * k / group",
            n * (k / group),
        )?;
        check_buffer(OP, "y", self.y.len(), "m * n", m * n)
    }

    /// The configuration a launch would use and how it was chosen (tuning now when needed).
    /// Tuned on the unchecked code that `launch` runs.
    pub fn best(&self, device: &Device) -> Result<TuneOutcome, Error> {
        self.check()?;
        // SAFETY: `check` proved every buffer as long as the kernels index it.
        unsafe { int4_dispatch!(self, device, best_unchecked, outcome) }
    }
}

/// BitTensor's W4A4: `c[m, n] = sum_k x[m, k] * w[n, k] (+ bias[n])` in exact `i32`, both
/// operands unsigned 4-bit values packed 16 per `u64` along K (`k_words` words per row).
pub struct W4A4Matmul<'a> {
    /// Packed activations, `[m, k_words]`.
    pub x: &'a Buffer<u64>,
    /// Packed weights, `[n, k_words]`.
    pub w: &'a Buffer<u64>,
    /// The bias, `[n]`, when `has_bias` (else any buffer, not read).
    pub bias: &'a Buffer<i32>,
    /// Whether to add `bias`.
    pub has_bias: bool,
    /// The output, `[m, n]`.
    pub c: &'a Buffer<i32>,
    /// Rows.
    pub m: i32,
    /// Output features.
    pub n: i32,
    /// Input features.
    pub k: i32,
    /// Words per row, `ceil(k / 16)`.
    pub k_words: i32,
}

static W4A4: Tuners<int4::w4a4_matmul::Autotuned> = Tuners::new();

/// The autotuner of [`W4A4Matmul`] (with or without bias), over `backend`'s configurations.
pub fn w4a4_tuner(backend: Backend, has_bias: bool) -> &'static int4::w4a4_matmul::Autotuned {
    let gpu = backend.is_gpu();
    W4A4.get(gpu, has_bias, || {
        let make = |bm, bn, bk| int4::w4a4_matmul::config(has_bias, bm, bn, bk);
        matmul_tuner!(int4::w4a4_matmul, gpu, make, ["m", "n", "k"])
    })
}

impl W4A4Matmul<'_> {
    /// Runs it on `device` with the best configuration (tuning first when needed), after
    /// checking the buffers against the shapes.
    pub fn launch(&self, device: &Device) -> Result<(), Error> {
        self.check()?;
        let a = self;
        let (m, n) = (a.m, a.n);
        // SAFETY: `check` proved every buffer as long as the kernel indexes it.
        unsafe {
            w4a4_tuner(device.backend(), a.has_bias).launch_unchecked(
                device,
                |c| matmul_grid(m, n, c.block_m, c.block_n),
                a.x,
                a.w,
                a.bias,
                a.c,
                m,
                n,
                a.k,
                a.k_words,
            )
        }
    }

    fn check(&self) -> Result<(), Error> {
        const OP: &str = "w4a4 matmul";
        let (m, n, k) = (i64::from(self.m), i64::from(self.n), i64::from(self.k));
        let words = i64::from(self.k_words);
        check_dims(OP, &[("m", self.m), ("n", self.n), ("k", self.k)])?;
        if words != (k + 15) / 16 {
            return Err(Error::Shape {
                op: OP,
                message: format!(
                    "k_words = {words}, expected ceil(k / 16) = {}",
                    (k + 15) / 16
                ),
            });
        }
        check_buffer(OP, "x", self.x.len(), "m * k_words", m * words)?;
        check_buffer(OP, "w", self.w.len(), "n * k_words", n * words)?;
        if self.has_bias {
            check_buffer(OP, "bias", self.bias.len(), "n", n)?;
        }
        check_buffer(OP, "c", self.c.len(), "m * n", m * n)
    }
}

/// Whether the int4 matmuls on `backend` run on the CPU planes layout
/// ([`crate::formats::int4_planes`], [`Int4PlanesGemv`]) for weights with groups of
/// `group_size`: on the LLVM backend, whose byte dot products (`vpdpbusd`) the layout feeds,
/// when the layout holds the group (a multiple of 32).
pub fn int4_uses_planes(backend: Backend, group_size: usize) -> bool {
    backend == Backend::LLVM && crate::formats::int4_planes_scale_cols(group_size).is_some()
}

/// `(block_n, block_k)` of the int4 planes-layout W4A8 matrix-vector kernel
/// ([`int4::w4a8_gemv_planes`]) on the CPU.
const CPU_W4A8_PLANES: [(i32, i32); 5] = [(16, 256), (8, 512), (16, 512), (32, 256), (8, 256)];

/// `(block_n, block_k)` of the int4 planes-layout W4A16 matrix-vector kernel
/// ([`int4::w4a16_gemv_planes`]) on the CPU: fewer rows than W4A8's, whose `f32` products of 16
/// columns are a vector per row (more rows spill registers).
const CPU_W4A16_PLANES: [(i32, i32); 5] = [(4, 256), (8, 128), (4, 512), (8, 256), (2, 512)];

/// The layout's columns per scale, 32, 64 or 128, as an index 0..3 of the tuners built per
/// value (the kernels take it as a constexpr).
fn scale_cols_slot(scale_cols: i32) -> usize {
    match scale_cols {
        32 => 0,
        64 => 1,
        _ => 2,
    }
}

static W4A8_PLANES: [OnceLock<int4::w4a8_gemv_planes::Autotuned>; 3] =
    [const { OnceLock::new() }; 3];
static W4A16_PLANES: [OnceLock<int4::w4a16_gemv_planes::Autotuned>; 3] =
    [const { OnceLock::new() }; 3];

/// The autotuner of [`Int4PlanesGemv`] on int8 activations for weights with `scale_cols`
/// columns per scale (32, 64 or 128).
pub fn w4a8_planes_tuner(scale_cols: i32) -> &'static int4::w4a8_gemv_planes::Autotuned {
    W4A8_PLANES[scale_cols_slot(scale_cols)].get_or_init(|| {
        let make = |bn, bk| int4::w4a8_gemv_planes::config(scale_cols, bn, bk);
        cpu_gemv_tuner!(int4::w4a8_gemv_planes, CPU_W4A8_PLANES, make)
    })
}

/// The autotuner of [`Int4PlanesGemv`] on `f16` activations for weights with `scale_cols`
/// columns per scale (32, 64 or 128).
pub fn w4a16_planes_tuner(scale_cols: i32) -> &'static int4::w4a16_gemv_planes::Autotuned {
    W4A16_PLANES[scale_cols_slot(scale_cols)].get_or_init(|| {
        let make = |bn, bk| int4::w4a16_gemv_planes::config(scale_cols, bn, bk);
        cpu_gemv_tuner!(int4::w4a16_gemv_planes, CPU_W4A16_PLANES, make)
    })
}

/// `y[m, n] = x[m, k] x dequant(W)[n, k]^T`, `f32`, with `W` int4 in the CPU planes layout
/// ([`crate::formats::int4_planes`]): the matrix-vector kernels, one program per `block_n`
/// outputs of one row, which the ops and [`crate::nn::Int4Linear`] run on the LLVM backend.
pub struct Int4PlanesGemv<'a> {
    /// The activations (W4A8 or W4A16).
    pub x: Int4Activations<'a>,
    /// The codes, `n * int4_planes_row_bytes(k)` bytes.
    pub w: &'a Buffer<u8>,
    /// The scales, `[padded k / scale_cols, n]`.
    pub scales: &'a Buffer<f32>,
    /// The output, `[m, n]`.
    pub y: &'a Buffer<f32>,
    /// Rows.
    pub m: i32,
    /// Output features.
    pub n: i32,
    /// Input features.
    pub k: i32,
    /// Columns per scale of the layout: 32, 64 or 128.
    pub scale_cols: i32,
}

/// Calls `$method` of the tuner that serves `$op` (W4A8 or W4A16 by its activations) on
/// `$device`, through `$finish`.
macro_rules! int4_planes_dispatch {
    ($op:expr, $device:expr, $method:ident, $finish:path) => {{
        let Int4PlanesGemv {
            x,
            w,
            scales,
            y,
            m,
            n,
            k,
            scale_cols,
        } = *$op;
        match x {
            Int4Activations::I8 { values, scales: sx } => {
                let grid = |c: &int4::w4a8_gemv_planes::Constexprs| gemv_grid(m, n, c.block_n);
                $finish(
                    w4a8_planes_tuner(scale_cols)
                        .$method($device, grid, values, sx, w, scales, y, m, n, k),
                )
            }
            Int4Activations::F16(x) => {
                let grid = |c: &int4::w4a16_gemv_planes::Constexprs| gemv_grid(m, n, c.block_n);
                $finish(
                    w4a16_planes_tuner(scale_cols).$method($device, grid, x, w, scales, y, m, n, k),
                )
            }
        }
    }};
}

impl Int4PlanesGemv<'_> {
    /// Runs it on `device` with the best configuration (tuning first when needed), after
    /// checking the buffers against the shapes.
    pub fn launch(&self, device: &Device) -> Result<(), Error> {
        self.check()?;
        // SAFETY: `check` proved every buffer as long as the kernels index it.
        unsafe { int4_planes_dispatch!(self, device, launch_unchecked, std::convert::identity) }
    }

    /// The configuration a launch would use and how it was chosen (tuning now when needed).
    pub fn best(&self, device: &Device) -> Result<TuneOutcome, Error> {
        self.check()?;
        // SAFETY: `check` proved every buffer as long as the kernels index it.
        unsafe { int4_planes_dispatch!(self, device, best_unchecked, outcome) }
    }

    fn check(&self) -> Result<(), Error> {
        const OP: &str = "int4 planes GEMV";
        check_dims(OP, &[("m", self.m), ("n", self.n), ("k", self.k)])?;
        if !matches!(self.scale_cols, 32 | 64 | 128) {
            return Err(Error::Shape {
                op: OP,
                message: format!(
                    "scale_cols = {} must be 32, 64 or 128 (the int4 planes layout's)",
                    self.scale_cols
                ),
            });
        }
        let (m, n, k) = (i64::from(self.m), i64::from(self.n), i64::from(self.k));
        let row_bytes = crate::formats::int4_planes_row_bytes(k as usize) as i64;
        match self.x {
            Int4Activations::F16(x) => check_buffer(OP, "x", x.len(), "m * k", m * k)?,
            Int4Activations::I8 { values, scales } => {
                check_buffer(OP, "x", values.len(), "m * k", m * k)?;
                check_buffer(OP, "x scales", scales.len(), "m", m)?;
            }
        }
        check_buffer(
            OP,
            "w",
            self.w.len(),
            "n * int4_planes_row_bytes(k)",
            n * row_bytes,
        )?;
        check_buffer(
            OP,
            "scales",
            self.scales.len(),
            "2 * row bytes / scale_cols * n",
            2 * row_bytes / i64::from(self.scale_cols) * n,
        )?;
        check_buffer(OP, "y", self.y.len(), "m * n", m * n)
    }
}

/// Whether the ternary layers ([`crate::nn::BitLinear`]) on `backend` keep their weights in
/// the CPU planes layout and run [`TernaryPlanesLinear`]: on the LLVM backend, whose byte dot
/// products (`vpdpbusd`) the layout feeds (Cranelift's generic `dot` is faster on the
/// canonical packing).
pub fn ternary_uses_planes(backend: Backend) -> bool {
    backend == Backend::LLVM
}

static LINEAR_PLANES: [OnceLock<ternary::w2a8_linear_planes::Autotuned>; 2] =
    [const { OnceLock::new() }; 2];

/// The autotuner of [`TernaryPlanesLinear`] (with or without bias).
pub fn linear_planes_tuner(has_bias: bool) -> &'static ternary::w2a8_linear_planes::Autotuned {
    LINEAR_PLANES[usize::from(has_bias)].get_or_init(|| {
        let make = |bn, bk| ternary::w2a8_linear_planes::config(has_bias, bn, bk);
        cpu_gemv_tuner!(ternary::w2a8_linear_planes, CPU_GEMV_PLANES, make)
    })
}

/// The [`TernaryLinear`] layer with `w` in the CPU planes layout
/// ([`crate::formats::ternary_planes`], `n * ternary_planes_row_bytes(k)` bytes): the
/// matrix-vector kernel [`ternary::w2a8_linear_planes`], one program per `block_n` outputs of
/// one row.
pub struct TernaryPlanesLinear<'a>(pub TernaryLinear<'a>);

impl TernaryPlanesLinear<'_> {
    /// Runs it on `device` with the best configuration (tuning first when needed), after
    /// checking the buffers against the shapes.
    pub fn launch(&self, device: &Device) -> Result<(), Error> {
        self.check()?;
        let a = &self.0;
        let (m, n) = (a.m, a.n);
        // SAFETY: `check` proved every buffer as long as the kernel indexes it.
        unsafe {
            linear_planes_tuner(a.has_bias).launch_unchecked(
                device,
                |c| gemv_grid(m, n, c.block_n),
                a.x,
                a.scale_x,
                a.w,
                a.scale_w,
                a.bias,
                a.y,
                m,
                n,
                a.k,
                a.w_scale_stride,
            )
        }
    }

    fn check(&self) -> Result<(), Error> {
        const OP: &str = "ternary planes linear";
        let a = &self.0;
        check_dims(OP, &[("m", a.m), ("n", a.n), ("k", a.k)])?;
        if !matches!(a.w_scale_stride, 0 | 1) {
            return Err(Error::Shape {
                op: OP,
                message: format!(
                    "the weight scale stride ({}) must be 0 or 1",
                    a.w_scale_stride
                ),
            });
        }
        let row_bytes = crate::formats::ternary_planes_row_bytes(a.k as usize) as i64;
        let need = i64::from(a.n) * row_bytes;
        a.check_buffers(OP, "n * ternary_planes_row_bytes(k)", need)
    }
}

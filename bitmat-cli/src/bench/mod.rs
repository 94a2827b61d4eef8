//! `bitmat bench`: the prebuilt low-bit matmul kernels timed beside a peer and a memory floor
//! measured in the same run (this module), or, with `--suite parity`, Triton's tutorial
//! kernels in the DSL beside their Triton twins and torch ([`parity`]), timed and checked the
//! same way.
//!
//! For each shape `(N, K)` and each `M`, these kernels are timed:
//!
//! - `ternary_w2a8`: [`bitmat::tuned::TernaryMatmul`] ([`bitmat::kernels::ternary::w2a8_gemv`]
//!   up to 4 rows, [`bitmat::kernels::ternary::w2a8_matmul`] above), `i8` activations times
//!   packed ternary weights, exact `i32` output;
//! - `ternary_w2a8_planes` (CPU, up to 4 rows): [`bitmat::tuned::TernaryPlanesGemv`], the same
//!   product on the weights repacked once into the CPU planes layout
//!   ([`bitmat::formats::ternary_planes`]);
//! - `int4_w4a16`: [`bitmat::tuned::Int4Matmul`] ([`bitmat::kernels::int4::w4a16_matmul`]),
//!   `f16` activations times signed int4 weights with `f32` scales per group of 128 along K
//!   (per row when 128 does not divide K);
//! - `int4_w4a8`: the same weights times `i8` activations with per-row scales
//!   ([`bitmat::kernels::int4::w4a8_matmul`]); no peer;
//! - `int4_w4a16_planes`, `int4_w4a8_planes` (CPU, up to 4 rows, when the group is a multiple
//!   of 32): [`bitmat::tuned::Int4PlanesGemv`], the same products on the weights repacked once
//!   into the CPU int4 planes layout ([`bitmat::formats::int4_planes`]), what the ops run on
//!   the LLVM backend.
//!
//! Both launch with the configuration their autotuner picks for the shape's bucket (tuned in
//! the run when no result is stored); each row names it and where it came from, and the report
//! counts the runtime's compilations, disk loads and tunings during the run.
//!
//! Each beside a peer and a floor:
//!
//! | device | peer | floor |
//! | --- | --- | --- |
//! | `cuda` | cuBLAS fp16 GEMM `[M, K] x [K, N]` ([`bitmat_runtime::peer::CublasGemmF16`]) | device-to-device copy of 1 GiB, (read + written bytes) / time |
//! | `cpu` | `rust_unpacked`: plain Rust over weights unpacked once, multi-threaded ([`host_peer`]), for `M = 1` only (not W4A8) | multi-threaded streaming read of 1 GiB, bytes / time |
//!
//! # Timing
//!
//! Every figure is the median that [`bitmat_runtime::timing::bench`] measures (the function
//! the autotuner times with): one warm-up launch (which also compiles the kernel), then timed
//! launches, CUDA events around each on CUDA, the wall clock on the CPU. A case stops sampling
//! once it has `repeat` samples, or at least 3 and [`BenchOptions::case_budget_ms`] of sampled
//! time. A case whose first timed launch exceeds [`BenchOptions::max_launch_ms`] keeps that
//! single sample; a case predicted (linearly in `M` from the kernel's last measured `M` on the
//! shape) to take over 4 times that is skipped. Both are said in the row's note.
//!
//! Kernels and peers are timed with the device's last cache level flushed before each timed
//! launch ([`bitmat_runtime::CacheFlush`]: twice the L2 on CUDA, twice the last-level cache
//! on the CPU), so that weights are read from memory as in a model too large for the cache;
//! the report's `cache_flush` says what was written. The floors stream 1 GiB, which no cache
//! holds, and are not flushed.
//!
//! # Checks
//!
//! After its timed launches, each kernel's output is checked ([`check`]) against the plain-Rust
//! reference on its first, middle and last rows, and against the CPU peer on every row; a
//! difference is a [`BenchError::Mismatch`], not a figure. On CUDA, cuBLAS multiplies the
//! same operands (weights decoded to fp16) and its fp16 output is compared with bitmat's on
//! the sampled rows.
//!
//! # Bandwidth
//!
//! A row's `gbps` is the bytes of packed weights (with int4 scales) and activations read by
//! one launch, divided by its median time; `pct_of_floor` compares that with the floor. Output
//! bytes are not counted.

pub mod check;
pub mod host_peer;
pub mod parity;

use bitmat::formats::{
    pack_int4_planes, pack_ternary_planes, Int4Group, Int4Planes, Int4Weights, QuantizedActivations,
};
use bitmat::tuned::{
    Int4Activations, Int4Matmul, Int4PlanesGemv, TernaryMatmul, TernaryPlanesGemv, GEMV_MAX_ROWS,
};
use bitmat::{f16, reference, Buffer, Device, Error, RuntimeError, Stats, TuneOutcome};
use bitmat_runtime::peer::{CublasGemmF16, DeviceCopy};
use bitmat_runtime::timing::{self, Measurement};
use check::{gather_rows, sample_rows, Against, Mismatch};
use host_peer::Unpacked;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The default `M` values (rows of activations).
pub const DEFAULT_MS: [usize; 5] = [1, 16, 128, 1024, 4096];

/// The default `(N, K)` shapes: Llama-7B attention and MLP, Llama-70B MLP.
pub const DEFAULT_SHAPES: [(usize, usize); 3] = [(4096, 4096), (11008, 4096), (28672, 8192)];

/// Bytes of the buffer the floor streams (1 GiB).
pub const FLOOR_BYTES: usize = 1 << 30;

/// The int4 group size along K when it divides K.
const INT4_GROUP: usize = 128;

/// Where the benchmark runs.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum BenchDevice {
    /// [`Device::cpu`], beside plain Rust over unpacked weights and a streaming read.
    Cpu,
    /// CUDA device 0, beside cuBLAS and a device-to-device copy.
    Cuda,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Where.
    pub device: BenchDevice,
    /// The `M` values, in order.
    pub ms: Vec<usize>,
    /// The `(N, K)` shapes; K must be a multiple of 16.
    pub shapes: Vec<(usize, usize)>,
    /// Timed launches per case (at least 1).
    pub repeat: usize,
    /// A case whose first timed launch takes longer keeps that one sample, and larger `M` of
    /// the kernel on the shape are skipped when predicted to take over 4 times this.
    pub max_launch_ms: f64,
    /// A case stops sampling after this much sampled time (with at least 3 samples).
    pub case_budget_ms: f64,
    /// Bytes of the floor's buffer(s).
    pub floor_bytes: usize,
    /// Flush the device's last cache level before each timed launch of a kernel or peer (the
    /// default; off, weights that fit the cache are timed from it).
    pub flush_cache: bool,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            device: BenchDevice::Cuda,
            ms: DEFAULT_MS.to_vec(),
            shapes: DEFAULT_SHAPES.to_vec(),
            repeat: 20,
            max_launch_ms: 2000.0,
            case_budget_ms: 2000.0,
            floor_bytes: FLOOR_BYTES,
            flush_cache: true,
        }
    }
}

/// An error of `bitmat bench`.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Opening the device, uploading, launching (a missing CUDA driver included).
    #[error(transparent)]
    Bitmat(#[from] Error),
    /// Options that cannot be run.
    #[error("bench: {0}")]
    Options(String),
    /// The JSON report could not be written.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The report could not be serialized.
    #[error("serializing the report: {0}")]
    Json(#[from] serde_json::Error),
    /// A kernel's output differs from the reference's or the peer's.
    #[error(transparent)]
    Mismatch(#[from] Box<Mismatch>),
}

impl From<Mismatch> for BenchError {
    fn from(e: Mismatch) -> Self {
        BenchError::Mismatch(Box::new(e))
    }
}

impl From<bitmat::formats::FormatError> for BenchError {
    fn from(e: bitmat::formats::FormatError) -> Self {
        BenchError::Bitmat(e.into())
    }
}

impl From<RuntimeError> for BenchError {
    fn from(e: RuntimeError) -> Self {
        BenchError::Bitmat(e.into())
    }
}

/// One kernel at one `(M, N, K)`, beside its peer.
#[derive(Clone, Debug, Serialize)]
pub struct BenchRow {
    /// `ternary_w2a8` or `int4_w4a16`.
    pub kernel: String,
    /// Rows of activations.
    pub m: usize,
    /// Output features.
    pub n: usize,
    /// Input features (the reduction).
    pub k: usize,
    /// Median time of one bitmat launch, µs (`None` when skipped).
    pub bitmat_us: Option<f64>,
    /// Samples behind `bitmat_us`.
    pub samples: usize,
    /// The peer: `cublas_fp16` or `rust_unpacked`.
    pub peer: String,
    /// Median time of the peer, µs (`None` when not run).
    pub peer_us: Option<f64>,
    /// `peer_us / bitmat_us`: above 1 when bitmat is faster.
    pub speedup: Option<f64>,
    /// Bytes of weights (packed, with scales) and activations one bitmat launch reads.
    pub bytes: u64,
    /// `bytes / bitmat time`, GB/s.
    pub gbps: Option<f64>,
    /// `gbps` as a percentage of the floor's bandwidth.
    pub pct_of_floor: Option<f64>,
    /// Bytes the peer reads (fp16 weights and activations on CUDA).
    pub peer_bytes: u64,
    /// `peer_bytes / peer time`, GB/s.
    pub peer_gbps: Option<f64>,
    /// The configuration the autotuner chose (constexprs and launch options).
    pub config: Option<String>,
    /// Where it came from: `tuned`, `memory`, `disk cache`, `imported` or `default (..)`.
    pub config_source: Option<String>,
    /// Skips, single samples, peers not run.
    pub note: Option<String>,
}

/// The whole run.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// The device, as it names itself.
    pub device: String,
    /// How times were measured (`cuda events` or `wall clock`).
    pub timing: String,
    /// What was written before each timed launch of a kernel or peer to flush the cache.
    pub cache_flush: String,
    /// The floor: `device_to_device_copy` or `stream_read`.
    pub floor: String,
    /// The floor's bandwidth, GB/s (copy: read + written bytes).
    pub floor_gbps: f64,
    /// Bytes of the floor's buffer.
    pub floor_bytes: usize,
    /// Requested timed launches per case.
    pub repeat: usize,
    /// One row per kernel, shape and `M`.
    pub rows: Vec<BenchRow>,
    /// The runtime's work during the run: kernels compiled or loaded from the disk cache,
    /// keys tuned or tuning results loaded. A warm cache shows no compilation and no tuning.
    pub runtime: Stats,
}

/// Parses `NxK` (e.g. `4096x4096`) into `(N, K)`.
pub fn parse_shape(s: &str) -> Result<(usize, usize), String> {
    let (n, k) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("`{s}` is not NxK (e.g. 4096x4096)"))?;
    let dim = |d: &str| {
        d.trim()
            .parse::<usize>()
            .ok()
            .filter(|&v| v > 0)
            .ok_or_else(|| format!("`{d}` in `{s}` is not a positive integer"))
    };
    Ok((dim(n)?, dim(k)?))
}

/// A small xorshift generator: benchmark data need not be good random numbers, only cheap.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut s = self.0;
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        self.0 = s;
        s
    }
}

/// The timing settings of `opts`: one warm-up, 3 to `repeat` timed launches within the case
/// budget, one when the first exceeds `max_launch_ms`; the cache flushed when `flush`.
fn timing_options(opts: &BenchOptions, flush: bool) -> timing::BenchOptions {
    timing::BenchOptions {
        warmup: 1,
        min_reps: 3.min(opts.repeat.max(1)),
        max_reps: opts.repeat.max(1),
        budget_ms: opts.case_budget_ms,
        single_above_ms: opts.max_launch_ms,
        flush_cache: flush,
    }
}

/// Times `f` (a kernel or a peer) on `device`, with the cache flushed unless
/// [`BenchOptions::flush_cache`] is off.
fn measure(
    device: &Device,
    opts: &BenchOptions,
    f: &mut dyn FnMut() -> Result<(), Error>,
) -> Result<Measurement, Error> {
    timing::bench(device, &timing_options(opts, opts.flush_cache), f)
}

/// The row note of a case measured once because its launch was slow.
fn single_sample_note(m: &Measurement, opts: &BenchOptions) -> Option<String> {
    (m.reps == 1 && opts.repeat > 1).then(|| {
        format!(
            "one sample: a launch takes over {:.0} ms",
            opts.max_launch_ms
        )
    })
}

/// A multi-threaded streaming read of `data`: the CPU's memory floor for a GEMV.
fn stream_read(data: &[u64]) -> u64 {
    data.par_chunks(1 << 16)
        .map(|c| c.iter().fold(0u64, |a, &x| a.wrapping_add(x)))
        .reduce(|| 0, u64::wrapping_add)
}

/// The floor's name and bandwidth in GB/s.
fn floor(device: &Device, opts: &BenchOptions) -> Result<(String, f64), Error> {
    let reps = BenchOptions {
        repeat: opts.repeat.max(3),
        ..opts.clone()
    };
    // The floor's buffer exceeds every cache: no flush.
    let options = timing_options(&reps, false);
    match opts.device {
        BenchDevice::Cuda => {
            let mut copy = DeviceCopy::new(device, opts.floor_bytes)?;
            let bytes = copy.bytes() as f64;
            let m = timing::bench(device, &options, &mut || copy.run())?;
            Ok((
                "device_to_device_copy".into(),
                2.0 * bytes / (m.median_ms * 1e6),
            ))
        }
        BenchDevice::Cpu => {
            let data: Vec<u64> = (0..(opts.floor_bytes / 8).max(1) as u64).collect();
            let m = timing::bench(device, &options, &mut || -> Result<(), Error> {
                std::hint::black_box(stream_read(std::hint::black_box(&data)));
                Ok(())
            })?;
            Ok((
                "stream_read".into(),
                (data.len() * 8) as f64 / (m.median_ms * 1e6),
            ))
        }
    }
}

/// The benchmarked kernels.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
enum Kernel {
    Ternary,
    TernaryPlanes,
    Int4,
    Int4A8,
    Int4Planes,
    Int4A8Planes,
}

impl Kernel {
    fn name(self) -> &'static str {
        match self {
            Kernel::Ternary => "ternary_w2a8",
            Kernel::TernaryPlanes => "ternary_w2a8_planes",
            Kernel::Int4 => "int4_w4a16",
            Kernel::Int4A8 => "int4_w4a8",
            Kernel::Int4Planes => "int4_w4a16_planes",
            Kernel::Int4A8Planes => "int4_w4a8_planes",
        }
    }

    /// The kernels timed at `m` on `device` for `shape`.
    fn at(device: BenchDevice, m: usize, shape: &ShapeData) -> Vec<Kernel> {
        let planes = device == BenchDevice::Cpu && m <= GEMV_MAX_ROWS as usize;
        let mut kernels = vec![Kernel::Ternary];
        kernels.extend(planes.then_some(Kernel::TernaryPlanes));
        kernels.extend([Kernel::Int4, Kernel::Int4A8]);
        if planes && shape.int4_planes.is_some() {
            kernels.extend([Kernel::Int4Planes, Kernel::Int4A8Planes]);
        }
        kernels
    }
}

/// The weights of one shape, on the host (for the checks and the CPU peer) and on the device.
struct ShapeData {
    n: usize,
    k: usize,
    group: usize,
    ternary_host: Vec<u8>,
    ternary: Buffer<u8>,
    /// The ternary weights in the CPU planes layout.
    ternary_planes: Buffer<u8>,
    int4_host: Int4Weights,
    int4_packed: Buffer<u64>,
    int4_scales: Buffer<f32>,
    /// The int4 weights in the CPU planes layout (codes, scales, columns per scale), when the
    /// layout holds their group.
    int4_planes: Option<(Buffer<u8>, Buffer<f32>, i32)>,
    /// The weights unpacked, for the CPU peer and the float checks' bounds.
    unpacked: Unpacked,
}

impl ShapeData {
    fn new(device: &Device, n: usize, k: usize, rng: &mut XorShift) -> Result<Self, BenchError> {
        // Every byte of 4 valid ternary codes (0, 1, 2): 3^4 = 81 of them.
        let valid: Vec<u8> = (0..81u32)
            .map(|i| {
                (0..4)
                    .map(|j| ((i / 3u32.pow(j)) % 3) << (2 * j))
                    .sum::<u32>() as u8
            })
            .collect();
        let ternary_host: Vec<u8> = (0..n * k / 4)
            .map(|_| valid[(rng.next() % 81) as usize])
            .collect();
        let group = if k % INT4_GROUP == 0 { INT4_GROUP } else { k };
        let packed: Vec<u64> = (0..n * k / 16).map(|_| rng.next()).collect();
        let scales: Vec<f32> = (0..n * (k / group))
            .map(|i| 0.001 * (1 + i % 7) as f32)
            .collect();
        let int4_host = Int4Weights {
            out_features: n,
            in_features: k,
            group: if group == k {
                Int4Group::PerRow
            } else {
                Int4Group::Size(group)
            },
            packed,
            scales,
        };
        let int4_planes = match pack_int4_planes(&int4_host) {
            Ok(Int4Planes {
                codes,
                scales,
                scale_cols,
                ..
            }) => Some((
                device.upload(&codes)?,
                device.upload(&scales)?,
                scale_cols as i32,
            )),
            Err(_) => None,
        };
        Ok(ShapeData {
            n,
            k,
            group,
            int4_planes,
            ternary: device.upload(&ternary_host)?,
            ternary_planes: device.upload(&pack_ternary_planes(&ternary_host, n, k)?)?,
            int4_packed: device.upload(&int4_host.packed)?,
            int4_scales: device.upload(&int4_host.scales)?,
            unpacked: Unpacked::new(&ternary_host, &int4_host)?,
            ternary_host,
            int4_host,
        })
    }

    fn bytes(&self, kernel: Kernel, m: usize) -> u64 {
        let (n, k) = (self.n as u64, self.k as u64);
        let m = m as u64;
        match kernel {
            Kernel::Ternary => n * k / 4 + m * k,
            Kernel::TernaryPlanes => self.ternary_planes.len() as u64 + m * k,
            Kernel::Int4 => n * k / 2 + n * (k / self.group as u64) * 4 + m * k * 2,
            Kernel::Int4A8 => n * k / 2 + n * (k / self.group as u64) * 4 + m * k + m * 4,
            Kernel::Int4Planes | Kernel::Int4A8Planes => {
                let (codes, scales, _) = self.int4_planes.as_ref().expect("listed with planes");
                let x = if kernel == Kernel::Int4Planes {
                    m * k * 2
                } else {
                    m * k + m * 4
                };
                codes.len() as u64 + scales.len() as u64 * 4 + x
            }
        }
    }
}

/// The activations of one case, on the host.
enum Activations {
    Ternary(Vec<i8>),
    Int4(Vec<f16>),
    Int4A8(QuantizedActivations),
}

impl Activations {
    fn random(kernel: Kernel, m: usize, k: usize, rng: &mut XorShift) -> Activations {
        let len = m * k;
        match kernel {
            Kernel::Int4A8 | Kernel::Int4A8Planes => Activations::Int4A8(QuantizedActivations {
                rows: m,
                cols: k,
                values: (0..len)
                    .map(|_| ((rng.next() % 255) as i32 - 127) as i8)
                    .collect(),
                scales: (0..m).map(|i| 0.01 * (1 + i % 5) as f32).collect(),
            }),
            Kernel::Ternary | Kernel::TernaryPlanes => {
                Activations::Ternary((0..len).map(|_| (rng.next() % 255) as i8).collect())
            }
            Kernel::Int4 | Kernel::Int4Planes => Activations::Int4(
                (0..len)
                    .map(|_| f16::from_f32((rng.next() % 2001) as f32 / 1000.0 - 1.0))
                    .collect(),
            ),
        }
    }
}

/// A kernel's output, read back from the device.
enum Output {
    Ternary(Vec<i32>),
    Int4(Vec<f32>),
}

/// Times the tuned bitmat kernel at `m` on `shape` on activations `x`: the configuration
/// comes from the autotuner (tuned now, or from memory, the disk cache or an import), then
/// its launches are timed; returns the timing, the tuner's outcome and the last output.
fn time_kernel(
    device: &Device,
    opts: &BenchOptions,
    shape: &ShapeData,
    m: usize,
    kernel: Kernel,
    x: &Activations,
) -> Result<(Measurement, TuneOutcome, Output), Error> {
    let (n, k) = (shape.n as i32, shape.k as i32);
    let mi = m as i32;
    match x {
        Activations::Ternary(x) if kernel == Kernel::TernaryPlanes => {
            let x = device.upload(x)?;
            let c = device.zeros::<i32>(m * shape.n)?;
            let op = TernaryPlanesGemv(TernaryMatmul {
                x: &x,
                w: &shape.ternary_planes,
                c: &c,
                m: mi,
                n,
                k,
            });
            let outcome = op.best(device)?;
            let t = measure(device, opts, &mut || op.launch(device))?;
            Ok((t, outcome, Output::Ternary(c.to_vec()?)))
        }
        Activations::Ternary(x) => {
            let x = device.upload(x)?;
            let c = device.zeros::<i32>(m * shape.n)?;
            let op = TernaryMatmul {
                x: &x,
                w: &shape.ternary,
                c: &c,
                m: mi,
                n,
                k,
            };
            let outcome = op.best(device)?;
            let t = measure(device, opts, &mut || op.launch(device))?;
            Ok((t, outcome, Output::Ternary(c.to_vec()?)))
        }
        Activations::Int4(_) | Activations::Int4A8(_)
            if matches!(kernel, Kernel::Int4Planes | Kernel::Int4A8Planes) =>
        {
            let (codes, planes_scales, scale_cols) =
                shape.int4_planes.as_ref().expect("listed with planes");
            let y = device.zeros::<f32>(m * shape.n)?;
            let (xh, values, sx);
            let activations = match x {
                Activations::Int4(x) => {
                    xh = device.upload(x)?;
                    Int4Activations::F16(&xh)
                }
                Activations::Int4A8(x) => {
                    (values, sx) = (device.upload(&x.values)?, device.upload(&x.scales)?);
                    Int4Activations::I8 {
                        values: &values,
                        scales: &sx,
                    }
                }
                Activations::Ternary(_) => unreachable!("int4 kernels have int4 activations"),
            };
            let op = Int4PlanesGemv {
                x: activations,
                w: codes,
                scales: planes_scales,
                y: &y,
                m: mi,
                n,
                k,
                scale_cols: *scale_cols,
            };
            let outcome = op.best(device)?;
            let t = measure(device, opts, &mut || op.launch(device))?;
            Ok((t, outcome, Output::Int4(y.to_vec()?)))
        }
        Activations::Int4(x) => {
            let x = device.upload(x)?;
            let y = device.zeros::<f32>(m * shape.n)?;
            let op = Int4Matmul {
                x: Int4Activations::F16(&x),
                w: &shape.int4_packed,
                scales: &shape.int4_scales,
                y: &y,
                m: mi,
                n,
                k,
                group: shape.group as i32,
            };
            let outcome = op.best(device)?;
            let t = measure(device, opts, &mut || op.launch(device))?;
            Ok((t, outcome, Output::Int4(y.to_vec()?)))
        }
        Activations::Int4A8(x) => {
            let (values, scales) = (device.upload(&x.values)?, device.upload(&x.scales)?);
            let y = device.zeros::<f32>(m * shape.n)?;
            let op = Int4Matmul {
                x: Int4Activations::I8 {
                    values: &values,
                    scales: &scales,
                },
                w: &shape.int4_packed,
                scales: &shape.int4_scales,
                y: &y,
                m: mi,
                n,
                k,
                group: shape.group as i32,
            };
            let outcome = op.best(device)?;
            let t = measure(device, opts, &mut || op.launch(device))?;
            Ok((t, outcome, Output::Int4(y.to_vec()?)))
        }
    }
}

/// One result of bitmat's to check: `kernel`'s `output` at `m` on `shape`, activations `x`.
#[derive(Copy, Clone)]
struct Case<'a> {
    kernel: Kernel,
    shape: &'a ShapeData,
    m: usize,
    x: &'a Activations,
    output: &'a Output,
}

impl<'a> Case<'a> {
    /// Compares this case's results with those of `name` (the reference or a peer).
    fn against(&self, name: &'a str) -> Against<'a> {
        Against {
            kernel: self.kernel.name(),
            mnk: (self.m, self.shape.n, self.shape.k),
            name,
        }
    }
}

/// Checks bitmat's output in `case` against the reference on sampled rows.
fn check_reference(case: Case) -> Result<(), BenchError> {
    let Case {
        shape,
        m,
        x,
        output,
        ..
    } = case;
    let (n, k) = (shape.n, shape.k);
    let rows = sample_rows(m);
    let against = case.against("the reference");
    match (x, output) {
        (Activations::Ternary(x), Output::Ternary(c)) => {
            let want = reference::matmul_i8_ternary(
                &gather_rows(x, k, &rows),
                rows.len(),
                k,
                &shape.ternary_host,
                n,
            )?;
            against.exact(&rows, &gather_rows(c, n, &rows), &want)?;
        }
        (Activations::Int4(x), Output::Int4(y)) => {
            let want =
                reference::int4_w4a16(&gather_rows(x, k, &rows), rows.len(), &shape.int4_host)?;
            against.int4(&rows, x, &shape.unpacked, &gather_rows(y, n, &rows), &want)?;
        }
        (Activations::Int4A8(x), Output::Int4(y)) => {
            let sampled = QuantizedActivations {
                rows: rows.len(),
                cols: k,
                values: gather_rows(&x.values, k, &rows),
                scales: rows.iter().map(|&r| x.scales[r]).collect(),
            };
            let want = reference::int4_w4a8(&sampled, &shape.int4_host)?;
            against.relative(&rows, &gather_rows(y, n, &rows), &want, 1e-4)?;
        }
        _ => unreachable!("activations and output of one kernel"),
    }
    Ok(())
}

/// Times the CPU peer on `case`'s activations and checks bitmat's output against its result
/// on every row; returns the peer's median ms.
fn time_host_peer(device: &Device, opts: &BenchOptions, case: Case) -> Result<f64, BenchError> {
    let Case {
        shape,
        m,
        x,
        output,
        ..
    } = case;
    let peer = &shape.unpacked;
    let all: Vec<usize> = (0..m).collect();
    let against = case.against(host_peer::NAME);
    match (x, output) {
        (Activations::Ternary(x), Output::Ternary(c)) => {
            let mut last = Vec::new();
            let t = measure(device, opts, &mut || {
                last = std::hint::black_box(peer.ternary_matmul(x, m));
                Ok(())
            })?;
            against.exact(&all, c, &last)?;
            Ok(t.median_ms)
        }
        (Activations::Int4(x), Output::Int4(y)) => {
            let mut last = Vec::new();
            let t = measure(device, opts, &mut || {
                last = std::hint::black_box(peer.int4_matmul(x, m));
                Ok(())
            })?;
            against.int4(&all, x, peer, y, &last)?;
            Ok(t.median_ms)
        }
        _ => unreachable!("activations and output of one kernel"),
    }
}

/// `v` as fp16 bit patterns.
fn f16_bits(v: impl Iterator<Item = f32>) -> Vec<u16> {
    v.map(|x| f16::from_f32(x).to_bits()).collect()
}

/// Times cuBLAS's fp16 GEMM on the operands bitmat's kernel ran on in `case` (its
/// activations, the weights decoded: ternary codes to -1/0/1, int4 to its dequantized
/// values), checks bitmat's output against cuBLAS's on the sampled rows, and returns cuBLAS's
/// median ms.
fn time_cublas(device: &Device, opts: &BenchOptions, case: Case) -> Result<f64, BenchError> {
    let Case {
        shape,
        m,
        x,
        output,
        ..
    } = case;
    let (n, k) = (shape.n, shape.k);
    let peer = &shape.unpacked;
    let (xb, wb) = match x {
        Activations::Ternary(x) => (
            f16_bits(x.iter().map(|&v| f32::from(v))),
            f16_bits(peer.ternary.iter().map(|&v| f32::from(v))),
        ),
        Activations::Int4(x) => (
            x.iter().map(|v| v.to_bits()).collect(),
            f16_bits(peer.int4.iter().copied()),
        ),
        Activations::Int4A8(_) => unreachable!("W4A8 has no peer"),
    };
    let mut gemm = CublasGemmF16::with_operands(device, &xb, &wb, m, n, k)?;
    let t = measure(device, opts, &mut || Ok(gemm.run()?))?;
    let rows = sample_rows(m);
    let want: Vec<f32> = gather_rows(&gemm.output()?, n, &rows)
        .into_iter()
        .map(|b| f16::from_bits(b).to_f32())
        .collect();
    let against = case.against("cublas_fp16");
    match (x, output) {
        // Integer products and sums below 2^24 are exact in cuBLAS's f32 accumulation.
        (Activations::Ternary(_), Output::Ternary(c)) => {
            let got: Vec<f64> = gather_rows(c, n, &rows)
                .into_iter()
                .map(f64::from)
                .collect();
            against.fp16_peer(&rows, &got, &want, &vec![0.0; got.len()])?;
        }
        (Activations::Int4(x), Output::Int4(y)) => {
            let got: Vec<f64> = gather_rows(y, n, &rows)
                .into_iter()
                .map(f64::from)
                .collect();
            let sums: Vec<f64> = rows
                .iter()
                .flat_map(|&r| peer.int4_abs_dot(&x[r * k..(r + 1) * k]))
                .collect();
            against.fp16_peer(&rows, &got, &want, &sums)?;
        }
        _ => unreachable!("activations and output of one kernel"),
    }
    Ok(t.median_ms)
}

fn check_options(opts: &BenchOptions) -> Result<(), BenchError> {
    let bad = |m: String| Err(BenchError::Options(m));
    if opts.ms.is_empty() || opts.shapes.is_empty() {
        return bad("give at least one M and one shape".into());
    }
    if let Some(m) = opts.ms.iter().find(|&&m| m == 0 || m > i32::MAX as usize) {
        return bad(format!("M = {m} must be in 1..=i32::MAX"));
    }
    for &(n, k) in &opts.shapes {
        if k % 16 != 0 {
            return bad(format!(
                "K = {k} (shape {n}x{k}) must be a multiple of 16 (int4 packing)"
            ));
        }
        if n.checked_mul(k).is_none_or(|nk| nk > i32::MAX as usize) {
            return bad(format!("shape {n}x{k} has over i32::MAX weights"));
        }
    }
    if opts.repeat == 0 {
        return bad("--repeat must be at least 1".into());
    }
    Ok(())
}

/// Runs the benchmark; `progress` sees each row as it completes (and notes as they arise).
///
/// Errors: [`BenchError::Options`] for options that cannot run; [`BenchError::Bitmat`] when the
/// device cannot be opened (no CUDA driver: [`RuntimeError::NoCudaDriver`]) or a launch fails.
pub fn run(opts: &BenchOptions, mut progress: impl FnMut(&str)) -> Result<BenchReport, BenchError> {
    check_options(opts)?;
    let before = bitmat::stats();
    let device = match opts.device {
        BenchDevice::Cpu => Device::cpu(),
        BenchDevice::Cuda => Device::cuda(0)?,
    };
    progress(&format!(
        "bitmat bench on {device}: timing by {}",
        device.timing_method().name()
    ));
    if opts.device == BenchDevice::Cuda {
        progress(&format!(
            "cuBLAS: {}",
            bitmat_runtime::peer::cublas_source()?
        ));
    }
    let cache_flush = if opts.flush_cache {
        bitmat_runtime::CacheFlush::describe(&device)?
    } else {
        "no cache flush (--no-flush): operands that fit the cache are timed from it".into()
    };
    progress(&cache_flush);
    let (floor_name, floor_gbps) = floor(&device, opts)?;
    progress(&format!(
        "floor: {floor_name} of {} MiB: {floor_gbps:.1} GB/s",
        opts.floor_bytes >> 20
    ));
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut rows = Vec::new();
    for &(n, k) in &opts.shapes {
        let shape = ShapeData::new(&device, n, k, &mut rng)?;
        // Last measured (M, ms) per kernel on this shape, to skip hopeless larger M.
        let mut last: HashMap<Kernel, (usize, f64)> = HashMap::new();
        for &m in &opts.ms {
            for kernel in Kernel::at(opts.device, m, &shape) {
                let bytes = shape.bytes(kernel, m);
                let predicted = last.get(&kernel).map(|&(m0, t0)| t0 * m as f64 / m0 as f64);
                let mut notes = Vec::new();
                let x = Activations::random(kernel, m, k, &mut rng);
                let measured = match predicted {
                    Some(p) if p > 4.0 * opts.max_launch_ms => {
                        notes.push(format!(
                            "skipped: predicted {:.1} s per launch from M = {}",
                            p / 1e3,
                            last[&kernel].0
                        ));
                        None
                    }
                    _ => {
                        let (t, outcome, output) =
                            time_kernel(&device, opts, &shape, m, kernel, &x)?;
                        check_reference(Case {
                            kernel,
                            shape: &shape,
                            m,
                            x: &x,
                            output: &output,
                        })?;
                        Some((t, outcome, output))
                    }
                };
                if let Some((t, _, _)) = &measured {
                    last.insert(kernel, (m, t.median_ms));
                    notes.extend(single_sample_note(t, opts));
                }
                let case = |output| Case {
                    kernel,
                    shape: &shape,
                    m,
                    x: &x,
                    output,
                };
                let (peer_name, peer_ms, peer_bytes) = match (opts.device, &measured) {
                    (_, _) if matches!(kernel, Kernel::Int4A8 | Kernel::Int4A8Planes) => {
                        notes.push("no peer for W4A8".into());
                        ("none", None, bytes)
                    }
                    (BenchDevice::Cuda, measured) => (
                        "cublas_fp16",
                        match measured {
                            Some((_, _, output)) => Some(time_cublas(&device, opts, case(output))?),
                            None => None,
                        },
                        2 * (n as u64 * k as u64 + m as u64 * k as u64),
                    ),
                    (BenchDevice::Cpu, Some((_, _, output))) if m == 1 => (
                        host_peer::NAME,
                        Some(time_host_peer(&device, opts, case(output))?),
                        bytes,
                    ),
                    (BenchDevice::Cpu, _) => {
                        if m != 1 {
                            notes.push(format!("{} only run for M = 1", host_peer::NAME));
                        }
                        (host_peer::NAME, None, bytes)
                    }
                };
                let (measured, outcome): (Option<Measurement>, Option<TuneOutcome>) =
                    measured.map(|(t, o, _)| (t, o)).unzip();
                let bitmat_ms = measured.as_ref().map(|m| m.median_ms);
                let gbps = |b: u64, ms: Option<f64>| ms.map(|t| b as f64 / (t * 1e6));
                let row = BenchRow {
                    kernel: kernel.name().into(),
                    m,
                    n,
                    k,
                    bitmat_us: bitmat_ms.map(|t| t * 1e3),
                    samples: measured.as_ref().map_or(0, |m| m.reps),
                    peer: peer_name.into(),
                    peer_us: peer_ms.map(|t| t * 1e3),
                    speedup: bitmat_ms.zip(peer_ms).map(|(b, p)| p / b),
                    bytes,
                    gbps: gbps(bytes, bitmat_ms),
                    pct_of_floor: gbps(bytes, bitmat_ms).map(|g| 100.0 * g / floor_gbps),
                    peer_bytes,
                    peer_gbps: gbps(peer_bytes, peer_ms),
                    config: outcome.as_ref().map(|o| o.table[o.winner].0.clone()),
                    config_source: outcome.as_ref().map(|o| o.source.to_string()),
                    note: (!notes.is_empty()).then(|| notes.join("; ")),
                };
                progress(&format_row(&row));
                rows.push(row);
            }
        }
    }
    Ok(BenchReport {
        device: device.to_string(),
        timing: device.timing_method().name().into(),
        cache_flush,
        floor: floor_name,
        floor_gbps,
        floor_bytes: opts.floor_bytes,
        repeat: opts.repeat,
        rows,
        runtime: bitmat::stats().since(&before),
    })
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.prec$}"))
}

/// One row of the table (also the progress line).
fn format_row(r: &BenchRow) -> String {
    format!(
        "{:<13} {:>11} {:>5} {:>12} {:<13} {:>12} {:>8} {:>9} {:>7}  {} [{}]  {}",
        r.kernel,
        format!("{}x{}", r.n, r.k),
        r.m,
        opt(r.bitmat_us, 1),
        r.peer,
        opt(r.peer_us, 1),
        opt(r.speedup, 2),
        opt(r.gbps, 1),
        opt(r.pct_of_floor, 1),
        r.config.as_deref().unwrap_or("-"),
        r.config_source.as_deref().unwrap_or("-"),
        r.note.as_deref().unwrap_or("")
    )
}

/// The report as a text table: a header with the device, timing and floor, then a row per
/// kernel, shape and `M`.
pub fn table(report: &BenchReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "device: {}  timing: {} (median of up to {} launches after a warm-up)",
        report.device, report.timing, report.repeat
    );
    let _ = writeln!(
        s,
        "{}; outputs checked against the reference",
        report.cache_flush
    );
    let _ = writeln!(
        s,
        "floor: {} of {} MiB = {:.1} GB/s; GB/s = (weights + activations) bytes / bitmat time; \
         speed-up = peer / bitmat",
        report.floor,
        report.floor_bytes >> 20,
        report.floor_gbps
    );
    let _ = writeln!(
        s,
        "{:<13} {:>11} {:>5} {:>12} {:<13} {:>12} {:>8} {:>9} {:>7}  config [source]  note",
        "kernel", "NxK", "M", "bitmat µs", "peer", "peer µs", "speed-up", "GB/s", "% floor"
    );
    for r in &report.rows {
        let _ = writeln!(s, "{}", format_row(r));
    }
    let w = &report.runtime;
    let _ = writeln!(
        s,
        "runtime: {} kernels compiled, {} loaded from the disk cache; {} keys tuned, {} tuning \
         results loaded",
        w.compilations, w.disk_loads, w.tunings, w.tuning_loads
    );
    s
}

/// Writes `report` (a [`BenchReport`] or a [`parity::ParityReport`]) as pretty JSON to `path`.
pub fn write_json(report: &impl Serialize, path: &Path) -> Result<(), BenchError> {
    let text = serde_json::to_string_pretty(report)?;
    std::fs::write(path, text + "\n").map_err(|source| BenchError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_parse() {
        assert_eq!(parse_shape("4096x11008"), Ok((4096, 11008)));
        assert!(parse_shape("4096").is_err());
        assert!(parse_shape("0x16").is_err());
    }
}

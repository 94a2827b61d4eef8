//! `bitmat bench --suite parity`: Triton's tutorial kernels and BitMat's ternary kernel,
//! written in the DSL ([`kernels`]), each timed beside the same kernel in Triton and beside
//! torch (cuBLAS) in the same call on the same GPU ([`twins`]).
//!
//! | kernel | full size (CUDA) | Triton twin | torch peer |
//! | --- | --- | --- | --- |
//! | `vector_add` (tutorial 01) | 2^26 `f32` | the tutorial's `add_kernel` | `torch.add` |
//! | `softmax` (02) | 32768x1024 `f32` | `softmax_kernel` | `torch.softmax` |
//! | `cumsum` (a row scan) | 32768x1024 `f32` | `tl.cumsum` of a row | `torch.cumsum` |
//! | `layer_norm` (05, forward) | 4096x8192 `f16` | `_layer_norm_fwd_fused` | `torch.nn.functional.layer_norm` |
//! | `matmul_fp16` (03) | M = 16 and 4096, N = K = 4096 | `matmul_kernel`, autotuned | `torch.matmul` (cuBLAS) |
//! | `ternary_bitmat` (BitMat) | 4096^3 | `_ternary_mm_kernel`, autotuned | `torch._int_mm` (int8) |
//!
//! On the CPU ([`ParitySize::Small`], the default there) the DSL kernels run at small ragged
//! sizes and no twin runs (Triton needs CUDA).
//!
//! Method: every time is the median of [`bitmat_runtime::timing::bench`] (one warm-up, which
//! also compiles and autotunes, then up to `repeat` launches within the case budget), with the
//! last cache level flushed before each timed launch ([`bitmat_runtime::CacheFlush`]). After
//! its timed launches each bitmat output is checked against the plain-Rust reference
//! ([`reference`](mod@reference)); a difference (or a failed compile or launch) leaves the row without a time, with the error
//! in its place, and makes the command fail after the table and the JSON are written. The script
//! times its kernels the same way and checks the twins against torch.
//!
//! Bandwidth: a row's bytes are the minimum its kernel must move (each input read once, each
//! output written once); `GB/s` is bytes / median time, `% floor` compares it with the
//! device's copy (or streaming-read) floor measured in the same run, for the kernels that are
//! bandwidth-bound (all but the 4096^3 matmuls). Matmuls also report TFLOP/s (`2 M N K`).
//!
//! | module | job |
//! | --- | --- |
//! | [`kernels`] | the DSL ports and their configurations |
//! | [`measure`] | one case on a bitmat device: inputs, launch settings, timing, check |
//! | [`reference`](mod@reference) | the plain-Rust references and their rounding bounds |
//! | [`twins`] | running the Triton twins script and reading its report |
//! | this module | the cases, the run, the table and the JSON |

pub mod kernels;
pub mod measure;
pub mod reference;
pub mod twins;

pub use measure::{run_case, Measured};

use super::{floor, BenchDevice, BenchOptions};
use bitmat::{Device, Error, Stats};
use rand::rngs::StdRng;
use rand::SeedableRng;
use reference::ParityMismatch;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;
use twins::{Timed, TwinsCommand, TwinsReport};

/// Tutorial 05's limit on a row: 64 KiB of elements.
pub const LAYER_NORM_MAX_FUSED_BYTES: usize = 65536;

/// Tutorial 05's epsilon.
pub const LAYER_NORM_EPS: f32 = 1e-5;

/// What a ternary K must be a multiple of: the largest `block_size_k` of its configurations.
pub const TERNARY_K_MULTIPLE: usize = 64;

/// The sizes the suite runs at.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParitySize {
    /// The sizes (the default on CUDA).
    Full,
    /// Small ragged sizes, seconds on a CPU (the default there).
    Small,
}

impl ParitySize {
    /// `full` or `small`.
    pub fn name(self) -> &'static str {
        match self {
            ParitySize::Full => "full",
            ParitySize::Small => "small",
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct ParityOptions {
    /// Where.
    pub device: BenchDevice,
    /// Which sizes.
    pub size: ParitySize,
    /// Timed launches per case (at least 1).
    pub repeat: usize,
    /// A case stops sampling after this much sampled time (with at least 3 samples).
    pub case_budget_ms: f64,
    /// A case whose first timed launch takes longer keeps that one sample.
    pub max_launch_ms: f64,
    /// Bytes of the floor's buffer(s).
    pub floor_bytes: usize,
    /// Flush the last cache level before each timed launch (the default).
    pub flush_cache: bool,
    /// The Triton twins' interpreter and script (run on CUDA only).
    pub twins: TwinsCommand,
    /// Run only the cases of these kernels ([`Case::name`]); all of them when empty.
    pub only: Vec<String>,
}

/// An error of the parity suite.
#[derive(Debug, thiserror::Error)]
pub enum ParityError {
    /// Opening the device, uploading, compiling, tuning, launching.
    #[error(transparent)]
    Bitmat(#[from] Error),
    /// Options that cannot be run.
    #[error("bench --suite parity: {0}")]
    Options(String),
    /// A bitmat output differs from the reference.
    #[error(transparent)]
    Mismatch(#[from] Box<ParityMismatch>),
    /// The JSON report could not be written or serialized.
    #[error(transparent)]
    Report(#[from] super::BenchError),
}

impl From<bitmat::RuntimeError> for ParityError {
    fn from(e: bitmat::RuntimeError) -> Self {
        ParityError::Bitmat(e.into())
    }
}

/// One case of the suite: a kernel at one shape.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kernel", rename_all = "snake_case")]
pub enum Case {
    /// Tutorial 01 on `n` `f32`.
    VectorAdd {
        /// Elements.
        n: usize,
    },
    /// Tutorial 02 on `[rows, cols]` `f32`.
    Softmax {
        /// Rows.
        rows: usize,
        /// Columns (at most 2^16).
        cols: usize,
    },
    /// The scan of each row of `[rows, cols]` `f32`.
    Cumsum {
        /// Rows.
        rows: usize,
        /// Columns (at most 2^16).
        cols: usize,
    },
    /// Tutorial 05's forward pass on `[rows, cols]` `f16`.
    LayerNorm {
        /// Rows.
        rows: usize,
        /// Columns (at most 2^15).
        cols: usize,
    },
    /// Tutorial 03: `[m, k] x [k, n]` `f16`.
    Matmul {
        /// Rows of A.
        m: usize,
        /// Columns of B.
        n: usize,
        /// The reduction.
        k: usize,
    },
    /// BitMat's ternary kernel: `i8 [m, k]` x ternary `[k, n]` packed 4 per byte along K.
    Ternary {
        /// Rows of A.
        m: usize,
        /// Columns of W.
        n: usize,
        /// The reduction (a multiple of [`TERNARY_K_MULTIPLE`]).
        k: usize,
    },
}

impl Case {
    /// The cases at `size`.
    pub fn all(size: ParitySize) -> Vec<Case> {
        match size {
            ParitySize::Full => vec![
                Case::VectorAdd { n: 1 << 26 },
                Case::Softmax {
                    rows: 32768,
                    cols: 1024,
                },
                Case::Cumsum {
                    rows: 32768,
                    cols: 1024,
                },
                Case::LayerNorm {
                    rows: 4096,
                    cols: 8192,
                },
                Case::Matmul {
                    m: 16,
                    n: 4096,
                    k: 4096,
                },
                Case::Matmul {
                    m: 4096,
                    n: 4096,
                    k: 4096,
                },
                Case::Ternary {
                    m: 4096,
                    n: 4096,
                    k: 4096,
                },
            ],
            ParitySize::Small => vec![
                Case::VectorAdd { n: 100_003 },
                Case::Softmax {
                    rows: 123,
                    cols: 781,
                },
                Case::Cumsum {
                    rows: 123,
                    cols: 781,
                },
                Case::LayerNorm {
                    rows: 37,
                    cols: 1000,
                },
                Case::Matmul {
                    m: 16,
                    n: 200,
                    k: 96,
                },
                Case::Matmul {
                    m: 45,
                    n: 72,
                    k: 80,
                },
                Case::Ternary {
                    m: 45,
                    n: 72,
                    k: 256,
                },
            ],
        }
    }

    /// `Err` saying what is wrong with a case the kernels cannot run: a zero or over-`i32`
    /// dimension, a layer-norm row over tutorial 05's 64 KiB, a ternary K that is not a
    /// multiple of every configuration's `block_size_k` (BitMat's kernel does not mask the
    /// weights' K).
    pub fn validate(&self) -> Result<(), String> {
        let dims: Vec<usize> = self
            .dims()
            .as_object()
            .map(|o| {
                o.values()
                    .filter_map(|v| v.as_u64())
                    .map(|v| v as usize)
                    .collect()
            })
            .unwrap_or_default();
        if dims.iter().any(|&d| d == 0 || d > i32::MAX as usize) {
            return Err(format!(
                "{} {}: every dimension must be in 1..=i32::MAX",
                self.name(),
                self.shape()
            ));
        }
        match *self {
            Case::LayerNorm { cols, .. } if cols > LAYER_NORM_MAX_FUSED_BYTES / 2 => Err(format!(
                "layer_norm: rows of {cols} f16 exceed tutorial 05's 64 KiB (at most {} columns)",
                LAYER_NORM_MAX_FUSED_BYTES / 2
            )),
            Case::Ternary { k, .. } if k % TERNARY_K_MULTIPLE != 0 => Err(format!(
                "ternary_bitmat: K = {k} must be a multiple of {TERNARY_K_MULTIPLE} (every \
                 configuration's block_size_k: BitMat's kernel does not mask K)"
            )),
            _ => Ok(()),
        }
    }

    /// The kernel's name in the table and the script.
    pub fn name(&self) -> &'static str {
        match self {
            Case::VectorAdd { .. } => "vector_add",
            Case::Softmax { .. } => "softmax",
            Case::Cumsum { .. } => "cumsum",
            Case::LayerNorm { .. } => "layer_norm",
            Case::Matmul { .. } => "matmul_fp16",
            Case::Ternary { .. } => "ternary_bitmat",
        }
    }

    /// The dimensions, by name (as the script reads them).
    pub fn dims(&self) -> serde_json::Value {
        match *self {
            Case::VectorAdd { n } => serde_json::json!({ "n": n }),
            Case::Softmax { rows, cols }
            | Case::Cumsum { rows, cols }
            | Case::LayerNorm { rows, cols } => {
                serde_json::json!({ "rows": rows, "cols": cols })
            }
            Case::Matmul { m, n, k } | Case::Ternary { m, n, k } => {
                serde_json::json!({ "m": m, "n": n, "k": k })
            }
        }
    }

    /// The shape as the table prints it (`MxNxK` for matmuls).
    pub fn shape(&self) -> String {
        match *self {
            Case::VectorAdd { n } => format!("{n}"),
            Case::Softmax { rows, cols }
            | Case::Cumsum { rows, cols }
            | Case::LayerNorm { rows, cols } => {
                format!("{rows}x{cols}")
            }
            Case::Matmul { m, n, k } | Case::Ternary { m, n, k } => format!("{m}x{n}x{k}"),
        }
    }

    /// The least bytes the kernel moves: each input read once, each output written once.
    pub fn bytes(&self) -> u64 {
        let b = match *self {
            Case::VectorAdd { n } => 3 * 4 * n,
            Case::Softmax { rows, cols } | Case::Cumsum { rows, cols } => 2 * 4 * rows * cols,
            // x read, y written, w and b read; mean and rstd written.
            Case::LayerNorm { rows, cols } => 2 * 2 * rows * cols + 2 * 2 * cols + 2 * 4 * rows,
            Case::Matmul { m, n, k } => 2 * (m * k + k * n + m * n),
            Case::Ternary { m, n, k } => m * k + k * n / 4 + 2 * m * n,
        };
        b as u64
    }

    /// Multiply-adds times two, for matmuls.
    pub fn flops(&self) -> Option<u64> {
        match *self {
            Case::Matmul { m, n, k } | Case::Ternary { m, n, k } => {
                Some(2 * m as u64 * n as u64 * k as u64)
            }
            _ => None,
        }
    }

    /// Whether memory bandwidth bounds the kernel (all but the large matmuls).
    pub fn bandwidth_bound(&self) -> bool {
        match *self {
            Case::Matmul { m, .. } | Case::Ternary { m, .. } => m <= 64,
            _ => true,
        }
    }
}

/// One case: bitmat's time beside the Triton twin's and the torch peer's.
#[derive(Clone, Debug, Serialize)]
pub struct ParityRow {
    /// The kernel.
    pub kernel: String,
    /// Its shape.
    pub shape: String,
    /// Median µs of bitmat's launch (`None` when the case failed).
    pub bitmat_us: Option<f64>,
    /// Samples behind `bitmat_us`.
    pub samples: usize,
    /// bitmat's configuration (tuned, or the tutorial's launch settings).
    pub config: Option<String>,
    /// Why the case has no time: its output differs from the reference, or it could not be
    /// compiled, tuned or launched. The run goes on (the twins are still timed) and the
    /// command fails at the end.
    pub error: Option<String>,
    /// The Triton twin (absent when the twins did not run).
    pub triton: Option<Timed>,
    /// The torch peer (absent when the twins did not run).
    pub torch: Option<Timed>,
    /// `triton µs / bitmat µs`: above 1 when bitmat is faster.
    pub vs_triton: Option<f64>,
    /// `torch µs / bitmat µs`.
    pub vs_torch: Option<f64>,
    /// The least bytes the kernel moves ([`Case::bytes`]).
    pub bytes: u64,
    /// `bytes / bitmat time`, GB/s.
    pub gbps: Option<f64>,
    /// `gbps` as a percentage of the floor, for bandwidth-bound kernels.
    pub pct_of_floor: Option<f64>,
    /// `2 M N K / bitmat time`, TFLOP/s, for matmuls.
    pub tflops: Option<f64>,
    /// The Triton twin's GB/s (the same bytes over its time).
    pub triton_gbps: Option<f64>,
    /// The torch peer's GB/s.
    pub torch_gbps: Option<f64>,
    /// The Triton twin's TFLOP/s, for matmuls.
    pub triton_tflops: Option<f64>,
    /// The torch peer's TFLOP/s, for matmuls.
    pub torch_tflops: Option<f64>,
}

/// The whole run.
#[derive(Clone, Debug, Serialize)]
pub struct ParityReport {
    /// Always `parity`.
    pub suite: &'static str,
    /// The device, as it names itself.
    pub device: String,
    /// How bitmat's times were measured.
    pub timing: String,
    /// What was written before each timed launch.
    pub cache_flush: String,
    /// The sizes.
    pub size: ParitySize,
    /// Requested timed launches per case.
    pub repeat: usize,
    /// The floor: `device_to_device_copy` or `stream_read`.
    pub floor: String,
    /// Its bandwidth, GB/s.
    pub floor_gbps: f64,
    /// One row per case.
    pub rows: Vec<ParityRow>,
    /// What the twins script reported (`None` when it did not run).
    pub twins: Option<TwinsReport>,
    /// Why the twins did not run, or what went wrong with them.
    pub twins_note: Option<String>,
    /// The runtime's compilations, disk loads and tunings during the run.
    pub runtime: Stats,
}

fn check_options(opts: &ParityOptions) -> Result<(), ParityError> {
    if opts.repeat == 0 {
        return Err(ParityError::Options("--repeat must be at least 1".into()));
    }
    let names = Case::all(ParitySize::Small)
        .iter()
        .map(Case::name)
        .collect::<Vec<_>>();
    if let Some(unknown) = opts.only.iter().find(|o| !names.contains(&o.as_str())) {
        return Err(ParityError::Options(format!(
            "--case {unknown}: no such case; the cases are {}",
            names.join(", ")
        )));
    }
    Ok(())
}

/// `numerator / denominator` when both are there.
fn ratio(numerator: Option<f64>, denominator: Option<f64>) -> Option<f64> {
    numerator.zip(denominator).map(|(n, d)| n / d)
}

/// TFLOP/s of `flops` in `us` microseconds.
fn tflops(flops: Option<u64>, us: Option<f64>) -> Option<f64> {
    flops.zip(us).map(|(f, us)| f as f64 / (us * 1e6))
}

/// Runs the suite; `progress` sees each row as it completes (the twins script's stderr goes
/// to this process's stderr as it runs).
///
/// Errors: [`ParityError::Options`] for options that cannot run, [`ParityError::Bitmat`]
/// when the device cannot be opened or a launch fails, [`ParityError::Mismatch`] when a
/// bitmat output is wrong. The twins' failures are not errors: the report says what they
/// were, and the rows keep bitmat's column.
pub fn run(
    opts: &ParityOptions,
    mut progress: impl FnMut(&str),
) -> Result<ParityReport, ParityError> {
    check_options(opts)?;
    let before = bitmat::stats();
    let device = match opts.device {
        BenchDevice::Cpu => Device::cpu(),
        BenchDevice::Cuda => Device::cuda(0)?,
    };
    progress(&format!(
        "bitmat bench --suite parity on {device}: timing by {}",
        device.timing_method().name()
    ));
    let bench_opts = BenchOptions {
        device: opts.device,
        repeat: opts.repeat,
        case_budget_ms: opts.case_budget_ms,
        max_launch_ms: opts.max_launch_ms,
        floor_bytes: opts.floor_bytes,
        flush_cache: opts.flush_cache,
        ..BenchOptions::default()
    };
    let cache_flush = if opts.flush_cache {
        bitmat_runtime::CacheFlush::describe(&device)?
    } else {
        "no cache flush (--no-flush): operands that fit the cache are timed from it".into()
    };
    progress(&cache_flush);
    let (floor_name, floor_gbps) = floor(&device, &bench_opts)?;
    progress(&format!("floor: {floor_name}: {floor_gbps:.1} GB/s"));
    let timing = super::timing_options(&bench_opts, opts.flush_cache);
    let cases: Vec<Case> = Case::all(opts.size)
        .into_iter()
        .filter(|c| opts.only.is_empty() || opts.only.iter().any(|o| o == c.name()))
        .collect();
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let mut rows = Vec::with_capacity(cases.len());
    for &case in &cases {
        let (measured, error) = match run_case(&device, &timing, case, &mut rng) {
            Ok(m) => (Some(m), None),
            Err(e @ ParityError::Options(_)) => return Err(e),
            Err(e) => (None, Some(e.to_string())),
        };
        let us = measured.as_ref().map(|m| m.time.median_ms * 1e3);
        let gbps = us.map(|us| case.bytes() as f64 / (us * 1e3));
        let row = ParityRow {
            kernel: case.name().into(),
            shape: case.shape(),
            bitmat_us: us,
            samples: measured.as_ref().map_or(0, |m| m.time.reps),
            config: measured.map(|m| m.config),
            error,
            triton: None,
            torch: None,
            vs_triton: None,
            vs_torch: None,
            bytes: case.bytes(),
            gbps,
            pct_of_floor: gbps
                .filter(|_| case.bandwidth_bound())
                .map(|g| 100.0 * g / floor_gbps),
            tflops: tflops(case.flops(), us),
            triton_gbps: None,
            torch_gbps: None,
            triton_tflops: None,
            torch_tflops: None,
        };
        progress(&match (&row.error, us, gbps, &row.config) {
            (Some(e), ..) => format!("{} {}: FAILED: {e}", row.kernel, row.shape),
            (None, Some(us), Some(g), Some(c)) => {
                format!(
                    "{} {}: {us:.1} µs, {g:.1} GB/s ({c})",
                    row.kernel, row.shape
                )
            }
            _ => unreachable!("a row without an error has a time and a configuration"),
        });
        rows.push(row);
    }
    let (twins, twins_note) = match opts.device {
        BenchDevice::Cpu => (
            None,
            Some("the Triton twins and torch peers run on CUDA only (--device cuda)".into()),
        ),
        BenchDevice::Cuda => {
            progress(&format!(
                "twins: {} {}",
                opts.twins.python.display(),
                opts.twins.script.display()
            ));
            let timing = twins::Timing {
                repeat: opts.repeat,
                budget_ms: opts.case_budget_ms,
                single_above_ms: opts.max_launch_ms,
                flush: opts.flush_cache,
            };
            match twins::run(&opts.twins, &cases, &timing) {
                Ok(report) => {
                    let note = report.unavailable.clone();
                    merge_twins(&mut rows, &cases, &report);
                    (Some(report), note)
                }
                Err(why) => (None, Some(why)),
            }
        }
    };
    if let Some(note) = &twins_note {
        progress(&format!("twins not timed: {note}"));
    }
    Ok(ParityReport {
        suite: "parity",
        device: device.to_string(),
        timing: device.timing_method().name().into(),
        cache_flush,
        size: opts.size,
        repeat: opts.repeat,
        floor: floor_name,
        floor_gbps,
        rows,
        twins,
        twins_note,
        runtime: bitmat::stats().since(&before),
    })
}

/// Puts the script's results into the rows of their cases.
fn merge_twins(rows: &mut [ParityRow], cases: &[Case], report: &TwinsReport) {
    for result in &report.results {
        let (Some(row), Some(case)) = (rows.get_mut(result.id), cases.get(result.id)) else {
            continue;
        };
        row.vs_triton = ratio(result.triton.us, row.bitmat_us);
        row.vs_torch = ratio(result.peer.us, row.bitmat_us);
        let gbps = |us: Option<f64>| us.map(|us| case.bytes() as f64 / (us * 1e3));
        row.triton_gbps = gbps(result.triton.us);
        row.torch_gbps = gbps(result.peer.us);
        row.triton_tflops = tflops(case.flops(), result.triton.us);
        row.torch_tflops = tflops(case.flops(), result.peer.us);
        row.triton = Some(result.triton.clone());
        row.torch = Some(result.peer.clone());
    }
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.prec$}"))
}

/// A twin's time, `err` when it failed, `-` when it did not run.
fn twin_us(t: &Option<Timed>) -> String {
    match t {
        Some(Timed { us: Some(us), .. }) => format!("{us:.1}"),
        Some(Timed { error: Some(_), .. }) => "err".into(),
        _ => "-".into(),
    }
}

/// The report as a text table, with the twins' errors and configurations below it.
pub fn table(report: &ParityReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "parity suite on {} ({} sizes); timing: {} (median of up to {} launches after a \
         warm-up); {}; bitmat outputs checked against the plain-Rust reference",
        report.device,
        report.size.name(),
        report.timing,
        report.repeat,
        report.cache_flush
    );
    if let Some(t) = report.twins.as_ref().filter(|t| t.unavailable.is_none()) {
        let _ = writeln!(
            s,
            "twins: triton {} / torch {} on {}; {}",
            t.triton.as_deref().unwrap_or("?"),
            t.torch.as_deref().unwrap_or("?"),
            t.device.as_deref().unwrap_or("?"),
            t.cache_flush.as_deref().unwrap_or("?")
        );
    }
    if let Some(note) = &report.twins_note {
        let _ = writeln!(s, "twins not timed: {note}");
    }
    let _ = writeln!(
        s,
        "floor: {} = {:.1} GB/s; Triton/ and torch/ = their µs / bitmat µs (above 1: bitmat \
         faster); TF = TFLOP/s",
        report.floor, report.floor_gbps
    );
    let _ = writeln!(
        s,
        "{:<15} {:>15} {:>11} {:>11} {:>11} {:>7} {:>7} {:>9} {:>7} {:>8} {:>9} {:>9}",
        "kernel",
        "shape",
        "bitmat µs",
        "Triton µs",
        "torch µs",
        "Triton/",
        "torch/",
        "GB/s",
        "% floor",
        "TFLOP/s",
        "Triton TF",
        "torch TF"
    );
    for r in &report.rows {
        let _ = writeln!(
            s,
            "{:<15} {:>15} {:>11} {:>11} {:>11} {:>7} {:>7} {:>9} {:>7} {:>8} {:>9} {:>9}",
            r.kernel,
            r.shape,
            r.bitmat_us
                .map_or_else(|| "FAIL".into(), |us| format!("{us:.1}")),
            twin_us(&r.triton),
            twin_us(&r.torch),
            opt(r.vs_triton, 2),
            opt(r.vs_torch, 2),
            opt(r.gbps, 1),
            opt(r.pct_of_floor, 1),
            opt(r.tflops, 1),
            opt(r.triton_tflops, 1),
            opt(r.torch_tflops, 1)
        );
    }
    let _ = writeln!(s, "configurations:");
    for r in &report.rows {
        let bitmat = match (&r.error, &r.config) {
            (Some(e), _) => format!("FAILED: {e}"),
            (None, c) => c.clone().unwrap_or_default(),
        };
        let _ = writeln!(s, "  {} {}: bitmat {bitmat}", r.kernel, r.shape);
        for t in [&r.triton, &r.torch].into_iter().flatten() {
            let what = match (&t.error, &t.config) {
                (Some(e), _) => format!("error: {e}"),
                (None, Some(c)) => c.clone(),
                (None, None) => String::new(),
            };
            let _ = writeln!(s, "    {}: {what}", t.name);
        }
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

impl ParityReport {
    /// The rows whose bitmat kernel failed (a wrong output, a failed compile or launch).
    pub fn failures(&self) -> impl Iterator<Item = &ParityRow> {
        self.rows.iter().filter(|r| r.error.is_some())
    }
}

/// Writes `report` as pretty JSON to `path`.
pub fn write_json(report: &ParityReport, path: &Path) -> Result<(), ParityError> {
    Ok(super::write_json(report, path)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernels::{max_block_k, HOST_CONFIGS, TERNARY_CONFIGS};

    #[test]
    fn the_ternary_k_multiple_covers_every_configuration() {
        let k = TERNARY_K_MULTIPLE as i32;
        for configs in [&TERNARY_CONFIGS[..], &HOST_CONFIGS[..]] {
            assert_eq!(k % max_block_k(configs), 0);
        }
        assert!(Case::Ternary { m: 1, n: 1, k: 96 }.validate().is_err());
        assert!(Case::Ternary { m: 1, n: 1, k: 128 }.validate().is_ok());
        assert!(Case::VectorAdd { n: 0 }.validate().is_err());
        assert!(Case::LayerNorm {
            rows: 1,
            cols: 40000
        }
        .validate()
        .is_err());
        for size in [ParitySize::Full, ParitySize::Small] {
            for case in Case::all(size) {
                assert_eq!(case.validate(), Ok(()), "{case:?}");
            }
        }
    }

    fn row(bitmat_us: f64) -> ParityRow {
        ParityRow {
            kernel: "matmul_fp16".into(),
            shape: "2x2x2".into(),
            bitmat_us: Some(bitmat_us),
            samples: 3,
            config: Some("c".into()),
            error: None,
            triton: None,
            torch: None,
            vs_triton: None,
            vs_torch: None,
            bytes: 24,
            gbps: Some(1.0),
            pct_of_floor: None,
            tflops: None,
            triton_gbps: None,
            torch_gbps: None,
            triton_tflops: None,
            torch_tflops: None,
        }
    }

    #[test]
    fn a_failed_kernel_is_reported_without_a_time() {
        let mut failed = row(1.0);
        (failed.bitmat_us, failed.gbps, failed.config) = (None, None, None);
        failed.error = Some("matmul_fp16 2x2x2: c[0] is 1, the reference says 2".into());
        let report = ParityReport {
            suite: "parity",
            device: "d".into(),
            timing: "t".into(),
            cache_flush: "f".into(),
            size: ParitySize::Small,
            repeat: 1,
            floor: "copy".into(),
            floor_gbps: 1.0,
            rows: vec![row(2.0), failed],
            twins: None,
            twins_note: None,
            runtime: Stats::default(),
        };
        assert_eq!(report.failures().count(), 1);
        let text = table(&report);
        assert!(text.contains("FAIL "), "{text}");
        assert!(
            text.contains("bitmat FAILED: matmul_fp16 2x2x2: c[0] is 1"),
            "{text}"
        );
    }

    #[test]
    fn twins_land_in_their_rows_with_ratios_and_errors() {
        let cases = [Case::Matmul { m: 2, n: 2, k: 2 }, Case::VectorAdd { n: 4 }];
        let mut rows = vec![row(2.0), row(4.0)];
        let timed = |us: Option<f64>, error: Option<&str>| Timed {
            name: "t".into(),
            us,
            error: error.map(str::to_string),
            ..Timed::default()
        };
        let report = TwinsReport {
            results: vec![
                twins::TwinResult {
                    id: 1,
                    triton: timed(None, Some("AssertionError: differs")),
                    peer: timed(Some(2.0), None),
                },
                twins::TwinResult {
                    id: 0,
                    triton: timed(Some(3.0), None),
                    peer: timed(Some(1.0), None),
                },
            ],
            ..TwinsReport::default()
        };
        merge_twins(&mut rows, &cases, &report);
        assert_eq!(
            (rows[0].vs_triton, rows[0].vs_torch),
            (Some(1.5), Some(0.5))
        );
        // 2 * 2 * 2 * 2 flops in 3 µs.
        assert_eq!(rows[0].triton_tflops, Some(16.0 / 3e6));
        // 24 bytes in 3 µs.
        assert_eq!(rows[0].triton_gbps, Some(24.0 / 3e3));
        assert_eq!((rows[1].vs_triton, rows[1].vs_torch), (None, Some(0.5)));
        assert_eq!(twin_us(&rows[1].triton), "err");
        assert_eq!(twin_us(&rows[0].triton), "3.0");
        assert_eq!(twin_us(&None), "-");
    }
}

//! `bitmat tune`: autotune the prebuilt matmuls ahead of time, for shapes given on the command
//! line or for every linear layer of a safetensors checkpoint, so that later processes (and
//! other machines, through an exported file) launch tuned kernels without timing anything.
//!
//! Each task runs the tuned op ([`bitmat::tuned`]) once on random data of its shape: the tuner
//! times the configurations for the shape's bucket (or finds them stored) and stores the
//! winner in the disk cache. Tasks that land in one bucket are tuned once.

use bitmat::checkpoint::{Checkpoint, LayerFormat};
use bitmat::convert::is_default_linear;
use bitmat::formats::{
    int4_planes_row_bytes, int4_planes_scale_cols, ternary_planes_row_bytes, Int4Group,
};
use bitmat::tuned::{
    Int4Activations, Int4Matmul, Int4PlanesGemv, TernaryMatmul, TernaryPlanesGemv, GEMV_MAX_ROWS,
};
use bitmat::{f16, Buffer, Device, Error, TuneOutcome, TuneSource};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

/// A prebuilt matmul `bitmat tune` can tune.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TunedOp {
    /// Ternary W2A8 ([`TernaryMatmul`]: the matrix-vector kernel up to 4 rows, else tiled).
    Ternary,
    /// int4 W4A16 with `f16` activations.
    Int4W4A16,
    /// int4 W4A8 with int8 activations.
    Int4W4A8,
    /// Ternary W2A8 on the CPU's planes layout ([`TernaryPlanesGemv`], up to
    /// [`GEMV_MAX_ROWS`] rows).
    TernaryPlanes,
    /// int4 W4A16 on the CPU's int4 planes layout ([`Int4PlanesGemv`], up to
    /// [`GEMV_MAX_ROWS`] rows, groups of a multiple of 32).
    Int4W4A16Planes,
    /// int4 W4A8 on the CPU's int4 planes layout, as [`TunedOp::Int4W4A16Planes`].
    Int4W4A8Planes,
}

impl TunedOp {
    /// Every op.
    pub const ALL: [TunedOp; 6] = [
        TunedOp::Ternary,
        TunedOp::Int4W4A16,
        TunedOp::Int4W4A8,
        TunedOp::TernaryPlanes,
        TunedOp::Int4W4A16Planes,
        TunedOp::Int4W4A8Planes,
    ];

    /// What `bitmat bench` times on a device (`cpu`: whether it is a CPU): `bitmat tune`'s
    /// default, so that a bench after it tunes nothing.
    pub fn benched(cpu: bool) -> Vec<TunedOp> {
        let mut ops = vec![TunedOp::Ternary, TunedOp::Int4W4A16, TunedOp::Int4W4A8];
        if cpu {
            ops.extend([
                TunedOp::TernaryPlanes,
                TunedOp::Int4W4A16Planes,
                TunedOp::Int4W4A8Planes,
            ]);
        }
        ops
    }

    /// Whether the op runs at `m` rows with int4 groups of `group` (the planes kernels are
    /// matrix-vector ones; the int4 planes layout holds groups of a multiple of 32).
    pub fn runs_at(self, m: usize, group: usize) -> bool {
        let int4_planes = matches!(self, TunedOp::Int4W4A16Planes | TunedOp::Int4W4A8Planes);
        (!self.is_planes() || m <= GEMV_MAX_ROWS as usize)
            && (!int4_planes || int4_planes_scale_cols(group).is_some())
    }

    /// Whether the op runs on a CPU planes layout.
    fn is_planes(self) -> bool {
        matches!(
            self,
            TunedOp::TernaryPlanes | TunedOp::Int4W4A16Planes | TunedOp::Int4W4A8Planes
        )
    }

    /// Whether the op reads ternary weights (no int4 group).
    fn is_ternary(self) -> bool {
        matches!(self, TunedOp::Ternary | TunedOp::TernaryPlanes)
    }

    /// Its name on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            TunedOp::Ternary => "ternary",
            TunedOp::Int4W4A16 => "int4_w4a16",
            TunedOp::Int4W4A8 => "int4_w4a8",
            TunedOp::TernaryPlanes => "ternary_planes",
            TunedOp::Int4W4A16Planes => "int4_w4a16_planes",
            TunedOp::Int4W4A8Planes => "int4_w4a8_planes",
        }
    }

    /// The op named `name`, or an error listing them.
    pub fn parse(name: &str) -> Result<TunedOp, String> {
        TunedOp::ALL
            .into_iter()
            .find(|op| op.name() == name)
            .ok_or_else(|| {
                let names: Vec<_> = TunedOp::ALL.iter().map(|o| o.name()).collect();
                format!("unknown op `{name}`; expected one of {}", names.join(", "))
            })
    }
}

/// One shape to tune one op for.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TuneTask {
    /// The op.
    pub op: TunedOp,
    /// Rows of activations.
    pub m: usize,
    /// Output features.
    pub n: usize,
    /// Input features.
    pub k: usize,
    /// The int4 group size along K (`k` for one group per row); unused for ternary.
    pub group: usize,
}

/// The int4 group used for shapes given without one: 128 when it divides K, else per row.
pub fn default_group(k: usize) -> usize {
    if k % 128 == 0 {
        128
    } else {
        k
    }
}

/// Tasks for every op in `ops`, row count in `ms` and `(N, K)` in `shapes`.
pub fn tasks_for_shapes(ops: &[TunedOp], ms: &[usize], shapes: &[(usize, usize)]) -> Vec<TuneTask> {
    let mut tasks = BTreeSet::new();
    for &(n, k) in shapes {
        for &m in ms {
            let group = default_group(k);
            for &op in ops.iter().filter(|op| op.runs_at(m, group)) {
                tasks.insert(TuneTask { op, m, n, k, group });
            }
        }
    }
    tasks.into_iter().collect()
}

/// Tasks for the linear layers of the checkpoint at `path`: a bitmat checkpoint's quantized
/// layers in their own format (int4 with its group: W4A16 and W4A8), and the `q/k/v/o` and
/// `gate/up/down` projections of an unquantized one (`{layer}.weight`, `[N, K]`) for every op
/// in `ops`; each for every row count in `ms`. Returns the tasks and the number of layers.
pub fn tasks_for_checkpoint(
    path: &Path,
    ops: &[TunedOp],
    ms: &[usize],
) -> Result<(Vec<TuneTask>, usize), Error> {
    let ck = Checkpoint::load(path)?;
    let mut shapes: BTreeSet<(TunedOp, usize, usize, usize)> = BTreeSet::new();
    let quantized = ck.quantized_layers();
    let mut layers = quantized.len();
    for (layer, format) in &quantized {
        match format {
            LayerFormat::Ternary => {
                let w = ck.ternary(layer)?;
                shapes.insert((TunedOp::Ternary, w.out_features, w.in_features, 0));
            }
            LayerFormat::Int4 => {
                let w = ck.int4(layer)?;
                let group = match w.group {
                    Int4Group::Size(g) => g,
                    Int4Group::PerRow => w.in_features,
                };
                for op in [TunedOp::Int4W4A16, TunedOp::Int4W4A8] {
                    shapes.insert((op, w.out_features, w.in_features, group));
                }
            }
        }
    }
    if quantized.is_empty() {
        for (name, tensor) in ck.tensors() {
            let Some(layer) = name.strip_suffix(".weight") else {
                continue;
            };
            if let ([n, k], true) = (tensor.shape(), is_default_linear(layer)) {
                layers += 1;
                for &op in ops {
                    let group = if op.is_ternary() {
                        0
                    } else {
                        default_group(*k)
                    };
                    shapes.insert((op, *n, *k, group));
                }
            }
        }
    }
    if layers == 0 {
        return Err(Error::Shape {
            op: "tune",
            message: format!(
                "{} has no linear layers: neither bitmat-quantized layers nor 2-D `*.{{q,k,v,o,gate,up,down}}_proj.weight` tensors",
                path.display()
            ),
        });
    }
    let mut tasks = BTreeSet::new();
    for (op, n, k, group) in shapes {
        for &m in ms.iter().filter(|&&m| op.runs_at(m, group)) {
            tasks.insert(TuneTask { op, m, n, k, group });
        }
    }
    Ok((tasks.into_iter().collect(), layers))
}

/// What tuning one task found.
#[derive(Clone, Debug)]
pub struct TuneRow {
    /// The task.
    pub task: TuneTask,
    /// The tuner's report: key, source, each configuration's time or prune reason.
    pub outcome: TuneOutcome,
}

/// Checks that `task` can run (positive extents, K a multiple of what the format packs).
pub fn check(task: &TuneTask) -> Result<(), Error> {
    let bad = |message: String| {
        Err(Error::Shape {
            op: "tune",
            message,
        })
    };
    let TuneTask { op, m, n, k, group } = *task;
    if m == 0 || n == 0 || k == 0 {
        return bad(format!(
            "{}: M, N and K must be positive (got {m}x{n}x{k})",
            op.name()
        ));
    }
    let too_big = [m * k, n * k, m * n].iter().any(|&v| v > i32::MAX as usize);
    if too_big {
        return bad(format!(
            "{}: {m}x{n}x{k} has a matrix over i32::MAX elements",
            op.name()
        ));
    }
    match op {
        TunedOp::Ternary | TunedOp::TernaryPlanes if k % 4 != 0 => {
            bad(format!("{}: K = {k} is not a multiple of 4", op.name()))
        }
        _ if op.is_planes() && m > GEMV_MAX_ROWS as usize => bad(format!(
            "{}: the planes kernels run up to {GEMV_MAX_ROWS} rows (got M = {m})",
            op.name()
        )),
        TunedOp::Int4W4A16
        | TunedOp::Int4W4A8
        | TunedOp::Int4W4A16Planes
        | TunedOp::Int4W4A8Planes
            if k % 16 != 0 || group == 0 || k % group != 0 =>
        {
            bad(format!(
                "{}: K = {k} must be a multiple of 16 and of the group ({group})",
                op.name()
            ))
        }
        TunedOp::Int4W4A16Planes | TunedOp::Int4W4A8Planes
            if int4_planes_scale_cols(group).is_none() =>
        {
            bad(format!(
                "{}: the int4 planes layout needs a group of a multiple of 32 (got {group})",
                op.name()
            ))
        }
        _ => Ok(()),
    }
}

/// Zeroed activations of an int4 op: `f16` (W4A16) or int8 with per-row scales (W4A8).
enum ZeroActivations {
    F16(Buffer<f16>),
    I8 {
        values: Buffer<i8>,
        scales: Buffer<f32>,
    },
}

impl ZeroActivations {
    /// `[m, k]` zeros, `f16` when `f16` (else int8, with `m` zero scales).
    fn new(device: &Device, f16: bool, m: usize, k: usize) -> Result<Self, Error> {
        Ok(if f16 {
            ZeroActivations::F16(device.zeros::<f16>(m * k)?)
        } else {
            ZeroActivations::I8 {
                values: device.zeros::<i8>(m * k)?,
                scales: device.zeros::<f32>(m)?,
            }
        })
    }

    /// The activations, as the int4 ops take them.
    fn get(&self) -> Int4Activations<'_> {
        match self {
            ZeroActivations::F16(x) => Int4Activations::F16(x),
            ZeroActivations::I8 { values, scales } => Int4Activations::I8 { values, scales },
        }
    }
}

/// Tunes `task` on `device` (random data of its shape) and returns the tuner's report.
pub fn tune(device: &Device, task: &TuneTask) -> Result<TuneRow, Error> {
    check(task)?;
    let TuneTask { op, m, n, k, group } = *task;
    let (mi, ni, ki, gi) = (m as i32, n as i32, k as i32, group as i32);
    // The values do not matter for timing; zeros keep the set-up cheap.
    let outcome = match op {
        TunedOp::Ternary | TunedOp::TernaryPlanes => {
            let w_bytes = if op == TunedOp::TernaryPlanes {
                n * ternary_planes_row_bytes(k)
            } else {
                n * k / 4
            };
            let (x, w, c) = (
                device.zeros::<i8>(m * k)?,
                device.zeros::<u8>(w_bytes)?,
                device.zeros::<i32>(m * n)?,
            );
            let op_args = TernaryMatmul {
                x: &x,
                w: &w,
                c: &c,
                m: mi,
                n: ni,
                k: ki,
            };
            if op == TunedOp::TernaryPlanes {
                TernaryPlanesGemv(op_args).best(device)?
            } else {
                op_args.best(device)?
            }
        }
        TunedOp::Int4W4A16Planes | TunedOp::Int4W4A8Planes => {
            let scale_cols = int4_planes_scale_cols(group).unwrap_or(128);
            let row_bytes = int4_planes_row_bytes(k);
            let (w, scales, y) = (
                device.zeros::<u8>(n * row_bytes)?,
                device.zeros::<f32>(n * row_bytes * 2 / scale_cols)?,
                device.zeros::<f32>(m * n)?,
            );
            let x = ZeroActivations::new(device, op == TunedOp::Int4W4A16Planes, m, k)?;
            let op = Int4PlanesGemv {
                x: x.get(),
                w: &w,
                scales: &scales,
                y: &y,
                m: mi,
                n: ni,
                k: ki,
                scale_cols: scale_cols as i32,
            };
            op.best(device)?
        }
        TunedOp::Int4W4A16 | TunedOp::Int4W4A8 => {
            let (w, scales, y) = (
                device.zeros::<u64>(n * k / 16)?,
                device.zeros::<f32>(n * (k / group))?,
                device.zeros::<f32>(m * n)?,
            );
            let x = ZeroActivations::new(device, op == TunedOp::Int4W4A16, m, k)?;
            let op = Int4Matmul {
                x: x.get(),
                w: &w,
                scales: &scales,
                y: &y,
                m: mi,
                n: ni,
                k: ki,
                group: gi,
            };
            op.best(device)?
        }
    };
    Ok(TuneRow {
        task: *task,
        outcome,
    })
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.4}"))
}

/// The table of winners: per task its key, the winning configuration, where it came from and,
/// when it was timed in this run, the default's and the winner's median time and the speed-up
/// over the default (`cached` when the result was stored by an earlier run).
pub fn table(rows: &[TuneRow]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<11} {:>6} {:>12}  {:<28} {:>11} {:>11} {:>8}  {:<12} winner",
        "op", "M", "NxK", "key", "default ms", "best ms", "speed-up", "source"
    );
    for r in rows {
        let t = &r.task;
        let o = &r.outcome;
        // Timings stored by another run (or another tuner of this one) are not compared with
        // each other: only a key timed now has both of its times measured in this run.
        let measured = o.source == TuneSource::Tuned;
        let _ = writeln!(
            s,
            "{:<11} {:>6} {:>12}  {:<28} {:>11} {:>11} {:>8}  {:<12} {} {}",
            t.op.name(),
            t.m,
            format!("{}x{}", t.n, t.k),
            o.key.to_string(),
            ms(measured.then(|| o.default_ms()).flatten()),
            ms(measured.then(|| o.winner_ms()).flatten()),
            match o.source {
                _ if measured => o
                    .speedup()
                    .map_or_else(|| "-".into(), |x| format!("{x:.2}x")),
                TuneSource::Default(_) => "-".into(),
                _ => "cached".into(),
            },
            o.source.to_string(),
            o.kernel,
            o.table[o.winner].0,
        );
    }
    s
}

//! `bitmat convert`: quantizes the linear layers of a Llama/Mistral/Gemma-style
//! safetensors checkpoint to ternary or int4, keeping everything else as it is.
//!
//! Like BitMat's `convert_hf_model`, the linear projections of attention and MLP
//! (`q_proj`, `k_proj`, `v_proj`, `o_proj`, `gate_proj`, `up_proj`, `down_proj`) are
//! converted; embeddings, norms and `lm_head` are kept. A tensor is converted when its
//! name ends with `.weight`, it is 2-D, and its layer (the name without `.weight`) ends
//! with one of [`DEFAULT_LINEAR_MODULES`] or matches an `include` glob, unless it matches
//! an `exclude` glob (globs are matched against the layer name and the tensor name).
//!
//! The output is a bitmat checkpoint (see [`crate::checkpoint`]), written atomically: on
//! any error nothing is written.


use crate::checkpoint::{Checkpoint, CheckpointError, Tensor};
use crate::formats::{quantize_int4, quantize_ternary, Int4Group, ScaleGranularity};
use globset::{Glob, GlobSet, GlobSetBuilder};
use indicatif::{ProgressBar, ProgressStyle};
use std::fmt;
use std::path::Path;

/// The module names converted by default (the last component of the layer name).
pub const DEFAULT_LINEAR_MODULES: [&str; 7] = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
];

/// The format to convert to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetFormat {
    /// BitNet b1.58 ternary (absmean scale per tensor, or per row with `per_row`).
    Ternary,
    /// Signed int4 with group scales (`group`, or per row with `per_row`).
    Int4,
}

/// What `bitmat convert` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertOptions {
    /// The target format.
    pub to: TargetFormat,
    /// The int4 group size along K (ignored for ternary); default 128.
    pub group: usize,
    /// One scale per output row: ternary per-row scales, or int4 with one group per row
    /// (overriding `group`).
    pub per_row: bool,
    /// Globs of further layers to convert (e.g. `*.mlp.fc1`).
    pub include: Vec<String>,
    /// Globs of layers to keep as they are, even when default or included.
    pub exclude: Vec<String>,
    /// Show a progress bar on standard error.
    pub progress: bool,
}

impl ConvertOptions {
    /// Defaults for `to`: group 128, per-tensor/group scales, no patterns, no progress bar.
    pub fn new(to: TargetFormat) -> ConvertOptions {
        ConvertOptions {
            to,
            group: 128,
            per_row: false,
            include: Vec::new(),
            exclude: Vec::new(),
            progress: false,
        }
    }
}

/// What a conversion did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConvertSummary {
    /// Layers converted (names without `.weight`), sorted.
    pub converted: Vec<String>,
    /// Tensors copied unchanged, sorted.
    pub kept: Vec<String>,
    /// Of `kept`: the `.weight` tensors that would have been converted but matched an
    /// `exclude` glob.
    pub excluded: Vec<String>,
    /// Bytes of tensor data in the input (headers not counted).
    pub bytes_before: u64,
    /// Bytes of tensor data in the output (headers not counted).
    pub bytes_after: u64,
}

impl fmt::Display for ConvertSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ratio = if self.bytes_before == 0 {
            0.0
        } else {
            100.0 * self.bytes_after as f64 / self.bytes_before as f64
        };
        write!(
            f,
            "converted {} layers, kept {} tensors ({} excluded by pattern); \
             {} bytes -> {} bytes ({ratio:.1}%)",
            self.converted.len(),
            self.kept.len(),
            self.excluded.len(),
            self.bytes_before,
            self.bytes_after,
        )
    }
}

fn globset(patterns: &[String]) -> Result<GlobSet, CheckpointError> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let g = Glob::new(p).map_err(|e| CheckpointError::InvalidPattern {
            pattern: p.clone(),
            reason: e.kind().to_string(),
        })?;
        b.add(g);
    }
    b.build().map_err(|e| CheckpointError::InvalidPattern {
        pattern: patterns.join(" "),
        reason: e.to_string(),
    })
}

/// Whether `layer`'s last component is one of [`DEFAULT_LINEAR_MODULES`].
pub fn is_default_linear(layer: &str) -> bool {
    let last = layer.rsplit('.').next().unwrap_or(layer);
    DEFAULT_LINEAR_MODULES.contains(&last)
}

enum Plan {
    Convert(String),
    Keep { excluded: bool },
}

fn plan(name: &str, t: &Tensor, include: &GlobSet, exclude: &GlobSet) -> Plan {
    let Some(layer) = name.strip_suffix(".weight") else {
        return Plan::Keep { excluded: false };
    };
    let matches = |s: &GlobSet| s.is_match(layer) || s.is_match(name);
    if t.shape().len() != 2 || !(is_default_linear(layer) || matches(include)) {
        return Plan::Keep { excluded: false };
    }
    if matches(exclude) {
        return Plan::Keep { excluded: true };
    }
    Plan::Convert(layer.to_string())
}

/// Converts a checkpoint held in memory (see the module docs), returning the new
/// checkpoint and a summary. The input's metadata is carried over.
///
/// Errors: an invalid glob; a selected layer whose dtype is not F32/F16/BF16/F64
/// ([`CheckpointError::UnsupportedDtype`]); a non-finite weight
/// ([`CheckpointError::NonFinite`]); K not a multiple of 4 (ternary), 16 or the group
/// (int4) ([`CheckpointError::Format`]); an output name that already exists.
pub fn convert_checkpoint(
    input: &Checkpoint,
    opts: &ConvertOptions,
) -> Result<(Checkpoint, ConvertSummary), CheckpointError> {
    let include = globset(&opts.include)?;
    let exclude = globset(&opts.exclude)?;
    let mut summary = ConvertSummary::default();
    let mut layers = Vec::new();
    for (name, t) in input.tensors() {
        summary.bytes_before += t.data().len() as u64;
        match plan(name, t, &include, &exclude) {
            Plan::Convert(layer) => {
                if !t.is_float() {
                    return Err(CheckpointError::UnsupportedDtype {
                        tensor: name.into(),
                        dtype: format!("{}", t.dtype()),
                        expected: "F32, F16, BF16 or F64 (an unquantized weight); \
                                   exclude the layer to keep it",
                    });
                }
                layers.push((layer, name.to_string()));
            }
            Plan::Keep { excluded } => {
                summary.kept.push(name.to_string());
                if excluded {
                    summary.excluded.push(name.to_string());
                }
            }
        }
    }
    let mut out = Checkpoint::new();
    for (k, v) in input.metadata() {
        out.set_metadata(k.clone(), v.clone());
    }
    for name in &summary.kept {
        out.insert(name.clone(), input.tensor(name)?.clone());
    }
    let bar = if opts.progress {
        ProgressBar::new(layers.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} {wide_msg}") {
        bar.set_style(style);
    }
    for (layer, wname) in &layers {
        bar.set_message(layer.clone());
        let t = input.tensor(wname)?;
        let (rows, cols) = (t.shape()[0], t.shape()[1]);
        let w = t.to_f32(wname)?;
        let new_names: Vec<String> = match opts.to {
            TargetFormat::Ternary => vec![format!("{layer}.weight_scale")],
            TargetFormat::Int4 => vec![format!("{layer}.qweight"), format!("{layer}.scales")],
        };
        if let Some(clash) = new_names.iter().find(|n| out.contains(n)) {
            return Err(CheckpointError::Invalid(format!(
                "converting `{wname}` would overwrite the existing tensor `{clash}`"
            )));
        }
        match opts.to {
            TargetFormat::Ternary => {
                let g = if opts.per_row {
                    ScaleGranularity::PerRow
                } else {
                    ScaleGranularity::PerTensor
                };
                let q = quantize_ternary(&w, rows, cols, g)
                    .map_err(|e| CheckpointError::format(wname, e))?;
                out.insert_ternary(layer, &q)?;
            }
            TargetFormat::Int4 => {
                let g = if opts.per_row {
                    Int4Group::PerRow
                } else {
                    Int4Group::Size(opts.group)
                };
                let q = quantize_int4(&w, rows, cols, g)
                    .map_err(|e| CheckpointError::format(wname, e))?;
                out.insert_int4(layer, &q)?;
            }
        }
        summary.converted.push(layer.clone());
        bar.inc(1);
    }
    bar.finish_and_clear();
    summary.bytes_after = out.tensors().map(|(_, t)| t.data().len() as u64).sum();
    Ok((out, summary))
}

/// Converts the safetensors file `input` into `output` (see [`convert_checkpoint`]).
///
/// The output is written to a temporary file in `output`'s directory and renamed over
/// `output` only once complete: on any error, nothing is written.
pub fn convert_file(
    input: impl AsRef<Path>,
    output: impl AsRef<Path>,
    opts: &ConvertOptions,
) -> Result<ConvertSummary, CheckpointError> {
    let ck = Checkpoint::load(input)?;
    let (out, summary) = convert_checkpoint(&ck, opts)?;
    out.save(output)?;
    Ok(summary)
}

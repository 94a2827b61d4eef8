//! Converting a checkpoint: quantizes the linear layers of a Llama/Mistral/Gemma-style
//! safetensors checkpoint to ternary or int4, keeping everything else as it is.
//!
//! Like BitMat's `convert_hf_model`, the linear projections of attention and MLP
//! (`q_proj`, `k_proj`, `v_proj`, `o_proj`, `gate_proj`, `up_proj`, `down_proj`) are
//! converted; embeddings, norms and `lm_head` are kept. Which tensors are converted is up to
//! [`ConvertOptions::select`]: it is asked about every 2-D `.weight` tensor, and by default
//! ([`Selection::by_default`]) converts those whose layer (the name without `.weight`) ends
//! with one of [`DEFAULT_LINEAR_MODULES`]. The `bitmat convert` command (crate `bitmat-cli`)
//! selects by `--include`/`--exclude` globs and shows a progress bar through
//! [`ConvertOptions::progress`].
//!
//! The output is a bitmat checkpoint (see [`crate::checkpoint`]), written atomically: on
//! any error nothing is written.

use crate::checkpoint::{Checkpoint, CheckpointError, Tensor};
use crate::formats::{quantize_int4, quantize_ternary, Int4Group, ScaleGranularity};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

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

/// What [`ConvertOptions::select`] decides for one 2-D `.weight` tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Quantize it.
    Convert,
    /// Copy it as it is.
    Keep,
    /// Copy it as it is although it would have been converted (listed in
    /// [`ConvertSummary::excluded`]).
    Exclude,
}

impl Selection {
    /// The default choice for `layer`: [`Selection::Convert`] when its last component is one
    /// of [`DEFAULT_LINEAR_MODULES`], else [`Selection::Keep`].
    pub fn by_default(layer: &str) -> Selection {
        if is_default_linear(layer) {
            Selection::Convert
        } else {
            Selection::Keep
        }
    }
}

/// Where a conversion is, as [`ConvertOptions::progress`] hears it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step<'a> {
    /// The layer about to be converted (`None` once every layer is done).
    pub layer: Option<&'a str>,
    /// Layers converted so far.
    pub done: usize,
    /// Layers to convert in all.
    pub total: usize,
}

/// Decides, from a layer name and its tensor name (`{layer}.weight`), what happens to a 2-D
/// `.weight` tensor.
pub type Selector = Arc<dyn Fn(&str, &str) -> Selection + Send + Sync>;

/// Hears each [`Step`] of a conversion.
pub type Progress = Arc<dyn Fn(Step<'_>) + Send + Sync>;

/// What a conversion does.
#[derive(Clone)]
pub struct ConvertOptions {
    /// The target format.
    pub to: TargetFormat,
    /// The int4 group size along K (ignored for ternary); default 128.
    pub group: usize,
    /// One scale per output row: ternary per-row scales, or int4 with one group per row
    /// (overriding `group`).
    pub per_row: bool,
    /// Which 2-D `.weight` tensors to convert; default [`Selection::by_default`]. Tensors of
    /// other names or shapes are always kept.
    pub select: Selector,
    /// Called before each layer is converted and once when all are; default: nothing.
    pub progress: Progress,
}

impl ConvertOptions {
    /// Defaults for `to`: group 128, per-tensor/group scales, the default layers, no progress.
    pub fn new(to: TargetFormat) -> ConvertOptions {
        ConvertOptions {
            to,
            group: 128,
            per_row: false,
            select: Arc::new(|layer, _| Selection::by_default(layer)),
            progress: Arc::new(|_| {}),
        }
    }
}

impl fmt::Debug for ConvertOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConvertOptions")
            .field("to", &self.to)
            .field("group", &self.group)
            .field("per_row", &self.per_row)
            .finish_non_exhaustive()
    }
}

/// What a conversion did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConvertSummary {
    /// Layers converted (names without `.weight`), sorted.
    pub converted: Vec<String>,
    /// Tensors copied unchanged, sorted.
    pub kept: Vec<String>,
    /// Of `kept`: the `.weight` tensors that [`ConvertOptions::select`] excluded
    /// ([`Selection::Exclude`]).
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
            "converted {} layers, kept {} tensors ({} excluded); \
             {} bytes -> {} bytes ({ratio:.1}%)",
            self.converted.len(),
            self.kept.len(),
            self.excluded.len(),
            self.bytes_before,
            self.bytes_after,
        )
    }
}

/// Whether `layer`'s last component is one of [`DEFAULT_LINEAR_MODULES`].
pub fn is_default_linear(layer: &str) -> bool {
    let last = layer.rsplit('.').next().unwrap_or(layer);
    DEFAULT_LINEAR_MODULES.contains(&last)
}

/// What [`ConvertOptions::select`] says of tensor `name`; tensors that are not 2-D
/// `.weight` tensors are kept without asking.
fn plan(name: &str, t: &Tensor, opts: &ConvertOptions) -> Selection {
    match name.strip_suffix(".weight") {
        Some(layer) if t.shape().len() == 2 => (opts.select)(layer, name),
        _ => Selection::Keep,
    }
}

/// Converts a checkpoint held in memory (see the module docs), returning the new
/// checkpoint and a summary. The input's metadata is carried over.
///
/// Errors: a selected layer whose dtype is not F32/F16/BF16/F64
/// ([`CheckpointError::UnsupportedDtype`]); a non-finite weight
/// ([`CheckpointError::NonFinite`]); K not a multiple of 4 (ternary), 16 or the group
/// (int4) ([`CheckpointError::Format`]); an output name that already exists.
pub fn convert_checkpoint(
    input: &Checkpoint,
    opts: &ConvertOptions,
) -> Result<(Checkpoint, ConvertSummary), CheckpointError> {
    let mut summary = ConvertSummary::default();
    let mut layers = Vec::new();
    for (name, t) in input.tensors() {
        summary.bytes_before += t.data().len() as u64;
        match plan(name, t, opts) {
            Selection::Convert => {
                if !t.is_float() {
                    return Err(CheckpointError::UnsupportedDtype {
                        tensor: name.into(),
                        dtype: format!("{}", t.dtype()),
                        expected: "F32, F16, BF16 or F64 (an unquantized weight); \
                                   exclude the layer to keep it",
                    });
                }
                let layer = name.strip_suffix(".weight").unwrap_or(name);
                layers.push((layer.to_string(), name.to_string()));
            }
            keep => {
                summary.kept.push(name.to_string());
                if keep == Selection::Exclude {
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
    let total = layers.len();
    for (done, (layer, wname)) in layers.iter().enumerate() {
        (opts.progress)(Step {
            layer: Some(layer),
            done,
            total,
        });
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
    }
    (opts.progress)(Step {
        layer: None,
        done: total,
        total,
    });
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

//! Importers: packed weights as other projects lay them out, turned into bitmat's types.
//!
//! - [BitMat](https://github.com/astramind-ai/BitMat) (Python/Triton): ternary codes
//!   `0 -> 0, 1 -> +1, 2 -> -1`, 4 per int8 from the lowest bits, packed along K. Its
//!   `BitLinear.state_dict()` saves `[N, K/4]` (already bitmat's canonical bytes); its
//!   Triton kernel takes the transpose `[K/4, N]`. Its `scale_w` is the *reciprocal*
//!   `1 / mean|W|` (the output is divided by it). See [`bitmat_ternary`].
//! - Hugging Face transformers' BitNet (`integrations/bitnet.py`): uint8 `[ceil(out/4), in]`;
//!   byte `(r, c)` holds rows `r, r+R, r+2R, r+3R` (`R = ceil(out/4)`) of column `c` at
//!   bits 0, 2, 4, 6, each stored as `value + 1`. Its `weight_scale` divides the output for
//!   `BitLinear` and multiplies it for `AutoBitLinear`. See [`hf_bitnet_ternary`].
//! - BitTensor (C++): unsigned 4-bit values, 16 per int64 from the lowest bits, along K.
//!   See [`bittensor_uint4`].

use super::{Checkpoint, CheckpointError, Tensor};
use crate::formats::{
    unpack_uint4, FormatError, ScaleGranularity, TernaryWeights, INT4_VALUES_PER_WORD,
    TERNARY_VALUES_PER_BYTE,
};
use std::path::Path;

fn bad_k(tensor: &str, k: usize, multiple: usize, format: &'static str) -> CheckpointError {
    CheckpointError::format(
        tensor,
        FormatError::KNotDivisible {
            format,
            k,
            multiple,
        },
    )
}

fn check_len(tensor: &str, expected: usize, got: usize) -> Result<(), CheckpointError> {
    if expected == got {
        Ok(())
    } else {
        Err(CheckpointError::format(
            tensor,
            FormatError::ShapeMismatch {
                what: format!("{tensor} (packed length)"),
                expected,
                got,
            },
        ))
    }
}

fn invalid_code(tensor: &str, index: usize, value: u8, expected: &'static str) -> CheckpointError {
    CheckpointError::format(
        tensor,
        FormatError::InvalidCode {
            format: "ternary",
            index,
            value: i64::from(value),
            expected,
        },
    )
}

fn scale_check(tensor: &str, scales: &[f32], reciprocal: bool) -> Result<(), CheckpointError> {
    for (index, &s) in scales.iter().enumerate() {
        if !s.is_finite() || (reciprocal && s == 0.0) {
            return Err(CheckpointError::NonFinite {
                tensor: if reciprocal {
                    format!("{tensor} (a reciprocal scale of 0 or non-finite)")
                } else {
                    tensor.to_string()
                },
                index,
            });
        }
    }
    Ok(())
}

/// Where a BitMat packed weight comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitMatLayout {
    /// The operand of BitMat's Triton kernel, `W.t().contiguous()`: `[K/4, N]`, byte
    /// `(j, n)` holds K values `4j..4j+3` of output `n`.
    KernelKN,
    /// `BitLinear.state_dict()["weight"]`: `[N, K/4]`, which is bitmat's canonical layout.
    StateDictNK,
}

/// Imports a BitMat packed ternary weight for `out` (N) outputs and `inp` (K) inputs.
///
/// `packed` are BitMat's int8 bytes (read as u8) in `layout`; `scale_w` is BitMat's
/// per-tensor `scale_w = 1 / mean|W|`: the canonical scale is `1 / scale_w`.
///
/// Errors: K not a multiple of 4, a length other than `out * inp / 4`, a code 3, a
/// `scale_w` that is 0 or not finite.
pub fn bitmat_ternary(
    packed: &[u8],
    layout: BitMatLayout,
    out: usize,
    inp: usize,
    scale_w: f32,
) -> Result<TernaryWeights, CheckpointError> {
    const WHAT: &str = "BitMat weight";
    if inp % TERNARY_VALUES_PER_BYTE != 0 {
        return Err(bad_k(WHAT, inp, TERNARY_VALUES_PER_BYTE, "ternary"));
    }
    let cols = inp / TERNARY_VALUES_PER_BYTE;
    let n = out.checked_mul(cols).ok_or_else(|| {
        CheckpointError::format(
            WHAT,
            FormatError::SizeOverflow {
                what: WHAT.into(),
                rows: out,
                cols,
            },
        )
    })?;
    check_len(WHAT, n, packed.len())?;
    scale_check("BitMat scale_w", &[scale_w], true)?;
    let mut canonical = vec![0u8; n];
    for row in 0..out {
        for j in 0..cols {
            let byte = match layout {
                BitMatLayout::KernelKN => packed[j * out + row],
                BitMatLayout::StateDictNK => packed[row * cols + j],
            };
            for i in 0..TERNARY_VALUES_PER_BYTE {
                if (byte >> (2 * i)) & 0b11 == 0b11 {
                    return Err(invalid_code(
                        WHAT,
                        row * inp + j * TERNARY_VALUES_PER_BYTE + i,
                        3,
                        "a BitMat code 0 (0), 1 (+1) or 2 (-1)",
                    ));
                }
            }
            // BitMat's codes and bit order are bitmat's: only the byte moves.
            canonical[row * cols + j] = byte;
        }
    }
    Ok(TernaryWeights {
        out_features: out,
        in_features: inp,
        packed: canonical,
        scales: vec![1.0 / scale_w],
        granularity: ScaleGranularity::PerTensor,
    })
}

/// Imports BitMat layer `layer` of a checkpoint: `layer.weight` (I8/U8, shaped as `layout`
/// says) and `layer.scale_w` (one value, any float dtype).
pub fn bitmat_layer(
    ck: &Checkpoint,
    layer: &str,
    layout: BitMatLayout,
) -> Result<TernaryWeights, CheckpointError> {
    let wname = format!("{layer}.weight");
    let sname = format!("{layer}.scale_w");
    let wt = ck.tensor(&wname)?;
    let bytes = wt.to_bytes_u8(&wname)?;
    let &[a, b] = wt.shape() else {
        return Err(CheckpointError::ShapeMismatch {
            tensor: wname,
            expected: "2-D".into(),
            got: wt.shape().to_vec(),
        });
    };
    let (out, inp) = match layout {
        BitMatLayout::KernelKN => (b, a * TERNARY_VALUES_PER_BYTE),
        BitMatLayout::StateDictNK => (a, b * TERNARY_VALUES_PER_BYTE),
    };
    let scale = one_scale(ck, &sname)?;
    bitmat_ternary(bytes, layout, out, inp, scale).map_err(|e| rename_format(e, &wname))
}

fn one_scale(ck: &Checkpoint, name: &str) -> Result<f32, CheckpointError> {
    let s = ck.tensor_f32(name)?;
    match s.as_slice() {
        [v] => Ok(*v),
        _ => Err(CheckpointError::ShapeMismatch {
            tensor: name.into(),
            expected: "one value ([] or [1])".into(),
            got: ck.tensor(name)?.shape().to_vec(),
        }),
    }
}

fn rename_format(e: CheckpointError, tensor: &str) -> CheckpointError {
    match e {
        CheckpointError::Format { source, .. } => CheckpointError::format(tensor, source),
        e => e,
    }
}

/// Which transformers class a BitNet checkpoint was saved for; it decides what
/// `weight_scale` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HfLinearClass {
    /// `BitLinear` (`linear_class: "bitlinear"`, the default): the output is *divided*
    /// by `weight_scale`, so the canonical scale is `1 / weight_scale`.
    BitLinear,
    /// `AutoBitLinear` in offline mode (`linear_class: "autobitlinear"`): the output is
    /// *multiplied* by `weight_scale`, which is the canonical scale.
    AutoBitLinear,
}

impl HfLinearClass {
    /// Reads `quantization_config` of a transformers `config.json` text:
    /// `quant_method` must be `"bitnet"`, `linear_class` is `"bitlinear"` (default) or
    /// `"autobitlinear"`, and `quantization_mode` must be `"offline"` (the default;
    /// online checkpoints hold unquantized weights, which `bitmat convert` reads).
    pub fn from_config_json(text: &str) -> Result<HfLinearClass, CheckpointError> {
        let cfg = |reason: String| CheckpointError::Config { reason };
        let json: serde_json::Value =
            serde_json::from_str(text).map_err(|e| cfg(format!("not JSON: {e}")))?;
        let q = json
            .get("quantization_config")
            .ok_or_else(|| cfg("no `quantization_config`: not a BitNet checkpoint".into()))?;
        let field = |k: &str| q.get(k).and_then(|v| v.as_str());
        match field("quant_method") {
            Some("bitnet") | None => {}
            Some(other) => {
                return Err(cfg(format!("quant_method is `{other}`, expected `bitnet`")))
            }
        }
        if let Some(mode) = field("quantization_mode") {
            if mode != "offline" {
                return Err(cfg(format!(
                    "quantization_mode is `{mode}`: only offline checkpoints hold packed \
                     weights (convert an online one with `bitmat convert`)"
                )));
            }
        }
        match field("linear_class").unwrap_or("bitlinear") {
            "bitlinear" => Ok(HfLinearClass::BitLinear),
            "autobitlinear" => Ok(HfLinearClass::AutoBitLinear),
            other => Err(cfg(format!(
                "linear_class is `{other}`, expected `bitlinear` or `autobitlinear`"
            ))),
        }
    }

    /// Reads the `config.json` at `path` (see [`HfLinearClass::from_config_json`]).
    pub fn from_config_file(path: impl AsRef<Path>) -> Result<HfLinearClass, CheckpointError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_config_json(&text)
    }
}

/// Imports a transformers BitNet packed weight of `out` outputs and `inp` inputs.
///
/// `packed` is the uint8 `[ceil(out/4), inp]` tensor; `weight_scale` has one value (per
/// tensor, as transformers writes) or `out` values (per row); `class` says whether it
/// divides or multiplies (see [`HfLinearClass`]).
///
/// Errors: `inp` not a multiple of 4 (bitmat's packing needs it), a length other than
/// `ceil(out/4) * inp`, a stored code 3, a scale count other than 1 or `out`, a scale
/// that is not finite (or 0 for [`HfLinearClass::BitLinear`]).
pub fn hf_bitnet_ternary(
    packed: &[u8],
    out: usize,
    inp: usize,
    weight_scale: &[f32],
    class: HfLinearClass,
) -> Result<TernaryWeights, CheckpointError> {
    const WHAT: &str = "BitNet weight";
    if inp % TERNARY_VALUES_PER_BYTE != 0 {
        return Err(bad_k(WHAT, inp, TERNARY_VALUES_PER_BYTE, "ternary"));
    }
    let r = out.div_ceil(TERNARY_VALUES_PER_BYTE);
    let n = r.checked_mul(inp).ok_or_else(|| {
        CheckpointError::format(
            WHAT,
            FormatError::SizeOverflow {
                what: WHAT.into(),
                rows: r,
                cols: inp,
            },
        )
    })?;
    check_len(WHAT, n, packed.len())?;
    let granularity = match weight_scale.len() {
        1 => ScaleGranularity::PerTensor,
        l if l == out => ScaleGranularity::PerRow,
        l => {
            return Err(CheckpointError::ShapeMismatch {
                tensor: "BitNet weight_scale".into(),
                expected: format!("[1] or [out] = [{out}]"),
                got: vec![l],
            })
        }
    };
    let reciprocal = class == HfLinearClass::BitLinear;
    scale_check("BitNet weight_scale", weight_scale, reciprocal)?;
    let scales = weight_scale
        .iter()
        .map(|&s| if reciprocal { 1.0 / s } else { s })
        .collect();
    let cols = inp / TERNARY_VALUES_PER_BYTE;
    let mut canonical = vec![0u8; out * cols];
    for row in 0..out {
        let (slot, src_row) = (row / r, row % r);
        for c in 0..inp {
            let stored = (packed[src_row * inp + c] >> (2 * slot)) & 0b11;
            let code = match stored {
                0 => 0b10, // -1
                1 => 0b00, // 0
                2 => 0b01, // +1
                _ => {
                    return Err(invalid_code(
                        WHAT,
                        row * inp + c,
                        stored,
                        "a stored value+1 of 0 (-1), 1 (0) or 2 (+1)",
                    ))
                }
            };
            canonical[row * cols + c / TERNARY_VALUES_PER_BYTE] |=
                code << (2 * (c % TERNARY_VALUES_PER_BYTE));
        }
    }
    Ok(TernaryWeights {
        out_features: out,
        in_features: inp,
        packed: canonical,
        scales,
        granularity,
    })
}

/// Imports transformers BitNet layer `layer` of a checkpoint: `layer.weight` (U8/I8
/// `[ceil(out/4), in]`) and `layer.weight_scale` (any float dtype).
///
/// `out` is the layer's `out_features`; `None` takes `4 * ceil(out/4)` (exact whenever
/// `out_features` is a multiple of 4, as transformers' `BitLinear` requires).
pub fn hf_bitnet_layer(
    ck: &Checkpoint,
    layer: &str,
    out: Option<usize>,
    class: HfLinearClass,
) -> Result<TernaryWeights, CheckpointError> {
    let wname = format!("{layer}.weight");
    let sname = format!("{layer}.weight_scale");
    let wt = ck.tensor(&wname)?;
    let bytes = wt.to_bytes_u8(&wname)?;
    let &[r, inp] = wt.shape() else {
        return Err(CheckpointError::ShapeMismatch {
            tensor: wname,
            expected: "2-D [ceil(out/4), in]".into(),
            got: wt.shape().to_vec(),
        });
    };
    let out = out.unwrap_or(r * TERNARY_VALUES_PER_BYTE);
    if out.div_ceil(TERNARY_VALUES_PER_BYTE) != r {
        return Err(CheckpointError::ShapeMismatch {
            tensor: wname,
            expected: format!("[ceil({out}/4), in] = [{}, {inp}]", out.div_ceil(4)),
            got: wt.shape().to_vec(),
        });
    }
    let scales = ck.tensor_f32(&sname)?;
    hf_bitnet_ternary(bytes, out, inp, &scales, class).map_err(|e| rename_format(e, &wname))
}

/// Unsigned 4-bit weights `[rows, cols]` in BitTensor's form: values `0..=15`, 16 per
/// `u64` from the lowest bits along `cols` (the layout of [`crate::formats::pack_uint4`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uint4Weights {
    /// Rows (output features).
    pub rows: usize,
    /// Columns (K); a multiple of 16.
    pub cols: usize,
    /// `rows * cols / 16` words.
    pub packed: Vec<u64>,
}

impl Uint4Weights {
    /// The values `[rows, cols]` (row-major), each in `0..=15`
    /// ([`crate::formats::unpack_uint4`]).
    pub fn values(&self) -> Result<Vec<u8>, FormatError> {
        unpack_uint4(&self.packed, self.rows, self.cols)
    }
}

/// Imports BitTensor's int64 words (16 unsigned nibbles each, lowest bits first) of a
/// `[rows, cols]` matrix. The words are reinterpreted bit for bit as `u64`.
///
/// Errors: `cols` not a multiple of 16, a length other than `rows * cols / 16`.
pub fn bittensor_uint4(
    words: &[i64],
    rows: usize,
    cols: usize,
) -> Result<Uint4Weights, CheckpointError> {
    const WHAT: &str = "BitTensor words";
    if cols % INT4_VALUES_PER_WORD != 0 {
        return Err(bad_k(WHAT, cols, INT4_VALUES_PER_WORD, "uint4"));
    }
    let want = rows
        .checked_mul(cols / INT4_VALUES_PER_WORD)
        .ok_or_else(|| {
            CheckpointError::format(
                WHAT,
                FormatError::SizeOverflow {
                    what: WHAT.into(),
                    rows,
                    cols,
                },
            )
        })?;
    check_len(WHAT, want, words.len())?;
    Ok(Uint4Weights {
        rows,
        cols,
        packed: words.iter().map(|&w| w as u64).collect(),
    })
}

/// Imports the BitTensor tensor `name` of a checkpoint: I64 or U64 `[rows, cols/16]`.
pub fn bittensor_tensor(ck: &Checkpoint, name: &str) -> Result<Uint4Weights, CheckpointError> {
    let t: &Tensor = ck.tensor(name)?;
    let words = t.to_u64_words(name)?;
    let &[rows, w] = t.shape() else {
        return Err(CheckpointError::ShapeMismatch {
            tensor: name.into(),
            expected: "2-D [rows, cols/16]".into(),
            got: t.shape().to_vec(),
        });
    };
    Ok(Uint4Weights {
        rows,
        cols: w * INT4_VALUES_PER_WORD,
        packed: words,
    })
}

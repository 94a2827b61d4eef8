//! Safetensors checkpoints holding bitmat's packed weights, and importers for the
//! layouts other projects write.
//!
//! # Layout of a bitmat checkpoint
//!
//! A checkpoint is an ordinary safetensors file. Unquantized tensors (embeddings, norms,
//! biases, `lm_head`) are stored as they are. A quantized layer `NAME` is stored as:
//!
//! | format | tensors | per-layer metadata |
//! |--------|---------|--------------------|
//! | ternary | `NAME.weight`: U8 `[out, in/4]`, the canonical packing of [`crate::formats::ternary`]; `NAME.weight_scale`: F32 `[1]` (per tensor) or `[out]` (per row) | `bitmat.layer.NAME.format = "ternary"`, `bitmat.layer.NAME.granularity = "per_tensor" \| "per_row"` |
//! | int4 | `NAME.qweight`: U64 `[out, in/16]`, the signed packing of [`crate::formats::int4`] (I64 is read too); `NAME.scales`: F32 `[out, in/group]` | `bitmat.layer.NAME.format = "int4"`, `bitmat.layer.NAME.group_size = "128" \| "per_row"` |
//!
//! The file-level keys `bitmat.format` (`"ternary"`, `"int4"` or `"mixed"`) and, when all
//! int4 layers agree, `bitmat.group_size` summarize the layers; a reader falls back on them
//! when a per-layer key is absent. The real weight is `value * scale` in both formats.
//!
//! # Importers
//!
//! [`import`] reads BitMat's packed ternary weights, Hugging Face transformers' BitNet
//! packing and BitTensor's unsigned int4 words into bitmat's types.

mod error;
pub mod import;
mod tensor;

pub use error::CheckpointError;
pub use tensor::{Dtype, Tensor};

use crate::formats::{
    int4_group_size, unpack_int4, unpack_ternary, Int4Group, Int4Weights, ScaleGranularity,
    TernaryWeights, INT4_VALUES_PER_WORD, TERNARY_VALUES_PER_BYTE,
};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

/// File-level metadata key: `"ternary"`, `"int4"` or `"mixed"`.
pub const FORMAT_KEY: &str = "bitmat.format";
/// File-level metadata key: the int4 group size shared by every int4 layer
/// (a number, or `"per_row"`).
pub const GROUP_SIZE_KEY: &str = "bitmat.group_size";
/// File-level metadata key: the version of this layout (`"1"`).
pub const VERSION_KEY: &str = "bitmat.version";

/// The per-layer metadata key `bitmat.layer.{layer}.{field}`.
pub fn layer_key(layer: &str, field: &str) -> String {
    format!("bitmat.layer.{layer}.{field}")
}

/// How a quantized layer is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LayerFormat {
    /// Ternary (BitNet b1.58), 4 codes per byte.
    Ternary,
    /// Signed int4, 16 per `u64`, with group scales.
    Int4,
}

impl LayerFormat {
    /// The metadata spelling: `"ternary"` or `"int4"`.
    pub fn as_str(self) -> &'static str {
        match self {
            LayerFormat::Ternary => "ternary",
            LayerFormat::Int4 => "int4",
        }
    }
}

/// A safetensors checkpoint held in memory: named tensors and string metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Checkpoint {
    tensors: BTreeMap<String, Tensor>,
    metadata: BTreeMap<String, String>,
}

/// The number of `names` shown in an [`CheckpointError::UnknownTensor`].
const SUGGESTIONS: usize = 5;

fn common_prefix(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}

fn memory() -> PathBuf {
    PathBuf::from("<memory>")
}

/// Checks what safetensors reports only vaguely: truncation and unknown dtypes.
fn prescan(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let actual = bytes.len() as u64;
    let truncated = |expected: u64| CheckpointError::Truncated {
        path: path.to_path_buf(),
        expected,
        actual,
    };
    let corrupt = |reason: String| CheckpointError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let Some(len_bytes) = bytes.get(..8) else {
        return Err(truncated(8));
    };
    let mut n = [0u8; 8];
    n.copy_from_slice(len_bytes);
    let n = u64::from_le_bytes(n);
    if n > 100 << 20 {
        return Err(corrupt(format!("header length {n} is over 100 MiB")));
    }
    let header_end = 8 + n;
    if actual < header_end {
        return Err(truncated(header_end));
    }
    let header = std::str::from_utf8(&bytes[8..header_end as usize])
        .map_err(|e| corrupt(format!("header is not UTF-8: {e}")))?;
    let json: serde_json::Value =
        serde_json::from_str(header).map_err(|e| corrupt(format!("header is not JSON: {e}")))?;
    let entries = json
        .as_object()
        .ok_or_else(|| corrupt("header is not a JSON object".into()))?;
    let mut data_end = 0u64;
    for (name, info) in entries {
        if name == "__metadata__" {
            continue;
        }
        if let Some(dtype) = info.get("dtype").and_then(|d| d.as_str()) {
            if serde_json::from_value::<Dtype>(serde_json::Value::String(dtype.into())).is_err() {
                return Err(CheckpointError::UnknownDtype {
                    tensor: name.clone(),
                    dtype: dtype.into(),
                });
            }
        }
        let offsets = info
            .get("data_offsets")
            .and_then(|o| Some((o.get(0)?.as_u64()?, o.get(1)?.as_u64()?)));
        if let Some((start, end)) = offsets {
            check_extent(name, info, start, end).map_err(&corrupt)?;
            data_end = data_end.max(end);
        }
    }
    let expected = header_end.saturating_add(data_end);
    if actual < expected {
        return Err(truncated(expected));
    }
    Ok(())
}

/// Why tensor `name`'s header entry `info` does not describe the bytes `start..end` it claims:
/// offsets out of order, or a shape whose size in its dtype differs.
fn check_extent(name: &str, info: &serde_json::Value, start: u64, end: u64) -> Result<(), String> {
    if end < start {
        return Err(format!(
            "tensor `{name}`: data_offsets [{start}, {end}] end before they start"
        ));
    }
    let dtype = info
        .get("dtype")
        .and_then(|d| serde_json::from_value::<Dtype>(d.clone()).ok());
    let shape: Option<Vec<u64>> = info
        .get("shape")
        .and_then(|s| s.as_array())
        .and_then(|dims| dims.iter().map(serde_json::Value::as_u64).collect());
    let (Some(dtype), Some(shape)) = (dtype, shape) else {
        return Ok(()); // safetensors reports a missing or malformed dtype or shape
    };
    let bits = shape
        .iter()
        .try_fold(dtype.bitsize() as u64, |acc, &d| acc.checked_mul(d));
    let held = end - start;
    match bits {
        Some(bits) if bits.div_ceil(8) == held => Ok(()),
        Some(bits) => Err(format!(
            "tensor `{name}`: shape {shape:?} of {dtype:?} takes {} bytes, but its data_offsets [{start}, {end}] hold {held}",
            bits.div_ceil(8)
        )),
        None => Err(format!("tensor `{name}`: shape {shape:?} overflows")),
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, then a
/// rename. On error nothing is left at `path` (an existing file there is untouched). The file
/// gets the permissions the process's umask gives a new file (as `File::create` does).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let io = |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(CheckpointError::MissingDirectory {
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
        });
    }
    let mut builder = tempfile::Builder::new();
    builder.prefix(".bitmat-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The mode `open(2)` is given; the umask clears bits from it, as for any new file.
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

fn parse_group(key: &str, value: &str) -> Result<Int4Group, CheckpointError> {
    if value == "per_row" {
        return Ok(Int4Group::PerRow);
    }
    value
        .parse::<usize>()
        .map(Int4Group::Size)
        .map_err(|_| CheckpointError::InvalidMetadata {
            key: key.into(),
            value: value.into(),
            reason: "expected a group size (e.g. 128) or `per_row`".into(),
        })
}

fn group_str(group: Int4Group) -> String {
    match group {
        Int4Group::PerRow => "per_row".into(),
        Int4Group::Size(s) => s.to_string(),
    }
}

impl Checkpoint {
    /// An empty checkpoint.
    pub fn new() -> Checkpoint {
        Checkpoint::default()
    }

    /// Reads a safetensors file.
    ///
    /// Errors: the file cannot be read ([`CheckpointError::Io`]), is shorter than its
    /// header announces ([`CheckpointError::Truncated`]), names an unknown dtype
    /// ([`CheckpointError::UnknownDtype`]) or is otherwise invalid
    /// ([`CheckpointError::Corrupt`]).
    pub fn load(path: impl AsRef<Path>) -> Result<Checkpoint, CheckpointError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &bytes)
    }

    /// Reads a safetensors file held in memory (errors as [`Checkpoint::load`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
        Self::parse(&memory(), bytes)
    }

    fn parse(path: &Path, bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
        prescan(path, bytes)?;
        let st =
            safetensors::SafeTensors::deserialize(bytes).map_err(|e| CheckpointError::Corrupt {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| {
            CheckpointError::Corrupt {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }
        })?;
        let metadata = meta
            .metadata()
            .as_ref()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let mut tensors = BTreeMap::new();
        for (name, view) in st.iter() {
            let t = Tensor::new(view.dtype(), view.shape().to_vec(), view.data().to_vec())
                .map_err(|_| CheckpointError::Corrupt {
                    path: path.to_path_buf(),
                    reason: format!("tensor `{name}` has inconsistent offsets"),
                })?;
            tensors.insert(name.to_string(), t);
        }
        Ok(Checkpoint { tensors, metadata })
    }

    /// The safetensors bytes of this checkpoint.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CheckpointError> {
        let meta: HashMap<String, String> = self.metadata.clone().into_iter().collect();
        let meta = (!meta.is_empty()).then_some(meta);
        safetensors::serialize(self.tensors.iter(), meta).map_err(|e| CheckpointError::Corrupt {
            path: memory(),
            reason: format!("cannot serialize: {e}"),
        })
    }

    /// Writes the checkpoint to `path` atomically (a temporary file in the same
    /// directory, renamed over `path`): on error nothing is written.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
        write_atomic(path.as_ref(), &self.to_bytes()?)
    }

    /// The tensor names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// The number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether the checkpoint holds no tensor.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Whether a tensor `name` exists.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// The tensors, sorted by name.
    pub fn tensors(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.tensors.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The tensor `name`, or [`CheckpointError::UnknownTensor`] listing a few that exist.
    pub fn tensor(&self, name: &str) -> Result<&Tensor, CheckpointError> {
        self.tensors.get(name).ok_or_else(|| {
            let mut names: Vec<&String> = self.tensors.keys().collect();
            names.sort_by_key(|n| std::cmp::Reverse(common_prefix(n, name)));
            CheckpointError::UnknownTensor {
                name: name.to_string(),
                available: names.into_iter().take(SUGGESTIONS).cloned().collect(),
                total: self.tensors.len(),
            }
        })
    }

    /// The tensor `name` as f32 (from F32, F16, BF16 or F64).
    pub fn tensor_f32(&self, name: &str) -> Result<Vec<f32>, CheckpointError> {
        self.tensor(name)?.to_f32(name)
    }

    /// Adds or replaces a tensor, returning the one replaced.
    pub fn insert(&mut self, name: impl Into<String>, tensor: Tensor) -> Option<Tensor> {
        self.tensors.insert(name.into(), tensor)
    }

    /// Removes a tensor, returning it.
    pub fn remove(&mut self, name: &str) -> Option<Tensor> {
        self.tensors.remove(name)
    }

    /// The string metadata (safetensors' `__metadata__`).
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// Sets a metadata entry, returning the previous value.
    pub fn set_metadata(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Option<String> {
        self.metadata.insert(key.into(), value.into())
    }

    /// The quantized layers, from the per-layer `bitmat.layer.NAME.format` keys.
    pub fn quantized_layers(&self) -> Vec<(String, LayerFormat)> {
        self.metadata
            .iter()
            .filter_map(|(k, v)| {
                let layer = k.strip_prefix("bitmat.layer.")?.strip_suffix(".format")?;
                let f = match v.as_str() {
                    "ternary" => LayerFormat::Ternary,
                    "int4" => LayerFormat::Int4,
                    _ => return None,
                };
                Some((layer.to_string(), f))
            })
            .collect()
    }

    /// A metadata value for `layer`: the per-layer key, else the file-level `fallback`.
    fn layer_meta(
        &self,
        layer: &str,
        field: &str,
        fallback: Option<&str>,
    ) -> Option<(String, &str)> {
        let key = layer_key(layer, field);
        if let Some(v) = self.metadata.get(&key) {
            return Some((key, v));
        }
        let fk = fallback?;
        // `mixed` says only that the file has several formats: no fallback.
        self.metadata
            .get(fk)
            .filter(|v| v.as_str() != "mixed")
            .map(|v| (fk.to_string(), v.as_str()))
    }

    /// How layer `layer` is stored: its `bitmat.layer.NAME.format` key, else the file's
    /// `bitmat.format`.
    ///
    /// Errors: neither key ([`CheckpointError::MissingMetadata`]) or an unknown value.
    pub fn layer_format(&self, layer: &str) -> Result<LayerFormat, CheckpointError> {
        let (key, v) = self
            .layer_meta(layer, "format", Some(FORMAT_KEY))
            .ok_or_else(|| CheckpointError::MissingMetadata {
                layer: layer.into(),
                key: FORMAT_KEY.into(),
            })?;
        match v {
            "ternary" => Ok(LayerFormat::Ternary),
            "int4" => Ok(LayerFormat::Int4),
            other => Err(CheckpointError::InvalidMetadata {
                key,
                value: other.into(),
                reason: "expected `ternary` or `int4`".into(),
            }),
        }
    }

    /// Checks that `layer` is stored as `want`, then that `tensor` exists: a layer of
    /// another format is reported as such, a missing tensor before missing metadata.
    fn expect_layer(
        &self,
        layer: &str,
        want: LayerFormat,
        tensor: &str,
    ) -> Result<&Tensor, CheckpointError> {
        let format = self.layer_format(layer);
        if let Ok(got) = format {
            if got != want {
                return Err(CheckpointError::InvalidMetadata {
                    key: layer_key(layer, "format"),
                    value: got.as_str().into(),
                    reason: format!("layer `{layer}` was asked for as {}", want.as_str()),
                });
            }
        }
        let t = self.tensor(tensor)?;
        format?;
        Ok(t)
    }

    /// Updates the file-level summary keys from the per-layer ones.
    fn refresh_summary(&mut self) {
        let layers = self.quantized_layers();
        let mut kinds: Vec<&'static str> = layers.iter().map(|(_, f)| f.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        match kinds.as_slice() {
            [] => {
                self.metadata.remove(FORMAT_KEY);
            }
            [one] => {
                self.metadata.insert(FORMAT_KEY.into(), (*one).into());
            }
            _ => {
                self.metadata.insert(FORMAT_KEY.into(), "mixed".into());
            }
        }
        let mut groups: Vec<&str> = layers
            .iter()
            .filter(|(_, f)| *f == LayerFormat::Int4)
            .filter_map(|(l, _)| {
                self.metadata
                    .get(&layer_key(l, "group_size"))
                    .map(String::as_str)
            })
            .collect();
        groups.sort_unstable();
        groups.dedup();
        match groups.as_slice() {
            [one] => {
                let one = one.to_string();
                self.metadata.insert(GROUP_SIZE_KEY.into(), one);
            }
            _ => {
                self.metadata.remove(GROUP_SIZE_KEY);
            }
        }
        if layers.is_empty() {
            self.metadata.remove(VERSION_KEY);
        } else {
            self.metadata.insert(VERSION_KEY.into(), "1".into());
        }
    }

    /// Stores ternary layer `layer` as `layer.weight` + `layer.weight_scale` with its
    /// metadata, replacing what was there.
    ///
    /// Errors: an inconsistent [`TernaryWeights`] ([`CheckpointError::Format`]).
    pub fn insert_ternary(
        &mut self,
        layer: &str,
        w: &TernaryWeights,
    ) -> Result<(), CheckpointError> {
        let wname = format!("{layer}.weight");
        w.validate()
            .map_err(|e| CheckpointError::format(&wname, e))?;
        let cols = w.in_features / TERNARY_VALUES_PER_BYTE;
        self.insert(wname, Tensor::from_u8(&[w.out_features, cols], &w.packed)?);
        self.insert(
            format!("{layer}.weight_scale"),
            Tensor::from_f32(&[w.scales.len()], &w.scales)?,
        );
        self.metadata
            .insert(layer_key(layer, "format"), "ternary".into());
        let g = match w.granularity {
            ScaleGranularity::PerTensor => "per_tensor",
            ScaleGranularity::PerRow => "per_row",
        };
        self.metadata
            .insert(layer_key(layer, "granularity"), g.into());
        self.metadata.remove(&layer_key(layer, "group_size"));
        self.refresh_summary();
        Ok(())
    }

    /// Stores int4 layer `layer` as `layer.qweight` (U64) + `layer.scales` with its
    /// metadata, replacing what was there.
    ///
    /// Errors: an inconsistent [`Int4Weights`] ([`CheckpointError::Format`]).
    pub fn insert_int4(&mut self, layer: &str, w: &Int4Weights) -> Result<(), CheckpointError> {
        let qname = format!("{layer}.qweight");
        w.validate()
            .map_err(|e| CheckpointError::format(&qname, e))?;
        let words = w.in_features / INT4_VALUES_PER_WORD;
        self.insert(
            qname,
            Tensor::from_u64(&[w.out_features, words], &w.packed)?,
        );
        self.insert(
            format!("{layer}.scales"),
            Tensor::from_f32(&[w.out_features, w.groups_per_row()], &w.scales)?,
        );
        self.metadata
            .insert(layer_key(layer, "format"), "int4".into());
        self.metadata
            .insert(layer_key(layer, "group_size"), group_str(w.group));
        self.metadata.remove(&layer_key(layer, "granularity"));
        self.refresh_summary();
        Ok(())
    }

    /// Reads ternary layer `layer` (`layer.weight` U8/I8 `[out, in/4]` and
    /// `layer.weight_scale` `[1]` or `[out]`, F32/F16/BF16).
    ///
    /// The granularity is the layer's `granularity` metadata, or else follows from the
    /// scale's shape. Every code is checked (code 3 is refused).
    ///
    /// Errors: a missing tensor, format metadata absent or not `ternary`, a wrong dtype
    /// or shape, an invalid code.
    pub fn ternary(&self, layer: &str) -> Result<TernaryWeights, CheckpointError> {
        let wname = format!("{layer}.weight");
        let sname = format!("{layer}.weight_scale");
        let wt = self.expect_layer(layer, LayerFormat::Ternary, &wname)?;
        let packed = wt.to_bytes_u8(&wname)?.to_vec();
        let &[out, cols] = wt.shape() else {
            return Err(CheckpointError::ShapeMismatch {
                tensor: wname,
                expected: "2-D [out, in/4]".into(),
                got: wt.shape().to_vec(),
            });
        };
        let inp = cols * TERNARY_VALUES_PER_BYTE;
        let scales = self.tensor_f32(&sname)?;
        let st = self.tensor(&sname)?;
        let granularity = match self.layer_meta(layer, "granularity", None) {
            Some((_, "per_tensor")) => ScaleGranularity::PerTensor,
            Some((_, "per_row")) => ScaleGranularity::PerRow,
            Some((key, other)) => {
                return Err(CheckpointError::InvalidMetadata {
                    key,
                    value: other.into(),
                    reason: "expected `per_tensor` or `per_row`".into(),
                })
            }
            None if scales.len() == 1 => ScaleGranularity::PerTensor,
            None => ScaleGranularity::PerRow,
        };
        let want = match granularity {
            ScaleGranularity::PerTensor => 1,
            ScaleGranularity::PerRow => out,
        };
        if st.shape() != [want] && !(want == 1 && st.shape().is_empty()) {
            return Err(CheckpointError::ShapeMismatch {
                tensor: sname,
                expected: format!("[{want}] ({granularity:?} scales of {out} rows)"),
                got: st.shape().to_vec(),
            });
        }
        unpack_ternary(&packed, out, inp).map_err(|e| CheckpointError::format(&wname, e))?;
        Ok(TernaryWeights {
            out_features: out,
            in_features: inp,
            packed,
            scales,
            granularity,
        })
    }

    /// Reads int4 layer `layer` (`layer.qweight` U64/I64 `[out, in/16]` and
    /// `layer.scales` `[out, in/group]`), the group from the layer's `group_size`
    /// metadata or the file's `bitmat.group_size`.
    ///
    /// Errors: a missing tensor or metadata, a wrong dtype or shape, an invalid group.
    pub fn int4(&self, layer: &str) -> Result<Int4Weights, CheckpointError> {
        let qname = format!("{layer}.qweight");
        let sname = format!("{layer}.scales");
        let qt = self.expect_layer(layer, LayerFormat::Int4, &qname)?;
        let packed = qt.to_u64_words(&qname)?;
        let &[out, words] = qt.shape() else {
            return Err(CheckpointError::ShapeMismatch {
                tensor: qname,
                expected: "2-D [out, in/16]".into(),
                got: qt.shape().to_vec(),
            });
        };
        let inp = words * INT4_VALUES_PER_WORD;
        let (key, gv) = self
            .layer_meta(layer, "group_size", Some(GROUP_SIZE_KEY))
            .ok_or_else(|| CheckpointError::MissingMetadata {
                layer: layer.into(),
                key: layer_key(layer, "group_size"),
            })?;
        let group = parse_group(&key, gv)?;
        let gs = int4_group_size(group, inp).map_err(|e| CheckpointError::format(&qname, e))?;
        let st = self.tensor(&sname)?;
        let groups = inp / gs;
        if st.shape() != [out, groups] {
            return Err(CheckpointError::ShapeMismatch {
                tensor: sname,
                expected: format!("[out, in/group] = [{out}, {groups}]"),
                got: st.shape().to_vec(),
            });
        }
        let scales = st.to_f32(&sname)?;
        unpack_int4(&packed, out, inp).map_err(|e| CheckpointError::format(&qname, e))?;
        Ok(Int4Weights {
            out_features: out,
            in_features: inp,
            group,
            packed,
            scales,
        })
    }
}

//! [`CheckpointError`]: why reading, writing, importing or converting a checkpoint failed.

use crate::formats::FormatError;
use std::path::PathBuf;
use thiserror::Error;

/// Why a checkpoint could not be read, written, imported or converted.
///
/// Every public function of [`crate::checkpoint`] and [`crate::convert`] reports bad
/// input (files, tensors, metadata, options) through this type instead of panicking.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The directory an output file goes to does not exist.
    #[error("cannot write {}: directory {} does not exist; create it or choose another output path", path.display(), dir.display())]
    MissingDirectory {
        /// The file to write.
        path: PathBuf,
        /// Its directory.
        dir: PathBuf,
    },
    /// The file ends before the data its header announces.
    #[error(
        "{}: truncated safetensors file: the header announces {expected} bytes, the file has \
         {actual}",
        path.display()
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// The length the header implies (8 + header + data).
        expected: u64,
        /// The file's length.
        actual: u64,
    },
    /// The file is not a valid safetensors file (bad header, offsets, JSON).
    #[error("{}: not a valid safetensors file: {reason}", path.display())]
    Corrupt {
        /// The file (or `<memory>` for bytes).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A tensor was asked for that the checkpoint does not hold.
    #[error(
        "no tensor `{name}` in the checkpoint ({total} tensors{})",
        if .available.is_empty() { String::new() } else { format!(", e.g. {}", .available.join(", ")) }
    )]
    UnknownTensor {
        /// The name asked for.
        name: String,
        /// A few names that exist, nearest first.
        available: Vec<String>,
        /// How many tensors the checkpoint holds.
        total: usize,
    },
    /// The file names a dtype that safetensors (and bitmat) do not know.
    #[error("tensor `{tensor}`: unknown dtype `{dtype}`")]
    UnknownDtype {
        /// The tensor.
        tensor: String,
        /// The dtype string in the header.
        dtype: String,
    },
    /// A tensor has a dtype the operation cannot use.
    #[error("tensor `{tensor}`: dtype {dtype} is not supported here; expected {expected}")]
    UnsupportedDtype {
        /// The tensor.
        tensor: String,
        /// Its dtype.
        dtype: String,
        /// What is accepted.
        expected: &'static str,
    },
    /// A tensor has a shape other than the one its layer implies.
    #[error("tensor `{tensor}`: shape {got:?}, expected {expected}")]
    ShapeMismatch {
        /// The tensor.
        tensor: String,
        /// The shape wanted, in words (e.g. `[out, in/4] = [8, 16]`).
        expected: String,
        /// The shape found.
        got: Vec<usize>,
    },
    /// A metadata key that the layer needs is absent.
    #[error("layer `{layer}`: missing metadata key `{key}`{}", hint(.key))]
    MissingMetadata {
        /// The layer.
        layer: String,
        /// The key.
        key: String,
    },
    /// A metadata value that cannot be understood.
    #[error("metadata `{key}` = `{value}`: {reason}")]
    InvalidMetadata {
        /// The key.
        key: String,
        /// The value found.
        value: String,
        /// What is accepted.
        reason: String,
    },
    /// A tensor that must be finite holds a NaN or an infinity.
    #[error("tensor `{tensor}`: element {index} is not finite (NaN or infinity)")]
    NonFinite {
        /// The tensor.
        tensor: String,
        /// Flat index of the first non-finite element.
        index: usize,
    },
    /// A tensor's contents are refused by its format (e.g. K not a multiple of 4, 16 or
    /// the group size; an invalid code).
    #[error("tensor `{tensor}`: {source}")]
    Format {
        /// The tensor.
        tensor: String,
        /// The format's error.
        source: FormatError,
    },
    /// A tensor's byte length does not match its dtype and shape.
    #[error("tensor `{tensor}`: {len} bytes do not hold a {dtype} tensor of shape {shape:?}")]
    BadLength {
        /// The tensor.
        tensor: String,
        /// Its dtype.
        dtype: String,
        /// Its shape.
        shape: Vec<usize>,
        /// The bytes given.
        len: usize,
    },
    /// A `config.json` that does not describe a BitNet checkpoint bitmat can read.
    #[error("config: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// A conversion option or layer that cannot be honoured.
    #[error("{0}")]
    Invalid(String),
}

fn hint(key: &str) -> &'static str {
    if key.ends_with("format") {
        " (was the file written by bitmat? quantized layers need `bitmat.format`)"
    } else {
        ""
    }
}

impl CheckpointError {
    /// Wraps a [`FormatError`] raised on tensor `tensor`, turning
    /// [`FormatError::NonFinite`] into [`CheckpointError::NonFinite`].
    pub fn format(tensor: &str, source: FormatError) -> Self {
        match source {
            FormatError::NonFinite { index, .. } => CheckpointError::NonFinite {
                tensor: tensor.to_string(),
                index,
            },
            source => CheckpointError::Format {
                tensor: tensor.to_string(),
                source,
            },
        }
    }
}

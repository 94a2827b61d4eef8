//! The error type shared by every format and reference function.

use thiserror::Error;

/// Why a format conversion, quantization or reference computation was refused.
///
/// Every public function in [`crate::formats`] and [`crate::reference`] reports
/// bad input through this type instead of panicking.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FormatError {
    /// The reduction dimension K (`in_features`, or `cols` of a packed matrix)
    /// is not a multiple of what the packing stores per storage unit.
    #[error(
        "in_features {k} is not a multiple of {multiple}, which {format} packing needs ({}); \
         pad K to a multiple of {multiple}",
        packing_unit(format, *multiple)
    )]
    KNotDivisible {
        /// The packing format (`"ternary"`, `"int4"`, `"uint4"`).
        format: &'static str,
        /// The offending K.
        k: usize,
        /// The multiple the packing needs.
        multiple: usize,
    },
    /// A buffer has the wrong length for the shape it was given with.
    #[error("{what}: expected length {expected}, got {got}")]
    ShapeMismatch {
        /// Which buffer, and how its length is derived.
        what: String,
        /// The length the shape implies.
        expected: usize,
        /// The length that was passed.
        got: usize,
    },
    /// An input that must be finite holds a NaN or an infinity.
    #[error(
        "{what}: element {index} is not finite (NaN or infinity); only finite values are accepted"
    )]
    NonFinite {
        /// Which input.
        what: String,
        /// Flat (row-major) index of the first non-finite element.
        index: usize,
    },
    /// A value or stored code is outside what the format can represent.
    #[error("invalid {format} value {value} at index {index}: expected {expected}")]
    InvalidCode {
        /// The format (`"ternary"`, `"int4"`, `"uint4"`).
        format: &'static str,
        /// Flat (row-major) element index of the offending value.
        index: usize,
        /// The offending value or code.
        value: i64,
        /// What is accepted there.
        expected: &'static str,
    },
    /// An int4 group size that is not a nonzero multiple of 16 dividing `in_features`.
    #[error(
        "int4 group size {group} is invalid for in_features {k}: it must be a nonzero multiple \
         of 16 that divides in_features (e.g. 32, 64 or 128), or use Int4Group::PerRow"
    )]
    InvalidGroup {
        /// The requested group size.
        group: usize,
        /// `in_features`.
        k: usize,
    },
    /// An int4 group size that a backend layout cannot hold (the int4 planes layout needs a
    /// multiple of 32).
    #[error(
        "int4 group size {group} does not fit the {layout} layout, which needs a multiple of 32; \
         the canonical packing serves it (the ops and layers fall back to it)"
    )]
    UnsupportedGroup {
        /// The group size.
        group: usize,
        /// The layout.
        layout: &'static str,
    },
    /// A weight matrix with a zero dimension, for which no scale is defined.
    #[error("{what} must not be empty (out_features {out} x in_features {inp})")]
    Empty {
        /// Which input.
        what: String,
        /// `out_features` as given.
        out: usize,
        /// `in_features` as given.
        inp: usize,
    },
    /// `rows * cols` (or a derived size) does not fit in `usize`.
    #[error("{what}: size {rows} x {cols} overflows usize")]
    SizeOverflow {
        /// Which buffer.
        what: String,
        /// First factor.
        rows: usize,
        /// Second factor.
        cols: usize,
    },
    /// Two operands disagree on a shared dimension.
    #[error("{what}: {left} != {right}")]
    DimensionMismatch {
        /// Which dimensions, e.g. `"activation cols vs weight in_features"`.
        what: String,
        /// The first operand's dimension.
        left: usize,
        /// The second operand's dimension.
        right: usize,
    },
}

fn packing_unit(format: &str, multiple: usize) -> String {
    match format {
        "ternary" => format!("{multiple} codes per byte"),
        "int4" | "uint4" => format!("{multiple} values per u64 word"),
        _ => format!("{multiple} values per storage unit"),
    }
}

/// `rows * cols`, or [`FormatError::SizeOverflow`].
pub(crate) fn checked_len(what: &str, rows: usize, cols: usize) -> Result<usize, FormatError> {
    rows.checked_mul(cols)
        .ok_or_else(|| FormatError::SizeOverflow {
            what: what.to_string(),
            rows,
            cols,
        })
}

/// Checks `buf_len == expected`.
pub(crate) fn check_len(what: &str, expected: usize, got: usize) -> Result<(), FormatError> {
    if expected == got {
        Ok(())
    } else {
        Err(FormatError::ShapeMismatch {
            what: what.to_string(),
            expected,
            got,
        })
    }
}

/// Checks that every element is finite.
pub(crate) fn check_finite(what: &str, x: &[f32]) -> Result<(), FormatError> {
    match x.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(index) => Err(FormatError::NonFinite {
            what: what.to_string(),
            index,
        }),
    }
}

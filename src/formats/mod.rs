//! Weight and activation formats: BitNet b1.58 ternary weights (2-bit packing),
//! group-quantized int4 weights (16 per `u64`), the CPU planes layouts (ternary and int4), int8 activations and RMSNorm.
//!
//! Quantization formulas are exact contracts that compiled kernels reproduce
//! bit-for-bit; each function documents its f32 operations. Every function
//! reports bad input as a [`FormatError`] instead of panicking.

pub mod activation;
pub mod error;
pub mod int4;
pub mod int4_planes;
pub mod ternary;
pub mod ternary_planes;

pub use activation::{
    activation_scale, quantize_activation_value, quantize_activations, rms_norm,
    QuantizedActivations, ACT_AMAX_FLOOR,
};
pub use error::FormatError;
pub use int4::{
    int4_group_size, pack_int4, pack_uint4, quantize_int4, quantize_int4_value, unpack_int4,
    unpack_uint4, Int4Group, Int4Weights, INT4_AMAX_FLOOR, INT4_VALUES_PER_WORD,
};
pub use int4_planes::{
    int4_planes_row_bytes, int4_planes_scale_cols, pack_int4_planes, Int4Planes, INT4_PLANES_BLOCK,
    INT4_PLANES_ROW_MULTIPLE,
};
pub use ternary::{
    check_ternary_codes, pack_ternary, quantize_ternary, quantize_ternary_value, unpack_ternary,
    ScaleGranularity, TernaryWeights, TERNARY_SCALE_FLOOR, TERNARY_VALUES_PER_BYTE,
};
pub use ternary_planes::{
    pack_ternary_planes, ternary_planes_row_bytes, unpack_ternary_planes, TERNARY_PLANES_BLOCK,
    TERNARY_PLANES_ROW_MULTIPLE,
};

//! Element types and tile types of the IR.

use std::fmt;

/// A numeric (or boolean) element type of a tile.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    /// Boolean (masks, comparison results).
    Bool,
    /// Signed 8-bit integer.
    I8,
    /// Unsigned 8-bit integer.
    U8,
    /// Signed 16-bit integer.
    I16,
    /// Unsigned 16-bit integer.
    U16,
    /// Signed 32-bit integer.
    I32,
    /// Unsigned 32-bit integer.
    U32,
    /// Signed 64-bit integer.
    I64,
    /// Unsigned 64-bit integer.
    U64,
    /// IEEE half precision.
    F16,
    /// bfloat16.
    BF16,
    /// IEEE single precision.
    F32,
    /// 8-bit float, OCP FP8 E4M3 in its "fn" form (as CUDA's `__nv_fp8_e4m3` and Triton's
    /// `float8e4nv`): 4 exponent bits (bias 7), 3 mantissa bits, no infinities, one NaN per
    /// sign (`S.1111.111`), largest finite value 448.
    F8E4M3,
    /// 8-bit float, OCP FP8 E5M2 (as CUDA's `__nv_fp8_e5m2`): 5 exponent bits (bias 15), 2
    /// mantissa bits, IEEE-like with infinities and NaNs, largest finite value 57344.
    F8E5M2,
}

impl DType {
    /// Every element type, in declaration order.
    pub const ALL: [DType; 14] = [
        DType::Bool,
        DType::I8,
        DType::U8,
        DType::I16,
        DType::U16,
        DType::I32,
        DType::U32,
        DType::I64,
        DType::U64,
        DType::F16,
        DType::BF16,
        DType::F32,
        DType::F8E4M3,
        DType::F8E5M2,
    ];

    /// Width in bits (`Bool` counts as 8: it is stored as a byte).
    pub fn bits(self) -> u32 {
        match self {
            DType::Bool | DType::I8 | DType::U8 | DType::F8E4M3 | DType::F8E5M2 => 8,
            DType::I16 | DType::U16 | DType::F16 | DType::BF16 => 16,
            DType::I32 | DType::U32 | DType::F32 => 32,
            DType::I64 | DType::U64 => 64,
        }
    }

    /// Size of one element in memory, in bytes.
    pub fn size_bytes(self) -> usize {
        self.bits() as usize / 8
    }

    /// True for the integer types (not `Bool`).
    pub fn is_int(self) -> bool {
        matches!(
            self,
            DType::I8
                | DType::U8
                | DType::I16
                | DType::U16
                | DType::I32
                | DType::U32
                | DType::I64
                | DType::U64
        )
    }

    /// True for signed integer types.
    pub fn is_signed_int(self) -> bool {
        matches!(self, DType::I8 | DType::I16 | DType::I32 | DType::I64)
    }

    /// True for the floating-point types.
    pub fn is_float(self) -> bool {
        matches!(
            self,
            DType::F16 | DType::BF16 | DType::F32 | DType::F8E4M3 | DType::F8E5M2
        )
    }

    /// True for the float types with arithmetic (`f16`, `bf16`, `f32`): fp8 values are loaded,
    /// stored, converted and multiplied by `dot` only.
    pub fn is_arith_float(self) -> bool {
        self.is_float() && !self.is_fp8()
    }

    /// True for the 8-bit float types (`f8e4m3`, `f8e5m2`).
    pub fn is_fp8(self) -> bool {
        matches!(self, DType::F8E4M3 | DType::F8E5M2)
    }

    /// The short name used by the printer and in error messages (`i8`, `f32`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::I8 => "i8",
            DType::U8 => "u8",
            DType::I16 => "i16",
            DType::U16 => "u16",
            DType::I32 => "i32",
            DType::U32 => "u32",
            DType::I64 => "i64",
            DType::U64 => "u64",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::F32 => "f32",
            DType::F8E4M3 => "f8e4m3",
            DType::F8E5M2 => "f8e5m2",
        }
    }

    /// Parses a name produced by [`DType::name`].
    pub fn from_name(name: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.name() == name)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The element type of a tile: a number, or a pointer to numbers in global memory.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ElemType {
    /// A plain value of the given type.
    Val(DType),
    /// A pointer into a buffer whose elements have the given type.
    Ptr(DType),
}

impl ElemType {
    /// The value type, or `None` for pointers.
    pub fn as_val(self) -> Option<DType> {
        match self {
            ElemType::Val(d) => Some(d),
            ElemType::Ptr(_) => None,
        }
    }

    /// The pointee type, or `None` for plain values.
    pub fn pointee(self) -> Option<DType> {
        match self {
            ElemType::Ptr(d) => Some(d),
            ElemType::Val(_) => None,
        }
    }
}

impl fmt::Display for ElemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElemType::Val(d) => write!(f, "{d}"),
            ElemType::Ptr(d) => write!(f, "ptr<{d}>"),
        }
    }
}

/// The type of an SSA value: an element type and a shape. Rank 0 is a scalar.
///
/// Every extent of a tile is a power of two, fixed when the kernel is specialized.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TileType {
    /// Element type.
    pub elem: ElemType,
    /// Extents, outermost first; empty for a scalar.
    pub shape: Vec<u32>,
}

impl TileType {
    /// A tile of `elem` with `shape`.
    pub fn new(elem: ElemType, shape: impl Into<Vec<u32>>) -> Self {
        TileType {
            elem,
            shape: shape.into(),
        }
    }

    /// A scalar value of type `dtype`.
    pub fn scalar(dtype: DType) -> Self {
        TileType::new(ElemType::Val(dtype), Vec::new())
    }

    /// A tile of values of type `dtype`.
    pub fn val(dtype: DType, shape: impl Into<Vec<u32>>) -> Self {
        TileType::new(ElemType::Val(dtype), shape)
    }

    /// Number of dimensions (0 for a scalar).
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// True for rank 0.
    pub fn is_scalar(&self) -> bool {
        self.shape.is_empty()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().map(|&d| d as usize).product()
    }

    /// The same shape with another element type.
    pub fn with_elem(&self, elem: ElemType) -> Self {
        TileType::new(elem, self.shape.clone())
    }

    /// The value type, or `None` for pointer tiles.
    pub fn dtype(&self) -> Option<DType> {
        self.elem.as_val()
    }
}

/// Formats a shape as `[a, b]` (`[]` for a scalar).
pub fn shape_str(shape: &[u32]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(", "))
}

impl fmt::Display for TileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.shape.is_empty() {
            write!(f, "{}", self.elem)
        } else {
            let dims: Vec<String> = self.shape.iter().map(|d| d.to_string()).collect();
            write!(f, "{}[{}]", self.elem, dims.join("x"))
        }
    }
}

//! Compiled CPU code as data: a [`CpuObject`] holds one program function's machine code,
//! relocations and textual IR. A CPU backend produces it (Cranelift: [`CpuObject::compile`]),
//! the disk cache stores it ([`CpuObject::to_bytes`], [`CpuObject::from_bytes`], postcard),
//! and the loader ([`super::loader`]) copies it into executable memory.
//!
//! Relocations: compiled code reaches the bitmat helpers ([`super::helpers`]) and, on ISAs
//! without an instruction for them, float libcalls (`ceil`, `floor`, `trunc`, `nearest`,
//! `fma`), and the C memory functions an optimizer calls for long fills and copies (`memset`,
//! `memcpy`, `memmove`) through absolute 64-bit addresses, so the only relocation kind is an absolute 8-byte
//! address, written at load time; its target may also be the code itself (constants placed
//! after the function, addressed absolutely: LLVM's large code model). A backend fails with
//! [`CodegenError::Relocation`] on any other kind or target rather than guess.

use super::helpers;
use crate::CodegenError;
use serde::{Deserialize, Serialize};

/// Tag of serialized objects, checked first by [`CpuObject::from_bytes`]; bumped whenever the
/// layout of [`CpuObject`] changes (2: the CLIF text is serialized; 3: code-relative
/// relocations; 4: memory libcalls).
const FORMAT: [u8; 8] = *b"BMCPU\0\0\x04";

/// The largest code alignment the loader provides (the page size of every supported OS).
const MAX_ALIGNMENT: u32 = 4096;

/// The largest object accepted (compiled kernels are kilobytes).
const MAX_CODE: usize = 1 << 28;

/// A kernel's program function compiled for the host CPU, not yet loaded: machine code plus
/// what is needed to load and run it, and its textual IR. Serializable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuObject {
    /// The kernel's name.
    pub(crate) name: String,
    /// The kernel's runtime parameter count (the length of the `args` array).
    pub(crate) params: u32,
    /// Bytes of scratch one program uses.
    pub(crate) scratch_bytes: u64,
    /// Alignment the code needs, in bytes (a power of two).
    pub(crate) alignment: u32,
    /// The machine code; the program function starts at offset 0.
    pub(crate) code: Vec<u8>,
    /// Addresses to write into `code` at load time.
    pub(crate) relocs: Vec<CpuReloc>,
    /// The textual IR of the function (CLIF, or LLVM IR), for `BITMAT_DUMP=clif` (also of a kernel loaded from
    /// the disk cache).
    pub(crate) clif: String,
}

/// One relocation of a [`CpuObject`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuReloc {
    /// Byte offset in the code of the field to patch.
    pub offset: u32,
    /// How the field is patched.
    pub kind: RelocKind,
    /// The address the field refers to.
    pub target: RelocTarget,
    /// Added to the target's address.
    pub addend: i64,
}

/// How a relocation patches the code.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RelocKind {
    /// The target's absolute address as 8 native-endian bytes (Cranelift's `Abs8`).
    Abs8,
}

/// What a relocation refers to.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RelocTarget {
    /// A bitmat helper, by its index in [`helpers::helpers`].
    Helper(u32),
    /// A float libcall Cranelift emits where the ISA has no instruction.
    LibCall(FloatLibCall),
    /// A C memory function LLVM calls for a long fill or copy of a tile in memory.
    Memory(MemoryLibCall),
    /// The loaded code itself: the addend is an offset into the object's code (constants a
    /// backend placed after its function, as LLVM's constant pools).
    Code,
}

/// The float libcalls the loader resolves, each to a Rust function of the same semantics.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FloatLibCall {
    /// `ceil.f32`.
    CeilF32,
    /// `ceil.f64`.
    CeilF64,
    /// `floor.f32`.
    FloorF32,
    /// `floor.f64`.
    FloorF64,
    /// `trunc.f32`.
    TruncF32,
    /// `trunc.f64`.
    TruncF64,
    /// `nearest.f32` (round half to even).
    NearestF32,
    /// `nearest.f64` (round half to even).
    NearestF64,
    /// `fma.f32`.
    FmaF32,
    /// `fma.f64`.
    FmaF64,
}

/// The address of an `extern "C"` function on `$t` that calls `$t`'s `$method`: on one
/// argument (`x.method()`) or on three (`a.method(b, c)`).
macro_rules! libcall {
    ($t:ty, $method:ident()) => {{
        extern "C" fn f(x: $t) -> $t {
            x.$method()
        }
        f as *const () as usize
    }};
    ($t:ty, $method:ident(b, c)) => {{
        extern "C" fn f(a: $t, b: $t, c: $t) -> $t {
            a.$method(b, c)
        }
        f as *const () as usize
    }};
}

impl FloatLibCall {
    /// The address of the Rust function that implements the libcall.
    fn address(self) -> usize {
        use FloatLibCall as F;
        match self {
            F::CeilF32 => libcall!(f32, ceil()),
            F::CeilF64 => libcall!(f64, ceil()),
            F::FloorF32 => libcall!(f32, floor()),
            F::FloorF64 => libcall!(f64, floor()),
            F::TruncF32 => libcall!(f32, trunc()),
            F::TruncF64 => libcall!(f64, trunc()),
            F::NearestF32 => libcall!(f32, round_ties_even()),
            F::NearestF64 => libcall!(f64, round_ties_even()),
            F::FmaF32 => libcall!(f32, mul_add(b, c)),
            F::FmaF64 => libcall!(f64, mul_add(b, c)),
        }
    }
}

/// The C memory functions the loader resolves, each to a Rust function with C's contract.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemoryLibCall {
    /// `memset(dst, byte, len)`.
    Memset,
    /// `memcpy(dst, src, len)` (the ranges do not overlap).
    Memcpy,
    /// `memmove(dst, src, len)` (the ranges may overlap).
    Memmove,
}

// The compiled code calls these with C's contract: `len` bytes at `dst` (and `src`) that it
// owns, as it would call the C library's functions of the same names.
extern "C" fn fill_bytes(dst: *mut u8, byte: i32, len: usize) -> *mut u8 {
    // SAFETY: `dst..dst + len` is writable (C's `memset` contract, see above).
    unsafe { std::ptr::write_bytes(dst, byte as u8, len) };
    dst
}

extern "C" fn copy_bytes(dst: *mut u8, src: *const u8, len: usize) -> *mut u8 {
    // SAFETY: `src` readable, `dst` writable, not overlapping (C's `memcpy` contract).
    unsafe { std::ptr::copy_nonoverlapping(src, dst, len) };
    dst
}

extern "C" fn move_bytes(dst: *mut u8, src: *const u8, len: usize) -> *mut u8 {
    // SAFETY: `src` readable, `dst` writable (C's `memmove` contract).
    unsafe { std::ptr::copy(src, dst, len) };
    dst
}

impl MemoryLibCall {
    /// The libcall of this C name, if it is one of them.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "memset" => Some(Self::Memset),
            "memcpy" => Some(Self::Memcpy),
            "memmove" => Some(Self::Memmove),
            _ => None,
        }
    }

    /// The address of the Rust function that implements the libcall.
    fn address(self) -> usize {
        match self {
            Self::Memset => fill_bytes as *const () as usize,
            Self::Memcpy => copy_bytes as *const () as usize,
            Self::Memmove => move_bytes as *const () as usize,
        }
    }
}

impl RelocTarget {
    /// The address this target resolves to in this process, for code loaded at `code_base`.
    pub(crate) fn address(self, code_base: usize) -> Result<usize, CodegenError> {
        match self {
            RelocTarget::Code => Ok(code_base),
            RelocTarget::Helper(i) => helpers::helpers()
                .get(i as usize)
                .map(|h| h.addr as usize)
                .ok_or_else(|| CodegenError::Object(format!("unknown helper {i}"))),
            RelocTarget::LibCall(lc) => Ok(lc.address()),
            RelocTarget::Memory(call) => Ok(call.address()),
        }
    }
}

impl CpuObject {
    /// The kernel's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of runtime parameters of the kernel.
    pub fn params(&self) -> usize {
        self.params as usize
    }

    /// Bytes of scratch one program uses.
    pub fn scratch_bytes(&self) -> usize {
        self.scratch_bytes as usize
    }

    /// The machine code (unrelocated).
    pub fn code(&self) -> &[u8] {
        &self.code
    }

    /// The relocations to apply when loading.
    pub fn relocs(&self) -> &[CpuReloc] {
        &self.relocs
    }

    /// The textual IR of the function (kept through [`CpuObject::to_bytes`]): CLIF from
    /// Cranelift, LLVM IR from the LLVM backend.
    pub fn clif(&self) -> &str {
        &self.clif
    }

    /// The object in bitmat's serialized form (a format tag, then postcard), CLIF text
    /// included.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = FORMAT.to_vec();
        // Serializing owned, plain data into a Vec cannot fail.
        out.extend(postcard::to_allocvec(self).expect("CpuObject serializes"));
        out
    }

    /// Reads an object written by [`CpuObject::to_bytes`], checking that it is well-formed
    /// (format tag, no trailing bytes, sizes, alignment, relocations inside the code and not
    /// overlapping, known helpers), so that [`CpuKernel::load`](super::CpuKernel::load) never
    /// writes outside the code. It cannot check that the code itself is what the compiler
    /// produced: the disk cache's checksum and key guard that.
    pub fn from_bytes(bytes: &[u8]) -> Result<CpuObject, CodegenError> {
        let body = bytes
            .strip_prefix(&FORMAT)
            .ok_or_else(|| CodegenError::Object("not a bitmat CPU object of this format".into()))?;
        let (obj, rest): (CpuObject, &[u8]) = postcard::take_from_bytes(body)
            .map_err(|e| CodegenError::Object(format!("cannot decode: {e}")))?;
        if !rest.is_empty() {
            return Err(CodegenError::Object(format!(
                "{} trailing bytes",
                rest.len()
            )));
        }
        obj.validate()?;
        Ok(obj)
    }

    /// Checks the invariants [`CpuKernel::load`](super::CpuKernel::load) relies on.
    pub(crate) fn validate(&self) -> Result<(), CodegenError> {
        let bad = |m: String| Err(CodegenError::Object(format!("kernel `{}`: {m}", self.name)));
        if self.code.is_empty() || self.code.len() > MAX_CODE {
            return bad(format!("code of {} bytes", self.code.len()));
        }
        if !self.alignment.is_power_of_two() || self.alignment > MAX_ALIGNMENT {
            return bad(format!("code alignment {}", self.alignment));
        }
        if usize::try_from(self.scratch_bytes).is_err() {
            return bad(format!("scratch of {} bytes", self.scratch_bytes));
        }
        let mut fields: Vec<(usize, usize)> = Vec::with_capacity(self.relocs.len());
        for r in &self.relocs {
            let size = match r.kind {
                RelocKind::Abs8 => 8,
            };
            let start = r.offset as usize;
            if start
                .checked_add(size)
                .is_none_or(|end| end > self.code.len())
            {
                return bad(format!(
                    "relocation at {start} outside the code ({} bytes)",
                    self.code.len()
                ));
            }
            match r.target {
                RelocTarget::Helper(i) if i as usize >= helpers::COUNT => {
                    return bad(format!("relocation to unknown helper {i}"));
                }
                RelocTarget::Code
                    if !usize::try_from(r.addend).is_ok_and(|a| a < self.code.len()) =>
                {
                    return bad(format!(
                        "relocation to offset {} outside the code ({} bytes)",
                        r.addend,
                        self.code.len()
                    ));
                }
                _ => {}
            }
            fields.push((start, size));
        }
        fields.sort_unstable();
        if fields.windows(2).any(|w| w[0].0 + w[0].1 > w[1].0) {
            return bad("overlapping relocations".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitmat_ir::{DType, KernelBuilder, ParamKind, UnaryOp};

    /// `out[i] = exp(x[i])` over 16 lanes: a helper call, so relocations.
    fn object() -> CpuObject {
        let mut b = KernelBuilder::new("exp16");
        let x = b.param("x", ParamKind::Ptr(DType::F32));
        let offs = b.arange(16);
        let xs = b.expand_dims(x, 0);
        let xs = b.broadcast(xs, vec![16]);
        let p = b.add_ptr(xs, offs);
        let v = b.load(p, None, None);
        let e = b.unary(UnaryOp::Exp, v);
        b.store(p, e, None);
        CpuObject::compile(&b.finish().unwrap()).unwrap()
    }

    fn rejected(obj: &CpuObject) -> bool {
        let by_validate = obj.validate().is_err();
        let by_bytes = CpuObject::from_bytes(&obj.to_bytes()).is_err();
        let by_load = super::super::CpuKernel::load(obj).is_err();
        assert_eq!(by_validate, by_bytes);
        assert_eq!(by_validate, by_load);
        by_validate
    }

    #[test]
    fn well_formed_object_passes() {
        let obj = object();
        assert!(!obj.relocs.is_empty());
        assert!(!rejected(&obj));
    }

    #[test]
    fn relocations_outside_the_code_or_overlapping_are_rejected() {
        let obj = object();
        let len = obj.code.len() as u32;
        for offset in [len - 7, len, u32::MAX - 3] {
            let mut bad = obj.clone();
            bad.relocs[0].offset = offset;
            assert!(rejected(&bad), "offset {offset}");
        }
        let mut bad = obj.clone();
        let r = bad.relocs[0];
        bad.relocs.push(CpuReloc {
            offset: r.offset + 4,
            ..r
        });
        assert!(rejected(&bad), "overlap");
        let mut bad = obj.clone();
        bad.relocs[0].target = RelocTarget::Helper(helpers::COUNT as u32);
        assert!(rejected(&bad), "unknown helper");
    }

    #[test]
    fn empty_or_misaligned_code_is_rejected() {
        let mut bad = object();
        bad.code.clear();
        bad.relocs.clear();
        assert!(rejected(&bad));
        for alignment in [0, 3, 8192] {
            let mut bad = object();
            bad.alignment = alignment;
            assert!(rejected(&bad), "alignment {alignment}");
        }
    }
}

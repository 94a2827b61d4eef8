//! Lowering of the tile IR to Cranelift IR, one module per family of ops.
//!
//! Every value lives in its scratch slot ([`crate::cranelift::arena_slots`]); an op reads its
//! operands' slots and writes its results' slots, looping over 128-bit chunks. Runs of
//! elementwise ops are fused into one loop that keeps intermediates in registers (see the
//! `fusion` submodule).
//!
//! Vectorized (128-bit chunks: `I8X16`, `I16X8`, `I32X4`, `I64X2`, `F32X4`):
//! - integer `add`/`sub`/`and`/`or`/`xor`/`neg`/`not`/`abs`/`min`/`max`, 16- and 32-bit
//!   `mul`, `shl`/`shr` by a constant;
//! - float `add`/`sub`/`mul`/`div`/`min`/`max`/`neg`/`abs`/`sqrt`/`rsqrt`/`round` (f16 and
//!   bf16 are widened to `F32X4` and rounded back with integer vector sequences, bit-exact
//!   with `half`);
//! - comparisons, `select`, `constant`, `arange`, `broadcast`, `addptr`;
//! - `cast` among `bool`, 8/16/32-bit integers and `f32`;
//! - loads and stores of pointers contiguous along the last axis;
//! - `concat`, `slice`, and `permute` that keeps the last axis (copies of whole runs);
//! - reductions along a non-last axis, and integer reductions along the last axis;
//! - `dot` (widening multiply-adds, see the `dot` submodule).
//!
//! Scalar fallbacks (lane by lane inside the chunk loops, or element loops):
//! - 8- and 64-bit integer `mul`; integer `div`/`rem` (Cranelift has no SIMD division;
//!   division by zero yields 0 instead of trapping); `shl`/`shr` by per-lane amounts;
//! - `exp`, `log`, float `rem` (calls into Rust's `f32::exp`/`ln`/`%`);
//! - casts from or to 64-bit integers and f16/bf16 (calls into [`bitmat_ir::Scalar::cast`]
//!   for f16/bf16);
//! - float reductions along the last axis (kept sequential so sums are bit-exact with the
//!   interpreter; each f16/bf16 result element converts through `half`);
//! - `permute` that moves the last axis (one element per copy);
//! - gathers and scatters of non-contiguous pointers, the lanes of partially masked chunks,
//!   and the atomics.

mod cast;
mod control;
mod debug;
mod dot;
mod elementwise;
pub(crate) mod fusion;
mod layout;
mod memory;
mod reduce;
mod shape;

use super::arena_slots::{elem_bytes, value_bytes, ArenaSlots};
use super::CodegenError;
use crate::cpu::helpers::HelperId;
use bitmat_ir::passes::contiguity::{self, AxisInfo};
use bitmat_ir::{Block, DType, ElemType, Kernel, Op, OpKind, Scalar, ValueId};
use cranelift_codegen::ir::{types, FuncRef, Function, InstBuilder, MemFlags, Type, Value};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use std::collections::HashMap;

/// How an element type is computed on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// `bool`, stored as a byte 0/1.
    Bool,
    /// An integer (or pointer: unsigned 64-bit) of `bits` bits.
    Int {
        /// Width.
        bits: u32,
        /// Signedness.
        signed: bool,
    },
    /// A float, computed in `f32` (`F32X4`).
    Float(DType),
}

/// The compute class of `elem`.
pub(crate) fn class(elem: ElemType) -> Class {
    match elem {
        ElemType::Ptr(_) => Class::Int {
            bits: 64,
            signed: false,
        },
        ElemType::Val(DType::Bool) => Class::Bool,
        ElemType::Val(d) if d.is_arith_float() => Class::Float(d),
        // fp8 values only move and convert (the verifier allows no arithmetic on them): bytes.
        ElemType::Val(d) if d.is_fp8() => Class::Int {
            bits: 8,
            signed: false,
        },
        ElemType::Val(d) => Class::Int {
            bits: d.bits(),
            signed: d.is_signed_int(),
        },
    }
}

/// The scalar integer type of `bytes` bytes.
pub(crate) fn int_ty(bytes: usize) -> Type {
    match bytes {
        1 => types::I8,
        2 => types::I16,
        4 => types::I32,
        _ => types::I64,
    }
}

/// The 128-bit integer vector type with lanes of `bytes` bytes.
pub(crate) fn vec_ty(bytes: usize) -> Type {
    match bytes {
        1 => types::I8X16,
        2 => types::I16X8,
        4 => types::I32X4,
        _ => types::I64X2,
    }
}

/// Lanes per chunk when computing on `elem` (floats: 4, as `F32X4`).
pub(crate) fn lanes(elem: ElemType) -> usize {
    match class(elem) {
        Class::Float(_) => 4,
        _ => 16 / elem_bytes(elem),
    }
}

/// Flags for scratch accesses: never trap, not assumed aligned.
pub(crate) fn scratch_flags() -> MemFlags {
    MemFlags::new().with_notrap()
}

/// Flags for global memory accesses.
pub(crate) fn global_flags() -> MemFlags {
    MemFlags::new()
}

/// The state of the lowering of one kernel.
pub(crate) struct Lowerer<'a, 'f> {
    /// The function being built.
    pub b: FunctionBuilder<'f>,
    /// The kernel.
    pub kernel: &'a Kernel,
    /// Slots of the values.
    pub slots: ArenaSlots,
    /// Contiguity facts per value.
    pub info: Vec<AxisInfo>,
    /// Helper functions, indexed by [`HelperId`].
    pub helpers: &'a [FuncRef],
    /// Base of the scratch arena.
    pub scratch: Value,
    /// `args` pointer.
    pub args: Value,
    /// `pid` pointer.
    pub pid: Value,
    /// `grid` pointer.
    pub grid: Value,
    /// The op being lowered, printed (for errors).
    pub op: String,
    /// Values known to be a splat of a constant (constants and their reshapes/broadcasts).
    pub consts: HashMap<ValueId, Scalar>,
    /// Number of uses of each value as an operand, over the whole kernel.
    pub uses: HashMap<ValueId, usize>,
}

/// Lowers `kernel` into `func` (whose signature is set); returns the scratch size in bytes.
pub(crate) fn lower_kernel(
    kernel: &Kernel,
    func: &mut Function,
    helpers: &[FuncRef],
) -> Result<usize, CodegenError> {
    let mut fctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(func, &mut fctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let p = b.block_params(entry).to_vec();
    let mut l = Lowerer {
        b,
        kernel,
        slots: ArenaSlots::plan(kernel),
        info: contiguity::analyze(kernel),
        helpers,
        args: p[0],
        pid: p[1],
        grid: p[2],
        scratch: p[3],
        op: "launch".into(),
        consts: bitmat_ir::passes::constants(&kernel.body),
        uses: HashMap::new(),
    };
    fusion::count_uses(&kernel.body, &mut l.uses);
    for (i, param) in kernel.params.iter().enumerate() {
        let bits =
            l.b.ins()
                .load(types::I64, MemFlags::trusted(), l.args, (i * 8) as i32);
        let bytes = elem_bytes(l.kernel.ty(param.value).elem);
        let v = l.narrow(bits, bytes);
        let addr = l.slot_addr(param.value)?;
        l.b.ins().store(scratch_flags(), v, addr, 0);
    }
    if let Some(op) = l.lower_block(&kernel.body)? {
        return Err(l.unsupported_op(op, "`yield` in the kernel body"));
    }
    l.b.ins().return_(&[]);
    l.b.seal_all_blocks();
    l.b.finalize();
    Ok(l.slots.size())
}

impl<'a, 'f> Lowerer<'a, 'f> {
    /// An error for the current op.
    pub fn unsupported(&self, reason: impl Into<String>) -> CodegenError {
        CodegenError::Unsupported {
            kernel: self.kernel.name.clone(),
            message: format!(
                "in `{}`: unsupported by the CPU backend: {}",
                self.op,
                reason.into()
            ),
        }
    }

    fn unsupported_op(&self, op: &Op, reason: &str) -> CodegenError {
        CodegenError::Unsupported {
            kernel: self.kernel.name.clone(),
            message: format!(
                "in `{}`: unsupported by the CPU backend: {reason}",
                bitmat_ir::print::op_to_string(self.kernel, op)
            ),
        }
    }

    /// The element type of `v`.
    pub fn elem(&self, v: ValueId) -> ElemType {
        self.kernel.ty(v).elem
    }

    /// The value type of `v`, or an error for pointers.
    pub fn dtype(&self, v: ValueId) -> Result<DType, CodegenError> {
        self.kernel
            .ty(v)
            .dtype()
            .ok_or_else(|| self.unsupported(format!("{v} is a pointer tile")))
    }

    /// The number of elements of `v`.
    pub fn numel(&self, v: ValueId) -> usize {
        self.kernel.ty(v).numel()
    }

    /// The shape of `v`.
    pub fn shape(&self, v: ValueId) -> Vec<u32> {
        self.kernel.ty(v).shape.clone()
    }

    /// The address of `v`'s slot.
    pub fn slot_addr(&mut self, v: ValueId) -> Result<Value, CodegenError> {
        let off = self
            .slots
            .offset(v)
            .ok_or_else(|| self.unsupported(format!("{v} has no scratch slot")))?;
        Ok(self.b.ins().iadd_imm(self.scratch, i64::from(off)))
    }

    /// The address of a fresh temporary region of `bytes` bytes.
    pub fn temp_addr(&mut self, bytes: usize) -> Value {
        let off = self.slots.alloc(bytes);
        self.b.ins().iadd_imm(self.scratch, i64::from(off))
    }

    /// `base + index * stride` (`index` is an `i64`).
    pub fn offset_addr(&mut self, base: Value, index: Value, stride: usize) -> Value {
        let o = self.b.ins().imul_imm(index, stride as i64);
        self.b.ins().iadd(base, o)
    }

    /// `bits` (an `i64`) narrowed to the scalar integer type of `bytes` bytes.
    pub fn narrow(&mut self, bits: Value, bytes: usize) -> Value {
        if bytes >= 8 {
            bits
        } else {
            self.b.ins().ireduce(int_ty(bytes), bits)
        }
    }

    /// Calls helper `id`, returning its results.
    pub fn call(&mut self, id: HelperId, args: &[Value]) -> Vec<Value> {
        let f = self.helpers[id as usize];
        let inst = self.b.ins().call(f, args);
        self.b.inst_results(inst).to_vec()
    }

    /// Emits `for i in 0..n { f(i) }` with `i: i64` (straight-line when `n <= 1`).
    pub fn counted_loop(
        &mut self,
        n: usize,
        mut f: impl FnMut(&mut Self, Value) -> Result<(), CodegenError>,
    ) -> Result<(), CodegenError> {
        self.counted_loop_carry(n, Vec::new(), |l, i, _| f(l, i).map(|()| Vec::new()))
            .map(|_| ())
    }

    /// Emits `for i in 0..n { state = f(i, state) }` and returns the final state.
    pub fn counted_loop_carry(
        &mut self,
        n: usize,
        init: Vec<Value>,
        mut f: impl FnMut(&mut Self, Value, &[Value]) -> Result<Vec<Value>, CodegenError>,
    ) -> Result<Vec<Value>, CodegenError> {
        if n == 0 {
            return Ok(init);
        }
        if n == 1 {
            let zero = self.b.ins().iconst(types::I64, 0);
            return f(self, zero, &init);
        }
        let header = self.b.create_block();
        let body = self.b.create_block();
        let exit = self.b.create_block();
        self.b.append_block_param(header, types::I64);
        for &v in &init {
            let ty = self.b.func.dfg.value_type(v);
            self.b.append_block_param(header, ty);
            self.b.append_block_param(exit, ty);
        }
        let zero = self.b.ins().iconst(types::I64, 0);
        let mut args = vec![zero];
        args.extend(&init);
        self.b.ins().jump(header, &args);
        self.b.switch_to_block(header);
        let params = self.b.block_params(header).to_vec();
        let (i, state) = (params[0], params[1..].to_vec());
        let more = self.b.ins().icmp_imm(
            cranelift_codegen::ir::condcodes::IntCC::UnsignedLessThan,
            i,
            n as i64,
        );
        self.b.ins().brif(more, body, &[], exit, &state);
        self.b.switch_to_block(body);
        let next_state = f(self, i, &state)?;
        let next = self.b.ins().iadd_imm(i, 1);
        let mut args = vec![next];
        args.extend(&next_state);
        self.b.ins().jump(header, &args);
        self.b.switch_to_block(exit);
        Ok(self.b.block_params(exit).to_vec())
    }

    /// Copies `bytes` bytes (rounded up to 16) from `src` to `dst`, in 16-byte chunks.
    pub fn copy_bytes(&mut self, dst: Value, src: Value, bytes: usize) -> Result<(), CodegenError> {
        self.counted_loop(bytes.div_ceil(16), |l, i| {
            let s = l.offset_addr(src, i, 16);
            let d = l.offset_addr(dst, i, 16);
            let v = l.b.ins().load(types::I8X16, scratch_flags(), s, 0);
            l.b.ins().store(scratch_flags(), v, d, 0);
            Ok(())
        })
    }

    /// Copies the value `src` into the slot of `dst` (same type), unless they share a slot.
    pub fn copy_value(&mut self, dst: ValueId, src: ValueId) -> Result<(), CodegenError> {
        if self.slots.offset(dst) == self.slots.offset(src) {
            return Ok(());
        }
        let bytes = value_bytes(self.kernel.ty(src));
        let (d, s) = (self.slot_addr(dst)?, self.slot_addr(src)?);
        self.copy_bytes(d, s, bytes)
    }

    /// Loads a chunk of `lanes(elem)` elements at `addr` in its compute type (`F32X4` for
    /// floats, converting f16/bf16).
    pub fn load_chunk(&mut self, elem: ElemType, addr: Value) -> Value {
        match class(elem) {
            Class::Float(DType::F32) => self.b.ins().load(types::F32X4, scratch_flags(), addr, 0),
            Class::Float(DType::BF16) => self.bf16x4_to_f32x4(addr),
            Class::Float(_) => self.f16x4_to_f32x4(addr),
            _ => {
                let ty = vec_ty(elem_bytes(elem));
                self.b.ins().load(ty, scratch_flags(), addr, 0)
            }
        }
    }

    /// Stores a chunk computed by [`Self::load_chunk`]'s conventions.
    pub fn store_chunk(&mut self, elem: ElemType, addr: Value, v: Value) {
        match class(elem) {
            Class::Float(DType::F32) | Class::Int { .. } | Class::Bool => {
                self.b.ins().store(scratch_flags(), v, addr, 0);
            }
            Class::Float(DType::BF16) => self.f32x4_to_bf16x4(v, addr),
            Class::Float(_) => self.f32x4_to_f16x4(v, addr),
        }
    }

    /// Four f16 at `addr` widened to `F32X4` (exact; NaNs get the quiet bit, as `half`).
    /// Normals and subnormals: `(h & 0x7fff) << 13` as an f32, times 2^112.
    fn f16x4_to_f32x4(&mut self, addr: Value) -> Value {
        use cranelift_codegen::ir::condcodes::IntCC;
        let h = self.b.ins().uload16x4(scratch_flags(), addr, 0);
        let c = |l: &mut Self, v: i64| l.splat_const(types::I32X4, v);
        let m7fff = c(self, 0x7fff);
        let mag = self.b.ins().band(h, m7fff);
        let shifted = self.b.ins().ishl_imm(mag, 13);
        let f = self.b.ins().bitcast(types::F32X4, MemFlags::new(), shifted);
        let scale = self.splat_const(types::F32X4, i64::from((2f32).powi(112).to_bits()));
        let f = self.b.ins().fmul(f, scale);
        let finite = self.b.ins().bitcast(types::I32X4, MemFlags::new(), f);
        // Infinities and NaNs.
        let e = c(self, 0x7c00);
        let exp = self.b.ins().band(h, e);
        let special = self.b.ins().icmp(IntCC::Equal, exp, e);
        let is_nan = self.b.ins().icmp(IntCC::SignedGreaterThan, mag, e);
        let man = c(self, 0x3ff);
        let man = self.b.ins().band(h, man);
        let man = self.b.ins().ishl_imm(man, 13);
        let inf = c(self, 0x7f80_0000);
        let qnan = c(self, 0x7fc0_0000);
        let top = self.b.ins().bitselect(is_nan, qnan, inf);
        let sp = self.b.ins().bor(top, man);
        let bits = self.b.ins().bitselect(special, sp, finite);
        let sm = c(self, 0x8000);
        let sign = self.b.ins().band(h, sm);
        let sign = self.b.ins().ishl_imm(sign, 16);
        let bits = self.b.ins().bor(bits, sign);
        self.b.ins().bitcast(types::F32X4, MemFlags::new(), bits)
    }

    /// Stores `F32X4` as four f16 at `addr`, rounding to nearest even as `half` does
    /// (F. Giesen's branchless `float_to_half_fast3_rtne`; NaNs keep their top payload bits
    /// and get the quiet bit).
    fn f32x4_to_f16x4(&mut self, v: Value, addr: Value) {
        use cranelift_codegen::ir::condcodes::IntCC;
        let c = |l: &mut Self, v: i64| l.splat_const(types::I32X4, v);
        let x = self.b.ins().bitcast(types::I32X4, MemFlags::new(), v);
        let sm = c(self, 0x8000_0000u32 as i64);
        let sign = self.b.ins().band(x, sm);
        let a = self.b.ins().bxor(x, sign);
        // Overflow to infinity, and NaN.
        let f16max = c(self, (127 + 16) << 23);
        let big = self
            .b
            .ins()
            .icmp(IntCC::SignedGreaterThanOrEqual, a, f16max);
        let f32inf = c(self, 255 << 23);
        let is_nan = self.b.ins().icmp(IntCC::SignedGreaterThan, a, f32inf);
        let manm = c(self, 0x7f_ffff);
        let payload = self.b.ins().band(a, manm);
        let payload = self.b.ins().ushr_imm(payload, 13);
        let q = c(self, 0x7e00);
        let nan = self.b.ins().bor(payload, q);
        let inf16 = c(self, 0x7c00);
        let big_r = self.b.ins().bitselect(is_nan, nan, inf16);
        // Subnormal results: add a magic number in float, which rounds to nearest even.
        let dm_bits = ((127 - 15) + (23 - 10) + 1) << 23;
        let dm = c(self, dm_bits);
        let af = self.b.ins().bitcast(types::F32X4, MemFlags::new(), a);
        let dmf = self.b.ins().bitcast(types::F32X4, MemFlags::new(), dm);
        let sum = self.b.ins().fadd(af, dmf);
        let sum = self.b.ins().bitcast(types::I32X4, MemFlags::new(), sum);
        let sub_r = self.b.ins().isub(sum, dm);
        let min_normal = c(self, 113 << 23);
        let small = self.b.ins().icmp(IntCC::SignedLessThan, a, min_normal);
        // Normal results: rebias, add 0xfff plus the lowest kept bit, shift.
        let odd = self.b.ins().ushr_imm(a, 13);
        let one = c(self, 1);
        let odd = self.b.ins().band(odd, one);
        let bias = c(self, (((15 - 127) << 23) + 0xfff) as u32 as i64);
        let n = self.b.ins().iadd(a, bias);
        let n = self.b.ins().iadd(n, odd);
        let norm_r = self.b.ins().ushr_imm(n, 13);
        let r = self.b.ins().bitselect(small, sub_r, norm_r);
        let r = self.b.ins().bitselect(big, big_r, r);
        let s16 = self.b.ins().ushr_imm(sign, 16);
        let r = self.b.ins().bor(r, s16);
        let n = self.b.ins().unarrow(r, r);
        let n = self.b.ins().bitcast(
            types::I64X2,
            MemFlags::new().with_endianness(cranelift_codegen::ir::Endianness::Little),
            n,
        );
        let lo = self.b.ins().extractlane(n, 0);
        self.b.ins().store(scratch_flags(), lo, addr, 0);
    }

    /// Four bf16 at `addr` widened to `F32X4` as `half` does (NaNs get the quiet bit).
    fn bf16x4_to_f32x4(&mut self, addr: Value) -> Value {
        use cranelift_codegen::ir::condcodes::IntCC;
        let h = self.b.ins().uload16x4(scratch_flags(), addr, 0);
        let m = self.splat_const(types::I32X4, 0x7fff);
        let mag = self.b.ins().band(h, m);
        let inf = self.splat_const(types::I32X4, 0x7f80);
        let nan = self.b.ins().icmp(IntCC::SignedGreaterThan, mag, inf);
        let q = self.splat_const(types::I32X4, 0x40);
        let quiet = self.b.ins().bor(h, q);
        let h = self.b.ins().bitselect(nan, quiet, h);
        let w = self.b.ins().ishl_imm(h, 16);
        self.b.ins().bitcast(types::F32X4, MemFlags::new(), w)
    }

    /// Stores `F32X4` as four bf16 at `addr`, rounding to nearest even as `half` does.
    fn f32x4_to_bf16x4(&mut self, v: Value, addr: Value) {
        use cranelift_codegen::ir::condcodes::IntCC;
        let x = self.b.ins().bitcast(types::I32X4, MemFlags::new(), v);
        let m = self.splat_const(types::I32X4, 0x7fff_ffff);
        let mag = self.b.ins().band(x, m);
        let inf = self.splat_const(types::I32X4, 0x7f80_0000);
        let nan = self.b.ins().icmp(IntCC::SignedGreaterThan, mag, inf);
        let hi = self.b.ins().ushr_imm(x, 16);
        let q = self.splat_const(types::I32X4, 0x40);
        let quiet = self.b.ins().bor(hi, q);
        // Round up when the round bit is set and the value is not an exact tie to even.
        let rb = self.splat_const(types::I32X4, 0x8000);
        let round_bit = self.b.ins().band(x, rb);
        let sticky_m = self.splat_const(types::I32X4, 3 * 0x8000 - 1);
        let sticky = self.b.ins().band(x, sticky_m);
        let zero = self.splat_const(types::I32X4, 0);
        let has_round = self.b.ins().icmp(IntCC::NotEqual, round_bit, zero);
        let has_sticky = self.b.ins().icmp(IntCC::NotEqual, sticky, zero);
        let up = self.b.ins().band(has_round, has_sticky);
        // `up` is -1 in lanes to round up: subtracting it adds one.
        let rounded = self.b.ins().isub(hi, up);
        let r = self.b.ins().bitselect(nan, quiet, rounded);
        let mask16 = self.splat_const(types::I32X4, 0xffff);
        let r = self.b.ins().band(r, mask16);
        let n = self.b.ins().unarrow(r, r);
        let n = self.b.ins().bitcast(
            types::I64X2,
            MemFlags::new().with_endianness(cranelift_codegen::ir::Endianness::Little),
            n,
        );
        let lo = self.b.ins().extractlane(n, 0);
        self.b.ins().store(scratch_flags(), lo, addr, 0);
    }

    /// Loads one float element of type `d` at `addr + off` as an `f32`.
    pub fn load_f32(&mut self, d: DType, addr: Value, off: i32) -> Value {
        match d {
            DType::F32 => self.b.ins().load(types::F32, scratch_flags(), addr, off),
            _ => {
                let bits = self.b.ins().uload16(types::I32, scratch_flags(), addr, off);
                let h = if d == DType::F16 {
                    HelperId::F16ToF32
                } else {
                    HelperId::Bf16ToF32
                };
                self.call(h, &[bits])[0]
            }
        }
    }

    /// Stores the `f32` `x` at `addr + off` as a float element of type `d` (rounding).
    pub fn store_f32(&mut self, d: DType, x: Value, addr: Value, off: i32) {
        match d {
            DType::F32 => {
                self.b.ins().store(scratch_flags(), x, addr, off);
            }
            _ => {
                let h = if d == DType::F16 {
                    HelperId::F32ToF16
                } else {
                    HelperId::F32ToBf16
                };
                let bits = self.call(h, &[x])[0];
                self.b.ins().istore16(scratch_flags(), bits, addr, off);
            }
        }
    }

    /// Lowers the ops of `block`; returns the values of its final `yield`, if any.
    pub fn lower_block<'b>(&mut self, block: &'b Block) -> Result<Option<&'b Op>, CodegenError> {
        let runs = fusion::runs(self.kernel, block);
        let mut next_run = runs.iter().peekable();
        let mut i = 0;
        while let Some(op) = block.ops.get(i) {
            if let Some(run) = next_run.next_if(|r| r.span.start == i) {
                self.lower_run(&block.ops, run)?;
                i = run.span.end;
                continue;
            }
            self.op = bitmat_ir::print::op_to_string(self.kernel, op);
            if let OpKind::Yield(_) = op.kind {
                return Ok(Some(op));
            }
            self.lower_op(op)?;
            i += 1;
        }
        Ok(None)
    }

    fn result(&self, op: &Op) -> Result<ValueId, CodegenError> {
        op.results
            .first()
            .copied()
            .ok_or_else(|| self.unsupported("op without a result"))
    }

    fn lower_op(&mut self, op: &Op) -> Result<(), CodegenError> {
        match &op.kind {
            OpKind::Constant(s) => self.constant(*s, self.result(op)?),
            OpKind::ProgramId(axis) => self.program_index(self.pid, *axis, self.result(op)?),
            OpKind::NumPrograms(axis) => self.program_index(self.grid, *axis, self.result(op)?),
            OpKind::Arange(n) => self.arange(*n, self.result(op)?),
            OpKind::Unary(u, x) => self.unary(*u, *x, self.result(op)?),
            OpKind::Binary(bop, a, b) => self.binary(*bop, *a, *b, self.result(op)?),
            OpKind::Cmp(pred, a, b) => self.cmp(*pred, *a, *b, self.result(op)?),
            OpKind::Select {
                cond,
                on_true,
                on_false,
            } => self.select(*cond, *on_true, *on_false, self.result(op)?),
            OpKind::Fma(a, b, c) => self.fma(*a, *b, *c, self.result(op)?),
            OpKind::Cast(x) => self.cast(*x, self.result(op)?),
            OpKind::Bitcast(x)
            | OpKind::Reshape(x)
            | OpKind::Hint { value: x, .. }
            | OpKind::ExpandDims { value: x, .. } => {
                // Same bytes: the result shares the operand's slot (see `scratch`).
                let r = self.result(op)?;
                if self.slots.offset(r) != self.slots.offset(*x) {
                    self.copy_value(r, *x)?;
                }
                Ok(())
            }
            OpKind::Broadcast(x) => self.broadcast(*x, self.result(op)?),
            OpKind::Permute { value, perm } => self.permute(*value, perm, self.result(op)?),
            OpKind::Concat { a, b, axis } => self.concat(*a, *b, *axis, self.result(op)?),
            OpKind::Slice { value, axis, start } => {
                self.slice(*value, *axis, *start, self.result(op)?)
            }
            OpKind::Reduce {
                op: rop,
                value,
                axis,
            } => self.reduce(*rop, *value, *axis, self.result(op)?),
            OpKind::Dot { a, b, acc } => self.dot(*a, *b, *acc, self.result(op)?),
            OpKind::AddPtr { ptr, offset } => self.add_ptr(*ptr, *offset, self.result(op)?),
            OpKind::Load { ptr, mask, other } => self.load(*ptr, *mask, *other, self.result(op)?),
            OpKind::Store { ptr, value, mask } => self.store(*ptr, *value, *mask),
            OpKind::Atomic {
                op: aop,
                ptr,
                value,
                mask,
            } => self.atomic(Some(*aop), *ptr, None, *value, *mask, self.result(op)?),
            OpKind::AtomicCas {
                ptr,
                cmp,
                value,
                mask,
            } => self.atomic(None, *ptr, Some(*cmp), *value, *mask, self.result(op)?),
            OpKind::For {
                lower,
                upper,
                step,
                init,
                body,
            } => self.for_loop(op, [*lower, *upper, *step], init, body),
            OpKind::While { init, body } => self.while_loop(op, init, body),
            OpKind::If {
                cond,
                then_block,
                else_block,
            } => self.if_op(op, *cond, then_block, else_block),
            OpKind::Print { label, value } => self.device_print(label, *value),
            OpKind::Assert { .. } => Err(self.unsupported(
                "`device_assert` outside a debug launch (which checks it through passes::bounds)",
            )),
            OpKind::Yield(_) => Err(self.unsupported("`yield` outside the end of a block")),
        }
    }

    fn program_index(&mut self, base: Value, axis: u8, r: ValueId) -> Result<(), CodegenError> {
        if axis > 2 {
            return Err(self.unsupported(format!("grid axis {axis}")));
        }
        let v = self
            .b
            .ins()
            .load(types::I32, MemFlags::trusted(), base, i32::from(axis) * 4);
        let addr = self.slot_addr(r)?;
        self.b.ins().store(scratch_flags(), v, addr, 0);
        Ok(())
    }
}

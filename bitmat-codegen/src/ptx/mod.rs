//! The PTX backend: lowers a verified kernel to PTX text, which the CUDA driver assembles at
//! load time (no CUDA toolkit is needed to build bitmat).
//!
//! A program is one CTA of `num_warps * 32` threads. The pipeline, Triton's TritonGPU in
//! small:
//! 1. **Layouts as data** (`layout.rs`): every tile value has a linear layout, register, lane
//!    and warp bits mapped to bits of its row-major flat index; scalars are held by every
//!    thread. `assign.rs` gives each value one: coalesced blocked layouts (16 bytes per thread
//!    where the contiguity analysis allows) at loads and stores, the `mma.sync` accumulator
//!    layout at `dot`, spread through elementwise ops, shape changes and loops; reductions
//!    leave slices, so broadcasting their result back moves no data.
//! 2. **Conversions** where two layouts meet (`lower/convert.rs`): register renaming when every
//!    element stays in its thread, recomputation when the value is cheap (an `arange`, a splat
//!    and their arithmetic), otherwise through padded, conflict-free shared memory; values
//!    defined before a loop are converted once, before it.
//! 3. **Specialization** on launch facts (`bitmat_ir::passes::specialize`): 16-byte aligned
//!    pointers, integers equal to 1 or multiples of 16, so that proven vector accesses and
//!    uniform masks need no run-time test.
//! 4. **Lowering** of each op on its layout: elementwise ops per register; `reduce` in
//!    registers, then `shfl.sync.bfly` across lanes, then shared memory across warps
//!    (`lower/reduce.rs`); `dot` of i8, f16 or bf16 on tensor cores with the accumulator in
//!    registers and operands read by `ldmatrix` (`lower/mma_frag.rs`); loads that feed a `dot`
//!    in a `range` loop pipelined through `num_stages`-deep `cp.async` rings
//!    (`lower/pipeline.rs`), the loop's other loads issued ahead into registers
//!    (`lower/held.rs`), and a `dot` operand the body computes (decoded weights) written to
//!    alternating shared areas behind the iteration's one barrier, a step ahead with three
//!    stages or more (`lower/staged.rs`); scalars that a loop does not change are computed
//!    before it; loops and branches are uniform. The PTX lists each value's layout and marks
//!    every conversion, pipelined loop and `dot` in comments.
//!
//! Results match the reference interpreter bit for bit except where noted: float sums of
//! `reduce` are tree-ordered (each thread's elements in index order, then pairwise across
//! lanes and warps) where the interpreter adds in index order, so they may differ from it in
//! the last bits (by at most about `2 (n - 1) 2^-24 sum |x|` for `n` terms, plus one rounding
//! of f16/bf16); integer sums (which wrap), `max`, `min` and reductions that stay within one
//! thread are exact. f16/bf16 `dot` sums on tensor cores in their own order (with products
//! kept wider than f32, so a bf16 dot whose products overflow f32 may give an infinity where
//! the interpreter gives NaN), and `exp`/`log` use the hardware approximations. NaN payloads
//! are not kept: arithmetic returns the canonical NaN, and since f16/bf16 values live in f32
//! registers, a 16-bit bitcast whose input or result is a NaN f16/bf16 gives the canonical
//! NaN's bits (`0x7fff`) rather than the input's.
//!
//! Parameters: a `Ptr<T>` is a `.u64` global address; a 64-bit scalar a `.u64`; every other
//! scalar a `.u32` holding the value's bits, sign-extended (signed integers), zero-extended
//! (unsigned integers, f16/bf16 bits) or 0/1 (`bool`).

mod assign;
mod emit;
mod layout;
mod lower;
mod narrow;
mod regs;
mod target;

pub use target::{PtxTarget, FP8_MMA_ISA_VERSION};

use crate::CodegenError;
use bitmat_ir::{DType, Kernel, ParamKind};
use emit::Emitter;
use regs::{dclass, Class};

/// A kernel compiled to PTX, with what a launch needs to know. Serializable
/// ([`PtxModule::to_bytes`]) for the runtime's disk cache.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PtxModule {
    /// The PTX source of the module (one `.entry`).
    pub text: String,
    /// The entry point's name.
    pub entry: String,
    /// Bytes of dynamic shared memory to request at launch.
    pub shared_bytes: u32,
    /// Threads per CTA (`num_warps * 32`).
    pub threads: u32,
}

/// Tag of serialized modules, checked by [`PtxModule::from_bytes`]; bumped whenever the layout
/// of [`PtxModule`] changes.
const FORMAT: [u8; 8] = *b"BMPTX\0\0\x01";

impl PtxModule {
    /// The module in bitmat's serialized form (a format tag, then postcard).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = FORMAT.to_vec();
        // Serializing owned, plain data into a Vec cannot fail.
        out.extend(postcard::to_allocvec(self).expect("PtxModule serializes"));
        out
    }

    /// Reads a module written by [`PtxModule::to_bytes`], checking the format tag, that
    /// nothing trails it, and that its launch parameters are in range (threads a multiple of
    /// 32 up to 1024, an entry name PTX accepts).
    pub fn from_bytes(bytes: &[u8]) -> Result<PtxModule, CodegenError> {
        let bad = |m: String| CodegenError::Object(format!("PTX module: {m}"));
        let body = bytes
            .strip_prefix(&FORMAT)
            .ok_or_else(|| bad("not a bitmat PTX module of this format".into()))?;
        let (m, rest): (PtxModule, &[u8]) =
            postcard::take_from_bytes(body).map_err(|e| bad(format!("cannot decode: {e}")))?;
        if !rest.is_empty() {
            return Err(bad(format!("{} trailing bytes", rest.len())));
        }
        if m.threads == 0 || m.threads % 32 != 0 || m.threads > 1024 {
            return Err(bad(format!("{} threads per CTA", m.threads)));
        }
        if m.entry.is_empty() || entry_name(&m.entry) != m.entry {
            return Err(bad(format!("entry name `{}`", m.entry)));
        }
        Ok(m)
    }
}

/// The entry name for a kernel: its name with characters PTX does not accept replaced.
fn entry_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert_str(0, "k_");
    }
    s
}

/// Whether a parameter of kind `kind` is declared as a `.u64` PTX parameter (pointers and
/// 64-bit scalars) rather than `.u32` (every narrower scalar, sign-extended for signed
/// integers). [`compile_ptx`] declares the entry's parameters by it, and the runtime packs
/// launch arguments by it.
pub fn param_is_64bit(kind: ParamKind) -> bool {
    match kind {
        ParamKind::Ptr(_) => true,
        ParamKind::Scalar(d) => d.bits() == 64,
    }
}

/// What shapes the code of a kernel besides its IR and target.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct PtxOptions {
    /// Warps per program (a power of two from 1 to 32).
    pub num_warps: u32,
    /// Stages of the `cp.async` rings of pipelined loops (1 to 8; 1 pipelines nothing).
    pub num_stages: u32,
}

impl Default for PtxOptions {
    /// 4 warps, 2 stages (Triton's defaults are 4 and 3; 2 stages fit every tuner tile in the
    /// shared memory of every target).
    fn default() -> Self {
        PtxOptions {
            num_warps: 4,
            num_stages: 2,
        }
    }
}

impl PtxOptions {
    /// `num_warps` warps, 2 stages.
    pub fn warps(num_warps: u32) -> Self {
        PtxOptions {
            num_warps,
            ..PtxOptions::default()
        }
    }
}

/// Compiles `kernel` to PTX for `target` with `options`.
pub fn compile_ptx(
    kernel: &Kernel,
    target: PtxTarget,
    options: PtxOptions,
) -> Result<PtxModule, CodegenError> {
    let PtxOptions {
        num_warps,
        num_stages,
    } = options;
    if !num_warps.is_power_of_two() || num_warps > 32 {
        return Err(CodegenError::Option(format!(
            "num_warps must be a power of two from 1 to 32, got {num_warps}"
        )));
    }
    if !(1..=8).contains(&num_stages) {
        return Err(CodegenError::Option(format!(
            "num_stages must be from 1 to 8, got {num_stages}"
        )));
    }
    bitmat_ir::verify::verify(kernel).map_err(|e| CodegenError::Invalid {
        kernel: kernel.name.clone(),
        message: e.to_string(),
    })?;
    // Targets with fp8 `mma` run fp8 dots as they are; the others on f16 tensor cores.
    let fp8_mma = target.has_fp8() && bitmat_ir::passes::fp8_dot::has_fp8_dot(kernel);
    let widened = if target.has_fp8() {
        std::borrow::Cow::Borrowed(kernel)
    } else {
        crate::widen_fp8_dots(kernel)
    };
    let kernel = widened.as_ref();
    let threads = num_warps * 32;
    let entry = entry_name(&kernel.name);
    let mut e = Emitter::new(kernel, target, threads, num_stages);
    let mut params = Vec::new();
    for (i, p) in kernel.params.iter().enumerate() {
        let pname = format!("{entry}_param_{i}");
        let wide = param_is_64bit(p.kind);
        params.push(format!(
            "    .param .{} {pname}",
            if wide { "u64" } else { "u32" }
        ));
        let r = match p.kind {
            ParamKind::Ptr(_) => {
                let r = e.reg(Class::B64);
                e.line(format!("ld.param.u64 {r}, [{pname}];"));
                e.line(format!("cvta.to.global.u64 {r}, {r};"));
                r
            }
            ParamKind::Scalar(d) => load_scalar_param(&mut e, d, &pname),
        };
        e.define(p.value, vec![r]);
    }
    e.emit_block(&kernel.body)?;
    e.line("ret;");
    let locals = if e.print_args > 0 {
        format!(
            "    .local .align 8 .b8 {}[{}];\n",
            lower::debug::PRINT_ARGS,
            e.print_args
        )
    } else {
        String::new()
    };
    let body = format!("{locals}{}{}{}", e.layout_comments(), e.prologue, e.body);
    let mut shared = format!(
        ".extern .shared .align {} .b8 bm_smem[];\n\n",
        e.shared_align
    );
    if e.prints > 0 {
        shared.push_str(lower::debug::VPRINTF_DECL);
        shared.push_str(&e.globals);
        shared.push('\n');
    }
    let text = format!(
        "//\n// Generated by bitmat for kernel `{name}`\n//\n\n.version {ver}\n.target {arch}\n.address_size 64\n\n{shared}.visible .entry {entry}(\n{params}\n)\n.maxntid {threads}, 1, 1\n{{\n{decls}{body}}}\n",
        name = kernel.name,
        ver = if fp8_mma {
            FP8_MMA_ISA_VERSION
        } else {
            target.isa_version()
        },
        arch = target.arch(),
        params = params.join(",\n"),
        decls = e.regs.declarations(),
        body = body,
    );
    Ok(PtxModule {
        text,
        entry,
        shared_bytes: e.shared_bytes,
        threads,
    })
}

fn load_scalar_param(e: &mut Emitter<'_>, d: DType, pname: &str) -> String {
    let r = e.reg(dclass(d));
    match dclass(d) {
        Class::B64 => e.line(format!("ld.param.u64 {r}, [{pname}];")),
        Class::B32 => {
            e.line(format!("ld.param.u32 {r}, [{pname}];"));
            e.normalize(d, &r);
        }
        Class::Pred => {
            let t = e.reg(Class::B32);
            e.line(format!("ld.param.u32 {t}, [{pname}];"));
            e.line(format!("setp.ne.u32 {r}, {t}, 0;"));
        }
        Class::F32 | Class::B16 => {
            if d == DType::F32 {
                e.line(format!("ld.param.f32 {r}, [{pname}];"));
            } else {
                let (t, h) = (e.reg(Class::B32), e.reg(Class::B16));
                e.line(format!("ld.param.u32 {t}, [{pname}];"));
                e.line(format!("cvt.u16.u32 {h}, {t};"));
                e.half_bits_to_f32(d, &h, &r);
            }
        }
    }
    r
}

//! The tile IR as LLVM IR text, one module per family of ops.
//!
//! Every IR value is held as *chunks*: LLVM vectors of [`CHUNK`] consecutive lanes in
//! row-major order (one vector `<numel x T>` for smaller tiles; a scalar is `<1 x T>`), in SSA
//! registers. Vectors of native width keep LLVM's code generator linear in the tile size
//! (single vectors of thousands of lanes took it seconds to minutes per kernel); LLVM's
//! register allocator decides what stays in registers. Elementwise ops and casts work chunk by
//! chunk, shape ops (`reshape`, `expand_dims`) are free, `broadcast` picks each result chunk's
//! lanes with one `shufflevector`. Element types in registers: `bool` is `i1`, f16 and bf16 are
//! their `i16` bits (converted to `float` to compute, rounded back to nearest even), pointers
//! are `ptr`; in memory `bool` is a byte.
//!
//! The text is parsed back by LLVM ([`super::compile`]); it is what `BITMAT_DUMP=clif` prints
//! for this backend.

mod cast;
mod control;
mod debug;
mod dot;
mod elementwise;
mod memory;
mod reduce;
mod shape;

use crate::cpu::helpers::{self, AbiType};
use crate::CodegenError;
use bitmat_ir::passes::contiguity::{self, AxisInfo};
use bitmat_ir::{Block, DType, ElemType, Kernel, OpKind, TileType, ValueId};
use std::fmt::Write;

/// The name of the program function in the module.
pub(crate) const PROGRAM: &str = "bitmat_program";

/// Lanes per chunk of a tile: 16 lanes of 32 bits are one AVX-512 register. (Chunks of 64
/// lanes, one register of bytes, make LLVM's DAG combiner take minutes on shuffles and
/// gathers of `<64 x ptr>`.)
pub(crate) const CHUNK: usize = 16;

/// The lanes of each chunk of a tile of `numel` lanes.
pub(crate) fn chunk_lanes(numel: usize) -> usize {
    numel.clamp(1, CHUNK)
}

/// The LLVM element type of `elem` in registers.
pub(crate) fn reg_elem(elem: ElemType) -> &'static str {
    match elem {
        ElemType::Ptr(_) => "ptr",
        ElemType::Val(d) => match d {
            DType::Bool => "i1",
            DType::I8 | DType::U8 | DType::F8E4M3 | DType::F8E5M2 => "i8",
            DType::I16 | DType::U16 | DType::F16 | DType::BF16 => "i16",
            DType::I32 | DType::U32 => "i32",
            DType::I64 | DType::U64 => "i64",
            DType::F32 => "float",
        },
    }
}

/// The LLVM element type of `d` in memory (`bool` is a byte).
pub(crate) fn mem_elem(d: DType) -> &'static str {
    match d {
        DType::Bool => "i8",
        d => reg_elem(ElemType::Val(d)),
    }
}

/// `<n x t>`.
pub(crate) fn vec(n: usize, t: &str) -> String {
    format!("<{n} x {t}>")
}

/// A constant vector `<i32 a, i32 b, ..>` of the given indices (a `shufflevector` mask).
pub(crate) fn index_mask(idx: impl IntoIterator<Item = usize>) -> String {
    let items: Vec<String> = idx.into_iter().map(|i| format!("i32 {i}")).collect();
    format!("<{}>", items.join(", "))
}

/// A computed operand: its LLVM text (a `%name` or a constant) and its type.
#[derive(Clone, Debug)]
pub(crate) struct Operand {
    /// The operand as written in an instruction (`%t3`, `zeroinitializer`, ...).
    pub text: String,
    /// Its LLVM type (`<16 x i32>`).
    pub ty: String,
}

/// The state of the emission of one kernel.
pub(crate) struct Emitter<'k> {
    /// The kernel.
    pub kernel: &'k Kernel,
    /// The function body being written.
    pub body: String,
    /// The label of the basic block being written (for `phi`s).
    pub block: String,
    /// The chunks of each IR value, once defined.
    pub vals: Vec<Option<Vec<Operand>>>,
    /// Contiguity facts per value (vector loads and stores).
    pub info: Vec<AxisInfo>,
    /// The op being emitted, for errors.
    pub op: &'static str,
    /// Declarations the body needs (intrinsics, helpers), deduplicated.
    decls: Vec<String>,
    /// Stack buffers, written at the top of the entry block.
    allocas: String,
    /// The stack slot masked-off lanes of gathers and scatters point at, once made.
    spare: Option<String>,
    next: u32,
}

/// The LLVM IR module of `kernel`'s program function (the ABI of [`crate::cpu::abi`]).
pub(crate) fn emit_module(kernel: &Kernel) -> Result<String, CodegenError> {
    let mut e = Emitter {
        kernel,
        body: String::new(),
        block: "entry".into(),
        vals: vec![None; kernel.values.len()],
        info: contiguity::analyze(kernel),
        op: "launch",
        decls: Vec::new(),
        allocas: String::new(),
        spare: None,
        next: 0,
    };
    e.params()?;
    if e.emit_block(&kernel.body)?.is_some() {
        return Err(e.unsupported("`yield` in the kernel body"));
    }
    e.line("ret void");
    let mut m = String::new();
    for d in &e.decls {
        m.push_str(d);
        m.push('\n');
    }
    // `nounwind`: no unwind tables, so the object's only sections are code and constants.
    let _ = writeln!(
        m,
        "define void @{PROGRAM}(ptr noalias readonly %args, ptr noalias readonly %pid, \
         ptr noalias readonly %grid, ptr noalias %scratch) nounwind {{\nentry:"
    );
    m.push_str(&e.allocas);
    m.push_str(&e.body);
    m.push_str("}\n");
    Ok(m)
}

impl<'k> Emitter<'k> {
    /// An error for the current op.
    pub fn unsupported(&self, reason: impl Into<String>) -> CodegenError {
        CodegenError::Unsupported {
            kernel: self.kernel.name.clone(),
            message: format!("`{}`: {}", self.op, reason.into()),
        }
    }

    /// Writes one instruction line.
    pub fn line(&mut self, text: impl AsRef<str>) {
        self.body.push_str("  ");
        self.body.push_str(text.as_ref());
        self.body.push('\n');
    }

    /// A fresh SSA name.
    pub fn fresh(&mut self) -> String {
        self.next += 1;
        format!("%t{}", self.next)
    }

    /// A fresh block label (without `%`).
    pub fn label(&mut self, hint: &str) -> String {
        self.next += 1;
        format!("{hint}{}", self.next)
    }

    /// Starts the block `label`.
    pub fn start_block(&mut self, label: &str) {
        let _ = writeln!(self.body, "{label}:");
        self.block = label.to_string();
    }

    /// Writes `%t = <text>` and returns the operand of type `ty`.
    pub fn ins(&mut self, ty: impl Into<String>, text: impl AsRef<str>) -> Operand {
        let name = self.fresh();
        self.line(format!("{name} = {}", text.as_ref()));
        Operand {
            text: name,
            ty: ty.into(),
        }
    }

    /// A 64-byte aligned stack buffer of `bytes` bytes (allocated once, on entry).
    pub fn stack_buffer(&mut self, bytes: usize) -> String {
        let name = self.fresh();
        let _ = writeln!(self.allocas, "  {name} = alloca [{bytes} x i8], align 64");
        name
    }

    /// Stores `chunks` (element type `elem`, held as in memory) one after another at `buf`.
    pub fn store_chunks(&mut self, chunks: &[Operand], elem: &str, buf: &str) {
        let mut at = 0;
        for c in chunks {
            let p = self.ins("ptr", format!("getelementptr {elem}, ptr {buf}, i64 {at}"));
            self.line(format!(
                "store {} {}, ptr {}, align 4",
                c.ty, c.text, p.text
            ));
            at += vec_lanes(&c.ty);
        }
    }

    /// Loads `numel` lanes of element type `elem` from `buf` as chunks of `lanes` lanes.
    pub fn load_chunks(
        &mut self,
        buf: &str,
        elem: &str,
        numel: usize,
        lanes: usize,
    ) -> Vec<Operand> {
        let t = vec(lanes, elem);
        (0..numel.div_ceil(lanes))
            .map(|c| {
                let p = self.ins(
                    "ptr",
                    format!("getelementptr {elem}, ptr {buf}, i64 {}", c * lanes),
                );
                self.ins(t.clone(), format!("load {t}, ptr {}, align 4", p.text))
            })
            .collect()
    }

    /// Adds a declaration to the module (once).
    pub fn declare(&mut self, decl: String) {
        if !self.decls.contains(&decl) {
            self.decls.push(decl);
        }
    }

    /// Calls the intrinsic `name` (declared from `ret` and the parameter types of `args`).
    pub fn intrinsic(&mut self, ret: &str, name: &str, args: &[&Operand]) -> Operand {
        let params: Vec<&str> = args.iter().map(|a| a.ty.as_str()).collect();
        self.declare(format!("declare {ret} @{name}({})", params.join(", ")));
        let list: Vec<String> = args
            .iter()
            .map(|a| format!("{} {}", a.ty, a.text))
            .collect();
        self.ins(ret, format!("call {ret} @{name}({})", list.join(", ")))
    }

    /// The type of IR value `v`.
    pub fn ty(&self, v: ValueId) -> &'k TileType {
        &self.kernel.values[v.index()]
    }

    /// Lanes of IR value `v` (1 for a scalar).
    pub fn numel(&self, v: ValueId) -> usize {
        self.ty(v).numel()
    }

    /// The value type of `v`, or an error for pointers.
    pub fn dtype(&self, v: ValueId) -> Result<DType, CodegenError> {
        self.ty(v)
            .dtype()
            .ok_or_else(|| self.unsupported("a pointer where a value is expected"))
    }

    /// The lanes of each chunk of IR value `v`.
    pub fn lanes(&self, v: ValueId) -> usize {
        chunk_lanes(self.numel(v))
    }

    /// The LLVM vector type of a chunk of IR value `v`.
    pub fn vty(&self, v: ValueId) -> String {
        vec(self.lanes(v), reg_elem(self.ty(v).elem))
    }

    /// The chunks of `v`.
    pub fn chunks(&self, v: ValueId) -> Result<Vec<Operand>, CodegenError> {
        self.vals
            .get(v.index())
            .cloned()
            .flatten()
            .ok_or_else(|| self.unsupported(format!("{v} used before its definition")))
    }

    /// Binds `v` to its chunks.
    pub fn set_chunks(&mut self, v: ValueId, chunks: Vec<Operand>) {
        debug_assert_eq!(chunks.len(), self.numel(v).div_ceil(CHUNK).max(1));
        self.vals[v.index()] = Some(chunks);
    }

    /// `v` as one vector of all its lanes (for small tiles: it concatenates the chunks).
    pub fn get(&mut self, v: ValueId) -> Result<Operand, CodegenError> {
        let chunks = self.chunks(v)?;
        Ok(self.concat(chunks, reg_elem(self.ty(v).elem)))
    }

    /// `o` (element type `elem`) cut into vectors of `lanes` lanes.
    pub fn split(&mut self, o: &Operand, elem: &str, lanes: usize) -> Vec<Operand> {
        let n = vec_lanes(&o.ty);
        (0..n.div_ceil(lanes))
            .map(|c| self.shuffle(o, elem, &(c * lanes..(c + 1) * lanes).collect::<Vec<_>>()))
            .collect()
    }

    /// Applies `f` to the chunks of `inputs` (tiles of one element count) chunk by chunk and
    /// binds the results to `r`.
    pub fn map_chunks<const N: usize>(
        &mut self,
        inputs: [ValueId; N],
        r: ValueId,
        mut f: impl FnMut(&mut Self, [&Operand; N]) -> Result<Operand, CodegenError>,
    ) -> Result<(), CodegenError> {
        let ins: Vec<Vec<Operand>> = inputs
            .iter()
            .map(|&v| self.chunks(v))
            .collect::<Result<_, _>>()?;
        let count = ins.first().map_or(0, Vec::len);
        let out = (0..count)
            .map(|c| f(self, std::array::from_fn(|i| &ins[i][c])))
            .collect::<Result<_, _>>()?;
        self.set_chunks(r, out);
        Ok(())
    }

    /// Lane `i` (counted over all chunks) of a chunked value as a scalar.
    pub fn lane(&mut self, chunks: &[Operand], elem: &str, i: usize) -> Operand {
        let l = vec_lanes(&chunks[0].ty);
        self.extract(&chunks[i / l], elem, i % l)
    }

    /// The lanes `idx` (counted over all chunks) of a chunked value as one vector: one
    /// `shufflevector` when they come from at most two chunks, else lane by lane.
    pub fn pick(&mut self, chunks: &[Operand], elem: &str, idx: &[usize]) -> Operand {
        let l = vec_lanes(&chunks[0].ty);
        let mut from: Vec<usize> = idx.iter().map(|&j| j / l).collect();
        from.sort_unstable();
        from.dedup();
        match from.as_slice() {
            [c] => {
                let local: Vec<usize> = idx.iter().map(|&j| j % l).collect();
                self.shuffle(&chunks[*c], elem, &local)
            }
            [c0, c1] => {
                let mask = idx
                    .iter()
                    .map(|&j| if j / l == *c0 { j % l } else { l + j % l });
                let (a, b) = (&chunks[*c0], &chunks[*c1]);
                self.ins(
                    vec(idx.len(), elem),
                    format!(
                        "shufflevector {} {}, {} {}, <{} x i32> {}",
                        a.ty,
                        a.text,
                        b.ty,
                        b.text,
                        idx.len(),
                        index_mask(mask)
                    ),
                )
            }
            _ => {
                let lanes: Vec<Operand> = idx.iter().map(|&j| self.lane(chunks, elem, j)).collect();
                self.gather_lanes(&lanes, elem)
            }
        }
    }

    /// `o` splatted to `n` lanes of element type `elem` (a constant splat when `o` is one
    /// lane wide).
    pub fn splat(&mut self, scalar: &str, elem: &str, n: usize) -> Operand {
        let ty = vec(n, elem);
        let one = self.ins(
            vec(1, elem),
            format!("insertelement <1 x {elem}> poison, {elem} {scalar}, i32 0"),
        );
        self.ins(
            ty.clone(),
            format!(
                "shufflevector <1 x {elem}> {}, <1 x {elem}> poison, <{n} x i32> zeroinitializer",
                one.text
            ),
        )
    }

    /// Lane `i` of `o` (element type `elem`) as a scalar.
    pub fn extract(&mut self, o: &Operand, elem: &str, i: usize) -> Operand {
        self.ins(elem, format!("extractelement {} {}, i32 {i}", o.ty, o.text))
    }

    /// The lanes `idx` of `o` (element type `elem`) as a vector. Aligned runs become
    /// `llvm.vector.extract` and repeated lanes a splat, which LLVM's code generator handles
    /// in time linear in the result (a general `shufflevector` of a wide source is not).
    pub fn shuffle(&mut self, o: &Operand, elem: &str, idx: &[usize]) -> Operand {
        let (len, src) = (idx.len(), vec_lanes(&o.ty));
        let first = idx.first().copied().unwrap_or(0);
        let run = idx.iter().enumerate().all(|(i, &j)| j == first + i);
        if run && len == src {
            return o.clone();
        }
        if len > 1 && idx.iter().all(|&j| j == first) {
            let lane = self.extract(o, elem, first);
            return self.splat(&lane.text, elem, len);
        }
        if run && first % len == 0 {
            let ty = vec(len, elem);
            let name = format!(
                "llvm.vector.extract.{}.{}",
                elementwise::suffix(&ty),
                elementwise::suffix(&o.ty)
            );
            let at = Operand {
                text: first.to_string(),
                ty: "i64".into(),
            };
            return self.intrinsic(&ty, &name, &[o, &at]);
        }
        let ty = vec(len, elem);
        self.ins(
            ty,
            format!(
                "shufflevector {} {}, {} poison, <{} x i32> {}",
                o.ty,
                o.text,
                o.ty,
                len,
                index_mask(idx.iter().copied())
            ),
        )
    }

    /// Concatenates vectors of element type `elem` (equal lengths) into one.
    pub fn concat(&mut self, parts: Vec<Operand>, elem: &str) -> Operand {
        let mut parts = parts;
        while parts.len() > 1 {
            let mut next = Vec::with_capacity(parts.len().div_ceil(2));
            let mut it = parts.into_iter();
            while let Some(a) = it.next() {
                match it.next() {
                    Some(b) => {
                        let n = vec_lanes(&a.ty);
                        next.push(self.ins(
                            vec(2 * n, elem),
                            format!(
                                "shufflevector {} {}, {} {}, <{} x i32> {}",
                                a.ty,
                                a.text,
                                b.ty,
                                b.text,
                                2 * n,
                                index_mask(0..2 * n)
                            ),
                        ));
                    }
                    None => next.push(a),
                }
            }
            parts = next;
        }
        parts.pop().expect("concat of at least one part")
    }

    /// Builds a vector of element type `elem` from scalars.
    pub fn gather_lanes(&mut self, lanes: &[Operand], elem: &str) -> Operand {
        let ty = vec(lanes.len(), elem);
        let mut acc = Operand {
            text: "poison".into(),
            ty: ty.clone(),
        };
        for (i, l) in lanes.iter().enumerate() {
            acc = self.ins(
                ty.clone(),
                format!(
                    "insertelement {ty} {}, {elem} {}, i32 {i}",
                    acc.text, l.text
                ),
            );
        }
        acc
    }

    /// Calls helper `id` with scalar arguments; returns its result.
    pub fn call_helper(&mut self, id: helpers::HelperId, args: &[Operand]) -> Operand {
        let h = &helpers::helpers()[id as usize];
        let abi = |t: AbiType| match t {
            AbiType::I32 => "i32",
            AbiType::I64 => "i64",
            AbiType::F32 => "float",
        };
        let ret = h.results.first().map_or("void", |&t| abi(t));
        let params: Vec<&str> = h.params.iter().map(|&t| abi(t)).collect();
        self.declare(format!(
            "declare {ret} @{}({}) nounwind",
            h.name,
            params.join(", ")
        ));
        let list: Vec<String> = args
            .iter()
            .map(|a| format!("{} {}", a.ty, a.text))
            .collect();
        self.ins(ret, format!("call {ret} @{}({})", h.name, list.join(", ")))
    }

    /// Applies `f` lane by lane to vectors of `n` lanes (for what has no vector instruction:
    /// helper calls); `f` gets the scalar lanes and returns the result lane.
    pub fn lanewise(
        &mut self,
        inputs: &[(Operand, &str)],
        n: usize,
        out_elem: &str,
        mut f: impl FnMut(&mut Self, Vec<Operand>) -> Operand,
    ) -> Operand {
        let mut outs = Vec::with_capacity(n);
        for i in 0..n {
            let lanes = inputs
                .iter()
                .map(|(o, elem)| self.extract(o, elem, i))
                .collect();
            outs.push(f(self, lanes));
        }
        self.gather_lanes(&outs, out_elem)
    }

    /// Loads the parameters from `args` as `<1 x T>` values.
    fn params(&mut self) -> Result<(), CodegenError> {
        for (i, param) in self.kernel.params.iter().enumerate() {
            let slot = self.ins(
                "ptr",
                format!("getelementptr inbounds i64, ptr %args, i64 {i}"),
            );
            let bits = self.ins("i64", format!("load i64, ptr {}", slot.text));
            let elem = reg_elem(self.ty(param.value).elem);
            let v = match self.ty(param.value).elem {
                ElemType::Ptr(_) => self.ins("ptr", format!("inttoptr i64 {} to ptr", bits.text)),
                ElemType::Val(DType::I64 | DType::U64) => bits,
                ElemType::Val(DType::F32) => {
                    let w = self.ins("i32", format!("trunc i64 {} to i32", bits.text));
                    self.ins("float", format!("bitcast i32 {} to float", w.text))
                }
                ElemType::Val(_) => self.ins(elem, format!("trunc i64 {} to {elem}", bits.text)),
            };
            let o = self.ins(
                vec(1, elem),
                format!(
                    "insertelement <1 x {elem}> poison, {elem} {}, i32 0",
                    v.text
                ),
            );
            self.set_chunks(param.value, vec![o]);
        }
        Ok(())
    }

    /// Emits the ops of `block`; returns the chunks of the values of its `yield`, if it ends
    /// with one.
    pub fn emit_block(&mut self, block: &Block) -> Result<Option<Vec<Vec<Operand>>>, CodegenError> {
        for op in &block.ops {
            self.op = op.kind.name();
            let r = op.results.first().copied();
            let result = || {
                r.ok_or(CodegenError::Unsupported {
                    kernel: String::new(),
                    message: format!("`{}` without a result", op.kind.name()),
                })
            };
            match &op.kind {
                OpKind::Yield(vals) => {
                    return Ok(Some(
                        vals.iter()
                            .map(|&v| self.chunks(v))
                            .collect::<Result<_, _>>()?,
                    ))
                }
                OpKind::Constant(s) => self.constant(*s, result()?)?,
                OpKind::ProgramId(axis) => self.grid_index("pid", *axis, result()?),
                OpKind::NumPrograms(axis) => self.grid_index("grid", *axis, result()?),
                OpKind::Arange(n) => {
                    let (n, l) = (*n as usize, chunk_lanes(*n as usize));
                    let chunks = (0..n.div_ceil(l))
                        .map(|c| Operand {
                            text: index_mask(c * l..(c + 1) * l),
                            ty: vec(l, "i32"),
                        })
                        .collect();
                    self.set_chunks(result()?, chunks);
                }
                OpKind::Unary(u, x) => self.unary(*u, *x, result()?)?,
                OpKind::Binary(b, x, y) => self.binary(*b, *x, *y, result()?)?,
                OpKind::Cmp(p, x, y) => self.cmp(*p, *x, *y, result()?)?,
                OpKind::Select {
                    cond,
                    on_true,
                    on_false,
                } => self.select(*cond, *on_true, *on_false, result()?)?,
                OpKind::Fma(a, b, c) => self.fma(*a, *b, *c, result()?)?,
                OpKind::Cast(x) => self.cast(*x, result()?)?,
                OpKind::Bitcast(x) => self.bitcast(*x, result()?)?,
                OpKind::Broadcast(x) => self.broadcast(*x, result()?)?,
                OpKind::Permute { value, perm } => self.permute(*value, perm, result()?)?,
                OpKind::Concat { a, b, axis } => self.concat_tiles(*a, *b, *axis, result()?)?,
                OpKind::Slice { value, axis, start } => {
                    self.slice(*value, *axis, *start, result()?)?
                }
                OpKind::ExpandDims { value, .. }
                | OpKind::Reshape(value)
                | OpKind::Hint { value, .. } => {
                    let o = self.chunks(*value)?;
                    self.set_chunks(result()?, o);
                }
                OpKind::Reduce { op, value, axis } => self.reduce(*op, *value, *axis, result()?)?,
                OpKind::Dot { a, b, acc } => self.dot(*a, *b, *acc, result()?)?,
                OpKind::AddPtr { ptr, offset } => self.add_ptr(*ptr, *offset, result()?)?,
                OpKind::Load { ptr, mask, other } => self.load(*ptr, *mask, *other, result()?)?,
                OpKind::Store { ptr, value, mask } => self.store(*ptr, *value, *mask)?,
                OpKind::Atomic {
                    op,
                    ptr,
                    value,
                    mask,
                } => self.atomic(Some(*op), *ptr, None, *value, *mask, result()?)?,
                OpKind::AtomicCas {
                    ptr,
                    cmp,
                    value,
                    mask,
                } => self.atomic(None, *ptr, Some(*cmp), *value, *mask, result()?)?,
                OpKind::For {
                    lower,
                    upper,
                    step,
                    init,
                    body,
                } => self.for_loop(*lower, *upper, *step, init, body, &op.results)?,
                OpKind::While { init, body } => self.while_loop(init, body, &op.results)?,
                OpKind::If {
                    cond,
                    then_block,
                    else_block,
                } => self.if_else(*cond, then_block, else_block, &op.results)?,
                OpKind::Print { label, value } => self.device_print(label, *value)?,
                OpKind::Assert { .. } => {
                    return Err(self.unsupported(
                        "`device_assert` outside a debug launch (which checks it through passes::bounds)",
                    ))
                }
            }
        }
        Ok(None)
    }

    /// `program_id(axis)` / `num_programs(axis)`: element `axis` of the `pid` or `grid` array.
    fn grid_index(&mut self, array: &str, axis: u8, r: ValueId) {
        let p = self.ins(
            "ptr",
            format!("getelementptr inbounds i32, ptr %{array}, i64 {axis}"),
        );
        let v = self.ins("i32", format!("load i32, ptr {}", p.text));
        let o = self.ins(
            "<1 x i32>",
            format!("insertelement <1 x i32> poison, i32 {}, i32 0", v.text),
        );
        self.set_chunks(r, vec![o]);
    }
}

/// The number of lanes of a vector type written `<n x t>`.
pub(crate) fn vec_lanes(ty: &str) -> usize {
    ty.trim_start_matches('<')
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

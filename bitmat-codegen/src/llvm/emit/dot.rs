//! `dot(a [M, K], b [K, N], acc [M, N])`: row `m` of the result is
//! `acc[m] + sum_k a[m, k] * b[k]`, `k` ascending, with `b[k]` a vector of `N` lanes: i8
//! operands widened to i32 (wrapping sums), f16/bf16 converted to `float` (exact), float sums
//! sequential without contraction to FMA, so results match the interpreter bit for bit.
//!
//! An i8 matrix-vector product (`N = 1`, `K` a multiple of 32) multiplies each row of `a` by
//! the column `b` chunk by chunk into lanes and sums the lanes at the end, 16 rows at a time by
//! a transposing shuffle tree (integer sums are exact in any order): with AVX-512 VNNI by
//! `vpdpbusd`, whose first factor is unsigned, so `a` is offset by 128 (its sign bit flipped)
//! and `128 * sum(b)` subtracted from each row.
//!
//! Otherwise rows are held as pieces of at most [`CHUNK`] lanes. Small products (`M * K` at most
//! [`UNROLLED`]) are unrolled on registers; larger ones run as loops over `m` and `k` on the
//! operands stored once to the stack, the row of the accumulator in registers, so the code's
//! size does not grow with the tile's.

use super::{chunk_lanes, vec, vec_lanes, Emitter, Operand, CHUNK};
use crate::CodegenError;
use bitmat_ir::{DType, ValueId};

/// The largest `M * K` whose product is unrolled.
const UNROLLED: usize = 64;

/// The bytes `vpdpbusd` takes per operand (a zmm register).
const VNNI_BYTES: usize = 64;

impl Emitter<'_> {
    /// `dot(a, b, acc)`.
    pub(crate) fn dot(
        &mut self,
        a: ValueId,
        b: ValueId,
        acc: ValueId,
        r: ValueId,
    ) -> Result<(), CodegenError> {
        let (m, k, n) = match (self.ty(a).shape.as_slice(), self.ty(b).shape.as_slice()) {
            ([m, k], [_, n]) => (*m as usize, *k as usize, *n as usize),
            _ => return Err(self.unsupported("operands are not matrices")),
        };
        let d = self.dtype(a)?;
        if d == DType::I8 && n == 1 && k % (VNNI_BYTES / 2) == 0 {
            let out = self.dot_rows_i8(a, b, acc, m, k)?;
            self.set_chunks(r, out);
            return Ok(());
        }
        let (elem, add, mul) = match d {
            DType::I8 => ("i32", "add", "mul"),
            d if d.is_float() => ("float", "fadd", "fmul"),
            d => return Err(self.unsupported(format!("operands of {d}"))),
        };
        let widen = |e: &mut Self, v: ValueId| -> Result<Vec<Operand>, CodegenError> {
            Ok(e.chunks(v)?
                .iter()
                .map(|o| {
                    if d == DType::I8 {
                        let t = vec(vec_lanes(&o.ty), "i32");
                        e.ins(t.clone(), format!("sext {} {} to {t}", o.ty, o.text))
                    } else {
                        e.widen(o, d)
                    }
                })
                .collect())
        };
        let (av, bv) = (widen(self, a)?, widen(self, b)?);
        let cv = self.chunks(acc)?;
        let ops = Product {
            shape: (m, k, n),
            elem,
            add,
            mul,
        };
        let out = if m * k <= UNROLLED {
            self.dot_unrolled(&av, &bv, &cv, &ops)
        } else {
            self.dot_loops(&av, &bv, &cv, &ops)
        };
        self.set_chunks(r, out);
        Ok(())
    }

    /// The i8 matrix-vector product `acc + a [m, k] x b [k, 1]` row by row (the module's
    /// docs): `vpdpbusd` on 64 bytes (four chunks) at a time.
    fn dot_rows_i8(
        &mut self,
        a: ValueId,
        b: ValueId,
        acc: ValueId,
        m: usize,
        k: usize,
    ) -> Result<Vec<Operand>, CodegenError> {
        let (av, bv, cv) = (self.chunks(a)?, self.chunks(b)?, self.chunks(acc)?);
        let wide = vec(CHUNK, "i32");
        // Per row, its products in `CHUNK` lanes; `correction` is subtracted from each sum.
        let mut rows = Vec::with_capacity(m);
        let mut correction = None;
        if crate::llvm::target::has_feature("avx512vnni") {
            let (v16, v64) = (vec(16, "i32"), vec(VNNI_BYTES, "i8"));
            let group = VNNI_BYTES / CHUNK;
            // A row of 32 bytes more than a multiple of 64 ends in a half-filled register,
            // zero above (its products with the zeros of `b` are 0).
            // The 64 bytes of `parts`, plus 128 each when `flip` (the sign bit flipped: an
            // add, which LLVM merges with an add or mask that made the bytes), as 16 words.
            let words = |e: &mut Self, parts: &[Operand], flip: bool| {
                let mut parts = parts.to_vec();
                let zero = Operand {
                    text: "zeroinitializer".into(),
                    ty: parts[0].ty.clone(),
                };
                if flip {
                    // Chunk by chunk, where the ops that made the bytes are.
                    for p in &mut parts {
                        let t = p.ty.clone();
                        let high = e.splat("-128", "i8", vec_lanes(&t));
                        *p = e.ins(t.clone(), format!("add {t} {}, {}", p.text, high.text));
                    }
                }
                parts.resize(group, zero);
                let bytes = e.concat(parts, "i8");
                e.ins(
                    v16.clone(),
                    format!("bitcast {v64} {} to {v16}", bytes.text),
                )
            };
            let dp = |e: &mut Self, acc: &Operand, u: &Operand, s: &Operand| {
                e.intrinsic(&v16, "llvm.x86.avx512.vpdpbusd.512", &[acc, u, s])
            };
            let zero = Operand {
                text: "zeroinitializer".into(),
                ty: v16.clone(),
            };
            let bw: Vec<Operand> = bv.chunks(group).map(|g| words(self, g, false)).collect();
            let ones = self.splat("16843009", "i32", 16);
            let mut sum_b = zero.clone();
            for y in &bw {
                sum_b = dp(self, &sum_b, &ones, y);
            }
            let sum_b = self.intrinsic("i32", "llvm.vector.reduce.add.v16i32", &[&sum_b]);
            let offset = self.ins("i32", format!("shl i32 {}, 7", sum_b.text));
            for row in av.chunks(k / CHUNK) {
                let mut lanes = zero.clone();
                for (x, y) in row.chunks(group).zip(&bw) {
                    let u = words(self, x, true);
                    lanes = dp(self, &lanes, &u, y);
                }
                rows.push(lanes);
            }
            correction = Some(offset);
        } else {
            let widen = |e: &mut Self, o: &Operand| {
                e.ins(wide.clone(), format!("sext {} {} to {wide}", o.ty, o.text))
            };
            let bw: Vec<Operand> = bv.iter().map(|c| widen(self, c)).collect();
            for row in av.chunks(k / CHUNK) {
                let mut lanes = Operand {
                    text: "zeroinitializer".into(),
                    ty: wide.clone(),
                };
                for (x, y) in row.iter().zip(&bw) {
                    let x = widen(self, x);
                    let p = self.ins(wide.clone(), format!("mul {wide} {}, {}", x.text, y.text));
                    lanes = self.ins(
                        wide.clone(),
                        format!("add {wide} {}, {}", lanes.text, p.text),
                    );
                }
                rows.push(lanes);
            }
        }
        let sums = self.row_sums(&rows, vec_lanes(&cv[0].ty));
        Ok(sums
            .iter()
            .zip(&cv)
            .map(|(s, c)| {
                let t = c.ty.clone();
                let s = self.ins(t.clone(), format!("add {t} {}, {}", c.text, s.text));
                match &correction {
                    None => s,
                    Some(o) => {
                        let o = self.splat(&o.text, "i32", vec_lanes(&t));
                        self.ins(t.clone(), format!("sub {t} {}, {}", s.text, o.text))
                    }
                }
            })
            .collect())
    }

    /// The lane sums of `rows` (vectors of [`CHUNK`] `i32` lanes) as chunks of `lanes` lanes
    /// of the result: groups of [`CHUNK`] rows reduced together by a transposing tree (each level
    /// adds the low and high halves of every row's lanes of two vectors, so a level halves
    /// the vectors and keeps the rows in order), `log2(CHUNK)` levels of one add and two
    /// shuffles per pair instead of a horizontal reduction per row.
    fn row_sums(&mut self, rows: &[Operand], lanes: usize) -> Vec<Operand> {
        let ty = vec(CHUNK, "i32");
        let zero = Operand {
            text: "zeroinitializer".into(),
            ty: ty.clone(),
        };
        let mut out = Vec::with_capacity(rows.len().div_ceil(CHUNK));
        for group in rows.chunks(CHUNK) {
            let mut level: Vec<Operand> = group.to_vec();
            level.resize(CHUNK, zero.clone());
            // `w` lanes per row in each vector of `level`.
            let mut w = CHUNK;
            while level.len() > 1 {
                let half = w / 2;
                let picks = |off: usize| -> Vec<usize> {
                    let side = |base: usize| {
                        (0..CHUNK / w)
                            .flat_map(move |j| (0..half).map(move |i| base + j * w + i + off))
                    };
                    side(0).chain(side(CHUNK)).collect()
                };
                let (lo, hi) = (picks(0), picks(half));
                let mut next = Vec::with_capacity(level.len() / 2);
                for pair in level.chunks(2) {
                    let (a, b) = (&pair[0], &pair[1]);
                    let mut both = |idx: &[usize]| {
                        self.ins(
                            ty.clone(),
                            format!(
                                "shufflevector {ty} {}, {ty} {}, <{CHUNK} x i32> {}",
                                a.text,
                                b.text,
                                super::index_mask(idx.iter().copied())
                            ),
                        )
                    };
                    let (l, h) = (both(&lo), both(&hi));
                    next.push(self.ins(ty.clone(), format!("add {ty} {}, {}", l.text, h.text)));
                }
                level = next;
                w = half;
            }
            let sums = level.pop().unwrap_or_else(|| zero.clone());
            out.push(self.shuffle(&sums, "i32", &(0..lanes).collect::<Vec<_>>()));
        }
        out
    }

    /// Lanes `start..start + len` of a chunked value (`len` a power of two, `start` a
    /// multiple of it) as pieces of at most [`CHUNK`] lanes.
    fn lane_range(
        &mut self,
        chunks: &[Operand],
        elem: &str,
        start: usize,
        len: usize,
    ) -> Vec<Operand> {
        let l = vec_lanes(&chunks[0].ty);
        if len >= l {
            chunks[start / l..(start + len) / l].to_vec()
        } else {
            let at = start % l;
            vec![self.shuffle(
                &chunks[start / l],
                elem,
                &(at..at + len).collect::<Vec<_>>(),
            )]
        }
    }

    /// The product unrolled: `M * K` multiply-adds of `N`-lane rows.
    fn dot_unrolled(
        &mut self,
        av: &[Operand],
        bv: &[Operand],
        cv: &[Operand],
        p: &Product,
    ) -> Vec<Operand> {
        let (m, k, n) = p.shape;
        let elem = p.elem;
        let b_rows: Vec<Vec<Operand>> = (0..k)
            .map(|kk| self.lane_range(bv, elem, kk * n, n))
            .collect();
        let mut pieces = Vec::new();
        for mm in 0..m {
            let mut row = self.lane_range(cv, elem, mm * n, n);
            for (kk, b_row) in b_rows.iter().enumerate() {
                let a = self.lane(av, elem, mm * k + kk);
                let a_splat = self.splat(&a.text, elem, n.min(CHUNK));
                for (acc, b) in row.iter_mut().zip(b_row) {
                    let t = b.ty.clone();
                    let prod = self.ins(
                        t.clone(),
                        format!("{} {t} {}, {}", p.mul, a_splat.text, b.text),
                    );
                    *acc = self.ins(
                        t.clone(),
                        format!("{} {t} {}, {}", p.add, acc.text, prod.text),
                    );
                }
            }
            pieces.extend(row);
        }
        let per = chunk_lanes(m * n) / n.min(CHUNK);
        pieces
            .chunks(per)
            .map(|g| self.concat(g.to_vec(), elem))
            .collect()
    }

    /// The product as loops over `m` and `k` on operands stored to the stack.
    fn dot_loops(
        &mut self,
        av: &[Operand],
        bv: &[Operand],
        cv: &[Operand],
        p: &Product,
    ) -> Vec<Operand> {
        let (m, k, n) = p.shape;
        let elem = p.elem;
        let piece = n.min(CHUNK);
        let rt = vec(piece, elem);
        let (abuf, bbuf, cbuf) = (
            self.stack_buffer(4 * m * k),
            self.stack_buffer(4 * k * n),
            self.stack_buffer(4 * m * n),
        );
        self.store_chunks(av, elem, &abuf);
        self.store_chunks(bv, elem, &bbuf);
        self.store_chunks(cv, elem, &cbuf);
        let pre = self.block.clone();
        let (row_head, k_head, k_exit, row_exit) = (
            self.label("dot_row"),
            self.label("dot_k"),
            self.label("dot_k_done"),
            self.label("dot_done"),
        );
        let (mi, mi_next, ki, ki_next) = (self.fresh(), self.fresh(), self.fresh(), self.fresh());
        let pieces = n / piece;
        let acc: Vec<String> = (0..pieces).map(|_| self.fresh()).collect();
        let acc_next: Vec<String> = (0..pieces).map(|_| self.fresh()).collect();
        self.line(format!("br label %{row_head}"));
        self.start_block(&row_head);
        self.line(format!(
            "{mi} = phi i64 [ 0, %{pre} ], [ {mi_next}, %{k_exit} ]"
        ));
        let row_off = self.ins("i64", format!("mul i64 {mi}, {n}"));
        let row_ptrs: Vec<Operand> = (0..pieces)
            .map(|j| {
                let at = self.ins("i64", format!("add i64 {}, {}", row_off.text, j * piece));
                self.ins(
                    "ptr",
                    format!("getelementptr {elem}, ptr {cbuf}, i64 {}", at.text),
                )
            })
            .collect();
        let row0: Vec<Operand> = row_ptrs
            .iter()
            .map(|rp| self.ins(rt.clone(), format!("load {rt}, ptr {}, align 4", rp.text)))
            .collect();
        let a_off = self.ins("i64", format!("mul i64 {mi}, {k}"));
        self.line(format!("br label %{k_head}"));
        self.start_block(&k_head);
        self.line(format!(
            "{ki} = phi i64 [ 0, %{row_head} ], [ {ki_next}, %{k_head} ]"
        ));
        for j in 0..pieces {
            self.line(format!(
                "{} = phi {rt} [ {}, %{row_head} ], [ {}, %{k_head} ]",
                acc[j], row0[j].text, acc_next[j]
            ));
        }
        let ai = self.ins("i64", format!("add i64 {}, {ki}", a_off.text));
        let ap = self.ins(
            "ptr",
            format!("getelementptr {elem}, ptr {abuf}, i64 {}", ai.text),
        );
        let a = self.ins(elem, format!("load {elem}, ptr {}, align 4", ap.text));
        let a_splat = self.splat(&a.text, elem, piece);
        let bi = self.ins("i64", format!("mul i64 {ki}, {n}"));
        for j in 0..pieces {
            let at = self.ins("i64", format!("add i64 {}, {}", bi.text, j * piece));
            let bp = self.ins(
                "ptr",
                format!("getelementptr {elem}, ptr {bbuf}, i64 {}", at.text),
            );
            let b = self.ins(rt.clone(), format!("load {rt}, ptr {}, align 4", bp.text));
            let prod = self.ins(
                rt.clone(),
                format!("{} {rt} {}, {}", p.mul, a_splat.text, b.text),
            );
            self.line(format!(
                "{} = {} {rt} {}, {}",
                acc_next[j], p.add, acc[j], prod.text
            ));
        }
        self.line(format!("{ki_next} = add i64 {ki}, 1"));
        let k_more = self.ins("i1", format!("icmp ult i64 {ki_next}, {k}"));
        self.line(format!(
            "br i1 {}, label %{k_head}, label %{k_exit}",
            k_more.text
        ));
        self.start_block(&k_exit);
        for (j, rp) in row_ptrs.iter().enumerate() {
            self.line(format!(
                "store {rt} {}, ptr {}, align 4",
                acc_next[j], rp.text
            ));
        }
        self.line(format!("{mi_next} = add i64 {mi}, 1"));
        let m_more = self.ins("i1", format!("icmp ult i64 {mi_next}, {m}"));
        self.line(format!(
            "br i1 {}, label %{row_head}, label %{row_exit}",
            m_more.text
        ));
        self.start_block(&row_exit);
        self.load_chunks(&cbuf, elem, m * n, chunk_lanes(m * n))
    }
}

/// What a product computes: `(M, K, N)`, the element type it sums in and its add and
/// multiply instructions.
struct Product {
    shape: (usize, usize, usize),
    elem: &'static str,
    add: &'static str,
    mul: &'static str,
}

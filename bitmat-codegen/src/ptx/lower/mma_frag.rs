//! `dot` on tensor cores with the accumulator in registers: the path of every dot whose
//! shape fits the instruction (`M >= 16`, `N >= 8`, `K >= 32` for i8 and fp8 and `>= 16` for
//! f16/bf16; [`mma_shape`](super::mma_shape)).
//!
//! The accumulator and the result are in the `mma.sync` accumulator layout
//! ([`Layout::mma_acc`]): the CTA's warps tile the `[M, N]` output (rows first), each warp
//! owning an `(M / wm) x (N / wn)` block of 16x8 tiles whose C fragments are its registers.
//! A loop that carries the accumulator therefore keeps it in registers across its
//! iterations; it is converted once, where a store or another op wants another layout.
//!
//! The operands go through shared memory once per dot, as `ldmatrix` wants them: A as
//! `[M, K]` rows and B transposed as `[N, K]` rows, K contiguous (or, for 16-bit types whose
//! registers run along M or N, rows of M or N read with `.trans`), rows unpadded and their
//! 16-byte chunks XOR-swizzled by row ([`SmemTile`], Triton's swizzled shared encoding): the
//! eight rows of one `ldmatrix` phase, and the chunks that a quarter warp copies or stores,
//! fall in distinct banks, and a global row of a `cp.async` ring lands in whole 128-byte
//! lines. Each thread writes its operand
//! registers as packed 32-bit words (4 i8 or fp8, or 2 f16/bf16, per word), up to 16 bytes at a time
//! where its layout holds consecutive elements along K (the coalesced layout of a K-major
//! load, or a decoded ternary tile). Then each warp loops over the k-steps: one
//! `ldmatrix.x4` per 16-row tile of A, one `ldmatrix.x4` per pair of 8-column tiles of B
//! (`.x2` for a single one), and one `mma.sync` per tile pair, reusing every fragment
//! across the warp's tiles.

use crate::ptx::emit::Emitter;
use crate::ptx::layout::{dim_bits, log2, warp_grid, Layout};
use crate::ptx::regs::Class;
use crate::CodegenError;
use bitmat_ir::{DType, ValueId};

/// The `mma.sync` shape and types, k-step and accumulator class of a dot of A elements of
/// type `a` and B elements of type `b`. The 8-bit types (i8, and fp8 of either format on
/// each side, which the PTX backend leaves unwidened only on targets with fp8 `mma`, sm_89
/// and later) share the `m16n8k32` fragment layout: one register holds 4 consecutive
/// bytes along K.
pub(crate) fn instruction(a: DType, b: DType) -> Option<(&'static str, u32, Class)> {
    use DType::{F8E4M3 as E4, F8E5M2 as E5};
    let f8 = |instr| Some((instr, 32, Class::F32));
    match (a, b) {
        (DType::I8, DType::I8) => Some(("m16n8k32.row.col.s32.s8.s8.s32", 32, Class::B32)),
        (DType::F16, DType::F16) => Some(("m16n8k16.row.col.f32.f16.f16.f32", 16, Class::F32)),
        (DType::BF16, DType::BF16) => Some(("m16n8k16.row.col.f32.bf16.bf16.f32", 16, Class::F32)),
        (E4, E4) => f8("m16n8k32.row.col.f32.e4m3.e4m3.f32"),
        (E4, E5) => f8("m16n8k32.row.col.f32.e4m3.e5m2.f32"),
        (E5, E4) => f8("m16n8k32.row.col.f32.e5m2.e4m3.f32"),
        (E5, E5) => f8("m16n8k32.row.col.f32.e5m2.e5m2.f32"),
        _ => None,
    }
}

/// The k-step of `mma.sync` for operands of type `d` (both sides), if tensor cores take them.
pub(crate) fn k_step(d: DType) -> Option<u32> {
    instruction(d, d).map(|(_, k, _)| k)
}

/// Which operand of `dot`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// `a [M, K]`.
    A,
    /// `b [K, N]`.
    B,
}

/// How an operand tile `[R, C]` sits in shared memory: as rows of its dimension 1 (`R` rows of
/// `C` elements, the tile's own order) or, `transposed`, as rows of its dimension 0; each row
/// `row_bytes` apart. `ldmatrix` reads K-major rows as they are and MN-major rows (16-bit
/// types only) with `.trans`.
///
/// The 16-byte chunks of row `r` are permuted: chunk `c` is stored at `c ^ phase(r)`, with
/// `phase(r) = (r / per_phase) % max_phase`, `per_phase = max(1, 128 / row_bytes)` rows
/// sharing a 128-byte line and `max_phase = min(8, row_bytes / 16)`. Any eight consecutive
/// rows' chunks at one column, and any row's chunks, then cover the 32 banks once. The phase
/// repeats every 8 rows, so stepping 16 rows adds `16 * row_bytes`; stepping 32 bytes along a
/// row is an XOR of the address by 32 where the tile's base is aligned to
/// [`Self::alignment`] and the lane's chunk has that bit clear (true of the fragments'
/// lanes, see [`Emitter::fragment_addresses`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SmemTile {
    /// Rows hold the tile's dimension 0 (the tile is stored transposed).
    pub transposed: bool,
    /// Bytes from one row to the next: the row's elements (a power of two, at least 32).
    pub row_bytes: u32,
}

impl SmemTile {
    /// The arrangement for an operand of `role` and `shape` whose elements run contiguously
    /// along dimension `contiguous` (of the tile), for elements of `size` bytes: MN-major
    /// (and read with `.trans`) only for 16-bit types whose contiguous dimension is M or N.
    pub fn for_operand(role: Role, shape: &[u32], contiguous: usize, size: u32) -> SmemTile {
        let k_dim = if role == Role::A { 1 } else { 0 };
        let mn_major = size == 2 && contiguous != k_dim;
        // Rows run along the contiguous dimension: K for K-major, M or N for MN-major.
        let along = if mn_major { 1 - k_dim } else { k_dim };
        let transposed = along == 0;
        let row_elems = shape[along];
        SmemTile {
            transposed,
            row_bytes: row_elems * size,
        }
    }

    /// The alignment of the tile's base in shared memory (bytes): its row, at least a line.
    pub fn alignment(&self) -> u32 {
        self.row_bytes.next_power_of_two().max(128)
    }

    /// Rows that share one swizzle phase (`128 / row_bytes` for short rows).
    fn per_phase(&self) -> u32 {
        (128 / self.row_bytes).max(1)
    }

    /// Distinct swizzle phases (chunks per row, up to 8).
    fn max_phase(&self) -> u32 {
        (self.row_bytes / 16).clamp(1, 8)
    }

    /// The offset of byte `col` of row `row`: what [`Emitter::swizzled_offset`] computes.
    #[cfg(test)]
    fn offset(&self, row: u32, col: u32) -> u32 {
        let phase = (row / self.per_phase()) % self.max_phase();
        row * self.row_bytes + (col ^ (phase << 4))
    }

    /// Bytes of one tile of `shape`.
    pub fn bytes(&self, shape: &[u32]) -> u32 {
        let rows = if self.transposed { shape[1] } else { shape[0] };
        rows * self.row_bytes
    }

    /// The byte steps between the fragments of operand `role` in this tile: to the next
    /// 16-row tile of A or pair of 8-column tiles of B, and to the next k-step. The one along
    /// a row (32 bytes: 16 elements of 16-bit `.trans` rows, or one k-step of K-major rows)
    /// is an XOR ([`SmemTile`]); the other, 16 rows, an addition.
    fn steps(&self, role: Role) -> Steps {
        Steps {
            rows: 16 * self.row_bytes,
            xor_by_tile: self.trans(role),
        }
    }

    /// Whether `ldmatrix` reads this tile of operand `role` with `.trans` (its rows are M or
    /// N rather than K).
    pub fn trans(&self, role: Role) -> bool {
        match role {
            Role::A => self.transposed,
            Role::B => !self.transposed,
        }
    }
}

/// A dot operand in shared memory: the register holding the tile's address, and its
/// arrangement.
pub(crate) struct SmemOperand {
    /// A `.b32` register with the shared address of the tile.
    pub addr: String,
    /// Its arrangement.
    pub tile: SmemTile,
}

/// The dimension along which layout `l` of a tile of `shape` holds consecutive elements in a
/// thread's first slots (the dimension of its lowest register basis), if any.
pub(crate) fn contiguous_dim(l: &Layout, shape: &[u32]) -> Option<usize> {
    let first = l.reg.first()?.trailing_zeros();
    dim_bits(shape)
        .iter()
        .position(|&(lo, n)| first >= lo && first < lo + n)
}

/// Lane quantities shared by the operands' address computations.
struct Lanes {
    /// `lane % 8`.
    r8: String,
    /// `lane / 8`: which of the four matrices of an `ldmatrix.x4` the lane addresses.
    q: String,
    /// Bytes per element.
    size: u32,
}

/// The A fragments (4 registers per 16-row tile) and B fragments (2 per 8-column tile) of one
/// k-step.
pub(crate) type Fragments = (Vec<[String; 4]>, Vec<[String; 2]>);

/// Where a warp's fragments lie in the operand tiles of a dot.
pub(crate) struct FragGeometry {
    /// Registers with each lane's byte offset into the A and B tiles.
    offsets: [String; 2],
    /// Steps between fragments, of A and B.
    steps: [Steps; 2],
    /// Whether `ldmatrix` reads A and B with `.trans`.
    trans: [bool; 2],
    /// The warp's 16-row tiles of A and 8-column tiles of B.
    tiles: [u32; 2],
    /// The dot's k-steps.
    k_steps: u32,
}

/// Steps between the fragments of an operand: 32 bytes along a row (an XOR of the lane's
/// address, [`SmemTile`]) one way, 16 rows (an addition) the other.
#[derive(Copy, Clone)]
struct Steps {
    /// Bytes of 16 rows.
    rows: u32,
    /// The XOR steps to the next 16-row tile of A or pair of 8-column tiles of B (`.trans`
    /// rows), and the additions to the next k-step; else the other way round.
    xor_by_tile: bool,
}

impl FragGeometry {
    /// How many distinct XOR steps operand `i`'s fragments take (one lane address each).
    fn xor_steps(&self, i: usize) -> u32 {
        match (self.steps[i].xor_by_tile, i) {
            (false, _) => self.k_steps,
            (true, 0) => self.tiles[0],
            (true, _) => self.tiles[1].div_ceil(2),
        }
    }

    /// The lane address (index into [`Emitter::fragment_addresses`]'s) and the added
    /// offset of operand `i`'s fragment of tile `tile` (16-row tile of A, pair of 8-column
    /// tiles of B) at k-step `ks`.
    fn place(&self, i: usize, tile: u32, ks: u32) -> (usize, u32) {
        let s = self.steps[i];
        if s.xor_by_tile {
            (tile as usize, ks * s.rows)
        } else {
            (ks as usize, tile * s.rows)
        }
    }
}

impl Emitter<'_> {
    /// Lowers `res = dot(a, b, acc)` with register fragments.
    pub(crate) fn lower_dot_frag(
        &mut self,
        res: ValueId,
        [a, b, acc]: [ValueId; 3],
        [m, k, n]: [u32; 3],
        d: DType,
    ) -> Result<(), CodegenError> {
        let db = self.dtype(b)?;
        let (instr, ki, cc) =
            instruction(d, db).ok_or_else(|| self.unsupported(format!("mma dot of {d} x {db}")))?;
        let warps = self.threads / 32;
        let lc = Layout::mma_acc(m, n, warps);
        let accs = self.get_as(acc, &lc)?;
        let size = d.size_bytes() as u32;
        self.line(format!("// dot {m}x{k}x{n}: accumulator {lc}"));
        // A dot whose loop prefetches its first fragments (`lower/pipeline.rs`).
        let prefetch = self.prefetch.remove(&res);
        // Operands that a pipelined load or the loop's staging left in shared memory are read
        // where they are; the others are staged in a scratch area.
        let (pa, pb) = (self.dot_operand_in_shared(a), self.dot_operand_in_shared(b));
        let mut staged = Vec::new();
        for (v, dv, role, piped) in [(a, d, Role::A, &pa), (b, db, Role::B, &pb)] {
            if piped.is_none() {
                let shape = self.k.ty(v).shape.clone();
                let contiguous = contiguous_dim(&self.layout(v), &shape).unwrap_or(1);
                staged.push((
                    v,
                    dv,
                    role,
                    SmemTile::for_operand(role, &shape, contiguous, size),
                ));
            }
        }
        // Each tile at a multiple of the largest alignment: enough for every tile's own.
        let align = staged
            .iter()
            .map(|(.., t)| t.alignment())
            .max()
            .unwrap_or(16);
        let total: u32 = staged
            .iter()
            .map(|(v, _, _, t)| t.bytes(&self.k.ty(*v).shape).next_multiple_of(align))
            .sum();
        let mut ops = [pa, pb];
        if !staged.is_empty() {
            let mut at = self.scratch_aligned(total, align);
            self.barrier();
            for (v, dv, role, tile) in staged {
                let regs = self.get(v)?;
                self.stage_operand_rows(v, &regs, dv, &tile, at)?;
                let addr = self.reg(Class::B32);
                let smem = self.smem.clone();
                self.line(format!("add.u32 {addr}, {smem}, {at};"));
                at += tile.bytes(&self.k.ty(v).shape).next_multiple_of(align);
                ops[usize::from(role == Role::B)] = Some(SmemOperand { addr, tile });
            }
            self.barrier();
        }
        let [Some(oa), Some(ob)] = ops else {
            return Err(self.unsupported("dot operand neither staged nor pipelined"));
        };
        let geo = self.frag_geometry([m, n], k / ki, size, [&oa.tile, &ob.tile]);
        let [tiles_m, tiles_n] = geo.tiles;

        let out: Vec<String> = (0..lc.slots()).map(|_| self.reg(cc)).collect();
        let slot = |tm: u32, tn: u32, c: u32| (c | tn << 2 | tm << (2 + log2(tiles_n))) as usize;
        // The fragments of k-step `ks + 1` are loaded before the mmas of step `ks` (a
        // register double buffer), so that `ldmatrix` latency overlaps tensor-core work. Those
        // of k-step 0 were loaded by the previous iteration when the loop prefetches them.
        let steps = k / ki;
        let lanes = self.fragment_addresses([&oa.addr, &ob.addr], &geo);
        let mut frags = vec![match &prefetch {
            Some(p) => p.frags.clone(),
            None => self.load_fragments(0, &lanes, &geo),
        }];
        for ks in 0..steps {
            if ks + 1 < steps {
                let next = self.load_fragments(ks + 1, &lanes, &geo);
                frags.push(next);
            }
            // With prefetching, the last k-step loads the next stage's first fragments, after
            // the wait and barrier that the k-step before it (or, with one k-step, this one)
            // ends with.
            let mut next_stage = None;
            if let Some(p) = &prefetch {
                if steps == 1 {
                    self.await_next_stage(p);
                }
                if ks + 1 == steps {
                    next_stage = Some(self.next_stage_fragments(p, &geo));
                }
            }
            let (afr, bfr) = &frags[ks as usize];
            for tm in 0..tiles_m {
                for tn in 0..tiles_n {
                    let idx: Vec<usize> = (0..4).map(|c| slot(tm, tn, c)).collect();
                    let src = if ks == 0 { &accs } else { &out };
                    let dst: Vec<&str> = idx.iter().map(|&i| out[i].as_str()).collect();
                    let c: Vec<&str> = idx.iter().map(|&i| src[i].as_str()).collect();
                    self.line(format!(
                        "mma.sync.aligned.{instr} {{{}}}, {{{}}}, {{{}}}, {{{}}};",
                        dst.join(", "),
                        afr[tm as usize].join(", "),
                        bfr[tn as usize].join(", "),
                        c.join(", ")
                    ));
                }
            }
            if let Some(p) = &prefetch {
                if ks + 2 == steps {
                    self.await_next_stage(p);
                }
            }
            if let (Some(p), Some(loaded)) = (&prefetch, next_stage) {
                self.carry_fragments(&p.frags, &loaded);
            }
        }
        self.define_in(res, out, &lc);
        Ok(())
    }

    /// The A fragments of each 16-row tile and the B fragments of each 8-column tile of the
    /// warp's part, for k-step `ks`, from the lane addresses `lanes` (A, B).
    pub(crate) fn load_fragments(
        &mut self,
        ks: u32,
        lanes: &[Vec<String>; 2],
        g: &FragGeometry,
    ) -> Fragments {
        let [tiles_m, tiles_n] = g.tiles;
        let afr: Vec<[String; 4]> = (0..tiles_m)
            .map(|tm| {
                let r = [(); 4].map(|_| self.reg(Class::B32));
                let (lane, off) = g.place(0, tm, ks);
                self.ldmatrix(&r, g.trans[0], &lanes[0][lane], off);
                r
            })
            .collect();
        let mut bfr: Vec<[String; 2]> = Vec::new();
        for p in 0..tiles_n.div_ceil(2) {
            let (lane, off) = g.place(1, p, ks);
            if tiles_n >= 2 {
                let r = [(); 4].map(|_| self.reg(Class::B32));
                self.ldmatrix(&r, g.trans[1], &lanes[1][lane], off);
                let [r0, r1, r2, r3] = r;
                bfr.push([r0, r1]);
                bfr.push([r2, r3]);
            } else {
                let r = [(); 2].map(|_| self.reg(Class::B32));
                self.ldmatrix(&r, g.trans[1], &lanes[1][lane], off);
                bfr.push(r);
            }
        }
        (afr, bfr)
    }

    /// Where the warp's fragments of a dot `[m, n]` of `k_steps` k-steps (`size`-byte
    /// operands) lie in operand tiles arranged as `tiles` (A, B).
    pub(crate) fn frag_geometry(
        &mut self,
        [m, n]: [u32; 2],
        k_steps: u32,
        size: u32,
        [ta, tb]: [&SmemTile; 2],
    ) -> FragGeometry {
        let warps = self.threads / 32;
        let (wm, wn) = warp_grid(m, n, warps);
        let (tiles_m, tiles_n) = (m / wm / 16, n / wn / 8);
        // Each lane's offsets into the operand tiles depend only on `%tid.x`: computed once,
        // at entry; they are added to the tiles' addresses.
        let key = format!("dot lanes {m}x{n} {warps} {wm}x{wn}");
        let x4 = tiles_n >= 2;
        let (ta, tb) = (ta.clone(), tb.clone());
        let a_off = self.once_at_entry(format!("{key} A {ta:?}"), |e| {
            let (lanes, row0, _) = e.warp_origin(m, n, wm, wn, size);
            e.fragment_lanes(&ta, Role::A, &row0, &lanes, true)
        });
        let b_off = self.once_at_entry(format!("{key} B {tb:?} {x4}"), |e| {
            let (lanes, _, col0) = e.warp_origin(m, n, wm, wn, size);
            e.fragment_lanes(&tb, Role::B, &col0, &lanes, x4)
        });
        FragGeometry {
            offsets: [a_off, b_off],
            steps: [ta.steps(Role::A), tb.steps(Role::B)],
            trans: [ta.trans(Role::A), tb.trans(Role::B)],
            tiles: [tiles_m, tiles_n],
            k_steps,
        }
    }

    /// The lane addresses of the fragments in operand tiles at shared addresses `tiles` (A,
    /// B; `.b32` registers, aligned to their [`SmemTile::alignment`]): for each operand, one
    /// per XOR step ([`FragGeometry::place`]), the lane's first address XOR `32 * j`. The XOR
    /// is the step along the row because the lanes' chunks have those bits clear: a lane's
    /// first k-step chunk is 0 or 1, and a warp's first column (or row) of `.trans` rows is
    /// a multiple of the 16 elements per step times the steps.
    pub(crate) fn fragment_addresses(
        &mut self,
        tiles: [&str; 2],
        g: &FragGeometry,
    ) -> [Vec<String>; 2] {
        [0, 1].map(|i| {
            let first = self.reg(Class::B32);
            self.line(format!("add.u32 {first}, {}, {};", tiles[i], g.offsets[i]));
            let mut lanes = vec![first.clone()];
            for j in 1..g.xor_steps(i) {
                let lane = self.reg(Class::B32);
                self.line(format!("xor.b32 {lane}, {first}, {};", 32 * j));
                lanes.push(lane);
            }
            lanes
        })
    }

    /// Copies the registers of `loaded` into `dst` (fragments of the same shapes).
    fn carry_fragments(&mut self, dst: &Fragments, loaded: &Fragments) {
        let a = dst.0.iter().flatten().zip(loaded.0.iter().flatten());
        let b = dst.1.iter().flatten().zip(loaded.1.iter().flatten());
        for (d, s) in a.chain(b) {
            self.line(format!("mov.b32 {d}, {s};"));
        }
    }

    /// `ldmatrix` of `dst.len()` 8x8 matrices (`.x2` or `.x4`) at `[addr + off]`.
    fn ldmatrix(&mut self, dst: &[String], trans: bool, addr: &str, off: u32) {
        let t = if trans { ".trans" } else { "" };
        self.line(format!(
            "ldmatrix.sync.aligned.m8n8.x{}{t}.shared.b16 {{{}}}, [{addr}+{off}];",
            dst.len(),
            dst.join(", ")
        ));
    }

    /// The offset from the tile's address that each lane gives `ldmatrix` for the first
    /// fragment of the warp's part of an operand (`first` is the warp's first row of A or
    /// column of B).
    ///
    /// Lane `l` addresses row `l % 8` of matrix `q = l / 8`. The four matrices of A are
    /// (rows 0-7, k 0-7), (rows 8-15, k 0-7), (rows 0-7, k 8-15), (rows 8-15, k 8-15) in
    /// 16-bit units (for i8, k counts pairs); those of B (`x4`) (cols 0-7, k 0-7),
    /// (0-7, 8-15), (8-15, 0-7), (8-15, 8-15); `x2` B uses the first two.
    fn fragment_lanes(
        &mut self,
        tile: &SmemTile,
        role: Role,
        first: &str,
        l: &Lanes,
        x4: bool,
    ) -> String {
        let (r8, q, size) = (&l.r8, &l.q, l.size);
        // Which bit of q picks the second 8 rows/columns (mn) and the second k half.
        let (mn_bit, k_bit) = match role {
            Role::A => (0, 1),
            Role::B if x4 => (1, 0),
            Role::B => (2, 0),
        };
        let [mn, kh, off] = [(); 3].map(|_| self.reg(Class::B32));
        // mn = first + 8 * bit(q, mn_bit) (0 when that bit is beyond x2), kh = bit(q, k_bit).
        if mn_bit < 2 {
            self.line(format!("bfe.u32 {mn}, {q}, {mn_bit}, 1;"));
            self.line(format!("mad.lo.u32 {mn}, {mn}, 8, {first};"));
        } else {
            self.line(format!("mov.u32 {mn}, {first};"));
        }
        self.line(format!("bfe.u32 {kh}, {q}, {k_bit}, 1;"));
        let col = self.reg(Class::B32);
        if tile.trans(role) {
            // Rows are k: row = 8 * kh + r8; the mn offset is in elements along the row.
            self.line(format!("mad.lo.u32 {kh}, {kh}, 8, {r8};"));
            self.line(format!("mul.lo.u32 {col}, {mn}, {size};"));
            self.swizzled_offset(tile, &kh, &col, &off);
        } else {
            // Rows are m or n: row = mn + r8; the k half is 16 bytes along the row.
            self.line(format!("add.u32 {mn}, {mn}, {r8};"));
            self.line(format!("shl.b32 {col}, {kh}, 4;"));
            self.swizzled_offset(tile, &mn, &col, &off);
        }
        off
    }

    /// The offset in `tile` (a register) of slot `j` of a thread holding a `[R, C]` tile of
    /// `size`-byte elements in layout `l`: its row and column by the tile's arrangement,
    /// swizzled. It depends only on `%tid.x` (callers compute it at entry).
    pub(crate) fn slot_offset(
        &mut self,
        l: &Layout,
        j: u32,
        shape: &[u32],
        size: u32,
        tile: &SmemTile,
    ) -> String {
        let i = self.elem_index(l, j);
        let [r, c, col, off] = [(); 4].map(|_| self.reg(Class::B32));
        self.line(format!("shr.u32 {r}, {i}, {};", log2(shape[1])));
        self.line(format!("and.b32 {c}, {i}, {};", shape[1] - 1));
        let (row, along) = if tile.transposed { (&c, &r) } else { (&r, &c) };
        self.line(format!("mul.lo.u32 {col}, {along}, {size};"));
        self.swizzled_offset(tile, row, &col, &off);
        off
    }

    /// `dst = row * row_bytes + (col ^ phase(row) * 16)`: the offset in `tile` of byte `col` of
    /// row `row` (registers), swizzled ([`SmemTile`]).
    pub(crate) fn swizzled_offset(&mut self, tile: &SmemTile, row: &str, col: &str, dst: &str) {
        let phase = self.reg(Class::B32);
        let shift = log2(tile.per_phase());
        self.line(format!("shr.u32 {phase}, {row}, {shift};"));
        self.line(format!(
            "and.b32 {phase}, {phase}, {};",
            tile.max_phase() - 1
        ));
        self.line(format!("shl.b32 {phase}, {phase}, 4;"));
        self.line(format!("xor.b32 {phase}, {phase}, {col};"));
        self.line(format!(
            "mad.lo.u32 {dst}, {row}, {}, {phase};",
            tile.row_bytes
        ));
    }

    /// The lane quantities and the first row and column of the calling thread's warp in an
    /// `[m, n]` output tiled by `wm x wn` warps.
    fn warp_origin(
        &mut self,
        m: u32,
        n: u32,
        wm: u32,
        wn: u32,
        size: u32,
    ) -> (Lanes, String, String) {
        let tid = self.tid.clone();
        let [lane, warp, r8, q, row0, col0] = [(); 6].map(|_| self.reg(Class::B32));
        self.line(format!("and.b32 {lane}, {tid}, 31;"));
        self.line(format!("shr.u32 {warp}, {tid}, 5;"));
        self.line(format!("and.b32 {r8}, {lane}, 7;"));
        self.line(format!("shr.u32 {q}, {lane}, 3;"));
        self.line(format!("and.b32 {row0}, {warp}, {};", wm - 1));
        self.line(format!("mul.lo.u32 {row0}, {row0}, {};", m / wm));
        self.line(format!("shr.u32 {col0}, {warp}, {};", log2(wm)));
        self.line(format!("and.b32 {col0}, {col0}, {};", wn - 1));
        self.line(format!("mul.lo.u32 {col0}, {col0}, {};", n / wn));
        (Lanes { r8, q, size }, row0, col0)
    }

    /// Writes operand `v` (`[R, C]`, element type `d`), held in `regs` in its layout, to shared
    /// memory as the rows of `tile` at `base`: A (not `tile.transposed`) row `r` holds
    /// `v[r, ..]`; B (`transposed`) row `c` holds `v[.., c]`. Consecutive elements along K in a
    /// thread's slots go out as packed words, up to 16 bytes per store (within one chunk of
    /// the swizzle).
    pub(crate) fn stage_operand_rows(
        &mut self,
        v: ValueId,
        regs: &[String],
        d: DType,
        tile: &SmemTile,
        base: u32,
    ) -> Result<(), CodegenError> {
        let shape = self.k.ty(v).shape.clone();
        let l = self.layout(v);
        let size = d.size_bytes() as u32;
        // The K dimension: columns of A, rows of B.
        let (k_lo, k_n) = dim_bits(&shape)[usize::from(tile.transposed) ^ 1];
        let run = l.leading_run(k_lo, k_n);
        let per_word = 4 / size;
        let chunk = if (1 << run) >= per_word {
            (1u32 << run).min(16 / size)
        } else {
            1
        };
        let smem = self.smem.clone();
        for j in (0..l.slots()).step_by(chunk as usize) {
            // The slot's offset depends only on `%tid.x`: computed at entry.
            let key = format!("staged rows {l:?} {j} {shape:?} {size} {tile:?}");
            let (lj, shape_j, tile_j) = (l.clone(), shape.clone(), tile.clone());
            let off = self.once_at_entry(key, |e| e.slot_offset(&lj, j, &shape_j, size, &tile_j));
            let a = self.reg(Class::B32);
            self.line(format!("add.u32 {a}, {smem}, {off};"));
            let vals = &regs[j as usize..(j + chunk) as usize];
            if chunk == 1 {
                match size {
                    1 => self.line(format!("st.shared.u8 [{a}+{base}], {};", vals[0])),
                    _ => {
                        let h = self.round_to_half_bits(d, &vals[0]);
                        self.line(format!("st.shared.b16 [{a}+{base}], {h};"));
                    }
                }
                continue;
            }
            let words: Vec<String> = vals
                .chunks(per_word as usize)
                .map(|w| self.pack_word(d, w))
                .collect();
            let v = if words.len() == 1 {
                String::new()
            } else {
                format!(".v{}", words.len())
            };
            let list = if words.len() == 1 {
                words[0].clone()
            } else {
                format!("{{{}}}", words.join(", "))
            };
            self.line(format!("st.shared{v}.b32 [{a}+{base}], {list};"));
        }
        Ok(())
    }

    /// One 32-bit word of packed operand values (4 i8 or fp8, or 2 f16/bf16), lowest first.
    fn pack_word(&mut self, d: DType, vals: &[String]) -> String {
        let w = self.reg(Class::B32);
        if d.size_bytes() == 1 {
            self.line(format!("mov.b32 {w}, {};", vals[0]));
            for (i, v) in vals.iter().enumerate().skip(1) {
                self.line(format!("bfi.b32 {w}, {v}, {w}, {}, 8;", 8 * i));
            }
        } else {
            let h: Vec<String> = vals.iter().map(|v| self.round_to_half_bits(d, v)).collect();
            self.line(format!("mov.b32 {w}, {{{}}};", h.join(", ")));
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 16-byte chunk's bank group (of the 8 in a 128-byte line) at tile offset `o`.
    fn group(o: u32) -> u32 {
        (o % 128) / 16
    }

    #[test]
    fn swizzled_tiles_are_free_of_bank_conflicts() {
        for row_bytes in [32, 64, 128, 256, 512] {
            let tile = SmemTile {
                transposed: false,
                row_bytes,
            };
            let rows = 64;
            let chunks = row_bytes / 16;
            // A permutation of the tile's chunks, each inside its own row.
            let mut seen = std::collections::HashSet::new();
            for r in 0..rows {
                for c in 0..chunks {
                    let o = tile.offset(r, c * 16);
                    assert_eq!(o / row_bytes, r, "row {r} chunk {c} left its row");
                    assert!(seen.insert(o), "two chunks at {o}");
                }
            }
            // Eight consecutive rows at one column (an ldmatrix phase; a quarter warp's copy
            // of one column of chunks), or eight consecutive chunks of a row (a quarter warp's
            // copy of a row), fill the 8 bank groups.
            for r0 in 0..rows - 8 {
                for c in 0..chunks {
                    let groups: std::collections::HashSet<u32> = (r0..r0 + 8)
                        .map(|r| group(tile.offset(r, c * 16)))
                        .collect();
                    assert_eq!(
                        groups.len(),
                        8,
                        "rows {r0}.. at chunk {c}, {row_bytes}-byte rows"
                    );
                }
                for c0 in (0..chunks.saturating_sub(7)).step_by(8) {
                    let groups: std::collections::HashSet<u32> = (c0..c0 + 8)
                        .map(|c| group(tile.offset(r0, c * 16)))
                        .collect();
                    assert_eq!(groups.len(), 8, "row {r0} chunks {c0}..");
                }
            }
            // Stepping 32 bytes along a row from a chunk with that bit clear is an XOR of
            // the offset (the fragments' XOR steps); 16 rows down, an addition.
            for r in 0..rows - 16 {
                for c in 0..chunks {
                    assert_eq!(
                        tile.offset(r + 16, c * 16),
                        tile.offset(r, c * 16) + 16 * row_bytes
                    );
                    for j in 1..chunks / 2 {
                        if c & (2 * j) == 0 {
                            assert_eq!(
                                tile.offset(r, (c + 2 * j) * 16),
                                tile.offset(r, c * 16) ^ (32 * j)
                            );
                        }
                    }
                }
            }
        }
    }
}

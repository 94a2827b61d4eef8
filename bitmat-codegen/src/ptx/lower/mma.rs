//! `dot` on tensor cores: `mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32` for i8,
//! `mma.sync.aligned.m16n8k32.row.col.f32.{e4m3,e5m2}.{e4m3,e5m2}.f32` for fp8 and
//! `mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}.{f16,bf16}.f32` for f16/bf16.
//!
//! The operands are staged in shared memory, padded with zeros to the instruction shape
//! (`MP = max(M, 16)`, `NP = max(N, 8)`, `KP = max(K, KI)` with `KI` = 32 for i8 and fp8
//! and 16 otherwise; extents are powers of two, so these are multiples of the shape):
//! - A `[MP, KP]` row-major, rows `KP * size + 16` bytes apart (the 16 bytes of padding
//!   spread the eight rows an `ldmatrix` phase reads over distinct banks);
//! - B transposed, `Bt [NP, KP]` row-major (B "col"), rows `KP * size + 16` bytes apart;
//! - the accumulator `C [MP, NP]` row-major as 32-bit words.
//!
//! In both instruction shapes a fragment register of A or B holds 4 consecutive bytes of
//! one row of A or Bt: A register `r` of lane `l` covers row `l / 4 + 8 * (r & 1)` and bytes
//! `4 * (l % 4) + 16 * (r / 2)` of the 32-byte k-step; B register `r` covers row `l / 4` of
//! Bt and bytes `4 * (l % 4) + 16 * r`. These are exactly the `ldmatrix.m8n8.b16` fragments
//! of the 8x(16 byte) matrices at those offsets, so A is loaded with one `ldmatrix.x4` and B
//! with one `ldmatrix.x2` per k-step (lane `l` addresses row `l % 8` of matrix `l / 8`).
//! C/D register `r` of lane `l` is element `(l / 4 + 8 * (r / 2), 2 * (l % 4) + r % 2)`.
//!
//! The output's 16x8 tiles are dealt out to the warps round-robin (a warp loops when there
//! are more tiles than warps); each loads its C fragment from the staged accumulator, runs
//! the k-steps, and writes D back in place. After a barrier every thread reads the elements
//! it owns. Integer results are exact (s32 accumulation, wrapping); float results are
//! f32 sums of exact products, in the tensor cores' order rather than the interpreter's
//! sequential one.

use crate::ptx::emit::Emitter;
use crate::ptx::layout::{log2, Layout};
use crate::ptx::regs::Class;
use crate::CodegenError;
use bitmat_ir::{DType, ValueId};

/// Dots of at most this many k-steps are unrolled; longer ones loop.
const UNROLL_STEPS: u32 = 8;

impl Emitter<'_> {
    /// Writes the elements of `v`, a `[rows, cols]` tile, to shared memory: element
    /// `(r, c)` at byte offset `base + r * row_stride + c * col_stride`, as `size`-byte values
    /// (i8 and fp8 bytes, f16/bf16 bits, or 32-bit words).
    fn stage_strided(
        &mut self,
        v: ValueId,
        d: DType,
        cols: u32,
        base: u32,
        row_stride: u32,
        col_stride: u32,
    ) -> Result<(), CodegenError> {
        let l = self.layout(v);
        for (j, r) in self.get(v)?.iter().enumerate() {
            let i = self.elem_index(&l, j as u32);
            let (row, col) = (self.reg(Class::B32), self.reg(Class::B32));
            self.line(format!("shr.u32 {row}, {i}, {};", log2(cols)));
            self.line(format!("and.b32 {col}, {i}, {};", cols - 1));
            let a = self.reg(Class::B32);
            let smem = self.smem.clone();
            self.line(format!("mad.lo.u32 {a}, {row}, {row_stride}, {smem};"));
            self.line(format!("mad.lo.u32 {a}, {col}, {col_stride}, {a};"));
            match d {
                d if d.size_bytes() == 1 => self.line(format!("st.shared.u8 [{a}+{base}], {r};")),
                DType::F16 | DType::BF16 => {
                    let h = self.round_to_half_bits(d, r);
                    self.line(format!("st.shared.b16 [{a}+{base}], {h};"));
                }
                DType::F32 => self.line(format!("st.shared.f32 [{a}+{base}], {r};")),
                _ => self.line(format!("st.shared.b32 [{a}+{base}], {r};")),
            }
        }
        Ok(())
    }

    /// Zeroes shared bytes `[0, bytes)` (`bytes` a multiple of 16), 16 bytes per thread and
    /// iteration.
    fn zero_shared(&mut self, bytes: u32) {
        let (off, z, a) = (
            self.reg(Class::B32),
            self.reg(Class::B32),
            self.reg(Class::B32),
        );
        let p = self.reg(Class::Pred);
        let (tid, smem) = (self.tid.clone(), self.smem.clone());
        let (head, end) = (self.new_label("zero"), self.new_label("zero_end"));
        self.line(format!("mov.b32 {z}, 0;"));
        self.line(format!("shl.b32 {off}, {tid}, 4;"));
        self.place_label(&head);
        self.line(format!("setp.ge.u32 {p}, {off}, {bytes};"));
        self.line(format!("@{p} bra {end};"));
        self.line(format!("add.u32 {a}, {smem}, {off};"));
        self.line(format!("st.shared.v4.b32 [{a}], {{{z}, {z}, {z}, {z}}};"));
        self.line(format!("add.u32 {off}, {off}, {};", self.threads * 16));
        self.line(format!("bra {head};"));
        self.place_label(&end);
    }

    /// Lowers `res = dot(a, b, acc)` for `a [M, K]` of element type `d` (i8, f16, bf16 or
    /// fp8) and `b [K, N]` with `mma.sync`.
    pub(crate) fn lower_dot_mma(
        &mut self,
        a: ValueId,
        b: ValueId,
        acc: ValueId,
        [m, k, n]: [u32; 3],
        d: DType,
    ) -> Result<Vec<String>, CodegenError> {
        let db = self.dtype(b)?;
        let (instr, ki, cc) = super::mma_frag::instruction(d, db)
            .ok_or_else(|| self.unsupported(format!("mma dot of {d} x {db}")))?;
        let size = d.size_bytes() as u32;
        let (mp, np, kp) = (m.max(16), n.max(8), k.max(ki));
        // Row strides of A and Bt (bytes), and of C.
        let rs = kp * size + 16;
        let cs = np * 4;
        let b_base = mp * rs;
        let c_base = b_base + np * rs;
        self.scratch(c_base + mp * cs);

        self.barrier();
        if (mp, np, kp) != (m, n, k) {
            self.zero_shared(c_base);
            // The zeros cover the staged elements too: they must land first.
            self.barrier();
        }
        self.stage_strided(a, d, k, 0, rs, size)?;
        // b[kk, nn] goes to Bt[nn, kk].
        self.stage_strided(b, db, n, b_base, size, rs)?;
        let ad = self.dtype(acc)?;
        self.stage_strided(acc, ad, n, c_base, cs, 4)?;
        self.barrier();

        let tid = self.tid.clone();
        let smem = self.smem.clone();
        let (lane, g, t) = (
            self.reg(Class::B32),
            self.reg(Class::B32),
            self.reg(Class::B32),
        );
        self.line(format!("and.b32 {lane}, {tid}, 31;"));
        self.line(format!("shr.u32 {g}, {lane}, 2;"));
        self.line(format!("and.b32 {t}, {lane}, 3;"));
        // ldmatrix row addresses: lane l points at row l % 8 of matrix l / 8.
        let (r8, q, x) = (
            self.reg(Class::B32),
            self.reg(Class::B32),
            self.reg(Class::B32),
        );
        self.line(format!("and.b32 {r8}, {lane}, 7;"));
        // A (x4): matrices (rows 0-7, bytes 0-15), (rows 8-15, 0-15), (0-7, 16-31), (8-15, 16-31).
        let a_lane = self.reg(Class::B32);
        self.line(format!("shr.u32 {q}, {lane}, 3;"));
        self.line(format!("and.b32 {x}, {q}, 1;"));
        self.line(format!("mad.lo.u32 {x}, {x}, 8, {r8};"));
        self.line(format!("mad.lo.u32 {a_lane}, {x}, {rs}, {smem};"));
        self.line(format!("shr.u32 {x}, {q}, 1;"));
        self.line(format!("mad.lo.u32 {a_lane}, {x}, 16, {a_lane};"));
        // B (x2): matrices (rows 0-7, bytes 0-15), (rows 0-7, bytes 16-31); lanes 16-31 repeat.
        let b_lane = self.reg(Class::B32);
        self.line(format!("and.b32 {x}, {q}, 1;"));
        self.line(format!("mad.lo.u32 {b_lane}, {r8}, {rs}, {smem};"));
        self.line(format!("mad.lo.u32 {b_lane}, {x}, 16, {b_lane};"));
        self.line(format!("add.u32 {b_lane}, {b_lane}, {b_base};"));
        // C: lane l holds (l / 4, 2 * (l % 4) + {0, 1}) and 8 rows below.
        let c_lane = self.reg(Class::B32);
        self.line(format!("mad.lo.u32 {c_lane}, {g}, {cs}, {smem};"));
        self.line(format!("mad.lo.u32 {c_lane}, {t}, 8, {c_lane};"));
        self.line(format!("add.u32 {c_lane}, {c_lane}, {c_base};"));

        let tiles_n = np / 8;
        let tiles = (mp / 16) * tiles_n;
        let warps = self.threads / 32;
        let tile = self.reg(Class::B32);
        let p = self.reg(Class::Pred);
        let (head, end) = (self.new_label("mma"), self.new_label("mma_end"));
        self.line(format!("shr.u32 {tile}, {tid}, 5;"));
        self.place_label(&head);
        // Warp-uniform: the tile index depends only on the warp.
        self.line(format!("setp.ge.u32 {p}, {tile}, {tiles};"));
        self.line(format!("@{p} bra.uni {end};"));
        let (tm, tn) = (self.reg(Class::B32), self.reg(Class::B32));
        self.line(format!("shr.u32 {tm}, {tile}, {};", log2(tiles_n)));
        self.line(format!("and.b32 {tn}, {tile}, {};", tiles_n - 1));
        let (pa, pb, pc) = (
            self.reg(Class::B32),
            self.reg(Class::B32),
            self.reg(Class::B32),
        );
        self.line(format!("mad.lo.u32 {pa}, {tm}, {}, {a_lane};", 16 * rs));
        self.line(format!("mad.lo.u32 {pb}, {tn}, {}, {b_lane};", 8 * rs));
        self.line(format!("mad.lo.u32 {pc}, {tm}, {}, {c_lane};", 16 * cs));
        self.line(format!("mad.lo.u32 {pc}, {tn}, 32, {pc};"));
        let c: Vec<String> = (0..4).map(|_| self.reg(cc)).collect();
        let vty = if cc == Class::F32 { "f32" } else { "b32" };
        self.line(format!(
            "ld.shared.v2.{vty} {{{}, {}}}, [{pc}];",
            c[0], c[1]
        ));
        self.line(format!(
            "ld.shared.v2.{vty} {{{}, {}}}, [{pc}+{}];",
            c[2],
            c[3],
            8 * cs
        ));
        let fa: Vec<String> = (0..4).map(|_| self.reg(Class::B32)).collect();
        let fb: Vec<String> = (0..2).map(|_| self.reg(Class::B32)).collect();
        let cl = c.join(", ");
        let step = |e: &mut Self| {
            e.line(format!(
                "ldmatrix.sync.aligned.m8n8.x4.shared.b16 {{{}}}, [{pa}];",
                fa.join(", ")
            ));
            e.line(format!(
                "ldmatrix.sync.aligned.m8n8.x2.shared.b16 {{{}}}, [{pb}];",
                fb.join(", ")
            ));
            e.line(format!(
                "mma.sync.aligned.{instr} {{{cl}}}, {{{}}}, {{{}}}, {{{cl}}};",
                fa.join(", "),
                fb.join(", ")
            ));
            e.line(format!("add.u32 {pa}, {pa}, 32;"));
            e.line(format!("add.u32 {pb}, {pb}, 32;"));
        };
        let steps = kp / ki;
        if steps <= UNROLL_STEPS {
            for _ in 0..steps {
                step(self);
            }
        } else {
            let (kk, pk) = (self.reg(Class::B32), self.reg(Class::Pred));
            let (kh, ke) = (self.new_label("mma_k"), self.new_label("mma_k_end"));
            self.line(format!("mov.u32 {kk}, 0;"));
            self.place_label(&kh);
            self.line(format!("setp.ge.u32 {pk}, {kk}, {steps};"));
            self.line(format!("@{pk} bra.uni {ke};"));
            step(self);
            self.line(format!("add.u32 {kk}, {kk}, 1;"));
            self.line(format!("bra.uni {kh};"));
            self.place_label(&ke);
        }
        self.line(format!(
            "st.shared.v2.{vty} [{pc}], {{{}, {}}};",
            c[0], c[1]
        ));
        self.line(format!(
            "st.shared.v2.{vty} [{pc}+{}], {{{}, {}}};",
            8 * cs,
            c[2],
            c[3]
        ));
        self.line(format!("add.u32 {tile}, {tile}, {warps};"));
        self.line(format!("bra.uni {head};"));
        self.place_label(&end);
        self.barrier();

        let lc = Layout::default_for(m * n, self.threads);
        let out: Vec<String> = (0..lc.slots()).map(|_| self.reg(cc)).collect();
        for (j, r) in out.iter().enumerate() {
            let i = self.elem_index(&lc, j as u32);
            let (row, col) = (self.reg(Class::B32), self.reg(Class::B32));
            self.line(format!("shr.u32 {row}, {i}, {};", log2(n)));
            self.line(format!("and.b32 {col}, {i}, {};", n - 1));
            let addr = self.reg(Class::B32);
            self.line(format!("mad.lo.u32 {addr}, {row}, {cs}, {smem};"));
            self.line(format!("mad.lo.u32 {addr}, {col}, 4, {addr};"));
            self.ld_word(&format!("{addr}+{c_base}"), cc, r);
        }
        Ok(out)
    }
}

//! `dot(a [M, K], b [K, N], acc [M, N])`: row `m` of the result is
//! `acc[m] + sum_k a[m, k] * b[k]`, `k` ascending, with `b[k]` a vector of `N` lanes: i8
//! operands widened to i32 (wrapping sums), f16/bf16 converted to `float` (exact), float sums
//! sequential without contraction to FMA, so results match the interpreter bit for bit.

use super::{vec, Emitter, Operand};
use crate::CodegenError;
use bitmat_ir::{DType, ValueId};

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
        let (av, bv, cv) = (self.get(a)?, self.get(b)?, self.get(acc)?);
        let (av, bv, elem, add, mul) = match d {
            DType::I8 => {
                let widen = |e: &mut Self, o: &Operand| {
                    let t = vec(super::vec_lanes(&o.ty), "i32");
                    e.ins(t.clone(), format!("sext {} {} to {t}", o.ty, o.text))
                };
                (widen(self, &av), widen(self, &bv), "i32", "add", "mul")
            }
            d if d.is_float() => (
                self.to_f32(&av, d),
                self.to_f32(&bv, d),
                "float",
                "fadd",
                "fmul",
            ),
            d => return Err(self.unsupported(format!("operands of {d}"))),
        };
        let rt = vec(n, elem);
        let b_rows: Vec<Operand> = (0..k)
            .map(|kk| self.shuffle(&bv, elem, &(kk * n..(kk + 1) * n).collect::<Vec<_>>()))
            .collect();
        let mut rows = Vec::with_capacity(m);
        for mm in 0..m {
            let mut row = self.shuffle(&cv, elem, &(mm * n..(mm + 1) * n).collect::<Vec<_>>());
            for (kk, b_row) in b_rows.iter().enumerate() {
                let a_splat = self.shuffle(&av, elem, &vec![mm * k + kk; n]);
                let p = self.ins(
                    rt.clone(),
                    format!("{mul} {rt} {}, {}", a_splat.text, b_row.text),
                );
                row = self.ins(rt.clone(), format!("{add} {rt} {}, {}", row.text, p.text));
            }
            rows.push(row);
        }
        let o = self.concat(rows, elem);
        self.set(r, o);
        Ok(())
    }
}

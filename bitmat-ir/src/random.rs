//! Random kernels for differential testing (cargo feature `random`): elementwise ops,
//! reductions, broadcasts, reshapes, casts, `for` loops with carried values and `if`s with
//! results, nested, over `i32` tiles of [`SHAPE`]. Every backend runs them against the
//! reference interpreter (the conformance suite), and the text IR round-trips them; they
//! stress scratch reuse (liveness) and the control-flow lowering.
//!
//! A program's parameters are `x: Ptr<i32>` ([`INPUT_LEN`] elements, read row-major as one
//! `[8, 16]` tile) and `out: Ptr<i32>` ([`OUTPUT_LEN`] elements: the last four values built,
//! one tile each). It runs on a grid of one program, and every input is valid: the ops chosen
//! cannot fault (no division, shift amounts wrap like the interpreter's).

use crate::{
    BinaryOp, CmpPred, DType, Kernel, KernelBuilder, ParamKind, ReduceOp, Scalar, UnaryOp, ValueId,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The shape of every tile of a random program.
pub const SHAPE: [u32; 2] = [8, 16];
/// Elements of a random program's `x` parameter.
pub const INPUT_LEN: usize = 128;
/// Elements of a random program's `out` parameter: four stored tiles.
pub const OUTPUT_LEN: usize = 512;

/// The random program of `seed` (the same seed gives the same kernel, on every platform).
pub fn program(seed: u64) -> Kernel {
    let mut g = Gen {
        b: KernelBuilder::new("random"),
        rng: StdRng::seed_from_u64(seed),
    };
    let x = g.b.param("x", ParamKind::Ptr(DType::I32));
    let out = g.b.param("out", ParamKind::Ptr(DType::I32));
    let offs = g.offsets();
    let xs = g.splat(x);
    let px = g.b.add_ptr(xs, offs);
    let t0 = g.b.load(px, None, None);
    let t1 = g.konst(7);
    let mut pool = vec![t0, t1, offs];
    g.block(&mut pool, 0, 12);
    let n = pool.len();
    for (i, &v) in pool[n - 4..].iter().enumerate() {
        let base = g.konst((i as i32) * 128);
        let o = g.b.binary(BinaryOp::Add, offs, base);
        let os = g.splat(out);
        let po = g.b.add_ptr(os, o);
        g.b.store(po, v, None);
    }
    g.b.finish()
        .expect("the generator builds only well-typed kernels")
}

/// Random `x` values of the program of `seed`, in `[-1000, 1000)`.
pub fn input(seed: u64) -> Vec<i32> {
    let mut rng = StdRng::seed_from_u64(seed ^ 1);
    (0..INPUT_LEN).map(|_| rng.gen_range(-1000..1000)).collect()
}

struct Gen {
    b: KernelBuilder,
    rng: StdRng,
}

impl Gen {
    fn pick(&mut self, pool: &[ValueId]) -> ValueId {
        pool[self.rng.gen_range(0..pool.len())]
    }

    fn konst(&mut self, v: i32) -> ValueId {
        self.b
            .constant(Scalar::from_i64(DType::I32, i64::from(v)), SHAPE.to_vec())
    }

    /// The scalar `v` broadcast to [`SHAPE`].
    fn splat(&mut self, v: ValueId) -> ValueId {
        let t = self.b.expand_dims(v, 0);
        let t = self.b.expand_dims(t, 0);
        self.b.broadcast(t, SHAPE.to_vec())
    }

    /// Row-major offsets `r * 16 + c` of a [`SHAPE`] tile.
    fn offsets(&mut self) -> ValueId {
        let [rows, cols] = SHAPE;
        let r = self.b.arange(rows);
        let c = self.b.arange(cols);
        let r2 = self.b.expand_dims(r, 1);
        let r2 = self.b.broadcast(r2, SHAPE.to_vec());
        let c2 = self.b.expand_dims(c, 0);
        let c2 = self.b.broadcast(c2, SHAPE.to_vec());
        let s = self.konst(cols as i32);
        let rs = self.b.binary(BinaryOp::Mul, r2, s);
        self.b.binary(BinaryOp::Add, rs, c2)
    }

    /// One random op over `pool`; returns its `i32 [8, 16]` result.
    fn step(&mut self, pool: &[ValueId]) -> ValueId {
        let (a, c) = (self.pick(pool), self.pick(pool));
        match self.rng.gen_range(0..9) {
            0 | 1 => {
                let ops = [
                    BinaryOp::Add,
                    BinaryOp::Sub,
                    BinaryOp::Mul,
                    BinaryOp::And,
                    BinaryOp::Or,
                    BinaryOp::Xor,
                    BinaryOp::Min,
                    BinaryOp::Max,
                ];
                let op = ops[self.rng.gen_range(0..ops.len())];
                self.b.binary(op, a, c)
            }
            2 => {
                let ops = [UnaryOp::Neg, UnaryOp::Not, UnaryOp::Abs];
                let op = ops[self.rng.gen_range(0..ops.len())];
                self.b.unary(op, a)
            }
            3 => {
                let m = self.b.cmp(CmpPred::Lt, a, c);
                let k = self.rng.gen_range(-5..5);
                let k = self.konst(k);
                self.b.select(m, c, k)
            }
            4 => {
                let axis = self.rng.gen_range(0..2u32);
                let r = self.b.reduce(ReduceOp::Sum, a, axis);
                let e = self.b.expand_dims(r, axis);
                self.b.broadcast(e, SHAPE.to_vec())
            }
            5 => {
                let s = self.rng.gen_range(0..40);
                let s = self.konst(s);
                let op = if self.rng.gen_bool(0.5) {
                    BinaryOp::Shl
                } else {
                    BinaryOp::Shr
                };
                self.b.binary(op, a, s)
            }
            6 => {
                // Through f32 and back: exact for small values, saturating otherwise.
                let f = self.b.cast(a, DType::F32);
                let h = self
                    .b
                    .constant(Scalar::from_f64(DType::F32, 0.5), SHAPE.to_vec());
                let f = self.b.binary(BinaryOp::Mul, f, h);
                let f = self.b.unary(UnaryOp::Round, f);
                self.b.cast(f, DType::I32)
            }
            7 => {
                let r = self.b.reshape(a, vec![16, 8]);
                let r = self.b.reshape(r, SHAPE.to_vec());
                self.b.binary(BinaryOp::Add, r, c)
            }
            _ => {
                let t = self.b.cast(a, DType::I16);
                let t = self.b.bitcast(t, DType::U16);
                self.b.cast(t, DType::I32)
            }
        }
    }

    /// `steps` random ops, loops and ifs (nested up to depth 2), each result added to `pool`.
    fn block(&mut self, pool: &mut Vec<ValueId>, depth: u32, steps: u32) {
        for _ in 0..steps {
            let kind = if depth < 2 {
                self.rng.gen_range(0..8)
            } else {
                0
            };
            let v = match kind {
                6 => self.for_loop(pool, depth),
                7 => self.if_else(pool, depth),
                _ => self.step(pool),
            };
            pool.push(v);
        }
    }

    /// `for i in 0..3` carrying two values (sometimes swapped); pushes the second result to
    /// `pool` and returns the first.
    fn for_loop(&mut self, pool: &mut Vec<ValueId>, depth: u32) -> ValueId {
        let scalar = |g: &mut Gen, v: i64| g.b.constant(Scalar::from_i64(DType::I32, v), vec![]);
        let (lo, hi, st) = (scalar(self, 0), scalar(self, 3), scalar(self, 1));
        let init = vec![self.pick(pool), self.pick(pool)];
        let (iv, args) = self.b.begin_for(lo, hi, st, init);
        let mut inner = pool.clone();
        inner.extend(&args);
        let ivt = self.splat(iv);
        inner.push(ivt);
        self.block(&mut inner, depth + 1, 3);
        let n = inner.len();
        let yields = if self.rng.gen_bool(0.3) {
            vec![args[1], args[0]]
        } else {
            vec![inner[n - 1], inner[n - 2]]
        };
        let res = self
            .b
            .end_for(yields)
            .expect("the loop yields its carried types");
        pool.push(res[1]);
        res[0]
    }

    /// `if max(row sums) > 0 { .. } else { .. }` yielding one tile.
    fn if_else(&mut self, pool: &[ValueId], depth: u32) -> ValueId {
        let a = self.pick(pool);
        let r = self.b.reduce(ReduceOp::Sum, a, 1);
        let r = self.b.reduce(ReduceOp::Max, r, 0);
        let zero = self.b.constant(Scalar::from_i64(DType::I32, 0), vec![]);
        let cond = self.b.cmp(CmpPred::Gt, r, zero);
        self.b.begin_if(cond);
        let mut then_pool = pool.to_vec();
        self.block(&mut then_pool, depth + 1, 2);
        let then_value = *then_pool.last().expect("the pool is never empty");
        self.b
            .begin_else(vec![then_value])
            .expect("the branch yields one tile");
        let mut else_pool = pool.to_vec();
        self.block(&mut else_pool, depth + 1, 2);
        let else_value = *else_pool.last().expect("the pool is never empty");
        self.b
            .end_if(vec![else_value])
            .expect("both branches yield the same type")[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_verify_and_depend_on_the_seed() {
        let a = program(1);
        crate::verify::verify(&a).expect("verifies");
        assert_eq!(a, program(1));
        assert_ne!(a, program(2));
        assert_eq!(input(3).len(), INPUT_LEN);
    }
}

//! Random programs (elementwise ops, reductions, broadcasts, loops with carried values, `if`
//! with results) on `i32`/`f32` tiles: the JIT against the interpreter. This stresses the
//! scratch slot reuse (liveness) and the control-flow lowering.

mod common;

use bitmat_ir::{
    BinaryOp, CmpPred, DType, HostData, Kernel, KernelBuilder, ParamKind, ReduceOp, Scalar,
    UnaryOp, ValueId,
};
use common::*;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SHAPE: [u32; 2] = [8, 16];

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

    fn block(&mut self, pool: &mut Vec<ValueId>, depth: u32, steps: u32) {
        for _ in 0..steps {
            let kind = if depth < 2 {
                self.rng.gen_range(0..8)
            } else {
                0
            };
            let v = match kind {
                6 => {
                    // for i in 0..3 carrying two values.
                    let lo = self.b.constant(Scalar::from_i64(DType::I32, 0), vec![]);
                    let hi = self.b.constant(Scalar::from_i64(DType::I32, 3), vec![]);
                    let st = self.b.constant(Scalar::from_i64(DType::I32, 1), vec![]);
                    let init = vec![self.pick(pool), self.pick(pool)];
                    let (iv, args) = self.b.begin_for(lo, hi, st, init);
                    let mut inner = pool.clone();
                    inner.extend(&args);
                    let ivt = self.b.expand_dims(iv, 0);
                    let ivt = self.b.expand_dims(ivt, 0);
                    let ivt = self.b.broadcast(ivt, SHAPE.to_vec());
                    inner.push(ivt);
                    self.block(&mut inner, depth + 1, 3);
                    let n = inner.len();
                    // Sometimes swap the carried values.
                    let yields = if self.rng.gen_bool(0.3) {
                        vec![args[1], args[0]]
                    } else {
                        vec![inner[n - 1], inner[n - 2]]
                    };
                    let res = self.b.end_for(yields).unwrap();
                    pool.push(res[1]);
                    res[0]
                }
                7 => {
                    let a = self.pick(pool);
                    let r = self.b.reduce(ReduceOp::Sum, a, 1);
                    let r = self.b.reduce(ReduceOp::Max, r, 0);
                    let zero = self.b.constant(Scalar::from_i64(DType::I32, 0), vec![]);
                    let cond = self.b.cmp(CmpPred::Gt, r, zero);
                    self.b.begin_if(cond);
                    let mut then_pool = pool.clone();
                    self.block(&mut then_pool, depth + 1, 2);
                    self.b.begin_else(vec![*then_pool.last().unwrap()]).unwrap();
                    let mut else_pool = pool.clone();
                    self.block(&mut else_pool, depth + 1, 2);
                    self.b.end_if(vec![*else_pool.last().unwrap()]).unwrap()[0]
                }
                _ => self.step(pool),
            };
            pool.push(v);
        }
    }
}

fn random_kernel(seed: u64) -> Kernel {
    let mut g = Gen {
        b: KernelBuilder::new("random"),
        rng: StdRng::seed_from_u64(seed),
    };
    let x = g.b.param("x", ParamKind::Ptr(DType::I32));
    let out = g.b.param("out", ParamKind::Ptr(DType::I32));
    let [r, c] = SHAPE;
    let stride =
        g.b.constant(Scalar::from_i64(DType::I32, i64::from(c)), vec![]);
    let offs = offsets_2d(&mut g.b, r, c, stride);
    let xs = splat(&mut g.b, x, &SHAPE);
    let px = g.b.add_ptr(xs, offs);
    let t0 = g.b.load(px, None, None);
    let t1 = g.konst(7);
    let mut pool = vec![t0, t1, offs];
    g.block(&mut pool, 0, 12);
    let n = pool.len();
    for (i, &v) in pool[n - 4..].iter().enumerate() {
        let base = g.konst((i as i32) * 128);
        let o = g.b.binary(BinaryOp::Add, offs, base);
        let os = splat(&mut g.b, out, &SHAPE);
        let po = g.b.add_ptr(os, o);
        g.b.store(po, v, None);
    }
    g.b.finish().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_programs_agree_with_the_interpreter(seed in any::<u64>()) {
        let k = random_kernel(seed);
        let mut rng = StdRng::seed_from_u64(seed ^ 1);
        let x: Vec<i32> = (0..128).map(|_| rng.gen_range(-1000..1000)).collect();
        let args = [
            Arg::Buf(HostData::I32(x)),
            Arg::Buf(HostData::zeros(DType::I32, 512)),
        ];
        check(&format!("random program {seed}"), &k, [1, 1, 1], &args);
    }
}

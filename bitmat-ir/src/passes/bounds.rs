//! Bounds checks for checked launches: [`instrument`] rewrites a kernel so that every lane of
//! every load, store and atomic it would access outside its buffer is masked off and reported
//! in a small record in device memory, which the runtime reads back after the launch and turns
//! into the interpreter's own out-of-bounds error ([`Checked::fault`]). Every backend runs the
//! instrumented kernel as it runs any other: the checks are ordinary IR.
//!
//! An access that [`Ranges`] proves in bounds under conditions on the launch's scalar
//! arguments, grid and buffer lengths (`x + offs` masked by `offs < n` needs `n <= len(x)`)
//! keeps no check in the kernel: the runtime evaluates the conditions
//! ([`Checked::preconditions`]) once per launch, and where they fail runs the kernel of
//! [`instrument_all`], which checks every access.
//!
//! Each pointer value gets a *shadow*: its element offset from the pointer parameter it derives
//! from, built from the same `addptr`s and shape ops (an `i32` tile while a single `i32` offset
//! was added, as in `x + offs`, else `i64`, wrapping as the interpreter does). An access then
//! costs one unsigned compare per element against the buffer's length (hidden scalar
//! parameters), the mask's `and`, and a reduction that branches to the reporting code only
//! when some lane is out of bounds. The reporting code takes the first out-of-bounds lane in
//! row-major order, as the interpreter does; when several programs fail, the record holds the
//! first of them in the grid's order (x fastest), the one the interpreter reports, whatever
//! order they ran in: every word is written by an atomic max under a key that is larger for
//! earlier programs (exact for the first 2^32 - 1 programs of a grid).
//!
//! A `device_assert` left in the kernel (debug launches) is checked the same way: where its
//! condition is false in some lane, the record reports the assertion as a site, with the
//! first false lane, and the launch fails with the interpreter's assertion error.

use crate::interp::{describe, InterpError, InterpErrorKind};
use crate::kernel::{
    AtomicOp, BinaryOp, Block, CmpPred, Kernel, Op, OpKind, Param, ParamKind, ReduceOp, UnaryOp,
    ValueId,
};
use crate::passes::ranges::{Launch, Preconditions, Ranges};
use crate::passes::{cse, dce};
use crate::scalar::Scalar;
use crate::types::{DType, ElemType, TileType};
use std::collections::{HashMap, HashSet};

/// Words (`u64`) of the record a checked kernel writes: the key of the program that reported
/// (`u32::MAX` minus its position in the grid, x fastest; 0: none), then, each in the low half
/// of a word whose high half is that key, the program (x, y, z), the access site, the flat
/// lane, and the index's low and high halves.
pub const RECORD_WORDS: usize = 8;

/// Why a kernel cannot be instrumented.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BoundsError {
    /// A pointer value derives from more than one pointer parameter (a `select` or a loop
    /// between two buffers), so no single buffer length bounds it.
    #[error("kernel `{kernel}`: a pointer derives from both `{a}` and `{b}`; a checked launch needs each pointer tile to come from one buffer (select between values, not pointers)")]
    MixedPointers {
        /// The kernel.
        kernel: String,
        /// One parameter.
        a: String,
        /// The other.
        b: String,
    },
}

/// An access or assertion the instrumented kernel checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    /// The op as the interpreter names it (`%8 = load`, `store`, `device_assert`).
    pub op: String,
    /// What is checked there.
    pub kind: SiteKind,
    /// The shape of the access (of its pointer tile) or of the assertion's condition.
    pub shape: Vec<u32>,
}

/// What a [`Site`] checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SiteKind {
    /// A load, store or atomic through the pointer parameter of this index stays in bounds.
    Access {
        /// The index of the pointer parameter it accesses.
        param: usize,
    },
    /// A `device_assert` (kept in debug launches) holds in every lane.
    Assert {
        /// Its message.
        message: String,
    },
}

/// A kernel with bounds checks, and what the runtime needs to launch it and read its record.
#[derive(Clone, Debug, PartialEq)]
pub struct Checked {
    /// The instrumented kernel. Its parameters are the original ones, then for each pointer
    /// parameter in order its length as `u32` (capped at 2^31, see [`Checked::lengths`]) and
    /// as `u64`, then the record (`Ptr<u64>` of [`RECORD_WORDS`] zeros).
    pub kernel: Kernel,
    /// The checked accesses, by the site number the record holds.
    pub sites: Vec<Site>,
    /// What the accesses left unchecked need at launch to be in bounds: when these do not
    /// hold, the launch runs [`instrument_all`]'s kernel instead.
    pub preconditions: Preconditions,
    /// The original kernel's name and parameters, for reports.
    original: Vec<Param>,
}

impl Checked {
    /// The hidden length arguments for buffers of `lens` elements (one per pointer parameter,
    /// in order): `u32` lengths capped at 2^31 (an `i32` offset reinterpreted as `u32` is in
    /// bounds exactly when it is below that cap), then `u64` lengths.
    pub fn lengths(lens: &[usize]) -> Vec<Scalar> {
        let mut out = Vec::with_capacity(2 * lens.len());
        for &len in lens {
            let capped = (len as u64).min(1 << 31);
            out.push(Scalar::from_bits(DType::U32, capped));
            out.push(Scalar::from_bits(DType::U64, len as u64));
        }
        out
    }

    /// Whether the accesses left unchecked are in bounds for launch `at`.
    pub fn proven(&self, at: &Launch) -> bool {
        self.preconditions.hold(at)
    }

    /// The out-of-bounds error a launch's `record` reports (`None` when it reports nothing),
    /// exactly as the interpreter words it; `lens` are the pointer parameters' buffer lengths.
    pub fn fault(&self, record: &[u64], lens: &[usize]) -> Option<InterpError> {
        if record.len() < RECORD_WORDS || record[0] == 0 {
            return None;
        }
        let record: Vec<i32> = record.iter().map(|&w| w as u32 as i32).collect();
        let site = self.sites.get(record[4] as usize)?;
        let lane = lane_of(record[5] as u32, &site.shape);
        let kind = match &site.kind {
            SiteKind::Access { param: at } => {
                let param = self.original.get(*at)?;
                let ptr_index = self.original[..*at]
                    .iter()
                    .filter(|p| matches!(p.kind, ParamKind::Ptr(_)))
                    .count();
                InterpErrorKind::OutOfBounds {
                    param: param.name.clone(),
                    index: (i64::from(record[7]) << 32) | i64::from(record[6] as u32),
                    len: lens.get(ptr_index).copied().unwrap_or(0),
                    lane,
                }
            }
            SiteKind::Assert { message } => InterpErrorKind::AssertionFailed {
                message: message.clone(),
                lane,
            },
        };
        Some(InterpError {
            kernel: self.kernel.name.clone(),
            program: [record[1] as u32, record[2] as u32, record[3] as u32],
            op: site.op.clone(),
            kind,
        })
    }
}

/// The multi-index of flat (row-major) element `flat` of a tile of `shape`.
fn lane_of(mut flat: u32, shape: &[u32]) -> Vec<u32> {
    let mut lane = vec![0; shape.len()];
    for (l, &d) in lane.iter_mut().zip(shape).rev() {
        *l = flat % d.max(1);
        flat /= d.max(1);
    }
    lane
}

/// Instruments `kernel` (verified) with bounds checks, leaving out those of the accesses that
/// [`Ranges`] proves in bounds under [`Checked::preconditions`]; see the module documentation.
pub fn instrument(kernel: &Kernel) -> Result<Checked, BoundsError> {
    // Common subexpressions merged first, so that the analysis sees `kb * BK` in a mask and in
    // an offset as one value.
    let mut base = kernel.clone();
    cse::run(&mut base);
    let mut ranges = Ranges::new(&base);
    let mut proven = HashSet::new();
    prove_block(&base.body, &mut ranges, &mut proven);
    let preconditions = ranges.finish();
    instrument_with(&base, proven, preconditions)
}

/// Instruments every access of `kernel` (verified), for launches where
/// [`instrument`]'s preconditions do not hold.
pub fn instrument_all(kernel: &Kernel) -> Result<Checked, BoundsError> {
    instrument_with(kernel, HashSet::new(), Preconditions::default())
}

/// The accesses of `block` (by pointer and mask) that `ranges` proves in bounds.
fn prove_block(block: &Block, ranges: &mut Ranges<'_>, proven: &mut HashSet<Access>) {
    for op in &block.ops {
        match &op.kind {
            OpKind::Load { ptr, mask, .. }
            | OpKind::Store { ptr, mask, .. }
            | OpKind::Atomic { ptr, mask, .. }
            | OpKind::AtomicCas { ptr, mask, .. }
                if ranges.prove(*ptr, *mask) =>
            {
                proven.insert((*ptr, *mask));
            }
            OpKind::For { body, .. } | OpKind::While { body, .. } => {
                prove_block(body, ranges, proven)
            }
            OpKind::If {
                then_block,
                else_block,
                ..
            } => {
                prove_block(then_block, ranges, proven);
                prove_block(else_block, ranges, proven);
            }
            _ => {}
        }
    }
}

/// An access by its pointer and mask.
type Access = (ValueId, Option<ValueId>);

fn instrument_with(
    kernel: &Kernel,
    proven: HashSet<Access>,
    preconditions: Preconditions,
) -> Result<Checked, BoundsError> {
    let mut k = kernel.clone();
    let mut lens = Vec::new();
    let mut shadows = HashMap::new();
    for (i, p) in kernel.params.iter().enumerate() {
        if let ParamKind::Ptr(_) = p.kind {
            shadows.insert(
                p.value,
                Shadow {
                    param: i,
                    off: None,
                },
            );
            let len32 = add_param(&mut k, format!("__len32_{}", p.name), DType::U32);
            let len64 = add_param(&mut k, format!("__len64_{}", p.name), DType::U64);
            lens.push((i, len32, len64));
        }
    }
    let record = add_param_kind(&mut k, "__bounds_record".into(), ParamKind::Ptr(DType::U64));
    let body = std::mem::take(&mut k.body);
    let mut pass = Pass {
        k,
        shadows,
        lens,
        record,
        sites: Vec::new(),
        proven,
    };
    let body = pass.block(&body)?;
    let mut k = pass.k;
    k.body = body;
    cse::run(&mut k);
    dce::run(&mut k);
    Ok(Checked {
        kernel: k,
        sites: pass.sites,
        preconditions,
        original: kernel.params.clone(),
    })
}

fn add_param(k: &mut Kernel, name: String, d: DType) -> ValueId {
    add_param_kind(k, name, ParamKind::Scalar(d))
}

fn add_param_kind(k: &mut Kernel, name: String, kind: ParamKind) -> ValueId {
    let ty = match kind {
        ParamKind::Ptr(d) => TileType::new(ElemType::Ptr(d), vec![]),
        ParamKind::Scalar(d) => TileType::scalar(d),
    };
    let value = new_value(k, ty);
    k.params.push(Param {
        name,
        kind,
        value,
        divisibility: 1,
    });
    value
}

fn new_value(k: &mut Kernel, ty: TileType) -> ValueId {
    k.values.push(ty);
    ValueId(k.values.len() as u32 - 1)
}

/// A pointer value's parameter and element offset from it (`None`: offset zero).
#[derive(Copy, Clone, Debug)]
struct Shadow {
    param: usize,
    off: Option<ValueId>,
}

struct Pass {
    k: Kernel,
    shadows: HashMap<ValueId, Shadow>,
    /// Per pointer parameter: its index, its `u32` and `u64` length parameters.
    lens: Vec<(usize, ValueId, ValueId)>,
    record: ValueId,
    sites: Vec<Site>,
    /// The accesses left unchecked.
    proven: HashSet<Access>,
}

/// The ops of one block being rebuilt.
struct Out<'a> {
    pass: &'a mut Pass,
    ops: Vec<Op>,
}

impl Out<'_> {
    fn push(&mut self, kind: OpKind, ty: TileType) -> ValueId {
        let v = new_value(&mut self.pass.k, ty);
        self.ops.push(Op {
            kind,
            results: vec![v],
        });
        v
    }

    fn ty(&self, v: ValueId) -> TileType {
        self.pass.k.ty(v).clone()
    }

    fn constant(&mut self, s: Scalar, shape: &[u32]) -> ValueId {
        self.push(OpKind::Constant(s), TileType::val(s.dtype(), shape))
    }

    fn cast(&mut self, v: ValueId, d: DType) -> ValueId {
        let t = self.ty(v);
        if t.dtype() == Some(d) {
            return v;
        }
        self.push(OpKind::Cast(v), t.with_elem(ElemType::Val(d)))
    }

    fn bitcast(&mut self, v: ValueId, d: DType) -> ValueId {
        let t = self.ty(v);
        self.push(OpKind::Bitcast(v), t.with_elem(ElemType::Val(d)))
    }

    fn binary(&mut self, op: BinaryOp, a: ValueId, b: ValueId) -> ValueId {
        let t = self.ty(a);
        self.push(OpKind::Binary(op, a, b), t)
    }

    fn cmp(&mut self, pred: CmpPred, a: ValueId, b: ValueId) -> ValueId {
        let t = self.ty(a).with_elem(ElemType::Val(DType::Bool));
        self.push(OpKind::Cmp(pred, a, b), t)
    }

    /// A scalar broadcast to `shape`, as the DSL front-end does it.
    fn splat(&mut self, v: ValueId, shape: &[u32]) -> ValueId {
        let elem = self.ty(v).elem;
        let mut id = v;
        for r in 0..shape.len() {
            let ty = TileType::new(elem, vec![1; r + 1]);
            id = self.push(OpKind::ExpandDims { value: id, axis: 0 }, ty);
        }
        if shape.iter().any(|&d| d != 1) {
            id = self.push(OpKind::Broadcast(id), TileType::new(elem, shape));
        }
        id
    }

    /// `v` reduced with `op` over every axis to a scalar.
    fn reduce_all(&mut self, op: ReduceOp, v: ValueId) -> ValueId {
        let mut id = v;
        loop {
            let t = self.ty(id);
            let Some(axis) = t.rank().checked_sub(1) else {
                return id;
            };
            let mut shape = t.shape.clone();
            shape.pop();
            let ty = TileType::new(t.elem, shape);
            id = self.push(
                OpKind::Reduce {
                    op,
                    value: id,
                    axis: axis as u32,
                },
                ty,
            );
        }
    }

    /// The shadow offset `s` as a tile of `shape` and type `d` (`i32` or `i64`).
    fn offset(&mut self, s: Shadow, shape: &[u32], d: DType) -> ValueId {
        match s.off {
            None => self.constant(Scalar::from_i64(d, 0), shape),
            Some(v) => self.cast(v, d),
        }
    }

    /// The offset tile of a shadow, with its type (`i32` or `i64`).
    fn offset_any(&mut self, s: Shadow, shape: &[u32]) -> (ValueId, DType) {
        match s.off {
            None => (
                self.constant(Scalar::from_i64(DType::I32, 0), shape),
                DType::I32,
            ),
            Some(v) => (v, self.ty(v).dtype().unwrap_or(DType::I64)),
        }
    }

    /// The shadow of `addptr(ptr, offset)` where `ptr` has shadow `s`.
    fn add_offset(&mut self, s: Shadow, offset: ValueId) -> Shadow {
        let d = self.ty(offset).dtype().unwrap_or(DType::I64);
        let narrow = matches!(
            d,
            DType::I8 | DType::I16 | DType::U8 | DType::U16 | DType::I32
        );
        let off = match s.off {
            None if narrow => self.cast(offset, DType::I32),
            None => self.cast(offset, DType::I64),
            Some(prev) => {
                let a = self.cast(prev, DType::I64);
                let b = self.cast(offset, DType::I64);
                self.binary(BinaryOp::Add, a, b)
            }
        };
        Shadow {
            param: s.param,
            off: Some(off),
        }
    }

    /// The checks before an access through `ptr` with `mask`: reports the out-of-bounds lanes
    /// and returns the mask that leaves them out.
    fn check(&mut self, op: &Op, ptr: ValueId, mask: Option<ValueId>) -> ValueId {
        let s = self.pass.shadows[&ptr];
        let shape = self.ty(ptr).shape;
        let (off, d) = self.offset_any(s, &shape);
        let (_, len32, len64) = *self
            .pass
            .lens
            .iter()
            .find(|(p, _, _)| *p == s.param)
            .expect("every pointer parameter has lengths");
        let (ud, len) = if d == DType::I32 {
            (DType::U32, len32)
        } else {
            (DType::U64, len64)
        };
        let uoff = self.bitcast(off, ud);
        let lens = self.splat(len, &shape);
        let inb = self.cmp(CmpPred::Lt, uoff, lens);
        let keep = match mask {
            Some(m) => self.binary(BinaryOp::And, m, inb),
            None => inb,
        };
        // Whether any accessed lane is out: the largest accessed offset (as unsigned) against
        // the length, one reduction of the offsets; the lanes themselves are found only in the
        // reporting branch.
        let any = if shape.is_empty() {
            let oob = self.push(OpKind::Unary(UnaryOp::Not, keep), self.ty(keep));
            match mask {
                Some(m) => self.binary(BinaryOp::And, m, oob),
                None => oob,
            }
        } else {
            let probe = match mask {
                Some(m) => {
                    let zero = self.constant(Scalar::from_i64(ud, 0), &shape);
                    self.push(
                        OpKind::Select {
                            cond: m,
                            on_true: uoff,
                            on_false: zero,
                        },
                        self.ty(uoff),
                    )
                }
                None => uoff,
            };
            let most = self.reduce_all(ReduceOp::Max, probe);
            self.cmp(CmpPred::Ge, most, len)
        };
        let site = self.pass.sites.len();
        self.pass.sites.push(Site {
            op: describe(op),
            kind: SiteKind::Access { param: s.param },
            shape: shape.clone(),
        });
        let mut then = Out {
            pass: &mut *self.pass,
            ops: Vec::new(),
        };
        let out = then.push(OpKind::Unary(UnaryOp::Not, inb), then.ty(inb));
        let active = match mask {
            Some(m) => then.binary(BinaryOp::And, m, out),
            None => out,
        };
        then.report(site, &shape, active, off);
        then.ops.push(Op {
            kind: OpKind::Yield(vec![]),
            results: vec![],
        });
        let then_block = Block {
            args: vec![],
            ops: then.ops,
        };
        let else_block = Block {
            args: vec![],
            ops: vec![Op {
                kind: OpKind::Yield(vec![]),
                results: vec![],
            }],
        };
        self.ops.push(Op {
            kind: OpKind::If {
                cond: any,
                then_block,
                else_block,
            },
            results: vec![],
        });
        keep
    }

    /// Replaces the `device_assert` `op` of `cond`: where some lane of `cond` is false, the
    /// record reports the first such lane, as for an out-of-bounds access.
    fn check_assert(&mut self, op: &Op, cond: ValueId, message: String) {
        let shape = self.ty(cond).shape;
        let failed = self.push(OpKind::Unary(UnaryOp::Not, cond), self.ty(cond));
        let any = if shape.is_empty() {
            failed
        } else {
            let ones = self.cast(failed, DType::I32);
            let most = self.reduce_all(ReduceOp::Max, ones);
            let zero = self.constant(Scalar::from_i64(DType::I32, 0), &[]);
            self.cmp(CmpPred::Ne, most, zero)
        };
        let site = self.pass.sites.len();
        self.pass.sites.push(Site {
            op: describe(op),
            kind: SiteKind::Assert { message },
            shape: shape.clone(),
        });
        let mut then = Out {
            pass: &mut *self.pass,
            ops: Vec::new(),
        };
        let no_index = then.constant(Scalar::from_i64(DType::I32, 0), &shape);
        then.report(site, &shape, failed, no_index);
        then.ops.push(Op {
            kind: OpKind::Yield(vec![]),
            results: vec![],
        });
        let then_block = Block {
            args: vec![],
            ops: then.ops,
        };
        let else_block = Block {
            args: vec![],
            ops: vec![Op {
                kind: OpKind::Yield(vec![]),
                results: vec![],
            }],
        };
        self.ops.push(Op {
            kind: OpKind::If {
                cond: any,
                then_block,
                else_block,
            },
            results: vec![],
        });
    }

    /// Writes the record for access `site` whose lanes `active` are out of bounds at offsets
    /// `off`, unless an earlier access wrote it.
    fn report(&mut self, site: usize, shape: &[u32], active: ValueId, off: ValueId) {
        let i32c = |o: &mut Self, v: i64| o.constant(Scalar::from_i64(DType::I32, v), &[]);
        let (lane, index) = if shape.is_empty() {
            (i32c(self, 0), self.cast(off, DType::I64))
        } else {
            let n: u32 = shape.iter().product();
            let mut iota = self.push(OpKind::Arange(n), TileType::val(DType::I32, vec![n]));
            if shape.len() > 1 {
                iota = self.push(OpKind::Reshape(iota), TileType::val(DType::I32, shape));
            }
            let big = self.constant(Scalar::from_i64(DType::I32, i64::from(i32::MAX)), shape);
            let cand = self.push(
                OpKind::Select {
                    cond: active,
                    on_true: iota,
                    on_false: big,
                },
                TileType::val(DType::I32, shape),
            );
            let lane = self.reduce_all(ReduceOp::Min, cand);
            let lanes = self.splat(lane, shape);
            let at = self.cmp(CmpPred::Eq, iota, lanes);
            let off64 = self.cast(off, DType::I64);
            let low = self.constant(Scalar::from_i64(DType::I64, i64::MIN), shape);
            let pick = self.push(
                OpKind::Select {
                    cond: at,
                    on_true: off64,
                    on_false: low,
                },
                TileType::val(DType::I64, shape),
            );
            (lane, self.reduce_all(ReduceOp::Max, pick))
        };
        let record = self.pass.record;
        let u64c = |o: &mut Self, v: u64| o.constant(Scalar::from_bits(DType::U64, v), &[]);
        // The program's position in the interpreter's order (x fastest), as a key that is
        // larger for earlier programs (and at least 1, above the record's initial zeros).
        let pids: Vec<ValueId> = (0..3)
            .map(|a| self.push(OpKind::ProgramId(a), TileType::scalar(DType::I32)))
            .collect();
        let wide = |o: &mut Self, v: ValueId| {
            let u = o.cast(v, DType::U32);
            o.cast(u, DType::U64)
        };
        let grid: Vec<ValueId> = (0..2)
            .map(|a| {
                let g = self.push(OpKind::NumPrograms(a), TileType::scalar(DType::I32));
                wide(self, g)
            })
            .collect();
        let (x, y, z) = (
            wide(self, pids[0]),
            wide(self, pids[1]),
            wide(self, pids[2]),
        );
        let zy = self.binary(BinaryOp::Mul, grid[1], z);
        let zy = self.binary(BinaryOp::Add, zy, y);
        let lin = self.binary(BinaryOp::Mul, grid[0], zy);
        let lin = self.binary(BinaryOp::Add, lin, x);
        let cap = u64c(self, u64::from(u32::MAX - 1));
        let lin = self.binary(BinaryOp::Min, lin, cap);
        let top = u64c(self, u64::from(u32::MAX));
        let key = self.binary(BinaryOp::Sub, top, lin);
        let atomic_max = |o: &mut Self, ptr: ValueId, value: ValueId, mask: Option<ValueId>| {
            o.push(
                OpKind::Atomic {
                    op: AtomicOp::Max,
                    ptr,
                    value,
                    mask,
                },
                TileType::scalar(DType::U64),
            )
        };
        // Only a program's first report, and only when no earlier program has reported yet.
        let before = atomic_max(self, record, key, None);
        let first = self.cmp(CmpPred::Gt, key, before);
        let site = i32c(self, site as i64);
        let lo = self.cast(index, DType::I32);
        let shift = self.constant(Scalar::from_i64(DType::I64, 32), &[]);
        let hi = self.binary(BinaryOp::Shr, index, shift);
        let hi = self.cast(hi, DType::I32);
        let shift = u64c(self, 32);
        let high = self.binary(BinaryOp::Shl, key, shift);
        // Each word goes under the key: the earliest program's words win every slot, however
        // the reports of several programs interleave.
        for (word, v) in [pids[0], pids[1], pids[2], site, lane, lo, hi]
            .into_iter()
            .enumerate()
        {
            let at = i32c(self, word as i64 + 1);
            let p = self.push(
                OpKind::AddPtr {
                    ptr: record,
                    offset: at,
                },
                self.ty(record),
            );
            let v = wide(self, v);
            let packed = self.binary(BinaryOp::Or, high, v);
            atomic_max(self, p, packed, Some(first));
        }
    }

    /// Records the shadows of the pointer results of the non-control-flow op `op` (already
    /// pushed).
    fn shadow_of(&mut self, op: &Op) -> Result<(), BoundsError> {
        let Some(&res) = op.results.first() else {
            return Ok(());
        };
        if self.ty(res).elem.pointee().is_none() {
            return Ok(());
        }
        let rt = self.ty(res);
        let shadow = match &op.kind {
            OpKind::AddPtr { ptr, offset } => {
                let s = self.pass.shadows[ptr];
                self.add_offset(s, *offset)
            }
            OpKind::Broadcast(v)
            | OpKind::ExpandDims { value: v, .. }
            | OpKind::Reshape(v)
            | OpKind::Permute { value: v, .. }
            | OpKind::Slice { value: v, .. } => {
                let s = self.pass.shadows[v];
                let off = s.off.map(|o| {
                    let d = self.ty(o).elem;
                    let mut kind = op.kind.clone();
                    for slot in kind.operands_mut() {
                        *slot = o;
                    }
                    self.push(kind, rt.with_elem(d))
                });
                Shadow {
                    param: s.param,
                    off,
                }
            }
            OpKind::Select {
                cond,
                on_true,
                on_false,
            } => {
                let (a, b) = (self.pass.shadows[on_true], self.pass.shadows[on_false]);
                let param = self.same_param(a, b)?;
                let (x, y) = if a.off.is_none() && b.off.is_none() {
                    (None, None)
                } else {
                    let x = self.offset(a, &rt.shape, DType::I64);
                    let y = self.offset(b, &rt.shape, DType::I64);
                    (Some(x), Some(y))
                };
                let off = x.zip(y).map(|(x, y)| {
                    self.push(
                        OpKind::Select {
                            cond: *cond,
                            on_true: x,
                            on_false: y,
                        },
                        rt.with_elem(ElemType::Val(DType::I64)),
                    )
                });
                Shadow { param, off }
            }
            OpKind::Concat { a, b, axis } => {
                let (sa, sb) = (self.pass.shadows[a], self.pass.shadows[b]);
                let param = self.same_param(sa, sb)?;
                let off = if sa.off.is_none() && sb.off.is_none() {
                    None
                } else {
                    let shape = self.ty(*a).shape;
                    let x = self.offset(sa, &shape, DType::I64);
                    let y = self.offset(sb, &shape, DType::I64);
                    Some(self.push(
                        OpKind::Concat {
                            a: x,
                            b: y,
                            axis: *axis,
                        },
                        rt.with_elem(ElemType::Val(DType::I64)),
                    ))
                };
                Shadow { param, off }
            }
            _ => return Ok(()),
        };
        self.pass.shadows.insert(res, shadow);
        Ok(())
    }

    fn same_param(&self, a: Shadow, b: Shadow) -> Result<usize, BoundsError> {
        if a.param == b.param {
            return Ok(a.param);
        }
        let name = |i: usize| self.pass.k.params[i].name.clone();
        Err(BoundsError::MixedPointers {
            kernel: self.pass.k.name.clone(),
            a: name(a.param),
            b: name(b.param),
        })
    }
}

impl Pass {
    fn block(&mut self, block: &Block) -> Result<Block, BoundsError> {
        self.block_with(block, |_, _| Ok(()))
    }

    /// Rebuilds `block`; `before_yield` adds values to its final `yield`.
    fn block_with(
        &mut self,
        block: &Block,
        mut before_yield: impl FnMut(&mut Out<'_>, &mut Vec<ValueId>) -> Result<(), BoundsError>,
    ) -> Result<Block, BoundsError> {
        let mut out = Out {
            pass: self,
            ops: Vec::new(),
        };
        for op in &block.ops {
            let original = op;
            let mut op = op.clone();
            match &mut op.kind {
                OpKind::Load { ptr, mask, .. }
                | OpKind::Store { ptr, mask, .. }
                | OpKind::Atomic { ptr, mask, .. }
                | OpKind::AtomicCas { ptr, mask, .. }
                    if !out.pass.proven.contains(&(*ptr, *mask)) =>
                {
                    *mask = Some(out.check(original, *ptr, *mask));
                }
                OpKind::Yield(vals) => {
                    before_yield(&mut out, vals)?;
                }
                OpKind::Assert { cond, message } => {
                    out.check_assert(original, *cond, message.clone());
                    continue;
                }
                OpKind::For { .. } | OpKind::While { .. } => {
                    out.pass.loop_op(&mut out.ops, op)?;
                    continue;
                }
                OpKind::If { .. } => {
                    out.pass.if_op(&mut out.ops, op)?;
                    continue;
                }
                _ => {}
            }
            out.ops.push(op.clone());
            out.shadow_of(&op)?;
        }
        Ok(Block {
            args: block.args.clone(),
            ops: out.ops,
        })
    }

    /// The pointer values among `vals`, by position.
    fn pointers(&self, vals: &[ValueId]) -> Vec<usize> {
        (0..vals.len())
            .filter(|&i| self.k.ty(vals[i]).elem.pointee().is_some())
            .collect()
    }

    /// Appends the `i64` shadows of the pointers at `positions` of `vals` to `vals`, checking
    /// that each derives from `params[j]`.
    fn carry_shadows(
        out: &mut Out<'_>,
        vals: &mut Vec<ValueId>,
        positions: &[usize],
        params: &[usize],
    ) -> Result<(), BoundsError> {
        for (&i, &param) in positions.iter().zip(params) {
            let s = out.pass.shadows[&vals[i]];
            out.same_param(s, Shadow { param, off: None })?;
            let shape = out.ty(vals[i]).shape;
            let off = out.offset(s, &shape, DType::I64);
            vals.push(off);
        }
        Ok(())
    }

    /// A `for` or `while`: the shadows of carried pointers are carried too.
    fn loop_op(&mut self, ops: &mut Vec<Op>, mut op: Op) -> Result<(), BoundsError> {
        // Before the carried values: a `for` body's induction variable; a `while` body's
        // yield of its condition.
        let (init, body, lead) = match &mut op.kind {
            OpKind::For { init, body, .. } => (init, body, 1),
            OpKind::While { init, body } => (init, body, 0),
            _ => unreachable!("loop_op is called on loops"),
        };
        let yield_lead = 1 - lead;
        let positions = self.pointers(init);
        let params: Vec<usize> = positions
            .iter()
            .map(|&i| self.shadows[&init[i]].param)
            .collect();
        let mut out = Out {
            pass: self,
            ops: std::mem::take(ops),
        };
        Self::carry_shadows(&mut out, init, &positions, &params)?;
        *ops = out.ops;
        // Body arguments: the induction variable (`for`), then one per carried value.
        let mut args = body.args.clone();
        for (&i, &param) in positions.iter().zip(&params) {
            let ty = self
                .k
                .ty(body.args[i + lead])
                .with_elem(ElemType::Val(DType::I64));
            let arg = new_value(&mut self.k, ty);
            self.shadows.insert(
                body.args[i + lead],
                Shadow {
                    param,
                    off: Some(arg),
                },
            );
            args.push(arg);
        }
        let yielded: Vec<usize> = positions.iter().map(|&i| i + yield_lead).collect();
        let mut new_body = self.block_with(body, |out, vals| {
            Self::carry_shadows(out, vals, &yielded, &params)
        })?;
        new_body.args = args;
        *body = new_body;
        self.carry_results(&mut op, &positions, &params);
        ops.push(op);
        Ok(())
    }

    fn if_op(&mut self, ops: &mut Vec<Op>, mut op: Op) -> Result<(), BoundsError> {
        let positions = self.pointers(&op.results);
        let mut params = Vec::new();
        let OpKind::If {
            then_block,
            else_block,
            ..
        } = &mut op.kind
        else {
            unreachable!("if_op is called on `if` ops");
        };
        // The parameter of each pointer result, from the then branch's yield (the else
        // branch is checked against it).
        let mut new_then = self.block_with(then_block, |out, vals| {
            params = positions
                .iter()
                .map(|&i| out.pass.shadows[&vals[i]].param)
                .collect();
            Self::carry_shadows(out, vals, &positions, &params.clone())
        })?;
        let params_then = params.clone();
        let new_else = self.block_with(else_block, |out, vals| {
            Self::carry_shadows(out, vals, &positions, &params_then)
        })?;
        new_then.args = then_block.args.clone();
        *then_block = new_then;
        *else_block = new_else;
        self.carry_results(&mut op, &positions, &params);
        ops.push(op);
        Ok(())
    }

    /// Adds an `i64` result to `op` per pointer result at `positions`, as its shadow.
    fn carry_results(&mut self, op: &mut Op, positions: &[usize], params: &[usize]) {
        for (&i, &param) in positions.iter().zip(params) {
            let ty = self
                .k
                .ty(op.results[i])
                .with_elem(ElemType::Val(DType::I64));
            let r = new_value(&mut self.k, ty);
            self.shadows.insert(
                op.results[i],
                Shadow {
                    param,
                    off: Some(r),
                },
            );
            op.results.push(r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_are_row_major() {
        assert_eq!(lane_of(0, &[]), Vec::<u32>::new());
        assert_eq!(lane_of(5, &[4, 4]), vec![1, 1]);
        assert_eq!(lane_of(14, &[4, 4]), vec![3, 2]);
    }

    #[test]
    fn lengths_cap_the_u32_form_at_2_pow_31() {
        let l = Checked::lengths(&[3, 1 << 33]);
        assert_eq!(l[0], Scalar::from_bits(DType::U32, 3));
        assert_eq!(l[1], Scalar::from_bits(DType::U64, 3));
        assert_eq!(l[2], Scalar::from_bits(DType::U32, 1 << 31));
        assert_eq!(l[3], Scalar::from_bits(DType::U64, 1 << 33));
    }
}

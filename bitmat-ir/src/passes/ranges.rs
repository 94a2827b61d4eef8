//! Symbolic value ranges, for proving accesses in bounds once per launch instead of per lane.
//!
//! [`Ranges::prove`] bounds the element offset of a pointer tile by expressions ([`Expr`]) of
//! the launch's scalar arguments, grid and buffer lengths, and returns the conditions
//! ([`Cond`]) under which every lane the access's mask leaves on is in its buffer. The host
//! evaluates them at launch ([`Launch`]); the bounds pass ([`super::bounds`]) leaves such
//! accesses unchecked when they hold and runs the fully checked kernel when they do not.
//!
//! Ranges are intervals `[lo, hi]` of mathematical integers:
//! - scalar parameters, constants, `arange(n)` (`[0, n-1]`), `program_id(a)` (`[0, grid_a-1]`),
//!   `num_programs(a)`, and a loop's induction variable (`[lo(lower), hi(upper) - 1]`);
//! - `+ - *`, `min`, `max`, `&` a non-negative constant, and for non-negative operands `/`,
//!   `%`, `>>`, `<<` by a constant (the host checks the signs), `broadcast`, `expand_dims`, reshapes of scalars, and casts
//!   between `i32` and `i64`;
//! - every `i32`/`i64` result must fit its type (a condition each), so that no lane wraps and
//!   the interval describes the value the kernel computes;
//! - the mask refines them: on a lane it leaves on, each conjunct `x < y` (`<=`, `>`, `>=`,
//!   either side) bounds `x` by `y`'s range. A conjunct applies to the same value seen through
//!   the same axes (`rm[:, None] < m` bounds `rm[:, None]`, not `rm[None, :]`);
//! - a conjunct `x < y - t` also bounds the sum `x + t`: a pointer's offsets (the `addptr`s of
//!   its chain and their `+`s) are summed one by one, except that `x * s` and `t * s` (or `x`
//!   and `t`) are summed as `(x + t) * s`, as a K loop adds `kb * BK * stride` beside the
//!   columns `offs_k * stride` that `offs_k < k - kb * BK` masks.
//!
//! Anything else (loads, loop-carried values, unsigned arithmetic) has no range, and an access
//! that depends on it keeps its per-lane checks.

use crate::kernel::{BinaryOp, Block, CmpPred, Kernel, OpKind, ParamKind, ValueId};
use crate::types::DType;
use std::collections::HashMap;
use std::fmt;

/// An integer that the host evaluates at launch: a node of [`Exprs`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Expr(u32);

/// One node of [`Exprs`]; operands are earlier nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Node {
    Const(i64),
    /// The value of the scalar parameter at this index (among all parameters).
    Arg(usize),
    /// The grid's extent along an axis.
    Grid(u8),
    /// The length in elements of the buffer passed for the pointer parameter at this index.
    Len(usize),
    Add(Expr, Expr),
    Sub(Expr, Expr),
    Mul(Expr, Expr),
    /// Truncating (another condition checks the divisor positive).
    Div(Expr, Expr),
    Min(Expr, Expr),
    Max(Expr, Expr),
}

/// Integer expressions over a launch, shared (each distinct node once), evaluated together in
/// one pass over the nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exprs {
    nodes: Vec<Node>,
    index: HashMap<Node, Expr>,
}

/// What the host knows at launch: scalar arguments and buffer lengths by parameter index, and
/// the grid.
#[derive(Clone, Debug)]
pub struct Launch {
    /// Each parameter's integer value (`None` for pointers and non-integers).
    pub scalars: Vec<Option<i64>>,
    /// Each pointer parameter's buffer length (`None` for scalars).
    pub lens: Vec<Option<u64>>,
    /// The grid.
    pub grid: [u32; 3],
}

impl Exprs {
    fn node(&mut self, n: Node) -> Expr {
        if let Some(&e) = self.index.get(&n) {
            return e;
        }
        let e = Expr(self.nodes.len() as u32);
        self.nodes.push(n);
        self.index.insert(n, e);
        e
    }
    fn c(&mut self, v: i64) -> Expr {
        self.node(Node::Const(v))
    }
    /// The constant `e` is, if it is one.
    fn konst(&self, e: Expr) -> Option<i64> {
        match self.nodes[e.0 as usize] {
            Node::Const(c) => Some(c),
            _ => None,
        }
    }
    /// `n`, folded when its operands are constants or identities.
    fn fold(&mut self, n: Node, f: fn(i64, i64) -> Option<i64>) -> Expr {
        let (a, b) = match n {
            Node::Add(a, b)
            | Node::Sub(a, b)
            | Node::Mul(a, b)
            | Node::Div(a, b)
            | Node::Min(a, b)
            | Node::Max(a, b) => (a, b),
            _ => return self.node(n),
        };
        match (self.konst(a), self.konst(b)) {
            (Some(x), Some(y)) => {
                if let Some(v) = f(x, y) {
                    return self.c(v);
                }
            }
            (Some(0), _) if matches!(n, Node::Add(..)) => return b,
            (Some(0), _) if matches!(n, Node::Mul(..)) => return a,
            (_, Some(0)) if matches!(n, Node::Mul(..)) => return b,
            (Some(1), _) if matches!(n, Node::Mul(..)) => return b,
            (_, Some(0)) if matches!(n, Node::Add(..) | Node::Sub(..)) => return a,
            (_, Some(1)) if matches!(n, Node::Mul(..) | Node::Div(..)) => return a,
            _ if a == b && matches!(n, Node::Min(..) | Node::Max(..)) => return a,
            _ => {}
        }
        self.node(n)
    }
    fn add(&mut self, a: Expr, b: Expr) -> Expr {
        self.fold(Node::Add(a, b), i64::checked_add)
    }
    fn sub(&mut self, a: Expr, b: Expr) -> Expr {
        self.fold(Node::Sub(a, b), i64::checked_sub)
    }
    fn mul(&mut self, a: Expr, b: Expr) -> Expr {
        self.fold(Node::Mul(a, b), i64::checked_mul)
    }
    fn div(&mut self, a: Expr, b: Expr) -> Expr {
        self.fold(Node::Div(a, b), i64::checked_div)
    }
    fn min(&mut self, a: Expr, b: Expr) -> Expr {
        self.fold(Node::Min(a, b), |x, y| Some(x.min(y)))
    }
    fn max(&mut self, a: Expr, b: Expr) -> Expr {
        self.fold(Node::Max(a, b), |x, y| Some(x.max(y)))
    }

    /// Every node's value at launch `at` (`None` where it needs something `at` lacks,
    /// overflows 128-bit arithmetic or divides by zero).
    pub fn eval(&self, at: &Launch) -> Vec<Option<i128>> {
        let mut vals: Vec<Option<i128>> = Vec::with_capacity(self.nodes.len());
        for n in &self.nodes {
            let two = |a: Expr, b: Expr| Some((vals[a.0 as usize]?, vals[b.0 as usize]?));
            let v = match *n {
                Node::Const(c) => Some(i128::from(c)),
                Node::Arg(i) => at.scalars.get(i).copied().flatten().map(i128::from),
                Node::Grid(a) => at.grid.get(usize::from(a)).map(|&g| i128::from(g)),
                Node::Len(i) => at.lens.get(i).copied().flatten().map(i128::from),
                Node::Add(a, b) => two(a, b).and_then(|(a, b)| a.checked_add(b)),
                Node::Sub(a, b) => two(a, b).and_then(|(a, b)| a.checked_sub(b)),
                Node::Mul(a, b) => two(a, b).and_then(|(a, b)| a.checked_mul(b)),
                Node::Div(a, b) => two(a, b).and_then(|(a, b)| a.checked_div(b)),
                Node::Min(a, b) => two(a, b).map(|(a, b)| a.min(b)),
                Node::Max(a, b) => two(a, b).map(|(a, b)| a.max(b)),
            };
            vals.push(v);
        }
        vals
    }

    /// `e` as text, for dumps and file tests.
    pub fn show(&self, e: Expr) -> String {
        match self.nodes[e.0 as usize] {
            Node::Const(c) => c.to_string(),
            Node::Arg(i) => format!("arg{i}"),
            Node::Grid(a) => format!("grid{a}"),
            Node::Len(i) => format!("len{i}"),
            Node::Add(a, b) => format!("({} + {})", self.show(a), self.show(b)),
            Node::Sub(a, b) => format!("({} - {})", self.show(a), self.show(b)),
            Node::Mul(a, b) => format!("({} * {})", self.show(a), self.show(b)),
            Node::Div(a, b) => format!("({} / {})", self.show(a), self.show(b)),
            Node::Min(a, b) => format!("min({}, {})", self.show(a), self.show(b)),
            Node::Max(a, b) => format!("max({}, {})", self.show(a), self.show(b)),
        }
    }
}

/// A condition the host checks at launch: `lhs <= rhs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cond {
    /// The smaller side.
    pub lhs: Expr,
    /// The larger side.
    pub rhs: Expr,
}

/// The conditions under which accesses are in bounds, checked once per launch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Preconditions {
    exprs: Exprs,
    conds: Vec<Cond>,
}

impl Preconditions {
    /// Whether there are none (every access is checked per lane, or there is none).
    pub fn is_empty(&self) -> bool {
        self.conds.is_empty()
    }

    /// Whether every condition holds at launch `at` (one that cannot be evaluated does not).
    pub fn hold(&self, at: &Launch) -> bool {
        self.failing(at).next().is_none()
    }

    /// The conditions that do not hold at launch `at`, as `lhs <= rhs` with the values each
    /// side takes there (`?` where one cannot be evaluated).
    pub fn failing<'a>(&'a self, at: &Launch) -> impl Iterator<Item = String> + 'a {
        let vals = self.exprs.eval(at);
        self.conds.iter().filter_map(move |c| {
            let (a, b) = (vals[c.lhs.0 as usize], vals[c.rhs.0 as usize]);
            if matches!((a, b), (Some(a), Some(b)) if a <= b) {
                return None;
            }
            let show = |v: Option<i128>| v.map_or("?".to_string(), |v| v.to_string());
            Some(format!(
                "{} <= {} ({} <= {})",
                self.exprs.show(c.lhs),
                self.exprs.show(c.rhs),
                show(a),
                show(b)
            ))
        })
    }
}

impl fmt::Display for Preconditions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.conds {
            writeln!(
                f,
                "{} <= {}",
                self.exprs.show(c.lhs),
                self.exprs.show(c.rhs)
            )?;
        }
        Ok(())
    }
}

/// An inclusive interval.
#[derive(Clone, Copy, Debug)]
struct Range {
    lo: Expr,
    hi: Expr,
}

impl Range {
    fn point(e: Expr) -> Range {
        Range { lo: e, hi: e }
    }
}

/// How a value is defined.
#[derive(Clone, Copy, Debug)]
enum Def<'k> {
    Param(usize),
    Op(&'k OpKind),
    /// A loop's induction variable.
    Iv {
        lower: ValueId,
        upper: ValueId,
    },
}

/// A value seen through broadcasts and `expand_dims`: the value underneath and, for each of
/// its axes, the axis of the access it runs along (`None`: not known, so no mask applies).
type Key = (ValueId, Option<Vec<usize>>);

/// A bound the mask puts on a value (on the lanes it leaves on): on `key`, or, for a mask
/// `x < y - t`, on the sum `x + t` (`plus`: `t`).
#[derive(Clone, Debug)]
struct Fact {
    key: Key,
    plus: Option<Key>,
    lo: Option<Expr>,
    hi: Option<Expr>,
}

/// The range analysis of one kernel, collecting the conditions of the accesses it proves.
pub struct Ranges<'k> {
    kernel: &'k Kernel,
    defs: HashMap<ValueId, Def<'k>>,
    out: Preconditions,
}

impl<'k> Ranges<'k> {
    /// Indexes the definitions of `kernel` (verified).
    pub fn new(kernel: &'k Kernel) -> Self {
        let mut defs = HashMap::new();
        for (i, p) in kernel.params.iter().enumerate() {
            defs.insert(p.value, Def::Param(i));
        }
        fn walk<'k>(block: &'k Block, defs: &mut HashMap<ValueId, Def<'k>>) {
            for op in &block.ops {
                match &op.kind {
                    OpKind::For {
                        lower, upper, body, ..
                    } => {
                        if let Some(&iv) = body.args.first() {
                            defs.insert(
                                iv,
                                Def::Iv {
                                    lower: *lower,
                                    upper: *upper,
                                },
                            );
                        }
                        walk(body, defs);
                    }
                    // Carried values have no range (their body arguments and results no
                    // definition); what the body computes from other values does.
                    OpKind::While { body, .. } => walk(body, defs),
                    OpKind::If {
                        then_block,
                        else_block,
                        ..
                    } => {
                        walk(then_block, defs);
                        walk(else_block, defs);
                    }
                    kind => {
                        if let [r] = op.results[..] {
                            defs.insert(r, Def::Op(kind));
                        }
                    }
                }
            }
        }
        walk(&kernel.body, &mut defs);
        Ranges {
            kernel,
            defs,
            out: Preconditions::default(),
        }
    }

    /// Whether every lane of the access through `ptr` (a pointer tile) that `mask` leaves on
    /// is in its buffer when some conditions hold at launch; they are added to
    /// [`Ranges::finish`]'s. False when the offsets have no range.
    pub fn prove(&mut self, ptr: ValueId, mask: Option<ValueId>) -> bool {
        let rank = self.kernel.ty(ptr).rank();
        let ctx = Some((0..rank).collect::<Vec<_>>());
        let mut conds = Vec::new();
        let mut facts = Vec::new();
        if let Some(m) = mask {
            self.facts(m, ctx.clone(), &mut facts, &mut conds);
        }
        let Some((param, r)) = self.pointer(ptr, ctx, &facts, &mut conds) else {
            return false;
        };
        let zero = self.out.exprs.c(0);
        let one = self.out.exprs.c(1);
        let end = self.out.exprs.add(r.hi, one);
        let len = self.out.exprs.node(Node::Len(param));
        conds.push(Cond {
            lhs: zero,
            rhs: r.lo,
        });
        conds.push(Cond { lhs: end, rhs: len });
        let x = &self.out.exprs;
        // Conditions between constants are decided now.
        if conds
            .iter()
            .any(|c| matches!((x.konst(c.lhs), x.konst(c.rhs)), (Some(a), Some(b)) if a > b))
        {
            return false;
        }
        conds.retain(|c| x.konst(c.lhs).zip(x.konst(c.rhs)).is_none());
        for c in conds {
            if !self.out.conds.contains(&c) {
                self.out.conds.push(c);
            }
        }
        true
    }

    /// The conditions of every access proven.
    pub fn finish(self) -> Preconditions {
        self.out
    }

    /// The facts the conjuncts of mask `m` (seen through `ctx`) give.
    fn facts(
        &mut self,
        m: ValueId,
        ctx: Option<Vec<usize>>,
        out: &mut Vec<Fact>,
        conds: &mut Vec<Cond>,
    ) {
        // A mask seen through a reshape bounds no lane that can be named.
        let (Some(Def::Op(kind)), Some(_)) = (self.defs.get(&m).copied(), &ctx) else {
            return;
        };
        match kind {
            OpKind::Binary(BinaryOp::And, a, b) => {
                self.facts(*a, ctx.clone(), out, conds);
                self.facts(*b, ctx, out, conds);
            }
            OpKind::Broadcast(s) => self.facts(*s, ctx, out, conds),
            OpKind::ExpandDims { value, axis } => {
                self.facts(*value, drop_axis(ctx, *axis), out, conds)
            }
            OpKind::Cmp(pred, x, y) if signed(self.kernel.ty(*x).dtype()) => {
                // `x pred y`, and the same read from `y`'s side.
                for (pred, x, y) in [(*pred, *x, *y), (mirror(*pred), *y, *x)] {
                    let mut local = Vec::new();
                    let Some(ry) = self.range(y, ctx.clone(), &[], &mut local) else {
                        continue;
                    };
                    let one = self.out.exprs.c(1);
                    let (lo, hi) = match pred {
                        CmpPred::Lt => (None, Some(self.out.exprs.sub(ry.hi, one))),
                        CmpPred::Le => (None, Some(ry.hi)),
                        CmpPred::Gt => (Some(self.out.exprs.add(ry.lo, one)), None),
                        CmpPred::Ge => (Some(ry.lo), None),
                        CmpPred::Eq => (Some(ry.lo), Some(ry.hi)),
                        CmpPred::Ne => continue,
                    };
                    conds.extend(local);
                    out.push(Fact {
                        key: self.key(x, ctx.clone()),
                        plus: None,
                        lo,
                        hi,
                    });
                    // `x < y - t`: also `x + t < y`, for offsets that add `t` apart (a K
                    // loop's `kb * BK` in the pointer, `offs_k < k - kb * BK` in the mask).
                    let (root, rctx) = self.key(y, ctx.clone());
                    if let (
                        CmpPred::Lt | CmpPred::Le,
                        Some(Def::Op(OpKind::Binary(BinaryOp::Sub, y, t))),
                    ) = (pred, self.defs.get(&root).copied())
                    {
                        let mut local = Vec::new();
                        if let Some(ry) = self.range(*y, rctx.clone(), &[], &mut local) {
                            let hi = match pred {
                                CmpPred::Lt => self.out.exprs.sub(ry.hi, one),
                                _ => ry.hi,
                            };
                            conds.extend(local);
                            out.push(Fact {
                                key: self.key(x, ctx.clone()),
                                plus: Some(self.key(*t, rctx)),
                                lo: None,
                                hi: Some(hi),
                            });
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// `v` seen through broadcasts and `expand_dims`.
    fn key(&self, mut v: ValueId, mut ctx: Option<Vec<usize>>) -> Key {
        loop {
            match self.defs.get(&v) {
                Some(Def::Op(OpKind::Broadcast(s))) => v = *s,
                Some(Def::Op(OpKind::ExpandDims { value, axis })) => {
                    ctx = drop_axis(ctx, *axis);
                    v = *value;
                }
                Some(Def::Op(OpKind::Reshape(s))) if self.kernel.ty(*s).rank() == 0 => {
                    ctx = Some(Vec::new());
                    v = *s;
                }
                _ => return (v, ctx),
            }
        }
    }

    /// The parameter a pointer value derives from and the range of its element offset.
    fn pointer(
        &mut self,
        v: ValueId,
        ctx: Option<Vec<usize>>,
        facts: &[Fact],
        conds: &mut Vec<Cond>,
    ) -> Option<(usize, Range)> {
        match self.defs.get(&v).copied()? {
            Def::Param(i) => match self.kernel.params[i].kind {
                ParamKind::Ptr(_) => Some((i, Range::point(self.out.exprs.c(0)))),
                ParamKind::Scalar(_) => None,
            },
            Def::Op(OpKind::AddPtr { .. }) => {
                // The offsets the chain of `addptr`s adds, as summands (the sums in `i64`,
                // exact), each ranged alone or, where a mask bounds a sum `x + t`, in pairs
                // `x * s + t * s`.
                let mut p = v;
                let mut ctxp = ctx.clone();
                let mut summands = Vec::new();
                // The offsets' ranges summed whole (also the conditions that they do not wrap).
                let mut whole = Range::point(self.out.exprs.c(0));
                let param = loop {
                    match self.defs.get(&p).copied()? {
                        Def::Op(OpKind::AddPtr { ptr, offset }) => {
                            let r = self.range(*offset, ctxp.clone(), facts, conds)?;
                            whole = Range {
                                lo: self.out.exprs.add(whole.lo, r.lo),
                                hi: self.out.exprs.add(whole.hi, r.hi),
                            };
                            self.summands(*offset, ctxp.clone(), facts, &mut summands);
                            p = *ptr;
                        }
                        Def::Op(OpKind::Broadcast(s)) => p = *s,
                        Def::Op(OpKind::ExpandDims { value, axis }) => {
                            ctxp = drop_axis(ctxp, *axis);
                            p = *value;
                        }
                        Def::Op(OpKind::Reshape(s)) => {
                            ctxp = (self.kernel.ty(*s).rank() == 0).then(Vec::new);
                            p = *s;
                        }
                        Def::Param(i)
                            if matches!(self.kernel.params[i].kind, ParamKind::Ptr(_)) =>
                        {
                            break i
                        }
                        _ => return None,
                    }
                };
                let mut total = Range::point(self.out.exprs.c(0));
                let mut used = vec![false; summands.len()];
                for i in 0..summands.len() {
                    if used[i] {
                        continue;
                    }
                    used[i] = true;
                    let r = match self.pair(&summands, i, &mut used, facts, conds) {
                        Some(r) => r,
                        None => {
                            let (v, c) = summands[i].clone();
                            self.range(v, c, facts, conds)?
                        }
                    };
                    total = Range {
                        lo: self.out.exprs.add(total.lo, r.lo),
                        hi: self.out.exprs.add(total.hi, r.hi),
                    };
                }
                // Both sums bound the offsets; the tighter of each end.
                let lo = self.out.exprs.max(whole.lo, total.lo);
                let hi = self.out.exprs.min(whole.hi, total.hi);
                Some((param, Range { lo, hi }))
            }
            Def::Op(OpKind::Broadcast(s)) => self.pointer(*s, ctx, facts, conds),
            Def::Op(OpKind::ExpandDims { value, axis }) => {
                self.pointer(*value, drop_axis(ctx, *axis), facts, conds)
            }
            Def::Op(OpKind::Reshape(s)) => {
                let ctx = (self.kernel.ty(*s).rank() == 0).then(Vec::new);
                self.pointer(*s, ctx, facts, conds)
            }
            _ => None,
        }
    }

    /// The range of integer value `v` (seen through `ctx`) on the lanes where `facts` hold,
    /// adding to `conds` what keeps it from wrapping.
    fn range(
        &mut self,
        v: ValueId,
        ctx: Option<Vec<usize>>,
        facts: &[Fact],
        conds: &mut Vec<Cond>,
    ) -> Option<Range> {
        let dtype = self.kernel.ty(v).dtype();
        if !signed(dtype) {
            return None;
        }
        let base = match self.defs.get(&v).copied()? {
            Def::Param(i) => match self.kernel.params[i].kind {
                ParamKind::Scalar(_) => Range::point(self.out.exprs.node(Node::Arg(i))),
                ParamKind::Ptr(_) => return None,
            },
            Def::Iv { lower, upper } => {
                let lo = self.range(lower, Some(Vec::new()), facts, conds)?.lo;
                let hi = self.range(upper, Some(Vec::new()), facts, conds)?.hi;
                let one = self.out.exprs.c(1);
                Range {
                    lo,
                    hi: self.out.exprs.sub(hi, one),
                }
            }
            Def::Op(kind) => match kind {
                OpKind::Constant(s) => Range::point(self.out.exprs.c(s.as_i64())),
                OpKind::ProgramId(a) => {
                    let (g, one) = (self.out.exprs.node(Node::Grid(*a)), self.out.exprs.c(1));
                    Range {
                        lo: self.out.exprs.c(0),
                        hi: self.out.exprs.sub(g, one),
                    }
                }
                OpKind::NumPrograms(a) => Range::point(self.out.exprs.node(Node::Grid(*a))),
                OpKind::Arange(n) => Range {
                    lo: self.out.exprs.c(0),
                    hi: self.out.exprs.c(i64::from(*n) - 1),
                },
                OpKind::Broadcast(s) | OpKind::Hint { value: s, .. } => {
                    return self.range(*s, ctx, facts, conds)
                }
                OpKind::ExpandDims { value, axis } => {
                    return self.range(*value, drop_axis(ctx, *axis), facts, conds)
                }
                OpKind::Reshape(s) => {
                    let ctx = (self.kernel.ty(*s).rank() == 0).then(Vec::new);
                    return self.range(*s, ctx, facts, conds);
                }
                OpKind::Cast(s) => {
                    let r = self.range(*s, ctx.clone(), facts, conds)?;
                    self.fits(r, dtype, conds);
                    r
                }
                OpKind::Binary(op, a, b) => {
                    let ra = self.range(*a, ctx.clone(), facts, conds)?;
                    let rb = self.range(*b, ctx.clone(), facts, conds)?;
                    // A shift by the type's width or more wraps its amount: not followed.
                    let bits = i64::from(dtype.map_or(0, |d| d.bits()));
                    let cb = self
                        .constant(*b)
                        .filter(|c| !matches!(op, BinaryOp::Shl | BinaryOp::Shr) || *c < bits);
                    let r = self.binary(*op, ra, rb, cb, conds)?;
                    self.fits(r, dtype, conds);
                    r
                }
                _ => return None,
            },
        };
        let key = (v, ctx);
        let mut r = base;
        // (Facts are only about values seen through known axes: `key.1` is `Some`.)
        for f in facts.iter().filter(|f| f.key == key && f.plus.is_none()) {
            if let Some(lo) = f.lo {
                r.lo = self.out.exprs.max(r.lo, lo);
            }
            if let Some(hi) = f.hi {
                r.hi = self.out.exprs.min(r.hi, hi);
            }
        }
        Some(r)
    }

    /// Appends the summands of `v` (seen through `ctx`): through `+`, broadcasts,
    /// `expand_dims` and reshapes of scalars, but not into a sum that a fact bounds whole.
    fn summands(
        &self,
        v: ValueId,
        ctx: Option<Vec<usize>>,
        facts: &[Fact],
        out: &mut Vec<(ValueId, Option<Vec<usize>>)>,
    ) {
        let key = self.key(v, ctx.clone());
        if facts.iter().any(|f| f.plus.is_none() && f.key == key) {
            out.push(key);
            return;
        }
        match self.defs.get(&v).copied() {
            Some(Def::Op(OpKind::Binary(BinaryOp::Add, a, b))) => {
                self.summands(*a, ctx.clone(), facts, out);
                self.summands(*b, ctx, facts, out);
            }
            Some(Def::Op(OpKind::Broadcast(s) | OpKind::Hint { value: s, .. })) => {
                self.summands(*s, ctx, facts, out)
            }
            Some(Def::Op(OpKind::ExpandDims { value, axis })) => {
                self.summands(*value, drop_axis(ctx, *axis), facts, out)
            }
            Some(Def::Op(OpKind::Reshape(s))) if self.kernel.ty(*s).rank() == 0 => {
                self.summands(*s, Some(Vec::new()), facts, out)
            }
            _ => out.push((v, ctx)),
        }
    }

    /// The ways to read summand `v` as `x * s`: `(x, Some(s))` for each order of a product's
    /// factors, and `(v, None)`, `v` times one.
    fn factors(&self, v: ValueId, ctx: Option<Vec<usize>>) -> Vec<(Key, Option<Key>)> {
        let (root, ctx) = self.key(v, ctx);
        let mut out = vec![((root, ctx.clone()), None)];
        if let Some(Def::Op(OpKind::Binary(BinaryOp::Mul, a, b))) = self.defs.get(&root).copied() {
            let (ka, kb) = (self.key(*a, ctx.clone()), self.key(*b, ctx));
            out.push((ka.clone(), Some(kb.clone())));
            out.push((kb, Some(ka)));
        }
        out
    }

    /// The range of summand `i` and another (marked `used`) together, `x * s + t * s` as
    /// `(x + t) * s` (or `x + t`), when a fact bounds `x + t`.
    fn pair(
        &mut self,
        summands: &[(ValueId, Option<Vec<usize>>)],
        i: usize,
        used: &mut [bool],
        facts: &[Fact],
        conds: &mut Vec<Cond>,
    ) -> Option<Range> {
        let fi = self.factors(summands[i].0, summands[i].1.clone());
        for j in 0..summands.len() {
            if used[j] {
                continue;
            }
            let fj = self.factors(summands[j].0, summands[j].1.clone());
            for (x, s) in &fi {
                for (t, sj) in &fj {
                    if s != sj {
                        continue;
                    }
                    let fact = facts.iter().find(|f| {
                        (&f.key == x && f.plus.as_ref() == Some(t))
                            || (&f.key == t && f.plus.as_ref() == Some(x))
                    });
                    let Some(hi) = fact.and_then(|f| f.hi) else {
                        continue;
                    };
                    let rx = self.range(x.0, x.1.clone(), facts, conds)?;
                    let rt = self.range(t.0, t.1.clone(), facts, conds)?;
                    let lo = self.out.exprs.add(rx.lo, rt.lo);
                    let top = self.out.exprs.add(rx.hi, rt.hi);
                    let hi = self.out.exprs.min(top, hi);
                    let sum = Range { lo, hi };
                    let r = match s {
                        None => sum,
                        Some(s) => {
                            let rs = self.range(s.0, s.1.clone(), facts, conds)?;
                            self.binary(BinaryOp::Mul, sum, rs, None, conds)?
                        }
                    };
                    used[j] = true;
                    return Some(r);
                }
            }
        }
        None
    }

    /// The value of `v` when it is an integer constant.
    fn constant(&self, v: ValueId) -> Option<i64> {
        match self.defs.get(&v)? {
            Def::Op(OpKind::Constant(s)) => Some(s.as_i64()),
            Def::Op(
                OpKind::Broadcast(s) | OpKind::Reshape(s) | OpKind::ExpandDims { value: s, .. },
            ) => self.constant(*s),
            _ => None,
        }
    }

    /// The range of `a op b`; `cb` is `b` when it is a constant.
    fn binary(
        &mut self,
        op: BinaryOp,
        a: Range,
        b: Range,
        cb: Option<i64>,
        conds: &mut Vec<Cond>,
    ) -> Option<Range> {
        let x = &mut self.out.exprs;
        let zero = x.c(0);
        let one = x.c(1);
        Some(match op {
            BinaryOp::Add => Range {
                lo: x.add(a.lo, b.lo),
                hi: x.add(a.hi, b.hi),
            },
            BinaryOp::Sub => Range {
                lo: x.sub(a.lo, b.hi),
                hi: x.sub(a.hi, b.lo),
            },
            BinaryOp::Mul if a.lo == a.hi || b.lo == b.hi => {
                // A product by one value: by a constant's sign, or the general case.
                let (v, k) = if b.lo == b.hi { (a, b.lo) } else { (b, a.lo) };
                match x.konst(k) {
                    Some(c) if c >= 0 => Range {
                        lo: x.mul(v.lo, k),
                        hi: x.mul(v.hi, k),
                    },
                    Some(_) => Range {
                        lo: x.mul(v.hi, k),
                        hi: x.mul(v.lo, k),
                    },
                    None => {
                        let (p, q) = (x.mul(v.lo, k), x.mul(v.hi, k));
                        Range {
                            lo: x.min(p, q),
                            hi: x.max(p, q),
                        }
                    }
                }
            }
            BinaryOp::Mul => {
                let p = [
                    x.mul(a.lo, b.lo),
                    x.mul(a.lo, b.hi),
                    x.mul(a.hi, b.lo),
                    x.mul(a.hi, b.hi),
                ];
                let lo = p.into_iter().reduce(|a, b| x.min(a, b))?;
                let hi = p.into_iter().reduce(|a, b| x.max(a, b))?;
                Range { lo, hi }
            }
            BinaryOp::Min => Range {
                lo: x.min(a.lo, b.lo),
                hi: x.min(a.hi, b.hi),
            },
            BinaryOp::Max => Range {
                lo: x.max(a.lo, b.lo),
                hi: x.max(a.hi, b.hi),
            },
            BinaryOp::Div | BinaryOp::Rem => {
                conds.push(Cond {
                    lhs: zero,
                    rhs: a.lo,
                });
                conds.push(Cond {
                    lhs: one,
                    rhs: b.lo,
                });
                if op == BinaryOp::Div {
                    Range {
                        lo: x.div(a.lo, b.hi),
                        hi: x.div(a.hi, b.lo),
                    }
                } else {
                    let top = x.sub(b.hi, one);
                    Range {
                        lo: zero,
                        hi: x.min(a.hi, top),
                    }
                }
            }
            // Any value `&` a non-negative constant `c` is in `[0, c]`, and in `[0, a]` where
            // the value `a` is non-negative: the divide pass's rounding `(x >> 31) & (d - 1)`
            // of a non-negative `x` is 0. The upper bound is `c` when `a.lo < 0`, else
            // `min(a.hi, c)`: `min(c, max(a.hi, c * min(1, max(0, -a.lo))))`.
            BinaryOp::And => {
                let c = cb.filter(|c| *c >= 0)?;
                let c = x.c(c);
                let below_zero = x.sub(zero, a.lo);
                let below_zero = x.max(zero, below_zero);
                let negative = x.min(one, below_zero);
                let if_negative = x.mul(c, negative);
                let top = x.max(a.hi, if_negative);
                Range {
                    lo: zero,
                    hi: x.min(c, top),
                }
            }
            BinaryOp::Shr | BinaryOp::Shl => {
                let s = cb.filter(|s| (0..62).contains(s))?;
                conds.push(Cond {
                    lhs: zero,
                    rhs: a.lo,
                });
                let f = x.c(1 << s);
                if op == BinaryOp::Shr {
                    Range {
                        lo: x.div(a.lo, f),
                        hi: x.div(a.hi, f),
                    }
                } else {
                    Range {
                        lo: x.mul(a.lo, f),
                        hi: x.mul(a.hi, f),
                    }
                }
            }
            _ => return None,
        })
    }

    /// Adds the conditions that range `r` fits in `dtype`.
    fn fits(&mut self, r: Range, dtype: Option<DType>, conds: &mut Vec<Cond>) {
        let (min, max) = match dtype {
            Some(DType::I32) => (i64::from(i32::MIN), i64::from(i32::MAX)),
            _ => (i64::MIN, i64::MAX),
        };
        let (min, max) = (self.out.exprs.c(min), self.out.exprs.c(max));
        conds.push(Cond {
            lhs: min,
            rhs: r.lo,
        });
        conds.push(Cond {
            lhs: r.hi,
            rhs: max,
        });
    }
}

/// Whether `d` is a signed integer type the ranges follow (`i32`, `i64`).
fn signed(d: Option<DType>) -> bool {
    matches!(d, Some(DType::I32 | DType::I64))
}

/// `y mirror(p) x` when `x p y`.
fn mirror(p: CmpPred) -> CmpPred {
    match p {
        CmpPred::Lt => CmpPred::Gt,
        CmpPred::Le => CmpPred::Ge,
        CmpPred::Gt => CmpPred::Lt,
        CmpPred::Ge => CmpPred::Le,
        other => other,
    }
}

/// The axes of an `expand_dims` source, from those of its result.
fn drop_axis(ctx: Option<Vec<usize>>, axis: u32) -> Option<Vec<usize>> {
    let mut ctx = ctx?;
    let axis = axis as usize;
    (axis < ctx.len()).then(|| {
        ctx.remove(axis);
        ctx
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(n: i64, len: u64, grid: u32) -> Launch {
        Launch {
            scalars: vec![None, Some(n)],
            lens: vec![Some(len), None],
            grid: [grid, 1, 1],
        }
    }

    #[test]
    fn conditions_fail_on_overflow_and_on_what_the_launch_lacks() {
        let mut p = Preconditions::default();
        let (n, len) = (p.exprs.node(Node::Arg(1)), p.exprs.node(Node::Len(0)));
        p.conds.push(Cond { lhs: n, rhs: len });
        assert!(p.hold(&launch(5, 5, 1)));
        assert!(!p.hold(&launch(6, 5, 1)));
        // n * n * n * n overflows i64 but not i128; twice more overflows i128.
        let mut big = n;
        for _ in 0..7 {
            big = p.exprs.mul(big, n);
        }
        let zero = p.exprs.c(0);
        p.conds.push(Cond {
            lhs: zero,
            rhs: big,
        });
        assert!(p.hold(&launch(5, 5, 1)));
        assert!(!p.hold(&launch(i64::MAX, u64::MAX, 1)));
        // A length asked of a scalar parameter is unknown: the condition fails.
        let missing = p.exprs.node(Node::Len(1));
        p.conds.push(Cond {
            lhs: zero,
            rhs: missing,
        });
        assert!(!p.hold(&launch(5, 5, 1)));
    }

    #[test]
    fn constants_fold() {
        let mut x = Exprs::default();
        let g = x.node(Node::Grid(0));
        let (zero, one, two) = (x.c(0), x.c(1), x.c(2));
        assert_eq!(x.add(g, zero), g);
        assert_eq!(x.mul(one, g), g);
        assert_eq!(x.mul(g, zero), zero);
        let four = x.add(two, two);
        assert_eq!(x.konst(four), Some(4));
        let last = x.sub(g, one);
        assert_eq!(x.show(last), "(grid0 - 1)");
    }
}

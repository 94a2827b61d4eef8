//! Runtime control flow as the `#[bitkernel]` macro expands it.
//!
//! `for i in range(lo, hi, step) { body }` becomes
//! ```text
//! let mut loop_ = ForLoop::begin(lo, hi, step, &["acc"], &mut [&mut acc]);
//! let i = loop_.induction_var();
//! { body }
//! loop_.end(&mut [&mut acc]);
//! ```
//! where `acc` are the variables declared outside and assigned inside the body: they become
//! the loop-carried values. `if` on a runtime `bool` scalar works the same way through
//! [`IfBranch`], and `while` through [`WhileLoop`]; `if` and `while` on a Rust `bool` are
//! decided at specialization time.

use super::tile::{IntoOperand, Operand, Tile};
use super::trace::{with_trace, Trace};
use crate::types::{DType, TileType};

/// A variable that a runtime loop or branch may assign: a [`Tile`], or a compile-time value
/// (which may not be assigned there; that is reported at specialization time).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be assigned inside a runtime `range` loop or `if`",
    label = "assigned here, inside a runtime loop or branch",
    note = "a runtime loop carries, and a runtime `if` yields, only `Tile` variables: keep one `let mut` tile per value (e.g. `let mut acc = zeros::<f32>([block]);`)"
)]
pub trait Carry {
    /// The tile held, or `None` for a compile-time value.
    fn carried(&self) -> Option<Tile>;
    /// Replaces the held tile (only called when [`Carry::carried`] is `Some`).
    fn set_carried(&mut self, tile: Tile);
}

impl Carry for Tile {
    fn carried(&self) -> Option<Tile> {
        Some(*self)
    }
    fn set_carried(&mut self, tile: Tile) {
        *self = tile;
    }
}

macro_rules! comptime_carry {
    ($($t:ty),*) => {$(
        impl Carry for $t {
            fn carried(&self) -> Option<Tile> {
                None
            }
            fn set_carried(&mut self, _: Tile) {}
        }
    )*};
}
comptime_carry!(bool, i8, u8, i16, u16, i32, u32, i64, u64, isize, usize, f32, f64);

/// Checks that every variable can be carried and returns their tiles (`None` = poisoned or
/// compile-time, already reported).
fn carried_tiles(
    t: &mut Trace,
    what: &str,
    names: &[&str],
    vars: &[&mut dyn Carry],
) -> Vec<Option<Tile>> {
    names
        .iter()
        .zip(vars)
        .map(|(name, v)| match v.carried() {
            Some(tile) if tile.is_poison() => None,
            Some(tile) => Some(tile),
            None => {
                t.fail(
                    what,
                    format!("`{name}` is a compile-time value and is assigned inside a runtime {what}; make it a tile (e.g. `let mut {name} = full([], {name});`) or compute it outside"),
                );
                None
            }
        })
        .collect()
}

/// An open runtime loop (see the module docs).
pub struct ForLoop {
    iv: Tile,
    init_types: Vec<Option<TileType>>,
    names: Vec<String>,
    open: bool,
}

impl ForLoop {
    /// Opens `for iv in range(lower, upper, step)`; the variables in `vars` become loop-carried
    /// and are rebound to the loop's block arguments.
    pub fn begin(
        lower: impl IntoOperand,
        upper: impl IntoOperand,
        step: impl IntoOperand,
        names: &[&str],
        vars: &mut [&mut dyn Carry],
    ) -> ForLoop {
        with_trace(|t| {
            let carried = carried_tiles(t, "loop", names, vars);
            let bounds = loop_bounds(
                t,
                lower.into_operand(),
                upper.into_operand(),
                step.into_operand(),
            );
            let names = names.iter().map(|s| s.to_string()).collect();
            let (Some((lo, hi, st)), true) = (bounds, !t.failed()) else {
                return ForLoop {
                    iv: Tile::POISON,
                    init_types: vec![],
                    names,
                    open: false,
                };
            };
            let init: Vec<_> = carried
                .iter()
                .map(|c| c.expect("no error recorded").id())
                .collect();
            let init_types = init
                .iter()
                .map(|&v| Some(t.builder.ty(v).clone()))
                .collect();
            let (iv, args) = t.builder.begin_for(lo.id(), hi.id(), st.id(), init);
            for (var, arg) in vars.iter_mut().zip(args) {
                var.set_carried(Tile::from_id(arg));
            }
            ForLoop {
                iv: Tile::from_id(iv),
                init_types,
                names,
                open: true,
            }
        })
    }

    /// The loop's induction variable (a scalar of the bounds' integer type).
    pub fn induction_var(&self) -> Tile {
        self.iv
    }

    /// Closes the loop: the current values of `vars` are the next iteration's, and after the
    /// loop `vars` hold the values of the last iteration.
    pub fn end(self, vars: &mut [&mut dyn Carry]) {
        if !self.open {
            return;
        }
        with_trace(|t| {
            let mut yields = Vec::with_capacity(vars.len());
            for ((var, name), init) in vars.iter().zip(&self.names).zip(&self.init_types) {
                let now = var.carried().filter(|x| !x.is_poison());
                match (now, init) {
                    (Some(v), Some(ty)) if t.builder.ty(v.id()) == ty => yields.push(v.id()),
                    (Some(v), Some(ty)) => {
                        let got = t.builder.ty(v.id()).clone();
                        t.fail("loop", format!("loop-carried `{name}` is {ty} before the loop but {got} at the end of its body; it must keep its type and shape (use `as`, `broadcast_to` or `reshape`)"));
                        yields.push(v.id());
                    }
                    _ => {}
                }
            }
            if yields.len() != vars.len() {
                // An error was recorded; keep the builder's blocks balanced.
                let _ = t.builder.end_for(vec![]);
                for var in vars.iter_mut() {
                    var.set_carried(Tile::POISON);
                }
                return;
            }
            match t.builder.end_for(yields) {
                Ok(results) => {
                    for (var, r) in vars.iter_mut().zip(results) {
                        var.set_carried(Tile::from_id(r));
                    }
                }
                Err(e) => {
                    t.fail("loop", e.to_string());
                }
            }
        })
    }
}

/// Converts the loop bounds to scalars of one integer type (`i32` unless a tile says other).
fn loop_bounds(t: &mut Trace, lo: Operand, hi: Operand, st: Operand) -> Option<(Tile, Tile, Tile)> {
    let ops = [lo, hi, st];
    let mut dtype = None;
    for o in ops {
        if let Operand::Tile(x) = o {
            if x.is_poison() {
                return None;
            }
            let ty = t.ty(x);
            if !ty.is_scalar() || !ty.dtype().is_some_and(DType::is_int) {
                t.fail(
                    "range",
                    format!("loop bounds must be integer scalars, got {ty}"),
                );
                return None;
            }
            match dtype {
                None => dtype = ty.dtype(),
                Some(d) if Some(d) != ty.dtype() => {
                    t.fail(
                        "range",
                        format!("loop bounds have different types {d} and {ty}; convert with `as`"),
                    );
                    return None;
                }
                _ => {}
            }
        }
    }
    let d = dtype.unwrap_or(DType::I32);
    let lo = t.operand_tile("range", lo, Some(d))?;
    let hi = t.operand_tile("range", hi, Some(d))?;
    let st = t.operand_tile("range", st, Some(d))?;
    if let Operand::Weak(super::tile::Weak::Int(s)) = ops[2] {
        if s <= 0 {
            t.fail("range", format!("the step must be positive, got {s}"));
            return None;
        }
    }
    Some((lo, hi, st))
}

/// The condition of an `if`: a Rust `bool` (decided now) or a scalar `bool` tile (a branch in
/// the kernel).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the condition of an `if` in a kernel",
    label = "expected a `bool` or a scalar bool `Tile`",
    note = "a Rust `bool` (e.g. `block > 64` on a constexpr) is decided at specialization; a scalar bool tile (e.g. `flag > 0` on a runtime scalar) branches in the kernel; for element-wise choices use `select(mask, a, b)`"
)]
pub trait IntoCond {
    /// Classifies the condition.
    fn into_cond(self) -> Cond;
}

/// The condition of a `while` in a kernel: a Rust `bool` (the loop runs at specialization)
/// or a scalar bool tile (a loop in the kernel, [`WhileLoop`]).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the condition of a `while` in a kernel",
    label = "expected a `bool` or a scalar bool `Tile`",
    note = "a Rust `bool` (e.g. `n < block` on constexprs) loops at specialization; a scalar bool tile (e.g. `i < n` on runtime scalars) loops in the kernel; compare instead of testing a number (`while x != 0 {{ .. }}`), and reduce a tile of conditions to a scalar first (`(mask as i32).sum(0) > 0`)"
)]
pub trait WhileCond {
    /// Classifies the condition.
    fn into_while_cond(self) -> Cond;
}

impl WhileCond for bool {
    fn into_while_cond(self) -> Cond {
        Cond::Comptime(self)
    }
}

impl WhileCond for Tile {
    fn into_while_cond(self) -> Cond {
        Cond::Runtime(self)
    }
}

/// `cond` as the condition of a `while` in a kernel (called by code generated by
/// `#[bitkernel]`): a Rust `bool` or a tile ([`WhileCond`]).
pub fn while_cond(cond: impl WhileCond) -> Cond {
    cond.into_while_cond()
}

/// A `while` being expanded. `#[bitkernel]` turns `while cond { body }` into
/// ```text
/// let mut w = WhileLoop::new(&["x"]);
/// loop {
///     w.begin(&mut [&mut x]);
///     let c = while_cond(cond);
///     if !w.test(c, &mut [&mut x]) { break; }
///     { body }
///     if w.end(&mut [&mut x]) { break; }
/// }
/// ```
/// where `x` are the variables declared outside and assigned inside. The condition's type
/// decides the kind of loop, so each round first opens a loop body in the IR ([`begin`]) in
/// which the condition is traced: on a Rust `bool` ([`test`]) that body is dissolved into the
/// enclosing block and the Rust loop repeats while it holds (a loop at specialization); on a
/// tile the condition opens an `if` in the body, the user's body is traced once inside it,
/// and [`end`] closes the [`crate::kernel::OpKind::While`] (the tile variables are carried).
///
/// [`begin`]: WhileLoop::begin
/// [`test`]: WhileLoop::test
/// [`end`]: WhileLoop::end
pub struct WhileLoop {
    names: Vec<String>,
    state: WhileState,
}

enum WhileState {
    /// Between rounds of a loop at specialization (or before the first).
    Idle,
    /// A body is open in the IR, its kind not decided yet: `before` are the variables' values
    /// before it, `args` the body's arguments (for the variables that held tiles).
    Open {
        before: Vec<Option<Tile>>,
        args: Vec<Option<Tile>>,
    },
    /// A runtime loop whose `if` on the condition is open: `args` are the body's arguments,
    /// `cond` the condition.
    Runtime { args: Vec<Tile>, cond: Tile },
    /// Nothing is traced (an error was recorded).
    Dead,
}

impl WhileLoop {
    /// A `while` whose body assigns the variables called `names`.
    pub fn new(names: &[&str]) -> WhileLoop {
        WhileLoop {
            names: names.iter().map(|s| s.to_string()).collect(),
            state: WhileState::Idle,
        }
    }

    /// Opens a loop body in which the condition is traced; the variables holding tiles are
    /// rebound to its arguments.
    pub fn begin(&mut self, vars: &mut [&mut dyn Carry]) {
        if !matches!(self.state, WhileState::Idle) {
            return;
        }
        with_trace(|t| {
            if t.failed() {
                self.state = WhileState::Dead;
                return;
            }
            let before: Vec<Option<Tile>> = vars
                .iter()
                .map(|v| v.carried().filter(|x| !x.is_poison()))
                .collect();
            let init: Vec<_> = before.iter().flatten().map(|x| x.id()).collect();
            let mut ids = t.builder.begin_while(init).into_iter();
            let args: Vec<Option<Tile>> = before
                .iter()
                .map(|b| b.and_then(|_| ids.next().map(Tile::from_id)))
                .collect();
            for (var, arg) in vars.iter_mut().zip(&args) {
                if let Some(a) = arg {
                    var.set_carried(*a);
                }
            }
            self.state = WhileState::Open { before, args };
        })
    }

    /// Decides the loop on its condition: whether to evaluate (trace) the body now.
    pub fn test(&mut self, cond: Cond, vars: &mut [&mut dyn Carry]) -> bool {
        let state = std::mem::replace(&mut self.state, WhileState::Dead);
        let WhileState::Open { before, args } = state else {
            // Dead: a Rust condition still runs the Rust loop; a runtime one is not traced.
            self.state = WhileState::Dead;
            return match cond {
                Cond::Comptime(c) => c,
                Cond::Runtime(_) => {
                    vars.iter_mut().for_each(|v| v.set_carried(Tile::POISON));
                    false
                }
            };
        };
        with_trace(|t| match cond {
            Cond::Comptime(c) => {
                if let Err(e) = t.builder.cancel_while() {
                    t.fail("while", e.to_string());
                }
                for (var, b) in vars.iter_mut().zip(&before) {
                    if let Some(b) = b {
                        var.set_carried(*b);
                    }
                }
                self.state = WhileState::Idle;
                c
            }
            Cond::Runtime(c) => {
                let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
                let tiles = carried_tiles(t, "`while` loop", &names, vars);
                let ty = (!c.is_poison()).then(|| t.ty(c));
                if let Some(ty) = ty.filter(|ty| *ty != TileType::scalar(DType::Bool)) {
                    t.fail("while", format!("a runtime `while` needs a scalar bool condition, got {ty}; compare scalars (`while i < n {{ .. }}`), or reduce a tile of conditions first (`(mask as i32).sum(0) > 0`)"));
                }
                if t.failed() || tiles.len() != args.iter().flatten().count() {
                    // Keep the builder's blocks balanced; nothing more is traced.
                    let _ = t.builder.cancel_while();
                    vars.iter_mut().for_each(|v| v.set_carried(Tile::POISON));
                    return false;
                }
                t.builder.begin_if(c.id());
                self.state = WhileState::Runtime {
                    args: args.into_iter().flatten().collect(),
                    cond: c,
                };
                true
            }
        })
    }

    /// Ends the body: true when the loop is complete (a runtime loop, traced once; the
    /// variables hold its results), false when the Rust loop goes on (at specialization).
    pub fn end(&mut self, vars: &mut [&mut dyn Carry]) -> bool {
        let state = std::mem::replace(&mut self.state, WhileState::Idle);
        let WhileState::Runtime { args, cond } = state else {
            let dead = matches!(state, WhileState::Dead);
            if dead {
                self.state = WhileState::Dead;
            }
            return false;
        };
        self.state = WhileState::Dead;
        with_trace(|t| {
            let mut next = Vec::with_capacity(args.len());
            for ((var, name), arg) in vars.iter().zip(&self.names).zip(&args) {
                let ty = t.builder.ty(arg.id()).clone();
                match var.carried().filter(|x| !x.is_poison()) {
                    Some(v) if *t.builder.ty(v.id()) == ty => next.push(v.id()),
                    Some(v) => {
                        let got = t.builder.ty(v.id()).clone();
                        t.fail("while", format!("loop-carried `{name}` is {ty} before the loop but {got} at the end of its body; it must keep its type and shape (use `as`, `broadcast_to` or `reshape`)"));
                    }
                    None => {}
                }
            }
            let ok = next.len() == args.len() && !t.failed();
            let arg_ids: Vec<_> = args.iter().map(|a| a.id()).collect();
            let closed = t
                .builder
                .begin_else(if ok { next } else { vec![] })
                .and_then(|()| t.builder.end_if(if ok { arg_ids.clone() } else { vec![] }))
                .and_then(|now| {
                    t.builder
                        .end_while(cond.id(), if ok { now } else { vec![] })
                });
            match closed {
                Ok(results) if ok => {
                    for (var, r) in vars.iter_mut().zip(results) {
                        var.set_carried(Tile::from_id(r));
                    }
                }
                Ok(_) => vars.iter_mut().for_each(|v| v.set_carried(Tile::POISON)),
                Err(e) => {
                    t.fail("while", e.to_string());
                    vars.iter_mut().for_each(|v| v.set_carried(Tile::POISON));
                }
            }
            true
        })
    }
}

/// See [`IntoCond`].
#[derive(Copy, Clone, Debug)]
pub enum Cond {
    /// Decided at specialization time.
    Comptime(bool),
    /// Decided when the kernel runs.
    Runtime(Tile),
}

impl IntoCond for bool {
    fn into_cond(self) -> Cond {
        Cond::Comptime(self)
    }
}

impl IntoCond for Tile {
    fn into_cond(self) -> Cond {
        Cond::Runtime(self)
    }
}

/// The value an `if` produces: `()`, a [`Tile`] (yielded by a runtime `if`), or a
/// compile-time value (only from an `if` decided at specialization time).
#[diagnostic::on_unimplemented(
    message = "an `if` in a kernel cannot produce a value of type `{Self}`",
    label = "this `if` yields `{Self}`",
    note = "an `if` yields `()`, one `Tile`, or a Rust scalar when decided at specialization; for several tiles, declare `let mut` variables before the `if` and assign them in both branches"
)]
pub trait IfValue: Sized {
    /// The tiles to yield, or `Err` with a description when a runtime `if` cannot produce
    /// this value.
    fn yields(&self) -> Result<Vec<Tile>, String>;
    /// Rebuilds the value from the `if`'s results.
    fn from_results(results: &[Tile]) -> Self;
}

impl IfValue for () {
    fn yields(&self) -> Result<Vec<Tile>, String> {
        Ok(vec![])
    }
    fn from_results(_: &[Tile]) -> Self {}
}

impl IfValue for Tile {
    fn yields(&self) -> Result<Vec<Tile>, String> {
        Ok(vec![*self])
    }
    fn from_results(results: &[Tile]) -> Self {
        results.first().copied().unwrap_or(Tile::POISON)
    }
}

macro_rules! comptime_if_value {
    ($($t:ty),*) => {$(
        impl IfValue for $t {
            fn yields(&self) -> Result<Vec<Tile>, String> {
                Err(format!("a runtime `if` cannot produce the compile-time value `{self:?}`; produce tiles, or use `select(cond, a, b)`"))
            }
            fn from_results(_: &[Tile]) -> Self {
                Self::default()
            }
        }
    )*};
}
comptime_if_value!(bool, i8, u8, i16, u16, i32, u32, i64, u64, isize, usize, f32, f64);

/// An `if` being expanded (see the module docs).
pub struct IfBranch {
    kind: Cond,
    names: Vec<String>,
    before: Vec<Option<Tile>>,
    then_types: Vec<TileType>,
    open: bool,
}

impl IfBranch {
    /// Starts an `if` on `cond`; `vars` are the variables assigned in either branch.
    pub fn begin(cond: impl IntoCond, names: &[&str], vars: &mut [&mut dyn Carry]) -> IfBranch {
        let kind = cond.into_cond();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let Cond::Runtime(c) = kind else {
            return IfBranch {
                kind,
                names,
                before: vec![],
                then_types: vec![],
                open: false,
            };
        };
        with_trace(|t| {
            let nm: Vec<&str> = names.iter().map(String::as_str).collect();
            let before = carried_tiles(t, "`if`", &nm, vars);
            let mut open = false;
            if !c.is_poison() {
                let ty = t.ty(c);
                if ty != TileType::scalar(DType::Bool) {
                    t.fail("if", format!("a runtime `if` needs a scalar bool condition, got {ty}; for tiles use `select(cond, a, b)` or masks"));
                } else if !t.failed() {
                    t.builder.begin_if(c.id());
                    open = true;
                }
            }
            IfBranch {
                kind,
                names,
                before,
                then_types: vec![],
                open,
            }
        })
    }

    /// Whether the `then` block is to be evaluated (traced) now.
    pub fn take_then(&self) -> bool {
        match self.kind {
            Cond::Comptime(c) => c,
            Cond::Runtime(_) => true,
        }
    }

    /// Whether the `else` block is to be evaluated (traced) now.
    pub fn take_else(&self) -> bool {
        match self.kind {
            Cond::Comptime(c) => !c,
            Cond::Runtime(_) => true,
        }
    }

    /// Ends the `then` block (whose value is `then_value`) and starts the `else` block,
    /// restoring `vars` to their values before the `if`.
    pub fn begin_else<T: IfValue>(&mut self, vars: &mut [&mut dyn Carry], then_value: &Option<T>) {
        if !self.open {
            return;
        }
        with_trace(|t| {
            let yields = self.branch_yields(t, vars, then_value.as_ref());
            self.then_types = yields.iter().map(|&v| t.builder.ty(v).clone()).collect();
            if let Err(e) = t.builder.begin_else(yields) {
                t.fail("if", e.to_string());
            }
            for (var, b) in vars.iter_mut().zip(&self.before) {
                var.set_carried(b.unwrap_or(Tile::POISON));
            }
        })
    }

    fn branch_yields<T: IfValue>(
        &self,
        t: &mut Trace,
        vars: &[&mut dyn Carry],
        value: Option<&T>,
    ) -> Vec<crate::ValueId> {
        let mut out: Vec<crate::ValueId> = vars
            .iter()
            .filter_map(|v| v.carried().filter(|x| !x.is_poison()).map(Tile::id))
            .collect();
        if let Some(v) = value {
            match v.yields() {
                Ok(tiles) => out.extend(tiles.into_iter().filter(|x| !x.is_poison()).map(Tile::id)),
                Err(m) => {
                    t.fail("if", m);
                }
            }
        }
        out
    }

    /// Ends the `if`: `vars` and the returned value are those of the branch taken.
    pub fn end<T: IfValue>(
        self,
        vars: &mut [&mut dyn Carry],
        then_value: Option<T>,
        else_value: Option<T>,
    ) -> T {
        match self.kind {
            Cond::Comptime(_) => {
                return then_value
                    .or(else_value)
                    .expect("exactly one branch was evaluated");
            }
            Cond::Runtime(_) if !self.open => {
                for var in vars.iter_mut() {
                    var.set_carried(Tile::POISON);
                }
                return T::from_results(&[Tile::POISON]);
            }
            Cond::Runtime(_) => {}
        }
        with_trace(|t| {
            let yields = self.branch_yields(t, vars, else_value.as_ref());
            let else_types: Vec<TileType> =
                yields.iter().map(|&v| t.builder.ty(v).clone()).collect();
            let balanced = else_types == self.then_types && !t.failed();
            if !balanced && !t.failed() {
                let names = self.names.join("`, `");
                let show = |v: &[TileType]| {
                    v.iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                t.fail("if", format!(
                    "the branches of a runtime `if` produce different types (`{names}` and the value): then ({}), else ({}); both must assign the same variables with the same types",
                    show(&self.then_types), show(&else_types)));
            }
            let results = t.builder.end_if(if balanced { yields } else { vec![] });
            let results: Vec<Tile> = match results {
                Ok(r) if balanced => r.into_iter().map(Tile::from_id).collect(),
                _ => vec![Tile::POISON; vars.len() + 1],
            };
            for (var, r) in vars.iter_mut().zip(&results) {
                var.set_carried(*r);
            }
            T::from_results(results.get(vars.len()..).unwrap_or(&[]))
        })
    }
}

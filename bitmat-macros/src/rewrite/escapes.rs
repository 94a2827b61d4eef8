//! `break`, `continue` and `return` that would leave a runtime `range` loop or a runtime `if`
//! while its IR block is open: the rewrite turns them into compile errors at the user's
//! span, with what to write instead.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::visit::{self, Visit};
use syn::Expr;

/// A jump out of the analyzed code.
#[derive(Copy, Clone)]
pub enum Jump {
    /// `break` (unlabeled outside a nested loop, or labeled).
    Break,
    /// `continue` (unlabeled outside a nested loop, or labeled).
    Continue,
    /// `return`.
    Return,
}

/// The jumps that leave some code, each with its keyword's span, in source order.
#[derive(Default)]
pub struct Escapes {
    /// Nested Rust loops entered: an unlabeled `break`/`continue` inside one stays inside.
    loops: usize,
    /// The jumps found.
    pub jumps: Vec<(Jump, Span)>,
}

impl Escapes {
    /// The jumps leaving `block`. Closures and items are their own scope; nested runtime
    /// `range` loops are analyzed on their own, so their jumps are not repeated here.
    pub fn of(block: &syn::Block) -> Escapes {
        let mut e = Escapes::default();
        e.visit_block(block);
        e
    }

    /// The sentence for `jump` leaving a runtime `range` loop.
    pub fn in_loop(jump: Jump) -> &'static str {
        match jump {
            Jump::Break => "`break` cannot leave a runtime `range` loop (it runs every iteration on every program): make the exit the condition of a runtime `while` (`let mut i = full([], 0); while (i < n) & (found == 0) { ..; i = i + 1; }`), bound the loop by a runtime value (`for i in range(0, n, 1)`), or mask the iterations you do not need (`acc = select(active, acc + x, acc)`, `store(p, v, mask)`)",
            Jump::Continue => "`continue` is not supported in a runtime `range` loop: put the rest of the body under an `if` on the runtime condition, or mask its effect (`acc = select(keep, acc + x, acc)`)",
            Jump::Return => "`return` cannot leave a runtime `range` loop: the kernel ends after the loop; mask the stores you want to skip (`store(p, v, mask)`) instead",
        }
    }
}

impl<'ast> Visit<'ast> for Escapes {
    fn visit_expr(&mut self, e: &'ast Expr) {
        match e {
            Expr::Break(b) => {
                if b.label.is_some() || self.loops == 0 {
                    self.jumps.push((Jump::Break, b.break_token.span()));
                }
                visit::visit_expr(self, e);
            }
            Expr::Continue(c) => {
                if c.label.is_some() || self.loops == 0 {
                    self.jumps.push((Jump::Continue, c.continue_token.span()));
                }
            }
            Expr::Return(r) => {
                self.jumps.push((Jump::Return, r.return_token.span()));
                visit::visit_expr(self, e);
            }
            Expr::ForLoop(f) if super::range_call(&f.expr).is_some() => {}
            Expr::ForLoop(_) | Expr::While(_) | Expr::Loop(_) => {
                self.loops += 1;
                visit::visit_expr(self, e);
                self.loops -= 1;
            }
            Expr::Closure(_) | Expr::Async(_) => {}
            _ => visit::visit_expr(self, e),
        }
    }

    fn visit_item(&mut self, _: &'ast syn::Item) {}
}

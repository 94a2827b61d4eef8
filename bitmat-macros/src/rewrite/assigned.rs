//! Which variables a block assigns that were declared outside it: those become the carried
//! values of a runtime loop or the results of a runtime `if`.

use syn::visit::{self, Visit};
use syn::{Expr, Ident, Pat};

/// Variables assigned in the visited code but declared outside it, in first-assignment order;
/// and the first assignment whose target is not a plain variable.
#[derive(Default)]
pub struct Assigned {
    scopes: Vec<Vec<Ident>>,
    /// The outer variables assigned.
    pub names: Vec<Ident>,
    /// An assignment to something other than a variable (`a.b = ..`, `a[i] = ..`).
    pub complex_target: Option<Expr>,
}

impl Assigned {
    /// Analyzes `blocks` (the bodies of a loop, or both branches of an `if`).
    pub fn of<'a>(exprs: impl IntoIterator<Item = &'a Expr>) -> Assigned {
        let mut a = Assigned {
            scopes: vec![Vec::new()],
            ..Assigned::default()
        };
        for e in exprs {
            a.visit_expr(e);
        }
        a
    }

    fn declared(&self, id: &Ident) -> bool {
        self.scopes.iter().any(|s| s.contains(id))
    }

    fn bind(&mut self, pat: &Pat) {
        let mut names = Vec::new();
        collect_pat(pat, &mut names);
        self.scopes
            .last_mut()
            .expect("a scope is open")
            .extend(names);
    }

    fn target(&mut self, left: &Expr) {
        match left {
            Expr::Path(p) if p.qself.is_none() && p.path.segments.len() == 1 => {
                let id = &p.path.segments[0].ident;
                if !self.declared(id) && !self.names.contains(id) {
                    self.names.push(id.clone());
                }
            }
            Expr::Paren(p) => self.target(&p.expr),
            other => {
                if self.complex_target.is_none() {
                    self.complex_target = Some(other.clone());
                }
            }
        }
    }

    fn scoped(&mut self, f: impl FnOnce(&mut Self)) {
        self.scopes.push(Vec::new());
        f(self);
        self.scopes.pop();
    }
}

fn collect_pat(pat: &Pat, out: &mut Vec<Ident>) {
    match pat {
        Pat::Ident(p) => {
            out.push(p.ident.clone());
            if let Some((_, sub)) = &p.subpat {
                collect_pat(sub, out);
            }
        }
        Pat::Tuple(t) => t.elems.iter().for_each(|p| collect_pat(p, out)),
        Pat::TupleStruct(t) => t.elems.iter().for_each(|p| collect_pat(p, out)),
        Pat::Struct(s) => s.fields.iter().for_each(|f| collect_pat(&f.pat, out)),
        Pat::Slice(s) => s.elems.iter().for_each(|p| collect_pat(p, out)),
        Pat::Reference(r) => collect_pat(&r.pat, out),
        Pat::Type(t) => collect_pat(&t.pat, out),
        Pat::Or(o) => o.cases.iter().for_each(|p| collect_pat(p, out)),
        Pat::Paren(p) => collect_pat(&p.pat, out),
        _ => {}
    }
}

impl<'ast> Visit<'ast> for Assigned {
    fn visit_block(&mut self, b: &'ast syn::Block) {
        self.scoped(|s| visit::visit_block(s, b));
    }

    fn visit_local(&mut self, l: &'ast syn::Local) {
        if let Some(init) = &l.init {
            self.visit_expr(&init.expr);
            if let Some((_, diverge)) = &init.diverge {
                self.visit_expr(diverge);
            }
        }
        self.bind(&l.pat);
    }

    fn visit_expr_for_loop(&mut self, f: &'ast syn::ExprForLoop) {
        self.visit_expr(&f.expr);
        self.scoped(|s| {
            s.bind(&f.pat);
            s.visit_block(&f.body);
        });
    }

    fn visit_expr_closure(&mut self, c: &'ast syn::ExprClosure) {
        self.scoped(|s| {
            c.inputs.iter().for_each(|p| s.bind(p));
            s.visit_expr(&c.body);
        });
    }

    fn visit_arm(&mut self, arm: &'ast syn::Arm) {
        self.scoped(|s| {
            s.bind(&arm.pat);
            if let Some((_, g)) = &arm.guard {
                s.visit_expr(g);
            }
            s.visit_expr(&arm.body);
        });
    }

    fn visit_expr_if(&mut self, i: &'ast syn::ExprIf) {
        self.scoped(|s| {
            s.visit_expr(&i.cond);
            s.visit_block(&i.then_branch);
        });
        if let Some((_, e)) = &i.else_branch {
            self.visit_expr(e);
        }
    }

    fn visit_expr_let(&mut self, l: &'ast syn::ExprLet) {
        self.visit_expr(&l.expr);
        self.bind(&l.pat);
    }

    fn visit_expr_assign(&mut self, a: &'ast syn::ExprAssign) {
        self.target(&a.left);
        self.visit_expr(&a.right);
    }

    fn visit_expr_binary(&mut self, b: &'ast syn::ExprBinary) {
        use syn::BinOp::*;
        if matches!(
            b.op,
            AddAssign(_)
                | SubAssign(_)
                | MulAssign(_)
                | DivAssign(_)
                | RemAssign(_)
                | BitAndAssign(_)
                | BitOrAssign(_)
                | BitXorAssign(_)
                | ShlAssign(_)
                | ShrAssign(_)
        ) {
            self.target(&b.left);
            self.visit_expr(&b.right);
        } else {
            visit::visit_expr_binary(self, b);
        }
    }

    fn visit_item(&mut self, _: &'ast syn::Item) {}
}

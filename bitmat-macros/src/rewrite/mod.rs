//! Rewrites a kernel or helper body into Rust that records IR when run:
//! - comparisons become calls that return tiles on tiles (`a < b` -> `syntax::lt(&a, &b)`),
//!   an unsuffixed literal beside them typed as `syntax::IntLit`/`syntax::FloatLit`,
//! - `x as T` becomes `syntax::cast::<T, _>(x)`,
//! - `for i in range(..)` becomes a runtime loop whose assigned outer variables are carried,
//! - `if` becomes a branch decided at specialization (Rust `bool`) or at run time (a tile),
//!   and `while` a loop at specialization or at run time the same way (a runtime `while`
//!   carries its assigned outer variables as a `range` loop does),
//! - `load`/`store`/`dot` and the atomics are resolved by their number of arguments,
//! - `break`/`continue`/`return` leaving a runtime `range` loop are compile errors, and those
//!   leaving an `if` or a `while` require its condition to be a Rust `bool` (decided at
//!   specialization),
//! - an unsuffixed float literal left of `+ - * / %` becomes `syntax::FloatLit`, which takes
//!   the right operand's type (`(1.0 - x).sqrt()` needs no suffix).
//!
//! Everything else is left as Rust, and runs at specialization time.

mod assigned;
mod escapes;

use assigned::Assigned;
use escapes::Escapes;
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{BinOp, Expr, Ident};

/// Rewrites `block`; fails with every error found, each at the user's span.
pub fn rewrite_body(block: &syn::Block) -> syn::Result<syn::Block> {
    let mut block = block.clone();
    let mut r = Rewriter { errors: Vec::new() };
    r.visit_block_mut(&mut block);
    let mut errors = r.errors.into_iter();
    match errors.next() {
        None => Ok(block),
        Some(mut first) => {
            errors.for_each(|e| first.combine(e));
            Err(first)
        }
    }
}

struct Rewriter {
    errors: Vec<syn::Error>,
}

fn dsl_path(span: Span, name: &str) -> TokenStream {
    let ident = Ident::new(name, span);
    quote_spanned!(span=> ::bitmat::dsl::#ident)
}

impl Rewriter {
    fn error(&mut self, span: Span, msg: impl std::fmt::Display) {
        self.errors.push(syn::Error::new(span, msg));
    }

    /// An error spanning all of `tokens` (not only their first token).
    fn error_spanned(&mut self, tokens: impl quote::ToTokens, msg: impl std::fmt::Display) {
        self.errors.push(syn::Error::new_spanned(tokens, msg));
    }

    fn replace(e: &mut Expr, tokens: TokenStream) {
        *e = Expr::Verbatim(tokens);
    }

    fn comparison(&mut self, e: &mut Expr) {
        let Expr::Binary(b) = e else { return };
        let f = match b.op {
            BinOp::Lt(_) => "lt",
            BinOp::Le(_) => "le",
            BinOp::Gt(_) => "gt",
            BinOp::Ge(_) => "ge",
            BinOp::Eq(_) => "eq",
            BinOp::Ne(_) => "ne",
            _ => return,
        };
        let span = b.op.span();
        let f = Ident::new(f, span);
        // An unsuffixed literal beside a non-literal gets a type of its own, so that the
        // comparison's type is known before the literal's (`(x > 0).trans()`).
        let (mut l, mut r) = (b.left.to_token_stream(), b.right.to_token_stream());
        if !(is_literal(&b.left) && is_literal(&b.right)) {
            if let Some(lit) = comparison_literal(&b.left) {
                l = lit;
            }
            if let Some(lit) = comparison_literal(&b.right) {
                r = lit;
            }
        }
        let tokens = quote_spanned!(span=> ::bitmat::dsl::syntax::#f(&(#l), &(#r)));
        Self::replace(e, tokens);
    }

    /// `1.0 - x` -> `FloatLit::new(1.0f64, 1.0f32) - x`: an unsuffixed float literal left of an
    /// arithmetic operator (whose right operand is not a literal too) takes the right
    /// operand's type, so the result's type is known (`(1.0 - x).sqrt()`).
    fn float_literal_left(e: &mut Expr) {
        let Expr::Binary(b) = e else { return };
        if !matches!(
            b.op,
            BinOp::Add(_) | BinOp::Sub(_) | BinOp::Mul(_) | BinOp::Div(_) | BinOp::Rem(_)
        ) || is_literal(&b.right)
        {
            return;
        }
        let Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Float(f),
            ..
        }) = &*b.left
        else {
            return;
        };
        if !f.suffix().is_empty() {
            return;
        }
        let span = f.span();
        let digits = f.base10_digits();
        let wide = syn::LitFloat::new(&format!("{digits}f64"), span);
        let narrow = syn::LitFloat::new(&format!("{digits}f32"), span);
        *b.left = Expr::Verbatim(
            quote_spanned!(span=> ::bitmat::dsl::syntax::FloatLit::new(#wide, #narrow)),
        );
    }

    fn cast(e: &mut Expr) {
        let Expr::Cast(c) = e else { return };
        let span = c.as_token.span();
        // `(a & b) as T` -> `cast((a & b))`: the inner parentheses become redundant.
        let x = match &*c.expr {
            Expr::Paren(p) => &p.expr,
            other => other,
        };
        let ty = &c.ty;
        let tokens = quote_spanned!(span=> ::bitmat::dsl::syntax::cast::<#ty, _>(#x));
        Self::replace(e, tokens);
    }

    /// `load`/`store`/`dot`/`atomic_add`/`arange`/`range` called by their bare name.
    fn call(&mut self, e: &mut Expr) {
        let Expr::Call(c) = e else { return };
        let Expr::Path(p) = &*c.func else { return };
        if p.qself.is_some()
            || p.path.segments.len() != 1
            || !p.path.segments[0].arguments.is_empty()
        {
            return;
        }
        let name = p.path.segments[0].ident.to_string();
        let span = p.span();
        let n = c.args.len();
        let args_word = if n == 1 { "argument" } else { "arguments" };
        let atomic;
        let target = match (name.as_str(), n) {
            ("load", 1) => "load",
            ("load", 3) => "load_masked",
            ("load", _) => {
                return self.error(span, format!("`load` takes `(ptr)` or `(ptr, mask, other)`, not {n} {args_word}; a masked load needs the value of masked-off lanes, e.g. `load(p, mask, 0)`"));
            }
            ("store", 2) => "store",
            ("store", 3) => "store_masked",
            ("store", _) => {
                return self.error(
                    span,
                    format!(
                        "`store` takes `(ptr, value)` or `(ptr, value, mask)`, not {n} {args_word}"
                    ),
                );
            }
            ("dot", 2) => "dot",
            ("dot", 3) => "dot_acc",
            ("dot", _) => {
                return self.error(
                    span,
                    format!("`dot` takes `(a, b)` or `(a, b, acc)`, not {n} {args_word}"),
                );
            }
            (
                "atomic_add" | "atomic_max" | "atomic_min" | "atomic_and" | "atomic_or"
                | "atomic_xor" | "atomic_xchg",
                2 | 3,
            ) => {
                let masked = if n == 3 { "" } else { "_unmasked" };
                atomic = format!("{name}{masked}");
                atomic.as_str()
            }
            (
                "atomic_add" | "atomic_max" | "atomic_min" | "atomic_and" | "atomic_or"
                | "atomic_xor" | "atomic_xchg",
                _,
            ) => {
                return self.error(span, format!("`{name}` takes `(ptr, value)` or `(ptr, value, mask)`, not {n} {args_word}"));
            }
            ("atomic_cas", 3) => "atomic_cas",
            ("atomic_cas", _) => {
                return self.error(
                    span,
                    format!("`atomic_cas` takes `(ptr, compare, value)`, not {n} {args_word}"),
                );
            }
            ("arange", 2) => "arange_range",
            ("arange", 1) => return,
            ("arange", _) => {
                return self.error(
                    span,
                    format!("`arange` takes `(end)` or `(start, end)`, not {n} {args_word}"),
                );
            }
            ("device_print" | "device_assert", 2) => {
                let (at, what) = if name == "device_print" {
                    (0, "label")
                } else {
                    (1, "message")
                };
                let text = &c.args[at];
                if !matches!(
                    text,
                    Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(_),
                        ..
                    })
                ) {
                    return self.error_spanned(
                        text,
                        format!("the {what} of `{name}` must be a string literal (it is compiled into the kernel), e.g. `{name}({})`", if at == 0 { "\"x\", x" } else { "x >= 0, \"x is negative\"" }),
                    );
                }
                name.as_str()
            }
            ("device_print", _) => {
                return self.error(
                    span,
                    format!("`device_print` takes `(\"label\", x)`, not {n} {args_word}; print several values with one call each"),
                );
            }
            ("device_assert", _) => {
                return self.error(
                    span,
                    format!("`device_assert` takes `(cond, \"message\")`, not {n} {args_word}"),
                );
            }
            ("range", _) => {
                return self.error(span, "`range(start, end, step)` is only valid as the iterator of a `for` loop: `for i in range(0, n, block) { .. }`");
            }
            _ => return,
        };
        let f = dsl_path(span, target);
        let args = &c.args;
        let tokens = quote_spanned!(span=> #f(#args));
        Self::replace(e, tokens);
    }

    /// `for pat in range(..) { body }` (the body is already rewritten).
    fn runtime_for(&mut self, e: &mut Expr, assigned: Assigned) {
        let Expr::ForLoop(f) = e else { return };
        let Some(range_args) = range_call(&f.expr) else {
            return;
        };
        let span = f.for_token.span();
        if let Some(label) = &f.label {
            return self.error(label.span(), "a runtime `range` loop cannot have a label (`break` and `continue` are not supported in runtime loops); remove the label");
        }
        let (lo, hi, st) = match range_args.as_slice() {
            [end] => (quote!(0), quote!(#end), quote!(1)),
            [start, end] => (quote!(#start), quote!(#end), quote!(1)),
            [start, end, step] => (quote!(#start), quote!(#end), quote!(#step)),
            _ => {
                let n = range_args.len();
                return self.error_spanned(
                    &f.expr,
                    format!("`range` takes `(end)`, `(start, end)` or `(start, end, step)`, not {n} arguments"),
                );
            }
        };
        let pat = match &*f.pat {
            syn::Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => quote!(#p),
            syn::Pat::Wild(w) => quote!(#w),
            other => {
                return self.error_spanned(
                    other,
                    "the variable of a runtime `range` loop must be a plain name or `_` (`for k0 in range(0, k, block_k)`); derive other values inside the body (`let j = i + 1;`)",
                );
            }
        };
        if let Some(s) = assigned.complex_target {
            return self.error_spanned(s, "only plain variables can be assigned inside a runtime `range` loop (they become loop-carried values): copy this into a `let mut` variable before the loop, assign that variable in the loop, and write it back after the loop");
        }
        let (names, refs) = carried(&assigned.names);
        let body = &f.body;
        let tokens = quote_spanned! {span=> {
            let __bitmat_loop = ::bitmat::dsl::ForLoop::begin(#lo, #hi, #st, &[#(#names),*], &mut [#(#refs),*]);
            let #pat = __bitmat_loop.induction_var();
            #body
            __bitmat_loop.end(&mut [#(#refs),*]);
        }};
        Self::replace(e, tokens);
    }

    /// `while cond { body }` (condition and body already rewritten): a loop at
    /// specialization on a Rust `bool`, a runtime loop on a tile (`WhileLoop` in
    /// `bitmat::dsl`). When the body jumps out or assigns through a field or an index
    /// (`comptime`), the condition must be a Rust `bool` (`syntax::comptime_while`).
    fn while_loop(&mut self, e: &mut Expr, assigned: Assigned, comptime: bool) {
        let Expr::While(w) = e else { return };
        let span = w.while_token.span();
        let (names, refs) = carried(&assigned.names);
        let cond = &w.cond;
        let cond_span = cond.span();
        let cond = if comptime {
            let c = Ident::new("__bitmat_cond", cond_span);
            quote_spanned!(cond_span=> {
                let #c = #cond;
                ::bitmat::dsl::syntax::comptime_while(&#c);
                #c
            })
        } else {
            quote!(#cond)
        };
        let label = &w.label;
        let body = &w.body;
        let tokens = quote_spanned! {span=> {
            let mut __bitmat_while = ::bitmat::dsl::WhileLoop::new(&[#(#names),*]);
            #label loop {
                __bitmat_while.begin(&mut [#(#refs),*]);
                let __bitmat_go = ::bitmat::dsl::while_cond(#cond);
                if !__bitmat_while.test(__bitmat_go, &mut [#(#refs),*]) {
                    break;
                }
                #body
                if __bitmat_while.end(&mut [#(#refs),*]) {
                    break;
                }
            }
        }};
        Self::replace(e, tokens);
    }

    /// `if cond { a } else { b }` (branches already rewritten); when a branch jumps out
    /// (`jumps`), the condition must be a Rust `bool` (`syntax::comptime_jump`).
    fn branch(&mut self, e: &mut Expr, assigned: Assigned, jumps: bool) {
        let Expr::If(i) = e else { return };
        let span = i.if_token.span();
        let else_expr: Option<&Expr> = i.else_branch.as_ref().map(|(_, e)| &**e);
        if let Some(s) = assigned.complex_target {
            return self.error_spanned(s, "only plain variables can be assigned inside an `if` of a kernel (they become the branch's results): copy this into a `let mut` variable before the `if`, assign that variable in the branches, and write it back after the `if`");
        }
        let (names, refs) = carried(&assigned.names);
        let cond = &i.cond;
        let cond = if jumps {
            let c = Ident::new("__bitmat_cond", cond.span());
            quote_spanned!(cond.span()=> {
                let #c = #cond;
                ::bitmat::dsl::syntax::comptime_jump(&#c);
                #c
            })
        } else {
            quote!(#cond)
        };
        let then_block = &i.then_branch;
        let else_tokens = match else_expr {
            Some(e) => quote!(#e),
            None => quote!({}),
        };
        let tokens = quote_spanned! {span=> {
            let mut __bitmat_if = ::bitmat::dsl::IfBranch::begin(#cond, &[#(#names),*], &mut [#(#refs),*]);
            let __bitmat_then = if __bitmat_if.take_then() { ::core::option::Option::Some(#then_block) } else { ::core::option::Option::None };
            __bitmat_if.begin_else(&mut [#(#refs),*], &__bitmat_then);
            let __bitmat_else = if __bitmat_if.take_else() { ::core::option::Option::Some(#else_tokens) } else { ::core::option::Option::None };
            __bitmat_if.end(&mut [#(#refs),*], __bitmat_then, __bitmat_else)
        }};
        // A branch that jumps makes the code after it in the expansion unreachable.
        let tokens = if jumps {
            quote_spanned! {span=> {
                #[allow(unreachable_code)]
                let __bitmat_if_value = #tokens;
                __bitmat_if_value
            }}
        } else {
            tokens
        };
        Self::replace(e, tokens);
    }
}

/// An unsuffixed number literal `e` (possibly negated or parenthesized) as the typed literal
/// a comparison takes (`syntax::IntLit`, `syntax::FloatLit`); `None` for anything else.
fn comparison_literal(e: &Expr) -> Option<TokenStream> {
    let (negated, lit) = match e {
        Expr::Lit(syn::ExprLit { lit, .. }) => (false, lit),
        Expr::Paren(p) => return comparison_literal(&p.expr),
        Expr::Unary(u) if matches!(u.op, syn::UnOp::Neg(_)) => match &*u.expr {
            Expr::Lit(syn::ExprLit { lit, .. }) => (true, lit),
            _ => return None,
        },
        _ => return None,
    };
    let sign = if negated { quote!(-) } else { quote!() };
    match lit {
        syn::Lit::Int(i) if i.suffix().is_empty() => {
            let span = i.span();
            let wide = syn::LitInt::new(&format!("{}i128", i.base10_digits()), span);
            Some(quote_spanned!(span=> ::bitmat::dsl::syntax::IntLit(#sign #wide)))
        }
        syn::Lit::Float(f) if f.suffix().is_empty() => {
            let span = f.span();
            let digits = f.base10_digits();
            let wide = syn::LitFloat::new(&format!("{digits}f64"), span);
            let narrow = syn::LitFloat::new(&format!("{digits}f32"), span);
            Some(
                quote_spanned!(span=> ::bitmat::dsl::syntax::FloatLit::new(#sign #wide, #sign #narrow)),
            )
        }
        _ => None,
    }
}

/// Whether `e` is a literal, possibly negated or parenthesized.
fn is_literal(e: &Expr) -> bool {
    match e {
        Expr::Lit(_) => true,
        Expr::Unary(u) => matches!(u.op, syn::UnOp::Neg(_)) && is_literal(&u.expr),
        Expr::Paren(p) => is_literal(&p.expr),
        _ => false,
    }
}

/// The arguments of `range(..)` when `e` is such a call.
fn range_call(e: &Expr) -> Option<Vec<Expr>> {
    let Expr::Call(c) = e else { return None };
    let Expr::Path(p) = &*c.func else { return None };
    p.path
        .is_ident("range")
        .then(|| c.args.iter().cloned().collect())
}

/// The names (as string literals) and `&mut name as &mut dyn Carry` of carried variables.
fn carried(names: &[Ident]) -> (Vec<String>, Vec<TokenStream>) {
    let strs = names.iter().map(|n| n.to_string()).collect();
    let refs = names
        .iter()
        .map(|n| quote_spanned!(n.span()=> &mut #n as &mut dyn ::bitmat::dsl::Carry))
        .collect();
    (strs, refs)
}

impl VisitMut for Rewriter {
    fn visit_expr_mut(&mut self, e: &mut Expr) {
        // Assignments are found on the original code: rewritten children are opaque tokens.
        // `range` as a `for` iterator is consumed by the loop rewrite, not by `call`.
        if let Expr::ForLoop(f) = e {
            if range_call(&f.expr).is_some() {
                let assigned = Assigned::of([&Expr::Block(syn::ExprBlock {
                    attrs: vec![],
                    label: None,
                    block: f.body.clone(),
                })]);
                for (jump, span) in Escapes::of(&f.body).jumps {
                    self.error(span, Escapes::in_loop(jump));
                }
                if let Expr::Call(c) = &mut *f.expr {
                    for arg in c.args.iter_mut() {
                        self.visit_expr_mut(arg);
                    }
                }
                self.visit_block_mut(&mut f.body);
                self.runtime_for(e, assigned);
                return;
            }
        }
        if let Expr::While(w) = e {
            if !matches!(&*w.cond, Expr::Let(_)) {
                let body = Expr::Block(syn::ExprBlock {
                    attrs: vec![],
                    label: None,
                    block: w.body.clone(),
                });
                let assigned = Assigned::of([&*w.cond, &body]);
                let comptime =
                    !Escapes::of(&w.body).jumps.is_empty() || assigned.complex_target.is_some();
                self.visit_expr_mut(&mut w.cond);
                self.visit_block_mut(&mut w.body);
                self.while_loop(e, assigned, comptime);
                return;
            }
        }
        let branch = match &*e {
            Expr::If(i) if !matches!(&*i.cond, Expr::Let(_)) => {
                let then_expr = Expr::Block(syn::ExprBlock {
                    attrs: vec![],
                    label: None,
                    block: i.then_branch.clone(),
                });
                let else_expr = i.else_branch.as_ref().map(|(_, e)| &**e);
                let mut jumps = Escapes::of(&i.then_branch).jumps;
                if let Some(e) = else_expr {
                    let block = syn::parse_quote!({ #e });
                    jumps.extend(Escapes::of(&block).jumps);
                }
                Some((
                    Assigned::of(std::iter::once(&then_expr).chain(else_expr)),
                    !jumps.is_empty(),
                ))
            }
            _ => None,
        };
        visit_mut::visit_expr_mut(self, e);
        match e {
            Expr::Binary(_) => {
                self.comparison(e);
                Self::float_literal_left(e);
            }
            Expr::Cast(_) => Self::cast(e),
            Expr::Call(_) => self.call(e),
            Expr::If(_) => {
                if let Some((assigned, jumps)) = branch {
                    self.branch(e, assigned, jumps);
                }
            }
            // `(a as T)` became `(cast(a))`: the parentheses are now redundant (and linted).
            Expr::Paren(p) if matches!(&*p.expr, Expr::Verbatim(_)) => *e = (*p.expr).clone(),
            _ => {}
        }
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}

    fn visit_macro_mut(&mut self, _: &mut syn::Macro) {}
}

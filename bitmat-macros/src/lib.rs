//! The `#[bitkernel]` attribute of bitmat.
//!
//! `#[bitkernel] fn name(..) { .. }` turns a Rust function into a kernel: a module `name`
//! with `ir(constexprs..)`, `launch(&device, grid, args..)` and `with(options).launch(..)`.
//! `#[bitkernel(inline)] fn helper(..) -> Tile { .. }` is a helper called from kernels like any
//! Rust function.
//!
//! The crate is split as CubeCL's: `parse` reads the signature into a small AST with errors
//! at the user's spans, `rewrite` turns the body into Rust that records IR when run, and
//! `generate` emits the kernel module.

mod generate;
mod parse;
mod rewrite;

use proc_macro::TokenStream;

/// Marks a kernel (`#[bitkernel]`) or an inline DSL helper (`#[bitkernel(inline)]`).
/// See the `bitmat` crate for the DSL.
#[proc_macro_attribute]
pub fn bitkernel(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

fn expand(
    attr: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> syn::Result<proc_macro2::TokenStream> {
    let mode = parse::attr::parse_mode(attr)?;
    let func: syn::ItemFn = syn::parse2(item.clone()).map_err(|e| {
        syn::Error::new(
            e.span(),
            "#[bitkernel] applies to a function: `fn name(args..) { .. }`",
        )
    })?;
    match mode {
        parse::attr::Mode::Kernel => {
            let kernel = parse::signature::parse_kernel(&func)?;
            let body = rewrite::rewrite_body(&func.block)?;
            Ok(generate::kernel::kernel_module(
                &kernel,
                &body,
                &item.to_string(),
            ))
        }
        parse::attr::Mode::Inline => {
            parse::signature::check_helper(&func)?;
            let body = rewrite::rewrite_body(&func.block)?;
            Ok(generate::helper::helper_fn(&func, &body))
        }
    }
}

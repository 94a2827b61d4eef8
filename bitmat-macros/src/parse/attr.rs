//! The arguments of the attribute itself: `#[bitkernel]` or `#[bitkernel(inline)]`.

use proc_macro2::TokenStream;
use syn::spanned::Spanned;

/// What the attribute was asked to make.
pub enum Mode {
    /// A launchable kernel.
    Kernel,
    /// A helper called from kernels.
    Inline,
}

/// Parses the attribute arguments.
pub fn parse_mode(attr: TokenStream) -> syn::Result<Mode> {
    if attr.is_empty() {
        return Ok(Mode::Kernel);
    }
    let path: syn::Path = syn::parse2(attr.clone()).map_err(|_| unknown(attr.span()))?;
    if path.is_ident("inline") {
        Ok(Mode::Inline)
    } else {
        Err(unknown(path.span()))
    }
}

fn unknown(span: proc_macro2::Span) -> syn::Error {
    syn::Error::new(
        span,
        "unknown #[bitkernel] argument: write `#[bitkernel]` for a kernel or `#[bitkernel(inline)]` for a helper called from kernels",
    )
}

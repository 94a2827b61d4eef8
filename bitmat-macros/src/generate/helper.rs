//! `#[bitkernel(inline)]`: the function as written, with its body rewritten.

use proc_macro2::TokenStream;
use quote::quote;

/// The helper with the rewritten `body`.
pub fn helper_fn(func: &syn::ItemFn, body: &syn::Block) -> TokenStream {
    let mut func = func.clone();
    *func.block = body.clone();
    quote!(#func)
}

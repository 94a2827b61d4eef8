//! The module generated for a kernel: `NAME`, `SOURCE_HASH`, `ir(..)`, `launch(..)`,
//! `with(options)` and its `Launcher`.

use crate::parse::signature::{KernelSig, ParamKind};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use std::hash::{Hash, Hasher};

/// A hash of the kernel's source tokens: part of every cache key.
fn source_hash(source: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    source.hash(&mut h);
    h.finish()
}

/// Expands the kernel `sig` with the rewritten `body`.
pub fn kernel_module(sig: &KernelSig, body: &syn::Block, source: &str) -> TokenStream {
    let KernelSig {
        vis,
        name,
        attrs,
        params,
    } = sig;
    let name_str = name.to_string();
    let hash = source_hash(source);

    let constexprs: Vec<_> = params
        .iter()
        .filter_map(|p| match &p.kind {
            ParamKind::Constexpr(ty) => Some((p, ty)),
            _ => None,
        })
        .collect();
    let ir_params = constexprs.iter().map(|(p, ty)| {
        let n = &p.name;
        let m = p.mutable.then(|| quote!(mut));
        quote!(#m #n: #ty)
    });
    let ir_args: Vec<_> = constexprs.iter().map(|(p, _)| &p.name).collect();

    let declare_runtime = params.iter().filter_map(|p| {
        let n = &p.name;
        let s = n.to_string();
        let m = p.mutable.then(|| quote!(mut));
        let kind = match &p.kind {
            ParamKind::Ptr(t) => {
                quote!(::bitmat::ir::ParamKind::Ptr(<#t as ::bitmat::Element>::DTYPE))
            }
            ParamKind::Scalar(t) => {
                quote!(::bitmat::ir::ParamKind::Scalar(<#t as ::bitmat::Element>::DTYPE))
            }
            ParamKind::Constexpr(_) => return None,
        };
        Some(quote!(let #m #n: ::bitmat::dsl::Tile = ::bitmat::dsl::param(#s, #kind);))
    });

    let launch_params: Vec<_> = params
        .iter()
        .map(|p| {
            let n = &p.name;
            match &p.kind {
                ParamKind::Ptr(t) => quote!(#n: &::bitmat::Buffer<#t>),
                ParamKind::Scalar(t) | ParamKind::Constexpr(t) => quote!(#n: #t),
            }
        })
        .collect();
    let launch_names: Vec<_> = params.iter().map(|p| &p.name).collect();
    let kernel_args = params.iter().filter_map(|p| {
        let n = &p.name;
        match &p.kind {
            ParamKind::Ptr(_) => Some(quote!(::bitmat::KernelArg::buffer(#n))),
            ParamKind::Scalar(_) => Some(quote!(::bitmat::KernelArg::scalar(#n))),
            ParamKind::Constexpr(_) => None,
        }
    });
    let launcher = format_ident!("Launcher");

    quote! {
        #(#attrs)*
        #[allow(non_snake_case, clippy::too_many_arguments)]
        #vis mod #name {
            #![allow(unused_imports, unused_parens, unused_braces, clippy::all)]
            use super::*;

            /// The kernel's name.
            pub const NAME: &str = #name_str;
            /// A hash of the kernel's source, part of every cache key.
            pub const SOURCE_HASH: u64 = #hash;

            /// Specializes the kernel for these compile-time values and returns its verified IR.
            pub fn ir(#(#ir_params),*) -> ::core::result::Result<::bitmat::ir::Kernel, ::bitmat::Error> {
                ::bitmat::specialize(NAME, move || {
                    #(#declare_runtime)*
                    #body
                })
            }

            /// Launches the kernel on `device` over `grid` with default options.
            pub fn launch(
                __bitmat_device: &::bitmat::Device,
                __bitmat_grid: impl ::core::convert::Into<::bitmat::Grid>,
                #(#launch_params),*
            ) -> ::core::result::Result<(), ::bitmat::Error> {
                with(::core::default::Default::default()).launch(__bitmat_device, __bitmat_grid, #(#launch_names),*)
            }

            /// Launch with explicit options (`num_warps`, `num_stages`).
            pub fn with(options: ::bitmat::LaunchOptions) -> #launcher {
                #launcher { options }
            }

            /// The kernel with launch options; see [`with`].
            pub struct #launcher {
                options: ::bitmat::LaunchOptions,
            }

            impl #launcher {
                /// Launches the kernel on `device` over `grid`.
                pub fn launch(
                    &self,
                    __bitmat_device: &::bitmat::Device,
                    __bitmat_grid: impl ::core::convert::Into<::bitmat::Grid>,
                    #(#launch_params),*
                ) -> ::core::result::Result<(), ::bitmat::Error> {
                    let __bitmat_id = ::bitmat::KernelId {
                        name: NAME,
                        source_hash: SOURCE_HASH,
                        constexprs: ::std::vec![#(::bitmat::Constexpr::key(&#ir_args)),*],
                    };
                    let __bitmat_args = [#(#kernel_args),*];
                    ::bitmat::launch_kernel(
                        __bitmat_device,
                        &__bitmat_id,
                        || ir(#(::core::clone::Clone::clone(&#ir_args)),*),
                        __bitmat_grid.into(),
                        &self.options,
                        &__bitmat_args,
                    )
                }
            }

        }
    }
}

//! The module generated for a kernel: `NAME`, `SOURCE_HASH`, `ir(..)`, `launch(..)`,
//! `with(options)` and its `Launcher`, `Constexprs`, `config(..)`, and `autotune(..)` with its
//! `Autotuned`.

use crate::parse::signature::{KernelSig, ParamKind};
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use std::hash::{Hash, Hasher};
use syn::spanned::Spanned;

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
    let ir_params_outer: Vec<_> = constexprs
        .iter()
        .map(|(p, ty)| {
            let n = &p.name;
            quote!(#n: #ty)
        })
        .collect();
    let ir_args: Vec<_> = constexprs.iter().map(|(p, _)| &p.name).collect();
    // `<T as Constexpr>` spanned at the user's type, so that a type which cannot be a
    // constexpr is reported on the argument, not on `#[bitkernel]`.
    let constexpr_keys: Vec<_> = constexprs
        .iter()
        .map(|(p, ty)| {
            let n = &p.name;
            quote_spanned!(ty.span()=> <#ty as ::bitmat::Constexpr>::key(&#n))
        })
        .collect();

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

    let constexprs_struct = constexprs_struct(&name_str, &constexprs, params);
    let autotuned = autotuned(&constexprs, params, &kernel_args_of(params));

    let launch_params: Vec<_> = params
        .iter()
        .map(|p| {
            let n = &p.name;
            match &p.kind {
                ParamKind::Ptr(t) => quote_spanned!(t.span()=> #n: &::bitmat::Buffer<#t>),
                ParamKind::Scalar(t) | ParamKind::Constexpr(t) => quote!(#n: #t),
            }
        })
        .collect();
    let kernel_args = kernel_args_of(params);
    // The body of every launch function. `launch` does not forward to `Launcher::launch`:
    // that call would repeat every error on the argument types at `#[bitkernel]`'s span.
    let launch_body = |options: TokenStream, unchecked: bool| {
        let call = quote! {
            (
                __bitmat_device,
                &__bitmat_id,
                || ir(#(::core::clone::Clone::clone(&#ir_args)),*),
                __bitmat_grid.into(),
                #options,
                &__bitmat_args,
            )
        };
        // SAFETY (of the generated `launch_unchecked`s): their callers promise every access
        // in bounds, as their `# Safety` sections say.
        let invoke = if unchecked {
            quote!(unsafe { ::bitmat::launch_kernel_unchecked #call })
        } else {
            quote!(::bitmat::launch_kernel #call)
        };
        quote! {
            let __bitmat_id = ::bitmat::KernelId {
                name: NAME,
                source_hash: SOURCE_HASH,
                constexprs: ::std::vec![#(#constexpr_keys),*],
            };
            let __bitmat_args = [#(#kernel_args),*];
            #invoke
        }
    };
    let default_options = quote!(&::core::default::Default::default());
    let launch_default = launch_body(default_options.clone(), false);
    let launch_with = launch_body(quote!(&self.options), false);
    let unchecked_default = launch_body(default_options, true);
    let unchecked_with = launch_body(quote!(&self.options), true);
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
            pub fn ir(#(#ir_params_outer),*) -> ::core::result::Result<::bitmat::ir::Kernel, ::bitmat::Error> {
                ::core::result::Result::Ok(specialize(#(#ir_args),*)?)
            }

            fn specialize(#(#ir_params),*) -> ::core::result::Result<::bitmat::ir::Kernel, ::bitmat::RuntimeError> {
                ::bitmat::specialize(NAME, move || {
                    #(#declare_runtime)*
                    #body
                })
            }

            #constexprs_struct

            /// Launches the kernel on `device` over `grid` with default options. Every load,
            /// store and atomic is bounds-checked: an access outside its buffer is
            /// `Error::OutOfBounds`.
            pub fn launch(
                __bitmat_device: &::bitmat::Device,
                __bitmat_grid: impl ::core::convert::Into<::bitmat::Grid>,
                #(#launch_params),*
            ) -> ::core::result::Result<(), ::bitmat::Error> {
                #launch_default
            }

            /// [`launch`] without bounds checks (unless `BITMAT_CHECKED=1`).
            ///
            /// # Safety
            ///
            /// Every load, store and atomic the kernel performs for these arguments and this
            /// grid must be inside its buffer.
            pub unsafe fn launch_unchecked(
                __bitmat_device: &::bitmat::Device,
                __bitmat_grid: impl ::core::convert::Into<::bitmat::Grid>,
                #(#launch_params),*
            ) -> ::core::result::Result<(), ::bitmat::Error> {
                #unchecked_default
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
                    #launch_with
                }

                /// [`Launcher::launch`] without bounds checks (unless the options'
                /// `checked` or `BITMAT_CHECKED=1` ask for them).
                ///
                /// # Safety
                ///
                /// Every load, store and atomic the kernel performs for these arguments and
                /// this grid must be inside its buffer.
                pub unsafe fn launch_unchecked(
                    &self,
                    __bitmat_device: &::bitmat::Device,
                    __bitmat_grid: impl ::core::convert::Into<::bitmat::Grid>,
                    #(#launch_params),*
                ) -> ::core::result::Result<(), ::bitmat::Error> {
                    #unchecked_with
                }
            }

            #autotuned
        }
    }
}

/// The `KernelArg`s of the runtime parameters, in order.
fn kernel_args_of(params: &[crate::parse::signature::Param]) -> Vec<TokenStream> {
    params
        .iter()
        .filter_map(|p| {
            let n = &p.name;
            match &p.kind {
                ParamKind::Ptr(_) => Some(quote!(::bitmat::KernelArg::buffer(#n))),
                ParamKind::Scalar(_) => Some(quote!(::bitmat::KernelArg::scalar(#n))),
                ParamKind::Constexpr(_) => None,
            }
        })
        .collect()
}

/// `config(..)`, `autotune(..)` and `Autotuned`: the kernel's autotuner with a typed launch.
fn autotuned(
    constexprs: &[(&crate::parse::signature::Param, &syn::Type)],
    params: &[crate::parse::signature::Param],
    kernel_args: &[TokenStream],
) -> TokenStream {
    let names: Vec<_> = constexprs.iter().map(|(p, _)| &p.name).collect();
    let types: Vec<_> = constexprs
        .iter()
        .map(|(_, ty)| with_static_lifetimes(ty))
        .collect();
    let runtime_params: Vec<_> = params
        .iter()
        .filter_map(|p| {
            let n = &p.name;
            match &p.kind {
                ParamKind::Ptr(t) => Some(quote_spanned!(t.span()=> #n: &::bitmat::Buffer<#t>)),
                ParamKind::Scalar(t) => Some(quote!(#n: #t)),
                ParamKind::Constexpr(_) => None,
            }
        })
        .collect();
    quote! {
        /// A configuration to autotune over: these constexprs (in declaration order) with
        /// default launch options; chain `.num_warps(..)`, `.num_stages(..)`,
        /// `.cpu_threads(..)` to set them.
        pub fn config(#(#names: #types),*) -> ::bitmat::Config<Constexprs> {
            ::bitmat::Config::new(Constexprs { #(#names),* })
        }

        /// An autotuner over `configs` (the first is the default); launch through
        /// [`Autotuned::launch`]. Keep it (e.g. in a `static`) to keep its results in memory.
        pub fn autotune(
            configs: impl ::core::iter::IntoIterator<Item = ::bitmat::Config<Constexprs>>,
        ) -> Autotuned {
            Autotuned {
                tuner: ::bitmat::Autotuner::new(configs),
            }
        }

        /// The kernel's autotuner: launches with the fastest configuration for the device and
        /// the key of the arguments, tuning on first use; see [`::bitmat::Autotuner`].
        pub struct Autotuned {
            tuner: ::bitmat::Autotuner<Constexprs>,
        }

        impl Autotuned {
            /// Restricts the key to these integer scalar parameters (default: all of them).
            pub fn key(self, params: &[&str]) -> Self {
                Autotuned {
                    tuner: self.tuner.key_params(params),
                }
            }

            /// Prunes configurations: `f(config, key)` returns `true` for one that must not run
            /// for the launch (`key.get("m")` is the launch's exact `m`).
            pub fn prune(
                self,
                f: impl ::core::ops::Fn(&::bitmat::Config<Constexprs>, &::bitmat::TuneKey) -> bool
                    + ::core::marker::Send
                    + ::core::marker::Sync
                    + 'static,
            ) -> Self {
                Autotuned {
                    tuner: self.tuner.prune(f),
                }
            }

            /// Zeroes the buffer parameters `params` before every launch of a configuration
            /// for which `when` holds, timing runs included (Triton's `reset_to_zero`): for
            /// kernels that accumulate their output with atomics, such as split-K matmuls.
            pub fn reset_to_zero(
                self,
                params: &[&str],
                when: impl ::core::ops::Fn(&::bitmat::Config<Constexprs>) -> bool
                    + ::core::marker::Send
                    + ::core::marker::Sync
                    + 'static,
            ) -> Self {
                Autotuned {
                    tuner: self.tuner.reset_to_zero(params, when),
                }
            }

            /// Adjusts the underlying tuner (disk cache, timing options).
            pub fn configure(
                self,
                f: impl ::core::ops::FnOnce(::bitmat::Autotuner<Constexprs>) -> ::bitmat::Autotuner<Constexprs>,
            ) -> Self {
                Autotuned { tuner: f(self.tuner) }
            }

            /// The underlying tuner.
            pub fn tuner(&self) -> &::bitmat::Autotuner<Constexprs> {
                &self.tuner
            }

            /// Launches the kernel on `device` with the best configuration for these arguments
            /// (runtime arguments in declaration order; constexprs come from the configuration);
            /// `grid` gives each configuration's grid.
            pub fn launch<__BitmatGrid: ::core::convert::Into<::bitmat::Grid>>(
                &self,
                __bitmat_device: &::bitmat::Device,
                __bitmat_grid: impl ::core::ops::Fn(&Constexprs) -> __BitmatGrid,
                #(#runtime_params),*
            ) -> ::core::result::Result<(), ::bitmat::Error> {
                let __bitmat_args = [#(#kernel_args),*];
                let __bitmat_grid = |__bitmat_c: &Constexprs| -> ::bitmat::Grid { __bitmat_grid(__bitmat_c).into() };
                ::core::result::Result::Ok(self.tuner.launch(__bitmat_device, &__bitmat_grid, &__bitmat_args)?)
            }

            /// [`Autotuned::launch`] without bounds checks, in the timing runs too (unless
            /// `BITMAT_CHECKED=1`).
            ///
            /// # Safety
            ///
            /// With every configuration of the tuner, every load, store and atomic the kernel
            /// performs for these arguments and the configuration's grid must be inside its
            /// buffer.
            pub unsafe fn launch_unchecked<__BitmatGrid: ::core::convert::Into<::bitmat::Grid>>(
                &self,
                __bitmat_device: &::bitmat::Device,
                __bitmat_grid: impl ::core::ops::Fn(&Constexprs) -> __BitmatGrid,
                #(#runtime_params),*
            ) -> ::core::result::Result<(), ::bitmat::Error> {
                let __bitmat_args = [#(#kernel_args),*];
                let __bitmat_grid = |__bitmat_c: &Constexprs| -> ::bitmat::Grid { __bitmat_grid(__bitmat_c).into() };
                // SAFETY: the caller promises every access in bounds.
                ::core::result::Result::Ok(unsafe { self.tuner.launch_unchecked(__bitmat_device, &__bitmat_grid, &__bitmat_args) }?)
            }

            /// The configuration [`Autotuned::launch`] would use for these arguments, and how
            /// it was chosen (tuning now when needed), without launching.
            pub fn best<__BitmatGrid: ::core::convert::Into<::bitmat::Grid>>(
                &self,
                __bitmat_device: &::bitmat::Device,
                __bitmat_grid: impl ::core::ops::Fn(&Constexprs) -> __BitmatGrid,
                #(#runtime_params),*
            ) -> ::core::result::Result<(::bitmat::Config<Constexprs>, ::bitmat::TuneOutcome), ::bitmat::Error> {
                let __bitmat_args = [#(#kernel_args),*];
                let __bitmat_grid = |__bitmat_c: &Constexprs| -> ::bitmat::Grid { __bitmat_grid(__bitmat_c).into() };
                ::core::result::Result::Ok(self.tuner.best(__bitmat_device, &__bitmat_grid, &__bitmat_args)?)
            }

            /// The configuration [`Autotuned::launch_unchecked`] would use for these arguments
            /// (tuned on unchecked code), and how it was chosen, without launching.
            ///
            /// # Safety
            ///
            /// As [`Autotuned::launch_unchecked`]: tuning runs every configuration.
            pub unsafe fn best_unchecked<__BitmatGrid: ::core::convert::Into<::bitmat::Grid>>(
                &self,
                __bitmat_device: &::bitmat::Device,
                __bitmat_grid: impl ::core::ops::Fn(&Constexprs) -> __BitmatGrid,
                #(#runtime_params),*
            ) -> ::core::result::Result<(::bitmat::Config<Constexprs>, ::bitmat::TuneOutcome), ::bitmat::Error> {
                let __bitmat_args = [#(#kernel_args),*];
                let __bitmat_grid = |__bitmat_c: &Constexprs| -> ::bitmat::Grid { __bitmat_grid(__bitmat_c).into() };
                // SAFETY: the caller promises every access in bounds.
                ::core::result::Result::Ok(unsafe { self.tuner.best_unchecked(__bitmat_device, &__bitmat_grid, &__bitmat_args) }?)
            }
        }
    }
}

/// `ty` with every elided or `'_` reference lifetime made `'static`, for a struct field.
fn with_static_lifetimes(ty: &syn::Type) -> syn::Type {
    struct Statics;
    impl syn::visit_mut::VisitMut for Statics {
        fn visit_type_reference_mut(&mut self, r: &mut syn::TypeReference) {
            if r.lifetime.as_ref().is_none_or(|l| l.ident == "_") {
                r.lifetime = Some(syn::Lifetime::new("'static", r.and_token.span));
            }
            syn::visit_mut::visit_type_reference_mut(self, r);
        }
        fn visit_lifetime_mut(&mut self, l: &mut syn::Lifetime) {
            if l.ident == "_" {
                *l = syn::Lifetime::new("'static", l.span());
            }
        }
    }
    let mut ty = ty.clone();
    syn::visit_mut::VisitMut::visit_type_mut(&mut Statics, &mut ty);
    ty
}

/// `Constexprs`: the kernel's constexprs as one value, and its `Specialization` impl (cache
/// identity, setting values from text, specializing), which autotuning and `bitmat dump` use.
fn constexprs_struct(
    kernel: &str,
    constexprs: &[(&crate::parse::signature::Param, &syn::Type)],
    params: &[crate::parse::signature::Param],
) -> TokenStream {
    let names: Vec<_> = constexprs.iter().map(|(p, _)| &p.name).collect();
    let name_strs: Vec<_> = names.iter().map(|n| n.to_string()).collect();
    let types: Vec<_> = constexprs
        .iter()
        .map(|(_, ty)| with_static_lifetimes(ty))
        .collect();
    let runtime: Vec<_> = params
        .iter()
        .filter(|p| !matches!(p.kind, ParamKind::Constexpr(_)))
        .map(|p| p.name.to_string())
        .collect();
    let accepted = if name_strs.is_empty() {
        format!("no such constexpr; `{kernel}` has none")
    } else {
        format!("no such constexpr; `{kernel}` has {}", name_strs.join(", "))
    };
    let field_docs = name_strs.iter().map(|n| format!("The `{n}` constexpr."));
    quote! {
        /// The kernel's `#[constexpr]` arguments as one value: a configuration to autotune
        /// over, or to specialize with [`::bitmat::Specialization::ir`].
        #[derive(Clone, Debug, PartialEq)]
        pub struct Constexprs {
            #(#[doc = #field_docs] pub #names: #types,)*
        }

        impl ::bitmat::Specialization for Constexprs {
            const KERNEL: &'static str = NAME;
            const SOURCE_HASH: u64 = SOURCE_HASH;
            const RUNTIME_PARAMS: &'static [&'static str] = &[#(#runtime),*];

            fn values(&self) -> ::std::vec::Vec<(&'static str, ::bitmat::ConstexprValue)> {
                ::std::vec![#((#name_strs, <#types as ::bitmat::Constexpr>::key(&self.#names))),*]
            }

            fn set(&mut self, name: &str, value: &str) -> ::core::result::Result<(), ::bitmat::RuntimeError> {
                let error = |message: ::std::string::String| ::bitmat::RuntimeError::Constexpr {
                    kernel: NAME.into(),
                    name: name.into(),
                    message,
                };
                match name {
                    #(#name_strs => {
                        self.#names = <#types as ::bitmat::Constexpr>::parse(value).map_err(error)?;
                        ::core::result::Result::Ok(())
                    })*
                    _ => ::core::result::Result::Err(error(#accepted.into())),
                }
            }

            fn ir(&self) -> ::core::result::Result<::bitmat::ir::Kernel, ::bitmat::RuntimeError> {
                specialize(#(::core::clone::Clone::clone(&self.#names)),*)
            }
        }
    }
}

//! Kernel signatures: runtime pointers, runtime scalars and `#[constexpr]` values.

use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, Ident, ItemFn, Pat, PathArguments, Type};

/// The element types a runtime scalar argument may have.
const SCALAR_TYPES: [&str; 14] = [
    "bool", "i8", "u8", "i16", "u16", "i32", "u32", "i64", "u64", "f16", "bf16", "f32", "f8e4m3",
    "f8e5m2",
];

/// How a kernel argument is passed.
pub enum ParamKind {
    /// `Ptr<T>`: a device buffer of `T` at launch.
    Ptr(Type),
    /// A runtime scalar of an element type.
    Scalar(Type),
    /// `#[constexpr]`: a Rust value fixed at specialization.
    Constexpr(Type),
}

/// One kernel argument.
pub struct Param {
    /// Its name.
    pub name: Ident,
    /// Whether the binding is `mut`.
    pub mutable: bool,
    /// How it is passed.
    pub kind: ParamKind,
}

/// A parsed kernel signature.
pub struct KernelSig {
    /// Visibility of the generated module.
    pub vis: syn::Visibility,
    /// The kernel's name.
    pub name: Ident,
    /// Doc comments and other outer attributes, moved to the generated module.
    pub attrs: Vec<syn::Attribute>,
    /// Arguments in declaration order.
    pub params: Vec<Param>,
}

fn check_common(func: &ItemFn, what: &str) -> syn::Result<()> {
    let sig = &func.sig;
    if let Some(c) = &sig.constness {
        return Err(syn::Error::new(
            c.span(),
            format!("a {what} cannot be `const fn`; remove `const`"),
        ));
    }
    if let Some(a) = &sig.asyncness {
        return Err(syn::Error::new(
            a.span(),
            format!("a {what} cannot be `async`; remove `async`"),
        ));
    }
    if let Some(u) = &sig.unsafety {
        return Err(syn::Error::new(u.span(), format!("a {what} cannot be `unsafe`: its `launch` checks every access, and `#[bitkernel]` generates an `unsafe fn launch_unchecked` for callers that prove them in bounds; remove `unsafe`")));
    }
    if let Some(abi) = &sig.abi {
        return Err(syn::Error::new(
            abi.span(),
            format!("a {what} cannot declare an ABI; remove `extern`"),
        ));
    }
    if let Some(v) = &sig.variadic {
        return Err(syn::Error::new(
            v.span(),
            format!("a {what} cannot be variadic"),
        ));
    }
    Ok(())
}

/// Checks an inline helper: any Rust signature but `async`/`const`/`unsafe`/`extern`.
pub fn check_helper(func: &ItemFn) -> syn::Result<()> {
    check_common(func, "#[bitkernel(inline)] helper")
}

/// Reads and checks a kernel's signature.
pub fn parse_kernel(func: &ItemFn) -> syn::Result<KernelSig> {
    check_common(func, "kernel")?;
    let sig = &func.sig;
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            "a kernel cannot be generic: pass compile-time choices as `#[constexpr]` arguments (e.g. `#[constexpr] block_k: i32`) and element types as concrete `Ptr<T>`",
        ));
    }
    if let syn::ReturnType::Type(..) = &sig.output {
        return Err(syn::Error::new_spanned(
            &sig.output,
            "a kernel returns nothing: write its results through a `Ptr<T>` argument with `store(ptr, value, mask)`",
        ));
    }
    let params = sig
        .inputs
        .iter()
        .map(parse_param)
        .collect::<syn::Result<Vec<_>>>()?;
    let attrs = func.attrs.clone();
    Ok(KernelSig {
        vis: func.vis.clone(),
        name: sig.ident.clone(),
        attrs,
        params,
    })
}

fn parse_param(arg: &FnArg) -> syn::Result<Param> {
    let pt = match arg {
        FnArg::Receiver(r) => {
            return Err(syn::Error::new(
                r.span(),
                "a kernel is a free function and cannot take `self`; remove it and pass what it holds as arguments",
            ))
        }
        FnArg::Typed(pt) => pt,
    };
    let (name, mutable) =
        match &*pt.pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
                (p.ident.clone(), p.mutability.is_some())
            }
            other => return Err(syn::Error::new_spanned(
                other,
                "kernel arguments must be plain names (`x: Ptr<f32>`); patterns are not supported: pass each value as its own argument (`m: i32, n: i32`)",
            )),
        };
    let mut constexpr = false;
    for attr in &pt.attrs {
        if attr.path().is_ident("constexpr") {
            if !matches!(attr.meta, syn::Meta::Path(_)) {
                return Err(syn::Error::new_spanned(
                    attr,
                    "`#[constexpr]` takes no arguments: write `#[constexpr] block: i32` and pass the value to `launch(..)` or `ir(..)`",
                ));
            }
            constexpr = true;
        } else {
            return Err(syn::Error::new_spanned(
                attr,
                "unknown attribute on a kernel argument: the only one accepted is `#[constexpr]`, which makes the argument a compile-time value",
            ));
        }
    }
    let ty = (*pt.ty).clone();
    if constexpr {
        return Ok(Param {
            name,
            mutable,
            kind: ParamKind::Constexpr(ty),
        });
    }
    if let Some(elem) = ptr_element(&ty) {
        return Ok(Param {
            name,
            mutable,
            kind: ParamKind::Ptr(elem),
        });
    }
    if is_scalar_type(&ty) {
        return Ok(Param {
            name,
            mutable,
            kind: ParamKind::Scalar(ty),
        });
    }
    let elem =
        buffer_element(&ty).map_or_else(|| "T".to_string(), |t| quote::quote!(#t).to_string());
    Err(syn::Error::new_spanned(
        &ty,
        format!("unsupported kernel argument type: a device buffer is written `Ptr<{elem}>` (launched with `&Buffer<{elem}>`), a runtime scalar is one of bool, i8, u8, i16, u16, i32, u32, i64, u64, f16, bf16, f32, f8e4m3, f8e5m2, and a compile-time value takes `#[constexpr]`"),
    ))
}

/// `T` when `ty` looks like a host buffer of `T`: `Vec<T>`, `[T]`, `[T; N]`, or a reference to one.
fn buffer_element(ty: &Type) -> Option<&Type> {
    match ty {
        Type::Reference(r) => buffer_element(&r.elem),
        Type::Slice(s) => Some(&s.elem),
        Type::Array(a) => Some(&a.elem),
        Type::Path(tp) => {
            let last = tp.path.segments.last()?;
            if last.ident != "Vec" {
                return None;
            }
            let PathArguments::AngleBracketed(args) = &last.arguments else {
                return None;
            };
            match args.args.first()? {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            }
        }
        _ => None,
    }
}

/// `T` when `ty` is `Ptr<T>` (by its last path segment).
fn ptr_element(ty: &Type) -> Option<Type> {
    let Type::Path(tp) = ty else { return None };
    let last = tp.path.segments.last()?;
    if last.ident != "Ptr" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.iter().collect::<Vec<_>>().as_slice() {
        [GenericArgument::Type(t)] => Some(t.clone()),
        _ => None,
    }
}

fn is_scalar_type(ty: &Type) -> bool {
    let Type::Path(tp) = ty else { return false };
    tp.qself.is_none()
        && tp
            .path
            .segments
            .last()
            .is_some_and(|s| s.arguments.is_empty() && SCALAR_TYPES.iter().any(|n| s.ident == n))
}

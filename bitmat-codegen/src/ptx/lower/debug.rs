//! `device_print` through the CUDA driver's `printf` (`vprintf`), as nvcc lowers `printf` and
//! Triton lowers `tl.device_print`: a global format string per print, the arguments written
//! to a local buffer with C's variadic promotions and alignment (`u32`s for the program and
//! index, a `double` for floats, 64-bit integers as `long long`), and
//! `call.uni (ret), vprintf, (fmt, args)`. Each thread prints the elements it holds, once per
//! element (the owner of replicated copies). Floats print with `%f`, so their digits differ
//! from the interpreter's shortest form; the lines come out when the device synchronizes.
//! (`device_assert` never reaches code generation: a debug launch turns it into checks
//! through `passes::bounds`, any other launch removes it.)

use crate::ptx::emit::Emitter;
use crate::ptx::regs::{dclass, Class};
use crate::CodegenError;
use bitmat_ir::{DType, ValueId};
use std::fmt::Write as _;

/// The `vprintf` declaration a module that prints carries.
pub(crate) const VPRINTF_DECL: &str = ".extern .func (.param .b32 func_retval0) vprintf\n(\n    .param .b64 vprintf_param_0,\n    .param .b64 vprintf_param_1\n);\n\n";

/// The name of the local buffer the arguments of `vprintf` are written to.
pub(crate) const PRINT_ARGS: &str = "bm_print_args";

/// The `printf` conversion of `d` and the bytes of its promoted argument.
fn conversion(d: DType) -> (&'static str, u32) {
    match d {
        DType::Bool | DType::I8 | DType::I16 | DType::I32 => ("%d", 4),
        DType::U8 | DType::U16 | DType::U32 => ("%u", 4),
        DType::I64 => ("%lld", 8),
        DType::U64 => ("%llu", 8),
        DType::F8E4M3 | DType::F8E5M2 | DType::F16 | DType::BF16 | DType::F32 => ("%f", 8),
    }
}

impl Emitter<'_> {
    /// `device_print(label, value)`.
    pub(crate) fn lower_print(&mut self, label: &str, value: ValueId) -> Result<(), CodegenError> {
        let d = self.dtype(value)?;
        let shape = self.k.ty(value).shape.clone();
        let (conv, value_bytes) = conversion(d);
        // The format: `pid (%u, %u, %u) idx (%u, ..) label: %d\n`, `%` in the label doubled.
        let idx = vec!["%u"; shape.len()].join(", ");
        let fmt = format!(
            "pid (%u, %u, %u) idx ({idx}) {}: {conv}\n",
            label.replace('%', "%%")
        );
        let name = format!("bm_print_fmt_{}", self.prints);
        self.prints += 1;
        let mut bytes: Vec<String> = fmt.bytes().map(|b| b.to_string()).collect();
        bytes.push("0".into());
        let _ = writeln!(
            self.globals,
            ".global .align 1 .b8 {name}[{}] = {{{}}};",
            bytes.len(),
            bytes.join(", ")
        );
        // The argument buffer: 3 + rank `u32`s, then the value at its own alignment.
        let ints = 4 * (3 + shape.len() as u32);
        let value_at = ints.next_multiple_of(value_bytes);
        self.print_args = self.print_args.max(value_at + value_bytes);

        let l = self.layout(value);
        let owner = self.owner_pred(&l);
        let regs = self.get(value)?;
        let (local, args, fmt_reg) = (
            self.reg(Class::B64),
            self.reg(Class::B64),
            self.reg(Class::B64),
        );
        self.line(format!("mov.u64 {local}, {PRINT_ARGS};"));
        self.line(format!("cvta.local.u64 {args}, {local};"));
        self.line(format!("mov.u64 {fmt_reg}, {name};"));
        self.line(format!("cvta.global.u64 {fmt_reg}, {fmt_reg};"));
        for (axis, dim) in ["x", "y", "z"].into_iter().enumerate() {
            let r = self.reg(Class::B32);
            self.line(format!("mov.u32 {r}, %ctaid.{dim};"));
            self.line(format!("st.local.u32 [{local}+{}], {r};", 4 * axis));
        }
        let skip = self.new_label("print_skip");
        if let Some(p) = &owner {
            self.line(format!("@!{p} bra {skip};"));
        }
        // Row-major index bits of each axis (extents are powers of two).
        let bits: Vec<u32> = shape.iter().map(|e| e.trailing_zeros()).collect();
        for (j, reg) in regs.iter().enumerate() {
            let flat = self.elem_index(&l, j as u32);
            let mut shift: u32 = bits.iter().sum();
            for (axis, &b) in bits.iter().enumerate() {
                shift -= b;
                let r = self.reg(Class::B32);
                self.line(format!("bfe.u32 {r}, {flat}, {shift}, {b};"));
                self.line(format!("st.local.u32 [{local}+{}], {r};", 4 * (3 + axis)));
            }
            if d.is_fp8() {
                let (f, r) = (self.reg(Class::F32), self.reg(Class::B64));
                self.fp8_to_f32(d, reg, &f);
                self.line(format!("cvt.f64.f32 {r}, {f};"));
                self.line(format!("st.local.u64 [{local}+{value_at}], {r};"));
            } else {
                self.store_print_value(d, reg, &local, value_at);
            }
            self.line("{");
            self.line("    .param .b64 param0;");
            self.line(format!("    st.param.b64 [param0+0], {fmt_reg};"));
            self.line("    .param .b64 param1;");
            self.line(format!("    st.param.b64 [param1+0], {args};"));
            self.line("    .param .b32 retval0;");
            self.line("    call.uni (retval0), vprintf, (param0, param1);");
            self.line("}");
        }
        self.place_label(&skip);
        Ok(())
    }

    /// Writes `reg` (a value of type `d`, not fp8) to the argument buffer at `value_at`, as
    /// C's variadic promotions have it.
    fn store_print_value(&mut self, d: DType, reg: &str, local: &str, value_at: u32) {
        match dclass(d) {
            Class::Pred => {
                let r = self.reg(Class::B32);
                self.line(format!("selp.u32 {r}, 1, 0, {reg};"));
                self.line(format!("st.local.u32 [{local}+{value_at}], {r};"));
            }
            Class::F32 => {
                let r = self.reg(Class::B64);
                self.line(format!("cvt.f64.f32 {r}, {reg};"));
                self.line(format!("st.local.u64 [{local}+{value_at}], {r};"));
            }
            Class::B64 => self.line(format!("st.local.u64 [{local}+{value_at}], {reg};")),
            Class::B32 | Class::B16 => {
                let r = self.reg(Class::B32);
                self.line(format!("mov.b32 {r}, {reg};"));
                self.normalize(d, &r);
                self.line(format!("st.local.u32 [{local}+{value_at}], {r};"));
            }
        }
    }
}

//! `device_print`: the printed tile is written to a stack buffer as it is in memory, the label
//! and the shape are private constants, and one call of the `DevicePrint` helper prints it, as
//! the Cranelift backend does. (`device_assert` never reaches code generation: a debug launch
//! turns it into checks through `passes::bounds`, any other launch removes it.)

use super::{mem_elem, vec, vec_lanes, Emitter, Operand};
use crate::cpu::helpers::{dtype_index, helpers, HelperId};
use crate::CodegenError;
use bitmat_ir::{DType, ValueId};

/// `bytes` as an LLVM string constant body (`c"..."`), with a terminating zero.
fn c_string(bytes: &[u8]) -> String {
    let mut s = String::from("c\"");
    for &b in bytes {
        if b.is_ascii_graphic() && b != b'"' && b != b'\\' || b == b' ' {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\{b:02X}"));
        }
    }
    s.push_str("\\00\"");
    s
}

impl Emitter<'_> {
    /// `device_print(label, value)`.
    pub(crate) fn device_print(&mut self, label: &str, value: ValueId) -> Result<(), CodegenError> {
        let d = self.dtype(value)?;
        let shape = self.ty(value).shape.clone();
        let numel = self.numel(value);
        let elem = mem_elem(d);
        let mut chunks = self.chunks(value)?;
        if d == DType::Bool {
            chunks = chunks
                .into_iter()
                .map(|c| {
                    let t = vec(vec_lanes(&c.ty), "i8");
                    self.ins(t.clone(), format!("zext {} {} to {t}", c.ty, c.text))
                })
                .collect();
        }
        let buf = self.stack_buffer((numel * d.size_bytes()).max(1));
        self.store_chunks(&chunks, elem, &buf);
        let tag = self.fresh().trim_start_matches('%').to_string();
        let label_name = format!("@bm_print_label_{tag}");
        self.declare(format!(
            "{label_name} = private unnamed_addr constant [{} x i8] {}",
            label.len() + 1,
            c_string(label.as_bytes())
        ));
        let shape_ptr = if shape.is_empty() {
            "null".to_string()
        } else {
            let name = format!("@bm_print_shape_{tag}");
            let items: Vec<String> = shape.iter().map(|e| format!("i32 {e}")).collect();
            self.declare(format!(
                "{name} = private unnamed_addr constant [{} x i32] [{}]",
                shape.len(),
                items.join(", ")
            ));
            name
        };
        let addr = |e: &mut Self, p: &str| e.ins("i64", format!("ptrtoint ptr {p} to i64"));
        let args: Vec<Operand> = vec![
            addr(self, &label_name),
            Operand {
                text: label.len().to_string(),
                ty: "i64".into(),
            },
            addr(self, "%pid"),
            addr(self, &buf),
            Operand {
                text: dtype_index(d).to_string(),
                ty: "i32".into(),
            },
            addr(self, &shape_ptr),
            Operand {
                text: shape.len().to_string(),
                ty: "i32".into(),
            },
        ];
        let name = helpers()[HelperId::DevicePrint as usize].name;
        self.declare(format!(
            "declare void @{name}(i64, i64, i64, i64, i32, i64, i32) nounwind"
        ));
        let list: Vec<String> = args
            .iter()
            .map(|a| format!("{} {}", a.ty, a.text))
            .collect();
        self.line(format!("call void @{name}({})", list.join(", ")));
        Ok(())
    }
}

//! `device_print`: the printed tile is already in its scratch slot, so one call of the
//! `DevicePrint` helper prints it, with the label and the shape written next to it in scratch.
//! (`device_assert` never reaches code generation: a debug launch turns it into checks
//! through `passes::bounds`, any other launch removes it.)

use super::{scratch_flags, Lowerer};
use crate::cpu::helpers::{dtype_index, HelperId};
use crate::cranelift::CodegenError;
use bitmat_ir::ValueId;
use cranelift_codegen::ir::{types, InstBuilder, Value};

impl Lowerer<'_, '_> {
    /// `device_print(label, value)`.
    pub(crate) fn device_print(&mut self, label: &str, value: ValueId) -> Result<(), CodegenError> {
        let d = self.dtype(value)?;
        let shape = self.shape(value);
        let label_addr = self.constant_bytes(label.as_bytes());
        let shape_bytes: Vec<u8> = shape.iter().flat_map(|e| e.to_le_bytes()).collect();
        let shape_addr = self.constant_bytes(&shape_bytes);
        let data = self.slot_addr(value)?;
        let ins = |l: &mut Self, ty, v: i64| l.b.ins().iconst(ty, v);
        let args = [
            label_addr,
            ins(self, types::I64, label.len() as i64),
            self.pid,
            data,
            ins(self, types::I32, i64::from(dtype_index(d))),
            shape_addr,
            ins(self, types::I32, shape.len() as i64),
        ];
        self.call(HelperId::DevicePrint, &args);
        Ok(())
    }

    /// The address of scratch bytes holding `bytes` (stored by the code, eight at a time).
    fn constant_bytes(&mut self, bytes: &[u8]) -> Value {
        let addr = self.temp_addr(bytes.len().max(1).next_multiple_of(8));
        for (i, word) in bytes.chunks(8).enumerate() {
            let mut w = [0u8; 8];
            w[..word.len()].copy_from_slice(word);
            let v = self.b.ins().iconst(types::I64, i64::from_le_bytes(w));
            self.b.ins().store(scratch_flags(), v, addr, (i * 8) as i32);
        }
        addr
    }
}

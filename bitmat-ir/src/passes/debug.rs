//! Debug ops outside debug launches: [`strip_asserts`] removes every `device_assert`
//! ([`OpKind::Assert`]) and the values only it used, so that a kernel launched without
//! `LaunchOptions::debug` carries no trace of its assertions (Triton compiles them out
//! unless `TRITON_DEBUG=1`). `device_print` is kept in every launch, as in Triton.

use crate::kernel::{Block, Kernel, OpKind};
use crate::passes::dce;

/// Removes the assertions of `kernel` (nested blocks included) and the code only they used;
/// returns whether there were any.
pub fn strip_asserts(kernel: &mut Kernel) -> bool {
    fn strip(block: &mut Block) -> bool {
        let before = block.ops.len();
        block
            .ops
            .retain(|op| !matches!(op.kind, OpKind::Assert { .. }));
        let mut any = block.ops.len() != before;
        for op in &mut block.ops {
            for b in op.kind.blocks_mut() {
                any |= strip(b);
            }
        }
        any
    }
    let any = strip(&mut kernel.body);
    if any {
        dce::run(kernel);
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_kernel;

    #[test]
    fn asserts_and_their_conditions_go() {
        let mut k = parse_kernel(
            "kernel @k(%0: ptr<f32> x) {
  %1 = arange 8 : i32[8]
  %2 = constant 4 : i32[8]
  %3 = cmp_lt %1, %2 : bool[8]
  device_assert %3, \"i < 4\"
  %4 = reshape %0 : ptr<f32>[1]
  %5 = broadcast %4 : ptr<f32>[8]
  %6 = addptr %5, %1 : ptr<f32>[8]
  %7 = load %6 : f32[8]
  device_print \"x\", %7
}",
        )
        .unwrap();
        assert!(strip_asserts(&mut k));
        let text = k.to_string();
        assert!(!text.contains("device_assert"), "{text}");
        assert!(!text.contains("cmp_lt"), "{text}");
        assert!(text.contains("device_print \"x\""), "{text}");
        assert!(!strip_asserts(&mut k));
    }
}

//! Atomics: `atomic_add` from many programs of a 3-D grid onto a few shared slots, masked,
//! with the old values it returns; totals against the interpreter and plain Rust.

use crate::data;
use crate::harness::{compare, run, test, Arg, Test, Tol};
use crate::ir_kernels::{ptrs, splat};
use crate::kernels::i32_const;
use bitmat::ir::{BinaryOp, CmpPred, DType, HostData, KernelBuilder, ParamKind, Scalar};
use bitmat::Device;

/// The tests of this module.
pub fn tests() -> Vec<Test> {
    [DType::I32, DType::U32, DType::I64, DType::U64, DType::F32]
        .into_iter()
        .map(|d| {
            test(format!("atomics::add_from_many_programs_{d}"), move |dev| {
                add_from_many_programs(dev, d)
            })
        })
        .collect()
}

/// 200 programs each add 1 to slot `lane % 4` for lanes 0..12 (lanes 12..16 masked off):
/// every slot ends at `3 * 200`, whatever the order (exactly, also in f32: every partial sum
/// is a small integer). Program 0 stores the old values it saw: they depend on the order, so
/// they are only checked to be whole numbers in `[0, total)`.
fn add_from_many_programs(dev: &Device, d: DType) -> Result<(), String> {
    let mut b = KernelBuilder::new("atomics");
    let p = b.param("p", ParamKind::Ptr(d));
    let old = b.param("old", ParamKind::Ptr(d));
    let offs = b.arange(16);
    let four = i32_const(&mut b, 4, &[16]);
    let slot = b.binary(BinaryOp::Rem, offs, four);
    let pp = ptrs(&mut b, p, slot);
    let twelve = i32_const(&mut b, 12, &[16]);
    let mask = b.cmp(CmpPred::Lt, offs, twelve);
    let v = b.constant(Scalar::from_f64(d, 1.0), vec![16]);
    let o = b.atomic_add(pp, v, Some(mask));
    let pid = b.program_id(0);
    let zero = b.constant(Scalar::from_i64(DType::I32, 0), vec![]);
    let is0 = b.cmp(CmpPred::Eq, pid, zero);
    let is0 = splat(&mut b, is0, &[16]);
    let po = ptrs(&mut b, old, offs);
    b.store(po, o, Some(is0));
    let k = b.finish().expect("valid kernel");
    let programs = 200u32;
    let args = [
        Arg::Buf(HostData::zeros(d, 4)),
        Arg::Buf(HostData::zeros(d, 16)),
    ];
    let out = run(
        dev,
        &format!("atomic_add of {d} from {programs} programs"),
        &k,
        [programs / 4, 2, 2],
        4,
        &args,
    )?;
    out.check(0, &Tol::Bits)?;
    let total = Scalar::from_f64(d, f64::from(3 * programs));
    compare(
        &format!("atomic totals of {d} against Rust"),
        &out.got[0],
        &data::filled(total, 4),
        &Tol::Bits,
    )?;
    for i in 0..16 {
        let seen = out.got[1].get(i).unwrap().as_f64();
        if !(0.0..f64::from(3 * programs)).contains(&seen) || seen.fract() != 0.0 {
            return Err(format!(
                "atomic_add of {d}: program 0 lane {i} saw the old value {seen}"
            ));
        }
    }
    Ok(())
}

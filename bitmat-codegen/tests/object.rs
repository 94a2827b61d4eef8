//! CPU objects: compiled code serialized, read back, loaded and run bit-identically; malformed
//! objects rejected before anything is mapped or run.

mod common;

use bitmat_codegen::cpu::{CpuObject, RelocKind, RelocTarget};
use bitmat_codegen::{CodegenError, CpuKernel};
use bitmat_ir::{BinaryOp, DType, Kernel, UnaryOp};
use common::data::small;
use common::kernels::ew;
use common::reference::{i32_arg, run_reference, Arg};
use common::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

/// A kernel that calls helpers (exp, log, fmod, f16 conversions): its code has relocations.
fn helper_kernel() -> Kernel {
    ew("helpers", DType::F32, DType::F16, 64, |b, x, y| {
        let e = b.unary(UnaryOp::Exp, x);
        let l = b.unary(UnaryOp::Abs, y);
        let l = b.unary(UnaryOp::Log, l);
        let s = b.binary(BinaryOp::Add, e, l);
        let m = b.binary(BinaryOp::Rem, s, x);
        let r = b.unary(UnaryOp::Round, m);
        b.cast(r, DType::F16)
    })
}

fn args(seed: u64) -> Vec<Arg> {
    let mut rng = StdRng::seed_from_u64(seed);
    vec![
        Arg::Buf(small(DType::F32, 64, &mut rng)),
        Arg::Buf(small(DType::F32, 64, &mut rng)),
        Arg::Buf(small(DType::F16, 64, &mut rng)),
        i32_arg(61),
    ]
}

#[test]
fn serialized_object_loads_and_runs_bit_identically() {
    let k = helper_kernel();
    let obj = CpuObject::compile(&k).unwrap();
    assert_eq!(obj.name(), "helpers");
    assert_eq!(obj.params(), 4);
    assert!(!obj.clif().is_empty());
    // Every relocation is an absolute address of a helper or a float libcall.
    assert!(!obj.relocs().is_empty(), "helper calls are relocated");
    for r in obj.relocs() {
        println!("relocation {r:?}");
        assert_eq!(r.kind, RelocKind::Abs8);
        assert!(matches!(
            r.target,
            RelocTarget::Helper(_) | RelocTarget::LibCall(_)
        ));
    }
    let bytes = obj.to_bytes();
    let back = CpuObject::from_bytes(&bytes).unwrap();
    assert_eq!(back.code(), obj.code());
    assert_eq!(back.relocs(), obj.relocs());
    assert_eq!(back.scratch_bytes(), obj.scratch_bytes());
    assert_eq!(back.clif(), obj.clif(), "the CLIF text is serialized");
    // Serialization is deterministic.
    assert_eq!(back.to_bytes(), bytes);

    let loaded = CpuKernel::load(&back).unwrap();
    assert_eq!(
        loaded.clif(),
        obj.clif(),
        "a loaded kernel keeps its CLIF text"
    );
    let direct = CpuKernel::compile(&k).unwrap();
    for seed in 0..4 {
        let a = args(seed);
        let want = run_reference(&k, [1, 1, 1], &a).unwrap_or_else(|e| panic!("{e}"));
        let got_loaded = run_compiled(&loaded, [1, 1, 1], &a);
        let got_direct = run_compiled(&direct, [1, 1, 1], &a);
        assert_same_with("loaded vs interpreter", &want[2], &got_loaded[2], true);
        for (x, y) in got_loaded.iter().zip(&got_direct) {
            assert_same("loaded vs freshly compiled", x, y);
        }
    }
    // Loading twice gives two independent mappings of working code.
    let again = CpuKernel::load(&back).unwrap();
    let a = args(9);
    let (x, y) = (
        run_compiled(&again, [1, 1, 1], &a),
        run_compiled(&loaded, [1, 1, 1], &a),
    );
    assert_same("second load", &x[2], &y[2]);
}

#[test]
fn code_is_compiled_once_and_stays_equal() {
    // The same IR compiles to the same bytes (what makes disk entries reproducible).
    let k = helper_kernel();
    let a = CpuObject::compile(&k).unwrap();
    let b = CpuObject::compile(&k).unwrap();
    assert_eq!(a.to_bytes(), b.to_bytes());
}

#[test]
fn truncated_or_malformed_objects_are_rejected() {
    let bytes = CpuObject::compile(&helper_kernel()).unwrap().to_bytes();
    for len in 0..bytes.len() {
        let e = CpuObject::from_bytes(&bytes[..len]).unwrap_err();
        assert!(matches!(e, CodegenError::Object(_)), "{len}: {e}");
    }
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(matches!(
        CpuObject::from_bytes(&trailing),
        Err(CodegenError::Object(_))
    ));
    let mut tag = bytes.clone();
    tag[7] ^= 0xff;
    assert!(matches!(
        CpuObject::from_bytes(&tag),
        Err(CodegenError::Object(_))
    ));
    assert!(CpuObject::from_bytes(b"garbage").is_err());
    // Flipping any byte either is caught (lengths, tags, offsets, helper ids) or leaves a
    // well-formed object whose code differs: the deserializer cannot tell that one, the disk
    // cache's checksum does. Nothing here may panic, and nothing is run.
    let mut caught = 0;
    for i in 8..bytes.len() {
        for bit in [0x01u8, 0x80] {
            let mut bad = bytes.clone();
            bad[i] ^= bit;
            if CpuObject::from_bytes(&bad).is_err() {
                caught += 1;
            }
        }
    }
    assert!(caught > 0);
}

#[test]
fn ptx_modules_round_trip_and_reject_malformed_bytes() {
    use bitmat_codegen::ptx::{compile_ptx, PtxModule, PtxOptions, PtxTarget};
    let m = compile_ptx(&helper_kernel(), PtxTarget::Sm90, PtxOptions::warps(4)).unwrap();
    let bytes = m.to_bytes();
    assert_eq!(PtxModule::from_bytes(&bytes).unwrap(), m);
    for len in 0..bytes.len() {
        assert!(PtxModule::from_bytes(&bytes[..len]).is_err(), "{len}");
    }
    let mut trailing = bytes.clone();
    trailing.push(1);
    assert!(PtxModule::from_bytes(&trailing).is_err());
    let mut bad = m.clone();
    bad.threads = 100;
    assert!(PtxModule::from_bytes(&bad.to_bytes()).is_err());
    let mut bad = m;
    bad.entry = "not an entry".into();
    assert!(PtxModule::from_bytes(&bad.to_bytes()).is_err());
}

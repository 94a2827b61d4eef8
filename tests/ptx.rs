//! Compiles every prebuilt kernel and the IR test kernels to PTX for every target, and
//! assembles each with `ptxas` when one is found (`BITMAT_PTXAS`, `ptxas` on `PATH`, or the
//! `nvidia-cuda-nvcc-cu12` pip wheel); otherwise only the PTX generation is checked.

mod ir_kernels;

use bitmat::codegen::ptx::{compile_ptx, PtxTarget};
use bitmat::ir::Kernel;
use std::path::PathBuf;
use std::process::Command;

/// The ptxas to use, or why there is none.
fn find_ptxas() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("BITMAT_PTXAS") {
        return Ok(PathBuf::from(p));
    }
    if Command::new("ptxas").arg("--version").output().is_ok() {
        return Ok(PathBuf::from("ptxas"));
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import nvidia.cuda_nvcc, os; print(os.path.join(list(nvidia.cuda_nvcc.__path__)[0], 'bin', 'ptxas'))",
        ])
        .output()
        .map_err(|e| format!("no BITMAT_PTXAS, no ptxas on PATH, python3 not runnable: {e}"))?;
    let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if out.status.success() && p.is_file() {
        Ok(p)
    } else {
        Err("no BITMAT_PTXAS, no ptxas on PATH, and the nvidia-cuda-nvcc-cu12 wheel is not installed (run .ci/install-ptxas)".into())
    }
}

fn prebuilt() -> Vec<Kernel> {
    use bitmat::kernels::{int4, norm, ternary};
    let mut ks = Vec::new();
    for (bm, bn, bk) in [(1, 32, 32), (16, 32, 32), (64, 64, 64)] {
        ks.push(ternary::w2a8_matmul::ir(bm, bn, bk).expect("w2a8_matmul"));
        for has_bias in [false, true] {
            ks.push(ternary::w2a8_linear::ir(has_bias, bm, bn, bk).expect("w2a8_linear"));
        }
        for signed in [false, true] {
            ks.push(int4::w4a8_matmul::ir(signed, bm, bn, bk).expect("w4a8_matmul"));
            ks.push(int4::w4a16_matmul::ir(signed, bm, bn, bk).expect("w4a16_matmul"));
        }
    }
    for has_weight in [false, true] {
        for block in [256, 1024, 4096] {
            ks.push(norm::rmsnorm_quantize::ir(has_weight, block).expect("rmsnorm_quantize"));
        }
    }
    ks
}

#[test]
fn every_kernel_assembles_for_every_target() {
    let ptxas = find_ptxas();
    if let Err(why) = &ptxas {
        println!("ptxas not found, checking PTX generation only: {why}");
    }
    let dir = std::env::temp_dir().join(format!("bitmat-ptx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let kernels: Vec<Kernel> = prebuilt().into_iter().chain(ir_kernels::all()).collect();
    let mut failures = Vec::new();
    for (i, k) in kernels.iter().enumerate() {
        for target in PtxTarget::ALL {
            for num_warps in [4] {
                let m = match compile_ptx(k, target, num_warps) {
                    Ok(m) => m,
                    Err(e) => {
                        failures.push(format!("{} {target}: {e}", k.name));
                        continue;
                    }
                };
                let Ok(ptxas) = &ptxas else { continue };
                let name = format!("{i}_{}", m.entry);
                failures.extend(assemble(ptxas, &dir, &name, &m.text, target).err());
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// i8, f16 and bf16 dots lower to tensor cores (`ldmatrix` + `mma.sync`), including shapes
/// that need padding to the instruction shape; f32 dots keep the scalar loop.
#[test]
fn low_precision_dots_use_mma() {
    use bitmat::ir::DType;
    for (d, instr) in [
        (DType::I8, "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32"),
        (
            DType::F16,
            "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32",
        ),
        (
            DType::BF16,
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32",
        ),
    ] {
        for (m, n, k) in [(16, 16, 32), (1, 32, 64), (2, 8, 4), (64, 64, 256)] {
            let kernel = ir_kernels::dot(d, m, n, k);
            let ptx = compile_ptx(&kernel, PtxTarget::Sm80, 4).expect("compiles");
            assert!(ptx.text.contains(instr), "{}: no {instr}", kernel.name);
            assert!(ptx.text.contains("ldmatrix.sync.aligned.m8n8.x4"));
        }
    }
    let f32_dot = compile_ptx(&ir_kernels::dot(DType::F32, 16, 16, 32), PtxTarget::Sm80, 4)
        .expect("compiles");
    assert!(!f32_dot.text.contains("mma.sync"));
}

/// Assembles `ptx` for `target` with `ptxas` (files under `dir`, named after `name`).
fn assemble(
    ptxas: &PathBuf,
    dir: &std::path::Path,
    name: &str,
    ptx: &str,
    target: PtxTarget,
) -> Result<(), String> {
    let file = dir.join(format!("{name}_{}.ptx", target.arch()));
    std::fs::write(&file, ptx).expect("write ptx");
    let out = Command::new(ptxas)
        .arg(format!("-arch={}", target.arch()))
        .arg(&file)
        .arg("-o")
        .arg(file.with_extension("cubin"))
        .output()
        .expect("run ptxas");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{name} {target}: ptxas failed ({}):\n{}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Reductions combine across the lanes of a warp with `shfl.sync.bfly` (butterflies, or
/// halving steps while a thread holds several partials; two 32-bit shuffles per step for
/// 64-bit values) and across warps through shared memory, one word per warp; a tile that
/// fits in one warp reduces to a scalar without shared memory.
#[test]
fn reductions_use_warp_shuffles() {
    use bitmat::ir::{DType, ReduceOp};
    let shuffles = |t: &str| t.matches("shfl.sync.bfly.b32").count();
    let one_warp = compile_ptx(
        &ir_kernels::reduce_tile(DType::F32, ReduceOp::Sum, &[1024]),
        PtxTarget::Sm80,
        1,
    )
    .expect("compiles");
    assert_eq!(shuffles(&one_warp.text), 5, "{}", one_warp.text);
    assert!(!one_warp.text.contains("bar.sync"));
    assert_eq!(one_warp.shared_bytes, 0);
    let four_warps = compile_ptx(
        &ir_kernels::reduce_tile(DType::F32, ReduceOp::Sum, &[1024]),
        PtxTarget::Sm80,
        4,
    )
    .expect("compiles");
    assert_eq!(shuffles(&four_warps.text), 5);
    assert!(four_warps.text.contains("bar.sync"));
    assert_eq!(four_warps.shared_bytes, 4 * 4);
    let wide = compile_ptx(
        &ir_kernels::reduce_tile(DType::I64, ReduceOp::Max, &[256]),
        PtxTarget::Sm80,
        4,
    )
    .expect("compiles");
    assert_eq!(shuffles(&wide.text), 2 * 5);
    assert_eq!(wide.shared_bytes, 4 * 8);
    // Along axis 1 a thread holds whole rows and needs no shuffle; along axis 0 it holds one
    // element of each of 128 columns, and five halving steps leave it 4 columns.
    let rows = compile_ptx(
        &ir_kernels::reduce_tile(DType::F32, ReduceOp::Sum, &[128, 128]),
        PtxTarget::Sm80,
        4,
    )
    .expect("compiles");
    assert_eq!(shuffles(&rows.text), 64 + 32 + 16 + 8 + 4);
    // Every reduction kernel whose tile has more than one element shuffles, in programs of
    // any size.
    for d in DType::ALL {
        for op in ir_kernels::reduce_ops(d) {
            for shape in ir_kernels::REDUCE_SHAPES.into_iter().filter(|s| s != &[1]) {
                let k = ir_kernels::reduce_tile(d, op, shape);
                for &num_warps in ir_kernels::reduce_warps(shape) {
                    let m = compile_ptx(&k, PtxTarget::Sm80, num_warps).expect("compiles");
                    assert!(
                        m.text.contains("shfl.sync.bfly.b32"),
                        "{} ({num_warps} warps): no shuffle",
                        k.name
                    );
                }
            }
        }
    }
}

/// The reduction kernels assemble in programs of 1, 4 and 8 warps, for `sm_80` (the oldest
/// PTX version; `every_kernel_assembles_for_every_target` assembles the reductions of
/// `ir_kernels::reduce`, which take every step, for every target).
#[test]
fn reductions_assemble() {
    use bitmat::ir::DType;
    let ptxas = match find_ptxas() {
        Ok(p) => p,
        Err(why) => {
            println!("ptxas not found, skipping: {why}");
            return;
        }
    };
    let dir = std::env::temp_dir().join(format!("bitmat-ptx-red-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut failures = Vec::new();
    for d in DType::ALL {
        for op in ir_kernels::reduce_ops(d) {
            for shape in ir_kernels::REDUCE_SHAPES {
                let k = ir_kernels::reduce_tile(d, op, shape);
                for &num_warps in ir_kernels::reduce_warps(shape) {
                    let m = compile_ptx(&k, PtxTarget::Sm80, num_warps).expect("compiles");
                    let name = format!("{}_w{num_warps}", m.entry);
                    failures.extend(assemble(&ptxas, &dir, &name, &m.text, PtxTarget::Sm80).err());
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `out[i] = x[i]` for `i < n`, `block` elements of `d` per program (masked-off lanes read 1).
fn copy_kernel(d: bitmat::ir::DType, block: u32) -> Kernel {
    use bitmat::ir::{BinaryOp, CmpPred, DType, KernelBuilder, ParamKind, Scalar};
    let mut b = KernelBuilder::new(format!("copy_{d}_{block}"));
    let x = b.param("x", ParamKind::Ptr(d));
    let out = b.param("out", ParamKind::Ptr(d));
    let n = b.param("n", ParamKind::Scalar(DType::I32));
    let pid = b.program_id(0);
    let cb = b.constant(Scalar::from_i64(DType::I32, i64::from(block)), vec![]);
    let base = b.binary(BinaryOp::Mul, pid, cb);
    let base = b.reshape(base, vec![1]);
    let base = b.broadcast(base, vec![block]);
    let ar = b.arange(block);
    let offs = b.binary(BinaryOp::Add, base, ar);
    let nv = b.reshape(n, vec![1]);
    let nv = b.broadcast(nv, vec![block]);
    let mask = b.cmp(CmpPred::Lt, offs, nv);
    let splat_ptr = |b: &mut KernelBuilder, p| {
        let p = b.reshape(p, vec![1]);
        b.broadcast(p, vec![block])
    };
    let px = splat_ptr(&mut b, x);
    let px = b.add_ptr(px, offs);
    let one = b.constant(Scalar::from_i64(d, 1), vec![block]);
    let v = b.load(px, Some(mask), Some(one));
    let po = splat_ptr(&mut b, out);
    let po = b.add_ptr(po, offs);
    b.store(po, v, Some(mask));
    b.finish().expect("valid kernel")
}

/// Contiguous loads and stores are vectorized (up to 16 bytes per access, sub-word types
/// packed into 32-bit words) and the PTX still assembles.
#[test]
fn contiguous_accesses_are_vectorized() {
    use bitmat::ir::DType;
    let ptxas = find_ptxas().ok();
    let dir = std::env::temp_dir().join(format!("bitmat-ptx-vec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (d, block, ld, st) in [
        (DType::F32, 2048, "ld.global.v4.f32", "st.global.v4.f32"),
        (DType::F32, 256, "ld.global.v2.f32", "st.global.v2.f32"),
        (DType::I8, 2048, "ld.global.v4.b32", "st.global.v4.b32"),
        (DType::I8, 512, "ld.global.b32", "st.global.b32"),
        (DType::U8, 2048, "ld.global.v4.b32", "st.global.v4.b32"),
        (DType::Bool, 2048, "ld.global.v4.b32", "st.global.v4.b32"),
        (DType::F16, 2048, "ld.global.v4.b32", "st.global.v4.b32"),
        (DType::BF16, 512, "ld.global.v2.b32", "st.global.v2.b32"),
        (DType::I16, 2048, "ld.global.v4.b32", "st.global.v4.b32"),
        (DType::I64, 2048, "ld.global.v2.b64", "st.global.v2.b64"),
        (DType::I32, 2048, "ld.global.v4.b32", "st.global.v4.b32"),
    ] {
        let k = copy_kernel(d, block);
        for target in [PtxTarget::Sm80, PtxTarget::Sm90a] {
            let m = compile_ptx(&k, target, 4).expect("compiles");
            assert!(m.text.contains(ld), "{}: no {ld}\n{}", k.name, m.text);
            assert!(m.text.contains(st), "{}: no {st}\n{}", k.name, m.text);
            let Some(ptxas) = &ptxas else { continue };
            if let Err(e) = assemble(ptxas, &dir, &m.entry, &m.text, target) {
                panic!("{e}");
            }
        }
    }
    // The prebuilt ternary matmul loads its i8 activations 16 bytes at a time.
    let w2a8 = bitmat::kernels::ternary::w2a8_matmul::ir(64, 64, 64).expect("w2a8_matmul");
    let m = compile_ptx(&w2a8, PtxTarget::Sm80, 4).expect("compiles");
    assert!(m.text.contains("ld.global.v4.b32"));
    // Scalar tiles and the replicated layout keep scalar accesses.
    let small = compile_ptx(&copy_kernel(DType::F32, 64), PtxTarget::Sm80, 4).expect("compiles");
    assert!(!small.text.contains("ld.global.v"));
    let _ = std::fs::remove_dir_all(&dir);
}

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
                // Every target for the small kernels; the newest and oldest for the rest.
                let file = dir.join(format!("{i}_{}_{}.ptx", m.entry, target.arch()));
                std::fs::write(&file, &m.text).expect("write ptx");
                let out = Command::new(ptxas)
                    .arg(format!("-arch={}", target.arch()))
                    .arg(&file)
                    .arg("-o")
                    .arg(file.with_extension("cubin"))
                    .output()
                    .expect("run ptxas");
                if !out.status.success() {
                    failures.push(format!(
                        "{} {target}: ptxas failed ({}):\n{}",
                        k.name,
                        file.display(),
                        String::from_utf8_lossy(&out.stderr)
                    ));
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

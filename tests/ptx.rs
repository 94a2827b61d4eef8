//! Compiles every prebuilt kernel, at every configuration of every GPU tuner, and the IR test
//! kernels to PTX for every target (each kernel's IR built once and shared by its program
//! sizes and targets; the modules compiled once, on every core, for both trials that need
//! them), and assembles each distinct module with `ptxas` (on every core) when one is found
//! (`BITMAT_PTXAS`, `ptxas` on `PATH`, or the `nvidia-cuda-nvcc-cu12` pip wheel); without one,
//! the assembly is reported as skipped with the reason (a failure when `BITMAT_REQUIRE` names
//! `ptxas`, as `.ci/run` does). Also checks the instructions that dots, reductions and
//! contiguous accesses lower to. Each prebuilt kernel (its first configuration) and every IR
//! test kernel is also assembled as a checked (safe) launch runs it.

mod ir_kernels;
#[path = "support/requirement.rs"]
mod requirement;

use bitmat::codegen::ptx::{compile_ptx, PtxOptions, PtxTarget};
use bitmat::ir::{DType, Kernel};
use bitmat::{tuned, Backend, Specialization};
use libtest_mimic::{Failed, Trial};
use rayon::prelude::*;
use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, OnceLock};

/// A kernel of the DSL's math, `fma`/`clamp`/`cdiv` and random numbers, for the assembler.
mod surface {
    use bitmat::prelude::*;

    #[bitkernel]
    pub fn dsl_surface(
        x: Ptr<f32>,
        out: Ptr<f32>,
        bits: Ptr<u32>,
        n: i32,
        seed: i32,
        #[constexpr] block: i32,
    ) {
        let offs = program_id(0) * block + arange(block);
        let mask = offs < n;
        let v = load(x + offs, mask, 0.0);
        let r = fma(v.sin(), v.cos(), v.tanh()) + v.erf() + v.sigmoid() + v.exp2() + v.log2();
        let r = clamp(r + v.floor() + v.ceil(), -1.0, 1.0);
        store(out + offs, r + randn(seed, offs) + rand(seed, offs), mask);
        store(
            bits + offs,
            randint(seed, offs) + (cdiv(offs, 3) as u32),
            mask,
        );
    }
}

/// A kernel of the DSL's runtime control flow: a `while` carrying a scalar, a pointer and a
/// tile, nested in a `range` loop and an `if`.
mod control {
    use bitmat::prelude::*;

    #[bitkernel]
    pub fn dsl_control(xs: Ptr<i64>, trail: Ptr<i64>, n: i32, #[constexpr] block: i32) {
        let lanes = arange(block);
        let mut seen = zeros::<i64>([block]);
        for j in range(0, n, 1) {
            if j % 2 == 0 {
                let mut x = load(xs + j);
                let mut count = full([], 0i32);
                let mut out = trail + j * block;
                while x > 1 {
                    x = select(x % 2 == 0, x / 2, x * 3 + 1);
                    store(out, x, count < block);
                    seen = select(lanes == count % block, seen + x, seen);
                    out = out + 1;
                    count = count + 1;
                }
            }
        }
        store(trail + n * block + lanes, seen);
    }
}

/// Kernels of every atomic on every type it takes, masked and unmasked, and a spin lock of
/// `atomic_cas` and `atomic_xchg` in a runtime `while`.
mod atomics {
    use bitmat::prelude::*;

    #[bitkernel]
    pub fn dsl_atomics_f32(p: Ptr<f32>, out: Ptr<f32>, n: i32, #[constexpr] block: i32) {
        let offs = program_id(0) * block + arange(block);
        let mask = offs < n;
        let v = load(p + offs, mask, 0.0);
        let slot = p + offs % 4;
        let a = atomic_add(slot, v, mask) + atomic_max(slot, v, mask) + atomic_min(slot, v);
        let b = atomic_xchg(slot, v, mask) + atomic_cas(slot, v, a);
        store(
            out + offs,
            a + b + atomic_max(p, 1.0) + atomic_min(p, -1.0),
            mask,
        );
    }

    #[bitkernel]
    pub fn dsl_atomics_int(p: Ptr<i32>, q: Ptr<u64>, n: i32, #[constexpr] block: i32) {
        let offs = program_id(0) * block + arange(block);
        let mask = offs < n;
        let v = load(p + offs, mask, 0);
        let slot = p + offs % 4;
        let a = atomic_max(slot, v, mask) ^ atomic_min(slot, v) ^ atomic_and(slot, v, mask);
        let b = atomic_or(slot, v) ^ atomic_xor(slot, v, mask) ^ atomic_xchg(slot, v);
        store(p + offs, a ^ b ^ atomic_cas(slot, v, a), mask);
        let w = v as u64;
        let qs = q + offs % 4;
        let c = atomic_max(qs, w, mask)
            ^ atomic_min(qs, w)
            ^ atomic_and(qs, w)
            ^ atomic_cas(qs, w, c0(w));
        store(
            q + offs,
            c ^ atomic_or(qs, w) ^ atomic_xor(qs, w) ^ atomic_xchg(qs, w, mask),
            mask,
        );
    }

    #[bitkernel(inline)]
    fn c0(w: Tile) -> Tile {
        w + 1
    }

    #[bitkernel]
    pub fn dsl_spin_lock(lock: Ptr<i32>, counter: Ptr<i32>) {
        while atomic_cas(lock, 0, 1) != 0 {}
        store(counter, load(counter) + 1);
        atomic_xchg(lock, 0);
    }
}

/// Kernels of the DSL's shape ops (`trans`, `permute`, `join`, `split`, `cat`, `zeros_like`,
/// `arange(start, end)`), for the assembler.
mod shapes {
    use bitmat::prelude::*;

    #[bitkernel]
    pub fn dsl_shapes(
        x: Ptr<f32>,
        y: Ptr<i8>,
        out: Ptr<f32>,
        bytes: Ptr<i8>,
        m: i32,
        n: i32,
        #[constexpr] bm: i32,
        #[constexpr] bn: i32,
    ) {
        let rm = program_id(0) * bm + arange(bm);
        let rn = arange(3, 3 + bn) - 3;
        let mask = (rm.unsqueeze(1) < m) & (rn.unsqueeze(0) < n);
        let at = rm.unsqueeze(1) * n + rn.unsqueeze(0);
        let a = load(x + at, mask, 0.0);
        let b = load(y + at, mask, 0);
        let tp = rn.unsqueeze(1) * m + rm.unsqueeze(0);
        store(out + tp, a.trans() + zeros_like(a.trans()), mask.trans());
        let k2 = arange(2).unsqueeze(0).unsqueeze(0);
        let at2 = at.unsqueeze(2) * 2 + k2;
        let j = join(a, a * 2.0);
        let (l, h) = j.permute([2, 0, 1]).permute([1, 2, 0]).split();
        store(out + at, l + h, mask);
        let bj = join(b, b + 1);
        store(bytes + at2, bj, join(mask, mask));
        let (bl, bh) = load(y + at2, join(mask, mask), 0).split();
        store(
            cat(bytes + at, bytes + m * n + at),
            cat(bl, bh),
            cat(mask, mask),
        );
    }
}

/// A kernel of the DSL's scans, sorts and combine-function reductions (`cumsum`, `cumprod`,
/// `associative_scan`, `reduce`, `argmax`/`argmin`, `sort`, `xor_sum`), for the assembler.
mod scans {
    use bitmat::prelude::*;

    #[bitkernel]
    pub fn dsl_scans(
        x: Ptr<f32>,
        y: Ptr<i32>,
        out: Ptr<f32>,
        idx: Ptr<i32>,
        m: i32,
        #[constexpr] bm: i32,
        #[constexpr] bn: i32,
    ) {
        let rm = program_id(0) * bm + arange(bm);
        let rn = arange(bn);
        let mask = rm.unsqueeze(1) < m;
        let at = rm.unsqueeze(1) * bn + rn.unsqueeze(0);
        let v = load(x + at, mask, 0.0);
        let w = load(y + at, mask, 0);
        let s = v.cumsum(1) + v.cumprod_reverse(1) + v.sort(1, true);
        store(
            out + at,
            s + associative_scan(v, 0, |a, b| maximum(a, b)),
            mask,
        );
        let r = w.reduce(1, |a, b| a * b) + w.xor_sum(1) + v.argmax(1) + w.argmin(1);
        store(
            idx + rm,
            r + w.cumsum_reverse(0).sort(-1, false).sum(1),
            rm < m,
        );
    }

    /// `dot` with an f16 accumulator (summed in f32, rounded per call).
    #[bitkernel]
    pub fn dsl_dot_f16acc(a: Ptr<f16>, c: Ptr<f16>, #[constexpr] b: i32) {
        let r = arange(b);
        let at = r.unsqueeze(1) * b + r.unsqueeze(0);
        let x = load(a + at);
        let acc = dot(x, x.trans(), zeros_like(x));
        store(c + at, dot(x, x, acc));
    }
}

/// Triton's tutorial 05 (`examples/triton/layer_norm.rs`): layer norm forward, the backward
/// `dX` kernel with its locked partial sums, and their reduction.
#[path = "../examples/triton/layer_norm.rs"]
mod layer_norm;

/// Triton's tutorial 06 (`examples/triton/fused_attention.rs`): flash attention, forward.
#[path = "../examples/triton/fused_attention.rs"]
mod fused_attention;

/// Triton's tutorial 08 (`examples/triton/grouped_gemm.rs`): a persistent grouped GEMM.
#[path = "../examples/triton/grouped_gemm.rs"]
mod grouped_gemm;
/// `device_print` of every kind of value and `device_assert`, for the assembler (the
/// assertions reach PTX only through a debug launch's checks).
mod debug {
    use bitmat::prelude::*;

    #[bitkernel]
    pub fn dsl_debug(x: Ptr<i8>, y: Ptr<u64>, h: Ptr<f16>, #[constexpr] b: i32) {
        let r = arange(b);
        let at = r.unsqueeze(1) * b + r.unsqueeze(0);
        let xs = load(x + at);
        let ys = load(y + r);
        let hs = load(h + r);
        device_print("x", xs);
        device_print("y", ys);
        device_print("h", hs);
        device_print("odd 100%", (xs % 2).sum(1) != 0i8);
        device_print("pid", program_id(0));
        device_assert(xs > -100i8, "x > -100");
        device_assert(ys.sum(0) > 0u64, "some y");
        store(y + r, ys + 1u64);
    }
}

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

/// One kernel to compile: a name for messages, its IR (shared by the jobs of its other
/// program sizes), the options and the targets.
struct Job {
    name: String,
    kernel: Arc<Kernel>,
    options: PtxOptions,
    targets: &'static [PtxTarget],
}

/// The targets of the checked versions of a kernel ([`checked_versions`]): the oldest and the
/// newest.
const CHECKED_TARGETS: &[PtxTarget] = &[PtxTarget::Sm80, PtxTarget::Sm90a];

/// Kernel `k` (named `name`) as checked launches run it, named for messages: instrumented by
/// `passes::bounds`, with the accesses proven at launch left unchecked, and with every access
/// checked, for launches where the proof's conditions fail.
fn checked_versions(name: &str, k: &Kernel) -> [(String, Arc<Kernel>); 2] {
    use bitmat::ir::passes::bounds::{self, BoundsError, Checked};
    type Instrument = fn(&Kernel) -> Result<Checked, BoundsError>;
    let proven: Instrument = bounds::instrument;
    let all: Instrument = bounds::instrument_all;
    [("checked", proven), ("all checked", all)].map(|(what, instrument)| {
        let checked = instrument(k).unwrap_or_else(|e| panic!("{name}: {e}"));
        (format!("{name} ({what})"), Arc::new(checked.kernel))
    })
}

impl Job {
    fn new(
        name: impl Into<String>,
        kernel: Kernel,
        num_warps: u32,
        targets: &'static [PtxTarget],
    ) -> Job {
        Job {
            name: name.into(),
            kernel: Arc::new(kernel),
            options: PtxOptions::warps(num_warps),
            targets,
        }
    }

    /// The same job with `num_stages` pipeline stages.
    fn stages(mut self, num_stages: u32) -> Job {
        self.options.num_stages = num_stages;
        self
    }

    /// The job's kernel as checked launches run it ([`checked_versions`]), with the job's
    /// options, for [`CHECKED_TARGETS`].
    fn checked(&self) -> [Job; 2] {
        checked_versions(&self.name, &self.kernel).map(|(name, kernel)| Job {
            name,
            kernel,
            options: self.options,
            targets: CHECKED_TARGETS,
        })
    }
}

/// Kernel `kernel` (named `name`) in programs of each of `warps` for `targets`, and, when
/// `checked`, its checked versions ([`Job::checked`]) in programs of the same sizes: the IR of
/// each version is built once, and shared by all its jobs.
fn sized_jobs(
    name: impl Into<String>,
    kernel: Kernel,
    warps: &[u32],
    targets: &'static [PtxTarget],
    checked: bool,
) -> Vec<Job> {
    let name = name.into();
    let kernel = Arc::new(kernel);
    let mut versions = Vec::new();
    if checked {
        for (name, kernel) in checked_versions(&name, &kernel) {
            versions.push((name, kernel, CHECKED_TARGETS));
        }
    }
    versions.push((name, kernel, targets));
    warps
        .iter()
        .flat_map(|&num_warps| {
            versions.iter().map(move |(name, kernel, targets)| Job {
                name: name.clone(),
                kernel: Arc::clone(kernel),
                options: PtxOptions::warps(num_warps),
                targets,
            })
        })
        .collect()
}

/// Every configuration of a GPU tuner, as jobs for every target (configurations of the same
/// constexprs share one IR).
fn tuner_jobs<C: Specialization>(kernel: &str, configs: &[bitmat::Config<C>]) -> Vec<Job> {
    let mut irs: Vec<(&C, Arc<Kernel>)> = Vec::new();
    configs
        .iter()
        .map(|c| {
            let built = irs
                .iter()
                .find(|(constexprs, _)| *constexprs == &c.constexprs);
            let ir = match built {
                Some((_, ir)) => Arc::clone(ir),
                None => {
                    let ir = c.constexprs.ir();
                    let ir = Arc::new(ir.unwrap_or_else(|e| panic!("{kernel} {c}: {e}")));
                    irs.push((&c.constexprs, Arc::clone(&ir)));
                    ir
                }
            };
            Job {
                name: format!("{kernel} {c}"),
                kernel: ir,
                options: PtxOptions::warps(c.options.num_warps),
                targets: &PtxTarget::ALL,
            }
            .stages(c.options.num_stages)
        })
        .collect()
}

/// What is compiled and assembled: every prebuilt kernel at every configuration of every GPU
/// tuner (and the untuned ones at the blocks their ops use, in programs of 1, 4 and 8 warps),
/// the IR test kernels, for every target; the reduction kernels in programs of every size
/// and the vectorized copies for the oldest and the newest target.
fn jobs() -> Vec<Job> {
    use bitmat::kernels::{int4, norm};
    let gpu = Backend::CUDA;
    let all = &PtxTarget::ALL;
    let mut jobs = Vec::new();
    jobs.extend(tuner_jobs(
        "w2a8_matmul",
        tuned::ternary_tuner(gpu).tuner().configs(),
    ));
    jobs.extend(tuner_jobs(
        "w2a8_matmul_split_k",
        tuned::ternary_split_k_tuner(gpu).tuner().configs(),
    ));
    jobs.extend(tuner_jobs(
        "w2a8_gemv",
        tuned::gemv_tuner(gpu).tuner().configs(),
    ));
    jobs.extend(tuner_jobs(
        "w4a16_matmul",
        tuned::w4a16_tuner(gpu).tuner().configs(),
    ));
    jobs.extend(tuner_jobs(
        "w4a16_matmul_split_k",
        tuned::w4a16_split_k_tuner(gpu).tuner().configs(),
    ));
    jobs.extend(tuner_jobs(
        "w4a16_gemv",
        tuned::w4a16_gemv_tuner(gpu).tuner().configs(),
    ));
    jobs.extend(tuner_jobs(
        "w4a8_matmul",
        tuned::w4a8_tuner(gpu).tuner().configs(),
    ));
    for has_bias in [false, true] {
        jobs.extend(tuner_jobs(
            "w2a8_linear",
            tuned::linear_tuner(gpu, has_bias).tuner().configs(),
        ));
        jobs.extend(tuner_jobs(
            "w4a4_matmul",
            tuned::w4a4_tuner(gpu, has_bias).tuner().configs(),
        ));
    }
    let untuned_warps = &[1, 4, 8];
    for block in [256, 1024, 4096] {
        for has_weight in [false, true] {
            let k = norm::rmsnorm_quantize::ir(has_weight, block).expect("rmsnorm_quantize");
            let name = format!("rmsnorm_quantize {block}");
            jobs.extend(sized_jobs(name, k, untuned_warps, all, false));
        }
        let k = norm::quantize_int8::ir(block).expect("quantize_int8");
        let name = format!("quantize_int8 {block}");
        jobs.extend(sized_jobs(name, k, untuned_warps, all, false));
    }
    for block in [16, 256] {
        let k = int4::pack_uint4_saturating::ir(block).expect("pack_uint4_saturating");
        let name = format!("pack_uint4_saturating {block}");
        jobs.extend(sized_jobs(name, k, untuned_warps, all, false));
    }
    // Safe launches run checked code: the first configuration of each prebuilt kernel so far,
    // checked (the checks are the same IR ops in every configuration).
    let mut seen = HashSet::new();
    let checked: Vec<Job> = jobs
        .iter()
        .filter(|j| seen.insert(j.kernel.name.clone()))
        .flat_map(Job::checked)
        .collect();
    jobs.extend(checked);
    for k in ir_kernels::all() {
        jobs.extend(sized_jobs(k.name.clone(), k, &[4], all, true));
    }
    for d in DType::ALL {
        for op in ir_kernels::reduce_ops(d) {
            for shape in ir_kernels::REDUCE_SHAPES {
                let k = ir_kernels::reduce_tile(d, op, shape);
                let warps = ir_kernels::reduce_warps(shape);
                jobs.extend(sized_jobs(
                    k.name.clone(),
                    k,
                    warps,
                    &[PtxTarget::Sm80],
                    false,
                ));
            }
        }
    }
    let k = surface::dsl_surface::ir(256).expect("dsl_surface");
    jobs.extend(sized_jobs("dsl_surface", k, &[1, 4], all, false));
    let k = control::dsl_control::ir(128).expect("dsl_control");
    jobs.extend(sized_jobs("dsl_control", k, &[1, 4], all, true));
    for k in [
        atomics::dsl_atomics_f32::ir(128).expect("dsl_atomics_f32"),
        atomics::dsl_atomics_int::ir(128).expect("dsl_atomics_int"),
        atomics::dsl_spin_lock::ir().expect("dsl_spin_lock"),
    ] {
        jobs.extend(sized_jobs(k.name.clone(), k, &[1, 4], all, true));
    }
    for (bm, bn, num_warps) in [(16, 32, 4), (64, 64, 8), (2, 4, 1), (32, 2, 4)] {
        let k = shapes::dsl_shapes::ir(bm, bn).expect("dsl_shapes");
        let name = format!("dsl_shapes {bm}x{bn}");
        jobs.extend(sized_jobs(name, k, &[num_warps], all, true));
    }
    for (bm, bn, num_warps) in [(16, 32, 4), (2, 128, 4), (32, 2, 1)] {
        let k = scans::dsl_scans::ir(bm, bn).expect("dsl_scans");
        let name = format!("dsl_scans {bm}x{bn}");
        jobs.extend(sized_jobs(name, k, &[num_warps], all, true));
    }
    for (b, num_warps) in [(16, 4), (2, 1)] {
        let mut k = debug::dsl_debug::ir(b).expect("dsl_debug");
        // Debug launches keep the assertions (checked), other launches strip them.
        let debug = Job::new(format!("dsl_debug {b}"), k.clone(), num_warps, all);
        jobs.extend(debug.checked());
        bitmat::ir::passes::debug::strip_asserts(&mut k);
        let name = format!("dsl_debug {b} (asserts stripped)");
        jobs.push(Job::new(name, k, num_warps, all));
    }
    for b in [16, 64] {
        let k = scans::dsl_dot_f16acc::ir(b).expect("dsl_dot_f16acc");
        jobs.push(Job::new(format!("dsl_dot_f16acc {b}"), k, 4, all));
    }
    for k in [
        layer_norm::layer_norm_fwd_fused::ir(512).expect("layer_norm_fwd_fused"),
        layer_norm::layer_norm_bwd_dx_fused::ir(8, 512).expect("layer_norm_bwd_dx_fused"),
        layer_norm::layer_norm_bwd_dwdb::ir(32, 128).expect("layer_norm_bwd_dwdb"),
        // The examples' blocks, and the tutorial's.
        fused_attention::attn_fwd::ir(32, 16, 16, 1).expect("attn_fwd"),
        fused_attention::attn_fwd::ir(32, 16, 16, 3).expect("attn_fwd causal"),
        fused_attention::attn_fwd::ir(64, 64, 32, 3).expect("attn_fwd causal"),
        grouped_gemm::grouped_matmul_kernel::ir(4, 32, 32, 16).expect("grouped_matmul"),
        grouped_gemm::grouped_matmul_kernel::ir(132, 64, 64, 32).expect("grouped_matmul"),
    ] {
        jobs.extend(sized_jobs(k.name.clone(), k, &[1, 4], all, true));
    }
    for (d, block, ..) in VECTORIZED {
        let k = copy_kernel(d, block);
        jobs.push(Job::new(k.name.clone(), k, 4, CHECKED_TARGETS));
    }
    jobs
}

/// One compiled module: its job's name, program size, target and text.
struct Module {
    name: String,
    num_warps: u32,
    target: PtxTarget,
    text: String,
}

/// What every job compiled to.
struct Compiled {
    /// The distinct modules (identical texts of one target kept once), in job order.
    modules: Vec<Module>,
    /// The compile errors.
    errors: Vec<String>,
}

/// Every job compiled for each of its targets, on every core, once for all the trials that
/// need it.
fn compiled() -> &'static Compiled {
    static COMPILED: OnceLock<Compiled> = OnceLock::new();
    COMPILED.get_or_init(compile_all)
}

/// Compiles every job for each of its targets, on every core; identical PTX texts of one
/// target are kept once.
fn compile_all() -> Compiled {
    let jobs = jobs();
    let units: Vec<(&Job, PtxTarget)> = jobs
        .iter()
        .flat_map(|j| j.targets.iter().map(move |&t| (j, t)))
        .collect();
    let results: Vec<Result<Module, String>> = units
        .into_par_iter()
        .map(|(job, target)| {
            compile_ptx(&job.kernel, target, job.options)
                .map(|m| Module {
                    name: job.name.clone(),
                    num_warps: job.options.num_warps,
                    target,
                    text: m.text,
                })
                .map_err(|e| {
                    format!(
                        "{} ({} warps) {target}: {e}",
                        job.name, job.options.num_warps
                    )
                })
        })
        .collect();
    let mut seen = HashSet::new();
    let (mut modules, mut errors) = (Vec::new(), Vec::new());
    for r in results {
        match r {
            Ok(m) => {
                if seen.insert((m.target.arch(), m.text.clone())) {
                    modules.push(m);
                }
            }
            Err(e) => errors.push(e),
        }
    }
    Compiled { modules, errors }
}

/// Fails with every message of `failures`, if any.
fn report(failures: Vec<String>) -> Result<(), Failed> {
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("{} failures:\n{}", failures.len(), failures.join("\n")).into())
    }
}

/// Every job compiles to PTX for each of its targets.
fn every_kernel_compiles() -> Result<(), Failed> {
    report(compiled().errors.clone())
}

/// Every distinct module assembles with `ptxas` for its target, on every core.
fn every_kernel_assembles(ptxas: PathBuf) -> Result<(), Failed> {
    let Compiled { modules, errors } = compiled();
    let dir = std::env::temp_dir().join(format!("bitmat-ptx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let results: Vec<Result<(), String>> = modules
        .par_iter()
        .enumerate()
        .map(|(i, m)| {
            assemble(&ptxas, &dir, &format!("{i}"), &m.text, m.target)
                .map_err(|e| format!("{} ({} warps): {e}", m.name, m.num_warps))
        })
        .collect();
    let mut failures = errors.clone();
    failures.extend(results.into_iter().filter_map(Result::err));
    println!("assembled {} distinct modules", modules.len());
    let _ = std::fs::remove_dir_all(&dir);
    report(failures)
}

/// i8, f16, bf16 and fp8 dots lower to tensor cores (`ldmatrix` + `mma.sync`), including
/// shapes that need padding to the instruction shape; f32 dots keep the scalar loop.
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
            let ptx =
                compile_ptx(&kernel, PtxTarget::Sm80, PtxOptions::warps(4)).expect("compiles");
            assert!(ptx.text.contains(instr), "{}: no {instr}", kernel.name);
            assert!(ptx.text.contains("ldmatrix.sync.aligned.m8n8.x4"));
        }
    }
    // fp8 (either format on each side): the fp8 m16n8k32 on sm_89 and later, in modules of
    // ISA 8.4; widened to the f16 m16n8k16 on sm_80 and sm_86, whose modules keep their ISA.
    let (e4, e5) = (DType::F8E4M3, DType::F8E5M2);
    for types in [[e4, e4], [e4, e5], [e5, e4], [e5, e5]] {
        let names = types.map(|d| if d == e4 { "e4m3" } else { "e5m2" });
        let fp8 = format!(
            "mma.sync.aligned.m16n8k32.row.col.f32.{}.{}.f32",
            names[0], names[1]
        );
        for (m, n, k) in [(16, 16, 32), (1, 32, 64), (2, 8, 4), (64, 64, 256)] {
            let kernel = ir_kernels::dot_of(types, m, n, k);
            for target in PtxTarget::ALL {
                let ptx = compile_ptx(&kernel, target, PtxOptions::warps(4)).expect("compiles");
                let (instr, version) = if target.has_fp8() {
                    (fp8.as_str(), bitmat::codegen::ptx::FP8_MMA_ISA_VERSION)
                } else {
                    (
                        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32",
                        target.isa_version(),
                    )
                };
                let at = format!("{} on {target}", kernel.name);
                assert!(ptx.text.contains(instr), "{at}: no {instr}");
                assert!(
                    ptx.text.contains(&format!(".version {version}\n")),
                    "{at}: not ISA {version}"
                );
            }
        }
    }
    let f32_dot = compile_ptx(
        &ir_kernels::dot(DType::F32, 16, 16, 32),
        PtxTarget::Sm80,
        PtxOptions::warps(4),
    )
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
fn reductions_use_warp_shuffles() {
    use bitmat::ir::{DType, ReduceOp};
    let shuffles = |t: &str| t.matches("shfl.sync.bfly.b32").count();
    let one_warp = compile_ptx(
        &ir_kernels::reduce_tile(DType::F32, ReduceOp::Sum, &[1024]),
        PtxTarget::Sm80,
        PtxOptions::warps(1),
    )
    .expect("compiles");
    assert_eq!(shuffles(&one_warp.text), 5, "{}", one_warp.text);
    assert!(!one_warp.text.contains("bar.sync"));
    assert_eq!(one_warp.shared_bytes, 0);
    let four_warps = compile_ptx(
        &ir_kernels::reduce_tile(DType::F32, ReduceOp::Sum, &[1024]),
        PtxTarget::Sm80,
        PtxOptions::warps(4),
    )
    .expect("compiles");
    assert_eq!(shuffles(&four_warps.text), 5);
    assert!(four_warps.text.contains("bar.sync"));
    assert_eq!(four_warps.shared_bytes, 4 * 4);
    let wide = compile_ptx(
        &ir_kernels::reduce_tile(DType::I64, ReduceOp::Max, &[256]),
        PtxTarget::Sm80,
        PtxOptions::warps(4),
    )
    .expect("compiles");
    assert_eq!(shuffles(&wide.text), 2 * 5);
    assert_eq!(wide.shared_bytes, 4 * 8);
    // Along axis 1 a thread holds whole rows and needs no shuffle; along axis 0 it holds one
    // element of each of 128 columns, and five halving steps leave it 4 columns.
    let rows = compile_ptx(
        &ir_kernels::reduce_tile(DType::F32, ReduceOp::Sum, &[128, 128]),
        PtxTarget::Sm80,
        PtxOptions::warps(4),
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
                    let m = compile_ptx(&k, PtxTarget::Sm80, PtxOptions::warps(num_warps))
                        .expect("compiles");
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

/// Copies of `(dtype, block)` and the vector load and store each must use: up to 16 bytes per
/// access, sub-word types packed into 32-bit words.
const VECTORIZED: [(DType, u32, &str, &str); 11] = [
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
];

/// Contiguous loads and stores are vectorized ([`VECTORIZED`]; [`every_kernel_assembles`]
/// assembles these copies too).
fn contiguous_accesses_are_vectorized() {
    for (d, block, ld, st) in VECTORIZED {
        let k = copy_kernel(d, block);
        for target in [PtxTarget::Sm80, PtxTarget::Sm90a] {
            let m = compile_ptx(&k, target, PtxOptions::warps(4)).expect("compiles");
            assert!(m.text.contains(ld), "{}: no {ld}\n{}", k.name, m.text);
            assert!(m.text.contains(st), "{}: no {st}\n{}", k.name, m.text);
        }
    }
    // The prebuilt ternary matmul loads its i8 activations 16 bytes at a time: into registers
    // without pipelining, into the cp.async ring with it.
    let w2a8 = bitmat::kernels::ternary::w2a8_matmul::ir(64, 64, 64).expect("w2a8_matmul");
    let unpipelined = PtxOptions {
        num_warps: 4,
        num_stages: 1,
    };
    let m = compile_ptx(&w2a8, PtxTarget::Sm80, unpipelined).expect("compiles");
    assert!(m.text.contains("ld.global.v4.b32"));
    assert!(!m.text.contains("cp.async"));
    let m = compile_ptx(&w2a8, PtxTarget::Sm80, PtxOptions::warps(4)).expect("compiles");
    assert!(m.text.contains("cp.async.cg.shared.global"));
    // Scalar tiles and the replicated layout keep scalar accesses.
    let small = compile_ptx(
        &copy_kernel(DType::F32, 64),
        PtxTarget::Sm80,
        PtxOptions::warps(4),
    )
    .expect("compiles");
    assert!(!small.text.contains("ld.global.v"));
}

/// Under a spin lock a tile is stored by every thread and the lock released by one: between
/// the accesses before each `atomic_cas`/`atomic_xchg` and the atomic comes a barrier.
fn lock_release_follows_a_barrier() {
    let k = layer_norm::layer_norm_bwd_dx_fused::ir(8, 512).expect("layer_norm_bwd_dx_fused");
    let m = compile_ptx(&k, PtxTarget::Sm80, PtxOptions::warps(4)).expect("compiles");
    let lines: Vec<&str> = m
        .text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//"))
        .collect();
    let atomics: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains("atom.acq_rel.gpu.global"))
        .collect();
    // The acquiring compare-and-swap, the first-writer's count and the release.
    assert_eq!(atomics.len(), 3, "{}", m.text);
    for i in atomics {
        // Between the memory access before the atomic and the atomic, a barrier.
        let before = lines[..i]
            .iter()
            .rev()
            .take_while(|l| !l.contains(".global"))
            .any(|&l| l == "bar.sync 0;");
        assert!(before, "no barrier before `{}`:\n{}", lines[i], m.text);
    }
}

fn main() {
    let checks: [(&str, fn()); 4] = [
        (
            "lock_release_follows_a_barrier",
            lock_release_follows_a_barrier,
        ),
        ("low_precision_dots_use_mma", low_precision_dots_use_mma),
        ("reductions_use_warp_shuffles", reductions_use_warp_shuffles),
        (
            "contiguous_accesses_are_vectorized",
            contiguous_accesses_are_vectorized,
        ),
    ];
    let mut trials: Vec<Trial> = checks
        .into_iter()
        .map(|(name, check)| {
            Trial::test(name, move || {
                check();
                Ok(())
            })
        })
        .collect();
    trials.push(Trial::test(
        "every_kernel_compiles_for_every_target",
        every_kernel_compiles,
    ));
    trials.push(requirement::trial(
        "every_kernel_assembles_for_every_target",
        "ptxas",
        find_ptxas(),
        every_kernel_assembles,
    ));
    requirement::run(trials).exit()
}

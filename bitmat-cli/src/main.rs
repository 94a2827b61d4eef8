//! The `bitmat` command line.

use bitmat::convert::{ConvertOptions, TargetFormat};
use bitmat::Device;
use bitmat_cli::bench::parity::twins::TwinsCommand;
use bitmat_cli::bench::parity::{self, ParityOptions, ParitySize};
use bitmat_cli::bench::{self, BenchDevice, BenchOptions};
use bitmat_cli::convert;
use bitmat_cli::dump::{DumpOptions, Stage};
use bitmat_cli::selftest;
use bitmat_cli::tuning::{self, TunedOp};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// bitmat: a kernel DSL and compiler for low-bit matrix multiplication.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The CPU backend of `--device cpu` (`cranelift`, or `llvm` in a build with the `llvm`
    /// feature) [default: BITMAT_CPU_BACKEND, else the fastest].
    #[arg(long, global = true)]
    backend: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the CPU (model, run-time-detected SIMD features), devices and backends.
    Info,
    /// Run every prebuilt kernel on random data against the plain-Rust references.
    Selftest {
        /// Where to run the kernels.
        #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
        device: DeviceChoice,
        /// Seed of the random inputs.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Quantize the linear layers of a Llama/Mistral/Gemma-style safetensors checkpoint
    /// (q/k/v/o_proj, gate/up/down_proj); embeddings, norms and lm_head are kept.
    Convert {
        /// The input safetensors file.
        input: PathBuf,
        /// The output safetensors file (written atomically; nothing is written on error).
        output: PathBuf,
        /// The target format.
        #[arg(long, value_enum)]
        to: FormatChoice,
        /// int4 group size along K (a multiple of 16 dividing K).
        #[arg(long, default_value_t = 128, conflicts_with = "per_row")]
        group: usize,
        /// One scale per output row (ternary), or one group per row (int4).
        #[arg(long)]
        per_row: bool,
        /// Also convert layers matching this glob (repeatable), e.g. '*.mlp.fc1'.
        #[arg(long)]
        include: Vec<String>,
        /// Keep layers matching this glob as they are (repeatable), e.g. '*.layers.0.*'.
        #[arg(long)]
        exclude: Vec<String>,
        /// Do not show a progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Print a prebuilt kernel's tile IR, CPU IR, CPU machine code or PTX (no kernel: list them).
    Dump {
        /// The kernel (e.g. `w2a8_matmul`); omit to list the prebuilt kernels.
        kernel: Option<String>,
        /// The specialized tile IR (the default).
        #[arg(long, group = "stage")]
        ir: bool,
        /// The CPU backend's Cranelift IR.
        #[arg(long, group = "stage")]
        clif: bool,
        /// The GPU backend's PTX.
        #[arg(long, group = "stage")]
        ptx: bool,
        /// The CPU backend's machine code, as hex: `xxd -r -p > k.bin; objdump -D -b binary
        /// -mi386:x86-64 k.bin` disassembles it.
        #[arg(long, group = "stage")]
        code: bool,
        /// Override a constexpr, `name=value` (repeatable), e.g. `--constexpr block_m=64`.
        #[arg(long = "constexpr", value_parser = bitmat_cli::dump::parse_constexpr)]
        constexprs: Vec<(String, String)>,
        /// PTX target: sm_80, sm_86, sm_89, sm_90 or sm_90a.
        #[arg(long, default_value = "sm_90", value_parser = bitmat_cli::dump::parse_target)]
        target: bitmat::codegen::ptx::PtxTarget,
        /// Warps per program, for PTX.
        #[arg(long, default_value_t = 4)]
        num_warps: u32,
        /// Stages of the `cp.async` rings of pipelined loops, for PTX (1 pipelines nothing).
        #[arg(long, default_value_t = 2)]
        num_stages: u32,
        /// Specialize on a launch argument, as a launch does (repeatable): `name=value` for
        /// an integer (e.g. `--arg k=4096`: a multiple of 16 or 128 is used), `name=aligned`
        /// for a pointer 16-byte aligned. Without any, the kernel is specialized on nothing.
        #[arg(long = "arg", value_parser = bitmat_cli::dump::parse_constexpr)]
        launch_args: Vec<(String, String)>,
    },
    /// Autotune the prebuilt matmuls for shapes given here or for every linear layer of a
    /// checkpoint; winners go to the disk cache, so later runs launch tuned kernels directly.
    Tune {
        /// Where to tune: `cpu` or `cuda` (device 0).
        #[arg(long, value_enum, default_value_t = BenchDeviceChoice::Cpu)]
        device: BenchDeviceChoice,
        /// Rows of activations, comma-separated [default: 1,16 on the CPU; 1,16,128,1024,4096
        /// on CUDA].
        #[arg(long, value_delimiter = ',')]
        m: Vec<usize>,
        /// Weight shapes NxK, comma-separated [default: 4096x4096,11008x4096,28672x8192].
        #[arg(long, value_delimiter = ',', value_parser = bench::parse_shape, conflicts_with = "checkpoint")]
        shapes: Vec<(usize, usize)>,
        /// Tune every linear layer of this safetensors checkpoint instead.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// Ops to tune, comma-separated: ternary, int4_w4a16, int4_w4a8 [default: ternary,int4_w4a16].
        #[arg(long, value_delimiter = ',', value_parser = TunedOp::parse)]
        ops: Vec<TunedOp>,
        /// First import tuning results from this file (written by --export) into the cache.
        #[arg(long)]
        import: Option<PathBuf>,
        /// Afterwards, write every tuning result of the cache to this file, to ship or import.
        #[arg(long)]
        export: Option<PathBuf>,
        /// Do not show a progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Remove the disk cache's entries (compiled kernels and tuning results; both by default).
    CacheClean {
        /// Only compiled kernels.
        #[arg(long, conflicts_with = "tuning")]
        kernels: bool,
        /// Only tuning results.
        #[arg(long)]
        tuning: bool,
    },
    /// Time the ternary W2A8 and int4 W4A16 matmul kernels beside a peer (cuBLAS fp16 GEMM on
    /// CUDA, naive Rust for M = 1 on the CPU) and the memory floor (1 GiB device-to-device
    /// copy on CUDA, streaming read on the CPU) measured in the same run; `--suite parity`
    /// times Triton's tutorial kernels and BitMat's ternary kernel, written in the DSL, beside
    /// their Triton twins and torch/cuBLAS.
    Bench {
        /// What to time.
        #[arg(long, value_enum, default_value_t = SuiteChoice::Default)]
        suite: SuiteChoice,
        /// Where to run: `cuda` (device 0) or `cpu`.
        #[arg(long, value_enum, default_value_t = BenchDeviceChoice::Cuda)]
        device: BenchDeviceChoice,
        /// Rows of activations, comma-separated (default suite) [default: 1,16,128,1024,4096].
        #[arg(long, value_delimiter = ',')]
        m: Vec<usize>,
        /// Weight shapes NxK (output x input features), comma-separated (default suite)
        /// [default: 4096x4096,11008x4096,28672x8192].
        #[arg(long, value_delimiter = ',', value_parser = bench::parse_shape)]
        shapes: Vec<(usize, usize)>,
        /// Sizes of the parity suite [default: full on cuda, small on cpu].
        #[arg(long, value_enum)]
        size: Option<SizeChoice>,
        /// The Python interpreter that runs the parity suite's Triton twins (needs torch and
        /// triton; on CUDA only).
        #[arg(long, default_value = "python3")]
        python: PathBuf,
        /// The parity suite's Triton twins script (relative paths from the working directory).
        #[arg(long, default_value = "benches/parity/triton_twins.py")]
        twins: PathBuf,
        /// Timed launches per case, after one warm-up (fewer when a case exceeds its ~2 s
        /// budget; at least 3 unless a single launch exceeds --max-launch-ms).
        #[arg(long, default_value_t = 20)]
        repeat: usize,
        /// A case whose first timed launch exceeds this keeps one sample; larger M predicted
        /// to take over 4x this are skipped.
        #[arg(long, default_value_t = 2000.0)]
        max_launch_ms: f64,
        /// Size of the floor's buffer in MiB.
        #[arg(long, default_value_t = 1024)]
        floor_mib: usize,
        /// Also write the rows as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// The parity suite's cases to run, comma-separated (vector_add, softmax, cumsum,
        /// layer_norm, matmul_fp16, ternary_bitmat) [default: all].
        #[arg(long = "case", value_delimiter = ',')]
        cases: Vec<String>,
        /// Do not flush the cache before each timed launch (by default twice the L2 on CUDA,
        /// twice the last-level cache on the CPU, is overwritten first).
        #[arg(long)]
        no_flush: bool,
    },
}

/// A benchmark suite named on the command line.
#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
enum SuiteChoice {
    /// The prebuilt ternary and int4 matmuls beside cuBLAS (or naive Rust) and the floor.
    Default,
    /// Triton's tutorial kernels and BitMat's ternary kernel in the DSL, beside their Triton
    /// twins and torch/cuBLAS.
    Parity,
}

/// The parity suite's sizes named on the command line.
#[derive(Copy, Clone, ValueEnum)]
enum SizeChoice {
    /// The sizes (e.g. vector add of 2^26, matmuls of 4096^3).
    Full,
    /// Small ragged sizes, for the CPU and tests.
    Small,
}

/// A benchmark device named on the command line.
#[derive(Copy, Clone, ValueEnum)]
enum BenchDeviceChoice {
    /// The CPU (the backend of `--backend`), beside naive Rust and a streaming read.
    Cpu,
    /// CUDA device 0, beside cuBLAS and a device-to-device copy.
    Cuda,
}

/// A target format named on the command line.
#[derive(Copy, Clone, ValueEnum)]
enum FormatChoice {
    /// BitNet b1.58 ternary, 2 bits per weight.
    Ternary,
    /// Signed int4 with group scales.
    Int4,
}

/// A device named on the command line.
#[derive(Copy, Clone, ValueEnum)]
enum DeviceChoice {
    /// The reference interpreter.
    Interpreter,
    /// The fastest CPU backend.
    Cpu,
    /// CUDA device 0.
    Cuda,
}

impl DeviceChoice {
    fn open(self) -> Result<Device, bitmat::Error> {
        Ok(match self {
            DeviceChoice::Interpreter => Device::interpreter(),
            DeviceChoice::Cpu => Device::cpu(),
            DeviceChoice::Cuda => Device::cuda(0)?,
        })
    }
}

/// The exit status of a run stopped by an error (bad input: arguments, files, devices), as
/// clap's usage errors; 1 stays for kernels that ran and failed their checks.
const BAD_INPUT: u8 = 2;

/// Prints `e` as the one-line error of the run and returns [`BAD_INPUT`].
fn error_exit(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(BAD_INPUT)
}

/// A bad command line as one line (clap's message, its possible values and tip), with
/// [`BAD_INPUT`].
fn usage_error(e: &clap::Error) -> ExitCode {
    let text = e.render().to_string();
    let line: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
        .collect();
    eprintln!("{}", line.join(" "));
    ExitCode::from(BAD_INPUT)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => return usage_error(&e),
        Err(e) => {
            // `--help`, `--version`: printed as clap prints them.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    bitmat_cli::logging::init();
    if let Err(e) = choose_cpu_backend(cli.backend.as_deref()) {
        return error_exit(&e);
    }
    match cli.command {
        Command::Dump {
            kernel,
            ir: _,
            clif,
            ptx,
            code,
            constexprs,
            target,
            num_warps,
            num_stages,
            launch_args,
        } => {
            let Some(kernel) = kernel else {
                print!("{}", list_prebuilt());
                return ExitCode::SUCCESS;
            };
            let stage = if clif {
                Stage::Clif
            } else if code {
                Stage::Code
            } else if ptx {
                Stage::Ptx
            } else {
                Stage::Ir
            };
            let options = DumpOptions {
                stage,
                constexprs,
                target,
                num_warps,
                num_stages,
                launch_args,
            };
            match bitmat_cli::dump::dump(&kernel, &options) {
                Ok(text) => {
                    // A closed pipe (`| head`) is not an error.
                    let _ = writeln!(std::io::stdout(), "{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => error_exit(&e),
            }
        }
        Command::Tune {
            device,
            m,
            shapes,
            checkpoint,
            ops,
            import,
            export,
            quiet,
        } => {
            let args = TuneArgs {
                device,
                ms: m,
                shapes,
                checkpoint,
                ops,
                import,
                export,
                quiet,
            };
            match run_tune(args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => error_exit(&e),
            }
        }
        Command::CacheClean { kernels, tuning } => match clean_cache(kernels, tuning) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => error_exit(&e),
        },
        Command::Info => {
            print!("{}", bitmat_cli::info::report());
            ExitCode::SUCCESS
        }
        Command::Selftest { device, seed } => run_selftest(device, seed),
        Command::Bench {
            suite,
            device,
            m,
            shapes,
            size,
            python,
            twins,
            repeat,
            max_launch_ms,
            floor_mib,
            json,
            no_flush,
            cases,
        } => {
            let device = match device {
                BenchDeviceChoice::Cpu => BenchDevice::Cpu,
                BenchDeviceChoice::Cuda => BenchDevice::Cuda,
            };
            if suite != SuiteChoice::Parity && !cases.is_empty() {
                eprintln!("error: --case chooses among the parity suite's cases (--suite parity)");
                return ExitCode::from(BAD_INPUT);
            }
            if suite == SuiteChoice::Parity {
                if !m.is_empty() || !shapes.is_empty() {
                    eprintln!(
                        "error: --m and --shapes choose the default suite's matmuls; the parity \
                         suite's shapes are fixed (--size full or small)"
                    );
                    return ExitCode::from(BAD_INPUT);
                }
                let size = match (size, device) {
                    (Some(SizeChoice::Full), _) | (None, BenchDevice::Cuda) => ParitySize::Full,
                    (Some(SizeChoice::Small), _) | (None, BenchDevice::Cpu) => ParitySize::Small,
                };
                let opts = ParityOptions {
                    device,
                    size,
                    repeat,
                    case_budget_ms: BenchOptions::default().case_budget_ms,
                    max_launch_ms,
                    floor_bytes: floor_mib << 20,
                    flush_cache: !no_flush,
                    twins: TwinsCommand {
                        python,
                        script: twins,
                    },
                    only: cases,
                };
                return run_parity(&opts, json.as_deref());
            }
            if size.is_some() {
                eprintln!("error: --size chooses the parity suite's sizes (--suite parity)");
                return ExitCode::from(BAD_INPUT);
            }
            let opts = BenchOptions {
                device,
                ms: if m.is_empty() {
                    bench::DEFAULT_MS.to_vec()
                } else {
                    m
                },
                shapes: if shapes.is_empty() {
                    bench::DEFAULT_SHAPES.to_vec()
                } else {
                    shapes
                },
                repeat,
                max_launch_ms,
                floor_bytes: floor_mib << 20,
                flush_cache: !no_flush,
                ..BenchOptions::default()
            };
            run_bench(&opts, json.as_deref())
        }
        Command::Convert {
            input,
            output,
            to,
            group,
            per_row,
            include,
            exclude,
            quiet,
        } => {
            let mut opts = ConvertOptions::new(match to {
                FormatChoice::Ternary => TargetFormat::Ternary,
                FormatChoice::Int4 => TargetFormat::Int4,
            });
            opts.group = group;
            opts.per_row = per_row;
            match convert::run(&input, &output, opts, &include, &exclude, quiet) {
                Ok(summary) => {
                    println!("{summary}");
                    println!("wrote {}", output.display());
                    ExitCode::SUCCESS
                }
                Err(e) => error_exit(&e),
            }
        }
    }
}

/// Checks the CPU backend named by `--backend` or `BITMAT_CPU_BACKEND` (an unknown name is an
/// error listing the backends of this build) and makes it the one every `Device::cpu()` of
/// this process opens.
fn choose_cpu_backend(flag: Option<&str>) -> Result<(), bitmat::Error> {
    match flag {
        Some(name) => {
            bitmat::Backend::cpu_from_name(name)?;
            // Set before any thread starts: every `Device::cpu()` (bench, tune, selftest)
            // reads it.
            std::env::set_var(bitmat::CPU_BACKEND_VAR, name);
        }
        None => {
            bitmat::Backend::cpu_from_env()?;
        }
    }
    Ok(())
}

fn run_bench(opts: &BenchOptions, json: Option<&std::path::Path>) -> ExitCode {
    let result = bench::run(opts, |line| eprintln!("{line}")).and_then(|report| {
        print!("{}", bench::table(&report));
        if let Some(path) = json {
            bench::write_json(&report, path)?;
            println!("wrote {}", path.display());
        }
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => error_exit(&e),
    }
}

fn run_parity(opts: &ParityOptions, json: Option<&std::path::Path>) -> ExitCode {
    let result = parity::run(opts, |line| eprintln!("{line}")).and_then(|report| {
        print!("{}", parity::table(&report));
        if let Some(path) = json {
            parity::write_json(&report, path)?;
            println!("wrote {}", path.display());
        }
        Ok(report.failures().count())
    });
    match result {
        Ok(0) => ExitCode::SUCCESS,
        Ok(failed) => {
            eprintln!("error: {failed} bitmat kernel(s) failed (see the table): no time is reported for them");
            ExitCode::FAILURE
        }
        Err(e) => error_exit(&e),
    }
}

fn run_selftest(choice: DeviceChoice, seed: u64) -> ExitCode {
    let device = match choice.open() {
        Ok(d) => d,
        Err(e) => {
            return error_exit(&e);
        }
    };
    println!("bitmat selftest on {device} (seed {seed})");
    let results = match selftest::run(&device, seed) {
        Ok(r) => r,
        Err(e) => {
            return error_exit(&e);
        }
    };
    let width = results.iter().map(|r| r.name.len()).max().unwrap_or(0);
    for r in &results {
        let verdict = if r.passed() { "pass" } else { "FAIL" };
        println!(
            "{:width$}  max error {:<10.3e} (tolerance {:.1e})  {verdict}",
            r.name, r.max_error, r.tolerance
        );
    }
    let failed = results.iter().filter(|r| !r.passed()).count();
    println!("{} passed, {failed} failed", results.len() - failed);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The prebuilt kernels and their default constexprs, for `bitmat dump` without a kernel.
fn list_prebuilt() -> String {
    let mut out = String::from("prebuilt kernels (bitmat dump <kernel> --ir|--clif|--ptx):\n");
    for k in bitmat::kernels::registry::PREBUILT {
        let defaults: Vec<String> = k
            .defaults()
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        out.push_str(&format!(
            "  {:24} {}\n  {:24} defaults: {}\n",
            k.name,
            k.summary,
            "",
            defaults.join(" ")
        ));
    }
    out
}

/// `bitmat tune`'s arguments.
struct TuneArgs {
    device: BenchDeviceChoice,
    ms: Vec<usize>,
    shapes: Vec<(usize, usize)>,
    checkpoint: Option<PathBuf>,
    ops: Vec<TunedOp>,
    import: Option<PathBuf>,
    export: Option<PathBuf>,
    quiet: bool,
}

fn run_tune(args: TuneArgs) -> Result<(), bitmat::Error> {
    let cache = bitmat::DiskCache::global();
    let no_cache = || bitmat::Error::Shape {
        op: "tune",
        message: "the disk cache is off (BITMAT_DISK_CACHE=0): tuning results could not be kept"
            .into(),
    };
    if let Some(path) = &args.import {
        let n = bitmat::tune::import_into(cache.ok_or_else(no_cache)?, path)?;
        println!("imported {n} tuning results from {}", path.display());
    }
    let (device, default_ms) = match args.device {
        BenchDeviceChoice::Cpu => (Device::cpu(), vec![1, 16]),
        BenchDeviceChoice::Cuda => (Device::cuda(0)?, bench::DEFAULT_MS.to_vec()),
    };
    let ms = if args.ms.is_empty() {
        default_ms
    } else {
        args.ms
    };
    let ops = if args.ops.is_empty() {
        TunedOp::benched(matches!(args.device, BenchDeviceChoice::Cpu))
    } else {
        args.ops
    };
    let tasks = match &args.checkpoint {
        Some(path) => {
            let (tasks, layers) = tuning::tasks_for_checkpoint(path, &ops, &ms)?;
            println!("{}: {layers} linear layers", path.display());
            tasks
        }
        None if args.import.is_some() && args.shapes.is_empty() => Vec::new(),
        None => {
            let shapes = if args.shapes.is_empty() {
                bench::DEFAULT_SHAPES.to_vec()
            } else {
                args.shapes
            };
            tuning::tasks_for_shapes(&ops, &ms, &shapes)
        }
    };
    if !tasks.is_empty() {
        println!(
            "tuning {} shapes on {device} ({})",
            tasks.len(),
            device.fingerprint()
        );
        let bar = if args.quiet {
            indicatif::ProgressBar::hidden()
        } else {
            indicatif::ProgressBar::new(tasks.len() as u64)
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed} {msg}")
                .expect("a valid template"),
        );
        let before = bitmat::stats();
        let mut rows = Vec::with_capacity(tasks.len());
        for task in &tasks {
            bar.set_message(format!(
                "{} M={} {}x{}",
                task.op.name(),
                task.m,
                task.n,
                task.k
            ));
            rows.push(tuning::tune(&device, task)?);
            bar.inc(1);
        }
        bar.finish_and_clear();
        print!("{}", tuning::table(&rows));
        let w = bitmat::stats().since(&before);
        println!(
            "{} keys tuned, {} tuning results loaded; {} kernels compiled, {} loaded from the disk cache",
            w.tunings, w.tuning_loads, w.compilations, w.disk_loads
        );
    }
    if let Some(path) = &args.export {
        let n = bitmat::tune::export(cache.ok_or_else(no_cache)?, path)?;
        println!("exported {n} tuning results to {}", path.display());
    }
    Ok(())
}

/// `bitmat cache-clean`: removes compiled kernels and/or tuning results from the disk cache.
fn clean_cache(kernels_only: bool, tuning_only: bool) -> Result<(), String> {
    use bitmat::disk::EntryKind;
    let cache = bitmat::DiskCache::global()
        .ok_or("the disk cache is off (BITMAT_DISK_CACHE=0): nothing to clean")?;
    for kind in EntryKind::ALL {
        let wanted = match kind {
            EntryKind::Kernel => !tuning_only,
            EntryKind::Tuning => !kernels_only,
        };
        if wanted {
            let removed = cache.clear(kind).map_err(|e| {
                format!("cleaning {}: {e}", cache.root().join(kind.dir()).display())
            })?;
            println!(
                "removed {} {} ({:.1} KiB) from {}",
                removed.files,
                kind.description(),
                removed.bytes as f64 / 1024.0,
                cache.root().display()
            );
        }
    }
    Ok(())
}

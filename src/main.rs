//! The `bitmat` command line.

use bitmat::convert::{convert_file, ConvertOptions, TargetFormat};
use bitmat::{selftest, Device};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// bitmat: a kernel DSL and compiler for low-bit matrix multiplication.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Info => {
            print!("{}", bitmat::info::report());
            ExitCode::SUCCESS
        }
        Command::Selftest { device, seed } => run_selftest(device, seed),
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
            let opts = ConvertOptions {
                to: match to {
                    FormatChoice::Ternary => TargetFormat::Ternary,
                    FormatChoice::Int4 => TargetFormat::Int4,
                },
                group,
                per_row,
                include,
                exclude,
                progress: !quiet,
            };
            match convert_file(&input, &output, &opts) {
                Ok(summary) => {
                    println!("{summary}");
                    println!("wrote {}", output.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn run_selftest(choice: DeviceChoice, seed: u64) -> ExitCode {
    let device = match choice.open() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("bitmat selftest on {device} (seed {seed})");
    let results = match selftest::run(&device, seed) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
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

//! The `bitmat` command line.

use bitmat::{selftest, Device};
use clap::{Parser, Subcommand, ValueEnum};
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
        #[arg(long, value_enum, default_value_t = DeviceChoice::Interpreter)]
        device: DeviceChoice,
        /// Seed of the random inputs.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
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

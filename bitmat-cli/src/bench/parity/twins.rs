//! The Triton twins and torch peers: `benches/parity/triton_twins.py`, run as a subprocess
//! on the same GPU after bitmat's kernels, given the cases as JSON on its command line and
//! answering with JSON on stdout (one entry per case, its own errors included).
//!
//! The script times as [`bitmat_runtime::timing::bench`] does: one warm-up (Triton's
//! autotuning happens there), then 3 to `repeat` launches within the case budget, each after
//! writing twice the L2 (at least 64 MiB) outside CUDA events around the launch; the median.

use super::Case;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where the twins come from.
#[derive(Clone, Debug)]
pub struct TwinsCommand {
    /// The Python interpreter (`python3`, or `--python`).
    pub python: PathBuf,
    /// The script (`benches/parity/triton_twins.py`, or `--twins`).
    pub script: PathBuf,
}

/// How the script times, as `bitmat bench` does (its `--repeat`, budget, `--max-launch-ms`
/// and `--no-flush`).
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Timing {
    /// Most timed launches per case.
    pub repeat: usize,
    /// Time to spend per case, ms.
    pub budget_ms: f64,
    /// A first timed launch longer than this (ms) is the only sample.
    pub single_above_ms: f64,
    /// Flush the L2 before each timed launch.
    pub flush: bool,
}

/// One timed implementation of a case, as the script reports it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timed {
    /// `triton`, or the torch peer's name (`torch.matmul (cuBLAS)`, `torch.softmax`, ..).
    pub name: String,
    /// Median µs (`None` when it failed).
    pub us: Option<f64>,
    /// Timed launches behind `us`.
    pub samples: Option<usize>,
    /// The configuration Triton's autotuner chose, or the launch settings used.
    pub config: Option<String>,
    /// Why there is no time: an exception, or an output that differs from torch's.
    pub error: Option<String>,
}

/// The script's results for one case.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TwinResult {
    /// The case's index in the list given to the script.
    pub id: usize,
    /// The Triton twin.
    pub triton: Timed,
    /// The torch (cuBLAS) peer.
    pub peer: Timed,
}

/// Everything the script printed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TwinsReport {
    /// Why nothing ran (torch, triton or CUDA missing); `None` when the cases ran.
    pub unavailable: Option<String>,
    /// `triton.__version__`.
    pub triton: Option<String>,
    /// `torch.__version__`.
    pub torch: Option<String>,
    /// The GPU, as torch names it.
    pub device: Option<String>,
    /// What was written before each timed launch.
    pub cache_flush: Option<String>,
    /// One entry per case.
    #[serde(default)]
    pub results: Vec<TwinResult>,
}

/// The cases as the script reads them: `[{"id", "kernel", "dims": {..}}, ..]`.
fn cases_json(cases: &[Case]) -> String {
    let list: Vec<serde_json::Value> = cases
        .iter()
        .enumerate()
        .map(|(id, c)| serde_json::json!({ "id": id, "kernel": c.name(), "dims": c.dims() }))
        .collect();
    serde_json::Value::Array(list).to_string()
}

/// The last lines of `text`, for an error message.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

/// Runs the script on `cases`, timing as `timing` says; its stderr (progress, tracebacks) goes to this
/// process's stderr as it runs. `Err` says why no twin ran (no interpreter, no script, a
/// crash, output that is not the report); a report whose `unavailable` is set says torch,
/// Triton or a GPU is missing.
pub fn run(cmd: &TwinsCommand, cases: &[Case], timing: &Timing) -> Result<TwinsReport, String> {
    check_script(&cmd.script)?;
    let mut command = Command::new(&cmd.python);
    command
        .arg(&cmd.script)
        .args(["--cases", &cases_json(cases)])
        .args(["--repeat", &timing.repeat.to_string()])
        .args(["--budget-ms", &timing.budget_ms.to_string()])
        .args(["--single-above-ms", &timing.single_above_ms.to_string()])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    if !timing.flush {
        command.arg("--no-flush");
    }
    let out = command
        .output()
        .map_err(|e| format!("`{}` could not be run: {e}", cmd.python.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "`{} {}` failed ({}; its stderr is above): {}",
            cmd.python.display(),
            cmd.script.display(),
            out.status,
            tail(&stdout)
        ));
    }
    serde_json::from_str(&stdout).map_err(|e| {
        format!(
            "`{}` printed no report ({e}): {}",
            cmd.script.display(),
            tail(&stdout)
        )
    })
}

/// `Err` naming the script and how to point at it when it does not exist.
fn check_script(script: &Path) -> Result<(), String> {
    if script.is_file() {
        Ok(())
    } else {
        Err(format!(
            "the twins script {} does not exist: run from the repository root or pass \
             --twins PATH",
            script.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(repeat: usize, flush: bool) -> Timing {
        Timing {
            repeat,
            budget_ms: 50.0,
            single_above_ms: 900.0,
            flush,
        }
    }

    /// A command running the Python `source` as the twins script, or `None` (the test is
    /// skipped, saying so) without `python3`.
    fn fake(dir: &Path, source: &str) -> Option<TwinsCommand> {
        if Command::new("python3").arg("--version").output().is_err() {
            eprintln!("skipped: python3 cannot be run");
            return None;
        }
        let script = dir.join("fake_twins.py");
        std::fs::write(&script, source).unwrap();
        Some(TwinsCommand {
            python: "python3".into(),
            script,
        })
    }

    #[test]
    fn the_script_gets_the_cases_and_its_report_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let source = r#"
import json, sys
args = sys.argv[1:]
cases = json.loads(args[args.index("--cases") + 1])
print("progress", file=sys.stderr)
print(json.dumps({"triton": "3.6.0", "results": [
    {"id": c["id"],
     "triton": {"name": "triton", "us": 1.5 * c["dims"]["n"], "config": " ".join(args[2:])},
     "peer": {"name": "torch.add", "error": "boom"}} for c in cases]}))
"#;
        let Some(cmd) = fake(dir.path(), source) else {
            return;
        };
        let cases = [Case::VectorAdd { n: 2 }, Case::VectorAdd { n: 4 }];
        let report = run(&cmd, &cases, &timing(7, false)).unwrap();
        assert_eq!(report.triton.as_deref(), Some("3.6.0"));
        assert_eq!(report.unavailable, None);
        assert_eq!(report.results.len(), 2);
        assert_eq!(report.results[1].id, 1);
        assert_eq!(report.results[1].triton.us, Some(6.0));
        let args = report.results[0].triton.config.as_deref().unwrap();
        assert!(
            args.contains("--repeat 7 --budget-ms 50 --single-above-ms 900 --no-flush"),
            "{args}"
        );
        assert_eq!(report.results[0].peer.error.as_deref(), Some("boom"));
        assert_eq!(report.results[0].peer.us, None);
    }

    #[test]
    fn a_crash_or_a_report_that_is_not_json_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let Some(cmd) = fake(dir.path(), "print('partial')\nraise SystemExit(3)\n") else {
            return;
        };
        let e = run(&cmd, &[], &timing(1, true)).unwrap_err();
        assert!(e.contains("failed") && e.contains("partial"), "{e}");
        let cmd = fake(dir.path(), "print('not json')\n").unwrap();
        let e = run(&cmd, &[], &timing(1, true)).unwrap_err();
        assert!(
            e.contains("printed no report") && e.contains("not json"),
            "{e}"
        );
    }

    #[test]
    fn cases_are_numbered_with_their_dimensions() {
        let json = cases_json(&[Case::VectorAdd { n: 8 }, Case::Matmul { m: 1, n: 2, k: 3 }]);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v[1]["id"], 1);
        assert_eq!(v[1]["kernel"], "matmul_fp16");
        assert_eq!(v[1]["dims"]["k"], 3);
        assert_eq!(v[0]["dims"]["n"], 8);
    }

    #[test]
    fn a_missing_script_or_interpreter_says_so() {
        let cmd = TwinsCommand {
            python: "python3".into(),
            script: "/nonexistent/triton_twins.py".into(),
        };
        let e = run(&cmd, &[], &timing(1, true)).unwrap_err();
        assert!(e.contains("--twins PATH"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("t.py");
        std::fs::write(&script, "").unwrap();
        let cmd = TwinsCommand {
            python: "/nonexistent/python3".into(),
            script,
        };
        let e = run(&cmd, &[], &timing(1, true)).unwrap_err();
        assert!(e.contains("could not be run"), "{e}");
    }
}

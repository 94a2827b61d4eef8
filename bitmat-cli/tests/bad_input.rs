//! Bad command lines and files, swept: each case is one `bitmat` invocation on files made for
//! it, and must end with exit code 2, a one-line error on stderr that says what was wrong
//! (the substrings of the case), and no output file or temporary file left behind.

use bitmat::checkpoint::{Checkpoint, Tensor};
use std::path::Path;
use std::process::Command;

const K: usize = 64;

/// A checkpoint with one q_proj layer of `rows x cols` weights `values`.
fn one_layer(rows: usize, cols: usize, values: Vec<f32>) -> Vec<u8> {
    let mut ck = Checkpoint::new();
    ck.insert(
        "model.layers.0.self_attn.q_proj.weight",
        Tensor::from_f32(&[rows, cols], &values).unwrap(),
    );
    ck.to_bytes().unwrap()
}

fn good() -> Vec<u8> {
    one_layer(8, K, (0..8 * K).map(|i| (i % 7) as f32 - 3.0).collect())
}

/// A safetensors file with the header `header` and `data` bytes.
fn raw(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// One case: the input file's bytes (`None`: no input file), the arguments after the input
/// and output paths (`{dir}` is the case's directory), and what the error must say.
struct Case {
    name: &'static str,
    input: fn() -> Option<Vec<u8>>,
    args: &'static [&'static str],
    output: &'static str,
    says: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "missing input file",
        input: || None,
        args: &["--to", "ternary"],
        output: "out.safetensors",
        says: &["in.safetensors", "No such file"],
    },
    Case {
        name: "truncated file",
        input: || {
            let b = good();
            Some(b[..b.len() / 2].to_vec())
        },
        args: &["--to", "ternary"],
        output: "out.safetensors",
        says: &["truncated safetensors file", "the header announces"],
    },
    Case {
        name: "corrupted header",
        input: || {
            let mut b = good();
            b[8] = b'!';
            Some(b)
        },
        args: &["--to", "ternary"],
        output: "out.safetensors",
        says: &["not a valid safetensors file"],
    },
    Case {
        name: "unknown dtype",
        input: || {
            Some(raw(
                r#"{"w.weight":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}}"#,
                &[0; 4],
            ))
        },
        args: &["--to", "ternary"],
        output: "out.safetensors",
        says: &["tensor `w.weight`", "unknown dtype `Q7`"],
    },
    Case {
        name: "shape and offsets disagree",
        input: || {
            Some(raw(
                r#"{"model.layers.0.self_attn.q_proj.weight":{"dtype":"F32","shape":[4,4],"data_offsets":[0,8]}}"#,
                &[0; 8],
            ))
        },
        args: &["--to", "ternary"],
        output: "out.safetensors",
        says: &[
            "tensor `model.layers.0.self_attn.q_proj.weight`",
            "takes 64 bytes",
            "hold 8",
        ],
    },
    Case {
        name: "wrong dtype",
        input: || {
            Some(raw(
                r#"{"model.layers.0.self_attn.q_proj.weight":{"dtype":"I32","shape":[4,4],"data_offsets":[0,64]}}"#,
                &[0; 64],
            ))
        },
        args: &["--to", "ternary"],
        output: "out.safetensors",
        says: &["model.layers.0.self_attn.q_proj.weight", "I32"],
    },
    Case {
        name: "K not divisible by the ternary packing",
        input: || Some(one_layer(4, 6, vec![0.5; 24])),
        args: &["--to", "ternary"],
        output: "out.safetensors",
        says: &["q_proj.weight", "multiple of 4"],
    },
    Case {
        name: "K not divisible by the int4 packing",
        input: || Some(one_layer(4, 24, vec![0.5; 96])),
        args: &["--to", "int4", "--per-row"],
        output: "out.safetensors",
        says: &["q_proj.weight", "multiple of 16"],
    },
    Case {
        name: "group that does not divide K",
        input: || Some(good()),
        args: &["--to", "int4", "--group", "48"],
        output: "out.safetensors",
        says: &["--group 48", "--per-row", "multiple of 16"],
    },
    Case {
        name: "NaN weight",
        input: || {
            let mut w = vec![0.5; 8 * K];
            w[77] = f32::NAN;
            Some(one_layer(8, K, w))
        },
        args: &["--to", "ternary"],
        output: "out.safetensors",
        says: &["q_proj.weight", "element 77 is not finite"],
    },
    Case {
        name: "infinite weight",
        input: || {
            let mut w = vec![0.5; 8 * K];
            w[3] = f32::INFINITY;
            Some(one_layer(8, K, w))
        },
        args: &["--to", "int4", "--group", "32"],
        output: "out.safetensors",
        says: &["q_proj.weight", "element 3 is not finite"],
    },
    Case {
        name: "output in a missing directory",
        input: || Some(good()),
        args: &["--to", "ternary"],
        output: "no/such/dir/out.safetensors",
        says: &["no/such/dir", "does not exist"],
    },
    Case {
        name: "unknown format",
        input: || Some(good()),
        args: &["--to", "int5"],
        output: "out.safetensors",
        says: &["int5", "ternary", "int4"],
    },
];

/// The files of the case's directory, recursively, except the input.
fn leftovers(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in walk(dir) {
        let name = entry.file_name().unwrap().to_string_lossy().to_string();
        if name != "in.safetensors" {
            out.push(entry.display().to_string());
        }
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn every_bad_input_is_one_line_exit_2_and_writes_nothing() {
    let mut failures = Vec::new();
    for case in CASES {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.safetensors");
        if let Some(bytes) = (case.input)() {
            std::fs::write(&input, bytes).unwrap();
        }
        let out = Command::new(env!("CARGO_BIN_EXE_bitmat"))
            .arg("convert")
            .arg(&input)
            .arg(dir.path().join(case.output))
            .args(case.args)
            .arg("--quiet")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        let mut problems = Vec::new();
        if out.status.code() != Some(2) {
            problems.push(format!("exit status {:?}, expected 2", out.status.code()));
        }
        if lines.len() != 1 || !lines[0].starts_with("error: ") {
            problems.push("stderr is not one `error: ` line".to_string());
        }
        for s in case.says {
            if !stderr.contains(s) {
                problems.push(format!("the error does not say `{s}`"));
            }
        }
        let left = leftovers(dir.path());
        if !left.is_empty() {
            problems.push(format!("files left behind: {left:?}"));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n  stderr: {stderr}",
                case.name,
                problems.join("; ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[cfg(unix)]
#[test]
fn a_converted_file_gets_the_umask_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.safetensors");
    std::fs::write(&input, good()).unwrap();
    // The umask of the test process, which the command inherits.
    let probe = dir.path().join("probe");
    std::fs::write(&probe, b"").unwrap();
    let want = std::fs::metadata(&probe).unwrap().permissions().mode() & 0o777;
    let output = dir.path().join("out.safetensors");
    let out = Command::new(env!("CARGO_BIN_EXE_bitmat"))
        .args(["convert"])
        .arg(&input)
        .arg(&output)
        .args(["--to", "ternary", "--quiet"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = std::fs::metadata(&output).unwrap().permissions().mode() & 0o777;
    assert_eq!(got, want, "mode {got:o}, a new file gets {want:o}");
}

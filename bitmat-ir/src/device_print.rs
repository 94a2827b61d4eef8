//! Where `device_print` ([`crate::OpKind::Print`]) writes, and the format of its lines, shared
//! by the interpreter and the CPU backends (whose compiled code calls a helper that formats
//! through [`line()`] and writes through [`emit`]).
//!
//! Each element is one line, `pid (x, y, z) idx (i, j) label: v` (`idx ()` for a scalar),
//! the value as [`Scalar`]'s `Display` writes it. Lines go to the process's standard output,
//! or, inside [`capture`], to a buffer the caller gets back (tests read what a kernel printed
//! this way). CUDA kernels print through the driver's `printf`, which writes to the process's
//! standard output when the device synchronizes and is not captured.

use crate::scalar::Scalar;
use std::io::Write;
use std::sync::Mutex;

/// The capture buffer while [`capture`] runs.
static SINK: Mutex<Option<String>> = Mutex::new(None);
/// Held by [`capture`] for its duration, so that two captures never share the buffer.
static CAPTURE: Mutex<()> = Mutex::new(());

/// The line printed for the element at multi-index `idx` of a `device_print` under `label`
/// in program `pid`.
pub fn line(label: &str, pid: [u32; 3], idx: &[u32], value: Scalar) -> String {
    let idx: Vec<String> = idx.iter().map(u32::to_string).collect();
    format!(
        "pid ({}, {}, {}) idx ({}) {label}: {value}",
        pid[0],
        pid[1],
        pid[2],
        idx.join(", ")
    )
}

/// The lines of a `device_print` under `label` in program `pid` of a tile of `shape` whose
/// row-major element `i` is `value_at(i)` (elements it has no value for are skipped), each
/// ended by a newline.
pub fn lines(
    label: &str,
    pid: [u32; 3],
    shape: &[u32],
    value_at: impl Fn(usize) -> Option<Scalar>,
) -> String {
    let numel: usize = shape.iter().map(|&d| d as usize).product();
    let mut out = String::new();
    let mut idx = vec![0u32; shape.len()];
    for i in 0..numel {
        if let Some(v) = value_at(i) {
            out.push_str(&line(label, pid, &idx, v));
            out.push('\n');
        }
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

/// Writes `lines` (each ended by a newline) to the capture buffer, or to standard output
/// (errors writing there are ignored, as `print!`'s would be fatal to a kernel).
pub fn emit(lines: &str) {
    let mut sink = SINK.lock().unwrap_or_else(|e| e.into_inner());
    match sink.as_mut() {
        Some(buf) => buf.push_str(lines),
        None => {
            let _ = std::io::stdout().lock().write_all(lines.as_bytes());
        }
    }
}

/// Runs `f`, collecting what the kernels it launches on the interpreter and the CPU print;
/// returns `f`'s result and the lines. Captures are serialized process-wide.
pub fn capture<R>(f: impl FnOnce() -> R) -> (R, String) {
    let _one = CAPTURE.lock().unwrap_or_else(|e| e.into_inner());
    *SINK.lock().unwrap_or_else(|e| e.into_inner()) = Some(String::new());
    // The buffer is taken back even if `f` panics, so that later prints reach stdout.
    struct Restore;
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Ok(mut s) = SINK.lock() {
                s.take();
            }
        }
    }
    let restore = Restore;
    let r = f();
    let text = SINK
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .unwrap_or_default();
    drop(restore);
    (r, text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::DType;

    #[test]
    fn lines_name_program_index_and_label() {
        let v = Scalar::from_f64(DType::F32, 1.5);
        assert_eq!(
            line("x", [1, 0, 2], &[3, 4], v),
            "pid (1, 0, 2) idx (3, 4) x: 1.5"
        );
        let s = Scalar::from_i64(DType::I32, -7);
        assert_eq!(line("n", [0, 0, 0], &[], s), "pid (0, 0, 0) idx () n: -7");
    }

    #[test]
    fn lines_walk_the_tile_in_row_major_order() {
        let text = lines("v", [0, 1, 0], &[2, 2], |i| {
            Some(Scalar::from_i64(DType::I32, i as i64))
        });
        let want = "pid (0, 1, 0) idx (0, 0) v: 0\npid (0, 1, 0) idx (0, 1) v: 1\n\
                    pid (0, 1, 0) idx (1, 0) v: 2\npid (0, 1, 0) idx (1, 1) v: 3\n";
        assert_eq!(text, want);
    }

    #[test]
    fn capture_collects_emitted_lines() {
        let ((), text) = capture(|| emit("a\nb\n"));
        assert_eq!(text, "a\nb\n");
    }
}

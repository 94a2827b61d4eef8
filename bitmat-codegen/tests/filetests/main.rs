//! The file-test runner: runs every `.bmir` file under the repository's `filetests/` folder
//! (see `filetests/README.md` for the format) and reports every failing file, with a diff
//! of the expected and the actual output. `BITMAT_BLESS=1` rewrites the expectations of the
//! files whose output changed instead of failing; `BITMAT_FILETEST=text` runs only the files
//! whose path contains `text`.

mod file;
mod run;

use file::TestFile;
use std::path::{Path, PathBuf};

/// Every `.bmir` file under `dir`, sorted.
fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("readable directory entry").path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|x| x == "bmir") {
            out.push(path);
        }
    }
    out.sort();
}

/// What became of one file.
enum Outcome {
    Passed,
    Blessed,
    Failed(String),
}

/// Runs one file; blesses it when `bless` and its expectation is all that differs.
fn run_file(path: &Path, bless: bool) -> Outcome {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return Outcome::Failed(format!("cannot read the file: {e}")),
    };
    let file = match TestFile::parse(&text) {
        Ok(f) => f,
        Err(e) => return Outcome::Failed(e),
    };
    match run::run(&file) {
        Err(e) => Outcome::Failed(e),
        Ok(run::Checked::Matched) => Outcome::Passed,
        Ok(run::Checked::Differs { actual }) => {
            if bless {
                match std::fs::write(path, file.with_expectation(&actual)) {
                    Ok(()) => Outcome::Blessed,
                    Err(e) => Outcome::Failed(format!("cannot bless the file: {e}")),
                }
            } else {
                let expected = file.expectation.as_deref().unwrap_or("");
                let diff = similar::TextDiff::from_lines(expected, &actual)
                    .unified_diff()
                    .header("expected", "actual")
                    .to_string();
                Outcome::Failed(format!(
                    "the output differs from the expectation (BITMAT_BLESS=1 rewrites it):\n{diff}"
                ))
            }
        }
    }
}

#[test]
fn filetests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../filetests");
    let bless = std::env::var_os("BITMAT_BLESS").is_some_and(|v| v != "0" && !v.is_empty());
    let filter = std::env::var("BITMAT_FILETEST").unwrap_or_default();
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.retain(|p| p.to_string_lossy().contains(&filter));
    assert!(
        !filter.is_empty() || files.len() >= 30,
        "only {} file tests under {}",
        files.len(),
        root.display()
    );
    let mut failures = Vec::new();
    let mut blessed = 0;
    for path in &files {
        let name = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string();
        match run_file(path, bless) {
            Outcome::Passed => {}
            Outcome::Blessed => {
                blessed += 1;
                eprintln!("blessed {name}");
            }
            Outcome::Failed(why) => failures.push(format!("--- {name}: {why}")),
        }
    }
    eprintln!(
        "file tests: {} run, {} failed, {blessed} blessed",
        files.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} file tests failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

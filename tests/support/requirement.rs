//! Tests that need something a machine may lack (`ptxas`, a data file) run under a
//! `libtest-mimic` harness: when it is missing they are reported as ignored with the reason,
//! in cargo test's own summary, never as passed; and when `BITMAT_REQUIRE` (a comma-separated
//! list of requirement names, e.g. `ptxas,minilm,digits`, which `.ci/run` sets for what CI
//! installs) names it, they fail instead.

use libtest_mimic::{Arguments, Conclusion, Failed, Trial};

/// True when `BITMAT_REQUIRE` names `requirement`.
fn required(requirement: &str) -> bool {
    std::env::var("BITMAT_REQUIRE")
        .is_ok_and(|list| list.split(',').any(|r| r.trim() == requirement))
}

/// A trial named `name` that runs `run` with what `found` found; without it (`Err(why)`), an
/// ignored trial whose kind says `skipped: <requirement>: <why>`, or a failing one when
/// [`required`].
pub fn trial<T: Send + 'static>(
    name: &str,
    requirement: &'static str,
    found: Result<T, String>,
    run: impl FnOnce(T) -> Result<(), Failed> + Send + 'static,
) -> Trial {
    match found {
        Ok(value) => Trial::test(name, move || run(value)),
        Err(why) if required(requirement) => Trial::test(name, move || {
            Err(format!("BITMAT_REQUIRE names `{requirement}`, but it is missing: {why}").into())
        }),
        // Run anyway (`--include-ignored`), it fails: a skip never counts as a pass.
        Err(why) => {
            let kind = format!("skipped: no {requirement}: {why}");
            let message = format!("no {requirement}: {why}");
            Trial::test(name, move || Err(message.into()))
                .with_ignored_flag(true)
                .with_kind(kind)
        }
    }
}

/// Runs `trials` with the command line's arguments (`.exit()` the result to end the harness).
pub fn run(trials: Vec<Trial>) -> Conclusion {
    libtest_mimic::run(&Arguments::from_args(), trials)
}

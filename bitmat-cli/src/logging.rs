//! Logs: bitmat reports through `tracing` (cache hits, compilations and their time, tuning
//! choices). Applications install their own subscriber; [`init`] installs a plain one that
//! prints to stderr, filtered by `BITMAT_LOG` (e.g. `BITMAT_LOG=debug`, or any
//! `tracing_subscriber::EnvFilter` directive such as `bitmat_runtime=debug`).

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// The bitmat crates, whose level a bare `BITMAT_LOG=debug` sets.
const CRATES: [&str; 4] = ["bitmat", "bitmat_runtime", "bitmat_codegen", "bitmat_ir"];

/// The filter directives for a `BITMAT_LOG` value: a bare level (`debug`) applies to the bitmat
/// crates only, other crates (Cranelift's own debug output) stay at `warn`; anything else is an
/// `EnvFilter` directive list, used as written.
fn directives(value: &str) -> String {
    let value = value.trim();
    if value.parse::<tracing::Level>().is_ok() {
        let crates: Vec<String> = CRATES.iter().map(|c| format!("{c}={value}")).collect();
        format!("warn,{}", crates.join(","))
    } else {
        value.to_string()
    }
}

/// Installs a stderr subscriber filtered by `BITMAT_LOG` (`warn` when unset), unless one is
/// installed already. The `bitmat` command calls it first thing.
pub fn init() {
    let value = std::env::var("BITMAT_LOG").unwrap_or_else(|_| "warn".into());
    let filter = EnvFilter::try_new(directives(&value)).unwrap_or_else(|e| {
        eprintln!("warning: BITMAT_LOG={value:?} is not a valid filter ({e}); using `warn`");
        EnvFilter::new("warn")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: a log file or a pipe gets plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::directives;

    #[test]
    fn a_bare_level_applies_to_the_bitmat_crates() {
        assert_eq!(
            directives("debug"),
            "warn,bitmat=debug,bitmat_runtime=debug,bitmat_codegen=debug,bitmat_ir=debug"
        );
        assert_eq!(directives("bitmat_runtime=trace"), "bitmat_runtime=trace");
    }
}

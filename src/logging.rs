//! Logs: bitmat reports through `tracing` (cache hits, compilations and their time, tuning
//! choices). Applications install their own subscriber; [`init`] installs a plain one that
//! prints to stderr, filtered by `BITMAT_LOG` (e.g. `BITMAT_LOG=debug`, or any
//! `tracing_subscriber::EnvFilter` directive such as `bitmat_runtime=debug`).

use tracing_subscriber::EnvFilter;

/// Installs a stderr subscriber filtered by `BITMAT_LOG` (`warn` when unset), unless one is
/// installed already. The `bitmat` command calls it first thing.
pub fn init() {
    let filter = EnvFilter::try_from_env("BITMAT_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

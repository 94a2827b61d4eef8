//! Process-wide counters of the runtime's expensive work, for `bitmat bench`, `bitmat tune`
//! and tests that prove a warm cache does no work.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the counters.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Kernels specialized (traced, verified, optimized).
    pub specializations: u64,
    /// Kernels compiled by a backend (Cranelift, PTX generation and driver load).
    pub compilations: u64,
    /// Compiled kernels loaded from the disk cache instead.
    pub disk_loads: u64,
    /// Autotuning runs (a key timed over its configs).
    pub tunings: u64,
    /// Autotuning results read from the disk cache or an imported file instead.
    pub tuning_loads: u64,
}

impl Stats {
    /// The work done since `earlier` was taken.
    pub fn since(&self, earlier: &Stats) -> Stats {
        Stats {
            specializations: self.specializations - earlier.specializations,
            compilations: self.compilations - earlier.compilations,
            disk_loads: self.disk_loads - earlier.disk_loads,
            tunings: self.tunings - earlier.tunings,
            tuning_loads: self.tuning_loads - earlier.tuning_loads,
        }
    }
}

pub(crate) struct Counters {
    pub(crate) specializations: AtomicU64,
    pub(crate) compilations: AtomicU64,
    pub(crate) disk_loads: AtomicU64,
    pub(crate) tunings: AtomicU64,
    pub(crate) tuning_loads: AtomicU64,
}

pub(crate) static COUNTERS: Counters = Counters {
    specializations: AtomicU64::new(0),
    compilations: AtomicU64::new(0),
    disk_loads: AtomicU64::new(0),
    tunings: AtomicU64::new(0),
    tuning_loads: AtomicU64::new(0),
};

/// Adds one to `counter`.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The counters since the process started.
pub fn stats() -> Stats {
    let c = &COUNTERS;
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    Stats {
        specializations: get(&c.specializations),
        compilations: get(&c.compilations),
        disk_loads: get(&c.disk_loads),
        tunings: get(&c.tunings),
        tuning_loads: get(&c.tuning_loads),
    }
}

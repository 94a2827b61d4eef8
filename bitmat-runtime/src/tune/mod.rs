//! Autotuning: trying a kernel's configurations on the real arguments and keeping the fastest,
//! per device and per bucket of argument values.
//!
//! - [`config`]: a configuration (constexprs plus launch options) and the [`Specialization`]
//!   trait that `#[bitkernel]` implements for each kernel's `Constexprs`;
//! - [`key`]: the [`TuneKey`] of a launch (integer scalars bucketed to powers of two);
//! - [`tuner`]: the [`Autotuner`] (pruning, timing, choosing, serving);
//! - timing: each configuration is timed by [`crate::timing::bench`] (warm-up, adaptive
//!   repetitions, median), with the tuner's [`BenchOptions`];
//! - [`store`]: results on disk, and files of results to [`export`] and [`import`];
//! - [`outcome`]: how a choice was made ([`TuneOutcome`]: source and timing table).
//!
//! `BITMAT_AUTOTUNE=0` turns timing off: tuners use their first runnable configuration, and
//! still serve results stored on disk or imported.

pub mod config;
pub mod key;
pub mod outcome;
mod snapshot;
pub mod store;
pub mod tuner;

pub use crate::timing::{BenchOptions, Measurement};
pub use config::{Config, Specialization};
pub use key::TuneKey;
pub use outcome::{DefaultReason, Timing, TuneOutcome, TuneSource};
pub use store::{export, import, import_into, records, RecordConfig, RecordTiming, TuningRecord};
pub use tuner::Autotuner;

//! What a tuner reports about a choice: where the winner came from, and each configuration's
//! median time or the reason it was pruned.

use crate::tune::TuneKey;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a winner came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TuneSource {
    /// This tuner chose it earlier in the process (for the same device and key).
    Memory,
    /// The disk cache: tuned by an earlier process.
    Disk,
    /// An imported file of results ([`import`](crate::tune::import), or
    /// [`import_into`](crate::tune::import_into) then the disk cache).
    Imported,
    /// Timed now.
    Tuned,
    /// Nothing was timed: the first configuration that is not pruned, for this reason.
    Default(DefaultReason),
}

/// Why a tuner used the default configuration without timing.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DefaultReason {
    /// The interpreter is a reference, not a target: nothing is timed on it.
    Interpreter,
    /// `BITMAT_AUTOTUNE=0`.
    Disabled,
    /// The tuner has a single configuration.
    SingleConfig,
    /// The stored winner and every other timed configuration are pruned for this launch's
    /// exact arguments (the prune predicate sees them; the stored result is per bucket).
    PrunedForShape,
}

impl fmt::Display for TuneSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TuneSource::Memory => f.write_str("memory"),
            TuneSource::Disk => f.write_str("disk cache"),
            TuneSource::Imported => f.write_str("imported"),
            TuneSource::Tuned => f.write_str("tuned"),
            TuneSource::Default(r) => write!(
                f,
                "default ({})",
                match r {
                    DefaultReason::Interpreter => "interpreter",
                    DefaultReason::Disabled => "BITMAT_AUTOTUNE=0",
                    DefaultReason::SingleConfig => "single config",
                    DefaultReason::PrunedForShape => "stored configs pruned for this shape",
                }
            ),
        }
    }
}

/// One configuration's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum Timing {
    /// Timed: the median of `reps` runs.
    Timed {
        /// Median time of one run, in milliseconds.
        median_ms: f64,
        /// Timed runs.
        reps: usize,
    },
    /// Not run, and why: the prune predicate, a failed `static_assert` or compile, GPU limits
    /// (threads, registers, shared memory), an invalid grid, a failed launch.
    Pruned {
        /// Why.
        reason: String,
    },
    /// The same program as configuration `of` on this device (on the CPU, configurations that
    /// differ only in GPU options); timed once, as `of`.
    SameProgram {
        /// Index of the configuration timed instead.
        of: usize,
    },
    /// Not considered (no timing was done and an earlier configuration was chosen).
    NotRun,
}

impl Timing {
    /// The median time, when timed.
    pub fn median_ms(&self) -> Option<f64> {
        match self {
            Timing::Timed { median_ms, .. } => Some(*median_ms),
            _ => None,
        }
    }
}

impl fmt::Display for Timing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timing::Timed { median_ms, reps } => {
                write!(f, "{median_ms:.4} ms (median of {reps})")
            }
            Timing::Pruned { reason } => write!(f, "pruned: {reason}"),
            Timing::SameProgram { of } => write!(f, "same program as config {of}"),
            Timing::NotRun => f.write_str("not run"),
        }
    }
}

/// How a tuner chose the configuration for a launch.
#[derive(Clone, Debug, PartialEq)]
pub struct TuneOutcome {
    /// The kernel.
    pub kernel: &'static str,
    /// The device's fingerprint.
    pub device: String,
    /// The key (buckets) the result is stored under.
    pub key: TuneKey,
    /// Where the winner came from.
    pub source: TuneSource,
    /// Index of the winner in the tuner's config list.
    pub winner: usize,
    /// Each configuration (as displayed) and its result, in config order. Configurations
    /// pruned only for this launch's exact arguments keep their stored result here.
    pub table: Vec<(String, Timing)>,
}

impl TuneOutcome {
    /// The winner's median time, when it was timed.
    pub fn winner_ms(&self) -> Option<f64> {
        self.table.get(self.winner)?.1.median_ms()
    }

    /// The default configuration's median time, when it was timed: the first configuration
    /// that is not pruned for the launch (what runs when nothing is tuned).
    pub fn default_ms(&self) -> Option<f64> {
        let (_, timing) = self
            .table
            .iter()
            .find(|(_, t)| !matches!(t, Timing::Pruned { .. }))?;
        match timing {
            Timing::SameProgram { of } => self.table.get(*of)?.1.median_ms(),
            t => t.median_ms(),
        }
    }

    /// How many times faster the winner is than the default configuration, when both were
    /// timed.
    pub fn speedup(&self) -> Option<f64> {
        Some(self.default_ms()? / self.winner_ms()?)
    }
}

impl fmt::Display for TuneOutcome {
    /// A table: one line per configuration, the winner marked with `*`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} [{}] on {}: {}",
            self.kernel, self.key, self.device, self.source
        )?;
        for (i, (config, timing)) in self.table.iter().enumerate() {
            let mark = if i == self.winner { '*' } else { ' ' };
            writeln!(f, "{mark} {i:>3} {config}: {timing}")?;
        }
        if let Some(s) = self.speedup() {
            writeln!(f, "speed-up over the default: {s:.2}x")?;
        }
        Ok(())
    }
}

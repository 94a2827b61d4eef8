//! Timing one configuration: warm-up, then the median of repeated timings.
//!
//! Each repetition is timed with [`Device::time_ms`]: CUDA events around the launch on GPUs,
//! the wall clock on the CPU. The number of repetitions adapts to the kernel: after
//! [`BenchOptions::warmup`] untimed runs (which also fault in caches and let clocks settle),
//! one timed run estimates the cost `t`, and the configuration gets `budget_ms / t`
//! repetitions in all, clamped to `[min_reps, max_reps]` (by default 3 to 50 within about
//! 100 ms). The median of them is robust against the odd preempted run.

use crate::device::Device;
use crate::error::Error;

/// How each configuration is timed.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct BenchOptions {
    /// Untimed runs before timing.
    pub warmup: usize,
    /// Fewest timed runs.
    pub min_reps: usize,
    /// Most timed runs.
    pub max_reps: usize,
    /// Time to spend on the timed runs of one configuration, in milliseconds (the number of
    /// repetitions is chosen from the first one to fit it).
    pub budget_ms: f64,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            warmup: 1,
            min_reps: 3,
            max_reps: 50,
            budget_ms: 100.0,
        }
    }
}

/// The result of timing one configuration.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Measurement {
    /// Median time of one run, in milliseconds.
    pub median_ms: f64,
    /// Timed runs.
    pub reps: usize,
}

/// Times `run` (which queues one launch on `device`) as [`BenchOptions`] says.
pub(crate) fn measure(
    device: &Device,
    options: &BenchOptions,
    run: &mut dyn FnMut() -> Result<(), Error>,
) -> Result<Measurement, Error> {
    for _ in 0..options.warmup {
        run()?;
    }
    device.synchronize()?;
    let first = device.time_ms(&mut *run)?;
    let min = options.min_reps.max(1);
    let max = options.max_reps.max(min);
    let wanted = if first > 0.0 {
        (options.budget_ms / first).floor() as usize
    } else {
        max
    };
    let reps = wanted.clamp(min, max);
    let mut times = Vec::with_capacity(reps);
    times.push(first);
    for _ in 1..reps {
        times.push(device.time_ms(&mut *run)?);
    }
    Ok(Measurement {
        median_ms: median(&mut times),
        reps,
    })
}

/// The median of `times` (the mean of the two middle ones for an even count).
fn median(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    let n = times.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        times[n / 2]
    } else {
        (times[n / 2 - 1] + times[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn repetitions_fit_the_budget() {
        let device = Device::cpu();
        let options = BenchOptions {
            warmup: 2,
            min_reps: 3,
            max_reps: 7,
            budget_ms: 1e6,
        };
        let mut runs = 0;
        let m = measure(&device, &options, &mut || {
            runs += 1;
            Ok(())
        })
        .unwrap();
        // A run of (almost) no time: as many as allowed.
        assert_eq!(m.reps, 7);
        assert_eq!(runs, 2 + 7);

        let slow = BenchOptions {
            budget_ms: 0.0,
            ..options
        };
        let m = measure(&device, &slow, &mut || {
            std::thread::sleep(std::time::Duration::from_millis(1));
            Ok(())
        })
        .unwrap();
        assert_eq!(m.reps, 3);
        assert!(m.median_ms >= 1.0, "{m:?}");
    }
}

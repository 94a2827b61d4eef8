//! Timing device work, for benchmarks: waiting for a device, measuring how long the device
//! took for some work, and [`bench()`], the one benchmarking function of the workspace (the
//! autotuner and `bitmat bench` both time with it, as Triton's tuner and users share
//! `triton.testing.do_bench`).
//!
//! On CUDA devices [`Device::time_ms`] records a CUDA event on the device's stream before and
//! after the work and reads the time between them; on host devices (interpreter, CPU), whose
//! launches are synchronous, it reads the wall clock around the work.
//!
//! [`bench()`] runs the work [`BenchOptions::warmup`] times untimed (compiling, faulting in
//! memory, letting clocks settle), then times it once to estimate its cost `t`, and repeats it
//! `budget_ms / t` times in all, clamped to `[min_reps, max_reps]`; it returns the median,
//! which the odd preempted run does not move. With [`BenchOptions::flush_cache`] a
//! [`CacheFlush`] overwrites the device's last cache level before every timed run, outside
//! the timed interval.

use crate::cuda::driver;
use crate::device::Device;
use crate::error::Error;
use crate::flush::CacheFlush;
use cudarc::driver::sys::CUevent_flags;
use std::time::Instant;

/// How [`Device::time_ms`] measures time on a device.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TimingMethod {
    /// CUDA events recorded on the device's stream around the work (GPU time between them).
    CudaEvents,
    /// The host's monotonic clock around the work (host devices run launches synchronously).
    WallClock,
}

impl TimingMethod {
    /// A short description for reports: `cuda events` or `wall clock`.
    pub fn name(self) -> &'static str {
        match self {
            TimingMethod::CudaEvents => "cuda events",
            TimingMethod::WallClock => "wall clock",
        }
    }
}

impl Device {
    /// Waits until all work queued on the device has finished. A no-op on host devices, whose
    /// launches return when they are done.
    pub fn synchronize(&self) -> Result<(), Error> {
        match &self.inner.cuda {
            Some(c) => c
                .stream
                .synchronize()
                .map_err(|e| driver("synchronize", "waiting for the stream", e)),
            None => Ok(()),
        }
    }

    /// How [`Device::time_ms`] measures on this device.
    pub fn timing_method(&self) -> TimingMethod {
        if self.inner.cuda.is_some() {
            TimingMethod::CudaEvents
        } else {
            TimingMethod::WallClock
        }
    }

    /// Runs `work` (which queues work on this device, e.g. a kernel launch) and returns how long
    /// the device took for it, in milliseconds; waits for the work to finish.
    ///
    /// On CUDA, the time between two events recorded on the device's stream before and after
    /// `work`: when the stream is idle, host-side launch overhead inside `work` is included.
    /// On host devices, the wall-clock time of `work`.
    pub fn time_ms<E: From<Error>>(&self, work: impl FnOnce() -> Result<(), E>) -> Result<f64, E> {
        let Some(cuda) = &self.inner.cuda else {
            let start = Instant::now();
            work()?;
            return Ok(start.elapsed().as_secs_f64() * 1e3);
        };
        let stream = &cuda.stream;
        let event = || {
            stream
                .record_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
                .map_err(|e| driver("time_ms", "recording an event", e))
        };
        let start = event()?;
        work()?;
        let end = event()?;
        let ms = start
            .elapsed_ms(&end)
            .map_err(|e| driver("time_ms", "reading the elapsed time", e))?;
        Ok(f64::from(ms))
    }
}

/// How [`bench()`] times some work.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct BenchOptions {
    /// Untimed runs before timing.
    pub warmup: usize,
    /// Fewest timed runs.
    pub min_reps: usize,
    /// Most timed runs.
    pub max_reps: usize,
    /// Time to spend on the timed runs, in milliseconds (the number of repetitions is chosen
    /// from the first one to fit it).
    pub budget_ms: f64,
    /// When the first timed run takes longer than this (milliseconds), it is the only one.
    pub single_above_ms: f64,
    /// Overwrite the device's last cache level ([`CacheFlush`]) before each timed run, so the
    /// work reads its operands from memory.
    pub flush_cache: bool,
}

impl Default for BenchOptions {
    /// The autotuner's settings: 1 warm-up, 3 to 50 timed runs within about 100 ms, no
    /// single-sample cut-off and no cache flush (the configurations of one key are compared
    /// with each other, all equally warm, and the tuner stays cheap).
    fn default() -> Self {
        BenchOptions {
            warmup: 1,
            min_reps: 3,
            max_reps: 50,
            budget_ms: 100.0,
            single_above_ms: f64::INFINITY,
            flush_cache: false,
        }
    }
}

/// What [`bench()`] measured.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Measurement {
    /// Median time of one run, in milliseconds.
    pub median_ms: f64,
    /// Timed runs.
    pub reps: usize,
    /// Bytes overwritten before each timed run to flush the cache (0: no flush).
    pub flushed_bytes: usize,
}

/// Times `run` (which queues work on `device`, e.g. one launch) as `options` says: warm-up,
/// adaptive repetitions, optional cache flush before each, median (see the module docs).
///
/// Errors: the first error of `run`, or of the device (timing, allocating the flush buffer).
pub fn bench<E: From<Error>>(
    device: &Device,
    options: &BenchOptions,
    run: &mut dyn FnMut() -> Result<(), E>,
) -> Result<Measurement, E> {
    for _ in 0..options.warmup {
        run()?;
    }
    let mut flush = if options.flush_cache {
        Some(CacheFlush::new(device)?)
    } else {
        None
    };
    device.synchronize()?;
    let mut timed = || -> Result<f64, E> {
        if let Some(f) = &mut flush {
            f.run()?;
        }
        device.time_ms(&mut *run)
    };
    let first = timed()?;
    let min = options.min_reps.max(1);
    let max = options.max_reps.max(min);
    let reps = if first > options.single_above_ms {
        1
    } else if first > 0.0 {
        ((options.budget_ms / first).floor() as usize).clamp(min, max)
    } else {
        max
    };
    let mut times = Vec::with_capacity(reps);
    times.push(first);
    for _ in 1..reps {
        times.push(timed()?);
    }
    Ok(Measurement {
        median_ms: median(&mut times),
        reps,
        flushed_bytes: flush.as_ref().map_or(0, CacheFlush::bytes),
    })
}

/// The median of `times` (the mean of the two middle ones for an even count; NaN when empty).
pub fn median(times: &mut [f64]) -> f64 {
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
        assert!(median(&mut []).is_nan());
    }

    fn sleep_ms(ms: u64) -> Result<(), Error> {
        std::thread::sleep(std::time::Duration::from_millis(ms));
        Ok(())
    }

    #[test]
    fn repetitions_fit_the_budget() {
        let device = Device::cpu();
        let options = BenchOptions {
            warmup: 2,
            min_reps: 3,
            max_reps: 7,
            budget_ms: 1e6,
            ..BenchOptions::default()
        };
        let mut runs = 0;
        let m = bench(&device, &options, &mut || -> Result<(), Error> {
            runs += 1;
            Ok(())
        })
        .unwrap();
        // A run of (almost) no time: as many as allowed.
        assert_eq!(m.reps, 7);
        assert_eq!(runs, 2 + 7);
        assert_eq!(m.flushed_bytes, 0);

        let slow = BenchOptions {
            budget_ms: 0.0,
            ..options
        };
        let m = bench(&device, &slow, &mut || sleep_ms(1)).unwrap();
        assert_eq!(m.reps, 3);
        assert!(m.median_ms >= 1.0, "{m:?}");
    }

    #[test]
    fn a_slow_first_run_is_the_only_one() {
        let options = BenchOptions {
            single_above_ms: 0.5,
            ..BenchOptions::default()
        };
        let m = bench(&Device::cpu(), &options, &mut || sleep_ms(2)).unwrap();
        assert_eq!(m.reps, 1);
    }

    #[test]
    fn the_flush_runs_before_each_timed_run_and_outside_its_time() {
        let device = Device::cpu();
        let options = BenchOptions {
            warmup: 0,
            min_reps: 4,
            max_reps: 4,
            flush_cache: true,
            ..BenchOptions::default()
        };
        let flush_bytes = CacheFlush::new(&device).unwrap().bytes();
        let mut runs = 0;
        let m = bench(&device, &options, &mut || -> Result<(), Error> {
            runs += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!((m.reps, runs), (4, 4));
        assert_eq!(m.flushed_bytes, flush_bytes);
        // Writing 64 MiB or more takes well over 100 µs; an empty run timed alone does not.
        assert!(m.median_ms < 0.1, "{m:?}");
    }

    #[test]
    fn errors_of_the_work_are_returned() {
        let err = bench(&Device::cpu(), &BenchOptions::default(), &mut || {
            Err::<(), _>(Error::NoCudaDriver {
                reason: "test".into(),
            })
        })
        .unwrap_err();
        assert!(matches!(err, Error::NoCudaDriver { .. }), "{err}");
    }
}

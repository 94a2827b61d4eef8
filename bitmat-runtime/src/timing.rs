//! Timing device work, for benchmarks: waiting for a device, and measuring how long the device
//! took for some work.
//!
//! On CUDA devices [`Device::time_ms`] records a CUDA event on the device's stream before and
//! after the work and reads the time between them; on host devices (interpreter, CPU), whose
//! launches are synchronous, it reads the wall clock around the work.

use crate::cuda::driver;
use crate::device::Device;
use crate::error::Error;
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

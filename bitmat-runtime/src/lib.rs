//! The runtime of bitmat: devices, typed buffers, kernel specialization, the kernel caches and
//! launch.
//!
//! Backends: the reference interpreter of `bitmat-ir` (`Device::interpreter()`), the CPU
//! (Cranelift, `Device::cpu()`) and CUDA (`Device::cuda(i)`), behind one [`Device`]; each is
//! an implementation of one backend trait (the `backend` module), which launch, the kernel
//! caches and the autotuner are written against. [`Backend`] only names them.
//!
//! A launch ([`launch_kernel`]) looks the kernel up in the device's memory cache, then in the
//! on-disk cache ([`disk`], shared by processes), and compiles it only when both miss; see
//! the `cache` module for the keys, and [`stats()`] for counters that show which path was taken.

mod backend;
mod buffer;
mod cache;
mod checked;
mod constexpr;
mod cublas;
mod cuda;
mod device;
pub mod disk;
mod dump;
mod error;
mod flush;
pub mod host;
mod launch;
pub mod peer;
mod specialize;
pub mod stats;
mod threads;
pub mod timing;
pub mod tune;
mod version;

pub use buffer::Buffer;
pub use constexpr::{Constexpr, ConstexprValue};
pub use device::{Backend, Device, CPU_BACKEND_VAR};
pub use error::Error;
pub use flush::CacheFlush;
pub use launch::{
    launch_kernel, launch_kernel_unchecked, Grid, KernelArg, KernelId, LaunchOptions,
};
pub use specialize::specialize;
pub use stats::{stats, Stats};
pub use timing::{bench, BenchOptions, Measurement, TimingMethod};
pub use tune::{Autotuner, Config, Specialization, TuneKey, TuneOutcome, TuneSource};
pub use version::compiler_version;

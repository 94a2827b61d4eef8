//! The runtime of bitmat: devices, typed buffers, kernel specialization, the kernel cache and
//! launch.
//!
//! Backends: the reference interpreter of `bitmat-ir` (`Device::interpreter()`); compiled CPU
//! and CUDA backends plug in behind the same [`Device`] as they land.

mod backend;
mod buffer;
mod cache;
mod constexpr;
mod cuda;
mod device;
pub mod disk;
mod dump;
mod error;
pub mod host;
mod launch;
pub mod peer;
mod specialize;
pub mod stats;
mod threads;
mod timing;
pub mod tune;

pub use buffer::Buffer;
pub use constexpr::{Constexpr, ConstexprValue};
pub use device::{Backend, Device};
pub use error::Error;
pub use launch::{launch_kernel, Grid, KernelArg, KernelId, LaunchOptions};
pub use specialize::specialize;
pub use stats::{stats, Stats};
pub use timing::TimingMethod;
pub use tune::{Autotuner, Config, Specialization, TuneKey, TuneOutcome, TuneSource};

//! Autotuning: trying a kernel's configurations on the real arguments and keeping the fastest,
//! per device and per bucket of argument values.

mod config;

pub use config::{Config, Specialization};

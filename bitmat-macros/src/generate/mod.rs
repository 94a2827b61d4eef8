//! Expansion code: the kernel module and inline helpers.

pub mod helper;
pub mod kernel;

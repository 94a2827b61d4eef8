//! Analyses over the IR shared by the backends.

pub mod contiguity;

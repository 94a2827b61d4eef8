//! The verifier: checks the invariants of [`crate::Kernel`] (to be written).

//! The `bitmat` command line's commands, as a library so that its tests reach them: each
//! module is one command (or the part of one the library `bitmat` leaves to applications);
//! `main.rs` parses the arguments and prints.
//!
//! | module | command |
//! | --- | --- |
//! | [`info`] | `bitmat info`: the CPU, devices and disk cache |
//! | [`selftest`] | `bitmat selftest`: every prebuilt kernel against its plain-Rust reference |
//! | [`bench`](mod@bench) | `bitmat bench`: the prebuilt matmuls beside a peer and a memory floor; `--suite parity`: Triton's tutorial kernels in the DSL beside their Triton twins ([`bench::parity`]) |
//! | [`tuning`] | `bitmat tune`: autotuning model shapes ahead of time |
//! | [`convert`] | `bitmat convert`: glob selection and a progress bar over [`bitmat::convert`] |
//! | [`dump`] | `bitmat dump`: a prebuilt kernel's IR, CLIF or PTX |
//! | [`logging`] | the stderr log subscriber every command installs |

pub mod bench;
pub mod convert;
pub mod dump;
pub mod info;
pub mod logging;
pub mod selftest;
pub mod tuning;

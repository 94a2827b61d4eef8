//! The text IR round-trips over every prebuilt kernel (at its default constexprs and at every
//! configuration of every tuner, CPU and CUDA) and over the random programs of
//! `bitmat_ir::random`, as built and after the shared passes: the printed IR reads back as the
//! same kernel.

use bitmat::ir::parse::check_round_trip;
use bitmat::ir::Kernel;
use bitmat::kernels::registry::PREBUILT;
use bitmat::{tuned, Autotuner, Backend, Specialization};

fn assert_round_trips(what: &str, k: &Kernel) {
    if let Err(e) = check_round_trip(k) {
        panic!("{what}: {e}");
    }
}

/// Round-trips the IR of every configuration of `tuner`; returns how many there were.
fn every_config<C: Specialization>(name: &str, tuner: &Autotuner<C>) -> usize {
    for c in tuner.configs() {
        let k = c
            .constexprs
            .ir()
            .unwrap_or_else(|e| panic!("{name} {c}: {e}"));
        assert_round_trips(&format!("{name} {c}"), &k);
    }
    tuner.configs().len()
}

#[test]
fn every_prebuilt_kernel_round_trips_at_its_defaults() {
    assert!(PREBUILT.len() >= 9, "{} prebuilt kernels", PREBUILT.len());
    for p in PREBUILT {
        let k = p.ir(&[]).unwrap_or_else(|e| panic!("{}: {e}", p.name));
        assert_round_trips(p.name, &k);
    }
}

#[test]
fn every_tuner_configuration_round_trips() {
    let mut n = every_config("w2a8_gemv_rows", tuned::gemv_rows_tuner().tuner());
    n += every_config("w2a8_gemv_planes", tuned::gemv_planes_tuner().tuner());
    for has_bias in [false, true] {
        n += every_config(
            "w2a8_linear_planes",
            tuned::linear_planes_tuner(has_bias).tuner(),
        );
    }
    for scale_cols in [32, 64, 128] {
        n += every_config(
            "w4a8_gemv_planes",
            tuned::w4a8_planes_tuner(scale_cols).tuner(),
        );
        n += every_config(
            "w4a16_gemv_planes",
            tuned::w4a16_planes_tuner(scale_cols).tuner(),
        );
    }
    for backend in [Backend::CRANELIFT, Backend::CUDA] {
        n += every_config("w2a8_matmul", tuned::ternary_tuner(backend).tuner());
        n += every_config("w2a8_gemv", tuned::gemv_tuner(backend).tuner());
        n += every_config("w4a16_gemv", tuned::w4a16_gemv_tuner(backend).tuner());
        for has_bias in [false, true] {
            n += every_config(
                "w2a8_linear",
                tuned::linear_tuner(backend, has_bias).tuner(),
            );
            n += every_config("w4a4_matmul", tuned::w4a4_tuner(backend, has_bias).tuner());
        }
        n += every_config("w4a16_matmul", tuned::w4a16_tuner(backend).tuner());
        n += every_config("w4a8_matmul", tuned::w4a8_tuner(backend).tuner());
    }
    assert!(n >= 20, "only {n} configurations");
}

#[test]
fn random_programs_round_trip_as_built_and_optimized() {
    for seed in 0..300 {
        let k = bitmat::ir::random::program(seed);
        assert_round_trips(&format!("random program {seed}"), &k);
        let mut optimized = k.clone();
        bitmat::ir::passes::optimize(&mut optimized);
        assert_round_trips(&format!("random program {seed}, optimized"), &optimized);
    }
}

//! Every prebuilt op of `bitmat::ops` against its plain-Rust reference (`bitmat::reference`)
//! on ragged shapes, on every host device, plus property tests and typed errors for bad input.
//!
//! Comparisons follow `bitmat::selftest`: integer outputs exactly; `f32` outputs within
//! `max(max|ref|, 1) * 1e-5` absolute (a NaN anywhere fails); rmsnorm quantized values
//! within 1 and scales within `1e-5` relative.

use bitmat::formats::{
    pack_ternary, quantize_activations, quantize_int4, quantize_ternary, FormatError, Int4Group,
    Int4Weights, QuantizedActivations, ScaleGranularity, TernaryWeights,
};
use bitmat::{f16, ops, reference, Device, Error};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Every device a host can run kernels on.
fn devices() -> Vec<Device> {
    vec![Device::interpreter(), Device::cpu()]
}

/// Runs `check` on every device; `check` gets a fresh RNG seeded by `seed` on each, so every
/// device sees the same inputs.
fn on_each_device(seed: u64, mut check: impl FnMut(&Device, &mut StdRng)) {
    for device in devices() {
        let mut rng = StdRng::seed_from_u64(seed);
        check(&device, &mut rng);
    }
}

/// Gaussian-ish values (sum of four uniforms, unit variance), as `bitmat selftest` uses.
fn gaussian(rng: &mut StdRng, len: usize) -> Vec<f32> {
    (0..len)
        .map(|_| (0..4).map(|_| rng.gen_range(-1.0f32..1.0)).sum::<f32>() * 0.866)
        .collect()
}

fn random_i8(rng: &mut StdRng, len: usize) -> Vec<i8> {
    (0..len).map(|_| rng.gen::<i8>()).collect()
}

fn random_ternary_packed(rng: &mut StdRng, n: usize, k: usize) -> Vec<u8> {
    let wq: Vec<i8> = (0..n * k).map(|_| rng.gen_range(-1..=1)).collect();
    pack_ternary(&wq, n, k).expect("valid ternary values")
}

fn random_f16(rng: &mut StdRng, len: usize) -> Vec<f16> {
    gaussian(rng, len).into_iter().map(f16::from_f32).collect()
}

/// Asserts `got == want` element by element.
fn assert_exact(what: &str, got: &[i32], want: &[i32]) {
    assert_eq!(got.len(), want.len(), "{what}: output length");
    if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
        panic!(
            "{what}: element {i} is {} but the reference gives {}",
            got[i], want[i]
        );
    }
}

/// Asserts every `|got - want| <= max(max|want|, 1) * 1e-5`; NaN or infinity fails.
fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: output length");
    assert!(
        want.iter().all(|v| v.is_finite()),
        "{what}: the reference is not finite"
    );
    let peak = want.iter().map(|v| f64::from(v.abs())).fold(1.0, f64::max);
    let tolerance = peak * 1e-5;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let diff = (f64::from(g) - f64::from(w)).abs();
        // `!(a <= b)` so that a NaN difference fails.
        assert!(
            diff <= tolerance,
            "{what}: element {i} is {g} but the reference gives {w} (|diff| {diff:e} > {tolerance:e})"
        );
    }
}

/// Quantized values within 1 of the reference, scales within 1e-5 relative.
fn assert_quantized_close(what: &str, got: &QuantizedActivations, want: &QuantizedActivations) {
    assert_eq!(
        (got.rows, got.cols),
        (want.rows, want.cols),
        "{what}: shape"
    );
    assert_eq!(got.values.len(), want.values.len(), "{what}: values length");
    assert_eq!(got.scales.len(), want.scales.len(), "{what}: scales length");
    for (i, (&g, &w)) in got.values.iter().zip(&want.values).enumerate() {
        assert!(
            (i32::from(g) - i32::from(w)).abs() <= 1,
            "{what}: value {i} is {g} but the reference gives {w}"
        );
    }
    for (r, (&g, &w)) in got.scales.iter().zip(&want.scales).enumerate() {
        let rel = f64::from((g - w).abs()) / f64::from(w.abs());
        assert!(
            rel <= 1e-5,
            "{what}: scale of row {r} is {g} but the reference gives {w} (relative {rel:e})"
        );
    }
}

const TERNARY_M: [usize; 3] = [1, 3, 17];
const TERNARY_N: [usize; 3] = [5, 64, 100];
const TERNARY_K: [usize; 3] = [4, 36, 260];
const INT4_K: [usize; 3] = [16, 48, 272];

fn shapes(ks: &[usize]) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    TERNARY_M.iter().flat_map(move |&m| {
        TERNARY_N
            .iter()
            .flat_map(move |&n| ks.iter().map(move |&k| (m, n, k)))
    })
}

// ---------------------------------------------------------------------------------------------
// Ternary
// ---------------------------------------------------------------------------------------------

fn check_ternary_matmul(device: &Device, rng: &mut StdRng, m: usize, n: usize, k: usize) {
    let x = random_i8(rng, m * k);
    let packed = random_ternary_packed(rng, n, k);
    let what = format!("ternary_matmul on {device} m={m} n={n} k={k}");
    let got =
        ops::ternary_matmul(device, &x, m, k, &packed, n).unwrap_or_else(|e| panic!("{what}: {e}"));
    let want = reference::matmul_i8_ternary(&x, m, k, &packed, n).unwrap();
    assert_exact(&what, &got, &want);
}

#[test]
fn ternary_matmul_matches_reference() {
    on_each_device(1, |device, rng| {
        for (m, n, k) in shapes(&TERNARY_K) {
            check_ternary_matmul(device, rng, m, n, k);
        }
    });
}

/// The extremes of i8 against all-(+1) and all-(-1) weights: sums up to 260 * 128.
#[test]
fn ternary_matmul_extreme_values() {
    on_each_device(2, |device, _| {
        let (m, n, k) = (3, 5, 260);
        let mut x = vec![i8::MIN; k];
        x.extend(vec![i8::MAX; k]);
        x.extend((0..k).map(|i| if i % 2 == 0 { i8::MIN } else { i8::MAX }));
        let wq: Vec<i8> = (0..n * k).map(|i| [1, -1, 1, 0, -1][i / k]).collect();
        let packed = pack_ternary(&wq, n, k).unwrap();
        let got = ops::ternary_matmul(device, &x, m, k, &packed, n).unwrap();
        let want = reference::matmul_i8_ternary(&x, m, k, &packed, n).unwrap();
        assert_exact(&format!("ternary_matmul extremes on {device}"), &got, &want);
    });
}

#[test]
fn ternary_linear_matches_reference() {
    on_each_device(3, |device, rng| {
        for (m, n, k) in shapes(&TERNARY_K) {
            let x = quantize_activations(&gaussian(rng, m * k), m, k).unwrap();
            let wf = gaussian(rng, n * k);
            let bias = gaussian(rng, n);
            for granularity in [ScaleGranularity::PerTensor, ScaleGranularity::PerRow] {
                let w = quantize_ternary(&wf, n, k, granularity).unwrap();
                for b in [None, Some(bias.as_slice())] {
                    let what = format!(
                        "ternary_linear on {device} m={m} n={n} k={k} {granularity:?} bias={}",
                        b.is_some()
                    );
                    let got = ops::ternary_linear(device, &x, &w, b)
                        .unwrap_or_else(|e| panic!("{what}: {e}"));
                    let want = reference::ternary_linear(&x, &w, b).unwrap();
                    assert_close(&what, &got, &want);
                }
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Int4
// ---------------------------------------------------------------------------------------------

fn check_int4(device: &Device, rng: &mut StdRng, m: usize, n: usize, k: usize, group: Int4Group) {
    let w = quantize_int4(&gaussian(rng, n * k), n, k, group).unwrap();

    let x = quantize_activations(&gaussian(rng, m * k), m, k).unwrap();
    let what = format!("int4_w4a8 on {device} m={m} n={n} k={k} {group:?}");
    let got = ops::int4_w4a8(device, &x, &w).unwrap_or_else(|e| panic!("{what}: {e}"));
    let want = reference::int4_w4a8(&x, &w).unwrap();
    assert_close(&what, &got, &want);

    let xh = random_f16(rng, m * k);
    let what = format!("int4_w4a16 on {device} m={m} n={n} k={k} {group:?}");
    let got = ops::int4_w4a16(device, &xh, m, &w).unwrap_or_else(|e| panic!("{what}: {e}"));
    let want = reference::int4_w4a16(&xh, m, &w).unwrap();
    assert_close(&what, &got, &want);
}

#[test]
fn int4_groups_of_16_match_reference() {
    on_each_device(4, |device, rng| {
        for (m, n, k) in shapes(&INT4_K) {
            check_int4(device, rng, m, n, k, Int4Group::Size(16));
        }
    });
}

#[test]
fn int4_per_row_matches_reference() {
    on_each_device(5, |device, rng| {
        for (m, n, k) in shapes(&INT4_K) {
            check_int4(device, rng, m, n, k, Int4Group::PerRow);
        }
    });
}

#[test]
fn int4_groups_of_32_and_64_match_reference() {
    on_each_device(6, |device, rng| {
        for (m, n, k) in shapes(&[64, 128]) {
            for group in [Int4Group::Size(32), Int4Group::Size(64)] {
                check_int4(device, rng, m, n, k, group);
            }
        }
    });
}

/// Weights at the ends of the int4 range (-8 and 7) and activations at +-127.
#[test]
fn int4_extreme_values() {
    on_each_device(7, |device, _| {
        let (m, n, k) = (2, 3, 64);
        let q: Vec<i8> = (0..n * k).map(|i| [-8, 7, -8][i / k]).collect();
        let w = Int4Weights {
            out_features: n,
            in_features: k,
            group: Int4Group::Size(32),
            packed: bitmat::formats::pack_int4(&q, n, k).unwrap(),
            scales: vec![0.5, 0.25, 1.0, 2.0, 0.125, 4.0],
        };
        let mut values = vec![127i8; k];
        values.extend(vec![-127i8; k]);
        let x = QuantizedActivations {
            rows: m,
            cols: k,
            values,
            scales: vec![0.5, 0.25],
        };
        let got = ops::int4_w4a8(device, &x, &w).unwrap();
        let want = reference::int4_w4a8(&x, &w).unwrap();
        assert_close(&format!("int4_w4a8 extremes on {device}"), &got, &want);
    });
}

// ---------------------------------------------------------------------------------------------
// RMSNorm + quantize
// ---------------------------------------------------------------------------------------------

#[test]
fn rmsnorm_quantize_matches_reference() {
    on_each_device(8, |device, rng| {
        for rows in [1, 3] {
            for cols in [1, 7, 64, 300] {
                let x = gaussian(rng, rows * cols);
                let weight: Vec<f32> = (0..cols).map(|_| rng.gen_range(0.5..1.5)).collect();
                for wt in [None, Some(weight.as_slice())] {
                    let what = format!(
                        "rmsnorm_quantize on {device} rows={rows} cols={cols} weight={}",
                        wt.is_some()
                    );
                    let got = ops::rmsnorm_quantize(device, &x, rows, cols, wt, 1e-5)
                        .unwrap_or_else(|e| panic!("{what}: {e}"));
                    let want = reference::rmsnorm_quantize(&x, rows, cols, wt, 1e-5).unwrap();
                    assert_quantized_close(&what, &got, &want);
                }
            }
        }
    });
}

/// An all-zero row: the norm is 0, the scale is the floor `1e-5 / 127`, every value 0.
#[test]
fn rmsnorm_quantize_zero_row() {
    on_each_device(9, |device, rng| {
        let cols = 7;
        let mut x = vec![0.0f32; cols];
        x.extend(gaussian(rng, cols));
        let got = ops::rmsnorm_quantize(device, &x, 2, cols, None, 1e-5).unwrap();
        let want = reference::rmsnorm_quantize(&x, 2, cols, None, 1e-5).unwrap();
        assert_quantized_close(&format!("rmsnorm zero row on {device}"), &got, &want);
        assert!(got.values[..cols].iter().all(|&v| v == 0));
    });
}

/// `bitmat selftest` passes on every device.
#[test]
fn selftest_passes() {
    on_each_device(0, |device, _| {
        for seed in [0, 1] {
            for r in bitmat::selftest::run(device, seed).unwrap() {
                assert!(
                    r.passed(),
                    "selftest on {device} seed {seed}: {} error {} > {}",
                    r.name,
                    r.max_error,
                    r.tolerance
                );
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------------

/// An int4 shape `k = 16 * words` with a group that divides it: `PerRow`, or `Size(16 * d)`
/// for a divisor `d` of `words`.
fn int4_k_and_group() -> impl Strategy<Value = (usize, Int4Group)> {
    (1usize..=18).prop_flat_map(|words| {
        let divisors: Vec<usize> = (1..=words).filter(|d| words % d == 0).collect();
        let sized = proptest::sample::select(divisors)
            .prop_map(move |d| (16 * words, Int4Group::Size(16 * d)));
        prop_oneof![sized, Just((16 * words, Int4Group::PerRow))]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn prop_ternary_matmul_exact(m in 1usize..20, n in 1usize..80, k4 in 1usize..=75, seed: u64) {
        let k = 4 * k4;
        on_each_device(seed, |device, rng| check_ternary_matmul(device, rng, m, n, k));
    }

    #[test]
    fn prop_int4_random_group(
        m in 1usize..20,
        n in 1usize..80,
        (k, group) in int4_k_and_group(),
        seed: u64,
    ) {
        on_each_device(seed, |device, rng| check_int4(device, rng, m, n, k, group));
    }
}

// ---------------------------------------------------------------------------------------------
// Typed errors
// ---------------------------------------------------------------------------------------------

/// Asserts `result` is `Error::Shape` from `op` whose message contains every one of `needles`.
#[track_caller]
fn expect_shape<T: std::fmt::Debug>(result: Result<T, Error>, op: &str, needles: &[&str]) {
    match result {
        Err(e @ Error::Shape { op: got_op, .. }) => {
            assert_eq!(got_op, op, "wrong op in {e}");
            let msg = e.to_string();
            for needle in needles {
                assert!(
                    msg.contains(needle),
                    "message {msg:?} does not name {needle:?}"
                );
            }
        }
        other => panic!("expected Error::Shape from {op}, got {other:?}"),
    }
}

/// Asserts `result` is `Error::Format` matching `pred`, and its message contains `needles`.
#[track_caller]
fn expect_format<T: std::fmt::Debug>(
    result: Result<T, Error>,
    pred: impl Fn(&FormatError) -> bool,
    needles: &[&str],
) {
    match result {
        Err(Error::Format(f)) => {
            assert!(pred(&f), "unexpected format error {f:?}");
            let msg = Error::Format(f).to_string();
            for needle in needles {
                assert!(
                    msg.contains(needle),
                    "message {msg:?} does not name {needle:?}"
                );
            }
        }
        other => panic!("expected Error::Format, got {other:?}"),
    }
}

fn acts(rows: usize, cols: usize) -> QuantizedActivations {
    QuantizedActivations {
        rows,
        cols,
        values: vec![1; rows * cols],
        scales: vec![0.5; rows],
    }
}

fn ternary_weights(n: usize, k: usize, granularity: ScaleGranularity) -> TernaryWeights {
    let mut rng = StdRng::seed_from_u64(10);
    quantize_ternary(&gaussian(&mut rng, n * k), n, k, granularity).unwrap()
}

fn int4_weights(n: usize, k: usize, group: Int4Group) -> Int4Weights {
    let mut rng = StdRng::seed_from_u64(11);
    quantize_int4(&gaussian(&mut rng, n * k), n, k, group).unwrap()
}

#[test]
fn ternary_matmul_errors() {
    let d = Device::interpreter();
    const OP: &str = "ternary_matmul";
    // K not a multiple of 4.
    expect_shape(
        ops::ternary_matmul(&d, &[0; 12], 2, 6, &[0; 3], 2),
        OP,
        &["K = 6", "multiple of 4"],
    );
    // x of the wrong length.
    expect_shape(
        ops::ternary_matmul(&d, &[0; 7], 2, 4, &[0; 3], 3),
        OP,
        &["x has 7 elements, expected 8"],
    );
    // Packed weights of the wrong length.
    expect_shape(
        ops::ternary_matmul(&d, &[0; 8], 2, 4, &[0; 2], 3),
        OP,
        &["packed weights has 2 elements, expected 3"],
    );
}

#[test]
fn ternary_linear_errors() {
    let d = Device::interpreter();
    const OP: &str = "ternary_linear";
    let w = ternary_weights(5, 8, ScaleGranularity::PerRow);

    // K not a multiple of 4 (the weights' in_features).
    let bad_k = TernaryWeights {
        out_features: 2,
        in_features: 6,
        packed: vec![0; 3],
        scales: vec![1.0; 2],
        granularity: ScaleGranularity::PerRow,
    };
    expect_format(
        ops::ternary_linear(&d, &acts(1, 6), &bad_k, None),
        |e| {
            matches!(
                e,
                FormatError::KNotDivisible {
                    k: 6,
                    multiple: 4,
                    ..
                }
            )
        },
        &["in_features 6", "multiple of 4"],
    );
    // x with the wrong number of values / scales.
    let mut x = acts(2, 8);
    x.values.pop();
    expect_format(
        ops::ternary_linear(&d, &x, &w, None),
        |e| {
            matches!(
                e,
                FormatError::ShapeMismatch {
                    expected: 16,
                    got: 15,
                    ..
                }
            )
        },
        &["activation values"],
    );
    let mut x = acts(2, 8);
    x.scales.push(1.0);
    expect_format(
        ops::ternary_linear(&d, &x, &w, None),
        |e| {
            matches!(
                e,
                FormatError::ShapeMismatch {
                    expected: 2,
                    got: 3,
                    ..
                }
            )
        },
        &["activation scales"],
    );
    // Bias of the wrong length.
    expect_shape(
        ops::ternary_linear(&d, &acts(2, 8), &w, Some(&[0.0; 4])),
        OP,
        &["bias has 4 elements, expected 5"],
    );
    // Packed weights of the wrong length.
    let mut bad = w.clone();
    bad.packed.pop();
    expect_format(
        ops::ternary_linear(&d, &acts(2, 8), &bad, None),
        |e| {
            matches!(
                e,
                FormatError::ShapeMismatch {
                    expected: 10,
                    got: 9,
                    ..
                }
            )
        },
        &["ternary packed"],
    );
    // Scales that do not match the granularity.
    let mut bad = w.clone();
    bad.scales.truncate(1);
    expect_format(
        ops::ternary_linear(&d, &acts(2, 8), &bad, None),
        |e| {
            matches!(
                e,
                FormatError::ShapeMismatch {
                    expected: 5,
                    got: 1,
                    ..
                }
            )
        },
        &["ternary scales"],
    );
    let mut bad = ternary_weights(5, 8, ScaleGranularity::PerTensor);
    bad.scales.push(1.0);
    expect_format(
        ops::ternary_linear(&d, &acts(2, 8), &bad, None),
        |e| {
            matches!(
                e,
                FormatError::ShapeMismatch {
                    expected: 1,
                    got: 2,
                    ..
                }
            )
        },
        &["ternary scales"],
    );
    // Mismatched in_features.
    expect_shape(
        ops::ternary_linear(&d, &acts(2, 12), &w, None),
        OP,
        &["12 features", "take 8"],
    );
}

#[test]
fn int4_errors() {
    let d = Device::interpreter();
    let w = int4_weights(3, 64, Int4Group::Size(32));

    // K not a multiple of 16.
    let bad_k = Int4Weights {
        out_features: 2,
        in_features: 24,
        group: Int4Group::PerRow,
        packed: vec![0; 3],
        scales: vec![1.0; 2],
    };
    let is_k = |e: &FormatError| {
        matches!(
            e,
            FormatError::KNotDivisible {
                k: 24,
                multiple: 16,
                ..
            }
        )
    };
    let k_msg = &["in_features 24", "multiple of 16"];
    expect_format(ops::int4_w4a8(&d, &acts(1, 24), &bad_k), is_k, k_msg);
    expect_format(
        ops::int4_w4a16(&d, &[f16::ZERO; 24], 1, &bad_k),
        is_k,
        k_msg,
    );

    // A group that does not divide K.
    let mut bad = w.clone();
    bad.group = Int4Group::Size(48);
    let is_group = |e: &FormatError| matches!(e, FormatError::InvalidGroup { group: 48, k: 64 });
    expect_format(
        ops::int4_w4a8(&d, &acts(1, 64), &bad),
        is_group,
        &["group size 48"],
    );
    expect_format(
        ops::int4_w4a16(&d, &[f16::ZERO; 64], 1, &bad),
        is_group,
        &["group size 48"],
    );

    // Packed words of the wrong length.
    let mut bad = w.clone();
    bad.packed.push(0);
    let is_packed = |e: &FormatError| {
        matches!(
            e,
            FormatError::ShapeMismatch {
                expected: 12,
                got: 13,
                ..
            }
        )
    };
    expect_format(
        ops::int4_w4a8(&d, &acts(1, 64), &bad),
        is_packed,
        &["int4 packed"],
    );
    expect_format(
        ops::int4_w4a16(&d, &[f16::ZERO; 64], 1, &bad),
        is_packed,
        &["int4 packed"],
    );

    // Scales of the wrong length (3 rows x 2 groups).
    let mut bad = w.clone();
    bad.scales.pop();
    let is_scales = |e: &FormatError| {
        matches!(
            e,
            FormatError::ShapeMismatch {
                expected: 6,
                got: 5,
                ..
            }
        )
    };
    expect_format(
        ops::int4_w4a8(&d, &acts(1, 64), &bad),
        is_scales,
        &["int4 scales"],
    );
    expect_format(
        ops::int4_w4a16(&d, &[f16::ZERO; 64], 1, &bad),
        is_scales,
        &["int4 scales"],
    );

    // x of the wrong length.
    let mut x = acts(2, 64);
    x.values.truncate(100);
    expect_format(
        ops::int4_w4a8(&d, &x, &w),
        |e| {
            matches!(
                e,
                FormatError::ShapeMismatch {
                    expected: 128,
                    got: 100,
                    ..
                }
            )
        },
        &["activation values"],
    );
    expect_shape(
        ops::int4_w4a16(&d, &[f16::ZERO; 127], 2, &w),
        "int4_w4a16",
        &["x has 127 elements, expected 128"],
    );

    // Mismatched in_features.
    expect_shape(
        ops::int4_w4a8(&d, &acts(2, 32), &w),
        "int4_w4a8",
        &["32 features", "take 64"],
    );
}

#[test]
fn rmsnorm_quantize_errors() {
    let d = Device::interpreter();
    const OP: &str = "rmsnorm_quantize";
    let x = vec![1.0f32; 14];
    let weight = vec![1.0f32; 7];

    // Wrong lengths.
    expect_shape(
        ops::rmsnorm_quantize(&d, &x[..13], 2, 7, None, 1e-5),
        OP,
        &["x has 13 elements, expected 14"],
    );
    expect_shape(
        ops::rmsnorm_quantize(&d, &x, 2, 7, Some(&weight[..6]), 1e-5),
        OP,
        &["weight has 6 elements, expected 7"],
    );

    // Non-finite input: the error names the input and the index of the bad element.
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut xb = x.clone();
        xb[9] = bad;
        expect_format(
            ops::rmsnorm_quantize(&d, &xb, 2, 7, Some(&weight), 1e-5),
            |e| matches!(e, FormatError::NonFinite { index: 9, .. }),
            &["input", "element 9"],
        );
        // A non-finite weight is named as the weight, with its own index.
        let mut wb = weight.clone();
        wb[3] = bad;
        expect_format(
            ops::rmsnorm_quantize(&d, &x, 2, 7, Some(&wb), 1e-5),
            |e| matches!(e, FormatError::NonFinite { index: 3, what } if what.contains("weight")),
            &["weight", "element 3"],
        );
    }

    // eps <= 0, NaN or infinite.
    for eps in [0.0, -0.0, -1e-5, f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        expect_shape(
            ops::rmsnorm_quantize(&d, &x, 2, 7, None, eps),
            OP,
            &["eps", "finite and > 0"],
        );
    }
}

#[test]
fn invalid_ternary_codes_are_rejected() {
    let dev = Device::interpreter();
    // Element 6 (byte 1, position 2) holds the invalid code 3.
    let packed = [0b0001_1001u8, 0b0011_0000];
    let err = bitmat::ops::ternary_matmul(&dev, &[1i8; 8], 1, 8, &packed, 1).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Format(FormatError::InvalidCode { index: 6, .. })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("code 3"), "{err}");
}

#[test]
fn ternary_gemv_matches_the_reference() -> Result<(), Error> {
    use bitmat::kernels::ternary::w2a8_gemv;
    let mut rng = StdRng::seed_from_u64(11);
    for &(m, n, k) in &[
        (1usize, 5usize, 4usize),
        (1, 100, 260),
        (3, 64, 36),
        (2, 33, 1000),
    ] {
        let x: Vec<i8> = (0..m * k).map(|_| rng.gen_range(-127..=127)).collect();
        let wq: Vec<i8> = (0..n * k).map(|_| rng.gen_range(-1..=1)).collect();
        let packed = pack_ternary(&wq, n, k)?;
        let want = reference::matmul_i8_ternary(&x, m, k, &packed, n)?;
        for dev in [Device::interpreter(), Device::cpu()] {
            let c = dev.zeros::<i32>(m * n)?;
            let grid = (n.div_ceil(16) as u32, m as u32);
            let (xb, wb) = (dev.upload(&x)?, dev.upload(&packed)?);
            w2a8_gemv::launch(
                &dev, grid, &xb, &wb, &c, m as i32, n as i32, k as i32, 16, 64,
            )?;
            assert_eq!(c.to_vec()?, want, "{dev} m={m} n={n} k={k}");
        }
    }
    Ok(())
}

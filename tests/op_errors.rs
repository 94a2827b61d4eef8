//! Typed errors of the prebuilt ops (`bitmat::ops`) for bad input: shape mismatches, K not
//! divisible by the packing, invalid groups and codes, non-finite input. Their results are
//! checked on every backend by the conformance suite (`tests/conformance/prebuilt.rs`).

use bitmat::formats::{
    quantize_int4, quantize_ternary, FormatError, Int4Group, Int4Weights, QuantizedActivations,
    ScaleGranularity, TernaryWeights,
};
use bitmat::{f16, ops, Device, Error};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Gaussian-ish values (sum of four uniforms, unit variance).
fn gaussian(rng: &mut StdRng, len: usize) -> Vec<f32> {
    (0..len)
        .map(|_| (0..4).map(|_| rng.gen_range(-1.0f32..1.0)).sum::<f32>() * 0.866)
        .collect()
}

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

/// The prebuilt matmuls launched on device buffers (`bitmat::tuned`) check each buffer against
/// the shapes, and reject shapes whose element offsets overflow the kernels' 32-bit indexing,
/// before anything runs (the launches are unchecked).
#[test]
fn tuned_matmuls_check_buffers_and_32_bit_offsets() {
    use bitmat::tuned::{Int4Activations, Int4Matmul, TernaryMatmul, W4A4Matmul};
    let dev = Device::cpu();
    let (x, w, c) = (
        dev.zeros::<i8>(64).unwrap(),
        dev.zeros::<u8>(64).unwrap(),
        dev.zeros::<i32>(64).unwrap(),
    );
    let ternary = |m: i32, n: i32, k: i32| TernaryMatmul {
        x: &x,
        w: &w,
        c: &c,
        m,
        n,
        k,
    };
    expect_shape(
        ternary(65536, 1, 65536).launch(&dev),
        "ternary matmul",
        &["x", "m * k", "32-bit"],
    );
    expect_shape(
        ternary(2, 64, 32).launch(&dev),
        "ternary matmul",
        &["w has 64 elements", "n * k / 4 = 512"],
    );
    expect_shape(
        ternary(2, 2, 6).launch(&dev),
        "ternary matmul",
        &["multiple of 4"],
    );
    expect_shape(
        ternary(-1, 2, 8).launch(&dev),
        "ternary matmul",
        &["m = -1", "negative"],
    );
    ternary(2, 4, 16).launch(&dev).unwrap();

    let (xh, wq, s, y) = (
        dev.zeros::<f16>(64).unwrap(),
        dev.zeros::<u64>(4).unwrap(),
        dev.zeros::<f32>(4).unwrap(),
        dev.zeros::<f32>(16).unwrap(),
    );
    let int4 = |m: i32, n: i32, k: i32, group: i32| Int4Matmul {
        x: Int4Activations::F16(&xh),
        w: &wq,
        scales: &s,
        y: &y,
        m,
        n,
        k,
        group,
    };
    expect_shape(
        int4(1 << 16, 1 << 16, 1 << 16, 32).launch(&dev),
        "int4 matmul",
        &["32-bit"],
    );
    expect_shape(
        int4(1, 2, 64, 48).launch(&dev),
        "int4 matmul",
        &["group size 48"],
    );
    expect_shape(
        int4(1, 8, 64, 32).launch(&dev),
        "int4 matmul",
        &["w has 4 elements", "n * k / 16 = 32"],
    );
    int4(1, 2, 32, 32).launch(&dev).unwrap();

    let (xa, bias) = (dev.zeros::<u64>(4).unwrap(), dev.zeros::<i32>(1).unwrap());
    let w4a4 = W4A4Matmul {
        x: &xa,
        w: &xa,
        bias: &bias,
        has_bias: true,
        c: &c,
        m: 2,
        n: 2,
        k: 32,
        k_words: 2,
    };
    expect_shape(
        w4a4.launch(&dev),
        "w4a4 matmul",
        &["bias has 1 elements", "n = 2"],
    );
}

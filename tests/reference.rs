//! Hand-checked examples for `bitmat::reference`. Expected values are worked out
//! by hand in the comments (all scales are powers of two, so f32 results are exact).

use bitmat::formats::*;
use bitmat::reference::*;
use half::f16;

// x[2, 4] and Wq[3, 4] used by the ternary tests.
const X: [i8; 8] = [1, 2, 3, 4, -1, 0, 5, -2];
// Wq rows: [1, -1, 0, 1] -> 0x49; [0, 0, -1, -1] -> codes 00 00 10 10 -> 0xA0; [1, 1, 1, 1] -> 0x55.
const W_PACKED: [u8; 3] = [0x49, 0xA0, 0x55];
// c[0] = [1-2+0+4, -3-4, 1+2+3+4] = [3, -7, 10]
// c[1] = [-1+0+0-2, -5+2, -1+0+5-2] = [-3, -3, 2]
const C: [i32; 6] = [3, -7, 10, -3, -3, 2];

#[test]
fn matmul_i8_ternary_by_hand() {
    assert_eq!(
        matmul_i8_ternary(&X, 2, 4, &W_PACKED, 3).unwrap(),
        C.to_vec()
    );
    // Errors, not panics.
    assert!(matches!(
        matmul_i8_ternary(&X, 2, 4, &W_PACKED[..2], 3),
        Err(FormatError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        matmul_i8_ternary(&X[..7], 2, 4, &W_PACKED, 3),
        Err(FormatError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        matmul_i8_ternary(&X, 2, 4, &[0x49, 0xA0, 0xFF], 3),
        Err(FormatError::InvalidCode { index: 8, .. })
    ));
    assert!(matches!(
        matmul_i8_ternary(&X, 4, 2, &W_PACKED, 3),
        Err(FormatError::KNotDivisible { .. })
    ));
}

fn acts() -> QuantizedActivations {
    QuantizedActivations {
        rows: 2,
        cols: 4,
        values: X.to_vec(),
        scales: vec![0.5, 0.25],
    }
}

fn tern(scales: Vec<f32>, granularity: ScaleGranularity) -> TernaryWeights {
    TernaryWeights {
        out_features: 3,
        in_features: 4,
        packed: W_PACKED.to_vec(),
        scales,
        granularity,
    }
}

#[test]
fn ternary_linear_by_hand() {
    let w = tern(vec![2.0, 0.5, 1.0], ScaleGranularity::PerRow);
    let bias = [1.0, -1.0, 0.5];
    // row 0 (sx 0.5): 3*0.5*2+1 = 4, -7*0.5*0.5-1 = -2.75, 10*0.5*1+0.5 = 5.5
    // row 1 (sx 0.25): -3*0.25*2+1 = -0.5, -3*0.25*0.5-1 = -1.375, 2*0.25*1+0.5 = 1.0
    assert_eq!(
        ternary_linear(&acts(), &w, Some(&bias)).unwrap(),
        vec![4.0, -2.75, 5.5, -0.5, -1.375, 1.0]
    );
    assert_eq!(
        ternary_linear(&acts(), &w, None).unwrap(),
        vec![3.0, -1.75, 5.0, -1.5, -0.375, 0.5]
    );
    // Per tensor scale 4: c * sx * 4.
    let w = tern(vec![4.0], ScaleGranularity::PerTensor);
    assert_eq!(
        ternary_linear(&acts(), &w, None).unwrap(),
        vec![6.0, -14.0, 20.0, -3.0, -3.0, 2.0]
    );
    // Mismatches are errors.
    assert!(ternary_linear(&acts(), &w, Some(&[1.0])).is_err());
    let bad = tern(vec![1.0, 2.0], ScaleGranularity::PerRow);
    assert!(ternary_linear(&acts(), &bad, None).is_err());
    let mut x = acts();
    x.cols = 8;
    x.rows = 1;
    x.scales = vec![1.0];
    assert!(matches!(
        ternary_linear(&x, &w, None),
        Err(FormatError::DimensionMismatch {
            left: 8,
            right: 4,
            ..
        })
    ));
}

/// Int4 weights [2, 32], groups of 16:
/// row 0: q = 3 (group 0), -1 (group 1), scales [0.5, 0.25];
/// row 1: q = 7 everywhere, scales [1.0, 2.0].
fn int4_weights() -> Int4Weights {
    Int4Weights {
        out_features: 2,
        in_features: 32,
        group: Int4Group::Size(16),
        packed: vec![
            0x3333_3333_3333_3333,
            u64::MAX,
            0x7777_7777_7777_7777,
            0x7777_7777_7777_7777,
        ],
        scales: vec![0.5, 0.25, 1.0, 2.0],
    }
}

#[test]
fn int4_w4a8_by_hand() {
    // x: 1 on cols 0..16, 2 on cols 16..32, scale 0.125.
    let mut values = vec![1i8; 16];
    values.extend([2i8; 16]);
    let x = QuantizedActivations {
        rows: 1,
        cols: 32,
        values,
        scales: vec![0.125],
    };
    // n=0: acc0 = 16*1*3 = 48, acc1 = 16*2*(-1) = -32; 48*0.5 + (-32)*0.25 = 16; *0.125 = 2
    // n=1: acc0 = 16*7 = 112, acc1 = 16*2*7 = 224; 112*1 + 224*2 = 560; *0.125 = 70
    assert_eq!(int4_w4a8(&x, &int4_weights()).unwrap(), vec![2.0, 70.0]);
    // Grouping matters: the same weights read per row would be different.
    let mut per_row = int4_weights();
    per_row.group = Int4Group::PerRow;
    assert!(int4_w4a8(&x, &per_row).is_err()); // 4 scales for 2 rows x 1 group
    per_row.scales = vec![0.5, 1.0];
    // n=0: acc = 48 - 32 = 16; 16*0.5*0.125 = 1; n=1: acc = 336; 336*1*0.125 = 42
    assert_eq!(int4_w4a8(&x, &per_row).unwrap(), vec![1.0, 42.0]);
}

#[test]
fn int4_w4a16_by_hand() {
    // x: 0.5 on cols 0..16, 1.0 on cols 16..32, two identical rows (m = 2).
    let mut row = vec![f16::from_f32(0.5); 16];
    row.extend(vec![f16::from_f32(1.0); 16]);
    let x: Vec<f16> = row.iter().chain(&row).copied().collect();
    // n=0: 16*0.5*(3*0.5) + 16*1*(-1*0.25) = 12 - 4 = 8
    // n=1: 16*0.5*(7*1) + 16*1*(7*2) = 56 + 224 = 280
    assert_eq!(
        int4_w4a16(&x, 2, &int4_weights()).unwrap(),
        vec![8.0, 280.0, 8.0, 280.0]
    );
    assert!(matches!(
        int4_w4a16(&x[..31], 1, &int4_weights()),
        Err(FormatError::ShapeMismatch { .. })
    ));
}

#[test]
fn rmsnorm_quantize_by_hand() {
    // Row 0: [2, 2, -2, 2]: ms = 4, inv = 0.5 -> [1, 1, -1, 1]
    // Row 1: [1, -1, 1, -1]: ms = 1, inv = 1 -> [1, -1, 1, -1]
    // times weight [1, -0.75, 0.1, 0]:
    //   row 0 -> [1, -0.75, -0.1, 0], row 1 -> [1, 0.75, 0.1, 0]
    // amax = 1 -> scale = 1/127; q = round(y * 127) = [127, -95 (95.25), -13 (12.7), 0]
    let x = [2.0, 2.0, -2.0, 2.0, 1.0, -1.0, 1.0, -1.0];
    let q = rmsnorm_quantize(&x, 2, 4, Some(&[1.0, -0.75, 0.1, 0.0]), 0.0).unwrap();
    assert_eq!(q.rows, 2);
    assert_eq!(q.cols, 4);
    assert_eq!(q.scales, vec![1.0f32 / 127.0; 2]);
    assert_eq!(q.values, vec![127, -95, -13, 0, 127, 95, 13, 0]);
    // An all-zero row with eps = 0 gives NaN after the norm, reported as an error.
    assert!(matches!(
        rmsnorm_quantize(&[0.0; 4], 1, 4, None, 0.0),
        Err(FormatError::NonFinite { .. })
    ));
    // With eps > 0 it is all zeros.
    let q = rmsnorm_quantize(&[0.0; 4], 1, 4, None, 1e-6).unwrap();
    assert_eq!(q.values, vec![0; 4]);
}

#[test]
fn references_agree_with_dequantized_float_matmul() {
    // Cross-check on a quantized example: ternary_linear equals the float product of
    // the dequantized operands up to rounding.
    let w: Vec<f32> = (0..3 * 8)
        .map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.1)
        .collect();
    let t = quantize_ternary(&w, 3, 8, ScaleGranularity::PerRow).unwrap();
    let xf: Vec<f32> = (0..2 * 8)
        .map(|i| ((i * 5 % 13) as f32 - 6.0) * 0.3)
        .collect();
    let x = quantize_activations(&xf, 2, 8).unwrap();
    let y = ternary_linear(&x, &t, None).unwrap();
    let wd = t.dequantize().unwrap();
    let xd = x.dequantize().unwrap();
    for i in 0..2 {
        for j in 0..3 {
            let f: f32 = (0..8).map(|k| xd[i * 8 + k] * wd[j * 8 + k]).sum();
            assert!(
                (f - y[i * 3 + j]).abs() <= 1e-4 * (1.0 + f.abs()),
                "{f} vs {}",
                y[i * 3 + j]
            );
        }
    }
}

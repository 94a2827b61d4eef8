//! Property and layout tests for `bitmat::formats`.

use bitmat::formats::*;
use proptest::collection::vec;
use proptest::prelude::*;

// ---------------------------------------------------------------- layout, by hand

#[test]
fn ternary_byte_layout() {
    // codes: 1 -> 01, -1 -> 10, 0 -> 00, 1 -> 01; lowest bits first.
    assert_eq!(
        pack_ternary(&[1, -1, 0, 1], 1, 4).unwrap(),
        vec![0b01_00_10_01]
    );
    assert_eq!(0b01_00_10_01, 0x49);
    assert_eq!(pack_ternary(&[-1, -1, -1, -1], 1, 4).unwrap(), vec![0xAA]);
    assert_eq!(pack_ternary(&[1, 1, 1, 1], 1, 4).unwrap(), vec![0x55]);
    // Two rows of 8: bytes are [row0 cols 0..4, row0 cols 4..8, row1 ..., row1 ...].
    let v = [0, 0, 0, 0, -1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, -1];
    assert_eq!(
        pack_ternary(&v, 2, 8).unwrap(),
        vec![0x00, 0x02, 0x40, 0x81]
    );
    assert_eq!(
        unpack_ternary(&[0x00, 0x02, 0x40, 0x81], 2, 8).unwrap(),
        v.to_vec()
    );
}

#[test]
fn int4_word_layout() {
    // 1..=7 are their own nibbles; -8..=-1 are 0x8..=0xF (two's complement).
    let v: Vec<i8> = vec![1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1, 0];
    assert_eq!(pack_int4(&v, 1, 16).unwrap(), vec![0x0FED_CBA9_8765_4321]);
    assert_eq!(unpack_int4(&[0x0FED_CBA9_8765_4321], 1, 16).unwrap(), v);
    assert_eq!(pack_int4(&[-1; 16], 1, 16).unwrap(), vec![u64::MAX]);
    let mut w = vec![0i8; 32];
    w[16] = -2; // second word, nibble 0 -> 0xE
    w[31] = 7; // second word, nibble 15
    assert_eq!(
        pack_int4(&w, 1, 32).unwrap(),
        vec![0, 0x7000_0000_0000_000E]
    );
    assert_eq!(unpack_int4(&[0, 0x7000_0000_0000_000E], 1, 32).unwrap(), w);
    let u: Vec<u8> = (0..16).collect();
    assert_eq!(pack_uint4(&u, 1, 16).unwrap(), vec![0xFEDC_BA98_7654_3210]);
    assert_eq!(unpack_uint4(&[0xFEDC_BA98_7654_3210], 1, 16).unwrap(), u);
}

// ---------------------------------------------------------------- quantizers, by hand

#[test]
fn ternary_quantize_by_hand() {
    // mean |w| = (1.5 + 0.5 + 1.5 + 0.5) / 4 = 1; w / 1 rounds ties-to-even: 1.5 -> 2 -> clamp 1.
    let t = quantize_ternary(&[1.5, 0.5, -1.5, -0.5], 1, 4, ScaleGranularity::PerTensor).unwrap();
    assert_eq!(t.scales, vec![1.0]);
    assert_eq!(t.values().unwrap(), vec![1, 0, -1, 0]);
    assert_eq!(t.dequantize().unwrap(), vec![1.0, 0.0, -1.0, 0.0]);
    // Per row: row 0 mean 1, row 1 mean 0.25 (values 0.25, -0.25, 0.125, 0.375 -> 1,-1,0 (0.5->0),2->1).
    let w = [1.5, 0.5, -1.5, -0.5, 0.25, -0.25, 0.125, 0.375];
    let t = quantize_ternary(&w, 2, 4, ScaleGranularity::PerRow).unwrap();
    assert_eq!(t.scales, vec![1.0, 0.25]);
    assert_eq!(t.values().unwrap(), vec![1, 0, -1, 0, 1, -1, 0, 1]);
    assert_eq!(t.scale_of_row(1), 0.25);
    assert!(t.scale_of_row(2).is_nan());
    // Per tensor over both rows: mean = (4 + 1) / 8 = 0.625.
    let t = quantize_ternary(&w, 2, 4, ScaleGranularity::PerTensor).unwrap();
    assert_eq!(t.scales, vec![0.625]);
    assert_eq!(t.scale_of_row(1), 0.625);
    // All zeros: scale floors at 1e-5.
    let t = quantize_ternary(&[0.0; 4], 1, 4, ScaleGranularity::PerTensor).unwrap();
    assert_eq!(t.scales, vec![1e-5]);
    assert_eq!(t.values().unwrap(), vec![0; 4]);
}

#[test]
fn int4_quantize_by_hand() {
    // amax 7 -> scale 1; ties to even: -3.5 -> -4, 2.5 -> 2, -0.5 -> 0.
    let mut w = vec![0.0f32; 16];
    w[..5].copy_from_slice(&[7.0, -3.5, 2.5, -0.5, 1.0]);
    let q = quantize_int4(&w, 1, 16, Int4Group::PerRow).unwrap();
    assert_eq!(q.scales, vec![1.0]);
    assert_eq!(q.group_size(), 16);
    let mut want = vec![0i8; 16];
    want[..5].copy_from_slice(&[7, -4, 2, 0, 1]);
    assert_eq!(q.values(), want);
    assert_eq!(q.dequantize()[..5], [7.0, -4.0, 2.0, 0.0, 1.0]);
    // Two groups of 16: amax 14 -> scale 2, amax 0 -> 1e-8 / 7.
    let mut w = vec![0.0f32; 32];
    w[0] = -14.0;
    w[1] = 3.0; // 1.5 -> 2
    let q = quantize_int4(&w, 1, 32, Int4Group::Size(16)).unwrap();
    assert_eq!(q.scales, vec![2.0, 1e-8f32 / 7.0]);
    assert_eq!(q.values()[..2], [-7, 2]);
    assert_eq!(q.groups_per_row(), 2);
}

#[test]
fn activation_quantize_by_hand() {
    // amax 127 -> scale 1 exactly; ties to even.
    let q = quantize_activations(&[127.0, 0.5, 1.5, -2.5, 0.0, 0.0, 0.0, 0.0], 2, 4).unwrap();
    assert_eq!(q.scales, vec![1.0, 1e-5f32 / 127.0]);
    assert_eq!(q.values, vec![127, 0, 2, -2, 0, 0, 0, 0]);
    let q = quantize_activations(&[-254.0, 63.0], 1, 2).unwrap();
    assert_eq!(q.scales, vec![2.0]);
    assert_eq!(q.values, vec![-127, 32]); // 31.5 -> 32 (even)
}

#[test]
fn rms_norm_by_hand() {
    // Row 0: ms = 4, inv = 0.5; row 1: ms = 1, inv = 1.
    let x = [2.0, 2.0, -2.0, 2.0, 1.0, -1.0, 1.0, -1.0];
    let y = rms_norm(&x, 2, 4, None, 0.0).unwrap();
    assert_eq!(y, vec![1.0, 1.0, -1.0, 1.0, 1.0, -1.0, 1.0, -1.0]);
    let y = rms_norm(&x, 2, 4, Some(&[1.0, 0.5, 2.0, 0.0]), 0.0).unwrap();
    assert_eq!(y, vec![1.0, 0.5, -2.0, 0.0, 1.0, -0.5, 2.0, 0.0]);
    // eps: ms = 3 + 1 = 4 -> inv 0.5.
    let y = rms_norm(&[3.0f32.sqrt(); 2], 1, 2, None, 1.0).unwrap();
    assert_eq!(y, vec![3.0f32.sqrt() * 0.5; 2]);
    assert!(rms_norm(&x, 2, 4, Some(&[1.0; 3]), 1e-5).is_err());
    assert!(matches!(
        rms_norm(&x, 2, 4, None, f32::NAN),
        Err(FormatError::NonFinite { .. })
    ));
}

// ---------------------------------------------------------------- errors

#[test]
fn k_not_divisible_message() {
    let e = pack_ternary(&[0; 10], 1, 10).unwrap_err();
    assert_eq!(
        e,
        FormatError::KNotDivisible {
            format: "ternary",
            k: 10,
            multiple: 4
        }
    );
    assert_eq!(
        e.to_string(),
        "in_features 10 is not a multiple of 4, which ternary packing needs (4 codes per byte); \
         pad K to a multiple of 4"
    );
    let e = quantize_int4(&[0.0; 24], 1, 24, Int4Group::PerRow).unwrap_err();
    assert_eq!(
        e,
        FormatError::KNotDivisible {
            format: "int4",
            k: 24,
            multiple: 16
        }
    );
    assert!(e.to_string().contains("16 values per u64 word"));
}

#[test]
fn invalid_codes_and_values() {
    // byte 0b11 << 4: element 2 holds code 3.
    assert_eq!(
        unpack_ternary(&[0b0011_0000], 1, 4).unwrap_err(),
        FormatError::InvalidCode {
            format: "ternary",
            index: 2,
            value: 3,
            expected: "a 2-bit code 0 (0), 1 (+1) or 2 (-1); code 3 is invalid",
        }
    );
    assert!(matches!(
        pack_ternary(&[0, 0, 0, 0, 0, 2, 0, 0], 1, 8),
        Err(FormatError::InvalidCode {
            index: 5,
            value: 2,
            ..
        })
    ));
    let mut v = [0i8; 16];
    v[3] = 8;
    assert!(matches!(
        pack_int4(&v, 1, 16),
        Err(FormatError::InvalidCode {
            index: 3,
            value: 8,
            ..
        })
    ));
    v[3] = -9;
    assert!(matches!(
        pack_int4(&v, 1, 16),
        Err(FormatError::InvalidCode { value: -9, .. })
    ));
    let mut u = [0u8; 16];
    u[15] = 16;
    assert!(matches!(
        pack_uint4(&u, 1, 16),
        Err(FormatError::InvalidCode {
            index: 15,
            value: 16,
            ..
        })
    ));
    // A packed TernaryWeights holding a code 3 errors instead of panicking.
    let t = TernaryWeights {
        out_features: 1,
        in_features: 4,
        packed: vec![0xFF],
        scales: vec![1.0],
        granularity: ScaleGranularity::PerTensor,
    };
    assert!(matches!(
        t.values(),
        Err(FormatError::InvalidCode { index: 0, .. })
    ));
    assert!(t.dequantize().is_err());
}

#[test]
fn invalid_groups() {
    let w = vec![0.5f32; 2 * 64];
    for g in [0, 8, 24, 48, 128] {
        assert_eq!(
            quantize_int4(&w, 2, 64, Int4Group::Size(g)).unwrap_err(),
            FormatError::InvalidGroup { group: g, k: 64 }
        );
    }
    for g in [16, 32, 64] {
        let q = quantize_int4(&w, 2, 64, Int4Group::Size(g)).unwrap();
        assert_eq!(q.scales.len(), 2 * 64 / g);
        q.validate().unwrap();
    }
}

#[test]
fn shape_and_empty_errors() {
    assert!(matches!(
        pack_ternary(&[0; 7], 2, 4),
        Err(FormatError::ShapeMismatch {
            expected: 8,
            got: 7,
            ..
        })
    ));
    assert!(matches!(
        unpack_ternary(&[0; 3], 2, 4),
        Err(FormatError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        unpack_int4(&[0; 3], 2, 16),
        Err(FormatError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        quantize_activations(&[0.0; 5], 2, 3),
        Err(FormatError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        quantize_ternary(&[], 0, 4, ScaleGranularity::PerRow),
        Err(FormatError::Empty { .. })
    ));
    assert!(matches!(
        quantize_int4(&[], 1, 0, Int4Group::PerRow),
        Err(FormatError::Empty { .. })
    ));
    assert!(matches!(
        pack_ternary(&[], usize::MAX, 8),
        Err(FormatError::SizeOverflow { .. })
    ));
    // Inconsistent hand-built structs: errors or empty output, never a panic.
    let q = Int4Weights {
        out_features: 2,
        in_features: 32,
        group: Int4Group::Size(16),
        packed: vec![0; 3],
        scales: vec![1.0; 4],
    };
    assert!(q.validate().is_err());
    assert!(q.values().is_empty());
    assert!(q.dequantize().is_empty());
    // Empty activations are fine.
    let a = quantize_activations(&[], 0, 8).unwrap();
    assert!(a.values.is_empty() && a.scales.is_empty());
}

// ---------------------------------------------------------------- properties

fn ternary_values() -> impl Strategy<Value = (usize, usize, Vec<i8>)> {
    (0usize..6, 0usize..6).prop_flat_map(|(o, k4)| {
        let inp = 4 * k4;
        (Just(o), Just(inp), vec(-1i8..=1, o * inp))
    })
}

fn int4_shape() -> impl Strategy<Value = (usize, usize)> {
    (0usize..5, 0usize..4).prop_map(|(r, k16)| (r, 16 * k16))
}

/// Finite weights with varied magnitudes (including tiny ones and exact zeros).
fn weight() -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => -10.0f32..10.0,
        1 => -1e-6f32..1e-6,
        1 => Just(0.0f32),
        1 => -1e30f32..1e30,
    ]
}

fn weights(o: usize, k: usize) -> impl Strategy<Value = Vec<f32>> {
    vec(weight(), o * k)
}

/// Sequential f64 absmean with the 1e-5 floor, computed independently.
fn expected_ternary_scale(w: &[f32]) -> f32 {
    let mut s = 0.0f64;
    for &v in w {
        s += (v as f64).abs();
    }
    ((s / w.len() as f64) as f32).max(1e-5)
}

proptest! {
    #[test]
    fn ternary_roundtrip((o, k, v) in ternary_values()) {
        let p = pack_ternary(&v, o, k).unwrap();
        prop_assert_eq!(p.len(), o * k / 4);
        prop_assert_eq!(unpack_ternary(&p, o, k).unwrap(), v);
    }

    #[test]
    fn ternary_bytes_roundtrip(bytes in vec(any::<u8>(), 0..24)) {
        let k = 4 * bytes.len();
        match unpack_ternary(&bytes, 1, k) {
            Ok(v) => prop_assert_eq!(pack_ternary(&v, 1, k).unwrap(), bytes),
            Err(FormatError::InvalidCode { index, value, .. }) => {
                prop_assert_eq!(value, 3);
                prop_assert_eq!((bytes[index / 4] >> (2 * (index % 4))) & 3, 3);
                // It is the first code 3.
                for i in 0..index {
                    prop_assert_ne!((bytes[i / 4] >> (2 * (i % 4))) & 3, 3);
                }
            }
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }

    #[test]
    fn int4_roundtrip(((r, c), seed) in (int4_shape(), any::<u64>())) {
        let v: Vec<i8> = (0..r * c)
            .map(|i| ((seed.wrapping_mul(i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60) as i8) - 8)
            .collect();
        let p = pack_int4(&v, r, c).unwrap();
        prop_assert_eq!(p.len(), r * c / 16);
        prop_assert_eq!(unpack_int4(&p, r, c).unwrap(), v);
    }

    #[test]
    fn int4_words_roundtrip(words in vec(any::<u64>(), 0..8)) {
        let c = 16 * words.len();
        let v = unpack_int4(&words, 1, c).unwrap();
        prop_assert!(v.iter().all(|x| (-8..=7).contains(x)));
        prop_assert_eq!(pack_int4(&v, 1, c).unwrap(), words.clone());
        let u = unpack_uint4(&words, 1, c).unwrap();
        prop_assert!(u.iter().all(|x| *x <= 15));
        for (i, (&s, &un)) in v.iter().zip(&u).enumerate() {
            prop_assert_eq!(((words[i / 16] >> (4 * (i % 16))) & 0xF) as u8, un);
            prop_assert_eq!(s as u8 & 0xF, un);
        }
        prop_assert_eq!(pack_uint4(&u, 1, c).unwrap(), words);
    }

    #[test]
    fn uint4_roundtrip(((r, c), v) in int4_shape().prop_flat_map(|(r, c)| (Just((r, c)), vec(0u8..=15, r * c)))) {
        let p = pack_uint4(&v, r, c).unwrap();
        prop_assert_eq!(unpack_uint4(&p, r, c).unwrap(), v);
    }

    #[test]
    fn ternary_quantizer_bounds(
        ((o, k), w, per_row) in (1usize..5, 1usize..5)
            .prop_flat_map(|(o, k4)| (Just((o, 4 * k4)), weights(o, 4 * k4), any::<bool>()))
    ) {
        let g = if per_row { ScaleGranularity::PerRow } else { ScaleGranularity::PerTensor };
        let t = quantize_ternary(&w, o, k, g).unwrap();
        prop_assert_eq!(t.packed.len(), o * k / 4);
        let q = t.values().unwrap();
        if per_row {
            prop_assert_eq!(t.scales.len(), o);
            for r in 0..o {
                prop_assert_eq!(t.scales[r], expected_ternary_scale(&w[r * k..(r + 1) * k]));
            }
        } else {
            prop_assert_eq!(t.scales.clone(), vec![expected_ternary_scale(&w)]);
        }
        for (i, (&x, &qv)) in w.iter().zip(&q).enumerate() {
            let r = x / t.scale_of_row(i / k);
            if r.abs() <= 1.5 {
                prop_assert!((r - qv as f32).abs() <= 0.5, "w/s {} q {}", r, qv);
            } else {
                prop_assert_eq!(qv as f32, r.signum());
            }
        }
        let d = t.dequantize().unwrap();
        for (i, &qv) in q.iter().enumerate() {
            prop_assert_eq!(d[i], qv as f32 * t.scale_of_row(i / k));
        }
    }

    #[test]
    fn int4_quantizer_bounds(
        ((o, k, gs), w) in (1usize..4, 1usize..5, 0usize..3)
            .prop_flat_map(|(o, k16, gi)| {
                let k = 16 * k16;
                let gs = [16usize, k, 16 * k16.min(2)][gi];
                let gs = if k % gs == 0 { gs } else { 16 };
                (Just((o, k, gs)), weights(o, k))
            })
    ) {
        let q = quantize_int4(&w, o, k, Int4Group::Size(gs)).unwrap();
        prop_assert_eq!(q.group_size(), gs);
        prop_assert_eq!(q.scales.len(), o * k / gs);
        let vals = q.values();
        let deq = q.dequantize();
        for (i, &x) in w.iter().enumerate() {
            let (r, c) = (i / k, i % k);
            let s = q.scales[r * (k / gs) + c / gs];
            let grp = &w[r * k + (c / gs) * gs..r * k + (c / gs + 1) * gs];
            let amax = grp.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            prop_assert_eq!(s, amax.max(1e-8) / 7.0);
            prop_assert!((-8..=7).contains(&vals[i]));
            prop_assert_eq!(deq[i], vals[i] as f32 * s);
            let tol = s * 0.5 + 4.0 * f32::EPSILON * (x.abs() + s);
            prop_assert!((x - deq[i]).abs() <= tol, "w {} q {} s {}", x, vals[i], s);
        }
    }

    #[test]
    fn activation_quantizer_bounds(
        ((r, c), x) in (0usize..4, 0usize..20)
            .prop_flat_map(|(r, c)| (Just((r, c)), weights(r, c)))
    ) {
        let q = quantize_activations(&x, r, c).unwrap();
        prop_assert_eq!(q.values.len(), r * c);
        prop_assert_eq!(q.scales.len(), r);
        for row in 0..r {
            let xs = &x[row * c..(row + 1) * c];
            let amax = xs.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let s = q.scales[row];
            prop_assert_eq!(s, amax.max(1e-5) / 127.0);
            for (j, &xv) in xs.iter().enumerate() {
                let qv = q.values[row * c + j];
                prop_assert!((-127..=127).contains(&qv));
                let tol = s * 0.5 + 4.0 * f32::EPSILON * (xv.abs() + s);
                prop_assert!((xv - qv as f32 * s).abs() <= tol, "x {} q {} s {}", xv, qv, s);
            }
        }
    }

    #[test]
    fn k_not_divisible_rejected(o in 1usize..4, k in 1usize..70) {
        if k % 4 != 0 {
            let e = FormatError::KNotDivisible { format: "ternary", k, multiple: 4 };
            prop_assert_eq!(pack_ternary(&vec![0; o * k], o, k).unwrap_err(), e.clone());
            prop_assert_eq!(unpack_ternary(&vec![0; o * k / 4], o, k).unwrap_err(), e.clone());
            prop_assert_eq!(
                quantize_ternary(&vec![0.5; o * k], o, k, ScaleGranularity::PerRow).unwrap_err(),
                e
            );
        }
        if k % 16 != 0 {
            let e = FormatError::KNotDivisible { format: "int4", k, multiple: 16 };
            prop_assert_eq!(pack_int4(&vec![0; o * k], o, k).unwrap_err(), e.clone());
            prop_assert_eq!(unpack_int4(&vec![0; o * k / 16], o, k).unwrap_err(), e.clone());
            prop_assert_eq!(
                quantize_int4(&vec![0.5; o * k], o, k, Int4Group::PerRow).unwrap_err(),
                e
            );
            let e = FormatError::KNotDivisible { format: "uint4", k, multiple: 16 };
            prop_assert_eq!(pack_uint4(&vec![0; o * k], o, k).unwrap_err(), e.clone());
            prop_assert_eq!(unpack_uint4(&vec![0; o * k / 16], o, k).unwrap_err(), e);
        }
    }

    #[test]
    fn non_finite_rejected(
        (idx, bad, mut w) in (0usize..64, prop_oneof![Just(f32::NAN), Just(f32::INFINITY), Just(f32::NEG_INFINITY)], weights(2, 32))
    ) {
        w[idx] = bad;
        let first = w.iter().position(|v| !v.is_finite()).unwrap();
        prop_assert!(matches!(
            quantize_ternary(&w, 2, 32, ScaleGranularity::PerTensor),
            Err(FormatError::NonFinite { index, .. }) if index == first
        ), "non-finite not rejected at {}", first);
        prop_assert!(matches!(
            quantize_int4(&w, 2, 32, Int4Group::Size(16)),
            Err(FormatError::NonFinite { index, .. }) if index == first
        ), "non-finite not rejected at {}", first);
        prop_assert!(matches!(
            quantize_activations(&w, 2, 32),
            Err(FormatError::NonFinite { index, .. }) if index == first
        ), "non-finite not rejected at {}", first);
        prop_assert!(matches!(
            rms_norm(&w, 2, 32, None, 1e-5),
            Err(FormatError::NonFinite { index, .. }) if index == first
        ), "non-finite not rejected at {}", first);
        let ok = vec![1.0f32; 64];
        prop_assert!(matches!(
            rms_norm(&ok, 2, 32, Some(&w[..32]), 1e-5),
            Err(FormatError::NonFinite { .. })
        ) || w[..32].iter().all(|v| v.is_finite()), "non-finite weight not rejected");
    }
}

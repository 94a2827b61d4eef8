//! `bitmat::nn` layers and BitTensor's W4A4 flow against plain-Rust references
//! (`bitmat::reference`, `bitmat::formats`) on random ragged shapes, on the interpreter and
//! the CPU device, plus the typed errors of bad input.

use bitmat::formats::{
    pack_ternary, pack_uint4, quantize_activations, quantize_int4, quantize_ternary, unpack_uint4,
    FormatError, Int4Group, QuantizedActivations, ScaleGranularity, TernaryWeights,
};
use bitmat::nn::{BitLinear, BitLinearOptions, Float, Int4Linear, Int4Mode, Norm};
use bitmat::{bf16, f16, ops, reference, Device, Error};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

// ------------------------------------------------------------------ helpers

fn device(cpu: bool) -> Device {
    if cpu {
        Device::cpu()
    } else {
        Device::interpreter()
    }
}

fn gaussian(rng: &mut StdRng, len: usize, scale: f32) -> Vec<f32> {
    (0..len)
        .map(|_| {
            let (u, v): (f32, f32) = (rng.gen_range(1e-6..1.0), rng.gen());
            (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos() * scale
        })
        .collect()
}

fn cast<T: Float>(x: &[f32]) -> Vec<T> {
    x.iter().map(|&v| T::from_f32(v)).collect()
}

fn widen<T: Float>(x: &[T]) -> Vec<f32> {
    x.iter().map(|&v| v.to_f32()).collect()
}

/// Relative precision of `T` (half an ulp at 1.0, doubled for a safety margin of one ulp).
fn eps_of<T: Float>() -> f32 {
    match T::NAME {
        "f16" => 2f32.powi(-10),
        "bf16" => 2f32.powi(-7),
        _ => 2f32.powi(-22),
    }
}

/// Asserts `|got - want| <= tol[i] + |want| * eps_T` elementwise (eps_T covers the final
/// rounding to `T` landing on either side of a boundary).
fn assert_close<T: Float>(got: &[T], want: &[f32], tol: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, ((g, w), t)) in got.iter().zip(want).zip(tol).enumerate() {
        let g = g.to_f32();
        let bound = t + w.abs() * eps_of::<T>() + 1e-6;
        assert!(
            (g - w).abs() <= bound,
            "{what}: element {i}: got {g}, want {w} (|diff| {} > {bound}) for {}",
            (g - w).abs(),
            T::NAME
        );
    }
}

/// The shapes `[in]`, `[m, in]`, `[2, 3, in]` and `[b, m, in]` by index.
fn shape_for(kind: usize, m: usize, features: usize) -> Vec<usize> {
    match kind % 4 {
        0 => vec![features],
        1 => vec![m, features],
        2 => vec![2, 3, features],
        _ => vec![2, m, features],
    }
}

fn rows(shape: &[usize]) -> usize {
    shape[..shape.len() - 1].iter().product()
}

// ------------------------------------------------------------------ BitLinear

#[derive(Debug, Clone)]
struct BitCase {
    seed: u64,
    k: usize,
    n: usize,
    m: usize,
    shape_kind: usize,
    norm: usize,
    bias: bool,
    per_row: bool,
    cpu: bool,
}

fn bit_case() -> impl Strategy<Value = BitCase> {
    (
        any::<u64>(),
        1usize..=20,
        1usize..=40,
        1usize..=5,
        0usize..4,
        0usize..3,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(seed, k4, n, m, shape_kind, norm, bias, per_row, cpu)| BitCase {
                seed,
                k: 4 * k4,
                n,
                m,
                shape_kind,
                norm,
                bias,
                per_row,
                cpu,
            },
        )
}

/// The plain-Rust BitLinear: (RMSNorm +) int8 quantization from `bitmat::reference` /
/// `bitmat::formats`, then `reference::ternary_linear` on the same ternary weights.
/// Returns `y` and, per element, the size of one activation quantum times the weight scale.
fn bitlinear_reference(
    x: &[f32],
    rows: usize,
    w: &TernaryWeights,
    bias: Option<&[f32]>,
    norm: &Norm,
    eps: f32,
) -> (Vec<f32>, Vec<f32>) {
    let q: QuantizedActivations = match norm {
        Norm::None => quantize_activations(x, rows, w.in_features).unwrap(),
        Norm::Rms { weight } => {
            reference::rmsnorm_quantize(x, rows, w.in_features, weight.as_deref(), eps).unwrap()
        }
    };
    let y = reference::ternary_linear(&q, w, bias).unwrap();
    let n = w.out_features;
    let quantum = (0..rows * n)
        .map(|e| q.scales[e / n] * w.scale_of_row(e % n))
        .collect();
    (y, quantum)
}

fn check_bitlinear<T: Float>(c: &BitCase) {
    let mut rng = StdRng::seed_from_u64(c.seed);
    let shape = shape_for(c.shape_kind, c.m, c.k);
    let r = rows(&shape);
    let w: Vec<T> = cast(&gaussian(&mut rng, c.n * c.k, 0.05));
    let bias: Option<Vec<T>> = c.bias.then(|| cast(&gaussian(&mut rng, c.n, 0.5)));
    let norm = match c.norm {
        0 => Norm::None,
        1 => Norm::Rms { weight: None },
        _ => Norm::Rms {
            weight: Some((0..c.k).map(|_| rng.gen_range(0.5..1.5)).collect()),
        },
    };
    let granularity = if c.per_row {
        ScaleGranularity::PerRow
    } else {
        ScaleGranularity::PerTensor
    };
    let options = BitLinearOptions::default()
        .norm(norm.clone())
        .granularity(granularity)
        .eps(1e-5);
    let dev = device(c.cpu);
    let layer = BitLinear::with_options(&dev, &w, c.k, c.n, bias.as_deref(), &options).unwrap();
    assert_eq!(layer.output_shape(&shape).unwrap(), {
        let mut s = shape.clone();
        *s.last_mut().unwrap() = c.n;
        s
    });
    let x: Vec<T> = cast(&gaussian(&mut rng, r * c.k, 2.0));
    let got = layer.forward(&x, &shape).unwrap();

    let ternary = quantize_ternary(&widen(&w), c.n, c.k, granularity).unwrap();
    let bias32 = bias.as_deref().map(widen);
    let (want, quantum) =
        bitlinear_reference(&widen(&x), r, &ternary, bias32.as_deref(), &norm, 1e-5);
    // The norm's sum of squares is ordered differently in the kernel: a few activations may
    // round to the neighbouring int8 (one quantum each) and scales differ by a few ulps.
    let slack = if c.norm == 0 { 0.0 } else { 4.0 };
    let tol: Vec<f32> = quantum
        .iter()
        .zip(&want)
        .map(|(q, y)| slack * q + y.abs() * 1e-5)
        .collect();
    assert_close(&got, &want, &tol, &format!("BitLinear {c:?}"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn bitlinear_f32_matches_reference(c in bit_case()) {
        check_bitlinear::<f32>(&c);
    }

    #[test]
    fn bitlinear_f16_matches_reference(c in bit_case()) {
        check_bitlinear::<f16>(&c);
    }

    #[test]
    fn bitlinear_bf16_matches_reference(c in bit_case()) {
        check_bitlinear::<bf16>(&c);
    }
}

#[test]
fn bitlinear_batch_2x3_with_norm_weight_and_bias_on_both_devices() {
    for cpu in [false, true] {
        check_bitlinear::<f32>(&BitCase {
            seed: 11,
            k: 68,
            n: 37,
            m: 1,
            shape_kind: 2,
            norm: 2,
            bias: true,
            per_row: false,
            cpu,
        });
    }
}

#[test]
fn bitlinear_from_packed_ternary_weights() {
    let mut rng = StdRng::seed_from_u64(3);
    let (k, n, shape) = (20usize, 9usize, [2usize, 3, 20]);
    let values: Vec<i8> = (0..n * k).map(|_| rng.gen_range(-1..=1)).collect();
    let weights = TernaryWeights {
        out_features: n,
        in_features: k,
        packed: pack_ternary(&values, n, k).unwrap(),
        scales: (0..n).map(|_| rng.gen_range(0.01..0.1)).collect(),
        granularity: ScaleGranularity::PerRow,
    };
    let bias: Vec<f32> = gaussian(&mut rng, n, 1.0);
    let x = gaussian(&mut rng, 6 * k, 1.0);
    for norm in [Norm::None, Norm::Rms { weight: None }] {
        let options = BitLinearOptions::default().norm(norm.clone());
        let layer =
            BitLinear::from_ternary(&Device::interpreter(), &weights, Some(&bias), &options)
                .unwrap();
        assert_eq!(layer.granularity(), ScaleGranularity::PerRow);
        assert!(layer.has_bias());
        let got = layer.forward(&x, &shape).unwrap();
        // Forward twice: the resident weights are not consumed or altered.
        assert_eq!(layer.forward(&x, &shape).unwrap(), got);
        let (want, quantum) = bitlinear_reference(&x, 6, &weights, Some(&bias), &norm, 1e-5);
        let slack = if norm == Norm::None { 0.0 } else { 4.0 };
        let tol: Vec<f32> = quantum
            .iter()
            .zip(&want)
            .map(|(q, y)| slack * q + y.abs() * 1e-5)
            .collect();
        assert_close(&got, &want, &tol, "from_ternary");
    }
}

#[test]
fn bitlinear_new_is_bitmat_defaults() {
    let mut rng = StdRng::seed_from_u64(5);
    let w = gaussian(&mut rng, 8 * 16, 0.1);
    let layer = BitLinear::new(&Device::cpu(), &w, 16, 8, None, 1e-5).unwrap();
    assert!(layer.has_norm());
    assert!(!layer.has_bias());
    assert_eq!(layer.eps(), 1e-5);
    assert_eq!(layer.granularity(), ScaleGranularity::PerTensor);
    assert_eq!((layer.in_features(), layer.out_features()), (16, 8));
    // Zero rows: an empty output, no launch.
    assert_eq!(
        layer.forward::<f32>(&[], &[0, 16]).unwrap(),
        Vec::<f32>::new()
    );
}

// ------------------------------------------------------------------ Int4Linear

#[derive(Debug, Clone)]
struct Int4Case {
    seed: u64,
    k: usize,
    group: Int4Group,
    n: usize,
    m: usize,
    shape_kind: usize,
    bias: bool,
    w4a8: bool,
    cpu: bool,
}

fn int4_case() -> impl Strategy<Value = Int4Case> {
    let kg = prop_oneof![
        Just((32usize, Int4Group::Size(32))),
        Just((64, Int4Group::Size(32))),
        Just((64, Int4Group::Size(64))),
        Just((128, Int4Group::Size(128))),
        Just((128, Int4Group::Size(64))),
        Just((48, Int4Group::PerRow)),
        Just((96, Int4Group::PerRow)),
    ];
    (
        any::<u64>(),
        kg,
        1usize..=24,
        1usize..=4,
        0usize..4,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(seed, (k, group), n, m, shape_kind, bias, w4a8, cpu)| Int4Case {
                seed,
                k,
                group,
                n,
                m,
                shape_kind,
                bias,
                w4a8,
                cpu,
            },
        )
}

fn check_int4<T: Float>(c: &Int4Case) {
    let mut rng = StdRng::seed_from_u64(c.seed);
    let shape = shape_for(c.shape_kind, c.m, c.k);
    let r = rows(&shape);
    let w: Vec<T> = cast(&gaussian(&mut rng, c.n * c.k, 0.05));
    let bias: Option<Vec<T>> = c.bias.then(|| cast(&gaussian(&mut rng, c.n, 0.5)));
    let mode = if c.w4a8 {
        Int4Mode::W4A8
    } else {
        Int4Mode::W4A16
    };
    let dev = device(c.cpu);
    let layer = Int4Linear::new(&dev, &w, c.k, c.n, c.group, bias.as_deref(), mode).unwrap();
    assert_eq!(layer.mode(), mode);
    let x: Vec<T> = cast(&gaussian(&mut rng, r * c.k, 1.0));
    let got = layer.forward(&x, &shape).unwrap();

    let q = quantize_int4(&widen(&w), c.n, c.k, c.group).unwrap();
    let xf = widen(&x);
    let mut want = if c.w4a8 {
        reference::int4_w4a8(&quantize_activations(&xf, r, c.k).unwrap(), &q).unwrap()
    } else {
        let xh: Vec<f16> = xf.iter().map(|&v| f16::from_f32(v)).collect();
        reference::int4_w4a16(&xh, r, &q).unwrap()
    };
    if let Some(b) = &bias {
        for (e, v) in want.iter_mut().enumerate() {
            *v += b[e % c.n].to_f32();
        }
    }
    // Sums in another order: bound by the magnitude of the terms.
    let deq = q.dequantize();
    let tol: Vec<f32> = (0..r * c.n)
        .map(|e| {
            let (i, j) = (e / c.n, e % c.n);
            let mag: f32 = (0..c.k)
                .map(|p| (xf[i * c.k + p] * deq[j * c.k + p]).abs())
                .sum();
            mag * 1e-5
        })
        .collect();
    assert_close(&got, &want, &tol, &format!("Int4Linear {c:?}"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn int4linear_f32_matches_reference(c in int4_case()) {
        check_int4::<f32>(&c);
    }

    #[test]
    fn int4linear_f16_matches_reference(c in int4_case()) {
        check_int4::<f16>(&c);
    }

    #[test]
    fn int4linear_bf16_matches_reference(c in int4_case()) {
        check_int4::<bf16>(&c);
    }
}

#[test]
fn int4linear_from_int4_and_mode_switch() {
    let mut rng = StdRng::seed_from_u64(9);
    let (k, n) = (64usize, 10usize);
    let w = quantize_int4(&gaussian(&mut rng, n * k, 0.1), n, k, Int4Group::Size(32)).unwrap();
    let bias = gaussian(&mut rng, n, 1.0);
    let x = gaussian(&mut rng, 6 * k, 1.0);
    let mut layer =
        Int4Linear::from_int4(&Device::interpreter(), &w, Some(&bias), Int4Mode::W4A8).unwrap();
    assert_eq!(layer.group(), Int4Group::Size(32));
    let mut results = Vec::new();
    for mode in [Int4Mode::W4A8, Int4Mode::W4A16] {
        layer.set_mode(mode);
        let got = layer.forward(&x, &[2, 3, k]).unwrap();
        let mut want = match mode {
            Int4Mode::W4A8 => {
                reference::int4_w4a8(&quantize_activations(&x, 6, k).unwrap(), &w).unwrap()
            }
            Int4Mode::W4A16 => {
                let xh: Vec<f16> = x.iter().map(|&v| f16::from_f32(v)).collect();
                reference::int4_w4a16(&xh, 6, &w).unwrap()
            }
        };
        for (e, v) in want.iter_mut().enumerate() {
            *v += bias[e % n];
        }
        let tol: Vec<f32> = want.iter().map(|v| v.abs() * 1e-5 + 1e-5).collect();
        assert_close(&got, &want, &tol, &format!("{mode:?}"));
        results.push(got);
    }
    // The two modes quantize activations differently.
    assert_ne!(results[0], results[1]);
}

// ------------------------------------------------------------------ BitTensor: W4A4

/// Unsigned 4-bit `values[rows, cols]` zero-padded to a multiple of 16 and packed, as
/// BitTensor's `pack_weights` does.
fn pack_padded(values: &[u8], rows: usize, cols: usize) -> Vec<u64> {
    let padded_cols = cols.div_ceil(16) * 16;
    let mut padded = vec![0u8; rows * padded_cols];
    for r in 0..rows {
        padded[r * padded_cols..r * padded_cols + cols]
            .copy_from_slice(&values[r * cols..(r + 1) * cols]);
    }
    pack_uint4(&padded, rows, padded_cols).unwrap()
}

fn naive_w4a4(x: &[u8], w: &[u8], m: usize, n: usize, k: usize, bias: Option<&[i32]>) -> Vec<i32> {
    let mut c = vec![0i32; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0i32;
            for p in 0..k {
                acc += i32::from(x[i * k + p]) * i32::from(w[j * k + p]);
            }
            c[i * n + j] = acc + bias.map_or(0, |b| b[j]);
        }
    }
    c
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn w4a4_is_exact(
        seed in any::<u64>(), m in 1usize..=9, n in 1usize..=40, k in 1usize..=80,
        with_bias in any::<bool>(), cpu in any::<bool>(),
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let x: Vec<u8> = (0..m * k).map(|_| rng.gen_range(0..16)).collect();
        let w: Vec<u8> = (0..n * k).map(|_| rng.gen_range(0..16)).collect();
        let bias: Option<Vec<i32>> =
            with_bias.then(|| (0..n).map(|_| rng.gen_range(-3000..3000)).collect());
        let (xp, wp) = (pack_padded(&x, m, k), pack_padded(&w, n, k));
        let dev = device(cpu);
        let want = naive_w4a4(&x, &w, m, n, k, bias.as_deref());
        let got = ops::packed_matmul_w4a4(&dev, &xp, m, &wp, n, k, bias.as_deref()).unwrap();
        prop_assert_eq!(&got, &want);

        // BitTensor's packed output: saturated to 0..=15, packed flat.
        let packed =
            ops::packed_matmul_w4a4_packed(&dev, &xp, m, &wp, n, k, bias.as_deref()).unwrap();
        prop_assert_eq!(packed.len(), (m * n).div_ceil(16));
        let saturated: Vec<u8> = want.iter().map(|v| (*v).clamp(0, 15) as u8).collect();
        prop_assert_eq!(ops::unpack_uint4_flat(&packed, m, n).unwrap(), saturated.clone());
        // The unused nibbles of the last word are zero, so the words equal packing the
        // zero-padded flat values.
        let mut flat = saturated;
        flat.resize(packed.len() * 16, 0);
        prop_assert_eq!(&packed, &pack_uint4(&flat, 1, flat.len()).unwrap());
    }

    #[test]
    fn bittensor_pack_unpack_round_trips(
        seed in any::<u64>(), rows in 0usize..6, words in 1usize..5,
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let cols = words * 16;
        let v: Vec<u8> = (0..rows * cols).map(|_| rng.gen_range(0..16)).collect();
        let packed = pack_uint4(&v, rows, cols).unwrap();
        prop_assert_eq!(unpack_uint4(&packed, rows, cols).unwrap(), v.clone());
        // Row-wise and flat layouts agree when cols is a multiple of 16.
        prop_assert_eq!(ops::unpack_uint4_flat(&packed, rows, cols).unwrap(), v);
    }
}

#[test]
fn bittensor_readme_flow() {
    // BitTensor's README: weight [8, 16], bias [8], x [1, 16], all 0..=15.
    let mut rng = StdRng::seed_from_u64(1);
    let w: Vec<u8> = (0..8 * 16).map(|_| rng.gen_range(0..16)).collect();
    let bias: Vec<i32> = (0..8).map(|_| rng.gen_range(0..16)).collect();
    let x: Vec<u8> = (0..16).map(|_| rng.gen_range(0..16)).collect();
    let weight_packed = pack_uint4(&w, 8, 16).unwrap(); // pack_weights
    assert_eq!(weight_packed.len(), 8);
    let dev = Device::cpu();
    let xp = pack_uint4(&x, 1, 16).unwrap();
    let exact = ops::packed_matmul_w4a4(&dev, &xp, 1, &weight_packed, 8, 16, Some(&bias)).unwrap();
    assert_eq!(exact, naive_w4a4(&x, &w, 1, 8, 16, Some(&bias)));
    let packed_out =
        ops::packed_matmul_w4a4_packed(&dev, &xp, 1, &weight_packed, 8, 16, Some(&bias)).unwrap();
    let out = ops::unpack_uint4_flat(&packed_out, 1, 8).unwrap(); // unpack_tensor
    assert_eq!(
        out,
        exact
            .iter()
            .map(|v| (*v).clamp(0, 15) as u8)
            .collect::<Vec<_>>()
    );
}

// ------------------------------------------------------------------ errors

fn shape_err(e: Error, op: &str, needle: &str) {
    match &e {
        Error::Shape { op: o, message } => {
            assert_eq!(*o, op, "{e}");
            assert!(message.contains(needle), "`{message}` lacks `{needle}`");
            assert!(e.to_string().starts_with(op));
        }
        other => panic!("expected Error::Shape from {op}, got {other:?}"),
    }
}

fn small_bitlinear() -> BitLinear {
    let w: Vec<f32> = (0..3 * 8).map(|i| (i % 3) as f32 - 1.0).collect();
    BitLinear::new(
        &Device::interpreter(),
        &w,
        8,
        3,
        Some(&[0.0f32; 3][..]),
        1e-5,
    )
    .unwrap()
}

#[test]
fn bitlinear_forward_errors() {
    let layer = small_bitlinear();
    let x = vec![0.5f32; 16];
    shape_err(
        layer.forward(&x, &[2, 7]).unwrap_err(),
        "BitLinear::forward",
        "last dimension of shape [2, 7] is 7, but the layer takes in_features = 8",
    );
    shape_err(
        layer.forward(&x, &[]).unwrap_err(),
        "BitLinear::forward",
        "the shape is empty",
    );
    shape_err(
        layer.forward(&x, &[3, 8]).unwrap_err(),
        "BitLinear::forward",
        "x has 16 elements, but shape [3, 8] has 24",
    );
    shape_err(
        layer.output_shape(&[4, 9]).unwrap_err(),
        "BitLinear::output_shape",
        "in_features = 8",
    );
    let mut bad = x.clone();
    bad[11] = f32::NAN;
    match layer.forward(&bad, &[2, 8]).unwrap_err() {
        Error::Format(FormatError::NonFinite { what, index }) => {
            assert_eq!((what.as_str(), index), ("BitLinear input", 11));
        }
        other => panic!("{other:?}"),
    }
    let mut inf = cast::<f16>(&x);
    inf[0] = f16::INFINITY;
    assert!(matches!(
        layer.forward(&inf, &[2, 8]).unwrap_err(),
        Error::Format(FormatError::NonFinite { index: 0, .. })
    ));
}

#[test]
fn bitlinear_construction_errors() {
    let dev = Device::interpreter();
    let w = vec![0.1f32; 3 * 8];
    shape_err(
        BitLinear::new(&dev, &w, 8, 3, Some(&[0.0f32; 2][..]), 1e-5).unwrap_err(),
        "BitLinear::new",
        "bias has 2 elements, expected out_features = 3",
    );
    shape_err(
        BitLinear::new(&dev, &w, 8, 4, None, 1e-5).unwrap_err(),
        "BitLinear::new",
        "weight has 24 elements, expected out_features * in_features = 4 * 8 = 32",
    );
    shape_err(
        BitLinear::new(&dev, &w, 8, 3, None, 0.0).unwrap_err(),
        "BitLinear::new",
        "eps = 0 must be finite and > 0",
    );
    let opts = BitLinearOptions::default().norm(Norm::Rms {
        weight: Some(vec![1.0; 7]),
    });
    shape_err(
        BitLinear::with_options(&dev, &w, 8, 3, None, &opts).unwrap_err(),
        "BitLinear::new",
        "norm weight has 7 elements, expected in_features = 8",
    );
    let w6 = vec![0.1f32; 3 * 6];
    match BitLinear::new(&dev, &w6, 6, 3, None, 1e-5).unwrap_err() {
        Error::Format(e @ FormatError::KNotDivisible { .. }) => {
            assert!(
                e.to_string()
                    .contains("in_features 6 is not a multiple of 4"),
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        BitLinear::new::<f32>(&dev, &[], 8, 0, None, 1e-5).unwrap_err(),
        Error::Format(FormatError::Empty { .. })
    ));
    let mut nan = w.clone();
    nan[5] = f32::NAN;
    assert!(matches!(
        BitLinear::new(&dev, &nan, 8, 3, None, 1e-5).unwrap_err(),
        Error::Format(FormatError::NonFinite { index: 5, .. })
    ));
    let bad_bias = [0.0f32, f32::INFINITY, 0.0];
    match BitLinear::new(&dev, &w, 8, 3, Some(&bad_bias[..]), 1e-5).unwrap_err() {
        Error::Format(FormatError::NonFinite { what, index }) => {
            assert_eq!((what.as_str(), index), ("bias", 1));
        }
        other => panic!("{other:?}"),
    }
    // Packed weights with a short buffer.
    let mut t = quantize_ternary(&w, 3, 8, ScaleGranularity::PerTensor).unwrap();
    t.packed.pop();
    assert!(matches!(
        BitLinear::from_ternary(&dev, &t, None, &BitLinearOptions::default()).unwrap_err(),
        Error::Format(FormatError::ShapeMismatch { .. })
    ));
}

#[test]
fn int4linear_errors() {
    let dev = Device::interpreter();
    let w = vec![0.1f32; 2 * 32];
    match Int4Linear::new(&dev, &w, 32, 2, Int4Group::Size(48), None, Int4Mode::W4A8).unwrap_err() {
        Error::Format(e @ FormatError::InvalidGroup { .. }) => {
            assert!(
                e.to_string().contains("int4 group size 48 is invalid"),
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    }
    shape_err(
        Int4Linear::new(
            &dev,
            &w,
            32,
            2,
            Int4Group::PerRow,
            Some(&[1.0f32][..]),
            Int4Mode::W4A8,
        )
        .unwrap_err(),
        "Int4Linear::new",
        "bias has 1 elements, expected out_features = 2",
    );
    let layer =
        Int4Linear::new(&dev, &w, 32, 2, Int4Group::Size(32), None, Int4Mode::W4A16).unwrap();
    shape_err(
        layer.forward(&[0.0f32; 31], &[31]).unwrap_err(),
        "Int4Linear::forward",
        "last dimension of shape [31] is 31, but the layer takes in_features = 32",
    );
    let mut big = vec![0.0f32; 32];
    big[3] = 1e6;
    shape_err(
        layer.forward(&big, &[1, 32]).unwrap_err(),
        "Int4Linear::forward",
        "input element 3 = 1000000 exceeds the f16 range",
    );
    // W4A8 takes the same input.
    let w4a8 = Int4Linear::new(&dev, &w, 32, 2, Int4Group::Size(32), None, Int4Mode::W4A8).unwrap();
    assert_eq!(w4a8.forward(&big, &[1, 32]).unwrap().len(), 2);
    big[3] = f32::NAN;
    assert!(matches!(
        w4a8.forward(&big, &[1, 32]).unwrap_err(),
        Error::Format(FormatError::NonFinite { index: 3, .. })
    ));
}

#[test]
fn w4a4_errors() {
    let dev = Device::interpreter();
    let (x, w) = (vec![0u64; 2 * 2], vec![0u64; 3 * 2]);
    shape_err(
        ops::packed_matmul_w4a4(&dev, &x, 2, &w, 3, 0, None).unwrap_err(),
        "packed_matmul_w4a4",
        "K = 0",
    );
    shape_err(
        ops::packed_matmul_w4a4(&dev, &x, 2, &w, 3, 33, None).unwrap_err(),
        "packed_matmul_w4a4",
        "packed activations (m * ceil(k / 16) = 2 * 3) has 4 elements, expected 6",
    );
    shape_err(
        ops::packed_matmul_w4a4(&dev, &x, 2, &w, 4, 20, None).unwrap_err(),
        "packed_matmul_w4a4",
        "packed weights (n * ceil(k / 16) = 4 * 2) has 6 elements, expected 8",
    );
    shape_err(
        ops::packed_matmul_w4a4_packed(&dev, &x, 2, &w, 3, 20, Some(&[1, 2])).unwrap_err(),
        "packed_matmul_w4a4_packed",
        "bias (n) has 2 elements, expected 3",
    );
    shape_err(
        ops::unpack_uint4_flat(&[0; 2], 3, 5).unwrap_err(),
        "unpack_uint4_flat",
        "has 2 elements, expected 1",
    );
}

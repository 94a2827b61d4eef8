//! `bitmat_candle::BitLinear` / `Int4Linear` as candle modules, on random ragged shapes:
//! against bitmat's own `nn` layers (the same arithmetic, through candle tensors of any
//! leading shape, dtype and layout), against candle's float `Linear` on the dequantized
//! weights (within the activation quantizer's error bound), loaded from a `VarBuilder` and
//! from bitmat checkpoints; and the typed errors of bad input.

use bitmat::checkpoint::{Checkpoint, Tensor as CkTensor};
use bitmat::formats::{quantize_int4, quantize_ternary, Int4Group, ScaleGranularity};
use bitmat::nn::{BitLinearOptions, Int4Mode};
use bitmat::{f16, Device};
use bitmat_candle::{BitLinear, Int4Linear, Linear, Quantization};
use candle_core::{DType, Device as CDevice, Module, Tensor};
use candle_nn::VarBuilder;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;

fn gaussian(rng: &mut StdRng, len: usize) -> Vec<f32> {
    (0..len)
        .map(|_| {
            let (u, v): (f32, f32) = (rng.gen_range(1e-6..1.0), rng.gen());
            (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
        })
        .collect()
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// A random layer case: `x [lead.., k]`, `w [n, k]`, an optional bias.
#[derive(Debug, Clone)]
struct Case {
    lead: Vec<usize>,
    k: usize,
    n: usize,
    bias: bool,
    seed: u64,
}

impl Case {
    fn rows(&self) -> usize {
        self.lead.iter().product()
    }
    fn data(&self) -> (Vec<f32>, Vec<f32>, Option<Vec<f32>>) {
        let mut rng = StdRng::seed_from_u64(self.seed);
        let x = gaussian(&mut rng, self.rows() * self.k);
        let w = gaussian(&mut rng, self.n * self.k);
        let b = self.bias.then(|| gaussian(&mut rng, self.n));
        (x, w, b)
    }
    fn x_shape(&self) -> Vec<usize> {
        let mut s = self.lead.clone();
        s.push(self.k);
        s
    }
    fn y_shape(&self) -> Vec<usize> {
        let mut s = self.lead.clone();
        s.push(self.n);
        s
    }
}

/// Ragged shapes: 1 to 3 leading dimensions, K a multiple of `k_multiple`, odd N.
fn case(k_multiple: usize, max_k_units: usize) -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(1usize..4, 1..=3),
        1..=max_k_units,
        1usize..10,
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(move |(lead, ku, n, bias, seed)| Case {
            lead,
            k: ku * k_multiple,
            n,
            bias,
            seed,
        })
}

fn tensor(v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape, &CDevice::Cpu).unwrap()
}

/// The candle layer against bitmat's `nn::BitLinear` built from the same weights, in every
/// float dtype, and through a strided (transposed) input.
fn check_bitlinear(c: &Case, options: &BitLinearOptions) {
    let dev = Device::interpreter();
    let (x, w, b) = c.data();
    let wt = tensor(&w, &[c.n, c.k]);
    let bt = b.as_ref().map(|b| tensor(b, &[c.n]));
    let layer = BitLinear::from_weight(&dev, &wt, bt.as_ref(), options).unwrap();
    let own =
        bitmat::nn::BitLinear::with_options(&dev, &w, c.k, c.n, b.as_deref(), options).unwrap();
    for dtype in [DType::F32, DType::F16, DType::BF16] {
        let xt = tensor(&x, &c.x_shape()).to_dtype(dtype).unwrap();
        let y = layer.forward(&xt).unwrap();
        assert_eq!(y.dims(), c.y_shape().as_slice(), "{c:?}");
        assert_eq!(y.dtype(), dtype);
        let want: Vec<f32> = match dtype {
            DType::F32 => own.forward(&x, &c.x_shape()).unwrap(),
            DType::F16 => {
                let xh: Vec<f16> = flat(&xt).iter().map(|&v| f16::from_f32(v)).collect();
                own.forward(&xh, &c.x_shape())
                    .unwrap()
                    .iter()
                    .map(|v| v.to_f32())
                    .collect()
            }
            _ => {
                let xb: Vec<bitmat::bf16> = flat(&xt)
                    .iter()
                    .map(|&v| bitmat::bf16::from_f32(v))
                    .collect();
                own.forward(&xb, &c.x_shape())
                    .unwrap()
                    .iter()
                    .map(|v| v.to_f32())
                    .collect()
            }
        };
        assert_eq!(flat(&y), want, "{c:?} {dtype:?}");
    }
    // A strided input: x^T of a [k, rows] tensor.
    let xt = tensor(&x, &[c.rows(), c.k]);
    let strided = xt.t().unwrap().contiguous().unwrap().t().unwrap();
    assert!(c.rows() == 1 || !strided.is_contiguous());
    let y = layer.forward(&strided).unwrap();
    assert_eq!(flat(&y), own.forward(&x, &[c.rows(), c.k]).unwrap());
}

/// Without the norm, `BitLinear` is candle's `Linear` on the dequantized ternary weights up
/// to the int8 activation error: each of `|x_k - xq_k * s|` is at most `s / 2`, so
/// `|y_j - y_ref_j| <= s / 2 * sum_k |Wd_jk|` (plus float rounding).
fn check_against_candle_linear(c: &Case, granularity: ScaleGranularity) {
    let dev = Device::interpreter();
    let (x, w, b) = c.data();
    let options = BitLinearOptions::default()
        .without_norm()
        .granularity(granularity);
    let bt = b.as_ref().map(|b| tensor(b, &[c.n]));
    let layer =
        BitLinear::from_weight(&dev, &tensor(&w, &[c.n, c.k]), bt.as_ref(), &options).unwrap();
    let wd = quantize_ternary(&w, c.n, c.k, granularity)
        .unwrap()
        .dequantize()
        .unwrap();
    let float = candle_nn::Linear::new(tensor(&wd, &[c.n, c.k]), bt);
    let xt = tensor(&x, &c.x_shape());
    let (got, want) = (
        flat(&layer.forward(&xt).unwrap()),
        flat(&float.forward(&xt).unwrap()),
    );
    for r in 0..c.rows() {
        let row = &x[r * c.k..(r + 1) * c.k];
        let s = row.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-5) / 127.0;
        for j in 0..c.n {
            let l1: f32 = wd[j * c.k..(j + 1) * c.k].iter().map(|v| v.abs()).sum();
            let (g, e) = (got[r * c.n + j], want[r * c.n + j]);
            let tol = s / 2.0 * l1 * 1.001 + 1e-4 * (1.0 + e.abs());
            assert!(
                (g - e).abs() <= tol,
                "{c:?} row {r} col {j}: {g} vs {e} (tol {tol})"
            );
        }
    }
}

/// `Int4Linear` in W4A16 is candle's `Linear` on the dequantized int4 weights, with the
/// input and the weights rounded to f16 (relative 2^-11 each) and f32 accumulation.
fn check_int4(c: &Case, group: Int4Group) {
    let dev = Device::interpreter();
    let (x, w, b) = c.data();
    let bt = b.as_ref().map(|b| tensor(b, &[c.n]));
    let wt = tensor(&w, &[c.n, c.k]);
    let layer = Int4Linear::from_weight(&dev, &wt, bt.as_ref(), group, Int4Mode::W4A16).unwrap();
    let q = quantize_int4(&w, c.n, c.k, group).unwrap();
    let own = bitmat::nn::Int4Linear::from_int4(&dev, &q, b.as_deref(), Int4Mode::W4A16).unwrap();
    let xt = tensor(&x, &c.x_shape());
    let got = flat(&layer.forward(&xt).unwrap());
    assert_eq!(got, own.forward(&x, &c.x_shape()).unwrap(), "{c:?}");
    let wd = q.dequantize();
    let want = flat(
        &candle_nn::Linear::new(tensor(&wd, &[c.n, c.k]), bt)
            .forward(&xt)
            .unwrap(),
    );
    for r in 0..c.rows() {
        for j in 0..c.n {
            let l1: f32 = (0..c.k)
                .map(|i| (x[r * c.k + i] * wd[j * c.k + i]).abs())
                .sum();
            let (g, e) = (got[r * c.n + j], want[r * c.n + j]);
            let tol = l1 * 2e-3 + 1e-5 * (1.0 + e.abs());
            assert!(
                (g - e).abs() <= tol,
                "{c:?} row {r} col {j}: {g} vs {e} (tol {tol})"
            );
        }
    }
    let w4a8 = Int4Linear::from_weight(&dev, &wt, None, group, Int4Mode::W4A8).unwrap();
    let own8 = bitmat::nn::Int4Linear::from_int4(&dev, &q, None, Int4Mode::W4A8).unwrap();
    assert_eq!(
        flat(&w4a8.forward(&xt).unwrap()),
        own8.forward(&x, &c.x_shape()).unwrap()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn bitlinear_module_is_bitmats_layer(c in case(4, 12), norm in any::<bool>(), per_row in any::<bool>()) {
        let g = if per_row { ScaleGranularity::PerRow } else { ScaleGranularity::PerTensor };
        let options = BitLinearOptions::default().granularity(g);
        check_bitlinear(&c, &if norm { options } else { options.without_norm() });
    }

    #[test]
    fn bitlinear_is_candle_linear_on_dequantized_weights(c in case(4, 12), per_row in any::<bool>()) {
        let g = if per_row { ScaleGranularity::PerRow } else { ScaleGranularity::PerTensor };
        check_against_candle_linear(&c, g);
    }

    #[test]
    fn int4linear_is_candle_linear_on_dequantized_weights(c in case(32, 3), per_row in any::<bool>()) {
        check_int4(&c, if per_row { Int4Group::PerRow } else { Int4Group::Size(32) });
    }
}

/// A `VarBuilder` over `weight` (+ `bias`) tensors under `prefix`.
fn var_builder(prefix: &str, w: &Tensor, b: Option<&Tensor>) -> VarBuilder<'static> {
    let mut ts = HashMap::new();
    ts.insert(format!("{prefix}.weight"), w.clone());
    if let Some(b) = b {
        ts.insert(format!("{prefix}.bias"), b.clone());
    }
    VarBuilder::from_tensors(ts, DType::F32, &CDevice::Cpu)
}

#[test]
fn loading_from_a_var_builder_and_a_checkpoint_gives_the_same_layers() {
    let dev = Device::cpu();
    let (k, n) = (96, 24);
    let mut rng = StdRng::seed_from_u64(3);
    let (w, b, x) = (
        gaussian(&mut rng, n * k),
        gaussian(&mut rng, n),
        gaussian(&mut rng, 5 * k),
    );
    let (wt, bt, xt) = (tensor(&w, &[n, k]), tensor(&b, &[n]), tensor(&x, &[5, k]));
    let vb = var_builder("proj", &wt, Some(&bt));
    let options = BitLinearOptions::default();
    let direct = BitLinear::from_weight(&dev, &wt, Some(&bt), &options).unwrap();
    let loaded = BitLinear::load(&dev, vb.pp("proj"), k, n, &options).unwrap();
    let want = flat(&direct.forward(&xt).unwrap());
    assert_eq!(flat(&loaded.forward(&xt).unwrap()), want);
    assert!(loaded.layer().has_bias());

    // A checkpoint as `bitmat convert` writes it: packed weights, scales, the float bias.
    let mut ck = Checkpoint::new();
    ck.insert_ternary(
        "proj",
        &quantize_ternary(&w, n, k, ScaleGranularity::PerTensor).unwrap(),
    )
    .unwrap();
    ck.insert("proj.bias", CkTensor::from_f32(&[n], &b).unwrap());
    let ck = Checkpoint::from_bytes(&ck.to_bytes().unwrap()).unwrap();
    let from_ck = BitLinear::from_checkpoint(&dev, &ck, "proj", &options).unwrap();
    assert_eq!(flat(&from_ck.forward(&xt).unwrap()), want);

    let group = Int4Group::Size(32);
    let int4 = Int4Linear::load(&dev, vb.pp("proj"), k, n, group, Int4Mode::W4A16).unwrap();
    let mut ck4 = Checkpoint::new();
    ck4.insert_int4("proj", &quantize_int4(&w, n, k, group).unwrap())
        .unwrap();
    ck4.insert("proj.bias", CkTensor::from_f32(&[n], &b).unwrap());
    let int4_ck = Int4Linear::from_checkpoint(&dev, &ck4, "proj", Int4Mode::W4A16).unwrap();
    assert_eq!(
        flat(&int4_ck.forward(&xt).unwrap()),
        flat(&int4.forward(&xt).unwrap())
    );

    // `Linear` picks the layer from the quantization; `Float` is candle's own.
    let float = Linear::load(&dev, vb.pp("proj"), k, n, &Quantization::Float).unwrap();
    let reference = candle_nn::Linear::new(wt.clone(), Some(bt.clone()));
    assert_eq!(
        flat(&float.forward(&xt).unwrap()),
        flat(&reference.forward(&xt).unwrap())
    );
    let ternary = Linear::load(&dev, vb.pp("proj"), k, n, &Quantization::Ternary(options)).unwrap();
    assert_eq!(flat(&ternary.forward(&xt).unwrap()), want);
    let q = Quantization::Int4 {
        group,
        mode: Int4Mode::W4A16,
    };
    let int4_any = Linear::load(&dev, vb.pp("proj"), k, n, &q).unwrap();
    assert_eq!(
        flat(&int4_any.forward(&xt).unwrap()),
        flat(&int4.forward(&xt).unwrap())
    );
}

#[test]
fn bad_input_is_a_typed_error() {
    let dev = Device::interpreter();
    let w = tensor(&[0.5; 8 * 16], &[8, 16]);
    let layer = BitLinear::from_weight(&dev, &w, None, &BitLinearOptions::default()).unwrap();
    let wrong_k = layer
        .forward(&tensor(&[1.0; 12], &[1, 12]))
        .unwrap_err()
        .to_string();
    assert!(wrong_k.contains("[.., 16]"), "{wrong_k}");
    let ints = Tensor::zeros((2, 16), DType::U32, &CDevice::Cpu).unwrap();
    let dtype = layer.forward(&ints).unwrap_err().to_string();
    assert!(dtype.contains("f32, f16 or bf16"), "{dtype}");
    let nan = layer
        .forward(&tensor(&[f32::NAN; 16], &[1, 16]))
        .unwrap_err()
        .to_string();
    assert!(nan.contains("finite") || nan.contains("NaN"), "{nan}");

    let not_2d = BitLinear::from_weight(
        &dev,
        &tensor(&[0.0; 16], &[16]),
        None,
        &BitLinearOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(not_2d, bitmat_candle::Error::Tensor { .. }),
        "{not_2d}"
    );
    let odd_k = BitLinear::from_weight(
        &dev,
        &tensor(&[0.1; 6], &[2, 3]),
        None,
        &BitLinearOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(odd_k, bitmat_candle::Error::Bitmat(_)), "{odd_k}");
    let bad_bias = Int4Linear::from_weight(
        &dev,
        &w,
        Some(&tensor(&[0.0; 3], &[3])),
        Int4Group::PerRow,
        Int4Mode::W4A8,
    )
    .unwrap_err()
    .to_string();
    assert!(bad_bias.contains("[out_features] = [8]"), "{bad_bias}");
    let vb = var_builder("a", &w, None);
    let missing =
        BitLinear::load(&dev, vb.pp("b"), 16, 8, &BitLinearOptions::default()).unwrap_err();
    assert!(
        matches!(missing, bitmat_candle::Error::Candle(_)),
        "{missing}"
    );
    let ck = Checkpoint::new();
    let absent = Int4Linear::from_checkpoint(&dev, &ck, "proj", Int4Mode::W4A16).unwrap_err();
    assert!(
        matches!(absent, bitmat_candle::Error::Bitmat(_)),
        "{absent}"
    );
}

#[test]
fn linear_from_checkpoint_reads_each_layer_as_stored() {
    let dev = Device::cpu();
    let (k, n) = (64, 20);
    let mut rng = StdRng::seed_from_u64(11);
    let (w, b, x) = (
        gaussian(&mut rng, n * k),
        gaussian(&mut rng, n),
        gaussian(&mut rng, 3 * k),
    );
    let (wt, bt, xt) = (tensor(&w, &[n, k]), tensor(&b, &[n]), tensor(&x, &[3, k]));
    let group = Int4Group::Size(32);
    // One file holding a ternary, an int4 and a kept float layer, as a partial conversion
    // leaves it, each with its bias.
    let mut ck = Checkpoint::new();
    ck.insert_ternary(
        "t",
        &quantize_ternary(&w, n, k, ScaleGranularity::PerRow).unwrap(),
    )
    .unwrap();
    ck.insert_int4("q", &quantize_int4(&w, n, k, group).unwrap())
        .unwrap();
    ck.insert("f.weight", CkTensor::from_f32(&[n, k], &w).unwrap());
    for layer in ["t", "q", "f"] {
        ck.insert(
            format!("{layer}.bias"),
            CkTensor::from_f32(&[n], &b).unwrap(),
        );
    }
    let ck = Checkpoint::from_bytes(&ck.to_bytes().unwrap()).unwrap();
    let options = BitLinearOptions::default().without_norm();
    let load = |layer: &str| Linear::from_checkpoint(&dev, &ck, layer, &options, Int4Mode::W4A8);
    let out = |l: &Linear| flat(&l.forward(&xt).unwrap());

    let t = load("t").unwrap();
    assert!(matches!(t, Linear::Ternary(_)));
    let want = BitLinear::from_checkpoint(&dev, &ck, "t", &options).unwrap();
    assert_eq!(out(&t), flat(&want.forward(&xt).unwrap()));

    let q = load("q").unwrap();
    assert!(matches!(&q, Linear::Int4(l) if l.layer().mode() == Int4Mode::W4A8));
    let want = Int4Linear::from_checkpoint(&dev, &ck, "q", Int4Mode::W4A8).unwrap();
    assert_eq!(out(&q), flat(&want.forward(&xt).unwrap()));

    let f = load("f").unwrap();
    assert!(matches!(f, Linear::Float(_)));
    let reference = candle_nn::Linear::new(wt, Some(bt));
    assert_eq!(out(&f), flat(&reference.forward(&xt).unwrap()));

    // A layer the file does not have, a kept weight that is not 2-D, a bias of the wrong length.
    assert!(matches!(
        load("absent"),
        Err(bitmat_candle::Error::Bitmat(_))
    ));
    let mut bad = Checkpoint::new();
    bad.insert("v.weight", CkTensor::from_f32(&[k], &w[..k]).unwrap());
    bad.insert("f.weight", CkTensor::from_f32(&[n, k], &w).unwrap());
    bad.insert("f.bias", CkTensor::from_f32(&[3], &b[..3]).unwrap());
    for layer in ["v", "f"] {
        let e = Linear::from_checkpoint(&dev, &bad, layer, &options, Int4Mode::W4A16).unwrap_err();
        assert!(matches!(e, bitmat_candle::Error::Tensor { .. }), "{e}");
    }
}

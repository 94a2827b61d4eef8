//! Quantization-aware training: the straight-through gradients of `TrainableBitLinear` and
//! `TrainableInt4Linear` against central finite differences of the fake-quant forward with
//! its quantizers made straight-through (the weights' quantizer frozen for the input
//! gradient, the activations' for the weight gradient), computed in plain Rust `f64`; the
//! forward against bitmat's reference ops; and `into_inference` against the trained layer.

use bitmat::formats::{
    quantize_activations, quantize_int4, quantize_ternary, Int4Group, ScaleGranularity,
};
use bitmat::nn::{BitLinearOptions, Int4Mode};
use bitmat::{reference, Device};
use bitmat_candle::{TrainableBitLinear, TrainableInt4Linear};
use candle_core::{DType, Device as CDevice, Module, Tensor, Var};
use candle_nn::{Optimizer, VarBuilder, VarMap};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

fn uniform(rng: &mut StdRng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
}

/// The straight-through surrogate of a layer, in `f64`: optional RMSNorm with gain `g`, then
/// `x_n · Wᵀ + b`.
struct Surrogate<'a> {
    k: usize,
    n: usize,
    norm: Option<(&'a [f32], f64)>,
    bias: &'a [f32],
}

impl Surrogate<'_> {
    /// `sum(G ⊙ layer(x; w))` for `x [m, k]`, `w [n, k]`, the output gradient `g_out [m, n]`.
    fn loss(&self, x: &[f64], w: &[f64], g_out: &[f32]) -> f64 {
        let (k, n) = (self.k, self.n);
        let mut total = 0.0;
        for (r, row) in x.chunks_exact(k).enumerate() {
            let xn: Vec<f64> = match self.norm {
                None => row.to_vec(),
                Some((gain, eps)) => {
                    let ms = row.iter().map(|v| v * v).sum::<f64>() / k as f64;
                    let inv = 1.0 / (ms + eps).sqrt();
                    row.iter()
                        .zip(gain)
                        .map(|(v, &g)| v * inv * f64::from(g))
                        .collect()
                }
            };
            for j in 0..n {
                let dot: f64 = xn
                    .iter()
                    .zip(&w[j * k..(j + 1) * k])
                    .map(|(a, b)| a * b)
                    .sum();
                total += f64::from(g_out[r * n + j]) * (dot + f64::from(self.bias[j]));
            }
        }
        total
    }

    /// Central finite differences of `loss` in each element of `v` (the other argument held).
    fn gradient(&self, v: &[f64], f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
        let h = 1e-4;
        (0..v.len())
            .map(|i| {
                let (mut up, mut down) = (v.to_vec(), v.to_vec());
                up[i] += h;
                down[i] -= h;
                (f(&up) - f(&down)) / (2.0 * h)
            })
            .collect()
    }
}

fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&e| f64::from(e)).collect()
}

fn assert_close(got: &[f32], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    let scale = want.iter().fold(0f64, |m, v| m.max(v.abs())).max(1.0);
    for (i, (&g, &e)) in got.iter().zip(want).enumerate() {
        assert!(
            (f64::from(g) - e).abs() <= 2e-3 * scale,
            "{what}[{i}]: autograd {g} vs finite differences {e}"
        );
    }
}

/// One training step's gradients of `layer` on `x [m, k]` with output gradient `g_out`:
/// `(dL/dx, dL/dw)` from candle's autograd through the fake-quant op.
fn gradients(
    layer: &dyn Module,
    weight: &Tensor,
    x: &[f32],
    m: usize,
    k: usize,
    g_out: &[f32],
    n: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let xv = Var::from_vec(x.to_vec(), (m, k), &CDevice::Cpu).unwrap();
    let y = layer.forward(xv.as_tensor()).unwrap();
    let g = Tensor::from_vec(g_out.to_vec(), (m, n), &CDevice::Cpu).unwrap();
    let loss = (y.clone() * g).unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
    (
        flat(&y),
        flat(grads.get(xv.as_tensor()).unwrap()),
        flat(grads.get(weight).unwrap()),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn ternary_straight_through_gradients_match_finite_differences(
        m in 1usize..4, k4 in 1usize..6, n in 1usize..6, norm in any::<bool>(),
        per_row in any::<bool>(), seed in any::<u64>(),
    ) {
        let k = 4 * k4;
        let g = if per_row { ScaleGranularity::PerRow } else { ScaleGranularity::PerTensor };
        let options = BitLinearOptions::default().granularity(g);
        let options = if norm { options } else { options.without_norm() };
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &CDevice::Cpu);
        let dev = Device::interpreter();
        let layer = TrainableBitLinear::new(&dev, vb.pp("l"), k, n, true, &options).unwrap();
        let mut rng = StdRng::seed_from_u64(seed);
        let (x, g_out) = (uniform(&mut rng, m * k), uniform(&mut rng, m * n));
        let (y, gx, gw) = gradients(&layer, layer.weight(), &x, m, k, &g_out, n);

        let w = flat(layer.weight());
        let data = map.data().lock().unwrap();
        let bias = flat(data["l.bias"].as_tensor());
        let gain = data.get("l.norm.weight").map(|v| flat(v.as_tensor()));
        drop(data);
        let wq = quantize_ternary(&w, n, k, g).unwrap();
        let wd = wq.dequantize().unwrap();
        let s = Surrogate { k, n, norm: gain.as_deref().map(|g| (g, 1e-5)), bias: &bias };
        // The forward is bitmat's reference: (norm), int8 activations, ternary matmul, bias.
        let xn: Vec<f32> = match &gain {
            None => x.clone(),
            Some(g) => bitmat::formats::rms_norm(&x, m, k, Some(g), 1e-5).unwrap(),
        };
        let want = reference::ternary_linear(&quantize_activations(&xn, m, k).unwrap(), &wq, Some(&bias)).unwrap();
        for (a, b) in y.iter().zip(&want) {
            prop_assert!((a - b).abs() <= 1e-3 * (1.0 + b.abs()), "forward {a} vs {b}");
        }
        let (xw, ww, wdw) = (widen(&x), widen(&w), widen(&wd));
        assert_close(&gx, &s.gradient(&xw, |x| s.loss(x, &wdw, &g_out)), "dL/dx");
        let xq_free = Surrogate { norm: None, ..s };
        assert_close(&gw, &xq_free.gradient(&ww, |w| xq_free.loss(&widen(&xn), w, &g_out)), "dL/dw");
    }

    #[test]
    fn int4_straight_through_gradients_match_finite_differences(
        m in 1usize..4, n in 1usize..5, w4a8 in any::<bool>(), seed in any::<u64>(),
    ) {
        let (k, group) = (32, Int4Group::Size(16));
        let mode = if w4a8 { Int4Mode::W4A8 } else { Int4Mode::W4A16 };
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &CDevice::Cpu);
        let dev = Device::interpreter();
        let layer = TrainableInt4Linear::new(&dev, vb, k, n, true, group, mode).unwrap();
        let mut rng = StdRng::seed_from_u64(seed);
        let (x, g_out) = (uniform(&mut rng, m * k), uniform(&mut rng, m * n));
        let (_, gx, gw) = gradients(&layer, layer.weight(), &x, m, k, &g_out, n);
        let w = flat(layer.weight());
        let bias = flat(map.data().lock().unwrap()["bias"].as_tensor());
        let wd = widen(&quantize_int4(&w, n, k, group).unwrap().dequantize());
        let s = Surrogate { k, n, norm: None, bias: &bias };
        let xw = widen(&x);
        assert_close(&gx, &s.gradient(&xw, |x| s.loss(x, &wd, &g_out)), "dL/dx");
        assert_close(&gw, &s.gradient(&widen(&w), |w| s.loss(&xw, w, &g_out)), "dL/dw");
    }
}

#[test]
fn into_inference_packs_the_trained_forward() {
    let dev = Device::cpu();
    let (m, k, n) = (7, 64, 12);
    let map = VarMap::new();
    let vb = VarBuilder::from_varmap(&map, DType::F32, &CDevice::Cpu);
    let opts = BitLinearOptions::default().granularity(ScaleGranularity::PerRow);
    let ternary = TrainableBitLinear::new(&dev, vb.pp("t"), k, n, true, &opts).unwrap();
    let int4 = TrainableInt4Linear::new(
        &dev,
        vb.pp("q"),
        k,
        n,
        false,
        Int4Group::Size(32),
        Int4Mode::W4A8,
    )
    .unwrap();
    // A few optimizer steps move the gain and the latent weights away from their init.
    let mut opt = candle_nn::SGD::new(map.all_vars(), 0.05).unwrap();
    let mut rng = StdRng::seed_from_u64(11);
    let x = Tensor::from_vec(uniform(&mut rng, m * k), (m, k), &CDevice::Cpu).unwrap();
    for _ in 0..3 {
        let loss = (ternary
            .forward(&x)
            .unwrap()
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            + int4.forward(&x).unwrap().sqr().unwrap().sum_all().unwrap())
        .unwrap();
        opt.backward_step(&loss).unwrap();
    }
    let gain = flat(map.data().lock().unwrap()["t.norm.weight"].as_tensor());
    assert!(gain.iter().any(|&g| g != 1.0), "the gain trained");
    let packed = ternary.clone().into_inference(&dev).unwrap();
    let (a, b) = (
        flat(&ternary.forward(&x).unwrap()),
        flat(&packed.forward(&x).unwrap()),
    );
    // The fused norm kernel and candle's norm may round one activation differently: compare
    // within a few activation quanta.
    let err = a
        .iter()
        .zip(&b)
        .map(|(p, q)| (p - q).abs())
        .fold(0f32, f32::max);
    let scale = a.iter().fold(0f32, |s, v| s.max(v.abs()));
    assert!(err <= 0.02 * scale, "trained {a:?} vs packed {b:?}");
    let packed4 = int4.clone().into_inference(&dev).unwrap();
    assert_eq!(
        flat(&int4.forward(&x).unwrap()),
        flat(&packed4.forward(&x).unwrap())
    );
}

#[test]
fn bad_training_input_is_a_typed_error() {
    let map = VarMap::new();
    let vb = VarBuilder::from_varmap(&map, DType::F32, &CDevice::Cpu);
    let dev = Device::interpreter();
    let odd = TrainableBitLinear::new(&dev, vb.pp("a"), 6, 2, false, &BitLinearOptions::default())
        .unwrap_err();
    assert!(odd.to_string().contains("multiple of 4"), "{odd}");
    let given = BitLinearOptions::default().norm(bitmat::nn::Norm::Rms {
        weight: Some(vec![1.0; 8]),
    });
    let e = TrainableBitLinear::new(&dev, vb.pp("b"), 8, 2, false, &given).unwrap_err();
    assert!(e.to_string().contains("norm.weight"), "{e}");
    let e = TrainableInt4Linear::new(
        &dev,
        vb.pp("c"),
        32,
        2,
        false,
        Int4Group::Size(48),
        Int4Mode::W4A16,
    )
    .unwrap_err();
    assert!(matches!(e, bitmat_candle::Error::Bitmat(_)), "{e}");
    let layer =
        TrainableBitLinear::new(&dev, vb.pp("d"), 8, 2, false, &BitLinearOptions::default())
            .unwrap();
    let f16_in = Tensor::zeros((1, 8), DType::F16, &CDevice::Cpu).unwrap();
    let e = layer.forward(&f16_in).unwrap_err().to_string();
    assert!(e.contains("f32"), "{e}");
    let e = layer
        .forward(&Tensor::zeros((1, 4), DType::F32, &CDevice::Cpu).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("[.., 8]"), "{e}");
}

//! The digits MLP (pixels -> 128 -> 10) trained quantization-aware: both layers are
//! `TrainableBitLinear` (BitMat's `BitLinear.train()`: RMSNorm, ternary weights, int8
//! activations in the forward, straight-through gradients) or `TrainableInt4Linear` (int4
//! weights with groups of 32, or 16 for 784 pixels), trained with candle's AdamW on softmax cross-entropy, then
//! packed with `into_inference`. Shared by `examples/qat_digits.rs`
//! and `tests/qat_digits.rs` through `#[path]`.

use super::digits::{int4_group, Digits, CLASSES, HIDDEN};
use bitmat::nn::{BitLinearOptions, Int4Mode};
use bitmat::Device;
use bitmat_candle::{Linear, TrainableBitLinear, TrainableInt4Linear};
use candle_core::{DType, Device as CDevice, Module, Tensor, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::error::Error;

/// Images per optimizer step.
pub const BATCH: usize = 32;

/// Which layers the MLP trains.
#[derive(Copy, Clone, Debug)]
pub enum Kind {
    /// `TrainableBitLinear` (ternary, BitMat's defaults).
    Ternary,
    /// `TrainableInt4Linear`, groups of `digits::int4_group`, in this mode.
    Int4(Int4Mode),
}

/// One trainable layer.
enum Layer {
    Ternary(TrainableBitLinear),
    Int4(TrainableInt4Linear),
}

impl Layer {
    fn new(
        device: &Device,
        vb: VarBuilder,
        kind: Kind,
        i: usize,
        o: usize,
    ) -> Result<Layer, Box<dyn Error>> {
        Ok(match kind {
            Kind::Ternary => Layer::Ternary(TrainableBitLinear::new(
                device,
                vb,
                i,
                o,
                true,
                &BitLinearOptions::default(),
            )?),
            Kind::Int4(mode) => Layer::Int4(TrainableInt4Linear::new(
                device,
                vb,
                i,
                o,
                true,
                int4_group(i),
                mode,
            )?),
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Layer::Ternary(l) => l.forward(x),
            Layer::Int4(l) => l.forward(x),
        }
    }

    fn into_inference(self, device: &Device) -> Result<Linear, Box<dyn Error>> {
        Ok(match self {
            Layer::Ternary(l) => Linear::Ternary(l.into_inference(device)?),
            Layer::Int4(l) => Linear::Int4(l.into_inference(device)?),
        })
    }
}

/// The MLP in training: latent weights in `map`.
pub struct QatMlp {
    map: VarMap,
    l1: Layer,
    l2: Layer,
}

/// The trained MLP packed for inference.
pub struct PackedMlp {
    /// `pixels -> 128`.
    pub l1: Linear,
    /// `128 -> 10`.
    pub l2: Linear,
}

/// `[rows, pixels]` images of `data` at `indices`, and their labels.
fn batch(data: &Digits, indices: &[usize]) -> Result<(Tensor, Tensor), Box<dyn Error>> {
    let p = data.pixels;
    let x: Vec<f32> = indices
        .iter()
        .flat_map(|&i| &data.x[i * p..(i + 1) * p])
        .copied()
        .collect();
    let y: Vec<u32> = indices.iter().map(|&i| data.y[i] as u32).collect();
    Ok((
        Tensor::from_vec(x, (indices.len(), p), &CDevice::Cpu)?,
        Tensor::from_vec(y, indices.len(), &CDevice::Cpu)?,
    ))
}

/// The class of largest logit per row.
fn argmax(logits: &Tensor) -> Result<Vec<usize>, Box<dyn Error>> {
    Ok(logits
        .argmax(D::Minus1)?
        .to_vec1::<u32>()?
        .into_iter()
        .map(|c| c as usize)
        .collect())
}

/// The images of `data` as one tensor `[n, pixels]`.
pub fn images(data: &Digits) -> Result<Tensor, Box<dyn Error>> {
    Ok(Tensor::from_vec(
        data.x.clone(),
        (data.len(), data.pixels),
        &CDevice::Cpu,
    )?)
}

impl QatMlp {
    /// Trains `kind` layers on `data` for `epochs` (AdamW, learning rate 0.01 decayed linearly to 0.001,
    /// batches of [`BATCH`] shuffled each epoch) from He-uniform weights drawn with `seed`;
    /// the fake-quant matmuls run on `device`.
    pub fn train(
        device: &Device,
        kind: Kind,
        data: &Digits,
        epochs: usize,
        seed: u64,
    ) -> Result<QatMlp, Box<dyn Error>> {
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &CDevice::Cpu);
        let l1 = Layer::new(device, vb.pp("l1"), kind, data.pixels, HIDDEN)?;
        let l2 = Layer::new(device, vb.pp("l2"), kind, HIDDEN, CLASSES)?;
        let mut rng = StdRng::seed_from_u64(seed);
        // candle's CPU initializers draw from an unseeded generator: redraw for reproducibility.
        let mut names: Vec<String> = map.data().lock().unwrap().keys().cloned().collect();
        names.sort();
        for name in names {
            let var = map.data().lock().unwrap()[&name].clone();
            let dims = var.dims().to_vec();
            let values: Vec<f32> = match dims.as_slice() {
                &[_, fan_in] => {
                    let a = (6.0 / fan_in as f32).sqrt();
                    (0..var.elem_count())
                        .map(|_| rng.gen_range(-a..a))
                        .collect()
                }
                _ if name.ends_with("norm.weight") => vec![1.0; var.elem_count()],
                _ => vec![0.0; var.elem_count()],
            };
            var.set(&Tensor::from_vec(values, dims, &CDevice::Cpu)?)?;
        }
        let mlp = QatMlp { map, l1, l2 };
        let mut opt = AdamW::new(
            mlp.map.all_vars(),
            ParamsAdamW {
                lr: 0.01,
                weight_decay: 0.0,
                ..ParamsAdamW::default()
            },
        )?;
        let mut order: Vec<usize> = (0..data.len()).collect();
        let steps = epochs * data.len().div_ceil(BATCH);
        let mut step = 0;
        for _ in 0..epochs {
            order.shuffle(&mut rng);
            for chunk in order.chunks(BATCH) {
                let progress = step as f64 / steps.max(1) as f64;
                opt.set_learning_rate(0.01 - 0.009 * progress);
                let (x, y) = batch(data, chunk)?;
                let loss = candle_nn::loss::cross_entropy(&mlp.forward(&x)?, &y)?;
                opt.backward_step(&loss)?;
                step += 1;
            }
        }
        Ok(mlp)
    }

    /// The logits of the fake-quant forward, `[n, CLASSES]`.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.l2.forward(&self.l1.forward(x)?.relu()?)
    }

    /// The predicted class of each image of `data`, through the fake-quant forward.
    pub fn predict(&self, data: &Digits) -> Result<Vec<usize>, Box<dyn Error>> {
        argmax(&self.forward(&images(data)?)?)
    }

    /// Packs both layers on `device`.
    pub fn into_inference(self, device: &Device) -> Result<PackedMlp, Box<dyn Error>> {
        Ok(PackedMlp {
            l1: self.l1.into_inference(device)?,
            l2: self.l2.into_inference(device)?,
        })
    }
}

impl PackedMlp {
    /// The logits `[n, CLASSES]` through the packed layers.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.l2.forward(&self.l1.forward(x)?.relu()?)
    }

    /// The predicted class of each image of `data`.
    pub fn predict(&self, data: &Digits) -> Result<Vec<usize>, Box<dyn Error>> {
        argmax(&self.forward(&images(data)?)?)
    }
}

//! scikit-learn's handwritten digits (1797 8x8 images) and a small MLP trained on them (or on
//! other digit images, e.g. MNIST's 28x28) in plain Rust `f32`, then run with bitmat's int4
//! and ternary layers. Shared by
//! `examples/digits.rs` and `tests/digits.rs` through `#[path]`, next to `pydata.rs`.

use bitmat::formats::{Int4Group, ScaleGranularity};
use bitmat::nn::{BitLinear, BitLinearOptions, Int4Linear, Int4Mode};
use bitmat::{Device, Error};
use flate2::read::GzDecoder;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Pixels per image of scikit-learn's digits (8x8).
pub const PIXELS: usize = 64;
/// Hidden units of the MLP.
pub const HIDDEN: usize = 128;
/// Classes (the digits 0..9).
pub const CLASSES: usize = 10;

/// The data file: env `BITMAT_DIGITS`, else `sklearn/datasets/data/digits.csv.gz` in python3's
/// site-packages.
pub fn locate() -> Result<PathBuf, String> {
    super::pydata::locate(
        "BITMAT_DIGITS",
        "sklearn/datasets/data/digits.csv.gz",
        "scikit-learn",
    )
}

/// Images `x[n, pixels]` (pixel values scaled to 0..1) and their labels.
pub struct Digits {
    /// Pixels per image ([`PIXELS`] for scikit-learn's digits).
    pub pixels: usize,
    /// Row-major pixels.
    pub x: Vec<f32>,
    /// One label per image, `0..10`.
    pub y: Vec<usize>,
}

impl Digits {
    /// The number of images.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// The images at `indices`, in that order.
    fn select(&self, indices: &[usize]) -> Digits {
        let p = self.pixels;
        Digits {
            pixels: p,
            x: indices
                .iter()
                .flat_map(|&i| &self.x[i * p..(i + 1) * p])
                .copied()
                .collect(),
            y: indices.iter().map(|&i| self.y[i]).collect(),
        }
    }

    /// A fixed 80/20 train/test split after a shuffle with `seed`.
    pub fn split(&self, seed: u64) -> (Digits, Digits) {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(&mut StdRng::seed_from_u64(seed));
        let train = self.len() * 4 / 5;
        (self.select(&order[..train]), self.select(&order[train..]))
    }
}

/// Reads `digits.csv.gz`: one image per line, 64 pixel values `0..=16` then the label.
pub fn load(path: &Path) -> Result<Digits, String> {
    let what = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut text = String::new();
    GzDecoder::new(std::fs::File::open(path).map_err(what)?)
        .read_to_string(&mut text)
        .map_err(what)?;
    let mut data = Digits {
        pixels: PIXELS,
        x: Vec::new(),
        y: Vec::new(),
    };
    for (line_no, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let bad = |why: &str| format!("{}: line {}: {why}", path.display(), line_no + 1);
        let values: Vec<u8> = line
            .split(',')
            .map(|v| v.trim().parse::<u8>())
            .collect::<Result<_, _>>()
            .map_err(|e| bad(&e.to_string()))?;
        let Some((&label, pixels)) = values.split_last() else {
            return Err(bad("empty line"));
        };
        if pixels.len() != PIXELS || pixels.iter().any(|&p| p > 16) || usize::from(label) >= 10 {
            return Err(bad("expected 64 pixels 0..=16 and a label 0..=9"));
        }
        data.x.extend(pixels.iter().map(|&p| f32::from(p) / 16.0));
        data.y.push(usize::from(label));
    }
    Ok(data)
}

/// The int4 weight groups of a layer with `k` inputs: 32, or 16 where 32 does not divide `k`
/// (784 pixels).
pub fn int4_group(k: usize) -> Int4Group {
    Int4Group::Size(if k % 32 == 0 { 32 } else { 16 })
}

/// A pixels -> 128 (ReLU) -> 10 perceptron; weights are `[out, in]` row-major, as `nn` layers
/// take them.
pub struct Mlp {
    /// Inputs per image.
    pub pixels: usize,
    /// `[HIDDEN, pixels]`.
    pub w1: Vec<f32>,
    /// `[HIDDEN]`.
    pub b1: Vec<f32>,
    /// `[CLASSES, HIDDEN]`.
    pub w2: Vec<f32>,
    /// `[CLASSES]`.
    pub b2: Vec<f32>,
}

/// `y[n] = W[n, :] . x + b[n]`.
fn affine(w: &[f32], b: &[f32], x: &[f32]) -> Vec<f32> {
    w.chunks_exact(x.len())
        .zip(b)
        .map(|(row, &bj)| row.iter().zip(x).map(|(a, c)| a * c).sum::<f32>() + bj)
        .collect()
}

fn relu(v: &mut [f32]) {
    v.iter_mut().for_each(|e| *e = e.max(0.0));
}

/// The index of the largest value in each row of `logits[.., CLASSES]`.
fn argmax_rows(logits: &[f32]) -> Vec<usize> {
    logits
        .chunks_exact(CLASSES)
        .map(|row| (0..CLASSES).fold(0, |best, j| if row[j] > row[best] { j } else { best }))
        .collect()
}

/// The fraction of `predicted` equal to `labels`.
pub fn accuracy(predicted: &[usize], labels: &[usize]) -> f64 {
    let right = predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
    right as f64 / labels.len().max(1) as f64
}

impl Mlp {
    /// Trains on `data` with softmax cross-entropy and Adam (learning rate 0.01, batches of
    /// 32, shuffled each epoch), starting from He-uniform weights drawn with `seed`.
    pub fn train(data: &Digits, epochs: usize, seed: u64) -> Mlp {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut init = |len: usize, fan_in: usize| -> Vec<f32> {
            let a = (6.0 / fan_in as f32).sqrt();
            (0..len).map(|_| rng.gen_range(-a..a)).collect()
        };
        let mut mlp = Mlp {
            pixels: data.pixels,
            w1: init(HIDDEN * data.pixels, data.pixels),
            b1: vec![0.0; HIDDEN],
            w2: init(CLASSES * HIDDEN, HIDDEN),
            b2: vec![0.0; CLASSES],
        };
        let mut adam = Adam::new(&mlp.params());
        let mut order: Vec<usize> = (0..data.len()).collect();
        for _ in 0..epochs {
            order.shuffle(&mut rng);
            for batch in order.chunks(32) {
                let grads = mlp.gradients(data, batch);
                adam.step(mlp.params_mut(), &grads);
            }
        }
        mlp
    }

    fn params(&self) -> [&[f32]; 4] {
        [&self.w1, &self.b1, &self.w2, &self.b2]
    }

    fn params_mut(&mut self) -> [&mut [f32]; 4] {
        [&mut self.w1, &mut self.b1, &mut self.w2, &mut self.b2]
    }

    /// The mean gradient of the cross-entropy over the images `batch`, per parameter.
    fn gradients(&self, data: &Digits, batch: &[usize]) -> [Vec<f32>; 4] {
        let mut g = self.params().map(|p| vec![0.0f32; p.len()]);
        let scale = 1.0 / batch.len() as f32;
        let pixels = self.pixels;
        for &i in batch {
            let x = &data.x[i * pixels..(i + 1) * pixels];
            let mut h = affine(&self.w1, &self.b1, x);
            relu(&mut h);
            let logits = affine(&self.w2, &self.b2, &h);
            // d loss / d logits = softmax - one-hot.
            let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let exp: Vec<f32> = logits.iter().map(|&l| (l - max).exp()).collect();
            let total: f32 = exp.iter().sum();
            let mut dh = vec![0.0f32; HIDDEN];
            for (j, &e) in exp.iter().enumerate() {
                let d = (e / total - f32::from(u8::from(j == data.y[i]))) * scale;
                g[3][j] += d;
                for (k, &hk) in h.iter().enumerate() {
                    g[2][j * HIDDEN + k] += d * hk;
                    dh[k] += d * self.w2[j * HIDDEN + k];
                }
            }
            for (k, &d) in dh.iter().enumerate().filter(|&(k, _)| h[k] > 0.0) {
                g[1][k] += d;
                for (p, &xp) in x.iter().enumerate() {
                    g[0][k * pixels + p] += d * xp;
                }
            }
        }
        g
    }

    /// The predicted class of each image of `x[.., pixels]`, in `f32`.
    pub fn predict(&self, x: &[f32]) -> Vec<usize> {
        let logits: Vec<f32> = x
            .chunks_exact(self.pixels)
            .flat_map(|xi| {
                let mut h = affine(&self.w1, &self.b1, xi);
                relu(&mut h);
                affine(&self.w2, &self.b2, &h)
            })
            .collect();
        argmax_rows(&logits)
    }

    /// The predicted class of each image of `x[.., pixels]` with both layers quantized: `int4`
    /// gives [`Int4Linear`]s (groups of [`int4_group`]) in that mode, `None` gives ternary
    /// [`BitLinear`]s (no norm, one absmean scale per tensor). The biases stay `f32`.
    pub fn predict_quantized(
        &self,
        device: &Device,
        x: &[f32],
        int4: Option<Int4Mode>,
    ) -> Result<Vec<usize>, Error> {
        let rows = x.len() / self.pixels;
        let linear = |w: &[f32], b: &[f32], x: &[f32], k: usize, n: usize| match int4 {
            Some(mode) => Int4Linear::new(device, w, k, n, int4_group(k), Some(b), mode)?
                .forward(x, &[rows, k]),
            None => {
                let options = BitLinearOptions::default()
                    .without_norm()
                    .granularity(ScaleGranularity::PerTensor);
                BitLinear::with_options(device, w, k, n, Some(b), &options)?.forward(x, &[rows, k])
            }
        };
        let mut h = linear(&self.w1, &self.b1, x, self.pixels, HIDDEN)?;
        relu(&mut h);
        Ok(argmax_rows(&linear(
            &self.w2, &self.b2, &h, HIDDEN, CLASSES,
        )?))
    }
}

/// Adam (`beta1 = 0.9`, `beta2 = 0.999`, `eps = 1e-8`, learning rate 0.01).
struct Adam {
    m: [Vec<f32>; 4],
    v: [Vec<f32>; 4],
    t: i32,
}

impl Adam {
    fn new(params: &[&[f32]; 4]) -> Adam {
        let zeros = params.map(|p| vec![0.0f32; p.len()]);
        Adam {
            m: zeros.clone(),
            v: zeros,
            t: 0,
        }
    }

    fn step(&mut self, params: [&mut [f32]; 4], grads: &[Vec<f32>; 4]) {
        const LR: f32 = 0.01;
        const B1: f32 = 0.9;
        const B2: f32 = 0.999;
        const EPS: f32 = 1e-8;
        self.t += 1;
        let (c1, c2) = (1.0 - B1.powi(self.t), 1.0 - B2.powi(self.t));
        for (i, p) in params.into_iter().enumerate() {
            for (j, w) in p.iter_mut().enumerate() {
                let g = grads[i][j];
                self.m[i][j] = B1 * self.m[i][j] + (1.0 - B1) * g;
                self.v[i][j] = B2 * self.v[i][j] + (1.0 - B2) * g * g;
                *w -= LR * (self.m[i][j] / c1) / ((self.v[i][j] / c2).sqrt() + EPS);
            }
        }
    }
}

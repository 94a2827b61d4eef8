//! [`Int4Linear`]: a linear layer on group-quantized int4 weights.

use super::{
    bias_f32, finite_f32, layer_input, output_shape, shape_error, weights_f32, Float, LayerInput,
};
use crate::formats::{pack_int4_planes, quantize_int4, Int4Group, Int4Weights};
use crate::kernels::norm;
use crate::ops::{to_i32, to_u32};
use crate::tuned::{Int4Activations, Int4Matmul, Int4PlanesGemv};
use crate::{f16, Buffer, Device, Error};

/// How [`Int4Linear`] treats its activations.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Int4Mode {
    /// W4A16: activations rounded to `f16`, weights dequantized to `f16`
    /// (`f16(q * scale)`), products accumulated in `f32`
    /// ([`crate::kernels::int4::w4a16_matmul`]; reference [`crate::reference::int4_w4a16`]).
    W4A16,
    /// W4A8: activations quantized per row to int8 (`scale = max(max|x|, 1e-5) / 127`),
    /// exact `i32` sums per weight group, scaled in `f32`
    /// ([`crate::kernels::norm::quantize_int8`] then [`crate::kernels::int4::w4a8_matmul`];
    /// reference [`crate::formats::quantize_activations`] then
    /// [`crate::reference::int4_w4a8`]).
    W4A8,
}

/// A linear layer on signed int4 weights with per-group `f32` scales (groups of 32, 64 or
/// 128 along K, or one per row), packed 16 per `u64` on a device (on the LLVM CPU backend,
/// groups of a multiple of 32 in the CPU planes layout instead,
/// [`crate::tuned::int4_uses_planes`]), with an optional bias.
///
/// `forward` computes `y = x W^T (+ bias)` in the selected [`Int4Mode`]; the bias is added in
/// `f32` to the downloaded result, which is then rounded to the input's type.
///
/// ```
/// use bitmat::formats::Int4Group;
/// use bitmat::nn::{Int4Linear, Int4Mode};
/// use bitmat::{f16, Device};
///
/// # fn main() -> Result<(), bitmat::Error> {
/// let device = Device::interpreter();
/// let weight: Vec<f32> = (0..4 * 32).map(|i| ((i % 9) as f32 - 4.0) / 8.0).collect();
/// let layer = Int4Linear::new(&device, &weight, 32, 4, Int4Group::Size(32), None, Int4Mode::W4A16)?;
/// let x = vec![f16::from_f32(0.5); 32];
/// let y = layer.forward(&x, &[1, 32])?;
/// assert_eq!(y.len(), 4);
/// # Ok(())
/// # }
/// ```
pub struct Int4Linear {
    device: Device,
    in_features: usize,
    out_features: usize,
    group: Int4Group,
    group_size: usize,
    mode: Int4Mode,
    weights: Int4Storage,
    bias: Option<Vec<f32>>,
}

/// The one copy of an [`Int4Linear`]'s weights on its device.
enum Int4Storage {
    /// The canonical packing (16 per `u64`) and its group scales.
    Canonical {
        packed: Buffer<u64>,
        scales: Buffer<f32>,
    },
    /// The CPU planes layout ([`crate::formats::int4_planes`]), on the LLVM backend.
    Planes {
        codes: Buffer<u8>,
        scales: Buffer<f32>,
        scale_cols: i32,
    },
}

impl std::fmt::Debug for Int4Linear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Int4Linear")
            .field("device", &self.device)
            .field("in_features", &self.in_features)
            .field("out_features", &self.out_features)
            .field("group", &self.group)
            .field("mode", &self.mode)
            .field("bias", &self.bias.is_some())
            .finish()
    }
}

impl Int4Linear {
    /// Quantizes `weight[out_features, in_features]` (row-major `f32`, `f16` or `bf16`) to
    /// int4 ([`quantize_int4`]: `scale = max|w| / 7` per group), packs it and uploads it to
    /// `device` once; `bias` is `out_features` values.
    ///
    /// Errors: `in_features` not a multiple of 16, a group that is not a multiple of 16
    /// dividing `in_features`, a zero dimension, a non-finite weight ([`Error::Format`]); a
    /// `weight` or `bias` of the wrong length, a non-finite bias.
    pub fn new<T: Float>(
        device: &Device,
        weight: &[T],
        in_features: usize,
        out_features: usize,
        group: Int4Group,
        bias: Option<&[T]>,
        mode: Int4Mode,
    ) -> Result<Int4Linear, Error> {
        const OP: &str = "Int4Linear::new";
        let w = weights_f32(OP, weight, out_features, in_features)?;
        let q = quantize_int4(&w, out_features, in_features, group)?;
        let bias = bias_f32(OP, bias, out_features)?;
        Self::build(OP, device, &q, bias, mode)
    }

    /// A layer on already quantized int4 weights, with an optional `bias` of `out_features`
    /// values.
    ///
    /// Errors: inconsistent `weights` ([`Int4Weights::validate`]), a zero dimension, non-finite
    /// scales, a `bias` of the wrong length or non-finite.
    pub fn from_int4(
        device: &Device,
        weights: &Int4Weights,
        bias: Option<&[f32]>,
        mode: Int4Mode,
    ) -> Result<Int4Linear, Error> {
        const OP: &str = "Int4Linear::from_int4";
        let bias = bias_f32(OP, bias, weights.out_features)?;
        Self::build(OP, device, weights, bias, mode)
    }

    fn build(
        op: &'static str,
        device: &Device,
        w: &Int4Weights,
        bias: Option<Vec<f32>>,
        mode: Int4Mode,
    ) -> Result<Int4Linear, Error> {
        w.validate()?;
        if w.in_features == 0 || w.out_features == 0 {
            return Err(crate::formats::FormatError::Empty {
                what: "Int4Linear weights".into(),
                out: w.out_features,
                inp: w.in_features,
            }
            .into());
        }
        finite_f32("int4 scales", &w.scales)?;
        to_i32(op, "in_features", w.in_features)?;
        to_i32(op, "out_features", w.out_features)?;
        let weights = if crate::tuned::int4_uses_planes(device.backend(), w.group_size()) {
            let p = pack_int4_planes(w)?;
            Int4Storage::Planes {
                codes: device.upload(&p.codes)?,
                scales: device.upload(&p.scales)?,
                scale_cols: to_i32(op, "scale columns", p.scale_cols)?,
            }
        } else {
            Int4Storage::Canonical {
                packed: device.upload(&w.packed)?,
                scales: device.upload(&w.scales)?,
            }
        };
        Ok(Int4Linear {
            device: device.clone(),
            weights,
            in_features: w.in_features,
            out_features: w.out_features,
            group: w.group,
            group_size: w.group_size(),
            mode,
            bias,
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

    /// The weight groups along K.
    pub fn group(&self) -> Int4Group {
        self.group
    }

    /// The activation mode `forward` uses.
    pub fn mode(&self) -> Int4Mode {
        self.mode
    }

    /// Selects the activation mode (the packed weights serve both).
    pub fn set_mode(&mut self, mode: Int4Mode) {
        self.mode = mode;
    }

    /// Whether the layer adds a bias.
    pub fn has_bias(&self) -> bool {
        self.bias.is_some()
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
            "Int4Linear::output_shape",
            shape,
            self.in_features,
            self.out_features,
        )
    }

    /// Runs the layer on `x` of shape `[.., in_features]` in the current [`Int4Mode`],
    /// returning `[.., out_features]` in the input's type.
    ///
    /// Errors ([`Error::Shape`] unless noted): an empty `shape`, a last dimension other than
    /// `in_features`, `x.len()` not the product of `shape`, a NaN or infinite input
    /// ([`Error::Format`]), in W4A16 mode an input beyond the `f16` range (±65504); device
    /// errors ([`Error::Runtime`]).
    pub fn forward<T: Float>(&self, x: &[T], shape: &[usize]) -> Result<Vec<T>, Error> {
        const OP: &str = "Int4Linear::forward";
        let Some(LayerInput { x, rows, out_len }) = layer_input(
            OP,
            "Int4Linear input",
            x,
            shape,
            self.in_features,
            self.out_features,
        )?
        else {
            return Ok(Vec::new());
        };
        let (k, n, dev) = (self.in_features, self.out_features, &self.device);
        let (m32, n32, k32) = (
            to_i32(OP, "rows", rows)?,
            to_i32(OP, "out_features", n)?,
            to_i32(OP, "in_features", k)?,
        );
        let group = to_i32(OP, "group", self.group_size)?;
        let y = dev.zeros::<f32>(out_len)?;
        let (xh, q, sx);
        let activations = match self.mode {
            Int4Mode::W4A16 => {
                let halves: Vec<f16> = x.iter().map(|&v| f16::from_f32(v)).collect();
                if let Some(i) = halves.iter().position(|v| !v.is_finite()) {
                    return Err(shape_error(
                        OP,
                        format!(
                            "input element {i} = {} exceeds the f16 range (±65504) of W4A16 \
                             mode; use Int4Mode::W4A8",
                            x[i]
                        ),
                    ));
                }
                xh = dev.upload(&halves)?;
                Int4Activations::F16(&xh)
            }
            Int4Mode::W4A8 => {
                let xb = dev.upload(&x)?;
                q = dev.zeros::<i8>(x.len())?;
                sx = dev.zeros::<f32>(rows)?;
                let block = k.clamp(1, 256).next_power_of_two() as i32;
                let grid = to_u32(OP, rows)?;
                to_i32(OP, "rows * in_features", x.len())?;
                // SAFETY: `x` and `q` hold `rows * in_features` elements (whose offsets fit
                // the kernel's `i32` indexing), `sx` one per row.
                unsafe {
                    norm::quantize_int8::launch_unchecked(dev, grid, &xb, &q, &sx, k32, block)
                }?;
                Int4Activations::I8 {
                    values: &q,
                    scales: &sx,
                }
            }
        };
        match &self.weights {
            Int4Storage::Canonical { packed, scales } => Int4Matmul {
                x: activations,
                w: packed,
                scales,
                y: &y,
                m: m32,
                n: n32,
                k: k32,
                group,
            }
            .launch(dev)?,
            Int4Storage::Planes {
                codes,
                scales,
                scale_cols,
            } => Int4PlanesGemv {
                x: activations,
                w: codes,
                scales,
                y: &y,
                m: m32,
                n: n32,
                k: k32,
                scale_cols: *scale_cols,
            }
            .launch(dev)?,
        }
        let mut y = y.to_vec()?;
        if let Some(b) = &self.bias {
            for row in y.chunks_exact_mut(n) {
                for (v, &bj) in row.iter_mut().zip(b) {
                    *v += bj;
                }
            }
        }
        Ok(y.into_iter().map(T::from_f32).collect())
    }
}

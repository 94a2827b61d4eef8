//! all-MiniLM-L6-v2 through the BERT of `bert.rs` in each variant (f32; int4 W4A16 and W4A8
//! with groups of 64, rounded to nearest and calibrated with GPTQ; ternary), against
//! candle-transformers' own f32 BERT: the cosine similarity of every sentence embedding, and
//! the time per sentence. Shared by
//! `examples/minilm_bert.rs` and `tests/minilm_bert.rs` through `#[path]`.

use super::bert::{self, Bert, Calibration, CALIBRATION, SENTENCES};
use bitmat::formats::{quantize_int4, Int4Group, ScaleGranularity};
use bitmat::nn::{BitLinearOptions, Int4Mode};
use bitmat::Device;
use bitmat_candle::gptq::{gptq_int4, GptqOptions};
use bitmat_candle::{Int4Linear, Linear, Quantization};
use candle_core::{DType, Device as CDevice, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::BertModel;
use std::error::Error;
use std::path::Path;
use std::time::Instant;

/// One variant's results.
pub struct Variant {
    /// What the linear layers are.
    pub name: &'static str,
    /// The cosine of each sentence's embedding with candle-transformers' f32 one.
    pub cosines: Vec<f64>,
    /// Mean wall time per sentence (after a warm-up pass), in milliseconds.
    pub ms_per_sentence: f64,
}

impl Variant {
    /// The mean cosine.
    pub fn mean(&self) -> f64 {
        self.cosines.iter().sum::<f64>() / self.cosines.len() as f64
    }
    /// The smallest cosine.
    pub fn min(&self) -> f64 {
        self.cosines.iter().copied().fold(f64::INFINITY, f64::min)
    }
}

/// How a variant's linear layers are made from the float weights.
#[derive(Clone)]
pub enum Build {
    /// Quantized on load ([`Linear::load`]; round-to-nearest for int4).
    OnLoad(Quantization),
    /// int4 with groups of 64, calibrated with GPTQ on [`CALIBRATION`], run in this mode.
    Gptq(Int4Mode),
    /// candle's float `Linear` on the int4 (groups of 64, round-to-nearest) weights
    /// dequantized: what the int4 layers compute, up to their f16 activations.
    Dequantized,
}

/// The variants compared: candle's float layers; int4 (groups of 64) in both modes, rounded
/// to nearest and with GPTQ; ternary (BitLinear without its norm, which a model not trained
/// for it lacks) per tensor and per row.
pub fn variants() -> Vec<(&'static str, Build)> {
    let int4 = |mode| {
        Build::OnLoad(Quantization::Int4 {
            group: Int4Group::Size(64),
            mode,
        })
    };
    let ternary = |g| {
        Build::OnLoad(Quantization::Ternary(
            BitLinearOptions::default().without_norm().granularity(g),
        ))
    };
    vec![
        ("f32 (candle Linear)", Build::OnLoad(Quantization::Float)),
        ("int4 g64 W4A16", int4(Int4Mode::W4A16)),
        ("int4 g64 W4A8", int4(Int4Mode::W4A8)),
        ("int4 g64 dequantized f32", Build::Dequantized),
        ("int4 g64 W4A16 GPTQ", Build::Gptq(Int4Mode::W4A16)),
        ("int4 g64 W4A8 GPTQ", Build::Gptq(Int4Mode::W4A8)),
        ("ternary per tensor", ternary(ScaleGranularity::PerTensor)),
        ("ternary per row", ternary(ScaleGranularity::PerRow)),
    ]
}

/// candle's float layer on the weights of `vb` quantized to int4 (groups of 64,
/// round-to-nearest) and dequantized.
fn dequantized_layer(
    vb: VarBuilder,
    in_features: usize,
    out_features: usize,
) -> Result<Linear, bitmat_candle::Error> {
    let weight = vb
        .get((out_features, in_features), "weight")?
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let q = quantize_int4(&weight, out_features, in_features, Int4Group::Size(64))?;
    let w = Tensor::from_vec(q.dequantize(), (out_features, in_features), &CDevice::Cpu)?;
    let bias = vb.get(out_features, "bias")?;
    Ok(Linear::Float(candle_nn::Linear::new(w, Some(bias))))
}

/// The int4 layer of `vb` (groups of 64, `mode`) quantized by GPTQ against its inputs'
/// statistics in `calibration`.
fn gptq_layer(
    device: &Device,
    calibration: &Calibration,
    vb: VarBuilder,
    in_features: usize,
    out_features: usize,
    mode: Int4Mode,
) -> Result<Linear, bitmat_candle::Error> {
    let name = vb.prefix();
    let hessian = calibration
        .get(&name)
        .ok_or_else(|| bitmat_candle::Error::Tensor {
            op: "gptq_layer",
            message: format!("no calibration inputs reached {name}"),
        })?;
    let weight = vb
        .get((out_features, in_features), "weight")?
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let bias = vb.get(out_features, "bias")?.to_vec1::<f32>()?;
    let options = GptqOptions::new(Int4Group::Size(64));
    let q = gptq_int4(&weight, out_features, in_features, hessian, &options)?;
    let layer = bitmat::nn::Int4Linear::from_int4(device, &q, Some(&bias), mode)?;
    Ok(Linear::Int4(Int4Linear::from_layer(layer)))
}

/// Embeds [`SENTENCES`] with candle-transformers' BERT and with each variant of `bert.rs`.
pub fn compare(dir: &Path, device: &Device) -> Result<Vec<Variant>, Box<dyn Error>> {
    let mut tokenizer = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json"))
        .map_err(|e| format!("tokenizer.json: {e}"))?;
    // The file pads every sentence to 128 tokens; one sentence at a time needs no padding
    // (and so no attention mask).
    tokenizer.with_padding(None);
    let tokenize = |texts: &[&str]| -> Result<Vec<Vec<u32>>, String> {
        texts
            .iter()
            .map(|s| tokenizer.encode(*s, true).map(|e| e.get_ids().to_vec()))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("tokenizing: {e}"))
    };
    let ids = tokenize(&SENTENCES)?;
    let config = bert::config(dir)?;
    let vb = bert::weights(dir)?;
    let reference = BertModel::load(vb.clone(), &config)?;
    let want: Vec<Vec<f32>> = ids
        .iter()
        .map(|ids| {
            let t = Tensor::new(ids.as_slice(), &CDevice::Cpu)?.unsqueeze(0)?;
            reference
                .forward(&t, &t.zeros_like()?, None)?
                .mean(1)?
                .squeeze(0)?
                .to_vec1()
        })
        .collect::<candle_core::Result<_>>()?;
    // GPTQ's statistics: the float model's layer inputs on text other than the sentences
    // compared.
    let calibration = Bert::load(device, &vb, &config, &|_| Quantization::Float)?
        .calibrate(&tokenize(&CALIBRATION)?)?;
    variants()
        .into_iter()
        .map(|(name, build)| {
            let model = match build {
                Build::OnLoad(q) => Bert::load(device, &vb, &config, &|_| q.clone())?,
                Build::Dequantized => Bert::load_with(&vb, &config, &dequantized_layer)?,
                Build::Gptq(mode) => Bert::load_with(&vb, &config, &|vb, i, o| {
                    gptq_layer(device, &calibration, vb, i, o, mode)
                })?,
            };
            let embed_all = || -> candle_core::Result<Vec<Vec<f32>>> {
                ids.iter().map(|ids| model.embed(ids)).collect()
            };
            embed_all()?; // warm-up: kernels compiled, each shape bucket tuned
            let start = Instant::now();
            let got = embed_all()?;
            let ms_per_sentence = start.elapsed().as_secs_f64() * 1e3 / ids.len() as f64;
            let cosines = got
                .iter()
                .zip(&want)
                .map(|(a, b)| bert::cosine(a, b))
                .collect();
            Ok(Variant {
                name,
                cosines,
                ms_per_sentence,
            })
        })
        .collect()
}

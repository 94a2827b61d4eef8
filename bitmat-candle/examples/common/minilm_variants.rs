//! all-MiniLM-L6-v2 through the BERT of `bert.rs` in each variant (f32, int4 W4A16 and W4A8
//! with groups of 64, ternary), against candle-transformers' own f32 BERT: the cosine
//! similarity of every sentence embedding, and the time per sentence. Shared by
//! `examples/minilm_bert.rs` and `tests/minilm_bert.rs` through `#[path]`.

use super::bert::{self, Bert, SENTENCES};
use bitmat::formats::{Int4Group, ScaleGranularity};
use bitmat::nn::{BitLinearOptions, Int4Mode};
use bitmat::Device;
use bitmat_candle::Quantization;
use candle_core::{Device as CDevice, Tensor};
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

/// The variants compared: candle's float layers, int4 (groups of 64) in both modes, ternary
/// (BitLinear without its norm, which a model not trained for it lacks) per tensor and per
/// row.
pub fn quantizations() -> Vec<(&'static str, Quantization)> {
    let int4 = |mode| Quantization::Int4 {
        group: Int4Group::Size(64),
        mode,
    };
    let ternary =
        |g| Quantization::Ternary(BitLinearOptions::default().without_norm().granularity(g));
    vec![
        ("f32 (candle Linear)", Quantization::Float),
        ("int4 g64 W4A16", int4(Int4Mode::W4A16)),
        ("int4 g64 W4A8", int4(Int4Mode::W4A8)),
        ("ternary per tensor", ternary(ScaleGranularity::PerTensor)),
        ("ternary per row", ternary(ScaleGranularity::PerRow)),
    ]
}

/// Embeds [`SENTENCES`] with candle-transformers' BERT and with each variant of `bert.rs`.
pub fn compare(dir: &Path, device: &Device) -> Result<Vec<Variant>, Box<dyn Error>> {
    let mut tokenizer = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json"))
        .map_err(|e| format!("tokenizer.json: {e}"))?;
    // The file pads every sentence to 128 tokens; one sentence at a time needs no padding
    // (and so no attention mask).
    tokenizer.with_padding(None);
    let ids: Vec<Vec<u32>> = SENTENCES
        .iter()
        .map(|s| tokenizer.encode(*s, true).map(|e| e.get_ids().to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("tokenizing: {e}"))?;
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
    quantizations()
        .into_iter()
        .map(|(name, q)| {
            let model = Bert::load(device, &vb, &config, &|_| q.clone())?;
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

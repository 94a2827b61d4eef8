//! all-MiniLM-L6-v2 end to end (`examples/minilm_bert.rs`): the BERT written on candle-nn
//! with candle's float layers gives candle-transformers' embeddings (cosine > 0.99999), with
//! every linear layer an `Int4Linear` (groups of 64, round-to-nearest with absmax scales) the
//! 24 sentence embeddings keep a mean cosine >= 0.93 (0.950 W4A16 and 0.947 W4A8 measured;
//! the 0.99 that issue 16 asks for needs a calibrated quantizer, which bitmat lacks), and the
//! ternary variants run (their cosines printed; a model not trained for ternary weights
//! loses most of its meaning). Reported as skipped, with the reason,
//! when the model is not installed (`.ci/run` installs it and requires it: `BITMAT_REQUIRE`).

#[path = "../examples/common/bert.rs"]
mod bert;
#[path = "../examples/common/minilm_variants.rs"]
mod minilm_variants;
#[path = "../../examples/common/pydata.rs"]
mod pydata;
#[path = "../../tests/support/requirement.rs"]
mod requirement;

use bitmat::Device;
use std::path::PathBuf;

fn main() {
    requirement::run(vec![requirement::trial(
        "minilm_bert_embeddings_with_int4_and_ternary_layers",
        "minilm",
        bert::locate(),
        |dir| check(dir).map_err(|e| e.to_string().into()),
    )])
    .exit()
}

fn check(dir: PathBuf) -> Result<(), Box<dyn std::error::Error>> {
    let variants = minilm_variants::compare(&dir, &Device::cpu())?;
    for v in &variants {
        println!(
            "{:<22} mean cosine {:.5}, min {:.5}, {:.1} ms / sentence",
            v.name,
            v.mean(),
            v.min(),
            v.ms_per_sentence
        );
        assert_eq!(v.cosines.len(), bert::SENTENCES.len());
        assert!(v.cosines.iter().all(|c| c.is_finite()), "{}", v.name);
    }
    let by = |name: &str| variants.iter().find(|v| v.name.starts_with(name)).unwrap();
    assert!(
        by("f32").min() > 0.99999,
        "the candle-nn BERT is candle-transformers'"
    );
    assert!(by("int4 g64 W4A16").mean() >= 0.93);
    assert!(by("int4 g64 W4A8").mean() >= 0.93);
    Ok(())
}

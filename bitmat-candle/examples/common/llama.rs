//! A Llama decoder written on candle-nn whose every projection is a `bitmat_candle::Linear`
//! (candle's float layer, `BitLinear` or `Int4Linear`, as the loader decides), with a key/value
//! cache and greedy generation. The embedding is tied to the output layer, which stays float
//! (as `bitmat convert` keeps `lm_head`). Shared by `examples/smollm2.rs` and
//! `tests/smollm2.rs` through `#[path]`.

use bitmat_candle::Linear;
use candle_core::{DType, Device as CDevice, Module, Tensor, D};
use candle_nn::{embedding, rms_norm, Embedding, RmsNorm, VarBuilder};
use std::error::Error;

/// The hyper-parameters (Hugging Face's `LlamaConfig` names).
#[derive(Clone, Debug)]
pub struct Config {
    /// Model width.
    pub hidden_size: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention).
    pub num_key_value_heads: usize,
    /// Tokens in the vocabulary.
    pub vocab_size: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// Rotary embedding base.
    pub rope_theta: f64,
    /// Longest sequence.
    pub max_position_embeddings: usize,
}

impl Config {
    fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}

/// One decoder layer.
struct Block {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    gate: Linear,
    up: Linear,
    down: Linear,
    attention_norm: RmsNorm,
    mlp_norm: RmsNorm,
}

/// The decoder.
pub struct Llama {
    embed: Embedding,
    blocks: Vec<Block>,
    norm: RmsNorm,
    lm_head: candle_nn::Linear,
    cos: Tensor,
    sin: Tensor,
    config: Config,
}

/// The keys and values of the tokens seen so far, per layer.
pub struct Cache {
    kv: Vec<Option<(Tensor, Tensor)>>,
}

/// Builds the projection named `name` (e.g. `model.layers.0.self_attn.q_proj`) with `in`
/// and `out` features.
pub type LinearLoader<'a> = dyn Fn(&str, usize, usize) -> Result<Linear, bitmat_candle::Error> + 'a;

impl Llama {
    /// Loads the embedding and norms from `vb` (Hugging Face names) and each projection from
    /// `linear`.
    pub fn load(
        vb: &VarBuilder,
        c: &Config,
        linear: &LinearLoader,
    ) -> Result<Llama, Box<dyn Error>> {
        let (h, kv) = (c.hidden_size, c.num_key_value_heads * c.head_dim());
        let blocks = (0..c.num_hidden_layers)
            .map(|i| {
                let p = format!("model.layers.{i}");
                let l = |name: &str, i: usize, o: usize| linear(&format!("{p}.{name}"), i, o);
                Ok(Block {
                    q: l("self_attn.q_proj", h, h)?,
                    k: l("self_attn.k_proj", h, kv)?,
                    v: l("self_attn.v_proj", h, kv)?,
                    o: l("self_attn.o_proj", h, h)?,
                    gate: l("mlp.gate_proj", h, c.intermediate_size)?,
                    up: l("mlp.up_proj", h, c.intermediate_size)?,
                    down: l("mlp.down_proj", c.intermediate_size, h)?,
                    attention_norm: rms_norm(h, c.rms_norm_eps, vb.pp(&p).pp("input_layernorm"))?,
                    mlp_norm: rms_norm(
                        h,
                        c.rms_norm_eps,
                        vb.pp(&p).pp("post_attention_layernorm"),
                    )?,
                })
            })
            .collect::<Result<_, Box<dyn Error>>>()?;
        let embed = embedding(c.vocab_size, h, vb.pp("model.embed_tokens"))?;
        let lm_head = candle_nn::Linear::new(embed.embeddings().clone(), None);
        // Rotary angles: position p, frequency i -> p * theta^(-2i / head_dim).
        let half = c.head_dim() / 2;
        let inv_freq: Vec<f32> = (0..half)
            .map(|i| (1.0 / c.rope_theta.powf(2.0 * i as f64 / c.head_dim() as f64)) as f32)
            .collect();
        let inv_freq = Tensor::from_vec(inv_freq, (1, half), &CDevice::Cpu)?;
        let positions = Tensor::arange(0u32, c.max_position_embeddings as u32, &CDevice::Cpu)?
            .to_dtype(DType::F32)?
            .reshape((c.max_position_embeddings, 1))?;
        let angles = positions.broadcast_mul(&inv_freq)?;
        Ok(Llama {
            embed,
            blocks,
            norm: rms_norm(h, c.rms_norm_eps, vb.pp("model.norm"))?,
            lm_head,
            cos: angles.cos()?,
            sin: angles.sin()?,
            config: c.clone(),
        })
    }

    /// An empty cache for this model.
    pub fn cache(&self) -> Cache {
        Cache {
            kv: vec![None; self.blocks.len()],
        }
    }

    /// Runs `tokens` at positions `pos..` after the tokens in `cache` (which it extends) and
    /// returns the logits `[vocab]` for the next token.
    pub fn forward(
        &self,
        tokens: &[u32],
        pos: usize,
        cache: &mut Cache,
    ) -> candle_core::Result<Tensor> {
        let len = tokens.len();
        let ids = Tensor::new(tokens, &CDevice::Cpu)?.unsqueeze(0)?;
        let mut x = self.embed.forward(&ids)?;
        let cos = self.cos.narrow(0, pos, len)?;
        let sin = self.sin.narrow(0, pos, len)?;
        // Token i (at position pos + i) sees the cached tokens and itself and those before.
        let mask: Vec<f32> = (0..len)
            .flat_map(|i| {
                (0..pos + len).map(move |j| if j > pos + i { f32::NEG_INFINITY } else { 0.0 })
            })
            .collect();
        let mask = Tensor::from_vec(mask, (len, pos + len), &CDevice::Cpu)?;
        for (block, kv) in self.blocks.iter().zip(&mut cache.kv) {
            x = block.forward(&x, &self.config, (&cos, &sin), &mask, kv)?;
        }
        let last = self.norm.forward(&x)?.narrow(1, len - 1, 1)?.squeeze(0)?;
        self.lm_head.forward(&last)?.squeeze(0)
    }

    /// Greedy decoding: the prompt's continuation, up to `max_new` tokens, ending before
    /// `stop`.
    pub fn generate(
        &self,
        prompt: &[u32],
        max_new: usize,
        stop: u32,
    ) -> candle_core::Result<Vec<u32>> {
        let mut cache = self.cache();
        let mut logits = self.forward(prompt, 0, &mut cache)?;
        let mut out = Vec::new();
        while out.len() < max_new {
            let next = logits.argmax(D::Minus1)?.to_scalar::<u32>()?;
            if next == stop {
                break;
            }
            out.push(next);
            logits = self.forward(&[next], prompt.len() + out.len() - 1, &mut cache)?;
        }
        Ok(out)
    }
    /// Feeds `prompt` then `answer` and counts the positions where the model's top token is
    /// the answer's next token (teacher-forced agreement).
    pub fn agreement(&self, prompt: &[u32], answer: &[u32]) -> candle_core::Result<usize> {
        let mut cache = self.cache();
        let mut logits = self.forward(prompt, 0, &mut cache)?;
        let mut agree = 0;
        for (i, &token) in answer.iter().enumerate() {
            agree += usize::from(logits.argmax(D::Minus1)?.to_scalar::<u32>()? == token);
            logits = self.forward(&[token], prompt.len() + i, &mut cache)?;
        }
        Ok(agree)
    }
}

impl Block {
    fn forward(
        &self,
        x: &Tensor,
        c: &Config,
        (cos, sin): (&Tensor, &Tensor),
        mask: &Tensor,
        kv: &mut Option<(Tensor, Tensor)>,
    ) -> candle_core::Result<Tensor> {
        let (b, len, hidden) = x.dims3()?;
        let (heads, kv_heads, head_dim) =
            (c.num_attention_heads, c.num_key_value_heads, c.head_dim());
        let h = self.attention_norm.forward(x)?;
        let split = |t: Tensor, n: usize| {
            t.reshape((b, len, n, head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = candle_nn::rotary_emb::rope(&split(self.q.forward(&h)?, heads)?, cos, sin)?;
        let k = candle_nn::rotary_emb::rope(&split(self.k.forward(&h)?, kv_heads)?, cos, sin)?;
        let v = split(self.v.forward(&h)?, kv_heads)?;
        let (k, v) = match kv.take() {
            Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
            None => (k, v),
        };
        *kv = Some((k.clone(), v.clone()));
        // Grouped-query attention: each key/value head serves heads / kv_heads query heads.
        let group = heads / kv_heads;
        let q = q.reshape((b, kv_heads, group * len, head_dim))?;
        let scores = (q.matmul(&k.t()?)? / (head_dim as f64).sqrt())?
            .reshape((b, heads, len, k.dim(2)?))?
            .broadcast_add(mask)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?.reshape((
            b,
            kv_heads,
            group * len,
            k.dim(2)?,
        ))?;
        let context = probs
            .matmul(&v)?
            .reshape((b, heads, len, head_dim))?
            .transpose(1, 2)?
            .reshape((b, len, hidden))?;
        let x = (x + self.o.forward(&context)?)?;
        let h = self.mlp_norm.forward(&x)?;
        let mlp = (candle_nn::ops::silu(&self.gate.forward(&h)?)? * self.up.forward(&h)?)?;
        x + self.down.forward(&mlp)?
    }
}

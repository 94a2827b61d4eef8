//! `bitmat convert` on small generated Llama-style checkpoints: what is converted, what is
//! kept, that converted layers equal `formats::quantize_*` of the original weights, the
//! summary, the selector and progress callbacks, and every error (with nothing written). The
//! `bitmat convert` command (globs, progress bar) is tested in `bitmat-cli/tests/convert.rs`.

use bitmat::checkpoint::{Checkpoint, CheckpointError, Dtype, Tensor};
use bitmat::convert::{
    convert_checkpoint, convert_file, ConvertOptions, Selection, Step, TargetFormat,
};
use bitmat::formats::{quantize_int4, quantize_ternary, FormatError, Int4Group, ScaleGranularity};
use bitmat::{bf16, f16};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

const H: usize = 64;
const I: usize = 128;
const V: usize = 32;

#[derive(Clone, Copy)]
enum D {
    F32,
    F16,
    BF16,
}

/// A Llama-style model, and the f32 value of every tensor (f16/bf16 rounded here, with
/// `half`, independently of the crate's readers).
struct Model {
    ck: Checkpoint,
    values: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl Model {
    fn add(&mut self, rng: &mut StdRng, name: &str, shape: &[usize], d: D) {
        let n: usize = shape.iter().product();
        let raw: Vec<f32> = (0..n).map(|_| rng.gen_range(-0.5f32..0.5)).collect();
        let (t, vals) = match d {
            D::F32 => (Tensor::from_f32(shape, &raw).unwrap(), raw),
            D::F16 => {
                let h: Vec<f16> = raw.iter().map(|&v| f16::from_f32(v)).collect();
                (
                    Tensor::from_f16(shape, &h).unwrap(),
                    h.iter().map(|v| v.to_f32()).collect(),
                )
            }
            D::BF16 => {
                let b: Vec<bf16> = raw.iter().map(|&v| bf16::from_f32(v)).collect();
                (
                    Tensor::from_bf16(shape, &b).unwrap(),
                    b.iter().map(|v| v.to_f32()).collect(),
                )
            }
        };
        self.ck.insert(name, t);
        self.values.insert(name.into(), (shape.to_vec(), vals));
    }
}

const CONVERTED: [&str; 8] = [
    "model.layers.0.mlp.down_proj",
    "model.layers.0.mlp.fc_extra",
    "model.layers.0.mlp.gate_proj",
    "model.layers.0.mlp.up_proj",
    "model.layers.0.self_attn.k_proj",
    "model.layers.0.self_attn.o_proj",
    "model.layers.0.self_attn.q_proj",
    "model.layers.0.self_attn.v_proj",
];

const KEPT: [&str; 6] = [
    "lm_head.weight",
    "model.embed_tokens.weight",
    "model.layers.0.input_layernorm.weight",
    "model.layers.0.self_attn.q_proj.bias",
    "model.layers.1.self_attn.q_proj.weight",
    "model.norm.weight",
];

fn llama() -> Model {
    let mut rng = StdRng::seed_from_u64(7);
    let mut m = Model {
        ck: Checkpoint::new(),
        values: BTreeMap::new(),
    };
    m.ck.set_metadata("format", "pt");
    m.add(&mut rng, "model.embed_tokens.weight", &[V, H], D::F32);
    m.add(
        &mut rng,
        "model.layers.0.input_layernorm.weight",
        &[H],
        D::F32,
    );
    m.add(
        &mut rng,
        "model.layers.0.self_attn.q_proj.weight",
        &[H, H],
        D::F32,
    );
    m.add(
        &mut rng,
        "model.layers.0.self_attn.q_proj.bias",
        &[H],
        D::F32,
    );
    m.add(
        &mut rng,
        "model.layers.0.self_attn.k_proj.weight",
        &[32, H],
        D::F32,
    );
    m.add(
        &mut rng,
        "model.layers.0.self_attn.v_proj.weight",
        &[32, H],
        D::F16,
    );
    m.add(
        &mut rng,
        "model.layers.0.self_attn.o_proj.weight",
        &[H, H],
        D::BF16,
    );
    m.add(
        &mut rng,
        "model.layers.0.mlp.gate_proj.weight",
        &[I, H],
        D::F16,
    );
    m.add(
        &mut rng,
        "model.layers.0.mlp.up_proj.weight",
        &[I, H],
        D::BF16,
    );
    m.add(
        &mut rng,
        "model.layers.0.mlp.down_proj.weight",
        &[H, I],
        D::F32,
    );
    m.add(
        &mut rng,
        "model.layers.0.mlp.fc_extra.weight",
        &[16, H],
        D::F32,
    );
    m.add(
        &mut rng,
        "model.layers.1.self_attn.q_proj.weight",
        &[H, H],
        D::F32,
    );
    m.add(&mut rng, "model.norm.weight", &[H], D::F32);
    m.add(&mut rng, "lm_head.weight", &[V, H], D::F16);
    m
}

/// Options whose selector also converts `*.fc_extra` and excludes `model.layers.1.*` and the
/// layers ending with one of `also_excluded`.
fn opts_excluding(to: TargetFormat, also_excluded: &'static [&'static str]) -> ConvertOptions {
    let mut o = ConvertOptions::new(to);
    o.select = Arc::new(move |layer, name| {
        assert_eq!(name, format!("{layer}.weight"));
        let excluded = layer.starts_with("model.layers.1.")
            || also_excluded.iter().any(|s| layer.ends_with(s));
        match Selection::by_default(layer) {
            Selection::Keep if !layer.ends_with(".fc_extra") => Selection::Keep,
            _ if excluded => Selection::Exclude,
            _ => Selection::Convert,
        }
    });
    o
}

fn opts(to: TargetFormat) -> ConvertOptions {
    opts_excluding(to, &[])
}

fn data_bytes(ck: &Checkpoint) -> u64 {
    ck.tensors().map(|(_, t)| t.data().len() as u64).sum()
}

fn check_summary_and_kept(m: &Model, out: &Checkpoint, s: &bitmat::convert::ConvertSummary) {
    assert_eq!(s.converted, CONVERTED);
    assert_eq!(s.kept, KEPT);
    assert_eq!(s.excluded, ["model.layers.1.self_attn.q_proj.weight"]);
    assert_eq!(s.bytes_before, data_bytes(&m.ck));
    assert_eq!(s.bytes_after, data_bytes(out));
    assert!(s.bytes_after < s.bytes_before / 2);
    for k in KEPT {
        assert_eq!(out.tensor(k).unwrap(), m.ck.tensor(k).unwrap(), "{k}");
    }
    assert_eq!(out.metadata().get("format").unwrap(), "pt");
    let text = s.to_string();
    assert!(
        text.starts_with("converted 8 layers, kept 6 tensors (1 excluded)"),
        "{text}"
    );
}

#[test]
fn ternary_conversion_equals_quantize_ternary() {
    let m = llama();
    for (per_row, g) in [
        (false, ScaleGranularity::PerTensor),
        (true, ScaleGranularity::PerRow),
    ] {
        let mut o = opts(TargetFormat::Ternary);
        o.per_row = per_row;
        let (out, s) = convert_checkpoint(&m.ck, &o).unwrap();
        check_summary_and_kept(&m, &out, &s);
        assert_eq!(out.metadata().get("bitmat.format").unwrap(), "ternary");
        let mut expected_after = 0u64;
        for layer in CONVERTED {
            let (shape, w) = &m.values[&format!("{layer}.weight")];
            let want = quantize_ternary(w, shape[0], shape[1], g).unwrap();
            let got = out.ternary(layer).unwrap();
            assert_eq!(got, want, "{layer}");
            assert_eq!(got.dequantize().unwrap(), want.dequantize().unwrap());
            expected_after += (shape[0] * shape[1] / 4 + 4 * want.scales.len()) as u64;
        }
        let kept: u64 = KEPT
            .iter()
            .map(|k| m.ck.tensor(k).unwrap().data().len() as u64)
            .sum();
        assert_eq!(s.bytes_after, expected_after + kept);
    }
}

#[test]
fn int4_conversion_equals_quantize_int4() {
    let m = llama();
    for (per_row, group) in [(false, Int4Group::Size(32)), (true, Int4Group::PerRow)] {
        let mut o = opts(TargetFormat::Int4);
        o.group = 32;
        o.per_row = per_row;
        let (out, s) = convert_checkpoint(&m.ck, &o).unwrap();
        check_summary_and_kept(&m, &out, &s);
        assert_eq!(out.metadata().get("bitmat.format").unwrap(), "int4");
        for layer in CONVERTED {
            let (shape, w) = &m.values[&format!("{layer}.weight")];
            let want = quantize_int4(w, shape[0], shape[1], group).unwrap();
            let got = out.int4(layer).unwrap();
            assert_eq!(got, want, "{layer}");
            assert_eq!(got.dequantize(), want.dequantize());
            assert!(!out.contains(&format!("{layer}.weight")));
        }
    }
}

#[test]
fn file_conversion_round_trips_through_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (inp, outp) = (
        dir.path().join("in.safetensors"),
        dir.path().join("out.safetensors"),
    );
    let m = llama();
    m.ck.save(&inp).unwrap();
    let s = convert_file(&inp, &outp, &opts(TargetFormat::Ternary)).unwrap();
    let (mem, s_mem) = convert_checkpoint(&m.ck, &opts(TargetFormat::Ternary)).unwrap();
    assert_eq!(s, s_mem);
    assert_eq!(Checkpoint::load(&outp).unwrap(), mem);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2); // no temporary left
}

/// Runs `convert_file` on `ck`, expecting an error, and checks that the output path
/// (pre-filled with a sentinel) is untouched and that no temporary file is left.
fn convert_err(ck: &Checkpoint, o: &ConvertOptions) -> CheckpointError {
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("in.safetensors");
    ck.save(&inp).unwrap();
    convert_err_file(dir.path(), &inp, o)
}

fn convert_err_file(dir: &Path, inp: &Path, o: &ConvertOptions) -> CheckpointError {
    let outp = dir.join("out.safetensors");
    std::fs::write(&outp, b"sentinel").unwrap();
    let before = std::fs::read_dir(dir).unwrap().count();
    let err = convert_file(inp, &outp, o).unwrap_err();
    assert_eq!(std::fs::read(&outp).unwrap(), b"sentinel");
    assert_eq!(std::fs::read_dir(dir).unwrap().count(), before);
    // And with no output file at all, none appears.
    std::fs::remove_file(&outp).unwrap();
    assert!(convert_file(inp, &outp, o).is_err());
    assert!(!outp.exists());
    err
}

#[test]
fn non_finite_weight_is_refused_unless_kept() {
    let mut m = llama();
    let name = "model.layers.0.mlp.up_proj.weight";
    let mut vals = vec![bf16::from_f32(0.1); I * H];
    vals[77] = bf16::NAN;
    m.ck.insert(name, Tensor::from_bf16(&[I, H], &vals).unwrap());
    match convert_err(&m.ck, &opts(TargetFormat::Ternary)) {
        CheckpointError::NonFinite { tensor, index } => {
            assert_eq!(tensor, name);
            assert_eq!(index, 77);
        }
        e => panic!("{e:?}"),
    }
    // Excluded, the same layer is copied as it is.
    let o = opts_excluding(TargetFormat::Ternary, &[".up_proj"]);
    let (out, s) = convert_checkpoint(&m.ck, &o).unwrap();
    assert_eq!(s.converted.len(), 7);
    assert_eq!(out.tensor(name).unwrap(), m.ck.tensor(name).unwrap());
}

#[test]
fn shapes_that_do_not_pack_are_refused() {
    let mut rng = StdRng::seed_from_u64(8);
    let mut m = llama();
    m.add(
        &mut rng,
        "model.layers.0.self_attn.q_proj.weight",
        &[8, 6],
        D::F32,
    );
    match convert_err(&m.ck, &opts(TargetFormat::Ternary)) {
        CheckpointError::Format {
            tensor,
            source: FormatError::KNotDivisible { k, multiple, .. },
        } => {
            assert_eq!(tensor, "model.layers.0.self_attn.q_proj.weight");
            assert_eq!((k, multiple), (6, 4));
        }
        e => panic!("{e:?}"),
    }
    let mut m = llama();
    m.add(
        &mut rng,
        "model.layers.0.self_attn.q_proj.weight",
        &[8, 40],
        D::F32,
    );
    let mut o = opts(TargetFormat::Int4);
    o.group = 16;
    match convert_err(&m.ck, &o) {
        CheckpointError::Format {
            source: FormatError::KNotDivisible { k, multiple, .. },
            ..
        } => {
            assert_eq!((k, multiple), (40, 16));
        }
        e => panic!("{e:?}"),
    }
    // The default group of 128 does not divide K = 64.
    let m = llama();
    match convert_err(&m.ck, &opts(TargetFormat::Int4)) {
        CheckpointError::Format {
            source: FormatError::InvalidGroup { group, k },
            ..
        } => {
            assert_eq!((group, k), (128, 64));
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn unsupported_and_unknown_dtypes_are_refused() {
    let mut m = llama();
    m.ck.insert(
        "model.layers.0.self_attn.k_proj.weight",
        Tensor::new(Dtype::I32, vec![4, 4], vec![0; 64]).unwrap(),
    );
    assert!(matches!(
        convert_err(&m.ck, &opts(TargetFormat::Ternary)),
        CheckpointError::UnsupportedDtype { .. }
    ));
    // A file with a dtype safetensors does not know.
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("in.safetensors");
    let header = br#"{"model.layers.0.self_attn.q_proj.weight":{"dtype":"IQ2","shape":[4],"data_offsets":[0,4]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(&[0; 4]);
    std::fs::write(&inp, &bytes).unwrap();
    match convert_err_file(dir.path(), &inp, &opts(TargetFormat::Ternary)) {
        CheckpointError::UnknownDtype { dtype, .. } => assert_eq!(dtype, "IQ2"),
        e => panic!("{e:?}"),
    }
}

#[test]
fn truncated_input_is_refused_and_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("in.safetensors");
    let bytes = llama().ck.to_bytes().unwrap();
    std::fs::write(&inp, &bytes[..bytes.len() - 100]).unwrap();
    match convert_err_file(dir.path(), &inp, &opts(TargetFormat::Ternary)) {
        CheckpointError::Truncated {
            expected, actual, ..
        } => {
            assert_eq!(expected, bytes.len() as u64);
            assert_eq!(actual, bytes.len() as u64 - 100);
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn name_clashes_are_refused() {
    let mut m = llama();
    m.ck.insert(
        "model.layers.0.self_attn.q_proj.weight_scale",
        Tensor::from_f32(&[1], &[1.0]).unwrap(),
    );
    assert!(matches!(
        convert_err(&m.ck, &opts(TargetFormat::Ternary)),
        CheckpointError::Invalid(_)
    ));
}

#[test]
fn default_selection_converts_the_linear_projections_only() {
    let m = llama();
    let (_, s) = convert_checkpoint(&m.ck, &ConvertOptions::new(TargetFormat::Ternary)).unwrap();
    assert!(s.excluded.is_empty());
    assert!(s
        .converted
        .iter()
        .all(|l| bitmat::convert::is_default_linear(l)));
    // The extra layer is kept, the excluded ones are converted.
    assert!(
        s.kept.iter().any(|t| t.ends_with(".fc_extra.weight")),
        "{s:?}"
    );
    assert!(s
        .converted
        .contains(&"model.layers.1.self_attn.q_proj".to_string()));
}

#[test]
fn progress_hears_each_layer_then_the_end() {
    let m = llama();
    let steps = Arc::new(Mutex::new(Vec::new()));
    let mut o = opts(TargetFormat::Ternary);
    let seen = steps.clone();
    o.progress = Arc::new(move |s: Step<'_>| {
        let layer = s.layer.map(str::to_string);
        seen.lock().unwrap().push((layer, s.done, s.total));
    });
    let (_, s) = convert_checkpoint(&m.ck, &o).unwrap();
    let steps = steps.lock().unwrap();
    let n = s.converted.len();
    assert_eq!(steps.len(), n + 1);
    for (i, (layer, done, total)) in steps.iter().enumerate() {
        assert_eq!((*done, *total), (i, n));
        assert_eq!(layer.is_none(), i == n);
    }
    let mut heard: Vec<String> = steps.iter().filter_map(|s| s.0.clone()).collect();
    heard.sort();
    assert_eq!(heard, s.converted);
}
